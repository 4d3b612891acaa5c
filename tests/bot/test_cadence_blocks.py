"""The cadence's messages and modal stay within Block Kit's limits at any org size (pure)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pandas as pd

from analytics.catalogue import load_catalogue
from analytics.gaps import GapConfig, GapEngine
from analytics.simulate import demo_org
from bot.coaching.briefing import FocusOutcome, PlanView, RepBrief
from bot.slack.blocks.cadence import (
    daily_progress,
    day_one_parent,
    day_one_reply,
    digest,
    escalation,
    reflection_invite,
    reflection_modal,
    reminder,
)
from bot.slack.blocks.gaps import gap_blocks
from tests.bot.test_block_limits import check_message, check_view

METRIC = {"key": "close_rate", "kind": "conversion", "direction": "higher", "unit": None}


def brief(i: int, planned: bool) -> RepBrief:
    focus = [FocusOutcome("Close rate", METRIC, 0.18, 0.22 + i % 3 / 10, 0.26, 0.24)]
    long_text = "Record two discovery calls and review them together " * 20
    plan = PlanView("2026-12", focus, long_text, [long_text] * 5, ["Dec 10 on track"])
    return RepBrief(
        person_id=i,
        email=f"rep{i}@example.com",
        name=f"Rep Number {i}",
        report=None,
        problem="no metrics in the window",
        last_plan=PlanView("2026-11", focus, "why", ["a"], []),
        plan=plan if planned else None,
    )


def test_a_small_division_is_one_digest_message() -> None:
    teams = [("7", "Mark Manager", [brief(i, i % 2 == 0) for i in range(5)])]
    [(part, text, blocks)] = digest("Dana Director", "December 2026", "November 2026", teams, None)
    check_message(blocks)
    assert (part, text) == ("", "December coaching review — 5 reps, 2 with no plan")


def test_a_large_division_splits_into_one_reply_per_manager_within_limits() -> None:
    teams = [
        (str(m), f"Manager {m}", [brief(m * 60 + i, i % 3 == 0) for i in range(60)])
        for m in range(12)
    ]
    messages = digest("Dana Director", "December 2026", "November 2026", teams, "note")
    assert len(messages) == 1 + 12 * 2  # a summary, then each 61-block team in two replies
    for _, _, blocks in messages:
        check_message(blocks)
    assert [part for part, _, _ in messages[:3]] == ["", "0:0", "0:1"]  # keyed by team
    # Every rep is named once across the replies.
    text = "".join(str(b) for _, _, blocks in messages[1:] for b in blocks)
    assert all(text.count(f"*Rep Number {i}*") == 1 for i in range(720))


def test_day_one_messages_and_the_reflection_modal() -> None:
    _, blocks = day_one_parent("Mark Manager", "December 2026", 500, 120, "November is missing")
    check_message(blocks)
    for planned in (True, False):
        _, blocks = day_one_reply(brief(1, planned), "2026-12", "December 2026", "November 2026")
        check_message(blocks)
    _, blocks = reflection_invite(
        "Priya Shah", "Mark Manager", "2026-12", "December 2026", "November 2026"
    )
    check_message(blocks)
    existing: dict[str, Any] = {"how_it_went": "x" * 5000, "went_well": "", "improve": "y"}
    check_view(reflection_modal("2026-12", "December 2026", "November 2026", existing))


def test_daily_progress_with_many_teams() -> None:
    totals = {
        "leads_prospected": 1200.0,
        "connects": 300.0,
        "demos": 40.0,
        "wins": 9.0,
        "revenue": 41500.0,
    }
    _, blocks = daily_progress(
        "2026-12-03",
        "December 2026",
        [(f"Team {i}", totals) for i in range(300)],
        [("Close rate", 4, 3)] * 40,
    )
    check_message(blocks)
    _, empty = daily_progress("2026-12-03", "December 2026", [], [])
    check_message(empty)


def test_daily_progress_says_through_which_day() -> None:
    totals = {"leads_prospected": 1200.0, "wins": 9.0}
    teams = [("Team", totals)]
    _, blocks = daily_progress("2026-11-19", "November 2026", teams, [], date(2026, 11, 18))
    check_message(blocks)
    assert blocks[1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "Numbers through Nov 18."}],
    }
    _, full = daily_progress("2026-11-19", "November 2026", teams, [])
    assert "through" not in json.dumps(full)


def test_a_gap_summary_of_a_partial_month_says_through_which_day() -> None:
    people, metrics, _ = demo_org(end_month="2026-10")
    november = metrics[metrics["month"] == "2026-10"].assign(month="2026-11", through="2026-11-18")
    engine = GapEngine(pd.concat([metrics, november]), people, load_catalogue(), GapConfig())
    report = engine.reports("2026-11")[0].model_dump(mode="json")
    blocks = gap_blocks(report)
    check_message(blocks)
    context = blocks[1]["elements"][0]["text"]
    assert context.startswith("2026-11 (through Nov 18) · window 2026-09 – 2026-11 · ")
    assert "through" not in json.dumps(gap_blocks(engine.reports("2026-10")[0].model_dump()))


def test_reminder_and_escalation_count_in_words_that_agree() -> None:
    one, _ = reminder("Mark Manager", "2026-12", "December 2026", [("Rep 1", "r1@example.com")])
    assert one == "Reminder: one of your reps has no December plan yet"
    text, _ = escalation("Dana Director", "December 2026", [("Mark Manager", ["Rep 1"])])
    assert text == "1 rep still has no December plan, under 1 manager"
    text, _ = escalation("Dana", "December 2026", [("Mark", ["A", "B"]), ("Mia", ["C"])])
    assert text == "3 reps still have no December plan, under 2 managers"
