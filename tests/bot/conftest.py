"""End-to-end harness: the app served on a local port, Slack's Web API stood in for locally."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from sqlalchemy import Engine

from bot.cadence.jobs import Cadence
from bot.coaching.services import Services
from bot.demo.standin import (
    TEAM_ID,
    SlackStandIn,
    interaction_body,
    sign_slack_request,
    slash_command_body,
)
from bot.settings import Settings
from bot.slack.app import create_app
from bot.slack.client import make_web_client
from bot.slack.server import make_http_server
from storage.counts import put_counts
from storage.db import session_scope
from storage.models import Person, Workspace

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
WORKSPACE = "default"

# A small org: director → two managers → reps; plus an admin, and one stranger in Slack only.
ORG = [
    # email, name, role, manager, segment, slack id
    ("dana@example.com", "Dana Director", "director", None, None, "UDANA"),
    ("alex@example.com", "Alex Admin", "admin", None, None, "UALEX"),
    ("mark@example.com", "Mark Manager", "manager", "dana@example.com", None, "UMARK"),
    ("mia@example.com", "Mia Manager", "manager", "dana@example.com", None, "UMIA"),
    ("dora@example.com", "Dora Director", "director", None, None, "UDORA"),  # another division
]
REPS_OF_MARK = [f"rep{i}@example.com" for i in range(1, 6)]
REPS_OF_MIA = [f"rep{i}@example.com" for i in range(6, 11)]


@dataclass
class Bot:
    """A running bot and the stand-in it talks to."""

    url: str
    slack: SlackStandIn
    engine: Engine

    def post(self, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, str]:
        """POST a signed request to /slack/events, as Slack would."""
        signed = {**sign_slack_request(body, SECRET), **(headers or {})}
        signed.setdefault("Content-Type", "application/x-www-form-urlencoded")
        request = urllib.request.Request(self.url + "/slack/events", data=body, headers=signed)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def command(self, text: str, user_id: str, team_id: str = TEAM_ID) -> tuple[int, str]:
        """Send `/coach <text>` from `user_id` (of workspace `team_id`)."""
        body = slash_command_body(
            text, user_id=user_id, response_url=self.slack.response_url(), team_id=team_id
        )
        return self.post(body)

    def interact(self, payload: dict[str, Any]) -> tuple[int, str]:
        """Send an interactivity payload."""
        return self.post(interaction_body(payload))

    def replies(self, count: int = 1) -> list[dict[str, Any]]:
        """What the bot sent back through response_url (waits for work done after the ack)."""
        calls = self.slack.wait_for("response_url", count=count)
        return [call.params for call in calls]


def seed(
    engine: Engine,
    months: list[str],
    *,
    workspace: str = WORKSPACE,
    team: str = "",
    weak: int = 1,
) -> None:
    """Write the small org and plausible monthly counts straight into the database.

    `team` goes into every Slack id after its "U" (another workspace's people have other ids);
    rep number `weak` closes badly.
    """

    def slack_id(default: str | None) -> str | None:
        return None if default is None else f"U{team}{default[1:]}"

    with session_scope(engine) as session:
        session.add(Workspace(id=workspace, data_version=1))
        people: dict[str, Person] = {}
        for email, name, role, manager, segment, default_id in ORG:
            people[email] = Person(
                workspace_id=workspace,
                email=email,
                name=name,
                role=role,
                manager=people.get(manager) if manager else None,
                segment=segment,
                slack_user_id=slack_id(default_id),
            )
        for i, email in enumerate(REPS_OF_MARK + REPS_OF_MIA, 1):
            manager = people["mark@example.com" if i <= 5 else "mia@example.com"]
            people[email] = Person(
                workspace_id=workspace,
                email=email,
                name=f"Rep {i}",
                role="rep",
                manager=manager,
                segment=None,
                # rep10 has no Slack id yet: resolved by email on first sight.
                slack_user_id=slack_id(f"UREP{i}") if i < 10 else None,
                start_date=date(2024, 1, 1),
            )
        session.add_all(people.values())
        session.flush()
        for i, email in enumerate(REPS_OF_MARK + REPS_OF_MIA, 1):
            closes_badly = i == weak  # a planted gap
            for j, month in enumerate(months):
                wins = 3 if closes_badly else 7 + (i * 7 + j * 3) % 6
                counts = {
                    "leads_prospected": 400,
                    "connects": 120,
                    "discovery_calls": 60,
                    "demos": 30,
                    "wins": wins,
                    # Most of the weak rep's demos never reach a decision: the close rate's
                    # own gap (losing decided deals would be the win rate's).
                    "losses": 2 if closes_badly else 6,
                    "revenue": wins * 5000.0,
                    "quota": 60000.0,
                }
                put_counts(session, workspace, people[email].id, month, counts)


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    """The Slack Web API stand-in, with everyone of the org (and a stranger) in its directory."""
    directory = {email: slack_id for email, _, _, _, _, slack_id in ORG}
    directory.update({email: f"UREP{i}" for i, email in enumerate(REPS_OF_MARK + REPS_OF_MIA, 1)})
    directory["stranger@example.com"] = "USTRANGER"
    with SlackStandIn(directory) as standin:
        yield standin


@contextmanager
def serve_bot(engine: Engine, slack: SlackStandIn, **env: Any) -> Iterator[Bot]:
    """The app served over HTTP on a free local port, talking to `slack`; `env` overrides
    settings (None unsets one)."""
    values = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.url,
        "DATABASE_URL": str(engine.url),
        **env,
    }
    settings = Settings(**{k: v for k, v in values.items() if v is not None})
    server = make_http_server(create_app(settings, engine), engine, "127.0.0.1", 0)
    # shutdown() waits for the loop's next poll: the default 0.5 s was most of a short test.
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    ).start()
    try:
        yield Bot(f"http://127.0.0.1:{server.server_port}", slack, engine)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def bot(sqlite_engine: Engine, slack: SlackStandIn) -> Iterator[Bot]:
    """The bot on a seeded SQLite database."""
    seed(sqlite_engine, ["2026-08", "2026-09", "2026-10"])
    with serve_bot(sqlite_engine, slack) as served:
        yield served


def blocks_text(message: dict[str, Any]) -> str:
    """All the text of a message, blocks included, for assertions."""
    blocks = message.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return (message.get("text") or "") + json.dumps(blocks, ensure_ascii=False)


def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    """Poll until `predicate()` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def make_cadence(engine: Engine, slack: SlackStandIn, **env: Any) -> Cadence:
    """A Cadence on `engine` calling the stand-in, with quick retries and no pacing."""
    settings = Settings(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET="secret",
        SLACK_API_URL=slack.url,
        DATABASE_URL=str(engine.url),
        COACH_SEND_RATE=0,
        **env,
    )
    client = make_web_client(
        settings, interval_calculator=FixedValueRetryIntervalCalculator(0.01), resend=False
    )
    return Cadence(Services(settings, engine), WORKSPACE, client, backoff=0.01)


def metadata_keys(slack: SlackStandIn) -> list[str]:
    """The exactly-once key of every message the stand-in holds, one entry per message."""
    keys = []
    for message in slack.messages.values():
        metadata = message.get("metadata") or {}
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        key = (metadata.get("event_payload") or {}).get("key")
        if key:
            keys.append(key)
    return keys


@pytest.fixture
def cadence(bot: Bot) -> Iterator[Cadence]:
    """A Cadence on the served bot's database and stand-in (buttons are answered by the bot)."""
    yield make_cadence(bot.engine, bot.slack)
