"""`coach serve --socket` end to end: a real process connects to a local Socket Mode stand-in
(through `apps.connections.open` on the Slack stand-in), answers a slash command and a modal
submission, and reconnects after its socket is dropped; each envelope is acknowledged once and
each command answered once.

The process runs on the real clock, so the data is seeded for the three months before this one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import func, select

from bot.demo.standin import SlackStandIn, slash_command_body
from storage.db import make_engine, session_scope
from storage.models import Plan
from tests.bot.conftest import SECRET, blocks_text, seed, wait_until
from tests.bot.socket_mode import SocketModeStandIn
from tests.bot.test_plan_e2e import state, submission


def month_back(now: datetime, back: int) -> str:
    index = now.year * 12 + now.month - 1 - back
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@pytest.fixture
def socket_bot(
    migrated_sqlite_url: str, slack: SlackStandIn
) -> Iterator[tuple[SocketModeStandIn, str]]:
    """`coach serve --socket` running against both stand-ins; the socket stand-in and the URL."""
    now = datetime.now(UTC)
    engine = make_engine(migrated_sqlite_url)
    seed(engine, [month_back(now, back) for back in (3, 2, 1)])
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COACH_", "SLACK_"))}
    env.update(
        {
            "DATABASE_URL": migrated_sqlite_url,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_APP_TOKEN": "xapp-1-A0C0ACH01-test",
            "SLACK_API_URL": slack.url,
        }
    )
    with SocketModeStandIn() as links:
        slack.socket_url = links.url
        server = subprocess.Popen(
            [sys.executable, "-m", "bot.cli.main", "serve", "--socket", "--no-scheduler"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            links.wait_for_connections(1, timeout=60)
            yield links, migrated_sqlite_url
        finally:
            server.terminate()
            output = server.communicate(timeout=20)[0]
        assert "Traceback" not in output, output


def command(slack: SlackStandIn, text: str, user_id: str) -> dict[str, Any]:
    """A slash command's payload as Socket Mode delivers it: the form's fields as JSON."""
    body = slash_command_body(text, user_id=user_id, response_url=slack.response_url())
    return dict(parse_qsl(body.decode()))


def test_command_modal_and_reconnect_each_answered_once(
    socket_bot: tuple[SocketModeStandIn, str], slack: SlackStandIn
) -> None:
    links, url = socket_bot
    # A slash command: acknowledged on the socket, answered at its response_url.
    gaps = links.send("slash_commands", command(slack, "gaps <@UREP1|rep1>", "UMARK"))
    links.wait_for_ack(gaps)
    [reply] = slack.wait_for("response_url", timeout=30)
    assert "Rep 1" in blocks_text(reply.params)

    # A modal: opened on the command's trigger, filled, then submitted over the socket.
    plan = links.send("slash_commands", command(slack, "plan <@UREP1|rep1>", "UMARK"))
    links.wait_for_ack(plan)
    slack.wait_for("views.open", timeout=30)
    [update] = slack.wait_for("views.update", timeout=30)
    view = update.params["view"]
    modal = json.loads(view) if isinstance(view, str) else view
    month = month_back(datetime.now(UTC), 0)
    values = state(["close_rate"], ["25%"], checkins=(f"{month}-10", f"{month}-24"))
    submitted = links.send("interactive", submission("UMARK", modal, values))
    ack = links.wait_for_ack(submitted)
    assert "errors" not in json.dumps(ack.get("payload") or {}), ack
    engine = make_engine(url)

    def plans() -> int:
        with session_scope(engine) as session:
            return session.scalar(select(func.count()).select_from(Plan)) or 0

    wait_until(lambda: plans() == 1, timeout=10)

    # The socket drops: the client asks for a new URL, reconnects, and answers there.
    links.drop()
    links.wait_for_connections(2, timeout=60)
    again = links.send("slash_commands", command(slack, "gaps <@UREP2|rep2>", "UMARK"))
    links.wait_for_ack(again)
    replies = slack.wait_for("response_url", count=2, timeout=30)
    assert "Rep 2" in blocks_text(replies[1].params)

    assert len(slack.calls_to("apps.connections.open")) == 2
    assert links.ack_counts() == {gaps: 1, plan: 1, submitted: 1, again: 1}
    assert len(slack.calls_to("response_url")) == 2 and plans() == 1
    assert len(slack.calls_to("views.open")) == 1
    engine.dispose()
