"""Every message and modal, built for the largest orgs, stays within Slack's Block Kit limits.

slack-sdk's models encode Slack's limits (block counts, text lengths, title lengths…); each
builder's output is parsed into them and validated.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from analytics.catalogue import load_catalogue
from analytics.gaps import GapConfig, GapEngine
from analytics.simulate import demo_org, simulate_org
from bot.coaching.plans import prefill
from bot.coaching.team import TeamRow
from bot.slack.blocks.archive import archive_blocks
from bot.slack.blocks.checkin import checkin_modal
from bot.slack.blocks.gaps import gap_blocks
from bot.slack.blocks.plan import loading_modal, message_modal, plan_modal
from bot.slack.blocks.plan_message import plan_message
from bot.slack.blocks.team import manager_home, rep_home, team_blocks

CATALOGUE = load_catalogue()
LABELS = {m.key: m.label for m in CATALOGUE.metrics}


def check_message(blocks: list[dict[str, Any]]) -> None:
    assert 1 <= len(blocks) <= 50
    for block in blocks:
        Block.parse(block).validate_json()


def check_view(view: dict[str, Any]) -> None:
    View(**view).validate_json()
    assert (
        len(json.loads(view.get("private_metadata") or '""') and view["private_metadata"]) <= 3000
    )


@pytest.fixture(scope="module")
def demo_reports() -> list[dict[str, Any]]:
    people, metrics, _ = demo_org(end_month="2026-10")
    engine = GapEngine(metrics, people, CATALOGUE, GapConfig())
    return [r.model_dump(mode="json") for r in engine.reports()]


def test_every_gap_summary_of_the_demo_org(demo_reports: list[dict[str, Any]]) -> None:
    for report in demo_reports:
        check_message(gap_blocks(report))
        check_view(rep_home(gap_blocks(report), "*Plan*\n" + "• action\n" * 50))


def test_plan_modal_for_every_demo_rep(demo_reports: list[dict[str, Any]]) -> None:
    people, metrics, _ = demo_org(end_month="2026-10")
    engine = GapEngine(metrics, people, CATALOGUE, GapConfig())
    for report in engine.reports():
        start = prefill(report)
        view = plan_modal(
            rep_name=report.name * 10,
            rep_email=report.rep,
            month="2026-11",
            month_label="November 2026",
            options=start["options"],
            chosen=start["chosen"],
            why="w" * 5000,
            actions=start["actions"] * 50,
            targets=start["targets"],
            checkin_dates=["2026-11-10"],
            reflection={"how_it_went": "x" * 4000, "went_well": "y", "improve": "z"},
        )
        check_view(view)
    check_view(loading_modal("A very long modal title indeed"))
    check_view(message_modal("Check-in", "t" * 5000))


def test_checkin_modal_and_plan_message_with_long_content() -> None:
    check_view(
        checkin_modal(
            plan_id=1,
            rep_name="R" * 300,
            metric_label="M" * 300,
            today="2026-11-02",
            actions=[f"Action {i} " + "a" * 200 for i in range(30)],
            current_value="24%",
        )
    )
    focus = [
        {
            "metric_key": "close_rate",
            "kind": "conversion",
            "unit": "percent",
            "baseline": 0.1,
            "peer_median": 0.3,
            "target": 0.25,
        }
    ]
    _, blocks = plan_message(
        rep_name="R" * 300,
        author_name="A",
        month_label="November 2026",
        plan={"focus": focus, "why": "w" * 5000, "actions": ["a" * 400] * 20, "checkin_dates": []},
        labels=LABELS,
    )
    check_message(blocks)


@pytest.mark.parametrize("reps", [0, 1, 40, 700, 5000])
def test_team_message_and_home_for_large_teams(reps: int) -> None:
    rows = [
        TeamRow(
            email=f"rep{i}@example.com",
            name=f"Representative Number {i}",
            manager="Mark",
            focus=["Close rate (demos → wins)", "Win rate"],
            planned=i % 3 == 0,
            plan_focus=["Close rate (demos → wins)"],
            last_checkin="2026-11-10 (on track)",
        )
        for i in range(reps)
    ]
    check_message(team_blocks(rows, "November 2026"))
    home = manager_home(rows, "November 2026")
    check_view(home)
    assert str(reps) in json.dumps(home)


def test_archive_of_many_months() -> None:
    focus = {
        "metric": "close_rate",
        "baseline": 0.18,
        "target": 0.26,
        "peer_median_then": 0.26,
        "value": 0.2,
        "estimate": 0.19,
        "peer_median_now": 0.27,
        "verdict": "improved",
        "judged_from": "2025-12",
        "judged_to": "2026-02",
        "expectation": 0.17,
        "target_met": False,
    }
    plans = [
        {
            "month": f"{2020 + m // 12}-{m % 12 + 1:02d}",
            "why": "w" * 2000,
            "actions": ["a" * 300] * 5,
            "focus": [focus, {**focus, "metric": "win_rate", "verdict": None}],
            "checkins": ["2026-01-01 on track"] * 10,
        }
        for m in range(60)
    ]
    view = {"plans": plans, "persistent": {m.key: 60 for m in CATALOGUE.metrics}}
    metrics = {m.key: m.model_dump(mode="json") for m in CATALOGUE.metrics}
    check_message(archive_blocks("Priya", view, metrics))


def test_simulated_large_org_gap_summaries() -> None:
    people, metrics, _ = simulate_org(300, 8, seed=3, end_month="2026-10")
    engine = GapEngine(metrics, people, CATALOGUE, GapConfig())
    for report in engine.reports()[:100]:
        check_message(gap_blocks(report.model_dump(mode="json")))
