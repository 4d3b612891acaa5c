"""PostgreSQL away in the middle of the day: polite answers, nothing half-saved, recovery by itself."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import time_machine
from sqlalchemy import Engine, create_engine, func, select, text

from bot.demo.standin import SlackStandIn
from bot.slack.listeners.errors import DATABASE_DOWN
from storage.db import make_engine, session_scope
from storage.models import Plan
from tests.bot.conftest import Bot, seed, serve_bot
from tests.bot.test_plan_e2e import open_modal, state, submit
from tests.conftest import PG_ADMIN_URL


@pytest.fixture
def pg_bot(migrated_pg_url: str, slack: SlackStandIn) -> Iterator[tuple[Bot, str]]:
    pg_url = migrated_pg_url
    engine = make_engine(pg_url)
    seed(engine, ["2026-08", "2026-09", "2026-10"])
    with (
        time_machine.travel("2026-11-02 09:30:00+00:00", tick=True),
        serve_bot(engine, slack) as bot,
    ):
        yield bot, pg_url.rsplit("/", 1)[1]
    engine.dispose()


def database(name: str, *, up: bool) -> None:
    """Take one database away (refuse new connections, end the open ones) or bring it back."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if up else "false"}'))
        if not up:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
    admin.dispose()


def health(bot: Bot) -> int:
    try:
        with urllib.request.urlopen(bot.url + "/healthz", timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def plans(engine: Engine) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(Plan)) or 0


def test_an_outage_is_answered_politely_loses_nothing_and_heals(pg_bot: tuple[Bot, str]) -> None:
    bot, name = pg_bot
    modal = open_modal(bot, "UMARK", "rep1@example.com")
    values = state(["close_rate"], ["26%"])
    database(name, up=False)
    try:
        assert health(bot) == 503
        status, _ = bot.command("gaps rep1@example.com", "UMARK")
        assert status == 200
        [answer] = bot.replies()
        assert answer["text"] == DATABASE_DOWN
        status, body = submit(bot, "UMARK", modal, values)
        assert status == 200
        assert json.loads(body) == {
            "response_action": "errors",
            "errors": {"focus": DATABASE_DOWN[:150]},
        }
    finally:
        database(name, up=True)
    assert health(bot) == 200
    assert plans(bot.engine) == 0  # the refused submission saved nothing
    bot.command("gaps rep1@example.com", "UMARK")
    [_, healed] = bot.replies(2)
    assert healed["text"] == "Rep 1: coaching focus for 2026-10"  # healed by itself
    status, body = submit(bot, "UMARK", modal, values)
    assert (status, body) == (200, "")
    assert plans(bot.engine) == 1


def test_a_pool_that_cannot_hand_out_a_connection_in_time_is_an_outage() -> None:
    from sqlalchemy.exc import IntegrityError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from bot.slack.listeners.errors import unreachable

    assert unreachable(PoolTimeout("QueuePool limit reached"))
    assert not unreachable(IntegrityError("INSERT", {}, Exception("duplicate key")))
