"""When cadence messages are due, in each recipient's own time and on their country's working
days (pure: no Slack, no database)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from analytics.workdays import is_working_day, next_working_day, nth_working_day
from bot.coaching.months import parse_month

Kind = Literal["day-one", "day-two", "reminder", "escalation", "daily"]
DayOneRule = Literal["first", "first-working-day"]


@dataclass(frozen=True)
class Rules:
    """The cadence's settings: the local send time, which day is day one, the catch-up window,
    the country whose working days count for people the org chart gives none, and the working
    days of the month reminders and escalations go out on."""

    send_time: time = time(9, 0)
    day_one: DayOneRule = "first"
    catch_up: timedelta = timedelta(hours=12)
    country: str | None = None
    reminder_day: int = 3
    escalation_day: int = 5


def day_one(month: str, rules: Rules, country: str | None = None) -> date:
    """Day one of a coaching month: the 1st, or the first working day of the recipient's
    `country` (else the rules' default): weekends and its public holidays are skipped."""
    year, number = parse_month(month)
    first = date(year, number, 1)
    if rules.day_one == "first":
        return first
    return next_working_day(first, country or rules.country)


def day_two(month: str, rules: Rules, country: str | None = None) -> date:
    """The day after day one (the next working day under the working-day rule)."""
    after = day_one(month, rules, country) + timedelta(days=1)
    if rules.day_one == "first":
        return after
    return next_working_day(after, country or rules.country)


def scheduled_day(kind: Kind, period: str, rules: Rules, country: str | None = None) -> date | None:
    """The day a message of `kind` for `period` (a month, or a day for daily) goes out: day one,
    day two, the month's n-th working day for reminders and escalations; None for a daily post
    on a day that is not a working day (or a month without that many working days)."""
    if kind == "daily":
        day = date.fromisoformat(period)
        return day if is_working_day(day, country or rules.country) else None
    if kind in ("reminder", "escalation"):
        year, number = parse_month(period)
        n = rules.reminder_day if kind == "reminder" else rules.escalation_day
        return nth_working_day(year, number, n, country or rules.country)
    return (day_one if kind == "day-one" else day_two)(period, rules, country)


def scheduled_at(
    kind: Kind, period: str, zone: ZoneInfo, rules: Rules, country: str | None = None
) -> datetime | None:
    """The local moment a message of `kind` for `period` is due (see `scheduled_day`)."""
    day = scheduled_day(kind, period, rules, country)
    return None if day is None else datetime.combine(day, rules.send_time, tzinfo=zone)


def local_period(kind: Kind, now: datetime, zone: ZoneInfo) -> str:
    """The period `now` falls in for someone in `zone`: their month, or their day for daily."""
    local = now.astimezone(zone)
    return local.date().isoformat() if kind == "daily" else local.strftime("%Y-%m")


def due_period(
    kind: Kind, now: datetime, zone: ZoneInfo, rules: Rules, country: str | None = None
) -> str | None:
    """The period whose `kind` message is due now for someone in `zone` (and `country`), if any.

    Due from the local send time until the catch-up window closes: a bot that was down at 09:00
    catches up the same day, and never sends November's nudges in December.
    """
    # Yesterday's period too: a daily post's window may run past local midnight.
    for period in (
        local_period(kind, now, zone),
        local_period(kind, now - timedelta(days=1), zone),
    ):
        start = scheduled_at(kind, period, zone, rules, country)
        if start is not None and start <= now < start + rules.catch_up:
            return period
    return None


# Slack's "Vacationing" preset, and the words of a status that says someone is out.
VACATION_EMOJI = ":palm_tree:"
AWAY_WORDS = ("out of office", "on leave")


def away_by_status(
    profile: dict[str, Any], now: datetime, zone: ZoneInfo, rules: Rules
) -> date | None:
    """The last day someone is away by their Slack status (`users.profile.get`'s profile): a
    vacation emoji or an "out of office"/"on leave" text, with an expiry — a status that never
    clears is too often forgotten to hold messages back. A status clearing before the local
    send time frees that day. None when the status says nothing of the kind."""
    expires = int(profile.get("status_expiration") or 0)
    text = str(profile.get("status_text") or "").lower()
    says_away = profile.get("status_emoji") == VACATION_EMOJI or any(w in text for w in AWAY_WORDS)
    if not says_away or expires <= now.timestamp():
        return None
    end = datetime.fromtimestamp(expires, tz=zone)
    return end.date() if end.time() > rules.send_time else end.date() - timedelta(days=1)


def weekly_meetings(now: datetime, zone: ZoneInfo, weekday: int, at: time) -> list[datetime]:
    """The local moments of a weekly meeting (`weekday`, `at` in `zone`) from a day before
    `now` to five days after it: enough for every prep and prompt that may be due now."""
    today = now.astimezone(zone).date()
    found = []
    for offset in range(-1, 6):
        day = today + timedelta(days=offset)
        if day.weekday() == weekday:
            found.append(datetime.combine(day, at, tzinfo=zone))
    return found


def prompt_at(meeting: datetime, zone: ZoneInfo, rules: Rules, country: str | None) -> datetime:
    """When a rep is asked for their 1:1 topics: the send time of their last working day before
    the meeting's day, in their own `zone` (and `country`)."""
    day = meeting.date() - timedelta(days=1)
    while not is_working_day(day, country or rules.country):
        day -= timedelta(days=1)
    return datetime.combine(day, rules.send_time, tzinfo=zone)
