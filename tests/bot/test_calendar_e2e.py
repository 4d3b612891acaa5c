"""The cadence on real calendars, end to end against the stand-in: public holidays of each
person's country, reminders and escalation, time off."""

from __future__ import annotations

import time_machine
from sqlalchemy import update

from bot.cadence.jobs import Cadence
from storage.db import session_scope
from storage.models import Person
from tests.bot.conftest import Bot, make_cadence, metadata_keys


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
