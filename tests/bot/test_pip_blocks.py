"""Every PIP message and modal stays within Block Kit's limits (slack-sdk's models), for every
rep of the demo org and for the longest input the forms accept."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from analytics.catalogue import load_catalogue
from analytics.gaps import GapConfig, GapEngine
from analytics.simulate import demo_org
from bot.coaching.pips import MAX_COMMITMENTS, pip_prefill
from bot.slack.blocks.pip import (
    pip_checkin_due,
    pip_checkin_modal,
    pip_checkin_reply,
    pip_decision_modal,
    pip_end_due,
    pip_message,
    pip_modal,
    pip_status,
)
from tests.bot.test_block_limits import check_message, check_view

CATALOGUE = load_catalogue()
LONG = "<!here> & " + "x" * 3000


def stored(goals: int = 3) -> dict[str, Any]:
    """A PIP as `pip_view` gives it, as big as the forms allow."""
    metric = CATALOGUE.metric("close_rate").model_dump(mode="json")
    leads = CATALOGUE.metric("leads_prospected").model_dump(mode="json")
    return {
        "id": 7,
        "start": date(2026, 11, 2),
        "end": date(2027, 4, 30),
        "rhythm_days": 7,
        "commitments": [LONG] * MAX_COMMITMENTS,
        "status": "active",
        "acknowledged_at": datetime(2026, 11, 3, tzinfo=UTC),
        "goals": [
            {
                "metric": {**metric, "label": LONG},
                "baseline": 0.1,
                "target": 0.3,
                "deadline": date(2027, 1, 1),
                "verdict": "not met",
                "value": 0.12,
            }
        ]
        * goals,
        "tracking": [{"metric": {**leads, "label": LONG}, "level": 90.0}] * 4,
        "checkins": [{"on": date(2026, 11, 9), "kept": 1, "missed": 9}] * 30,
    }


def test_the_pip_modal_for_every_demo_rep() -> None:
    people, metrics, _ = demo_org(end_month="2026-10")
    engine = GapEngine(metrics, people, CATALOGUE, GapConfig())
    for report in engine.reports():
        start = pip_prefill(report, {"close_rate"}, CATALOGUE, "de_DE", date(2026, 11, 2))
        options = [m.model_dump(mode="json") for m in report.metrics if m.value is not None]
        check_view(
            pip_modal(
                rep_name=report.name * 40,
                rep_email=report.rep,
                options=[{**o, "label": LONG} for o in options],
                prefill=start,
                recent_labels=[LONG] * 20,
                example="e.g. 26 % oder 12.000",
            )
        )


def test_messages_and_modals_at_their_largest() -> None:
    pip = stored()
    for for_rep in (True, False):
        check_message(pip_message(LONG, LONG, {**pip, "acknowledged_at": None}, for_rep)[1])
    check_message(pip_status(LONG, LONG, pip))
    check_message(pip_checkin_due(LONG, 7, date(2026, 11, 9))[1])
    check_message(pip_end_due(LONG, 7, date(2027, 4, 30), pip["goals"])[1])
    tracking = [{"label": LONG, "level_text": "90", "latest_text": "80"}] * 4
    check_view(
        pip_checkin_modal(
            pip_id=7,
            rep_name=LONG,
            today="2026-11-09",
            tracking=tracking,
            commitments=pip["commitments"],
        )
    )
    check_view(
        pip_decision_modal(pip_id=7, rep_name=LONG, end=date(2027, 4, 30), goals=pip["goals"])
    )
    reply = pip_checkin_reply(
        on_date=date(2026, 11, 9),
        author=LONG,
        rows=[(pip["tracking"][0]["metric"], 80.0, 90.0)] * 4,
        kept=[LONG] * 5,
        missed=[LONG] * 5,
        notes=LONG,
    )
    assert len(reply) <= 3000 and "<!here>" not in reply


def test_a_commitment_cut_to_fit_a_checkbox_ends_with_an_ellipsis() -> None:
    short, long = "Join three calls a week", "Give written feedback after every call " * 3
    modal = pip_checkin_modal(
        pip_id=7, rep_name="Rep", today="2026-11-09", tracking=[], commitments=[short, long]
    )
    [kept] = [b for b in modal["blocks"] if b.get("block_id") == "kept"]
    shown = [o["text"]["text"] for o in kept["element"]["options"]]
    assert shown[0] == short
    assert len(shown[1]) <= 75 and shown[1].endswith("…")
    assert long.startswith(shown[1].removesuffix("…"))
