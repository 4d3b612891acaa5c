"""A local stand-in for HubSpot's CRM API (v3 objects and search, v4 associations, owners).

Written from HubSpot's published reference and the shapes `hubspot-api-client` deserialises
(`SimplePublicObject`, `ValueWithTimestamp`, `PublicOwner`, `PublicAssociationMultiWithLabel`,
`Error`); tests, the benchmark and `coach demo` play against it, nothing in the running bot
imports it. Point HUBSPOT_BASE_URL at `HubSpotStandIn.base` and seed it:

    with HubSpotStandIn(token="pat-test") as hubspot:
        hubspot.add_owner("11", "priya.shah@example.com", "Priya", "Shah")
        hubspot.add_deal("101", "Acme", owner="11", stages=[("appointmentscheduled", t0)])
        hubspot.set_stage("101", "closedwon", at=t1)
        hubspot.add_activity("call", "9001", owner="11", at=t0, deals=["101"])
        hubspot.rate_limit(times=1)                 # the next call answers 429
        hubspot.fail("deals.batch_read", after=2)   # the third batch read answers 500
        ...
        [search] = hubspot.calls_to("deals.search")

What it enforces, as HubSpot does: bearer tokens (401 INVALID_AUTHENTICATION), the scope each
endpoint needs (403 MISSING_SCOPES with `requiredGranularScopes`), search's 200-per-page limit and
its cap on results one query can page through (10,000: paging past it is a 400), batch reads of
at most 100 inputs and 50 when property histories are asked for, association batch reads of at
most 1,000. Search filters (AND within a group, OR across groups) and sorts are applied to the
records' properties; `after` is an offset, as HubSpot's search tokens are.

Merged records disappear without being archived: the survivor lists them in
`hs_merged_object_ids` (semicolon-separated). Archived records are listed by
`GET /crm/v3/objects/{type}?archived=true` with their `archivedAt`.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import json
import random
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.demo.local_server import LocalServer, StandInServer

# The default sales pipeline's stages, as HubSpot names them, and those that close a deal.
DEFAULT_STAGES = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
)
CLOSED_STAGES = {"closedwon": True, "closedlost": False}  # stage → won
# HubSpot's default call outcomes (`hs_call_disposition` values are these GUIDs).
CALL_OUTCOMES = {
    "busy": "9d9162e7-6cf3-4944-bf63-4dff82258764",
    "connected": "f240bbac-87c9-4f6e-bf70-924b57d47db7",
    "left live message": "a4c4c377-d246-4b32-a13b-75a56a4cd0ff",
    "left voicemail": "b2cf5968-551e-4856-9783-52b3da59a7d0",
    "no answer": "73a0d17f-1163-4015-bdd5-ec830791da20",
    "wrong number": "17b47fee-58de-441e-a44c-c6300d46f273",
}
OBJECT_TYPES = ("deals", "calls", "meetings", "emails")
ACTIVITY_TYPES = {"call": "calls", "meeting": "meetings", "email": "emails"}
# HubSpot-defined association type ids from each engagement to a deal.
DEAL_ASSOCIATION_TYPES = {"calls": 206, "meetings": 212, "emails": 210}
# The granular scopes each part of the API needs (any one of a list is not enough: all are).
SCOPES = {
    "owners": ("crm.objects.owners.read",),
    "deals": ("crm.objects.deals.read",),
    "calls": ("crm.objects.contacts.read",),
    "meetings": ("crm.objects.contacts.read",),
    "emails": ("crm.objects.contacts.read", "sales-email-read"),
}
ALL_SCOPES = tuple(sorted({s for needed in SCOPES.values() for s in needed}))
SEARCH_CAP = 10_000
PORTAL_ID = 4_242_424
# Properties every search returns besides those asked for.
_DEFAULT_PROPERTIES = {
    "deals": (
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
    "calls": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
    "meetings": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
    "emails": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
}
_DATE_PROPERTIES = {
    "createdate",
    "closedate",
    "hs_createdate",
    "hs_lastmodifieddate",
    "hs_timestamp",
}


def iso(at: datetime) -> str:
    """HubSpot's timestamp form: UTC, milliseconds, a Z."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ms(at: datetime) -> int:
    """Milliseconds since the epoch, exactly (HubSpot's timestamps stop at milliseconds)."""
    return (at - _EPOCH) // timedelta(milliseconds=1)


def _parse_time(value: str) -> datetime:
    """A filter value or stored property: epoch milliseconds or an ISO timestamp / date."""
    if value.lstrip("-").isdigit():
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    if len(value) == 10:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Call:
    """One request: `name` like "deals.search" (see `_route`), what came and what went back."""

    name: str
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int
    response: Any
    at: float = field(default_factory=time.time)


@dataclass
class _Rule:
    name: str | None  # None: any call
    skip: int  # matching calls let through first
    remaining: int | None  # None: every matching call after that

    def take(self, name: str) -> bool:
        if self.name is not None and self.name != name:
            return False
        if self.skip > 0:
            self.skip -= 1
            return False
        if self.remaining == 0:
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True


@dataclass
class _Fault(_Rule):
    status: int = 500
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Record:
    id: str
    type: str
    properties: dict[str, str | None]
    history: dict[str, list[dict[str, Any]]]
    created: datetime
    modified: datetime
    archived_at: datetime | None = None


@dataclass
class _Owner:
    id: str
    email: str | None
    first_name: str
    last_name: str
    user_id: int
    teams: list[dict[str, Any]]
    created: datetime
    modified: datetime
    archived: bool = False


class _HubSpotError(Exception):
    def __init__(self, status: int, category: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
            **extra,
        }


class _Handler(BaseHTTPRequestHandler):
    server: StandInServer
    protocol_version = "HTTP/1.1"  # keep-alive, as urllib3's pool expects

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes: without this, Nagle's algorithm holds the body
        # back for the client's delayed ACK (tens of milliseconds a call).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self.server.standin._serve(self, "GET")

    def do_POST(self) -> None:
        self.server.standin._serve(self, "POST")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: `.calls` is the log."""


class HubSpotStandIn(LocalServer):
    """HubSpot's CRM API on 127.0.0.1 and an ephemeral port; see the module docstring.

    `token`: the only private-app token accepted (None: any bearer token). `scopes`: what the
    token was granted. `search_cap`: how many results one search query can page through.
    `keep_responses` False records calls without their answers (a benchmark's hundreds of
    thousands of records would be kept twice).
    """

    service = "HubSpot"
    handler = _Handler

    def __init__(
        self,
        *,
        token: str | None = None,
        scopes: Iterable[str] = ALL_SCOPES,
        search_cap: int = SEARCH_CAP,
        portal_id: int = PORTAL_ID,
        keep_responses: bool = True,
    ) -> None:
        super().__init__()
        self.token = token
        self.keep_responses = keep_responses
        self.scopes = set(scopes)
        self.search_cap = search_cap
        self.portal_id = portal_id
        self.revoked = False
        self.owners: dict[str, _Owner] = {}
        self.records: dict[str, dict[str, _Record]] = {t: {} for t in OBJECT_TYPES}
        # (from type, from id) → ids of associated deals; deals keep the reverse.
        self.associations: dict[tuple[str, str], list[str]] = {}
        self._calls: list[Call] = []
        self._faults: list[_Fault] = []
        self._holds: list[_Rule] = []
        self._held = threading.Event()
        self._lock = threading.Condition()
        # Per type, (modified ms, id) in order, rebuilt after a change: search by modified date
        # is a bisection rather than a scan (the benchmark pages through 200,000 activities).
        self._by_modified: dict[str, list[tuple[int, int, str]] | None] = dict.fromkeys(
            OBJECT_TYPES
        )
        self._user_ids = itertools.count(7_000_001)

    # -- life cycle --------------------------------------------------------------------------------

    def _on_start(self) -> None:
        self._held = threading.Event()

    def _on_stop(self) -> None:
        self._held.set()  # held calls are answered at once

    @property
    def base(self) -> str:
        """`http://127.0.0.1:PORT`: HUBSPOT_BASE_URL."""
        return self.origin

    # -- seeding -----------------------------------------------------------------------------------

    def add_owner(
        self,
        owner_id: str,
        email: str | None,
        first_name: str,
        last_name: str,
        *,
        team: str | None = None,
        at: datetime | None = None,
        archived: bool = False,
    ) -> None:
        """An owner (a HubSpot user who can own records); `team` is their primary team."""
        at = at or datetime.now(UTC)
        teams = (
            [{"id": str(zlib.crc32(team.encode())), "name": team, "primary": True}] if team else []
        )
        with self._lock:
            self.owners[owner_id] = _Owner(
                owner_id,
                email,
                first_name,
                last_name,
                next(self._user_ids),
                teams,
                at,
                at,
                archived,
            )

    def archive_owner(self, owner_id: str, at: datetime | None = None) -> None:
        """Deactivate an owner (they move to `archived=true` listings)."""
        with self._lock:
            owner = self.owners[owner_id]
            owner.archived, owner.modified = True, at or datetime.now(UTC)

    def add_deal(
        self,
        deal_id: str,
        name: str,
        *,
        owner: str | None,
        stages: Sequence[tuple[str, datetime]],
        amount: float | None = None,
        pipeline: str = "default",
        close_date: date | None = None,
        currency: str = "USD",
        owners: Sequence[tuple[str | None, datetime]] = (),
    ) -> None:
        """A deal created at the first of `stages` (stage, entered at), oldest first.

        `owners`: its owner history (owner, from when), oldest first, ending with `owner`;
        by default `owner` owned it from creation.
        """
        created = stages[0][1]
        modified = max([at for _, at in stages] + [at for _, at in owners])
        stage = stages[-1][0]
        props: dict[str, str | None] = {
            "dealname": name,
            "amount": None if amount is None else f"{amount:g}",
            "pipeline": pipeline,
            "dealstage": stage,
            "hubspot_owner_id": owner,
            "createdate": iso(created),
            "closedate": None,
            "deal_currency_code": currency,
            "hs_merged_object_ids": None,
        }
        owner_history = list(owners) or [(owner, created)]
        history = {
            "dealstage": [self._version(s, at) for s, at in reversed(stages)],
            "hubspot_owner_id": [self._version(o, at) for o, at in reversed(owner_history)],
        }
        record = _Record(deal_id, "deals", props, history, created, modified)
        with self._lock:
            self.records["deals"][deal_id] = record
            self._settle_close(record, close_date)
            self._touched("deals", record, modified)

    def set_stage(self, deal_id: str, stage: str, at: datetime) -> None:
        """Move a deal to `stage` at `at`."""
        with self._lock:
            record = self.records["deals"][deal_id]
            record.properties["dealstage"] = stage
            record.history["dealstage"].insert(0, self._version(stage, at))
            self._settle_close(record, None, at)
            self._touched("deals", record, at)

    def set_owner(self, deal_id: str, owner: str | None, at: datetime) -> None:
        """Give a deal to another owner at `at`."""
        with self._lock:
            record = self.records["deals"][deal_id]
            record.properties["hubspot_owner_id"] = owner
            record.history["hubspot_owner_id"].insert(0, self._version(owner, at))
            self._touched("deals", record, at)

    def set_property(self, obj: str, record_id: str, name: str, value: str | None, at: datetime):  # type: ignore[no-untyped-def]
        """Change any property of a record (amount, dealname, …) at `at`."""
        with self._lock:
            record = self.records[obj][record_id]
            record.properties[name] = value
            self._touched(obj, record, at)

    def add_activity(
        self,
        kind: str,
        activity_id: str,
        *,
        owner: str | None,
        at: datetime,
        deals: Sequence[str] = (),
        outcome: str | None = None,
        modified: datetime | None = None,
    ) -> None:
        """A call, meeting or email at `at`, associated with `deals`. `outcome`: a call's
        disposition GUID (see CALL_OUTCOMES), a meeting's `hs_meeting_outcome`."""
        obj = ACTIVITY_TYPES[kind]
        props: dict[str, str | None] = {
            "hs_timestamp": iso(at),
            "hubspot_owner_id": owner,
            "hs_createdate": iso(at),
        }
        if kind == "call":
            props |= {"hs_call_disposition": outcome, "hs_call_status": "COMPLETED"}
        elif kind == "meeting":
            props |= {
                "hs_meeting_outcome": outcome or "COMPLETED",
                "hs_meeting_start_time": iso(at),
            }
        else:
            props |= {"hs_email_direction": outcome or "EMAIL"}
        record = _Record(activity_id, obj, props, {}, at, modified or at)
        with self._lock:
            self.records[obj][activity_id] = record
            self.associations[(obj, activity_id)] = list(deals)
            self._touched(obj, record, modified or at)

    def associate(self, obj: str, activity_id: str, deal_id: str, at: datetime) -> None:
        """Associate an existing activity with a deal (its modified date moves too)."""
        with self._lock:
            self.associations.setdefault((obj, activity_id), []).append(deal_id)
            self._touched(obj, self.records[obj][activity_id], at)

    def archive(self, obj: str, record_id: str, at: datetime) -> None:
        """Delete a record (HubSpot archives it: it leaves search, `archived=true` lists it)."""
        with self._lock:
            self.records[obj][record_id].archived_at = at
            self._by_modified[obj] = None

    def merge(self, loser: str, survivor: str, at: datetime) -> None:
        """Merge deal `loser` into `survivor`: the loser is gone, the survivor names it."""
        with self._lock:
            gone = self.records["deals"].pop(loser)
            record = self.records["deals"][survivor]
            merged = [i for i in (record.properties["hs_merged_object_ids"] or "").split(";") if i]
            merged += [
                loser,
                *[i for i in (gone.properties["hs_merged_object_ids"] or "").split(";") if i],
            ]
            record.properties["hs_merged_object_ids"] = ";".join(merged)
            for key, deals in self.associations.items():
                if loser in deals:
                    self.associations[key] = [survivor if d == loser else d for d in deals]
            self._touched("deals", record, at)

    # -- faults and observation --------------------------------------------------------------------

    def fail(
        self,
        name: str | None = None,
        *,
        status: int = 500,
        after: int = 0,
        times: int | None = 1,
        category: str = "INTERNAL_ERROR",
        message: str = "internal error",
    ) -> None:
        """Answer `status` to calls named `name` (None: any), after letting `after` through."""
        body = {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
        }
        with self._lock:
            self._faults.append(_Fault(name, after, times, status, body))

    def rate_limit(
        self,
        name: str | None = None,
        *,
        times: int | None = 1,
        after: int = 0,
        policy: str = "TEN_SECONDLY_ROLLING",
        retry_after: int | None = None,
    ) -> None:
        """Answer 429 as HubSpot does when a limit is reached: `policy` SECONDLY (search),
        TEN_SECONDLY_ROLLING (the burst limit) or DAILY, with the X-HubSpot-RateLimit headers."""
        message = {
            "SECONDLY": "You have reached your secondly limit.",
            "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
            "DAILY": "You have reached your daily limit.",
        }[policy]
        body = {
            "status": "error",
            "message": message,
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
            "groupName": "api-calls-daily" if policy == "DAILY" else "api-calls",
        }
        headers = self._limit_headers(remaining=0, daily_remaining=0 if policy == "DAILY" else None)
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        with self._lock:
            self._faults.append(_Fault(name, after, times, 429, body, headers))

    def hold(self, name: str, *, after: int = 0) -> None:
        """Keep the answer to a call named `name` (after `after` of them) until `release()` or
        `stop()`: a sync can be killed while it waits."""
        with self._lock:
            self._holds.append(_Rule(name, after, 1))

    def release(self) -> None:
        """Answer the held calls."""
        self._held.set()

    def revoke(self) -> None:
        """The private app's token is rotated or the app uninstalled: every call answers 401."""
        self.revoked = True

    @property
    def calls(self) -> list[Call]:
        """Every call so far, in order."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, name: str) -> list[Call]:
        """The calls named `name` (e.g. "deals.search", "calls.associations", "owners")."""
        return [c for c in self.calls if c.name == name]

    def wait_for(self, name: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        """Block until `count` calls named `name` arrived (the held one included)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [c for c in self._calls if c.name == name]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(found)} of {count} {name} calls arrived")
                self._lock.wait(left)

    # -- internals ---------------------------------------------------------------------------------

    @staticmethod
    def _version(value: str | None, at: datetime) -> dict[str, Any]:
        return {
            "value": value or "",
            "timestamp": iso(at),
            "sourceType": "CRM_UI",
            "sourceId": "userId:7000001",
            "updatedByUserId": 7000001,
        }

    def _settle_close(
        self, record: _Record, close_date: date | None, at: datetime | None = None
    ) -> None:
        stage = record.properties["dealstage"] or ""
        closed = stage in CLOSED_STAGES
        record.properties["hs_is_closed"] = "true" if closed else "false"
        record.properties["hs_is_closed_won"] = "true" if CLOSED_STAGES.get(stage) else "false"
        if closed:
            # HubSpot sets the close date to the moment a deal moves to a closed stage.
            entered = at or _parse_time(record.history["dealstage"][0]["timestamp"])
            record.properties["closedate"] = iso(entered)
        elif close_date is not None:
            record.properties["closedate"] = iso(
                datetime.combine(close_date, datetime.min.time(), UTC)
            )

    def _touched(self, obj: str, record: _Record, at: datetime) -> None:
        # HubSpot keeps milliseconds: what it shows is what it sorts and filters on.
        record.modified = max(record.modified, at)
        record.modified = record.modified.replace(
            microsecond=record.modified.microsecond // 1000 * 1000
        )
        record.properties["hs_lastmodifieddate"] = iso(record.modified)
        record.properties["hs_object_id"] = record.id
        self._by_modified[obj] = None

    def _limit_headers(
        self, remaining: int = 189, daily_remaining: int | None = None
    ) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Daily": "1000000",
            "X-HubSpot-RateLimit-Daily-Remaining": str(
                999_000 if daily_remaining is None else daily_remaining
            ),
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Max": "190",
            "X-HubSpot-RateLimit-Remaining": str(remaining),
        }

    def _serve(self, request: _Handler, method: str) -> None:
        split = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        query = parse_qs(split.query, keep_blank_values=True)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        name, handler, scope_of = self._route(method, split.path)
        hold = None
        with self._lock:
            fault = next((f for f in self._faults if f.take(name)), None)
            headers: dict[str, str] = {}
            if fault is not None:
                status, answer, headers = fault.status, fault.body, dict(fault.headers)
            else:
                try:
                    if handler is None:
                        raise _HubSpotError(404, "OBJECT_NOT_FOUND", "resource not found")
                    self._authorise(request.headers.get("Authorization"), scope_of)
                    status, answer = handler(query, body)
                    if not name.endswith(".search"):  # search answers carry no limit headers
                        headers = self._limit_headers()
                except _HubSpotError as exc:
                    status, answer = exc.status, exc.body
            kept = answer if self.keep_responses else None
            self._calls.append(Call(name, method, split.path, query, body, status, kept))
            hold = next((h for h in self._holds if h.take(name)), None)
            held = self._held
            self._lock.notify_all()
        if hold is not None:
            held.wait()
        data = json.dumps(answer).encode()
        with contextlib.suppress(ConnectionError):
            request.send_response(status)
            request.send_header("Content-Type", "application/json;charset=utf-8")
            request.send_header("Content-Length", str(len(data)))
            for header, value in headers.items():
                request.send_header(header, value)
            request.end_headers()
            request.wfile.write(data)

    def _route(self, method: str, path: str):  # type: ignore[no-untyped-def]
        """(call name, handler, the object types whose scopes it needs) for a request."""
        parts = [p for p in path.split("/") if p]
        if method == "GET" and parts == ["crm", "v3", "owners"]:
            return "owners", self._owners, ("owners",)
        if method == "GET" and parts == ["account-info", "v3", "details"]:
            return "account", self._account, ()
        if len(parts) >= 4 and parts[:3] == ["crm", "v3", "objects"] and parts[3] in OBJECT_TYPES:
            obj, rest = parts[3], parts[4:]
            if method == "POST" and rest == ["search"]:
                return f"{obj}.search", lambda q, b: self._search(obj, b), (obj,)
            if method == "POST" and rest == ["batch", "read"]:
                return f"{obj}.batch_read", lambda q, b: self._batch_read(obj, b), (obj,)
            if method == "GET" and not rest:
                return f"{obj}.list", lambda q, b: self._list(obj, q), (obj,)
        if (
            method == "POST"
            and len(parts) == 7
            and parts[:3] == ["crm", "v4", "associations"]
            and parts[5:] == ["batch", "read"]
            and parts[3] in OBJECT_TYPES
            and parts[4] in OBJECT_TYPES
        ):
            source, target = parts[3], parts[4]
            return (
                f"{source}.associations",
                lambda q, b: self._associations(source, target, b),
                (source, target),
            )
        return f"{method} {path}", None, ()

    def _authorise(self, header: str | None, objects: Sequence[str]) -> None:
        token = (header or "").removeprefix("Bearer ").strip()
        if not token or self.revoked or (self.token is not None and token != self.token):
            raise _HubSpotError(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 authentication "
                "and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            )
        needed = [s for obj in objects for s in SCOPES[obj] if s not in self.scopes]
        if needed:
            raise _HubSpotError(
                403,
                "MISSING_SCOPES",
                "This app hasn't been granted all required scopes to make this call. Read more "
                "about required scopes here: https://developers.hubspot.com/scopes.",
                errors=[
                    {
                        "message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": sorted(set(needed))},
                    }
                ],
                links={"scopes": "https://developers.hubspot.com/scopes"},
            )

    def _account(self, query: Any, body: Any) -> tuple[int, dict[str, Any]]:
        return 200, {
            "portalId": self.portal_id,
            "timeZone": "US/Eastern",
            "companyCurrency": "USD",
            "additionalCurrencies": [],
            "utcOffset": "-05:00",
            "utcOffsetMilliseconds": -18000000,
            "uiDomain": "app.hubspot.com",
            "dataHostingLocation": "na1",
        }

    def _owners(self, query: dict[str, list[str]], body: Any) -> tuple[int, dict[str, Any]]:
        archived = (query.get("archived") or ["false"])[0].lower() == "true"
        email = (query.get("email") or [None])[0]
        owners = [
            o
            for o in sorted(self.owners.values(), key=lambda o: int(o.id))
            if o.archived == archived and (email is None or o.email == email)
        ]
        offset, limit = _paging(query, 100, 500)
        results = [
            {
                "id": o.id,
                "email": o.email,
                "type": "PERSON",
                "firstName": o.first_name,
                "lastName": o.last_name,
                "userId": None if o.archived else o.user_id,
                "userIdIncludingInactive": o.user_id,
                "createdAt": iso(o.created),
                "updatedAt": iso(o.modified),
                "archived": o.archived,
                "teams": o.teams,
            }
            for o in owners[offset : offset + limit]
        ]
        return 200, _with_paging({"results": results}, offset + limit, len(owners))

    def _object(
        self, record: _Record, properties: Iterable[str] | None, history: Iterable[str] = ()
    ) -> dict[str, Any]:
        names = set(_DEFAULT_PROPERTIES[record.type]) | set(properties or ())
        answer: dict[str, Any] = {
            "id": record.id,
            "properties": {n: record.properties.get(n) for n in sorted(names)},
            "createdAt": iso(record.created),
            "updatedAt": iso(record.modified),
            "archived": record.archived_at is not None,
        }
        if record.archived_at is not None:
            answer["archivedAt"] = iso(record.archived_at)
        wanted = list(history)
        if wanted:
            answer["propertiesWithHistory"] = {
                n: [dict(v) for v in record.history.get(n, [])] for n in wanted
            }
        return answer

    def _ordered(self, obj: str) -> list[tuple[int, int, str]]:
        ordered = self._by_modified[obj]
        if ordered is None:
            ordered = sorted(
                (_ms(r.modified), int(r.id), r.id)
                for r in self.records[obj].values()
                if r.archived_at is None
            )
            self._by_modified[obj] = ordered
        return ordered

    def _search(self, obj: str, body: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict):
            raise _HubSpotError(400, "VALIDATION_ERROR", "Invalid input JSON on line 1")
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or not 0 < limit <= 200:
            raise _HubSpotError(
                400, "VALIDATION_ERROR", f"limit must be between 1 and 200 (was {limit})"
            )
        after = str(body.get("after") or "0")
        if not after.isdigit():
            raise _HubSpotError(400, "VALIDATION_ERROR", f"invalid paging token {after!r}")
        offset = int(after)
        if offset >= self.search_cap:
            raise _HubSpotError(
                400,
                "VALIDATION_ERROR",
                f"There was a problem with the request. Search results are limited to "
                f"{self.search_cap:,} records per query; page through fewer by filtering.",
            )
        groups = body.get("filterGroups") or []
        if len(groups) > 5 or sum(len(g.get("filters") or []) for g in groups) > 18:
            raise _HubSpotError(400, "VALIDATION_ERROR", "too many filters")
        sorts = [_sort_of(s) for s in body.get("sorts") or []]
        if len(sorts) > 1:
            raise _HubSpotError(400, "VALIDATION_ERROR", "only one sort is supported")
        total, page = self._matches(obj, groups, sorts[0] if sorts else None, offset, limit)
        records = self.records[obj]
        results = [self._object(records[i], body.get("properties")) for i in page]
        answer = {"total": total, "results": results}
        next_offset = offset + limit
        if next_offset < total:
            answer["paging"] = {"next": {"after": str(next_offset), "link": None}}
        return 200, answer

    def _matches(
        self,
        obj: str,
        groups: list[dict[str, Any]],
        sort: tuple[str, bool] | None,
        offset: int,
        limit: int,
    ) -> tuple[int, list[str]]:
        """How many records match, and the ids of the page asked for."""
        ordered = self._ordered(obj)
        modified_only = len(groups) <= 1 and all(
            f.get("propertyName") == "hs_lastmodifieddate"
            and f.get("operator") in ("GT", "GTE", "LT", "LTE")
            for g in groups
            for f in g.get("filters") or []
        )
        if modified_only and sort in (None, ("hs_lastmodifieddate", True)):
            lo, hi = 0, len(ordered)
            for f in groups[0].get("filters") or [] if groups else []:
                bound = _ms(_parse_time(str(f.get("value"))))
                op = f["operator"]
                if op == "GT":
                    lo = max(lo, bisect.bisect_right(ordered, (bound, 2**62)))
                elif op == "GTE":
                    lo = max(lo, bisect.bisect_left(ordered, (bound, -1)))
                elif op == "LT":
                    hi = min(hi, bisect.bisect_left(ordered, (bound, -1)))
                else:
                    hi = min(hi, bisect.bisect_right(ordered, (bound, 2**62)))
            start = lo + offset
            return max(0, hi - lo), [rid for _, _, rid in ordered[start : min(hi, start + limit)]]
        records = self.records[obj]
        found = [
            rid
            for _, _, rid in ordered
            if not groups or any(_group_matches(records[rid], g) for g in groups)
        ]
        if sort is not None:
            name, ascending = sort
            found.sort(
                key=lambda rid: (_sort_key(name, records[rid].properties.get(name)), int(rid)),
                reverse=not ascending,
            )
        return len(found), found[offset : offset + limit]

    def _batch_read(self, obj: str, body: Any) -> tuple[int, dict[str, Any]]:
        inputs = (body or {}).get("inputs") or []
        history = (body or {}).get("propertiesWithHistory") or []
        if history and len(inputs) > 50:
            raise _HubSpotError(
                400,
                "VALIDATION_ERROR",
                "The maximum number of inputs supported in a batch request for property "
                "histories is 50. Please reduce the number of items and try again",
            )
        if len(inputs) > 100:
            raise _HubSpotError(400, "VALIDATION_ERROR", "Batch input limit of 100 exceeded")
        records = self.records[obj]
        now = iso(datetime.now(UTC))
        found, missing = [], []
        for item in inputs:
            record = records.get(str(item.get("id")))
            if record is None or record.archived_at is not None:
                missing.append(str(item.get("id")))
            else:
                found.append(self._object(record, body.get("properties"), history))
        answer: dict[str, Any] = {
            "status": "COMPLETE",
            "results": found,
            "requestedAt": now,
            "startedAt": now,
            "completedAt": now,
        }
        if missing:
            answer["numErrors"] = 1
            answer["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some DEAL objects, they may be deleted or not exist.",
                    "context": {"ids": missing},
                }
            ]
            return 207, answer
        return 200, answer

    def _list(self, obj: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        archived = (query.get("archived") or ["false"])[0].lower() == "true"
        history = ",".join(query.get("propertiesWithHistory") or []).split(",")
        history = [h for h in history if h]
        offset, limit = _paging(query, 10, 50 if history else 100)
        properties = ",".join(query.get("properties") or []).split(",")
        rows = sorted(
            (r for r in self.records[obj].values() if (r.archived_at is not None) == archived),
            key=lambda r: int(r.id),
        )
        results = [self._object(r, properties, history) for r in rows[offset : offset + limit]]
        return 200, _with_paging({"results": results}, offset + limit, len(rows))

    def _associations(self, source: str, target: str, body: Any) -> tuple[int, dict[str, Any]]:
        inputs = (body or {}).get("inputs") or []
        if len(inputs) > 1000:
            raise _HubSpotError(400, "VALIDATION_ERROR", "Batch input limit of 1000 exceeded")
        if target != "deals":
            raise _HubSpotError(400, "VALIDATION_ERROR", f"{source} → {target} is not seeded")
        now = iso(datetime.now(UTC))
        results, errors = [], []
        for item in inputs:
            from_id = str(item.get("id"))
            deals = self.associations.get((source, from_id)) or []
            if not deals:
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                        "message": f"No {target} is associated with {source} {from_id}.",
                        "context": {"fromObjectId": [from_id]},
                    }
                )
                continue
            results.append(
                {
                    "from": {"id": from_id},
                    "to": [
                        {
                            "toObjectId": int(d),
                            "associationTypes": [
                                {
                                    "category": "HUBSPOT_DEFINED",
                                    "typeId": DEAL_ASSOCIATION_TYPES[source],
                                    "label": None,
                                }
                            ],
                        }
                        for d in deals
                    ],
                }
            )
        answer: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": now,
            "completedAt": now,
        }
        if errors:
            answer |= {"numErrors": len(errors), "errors": errors}
            return 207, answer
        return 200, answer


def _paging(query: dict[str, list[str]], default: int, most: int) -> tuple[int, int]:
    after = (query.get("after") or ["0"])[0] or "0"
    limit_text = (query.get("limit") or [str(default)])[0]
    if not after.isdigit() or not limit_text.isdigit():
        raise _HubSpotError(400, "VALIDATION_ERROR", "after and limit must be numbers")
    return int(after), max(1, min(int(limit_text), most))


def _with_paging(answer: dict[str, Any], next_offset: int, total: int) -> dict[str, Any]:
    if next_offset < total:
        answer["paging"] = {"next": {"after": str(next_offset), "link": None}}
    return answer


def _sort_of(sort: Any) -> tuple[str, bool]:
    """A sort as (property, ascending), from `{"propertyName", "direction"}` or a bare name."""
    if isinstance(sort, str):
        return sort.lstrip("-"), not sort.startswith("-")
    if isinstance(sort, dict) and sort.get("propertyName"):
        return str(sort["propertyName"]), sort.get("direction", "ASCENDING") != "DESCENDING"
    raise _HubSpotError(400, "VALIDATION_ERROR", f"invalid sort {sort!r}")


def _sort_key(name: str, value: str | None) -> tuple[int, Any]:
    if value is None:
        return (1, 0)
    if name in _DATE_PROPERTIES:
        return (0, _parse_time(value))
    try:
        return (0, float(value))
    except ValueError:
        return (0, value)


def _group_matches(record: _Record, group: dict[str, Any]) -> bool:
    return all(_filter_matches(record, f) for f in group.get("filters") or [])


def _filter_matches(record: _Record, spec: dict[str, Any]) -> bool:
    name, op = spec.get("propertyName"), spec.get("operator", "EQ")
    if not isinstance(name, str):
        raise _HubSpotError(400, "VALIDATION_ERROR", "a filter needs a propertyName")
    value = record.properties.get(name)
    if op == "HAS_PROPERTY":
        return value is not None
    if op == "NOT_HAS_PROPERTY":
        return value is None
    if value is None:
        return op in ("NEQ", "NOT_IN")
    if op in ("IN", "NOT_IN"):
        values = [str(v) for v in spec.get("values") or []]
        return (value in values) == (op == "IN")
    wanted = str(spec.get("value"))
    have: Any = value
    if name in _DATE_PROPERTIES:
        have, wanted = _parse_time(value), _parse_time(wanted)  # type: ignore[assignment]
    else:
        with contextlib.suppress(ValueError):
            have, wanted = float(value), float(wanted)  # type: ignore[assignment]
    comparisons = {
        "EQ": lambda: have == wanted,
        "NEQ": lambda: have != wanted,
        "LT": lambda: have < wanted,
        "LTE": lambda: have <= wanted,
        "GT": lambda: have > wanted,
        "GTE": lambda: have >= wanted,
        "BETWEEN": lambda: (
            wanted <= have <= _parse_time(str(spec.get("highValue")))
            if name in _DATE_PROPERTIES
            else wanted <= have <= float(spec.get("highValue"))
        ),  # type: ignore[arg-type]
    }
    if op not in comparisons:
        raise _HubSpotError(400, "VALIDATION_ERROR", f"operator {op} is not supported here")
    return bool(comparisons[op]())


def seed_account(
    standin: HubSpotStandIn,
    emails: Sequence[str],
    *,
    deals: int,
    activities: int,
    rng: random.Random,
    end: datetime | None = None,
) -> list[str]:
    """A made-up account for the reps `emails` (owners 1000, 1001, …): deals with one to five
    open stages, half of them won or lost, and calls, meetings and emails, most on the deals,
    over the year before `end` (default: a week ago). Returns the deal ids."""
    end = end or datetime.now(UTC) - timedelta(days=7)
    start = end - timedelta(days=365)
    span = (end - start).total_seconds()
    owners = [str(1000 + n) for n in range(len(emails))]
    for owner, email in zip(owners, emails, strict=True):
        local = email.split("@")[0]
        standin.add_owner(owner, email, local.split(".")[0].title(), local.split(".")[-1].title())
    ids = []
    for d in range(deals):
        created = start + timedelta(seconds=rng.random() * span * 0.75)
        path = list(DEFAULT_STAGES[: rng.randint(1, 5)])
        if rng.random() < 0.5:
            path.append(rng.choice(("closedwon", "closedlost")))
        at, stages = created, []
        for stage in path:  # at most 6 moves of at most 15 days: before `end`
            stages.append((stage, at))
            at += timedelta(days=rng.uniform(1, 15))
        deal_id = str(100_000 + d)
        standin.add_deal(
            deal_id,
            f"Deal {d}",
            owner=owners[d % len(owners)],
            stages=stages,
            amount=rng.choice((5_000, 12_000, 30_000, 80_000)),
        )
        ids.append(deal_id)
    # About a third of calls connect, as on a typical outbound floor.
    outcomes = list(CALL_OUTCOMES.values())
    weights = [10, 35, 5, 20, 25, 5]
    for a in range(activities):
        kind = rng.choices(("call", "meeting", "email"), (60, 25, 15))[0]
        deal = ids[rng.randrange(deals)] if deals and rng.random() < 0.7 else None
        owner = owners[(int(deal) - 100_000) % len(owners)] if deal else rng.choice(owners)
        standin.add_activity(
            kind,
            str(10_000_000 + a),
            owner=owner,
            at=start + timedelta(seconds=rng.random() * span),
            deals=[deal] if deal else [],
            outcome=rng.choices(outcomes, weights)[0] if kind == "call" else None,
        )
    return ids


def main() -> None:
    """`python -m bot.demo.hubspot_standin [ORG_CSV]`: serve a made-up HubSpot account for the
    reps of an org chart (`coach demo` writes demo/org.csv) until Ctrl-C."""
    import argparse
    import csv

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("org", nargs="?", default="demo/org.csv", help="Org chart CSV.")
    parser.add_argument("--deals", type=int, default=25, help="Deals per rep.")
    parser.add_argument("--activities", type=int, default=250, help="Activities per rep.")
    parser.add_argument("--token", default="pat-demo")
    args = parser.parse_args()
    with open(args.org, newline="", encoding="utf-8-sig") as f:
        reps = [row["email"] for row in csv.DictReader(f) if row.get("role") == "rep"]
    standin = HubSpotStandIn(token=args.token, keep_responses=False)
    seed_account(
        standin,
        reps,
        deals=args.deals * len(reps),
        activities=args.activities * len(reps),
        rng=random.Random(16),
    )
    with standin:
        print(f"HubSpot stand-in: {len(reps)} reps' deals and activities; in another shell:")
        env = f"HUBSPOT_BASE_URL={standin.base} HUBSPOT_ACCESS_TOKEN={args.token}"
        print(f"  {env} coach sync hubspot")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
