"""The cadence on real calendars, end to end against the stand-in: public holidays of each
person's country, reminders and escalation, time off."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import time_machine
from sqlalchemy import select, update

from bot.cadence.jobs import Cadence
from storage.db import session_scope
from storage.models import Person
from tests.bot.conftest import Bot, blocks_text, make_cadence, metadata_keys
from tests.bot.test_cadence_e2e import click, make_plan


def set_person(bot: Bot, email: str, **values: object) -> None:
    with session_scope(bot.engine) as session:
        session.execute(update(Person).where(Person.email == email).values(**values))


def dm_recipients(bot: Bot) -> set[str]:
    """Who got a top-level DM (thread replies go to the DM channel)."""
    return {
        call.params["channel"]
        for call in bot.slack.calls_to("chat.postMessage")
        if not call.params.get("thread_ts")
    }


def test_a_bank_holiday_on_the_first_moves_day_one_in_that_country_only(bot: Bot) -> None:
    # Tuesday 2026-12-01 is Restoration of Independence Day in Portugal, not in the US.
    cadence = make_cadence(bot.engine, bot.slack, COACH_DAY_ONE="first-working-day")
    set_person(bot, "mark@example.com", country="PT", timezone="Europe/Lisbon")
    set_person(bot, "rep1@example.com", country="PT", timezone="Europe/Lisbon")
    set_person(bot, "mia@example.com", country="US", timezone="America/New_York")
    with time_machine.travel("2026-12-01 14:30:00+00:00", tick=False):  # 09:30 in New York
        cadence.tick()
    assert "UMIA" in dm_recipients(bot) and "UREP2" in dm_recipients(bot)
    assert not {"UMARK", "UREP1"} & dm_recipients(bot)  # a holiday in Portugal
    with time_machine.travel("2026-12-02 09:30:00+00:00", tick=False):  # 09:30 in Lisbon
        runs = cadence.tick()
    assert [(r.job, r.period, r.summary.sent) for r in runs if r.job == "day-one"] == [
        ("day-one", "2026-12", 7)
    ]
    assert {"UMARK", "UREP1"} <= dm_recipients(bot)
    day_one = [k for k in metadata_keys(bot.slack) if not k.startswith("day-two")]
    assert len(day_one) == len(set(day_one)) == 22


def test_the_default_country_holds_back_everyone_the_org_chart_gives_none(bot: Bot) -> None:
    cadence = make_cadence(
        bot.engine, bot.slack, COACH_DAY_ONE="first-working-day", COACH_COUNTRY="PT"
    )
    set_person(bot, "mia@example.com", country="US")
    with time_machine.travel("2026-12-01 09:30:00+00:00", tick=False):
        cadence.tick()
    assert dm_recipients(bot) == {"UMIA"}
    with time_machine.travel("2026-12-02 09:30:00+00:00", tick=False):
        cadence.tick()
    day_one = [k for k in metadata_keys(bot.slack) if not k.startswith("day-two")]
    assert len(day_one) == len(set(day_one)) == 22


def test_no_daily_post_on_a_public_holiday(bot: Bot) -> None:
    cadence: Cadence = make_cadence(
        bot.engine, bot.slack, COACH_DAILY_CHANNEL="C0PROGRESS", COACH_COUNTRY="GB"
    )
    with time_machine.travel("2026-12-25 09:30:00+00:00", tick=False):
        assert cadence.tick() == []
    with time_machine.travel("2026-12-29 09:30:00+00:00", tick=False):
        [run] = cadence.tick()
    assert (run.job, run.period, run.summary.sent) == ("daily", "2026-12-29", 1)


def plan_for(bot: Bot, *numbers: int, month: str = "2026-12") -> None:
    for i in numbers:
        make_plan(bot, f"rep{i}@example.com", month, "close_rate", 0.1, 0.33, 0.2)


def posts_with(bot: Bot, prefix: str) -> list[dict[str, Any]]:
    """The messages whose exactly-once key starts with `prefix`."""
    found = []
    for call in bot.slack.calls_to("chat.postMessage"):
        metadata = call.params.get("metadata") or {}
        metadata = json.loads(metadata) if isinstance(metadata, str) else metadata
        if (metadata.get("event_payload") or {}).get("key", "").startswith(prefix):
            found.append(call.params)
    return found


def reminded(bot: Bot, prefix: str = "reminder") -> set[str]:
    """The managers whose DM holds a message keyed `prefix`…"""
    return {
        user
        for user in ("UMARK", "UMIA")
        if any(
            ((m.get("metadata") or {}).get("event_payload") or {}).get("key", "").startswith(prefix)
            for m in bot.slack.posted(user)
        )
    }


def sent_in_month(cadence: Cadence, days: list[str]) -> None:
    """Tick at 09:30 UTC on each day, twice (a second tick sends nothing new)."""
    for day in days:
        with time_machine.travel(f"{day} 09:30:00+00:00", tick=False):
            cadence.tick()
            assert sum(r.summary.sent for r in cadence.tick()) == 0


def test_reminder_on_working_day_three_then_escalation_on_day_five_each_once(
    bot: Bot, cadence: Cadence
) -> None:
    # December 2026: Tuesday the 1st is working day 1, Thursday the 3rd day 3, Monday the 7th 5.
    plan_for(bot, 1, 2, 6, 7, 8, 9, 10)  # Mia's team is all planned; Mark's 3 to 5 are not
    sent_in_month(cadence, ["2026-12-01", "2026-12-02"])
    assert posts_with(bot, "reminder") == []
    sent_in_month(cadence, ["2026-12-03"])
    [nudge] = posts_with(bot, "reminder")
    mark_parent = next(
        p for p in bot.slack.posted("UMARK") if p["text"].startswith("December 1:1s")
    )
    assert nudge["thread_ts"] == mark_parent["ts"]
    # a reply in the day-one thread, shown in the conversation too
    history = bot.slack.calls_to("chat.postMessage")[-1].response
    assert isinstance(history, dict) and history["message"]["subtype"] == "thread_broadcast"
    assert nudge["text"] == "Reminder: 3 of your reps have no December plan yet"
    text = blocks_text(nudge)
    assert all(f"*Rep {i}*" in text for i in (3, 4, 5)) and "*Rep 1*" not in text
    assert text.count('"action_id": "plan_open"') == 3 and "rep3@example.com|2026-12" in text
    plan_for(bot, 3)
    sent_in_month(cadence, ["2026-12-04", "2026-12-07", "2026-12-08"])
    [escalated] = posts_with(bot, "escalation")
    assert escalated["channel"] == "UDANA"
    assert escalated["text"] == "2 reps still have no December plan, under 1 manager"
    assert "*Mark Manager* — 2 without a plan: Rep 4, Rep 5" in blocks_text(escalated)
    assert len(posts_with(bot, "reminder")) == 1
    keys = metadata_keys(bot.slack)
    assert len(keys) == len(set(keys))


def test_the_digest_lists_teams_with_planless_reps_first(bot: Bot, cadence: Cadence) -> None:
    plan_for(bot, 1, 2, 3, 4, 5, 6)  # Mark's team is planned, Mia's is not
    sent_in_month(cadence, ["2026-12-02"])
    [digest] = posts_with(bot, "day-two")
    text = blocks_text(digest)
    assert text.index("Mia Manager") < text.index("Mark Manager")


def test_mute_from_app_home_stops_reminders_only(bot: Bot, cadence: Cadence) -> None:
    click(bot, "UMARK", "reminders_mute", "mute", {"type": "view", "view_id": "V1"})
    [home] = bot.slack.wait_for("views.publish")
    assert "Unmute reminders" in json.dumps(home.params["view"])
    with session_scope(bot.engine) as session:
        assert session.scalar(select(Person.mute_reminders).where(Person.slack_user_id == "UMARK"))
    sent_in_month(cadence, ["2026-12-01", "2026-12-02", "2026-12-03", "2026-12-07"])
    assert reminded(bot) == {"UMIA"}
    assert any(p["channel"] == "UMARK" for p in posts_with(bot, "day-one"))  # the plan still
    [escalated] = posts_with(bot, "escalation")  # the director still hears about both teams
    assert "*Mark Manager*" in blocks_text(escalated) and "*Mia Manager*" in blocks_text(escalated)
    click(bot, "UMARK", "reminders_mute", "unmute", {"type": "view", "view_id": "V1"})
    bot.slack.wait_for("views.publish", count=2)
    sent_in_month(cadence, ["2027-01-05"])  # January's working day 3
    assert reminded(bot, "reminder:2027-01") == {"UMIA", "UMARK"}


def away_from(bot: Bot, user: str, text: str) -> str:
    """`/coach away …` as `user`; the answer's text."""
    before = len(bot.slack.calls_to("response_url"))
    bot.command(f"away {text}", user)
    return bot.slack.wait_for("response_url", count=before + 1)[-1].params["text"]


def keyed(bot: Bot, user: str, prefix: str) -> list[dict[str, Any]]:
    """What `user` received whose exactly-once key starts with `prefix`."""
    return [
        m
        for m in bot.slack.posted(user)
        if ((m.get("metadata") or {}).get("event_payload") or {}).get("key", "").startswith(prefix)
    ]


def test_away_command_sets_checks_and_clears_time_off(bot: Bot) -> None:
    with time_machine.travel("2026-11-30 12:00:00+00:00", tick=True):
        assert away_from(bot, "UREP1", "until 2026-12-02").startswith(
            "Away until Wednesday, December 2"
        )
        assert "is not a date" in away_from(bot, "UREP1", "until 2026-02-30")
        assert "from today" in away_from(bot, "UREP1", "until 2026-11-01")
        assert "`/coach away until YYYY-MM-DD`" in away_from(bot, "UREP1", "next week")
        with session_scope(bot.engine) as session:
            stored = session.scalar(
                select(Person.away_until).where(Person.slack_user_id == "UREP1")
            )
        assert str(stored) == "2026-12-02"
        assert away_from(bot, "UREP1", "off").startswith("Welcome back")
        with session_scope(bot.engine) as session:
            assert (
                session.scalar(select(Person.away_until).where(Person.slack_user_id == "UREP1"))
                is None
            )


def test_a_rep_away_on_the_first_gets_their_reflection_on_return(
    bot: Bot, cadence: Cadence
) -> None:
    with time_machine.travel("2026-11-30 12:00:00+00:00", tick=True):
        away_from(bot, "UREP1", "until 2026-12-02")
    with time_machine.travel("2026-12-01 09:30:00+00:00", tick=False):
        [run] = cadence.tick()
    assert (run.summary.sent, run.summary.deferred) == (21, 1)
    assert "1 held back (away)" in run.line()
    assert keyed(bot, "UREP1", "reflection") == [] and keyed(bot, "UREP2", "reflection")
    sent_in_month(cadence, ["2026-12-02"])  # still away
    assert keyed(bot, "UREP1", "reflection") == []
    # Back on the 3rd; the bot was down all day and catches up late in the evening.
    with time_machine.travel("2026-12-03 22:30:00+00:00", tick=False):
        cadence.tick()
        assert sum(r.summary.sent for r in cadence.tick()) == 0
    [invite] = keyed(bot, "UREP1", "reflection:2026-12")
    assert "Write my reflection" in blocks_text(invite)
    keys = metadata_keys(bot.slack)
    assert len(keys) == len(set(keys))


def test_a_manager_away_all_week_has_day_one_go_to_the_director(bot: Bot, cadence: Cadence) -> None:
    # December's first five working days end on Monday the 7th; Mark is back on the 9th.
    set_person(bot, "mark@example.com", away_until=date(2026, 12, 8))
    set_person(bot, "mia@example.com", away_until=date(2026, 12, 2))  # back within the week: waits
    sent_in_month(cadence, ["2026-12-01"])
    assert keyed(bot, "UMARK", "day-one") == [] and keyed(bot, "UMIA", "day-one") == []
    [parent] = [
        m for m in keyed(bot, "UDANA", "day-one:2026-12:manager:") if not m.get("thread_ts")
    ]
    assert parent["text"] == "Mark Manager's December 1:1s — 5 reps, 5 with no plan last month"
    text = blocks_text(parent)
    assert "Good morning Dana" in text and "Mark Manager is away until Tuesday, December 8" in text
    assert len(keyed(bot, "UDANA", "day-one:2026-12:manager:")) == 6  # and the 5 replies
    sent_in_month(cadence, ["2026-12-02", "2026-12-03"])
    assert len(keyed(bot, "UMIA", "day-one")) == 6  # Mia's thread waited for her
    [mia_nudge] = keyed(bot, "UMIA", "reminder")
    assert mia_nudge["thread_ts"] == keyed(bot, "UMIA", "day-one")[0]["ts"]
    assert keyed(bot, "UMARK", "reminder") == []  # away: held back
    sent_in_month(cadence, ["2026-12-07", "2026-12-08", "2026-12-09"])
    [mark_nudge] = keyed(bot, "UMARK", "reminder")  # on his return, a message of its own
    assert not mark_nudge.get("thread_ts")
    assert keyed(bot, "UMARK", "day-one") == []  # the director had it: never sent twice
    keys = metadata_keys(bot.slack)
    assert len(keys) == len(set(keys))


def test_a_slack_vacation_status_holds_the_digest_until_it_clears(
    bot: Bot, cadence: Cadence
) -> None:
    # Dana's "Vacationing" status clears at noon on the 3rd: after 09:00, so she is out that day.
    with time_machine.travel("2026-11-30 12:00:00+00:00", tick=False):
        bot.slack.set_status("UDANA", ":palm_tree:", "Vacationing", expiration=1796299200)
        bot.slack.set_status("UMIA", ":palm_tree:", "Gone fishing")  # never clears: ignored
        bot.slack.set_status("UMARK", "", "Out of office, back Friday", expiration=1796299200)
    sent_in_month(cadence, ["2026-12-01", "2026-12-02", "2026-12-03"])
    assert keyed(bot, "UDANA", "day-two") == []
    assert keyed(bot, "UMIA", "day-one") and not keyed(bot, "UMARK", "day-one")
    asked = {c.params["user"] for c in bot.slack.calls_to("users.profile.get")}
    assert {"UDANA", "UMIA", "UMARK"} <= asked
    sent_in_month(cadence, ["2026-12-04"])
    assert len(keyed(bot, "UDANA", "day-two")) == 1 and keyed(bot, "UMARK", "day-one")


def test_a_status_that_cannot_be_read_holds_nothing_back(bot: Bot, cadence: Cadence) -> None:
    bot.slack.fail("users.profile.get", error="missing_scope")
    sent_in_month(cadence, ["2026-12-01"])
    assert len(metadata_keys(bot.slack)) == 22


def test_a_held_back_message_goes_at_nine_local_across_a_dst_change(
    bot: Bot, cadence: Cadence
) -> None:
    # Rep 2 in Los Angeles is away March 1–12, 2027; clocks go forward on Sunday the 14th, so
    # 09:00 on Monday the 15th is 16:00 UTC, not 17:00 as on day one.
    set_person(
        bot, "rep2@example.com", timezone="America/Los_Angeles", away_until=date(2027, 3, 12)
    )
    with time_machine.travel("2027-03-01 17:30:00+00:00", tick=False):
        cadence.tick()
    assert keyed(bot, "UREP2", "reflection") == [] and keyed(bot, "UREP1", "reflection")
    with time_machine.travel("2027-03-15 15:59:00+00:00", tick=False):
        cadence.tick()
    assert keyed(bot, "UREP2", "reflection") == []
    with time_machine.travel("2027-03-15 16:00:00+00:00", tick=False):
        cadence.tick()
    assert len(keyed(bot, "UREP2", "reflection:2027-03")) == 1
    with time_machine.travel("2027-04-01 16:30:00+00:00", tick=False):  # not carried into April
        cadence.tick()
    assert len(keyed(bot, "UREP2", "reflection:2027-03")) == 1
