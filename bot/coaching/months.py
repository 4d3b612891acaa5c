"""Month arithmetic shared by every part: coaching months are 'YYYY-MM' strings."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo


def parse_month(month: str) -> tuple[int, int]:
    """'2026-12' → (2026, 12)."""
    year, number = month.split("-")
    return int(year), int(number)


def shift_month(month: str, delta: int) -> str:
    """The month `delta` months after (before, if negative) `month`."""
    year, number = parse_month(month)
    index = year * 12 + number - 1 + delta
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def coaching_month(zone: str = "UTC") -> str:
    """The month whose plans are being made: the current one where the person acting is."""
    return datetime.now(ZoneInfo(zone)).strftime("%Y-%m")


def current_months() -> set[str]:
    """The months it is somewhere on Earth right now (UTC−12 to UTC+14).

    A Tokyo manager's December day-one thread arrives while it is still November in UTC: a
    month named by a button or a modal is accepted while it is the month anywhere.
    """
    now = datetime.now(UTC)
    return {
        (now - timedelta(hours=12)).strftime("%Y-%m"),
        (now + timedelta(hours=14)).strftime("%Y-%m"),
    }


def month_label(month: str) -> str:
    """'2026-11' → 'November 2026'."""
    year, number = (int(part) for part in month.split("-"))
    return f"{calendar.month_name[number]} {year}"


def through_label(day: date | str) -> str:
    """The last day month-to-date numbers cover (a date, or as a report's JSON has it), as
    people say it: 'through Nov 18'."""
    day = date.fromisoformat(day) if isinstance(day, str) else day
    return f"through {calendar.month_abbr[day.month]} {day.day}"


def month_bounds(month: str) -> tuple[date, date]:
    """First and last day of a YYYY-MM month."""
    year, number = (int(part) for part in month.split("-"))
    return date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])


def same_day_in(month: str, day: date) -> date:
    """`day`'s day of the month in `month`, kept inside it (the 31st becomes the 30th)."""
    first, last = month_bounds(month)
    return first.replace(day=min(day.day, last.day))
