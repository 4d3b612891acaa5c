"""Hostile values through the builders' paths an end-to-end run rarely takes (lessons, stuck
metrics, a digest split per manager, a home summarised past 45 reps): escaped in mrkdwn, as
typed in plain_text (pure)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.coaching.briefing import FocusOutcome, PlanView, RepBrief
from bot.coaching.team import TeamRow
from bot.slack.blocks.archive import archive_blocks
from bot.slack.blocks.cadence import digest, escalation, reminder
from bot.slack.blocks.checkin import checkin_reply
from bot.slack.blocks.gaps import gap_blocks
from bot.slack.blocks.plan import message_modal
from bot.slack.blocks.prep import rep_one_on_one
from bot.slack.blocks.team import manager_home, rep_home
from tests.bot.mrkdwn_leaks import leaks
from tests.bot.test_block_limits import check_message

NAME = "<!here> Mia & Co"
ACTION = "<https://evil.example|open your numbers> & call"
LABEL = "<!channel> Close rate"
HOSTILE = [NAME, ACTION, LABEL, "<@U0ATTACK>", "<!everyone> SMB"]
METRIC = {"key": "close_rate", "kind": "conversion", "direction": "higher", "unit": None}


def message(text: str, blocks: list[dict[str, Any]]) -> list[str]:
    return leaks("chat.postMessage", {"text": text, "blocks": blocks}, HOSTILE)


def view(surface: dict[str, Any]) -> list[str]:
    return leaks("views.publish", {"view": surface}, HOSTILE)


def report() -> dict[str, Any]:
    metric = {
        **METRIC,
        "label": LABEL,
        "sentence": "<@U0ATTACK> closes {value}",
        "value": 0.1,
        "peer_median": 0.3,
        "top_quartile": 0.4,
        "suggestions": [ACTION],
    }
    return {
        "name": NAME,
        "rep": "rep1@example.com",
        "month": "2026-10",
        "window": ["2026-08", "2026-10"],
        "peer_group": {"segment": "<!everyone> SMB", "size": 3, "widened": True},
        "ramping": False,
        "metrics": [metric],
        "focus": ["close_rate"],
        "trend": {"series": []},
        "warnings": ["Only 1 reps in <!everyone> SMB"],
    }


def test_gaps_with_lessons_and_the_rep_home() -> None:
    lessons = {
        "close_rate": {
            "worked": [{"action": ACTION, "closed": 2, "improved": 1, "used": 3}],
            "overcame": [{"name": NAME, "month": "2026-09", "verdict": "closed"}],
        }
    }
    blocks = gap_blocks(report(), lessons, chart=True)
    assert message("", blocks) == []
    assert blocks[0]["text"]["text"] == NAME  # the header is plain_text: as typed
    assert "&lt;!here&gt; Mia &amp; Co (closed it, September 2026)" in str(blocks)
    assert view(rep_home(blocks, None)) == []
    meeting = datetime(2026, 12, 8, 10, tzinfo=ZoneInfo("America/New_York"))
    home = rep_home(blocks, None, rep_one_on_one(NAME, meeting, yours=True))
    assert view(home) == [] and "&lt;!here&gt; Mia &amp; Co" in str(home["blocks"][0])


def test_archive_with_a_metric_stuck_for_months() -> None:
    focus = {"metric": "close_rate", "baseline": 0.1, "peer_median_then": 0.3, "target": 0.2}
    plans = [
        {"month": "2026-10", "focus": [focus], "why": NAME, "actions": [ACTION], "checkins": []}
    ]
    blocks = archive_blocks(
        NAME,
        {"persistent": {"close_rate": 3}, "plans": plans},
        {"close_rate": {**METRIC, "label": LABEL}},
    )
    assert message("", blocks) == []
    assert "*&lt;!channel&gt; Close rate* coached 3 months" in str(blocks)


def test_a_digest_split_per_manager_names_each_team_escaped() -> None:
    focus = [FocusOutcome(LABEL, METRIC, 0.1, 0.2, 0.3, 0.25)]
    plan = PlanView("2026-11", focus, NAME, [ACTION] * 5, [])
    briefs = [
        RepBrief(i, f"rep{i}@example.com", f"{NAME} {i}", None, "<@U0ATTACK>", plan, plan)
        for i in range(60)
    ]
    messages = digest(NAME, "December 2026", "November 2026", [("7", NAME, briefs)], NAME)
    assert len(messages) > 1 and messages[1][1] == "&lt;!here&gt; Mia &amp; Co's team"
    assert [leak for _, text, blocks in messages for leak in message(text, blocks)] == []


def test_a_manager_home_past_its_buttons_and_a_message_modal() -> None:
    rows = [
        TeamRow(f"r{i}@example.com", f"{NAME} {i}", NAME, [LABEL], i % 2 == 0, [LABEL], None)
        for i in range(60)
    ]
    assert view(manager_home(rows, "November 2026")) == []
    assert view(message_modal("Check-in", f"{NAME} has no plan")) == []


def test_the_checkin_reply() -> None:
    reply = checkin_reply(
        on_date=date(2026, 11, 10), status="done", done=1, planned=2, value="<!here>", author=NAME
    )
    assert message(reply, []) == []
    assert reply.endswith("now &lt;!here&gt; (logged by &lt;!here&gt; Mia &amp; Co)")


def test_the_leak_finder_finds_what_slack_would_parse() -> None:
    for text in ("<!here>", "hi <@U0ATTACK>", "<https://evil.example|x>", "<mailto:a@b|m>", "R&D"):
        assert leaks("chat.postMessage", {"text": text}, []) != [], text
    blocks = [{"type": "context", "elements": [{"type": "mrkdwn", "text": "&lt;!here&gt; &amp;"}]}]
    assert leaks("response_url", {"text": "ok", "blocks": blocks}, ["<!here>"]) == []
    twice = {
        "type": "home",
        "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "&lt;!here&gt;"}}],
    }
    assert leaks("views.publish", {"view": twice}, ["<!here>"]) != []


def test_a_reminder_and_an_escalation_past_their_room_name_everyone_escaped() -> None:
    reps = [(f"{NAME} {i}", f"rep{i}@example.com") for i in range(60)]
    text, blocks = reminder(NAME, "2026-12", "December 2026", reps)
    assert message(text, blocks) == [] and len(blocks) <= 50
    check_message(blocks)
    managers = [(f"{NAME} {i}", [f"{NAME} {j}" for j in range(30)]) for i in range(60)]
    text, blocks = escalation(NAME, "December 2026", managers)
    assert message(text, blocks) == [] and len(blocks) <= 50
    check_message(blocks)
    assert "…and 15 more managers." in str(blocks[-1])
