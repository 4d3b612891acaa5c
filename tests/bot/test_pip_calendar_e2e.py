"""PIP check-ins on the author's calendar, end to end against the stand-in: a check-in day on a
public holiday of the author's country moves to the next working day, and one due while the
author is away waits for their first working day back; each goes once."""

from __future__ import annotations

import time_machine

from bot.cadence.jobs import Cadence
from storage.models import Pip
from tests.bot.conftest import Bot, metadata_keys
from tests.bot.test_calendar_e2e import away_from, set_person
from tests.bot.test_pip_e2e import create


def portuguese_pip(bot: Bot) -> Pip:
    """Mark's weekly PIP for Rep 1 from Tuesday 2026-11-24, Mark in Portugal: check-ins on
    Tuesdays, the first two (December 1 and 8) public holidays there."""
    set_person(bot, "mark@example.com", country="PT", timezone="Europe/Lisbon")
    with time_machine.travel("2026-11-24 10:00:00+00:00", tick=True):
        return create(
            bot, "UREP1", "rep1@example.com", [("close_rate", "40%", "30")], start="2026-11-24"
        )


def sent_on(cadence: Cadence, moment: str) -> int:
    """What a pips run at `moment` (UTC) sends, run twice: the second must send nothing."""
    with time_machine.travel(moment, tick=False):
        first = sum(r.summary.sent for r in cadence.run("pips"))
        assert sum(r.summary.sent for r in cadence.run("pips")) == 0
    return first


def checkins(bot: Bot, pip: Pip) -> list[str]:
    prefix = f"pip:{pip.id}:checkin:"
    return [k.removeprefix(prefix) for k in metadata_keys(bot.slack) if k.startswith(prefix)]


def test_a_check_in_or_end_on_a_public_holiday_goes_the_next_working_day(
    bot: Bot, cadence: Cadence
) -> None:
    pip = portuguese_pip(bot)
    assert sent_on(cadence, "2026-12-01 09:30:00+00:00") == 0  # Restoration of Independence
    assert sent_on(cadence, "2026-12-02 09:30:00+00:00") == 1
    assert sent_on(cadence, "2026-12-02 15:00:00+00:00") == 0
    assert checkins(bot, pip) == ["2026-12-02"]
    due = next(m for m in bot.slack.posted("UMARK") if "check-in due today" in m["text"])
    assert "Dec 2" in due["text"] and due["thread_ts"] == pip.dm_ts
    assert sent_on(cadence, "2027-01-01 09:30:00+00:00") == 0  # New Year's Day, the end date
    assert sent_on(cadence, "2027-01-04 09:30:00+00:00") == 1
    assert metadata_keys(bot.slack).count(f"pip:{pip.id}:end:2027-01-04") == 1
    assert any("Rep 1's PIP ended (Jan 1, 2027)" in m["text"] for m in bot.slack.posted("UMARK"))


def test_a_check_in_due_while_the_author_is_away_waits_for_their_return(
    bot: Bot, cadence: Cadence
) -> None:
    pip = portuguese_pip(bot)
    with time_machine.travel("2026-12-14 12:00:00+00:00", tick=True):
        away_from(bot, "UMARK", "until 2026-12-18")
    with time_machine.travel("2026-12-15 09:30:00+00:00", tick=False):
        [run] = cadence.run("pips")
    assert (run.summary.sent, run.summary.deferred) == (0, 1)
    for moment in ("2026-12-16", "2026-12-18", "2026-12-19"):  # away, then a Saturday
        assert sent_on(cadence, f"{moment} 09:30:00+00:00") == 0
    assert sent_on(cadence, "2026-12-21 08:30:00+00:00") == 0  # before nine in Lisbon
    assert sent_on(cadence, "2026-12-21 09:30:00+00:00") == 1  # Monday, back
    assert sent_on(cadence, "2026-12-21 20:00:00+00:00") == 0
    assert checkins(bot, pip) == ["2026-12-15"]


def test_an_end_message_missed_while_the_bot_was_down_goes_on_the_next_run(
    bot: Bot, cadence: Cadence
) -> None:
    pip = portuguese_pip(bot)  # ends Friday January 1, a holiday: due Monday January 4
    # No run at all on January 4: the bot was down all its catch-up window.
    assert sent_on(cadence, "2027-01-05 08:30:00+00:00") == 0  # before nine in Lisbon
    assert sent_on(cadence, "2027-01-05 09:30:00+00:00") == 1
    assert sent_on(cadence, "2027-01-06 09:30:00+00:00") == 0
    assert metadata_keys(bot.slack).count(f"pip:{pip.id}:end:2027-01-04") == 1
    ended = [m for m in bot.slack.posted("UMARK") if "Rep 1's PIP ended (Jan 1, 2027)" in m["text"]]
    assert len(ended) == 1 and ended[0]["thread_ts"] == pip.dm_ts
    assert checkins(bot, pip) == []  # the check-in reminders it missed are stale: not sent
