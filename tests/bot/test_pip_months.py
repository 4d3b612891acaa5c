"""Which months a PIP's goal is judged on: never the weeks before the PIP started."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.coaching.pips import judged_months


def test_a_pip_started_mid_month_is_judged_from_the_next_month() -> None:
    assert judged_months(date(2026, 11, 20), date(2026, 12, 20)) == ("2026-12", "2026-12")
    assert judged_months(date(2026, 12, 2), date(2027, 3, 2)) == ("2027-01", "2027-03")


def test_a_pip_started_on_the_first_counts_that_month() -> None:
    assert judged_months(date(2026, 11, 1), date(2026, 12, 1)) == ("2026-11", "2026-12")


@given(st.dates(date(2020, 1, 1), date(2030, 12, 31)), st.integers(30, 180))
def test_never_a_month_before_the_start_nor_after_the_deadline(start: date, days: int) -> None:
    deadline = start + timedelta(days=days)
    first, last = judged_months(start, deadline)
    assert first >= start.strftime("%Y-%m") and first <= last == deadline.strftime("%Y-%m")
    if start.day != 1:
        assert first > start.strftime("%Y-%m")
