"""The archive over HTTP: outcomes in `/coach archive`, lessons in gap summaries and the plan
modal, and the same rights as gaps."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

import pytest
import time_machine
from sqlalchemy import select

from analytics.catalogue import load_catalogue
from analytics.models import GapConfig
from bot.coaching.archive import update_outcomes
from storage.counts import put_counts, read_counts
from storage.db import session_scope
from storage.models import MetricMonth, Person
from storage.plans import FocusInput, save_plan
from tests.bot.conftest import Bot, blocks_text


@pytest.fixture(autouse=True)
def november() -> Iterator[None]:
    with time_machine.travel("2026-11-03 10:00:00+00:00", tick=True):
        yield


def history(bot: Bot) -> None:
    """Rep 1 coached on closing three months without closing it; Rep 2 closed it in October
    (20 wins of 30 demos, credibly past the peers' material line)."""
    with session_scope(bot.engine) as session:
        ids = dict(session.execute(select(Person.email, Person.id)).all())
        rep2 = ids["rep2@example.com"]
        before = read_counts(session, "default", MetricMonth.person_id == rep2)
        assert {"wins", "losses", "revenue"} <= before[rep2, "2026-10"].keys()
        put_counts(session, "default", rep2, "2026-10", {"wins": 20, "losses": 2, "revenue": 1e5})
        for month in ("2026-08", "2026-09", "2026-10"):
            save_plan(
                session,
                workspace_id="default",
                rep_id=ids["rep1@example.com"],
                author_id=ids["mark@example.com"],
                month=month,
                focus=[FocusInput("close_rate", 0.1, 0.33, 0.99)],
                why="Deals die after the demo",
                actions=["Role-play objections"],
                checkin_dates=[date.fromisoformat(f"{month}-20")],
            )
        save_plan(
            session,
            workspace_id="default",
            rep_id=ids["rep2@example.com"],
            author_id=ids["mark@example.com"],
            month="2026-10",
            focus=[FocusInput("close_rate", 0.2, 0.33, 0.3)],
            why="Close more",
            actions=["Record 2 demos and review them"],
            checkin_dates=[date(2026, 10, 20)],
        )
    months = ["2026-08", "2026-09", "2026-10"]
    assert update_outcomes(bot.engine, "default", load_catalogue(), GapConfig(), months) == 4


def test_gap_summary_says_what_worked_and_who_overcame_it(bot: Bot) -> None:
    history(bot)
    bot.command("gaps rep1@example.com", "UMARK")
    [reply] = bot.replies()
    text = blocks_text(reply)
    assert (
        "What has worked for Close rate here: “Record 2 demos and review them” (closed it 1 of 1 times)"
        in text
    )
    assert "Overcame this gap lately: Rep 2 (closed it, October 2026)" in text
    assert "Role-play objections" not in text  # it never closed the gap


def test_archive_shows_outcomes_and_calls_out_a_persistent_deficiency(bot: Bot) -> None:
    history(bot)
    bot.command("archive rep1@example.com", "UMARK")
    [reply] = bot.replies()
    text = blocks_text(reply)
    assert "*Close rate* coached 3 months in a row without closing" in text
    # Beside each verdict, what it was judged on: the months, the value, the expectation.
    assert "October 2026" in text and "Close rate: 10% in Oct 2026; expected " in text
    assert "without coaching; peers' median " in text and "target 99%, not met — " in text
    assert "Close rate: 10% in Aug – Oct 2026; peers' median" in text  # no estimate before Aug
    assert any(f"*{v}*" in text for v in ("no change", "worse", "not enough data"))
    bot.command("archive rep2@example.com", "UMARK")
    [_, other] = bot.replies(2)
    assert ":white_check_mark: *closed*" in blocks_text(other)


def test_a_rep_cannot_read_another_reps_archive(bot: Bot) -> None:
    history(bot)
    bot.command("archive rep2@example.com", "UREP1")
    [reply] = bot.replies()
    assert reply["text"] == "You can only look up yourself and the reps you coach."


def test_the_plan_modal_shows_what_has_worked(bot: Bot) -> None:
    history(bot)
    bot.command("plan rep1@example.com", "UMARK")
    [update] = bot.slack.wait_for("views.update")
    view = update.params["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert "Record 2 demos and review them" in json.dumps(
        view
    ) and "Rep 2 (closed it, October 2026)" in json.dumps(view)


def test_a_rep_sees_who_overcame_it_by_name_only(bot: Bot) -> None:
    history(bot)
    bot.command("me", "UREP1")
    [reply] = bot.replies()
    blocks = reply["blocks"] if isinstance(reply["blocks"], list) else json.loads(reply["blocks"])
    texts = [e["text"] for b in blocks if b["type"] == "context" for e in b["elements"]]
    [lessons] = [t for t in texts if "Overcame this gap lately" in t]
    overcame = lessons.split("Overcame this gap lately")[1]
    assert "Rep 2 (closed it, October 2026)" in overcame and "%" not in overcame  # no figures
    bot.command("gaps rep2@example.com", "UREP1")  # and still no look at Rep 2 themselves
    [_, refusal] = bot.replies(2)
    assert refusal["text"] == "You can only look up yourself and the reps you coach."
