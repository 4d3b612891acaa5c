"""Working days: weekends and public holidays by country, the n-th working day of a month."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.workdays import is_working_day, next_working_day, nth_working_day, parse_country

COUNTRIES = [None, "DE", "DE-BY", "US-CA", "GB-SCT", "IL", "JP", "FR"]


@pytest.mark.parametrize(
    ("code", "parsed"),
    [("de", "DE"), (" DE ", "DE"), ("de-by", "DE-BY"), ("us-ca", "US-CA"), ("GB-sct", "GB-SCT")],
)
def test_country_codes_are_normalised(code: str, parsed: str) -> None:
    assert parse_country(code) == parsed


@pytest.mark.parametrize(
    ("code", "needle"),
    [
        ("Germany", "is not a country code"),
        ("XX", "is not a country code"),
        ("D", "is not a country code"),
        ("DE-XX", "DE has no region 'XX'"),
    ],
)
def test_unknown_countries_are_refused_saying_why(code: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        parse_country(code)


def test_holidays_of_a_region_are_not_the_whole_countrys() -> None:
    epiphany = date(2027, 1, 6)  # a Wednesday: a holiday in Bavaria, not in Berlin
    assert not is_working_day(epiphany, "DE-BY")
    assert is_working_day(epiphany, "DE") and is_working_day(epiphany, "DE-BE")


@settings(max_examples=60, deadline=None)
@given(
    year=st.integers(2025, 2030),
    month=st.integers(1, 12),
    n=st.integers(1, 8),
    country=st.sampled_from(COUNTRIES),
)
def test_the_nth_working_day_has_n_minus_one_working_days_before_it(
    year: int, month: int, n: int, country: str | None
) -> None:
    day = nth_working_day(year, month, n, country)
    assert day is not None and (day.year, day.month) == (year, month)  # every month has 8
    assert is_working_day(day, country)
    before = [date(year, month, d) for d in range(1, day.day)]
    assert sum(is_working_day(d, country) for d in before) == n - 1
    assert next_working_day(date(year, month, 1), country) == nth_working_day(
        year, month, 1, country
    )
    assert nth_working_day(year, month, 40, country) is None
    following = nth_working_day(year, month, n + 1, country)
    if following is not None:
        assert next_working_day(day + timedelta(days=1), country) == following
