"""The weekly 1:1's messages and modals stay within Slack's Block Kit limits (slack-sdk's
validators) for a 15-rep team and a rep with 200 open deals, and show typed text literally."""

from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from analytics.models import DealFlag
from bot.coaching.prep import FocusProgress, LastCheckIn, Prep
from bot.coaching.team import TeamRow
from bot.slack.blocks.prep import (
    late_topics,
    one_on_one_prep,
    schedule_home,
    schedule_modal,
    settings_home,
    settings_modal,
    topics_modal,
    topics_prompt,
)
from bot.slack.blocks.team import manager_home
from tests.bot.mrkdwn_leaks import leaks
from tests.bot.test_block_limits import check_message, check_view

MEETING = datetime(2026, 12, 8, 14, 0, tzinfo=ZoneInfo("Europe/Berlin"))
HOSTILE = "<!channel> *Big* & <https://evil.example|click>"
CLOSE_RATE = {"key": "close_rate", "kind": "conversion", "unit": None, "direction": "higher"}
DEMOS = {"key": "demos", "kind": "activity", "unit": None, "direction": "higher"}


def deal(i: int) -> DealFlag:
    return DealFlag(
        crm_id=str(i),
        name=f"{HOSTILE} Enterprise renewal for a very long account name number {i}" * 2,
        url=f"https://crm.example.com/deals/{i}" if i % 2 else "javascript:alert(1)|x>",
        stage="Negotiation / Review " * 3,
        amount=125000.0 + i,
        days_in_stage=40 + i,
        days_since_touch=None if i % 5 == 0 else 21,
        reasons=["untouched", "stuck"] if i % 3 else ["stuck"],
    )


def prep(**changes: object) -> Prep:
    values: dict[str, object] = {
        "rep_id": 1,
        "rep_name": HOSTILE,
        "rep_email": "rep1@example.com",
        "meeting": MEETING,
        "month": "2026-12",
        "planned": True,
        "why": HOSTILE,
        "focus": [
            FocusProgress("Close rate", CLOSE_RATE, 0.15, 3, 20, 0.2, 0.2, 0.26),
            FocusProgress("Demos", DEMOS, 9, 9, None, 40, 10.0, 30),
        ],
        "through": date(2026, 12, 7),
        "last_checkin": LastCheckIn(date(2026, 12, 3), "at_risk", 1, 2, HOSTILE * 40),
        "next_steps": [HOSTILE * 20] * 30,
        "topics": [HOSTILE * 20] * 40,
        "crm": True,
        "flags": [deal(i) for i in range(200)],
    }
    values.update(changes)
    return Prep(**values)  # type: ignore[arg-type]


def test_a_prep_for_a_rep_with_200_open_deals_fits_one_message() -> None:
    text, blocks = one_on_one_prep(prep())
    check_message(blocks)
    assert blocks[-1]["type"] == "actions"  # the Log check-in button survives the cut
    shown = json.dumps(blocks, ensure_ascii=False)
    assert "200 deals going sideways — 133 untouched, 200 stuck" in shown
    # The agenda keeps all four items however much the rep wrote: the rest is counted.
    agenda = next(
        b["text"]["text"] for b in blocks if "*Agenda*" in b.get("text", {}).get("text", "")
    )
    assert all(item in agenda for item in ("\n2. ", "\n3. Pipeline review", "\n4. Next steps:"))
    assert "more" in agenda
    many = one_on_one_prep(prep(flags=[deal(i) for i in range(1000)]))[1]
    check_message(many)
    assert "more: `/coach pipeline` lists them all" in json.dumps(many, ensure_ascii=False)
    # Typed text is shown literally (plain text in the header; escaped in mrkdwn): no pings,
    # no masked links but the CRM's own https ones.
    mrkdwn = json.dumps(blocks[1:], ensure_ascii=False) + text
    assert "<!channel>" not in mrkdwn and "&lt;!channel&gt;" in mrkdwn
    assert "<https://crm.example.com/deals/1|" in mrkdwn and "<javascript" not in mrkdwn


def test_prep_variants_fit_and_say_what_is_missing() -> None:
    for variant in (
        prep(flags=[]),
        prep(crm=False),
        prep(planned=False, focus=[], next_steps=[], topics=[], last_checkin=None),
        prep(rep_away_until=date(2026, 12, 11), held_back=True, flags=[deal(1)]),
    ):
        check_message(one_on_one_prep(variant)[1])
    shown = json.dumps(one_on_one_prep(prep(planned=False, focus=[]))[1], ensure_ascii=False)
    assert "leaves with a plan for the month" in shown and '"plan_open"' in shown
    demos = json.dumps(one_on_one_prep(prep())[1], ensure_ascii=False)
    assert "Demos 9 month to date — the target needs 10 by now for 40 this month" in demos
    assert (
        "Close rate 15% month to date (3 of 20) — the target needs 20%: :warning: behind" in demos
    )


def test_the_reps_prompt_and_topics_modal_fit() -> None:
    check_message(topics_prompt(HOSTILE, HOSTILE, MEETING, MEETING.date())[1])
    check_view(topics_modal(date(2026, 12, 8), HOSTILE, [HOSTILE * 30] * 20))
    check_view(topics_modal(date(2026, 12, 8), "Mark", []))


@pytest.mark.parametrize("reps", [15, 98, 140])
def test_the_schedule_modal_and_home_fit_a_team(reps: int) -> None:
    listed = [(i, f"{HOSTILE} {i}" * 5, "Tue 14:00" if i % 2 else None) for i in range(1, reps + 1)]
    modal = schedule_modal(listed, "America/Argentina/ComodRivadavia", 30, max(0, reps - 98))
    check_view(modal)
    assert len(json.loads(modal["private_metadata"])["reps"]) == min(reps, 98)
    rows = [
        TeamRow(f"rep{i}@example.com", f"Rep {i}", "Mark", ["Close rate"], i % 2 == 0, [], None)
        for i in range(reps)
    ]
    lines = [schedule_home(reps // 2, reps, 30), settings_home("daily post off · " * 40)]
    check_view(manager_home(rows, "December 2026", False, lines))


def test_the_settings_modal_fits() -> None:
    stored = {"daily_channel": "C0PROGRESS", "send_time": "08:30"}
    check_view(settings_modal(stored, {"send_time": "09:00", "country": ""}))


def test_hostile_text_reaches_slack_escaped_or_as_typed() -> None:
    hostile = [HOSTILE, "<@U0ATTACK>", "<!here> Mia & Co"]
    flags = [deal(i).model_copy(update={"url": None, "stage": hostile[1]}) for i in range(5)]
    full = prep(
        rep_name=hostile[2],
        topics=hostile,
        next_steps=hostile,
        flags=flags,
        rep_away_until=date(2026, 12, 11),
        focus=[FocusProgress(hostile[1], CLOSE_RATE, 0.15, 3, 20, 0.2, 0.2, 0.26)],
    )
    text, blocks = one_on_one_prep(full)
    found = leaks("chat.postMessage", {"text": text, "blocks": blocks}, hostile)
    text, blocks = topics_prompt(hostile[2], hostile[1], MEETING, MEETING.date())
    found += leaks("chat.postMessage", {"text": text, "blocks": blocks}, hostile)
    for surface in (
        topics_modal(MEETING.date(), hostile[2], hostile),
        schedule_modal([(1, hostile[2], None)], "Europe/Berlin", 30),
    ):
        found += leaks("views.open", {"view": surface}, hostile)
    assert found == []


@pytest.mark.parametrize("count", [0, 1, 40])
def test_late_topics_fit_one_section_and_are_escaped(count: int) -> None:
    topics = [f"<!channel> topic {n} " + "x" * 290 for n in range(count)]
    text, blocks = late_topics("<!channel>&Bob One", topics)
    check_message(blocks)
    assert text == "&lt;!channel&gt;&amp;Bob added topics after this prep went out"
    hostile = [*topics, "<!channel>&Bob"]
    assert leaks("chat.postMessage", {"text": text, "blocks": blocks}, hostile) == []
    body = blocks[0]["text"]["text"]
    assert ("more" in body) == (count == 40) and ("cleared" in body) == (count == 0)
