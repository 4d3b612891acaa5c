"""The weekly 1:1: its slot ("Tue 14:00") and the pace a focus metric's target needs by now
(pure: no Slack, no database)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from analytics.workdays import is_working_day

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_SLOT = re.compile(r"^\s*([A-Za-z]+)\.?\s+([0-9]{1,2}):([0-9]{2})\s*$")


@dataclass(frozen=True)
class WeeklySlot:
    """A weekly meeting: a weekday (0 is Monday) and a local time of day."""

    weekday: int
    at: time

    @property
    def label(self) -> str:
        """As written in the org CSV and the App Home: 'Tue 14:00'."""
        return f"{WEEKDAYS[self.weekday]} {self.at:%H:%M}"


def parse_slot(text: str) -> WeeklySlot:
    """'Tue 14:00' (a weekday's first three letters or its full name, any case; 24-hour time)
    as a slot, or ValueError with a one-line message saying what is wrong."""
    found = _SLOT.match(text)
    example = "a weekday and a 24-hour time, e.g. Tue 14:00"
    if found is None:
        raise ValueError(f"{text!r} is not {example}")
    name, hours, minutes = found.group(1).lower(), int(found.group(2)), int(found.group(3))
    days = [d.lower() for d in calendar.day_name]
    matches = [
        i for i, day in enumerate(days) if day == name or (len(name) >= 3 and day.startswith(name))
    ]
    weekday = matches[0] if matches else None
    if weekday is None:
        raise ValueError(f"{found.group(1)!r} is not a weekday (Mon … Sun): {example}")
    if hours > 23 or minutes > 59:
        raise ValueError(f"{found.group(2)}:{found.group(3)} is not a time of day: {example}")
    return WeeklySlot(weekday, time(hours, minutes))


def next_meeting(
    slot: WeeklySlot, zone: ZoneInfo, now: datetime, country: str | None = None
) -> datetime | None:
    """When the weekly meeting is next held after `now`: its slot is a time in `zone` (the
    manager's calendar), and a weekend day or public holiday of `country` (the manager's) has
    none, as the cadence sends no prep then. None when none is held in the next eight weeks
    (a slot on a weekend day)."""
    today = now.astimezone(zone).date()
    for offset in range(57):  # today's may have passed; holidays can skip a week or two
        day = today + timedelta(days=offset)
        start = datetime.combine(day, slot.at, tzinfo=zone)
        if day.weekday() == slot.weekday and start > now and is_working_day(day, country):
            return start
    return None


def working_days_elapsed(through: date, country: str | None) -> tuple[int, int]:
    """(working days of `through`'s month up to and including `through`, working days in the
    whole month) in `country`."""
    last = calendar.monthrange(through.year, through.month)[1]
    days = [date(through.year, through.month, d) for d in range(1, last + 1)]
    working = [d for d in days if is_working_day(d, country)]
    return sum(1 for d in working if d <= through), len(working)


def needed_by_now(target: float, kind: str, elapsed: int, total: int) -> float:
    """Where a month's target needs the rep to be now: a count (an activity) accrues with the
    month's working days, so its pace is the share of them gone by; a rate or an average
    doesn't accrue, so its pace is the target itself."""
    if kind != "activity" or total <= 0:
        return target
    return target * (elapsed / total)


def month_value(
    numerator: dict[str, float], denominator: dict[str, float] | None, counts: dict[str, float]
) -> tuple[float | None, float, float | None]:
    """A metric's (value, numerator, denominator) on one month's `counts` ({column: count}):
    None for a rate whose denominator is zero (or a month without the columns)."""
    if not counts:
        return None, 0.0, None
    top = sum(c * counts.get(col, 0.0) for col, c in numerator.items())
    if denominator is None:
        return top, top, None
    bottom = sum(c * counts.get(col, 0.0) for col, c in denominator.items())
    return (top / bottom if bottom else None), top, bottom
