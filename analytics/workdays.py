"""Working days of a country: its weekend and its public holidays (pure; the `holidays` library).

A country is an ISO 3166-1 alpha-2 code ("DE"), optionally with a subdivision whose holidays
differ ("DE-BY" for Bavaria, "US-CA"). No country means Monday to Friday, no holidays.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from functools import cache

WEEKEND = frozenset({5, 6})


@cache
def _supported() -> dict[str, dict[str, str]]:
    """Country code → its subdivisions, upper-cased → as the library spells them."""
    # Imported when a country is first named (~3 MB of a replica's memory otherwise).
    import holidays

    return {
        country: {subdiv.upper(): subdiv for subdiv in subdivs}
        for country, subdivs in holidays.list_supported_countries().items()
    }


def parse_country(code: str) -> str:
    """`code` as stored ('de' → 'DE', 'us-ca' → 'US-CA'), or ValueError saying what is wrong."""
    country, _, subdiv = code.strip().partition("-")
    country = country.upper()
    known = _supported().get(country)
    if known is None or len(country) != 2:
        raise ValueError(
            f"{code!r} is not a country code coach knows the holidays of "
            "(ISO 3166-1 alpha-2, e.g. DE, or with a region, e.g. DE-BY)"
        )
    if not subdiv:
        return country
    spelled = known.get(subdiv.upper())
    if spelled is None:
        names = sorted(known.values())
        regions = ", ".join(names[:12]) + ("…" if len(names) > 12 else "") if names else "none"
        raise ValueError(f"{code!r}: {country} has no region {subdiv!r} (regions: {regions})")
    return f"{country}-{spelled}"


@cache
def _days_off(country: str, year: int) -> tuple[frozenset[int], frozenset[date]]:
    """(weekend weekdays, public holidays) of a parsed country in a year."""
    import holidays

    code, _, subdiv = country.partition("-")
    found = holidays.country_holidays(code, subdiv=subdiv or None, years=year)
    return frozenset(found.weekend), frozenset(found)


def is_working_day(day: date, country: str | None) -> bool:
    """Not a weekend day nor a public holiday of `country` (weekends only when None)."""
    if country is None:
        return day.weekday() not in WEEKEND
    weekend, off = _days_off(country, day.year)
    return day.weekday() not in weekend and day not in off


def next_working_day(day: date, country: str | None) -> date:
    """`day` itself when it is a working day, else the first working day after it."""
    while not is_working_day(day, country):
        day += timedelta(days=1)
    return day


def nth_working_day(year: int, month: int, n: int, country: str | None) -> date | None:
    """The month's `n`-th working day (1 is the first), None when the month has fewer."""
    day = date(year, month, 1)
    last = date(year, month, calendar.monthrange(year, month)[1])
    count = 0
    while day <= last:
        if is_working_day(day, country):
            count += 1
            if count == n:
                return day
        day += timedelta(days=1)
    return None
