"""Sending cadence messages exactly once: claim, send, mark; paced; failures sorted and counted."""

from __future__ import annotations

import http.client
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from storage.deliveries import Claim, claim, mark_failed, mark_sent
from storage.models import Person

log = logging.getLogger(__name__)

# Errors that mean "this person can't get a DM from us": skip them for the period, go on.
GONE = frozenset(
    {
        "user_not_found",
        "account_inactive",
        "user_disabled",
        "cannot_dm_bot",
        "channel_not_found",
        "is_archived",
        "messages_tab_disabled",
        "not_in_channel",
    }
)
METADATA_TYPE = "coach_delivery"


@dataclass(frozen=True)
class Message:
    """One scheduled message and its exactly-once key; `threaded` replies go under the batch's
    first message, a message with `reply_to` (channel, ts) under that earlier one (`broadcast`:
    shown in the conversation too)."""

    key: str
    kind: str
    period: str
    text: str
    blocks: list[dict[str, Any]]
    rep_id: int | None = None
    threaded: bool = False
    payload: dict[str, Any] | None = None
    reply_to: tuple[str, str] | None = None
    broadcast: bool = False


@dataclass(frozen=True)
class Recipient:
    """A person a message goes to, as the run found them in the org chart."""

    person_id: int
    workspace_id: str
    email: str
    name: str
    slack_user_id: str | None


@dataclass(frozen=True)
class Batch:
    """The messages for one conversation, sent in order: to a person's DM or to a channel, or
    into an existing `thread` there (channel, ts)."""

    messages: list[Message]
    person: Recipient | None = None
    channel: str | None = None
    thread: tuple[str, str] | None = None

    @property
    def who(self) -> str:
        """How the summary names the recipient."""
        return self.person.email if self.person is not None else f"#{self.channel}"


@dataclass
class Summary:
    """What a run did, message by message."""

    sent: int = 0
    already: int = 0
    busy: int = 0  # claimed by another live process, which sends them
    skipped: int = 0
    failed: int = 0
    deferred: int = 0  # held back while the recipient is away
    problems: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, outcome: str, count: int = 1, problem: str | None = None) -> None:
        """Count `count` messages under `outcome`; a problem line is kept for the report."""
        with self._lock:
            setattr(self, outcome, getattr(self, outcome) + count)
            if problem:
                self.problems.append(problem)

    def line(self, job: str, period: str) -> str:
        """The one-line summary a run ends with."""
        busy = f", {self.busy} in progress elsewhere" if self.busy else ""
        away = f", {self.deferred} held back (away)" if self.deferred else ""
        return (
            f"{job} {period}: {self.sent} sent, {self.already} already sent{busy}, "
            f"{self.skipped} skipped, {self.failed} failed{away}"
        )


class Pacer:
    """Keeps fan-out under Slack's posting limits: about one message per second per
    conversation (short bursts allowed) and `rate` messages per second in all (0: no pacing)."""

    def __init__(self, rate: float, per_channel: float = 1.0, burst: int = 3) -> None:
        self.rate, self.per_channel, self.burst = rate, per_channel, burst
        self._lock = threading.Lock()
        self._next = 0.0
        self._channels: dict[str, list[float]] = {}

    def wait(self, channel: str) -> None:
        """Block until a message may go to `channel`."""
        if self.rate <= 0:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            recent = self._channels.setdefault(channel, [])
            if len(recent) >= self.burst:  # the burst is spent: wait a second after its start
                slot = max(slot, recent[-self.burst] + self.burst / self.per_channel)
            self._next = slot + 1 / self.rate
            recent.append(slot)
            del recent[: -self.burst]
        time.sleep(max(0.0, slot - time.monotonic()))


class _Connections:
    """One pooled connection per sending thread, kept from batch to batch: a checkout (and its
    ping) per statement, or even per batch, cost more CPU than the claims themselves. A
    connection that saw an error is closed, so the next batch starts on a fresh, pinged one."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()
        self._all: list[Connection] = []
        self._lock = threading.Lock()

    @contextmanager
    def use(self) -> Iterator[Connection]:
        """This thread's connection."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self.engine.connect()
            with self._lock:
                self._all.append(connection)
        try:
            yield connection
        except BaseException:
            self._local.connection = None
            connection.close()
            raise

    def close(self) -> None:
        """Give every connection back to the pool."""
        with self._lock:
            for connection in self._all:
                connection.close()
            self._all.clear()


class Sender:
    """Delivers batches with a pool of workers; each message is claimed before it goes out.

    `client` must not resend on its own after a 5xx or a dropped connection (a message may have
    been posted): the sender retries those itself, after checking the conversation first.
    """

    def __init__(
        self,
        engine: Engine,
        client: WebClient,
        workspace_id: str,
        *,
        stale_after: timedelta,
        pacer: Pacer,
        workers: int = 4,
        retries: int = 3,
        backoff: float = 0.5,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        # Each claim and mark is one statement that must be visible to other processes at
        # once: in autocommit it is one round trip, not BEGIN, the statement and COMMIT.
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.client, self.workspace_id = client, workspace_id
        self.stale_after, self.pacer, self.workers = stale_after, pacer, workers
        self.retries, self.backoff, self.clock = retries, backoff, clock
        # Unique per process and run: a claim is only ever finished by its owner.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def send(self, batches: list[Batch]) -> Summary:
        """Send every batch; the summary counts each message once."""
        summary = Summary()
        connections = _Connections(self.engine)
        try:
            if self.workers == 1 or len(batches) <= 1:
                for batch in batches:
                    self._batch(connections, batch, summary)
            else:
                with ThreadPoolExecutor(self.workers, thread_name_prefix="cadence") as pool:
                    for future in [
                        pool.submit(self._batch, connections, b, summary) for b in batches
                    ]:
                        future.result()
        finally:
            connections.close()
        return summary

    def _batch(self, connections: _Connections, batch: Batch, summary: Summary) -> None:
        # Claims and marks are Core statements on the worker's connection, without a
        # Session's bookkeeping.
        with connections.use() as db:
            target = batch.channel or self._slack_id(db, batch.person)
            if target is None:
                reason = "no Slack account with that email"
                self._skip_all(db, batch, batch.messages, reason)
                summary.add("skipped", len(batch.messages), f"skipped {batch.who}: {reason}")
                return
            parent = batch.thread
            for i, message in enumerate(batch.messages):
                state, where = self._one(db, batch, target, message, message.reply_to or parent)
                replies = batch.messages[i + 1 :] if i == 0 else []
                if state in ("skipped", "failed"):
                    summary.add(state, 1, f"{state} {batch.who} ({message.kind}): {where}")
                    if replies:  # a thread's replies can't go without their parent
                        if state == "skipped":
                            self._skip_all(db, batch, replies, where)
                        summary.add(state, len(replies))
                        return
                elif state == "busy":
                    summary.add("busy", 1 + len(replies))
                    if replies:  # the process holding the parent sends its thread
                        return
                else:
                    summary.add(state)
                    if i == 0 and batch.thread is None:
                        channel, _, ts = where.partition(" ")
                        parent = (channel, ts)

    def _skip_all(self, db: Connection, batch: Batch, messages: list[Message], why: str) -> None:
        """Record messages that can't reach their recipient as skipped for the period, so later
        ticks neither rebuild nor retry them."""
        for message in messages:
            got = self._claim(db, batch, message)
            if got.state == "mine":
                mark_failed(db, got.delivery_id, self.owner, why, skip=True)

    def _slack_id(self, db: Connection, person: Recipient | None) -> str | None:
        """The person's Slack id: from the org chart, else looked up once by email and kept."""
        if person is None:
            return None
        if person.slack_user_id:
            return person.slack_user_id
        with Session(db, expire_on_commit=False) as session:
            stored = session.get(Person, person.person_id)
            if stored is not None and stored.slack_user_id:
                return stored.slack_user_id
            try:
                user_id = self.client.users_lookupByEmail(email=person.email)["user"]["id"]
            except SlackApiError as exc:
                log.info("no Slack user for %s: %s", person.email, exc.response.get("error"))
                return None
            taken = session.query(Person.id).filter(
                Person.workspace_id == person.workspace_id, Person.slack_user_id == user_id
            )
            if stored is not None and taken.first() is None:
                stored.slack_user_id = user_id
                session.commit()
            return user_id

    def _claim(self, db: Connection, batch: Batch, message: Message) -> Claim:
        return claim(
            db,
            workspace_id=self.workspace_id,
            key=message.key,
            kind=message.kind,
            period=message.period,
            owner=self.owner,
            now=self.clock(),
            stale_after=self.stale_after,
            recipient_id=batch.person.person_id if batch.person is not None else None,
            rep_id=message.rep_id,
            payload=message.payload,
        )

    def _one(
        self,
        db: Connection,
        batch: Batch,
        target: str,
        message: Message,
        parent: tuple[str, str] | None,
    ) -> tuple[str, str]:
        """Claim and send one message: (outcome, "channel ts" when it is out, else the reason)."""
        got = self._claim(db, batch, message)
        if got.state == "sent":
            return "already", f"{got.channel} {got.ts}"
        if got.state == "skipped":
            return "skipped", "could not be reached earlier in this period"
        if got.state == "busy":
            return "busy", ""
        # A message that was claimed and then lost track of may be out already: look first.
        check = got.stale
        for attempt in range(self.retries + 1):
            if check and (found := self._find_sent(target, message.key, parent)) is not None:
                self._mark(db, got, found)
                return ("already" if attempt == 0 else "sent"), " ".join(found)
            # One pace per conversation: a thread's replies share their parent's DM.
            self.pacer.wait(target)
            try:
                answer = self.client.chat_postMessage(
                    channel=parent[0] if parent else target,
                    thread_ts=parent[1] if parent else None,
                    reply_broadcast=message.broadcast or None,
                    text=message.text,
                    blocks=message.blocks,
                    metadata={"event_type": METADATA_TYPE, "event_payload": {"key": message.key}},
                    unfurl_links=False,
                )
            except SlackApiError as exc:
                error = str(exc.response.get("error") or exc.response.status_code)
                if exc.response.status_code >= 500 and attempt < self.retries:
                    time.sleep(self.backoff * 2**attempt)
                    check = True  # Slack may have posted before it failed
                    continue
                # People who left or can't be DMed are skipped; a broken channel is a failure.
                skip = error in GONE and batch.person is not None
                mark_failed(db, got.delivery_id, self.owner, error, skip=skip)
                log.warning("%s to %s: %s", message.key, batch.who, error)
                return ("skipped" if skip else "failed"), error
            except (OSError, http.client.HTTPException) as exc:
                if attempt < self.retries:
                    time.sleep(self.backoff * 2**attempt)
                    check = True
                    continue
                mark_failed(db, got.delivery_id, self.owner, repr(exc)[:500], skip=False)
                log.warning("%s to %s: %r", message.key, batch.who, exc)
                return "failed", type(exc).__name__
            where = (answer["channel"], answer["ts"])
            self._mark(db, got, where)
            return "sent", " ".join(where)
        raise AssertionError("unreachable: the last attempt returns")

    def _mark(self, db: Connection, got: Claim, where: tuple[str, str]) -> None:
        mark_sent(db, got.delivery_id, self.owner, channel=where[0], ts=where[1], now=self.clock())

    def _find_sent(
        self, target: str, key: str, parent: tuple[str, str] | None
    ) -> tuple[str, str] | None:
        """Is a message with this key in the conversation already (posted by a process that
        died, or by a call whose answer was lost)? Slack keeps the key in the message's metadata.
        Without the history scope the message is sent again: at least once rather than never.
        """
        try:
            if parent is not None:
                channel = parent[0]
                found = self.client.conversations_replies(
                    channel=channel, ts=parent[1], include_all_metadata=True, limit=1000
                )
            else:
                channel = (
                    target
                    if not target.startswith(("U", "W"))
                    else self.client.conversations_open(users=target)["channel"]["id"]
                )
                found = self.client.conversations_history(
                    channel=channel, include_all_metadata=True, limit=200
                )
        except (SlackApiError, OSError, http.client.HTTPException) as exc:
            log.warning("cannot check %s for %s: %s", target, key, exc)
            return None
        for posted in found.get("messages") or []:
            payload = (posted.get("metadata") or {}).get("event_payload") or {}
            if payload.get("key") == key:
                return channel, posted["ts"]
        return None
