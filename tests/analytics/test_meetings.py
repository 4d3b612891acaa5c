"""The weekly 1:1's slot and the pace a focus metric's target needs (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics.meetings import (
    WeeklySlot,
    month_value,
    needed_by_now,
    next_meeting,
    parse_slot,
    working_days_elapsed,
)


@given(st.integers(0, 6), st.integers(0, 23), st.integers(0, 59))
def test_a_slot_reads_back_from_its_label(weekday: int, hour: int, minute: int) -> None:
    slot = WeeklySlot(weekday, time(hour, minute))
    assert parse_slot(slot.label) == slot
    assert parse_slot(f"  {slot.label.upper()}  ") == slot


@given(
    st.integers(0, 6),
    st.times(),
    st.datetimes(datetime(2020, 1, 1), datetime(2030, 12, 31), timezones=st.just(UTC)),
    st.sampled_from(["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Auckland"]),
)
def test_the_next_meeting_is_the_first_start_of_the_slot_after_now(
    weekday: int, at: time, now: datetime, zone_name: str
) -> None:
    zone = ZoneInfo(zone_name)
    found = next_meeting(WeeklySlot(weekday, at), zone, now)
    if weekday >= 5:  # a weekend day: no 1:1 is held, no prep goes
        assert found is None
        return
    assert found is not None
    assert found > now and found - now <= timedelta(days=7, hours=1)
    assert found.weekday() == weekday and found.time() == at  # as written in the calendar
    assert found - timedelta(days=7) <= now  # the week before's was not after now: the first


def test_a_public_holiday_of_the_managers_country_has_no_1_1() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    friday = WeeklySlot(4, time(10))
    now = datetime(2026, 12, 21, 9, tzinfo=UTC)
    # Christmas Day and New Year's Day are Fridays in 2026: in Germany the next is January 8.
    assert next_meeting(friday, berlin, now, "DE") == datetime(2027, 1, 8, 10, tzinfo=berlin)
    assert next_meeting(friday, berlin, now) == datetime(2026, 12, 25, 10, tzinfo=berlin)


@pytest.mark.parametrize(
    ("text", "slot"),
    [
        ("Tue 14:00", WeeklySlot(1, time(14))),
        ("tuesday 9:05", WeeklySlot(1, time(9, 5))),
        ("Thur 08:30", WeeklySlot(3, time(8, 30))),
        ("Sun. 23:59", WeeklySlot(6, time(23, 59))),
    ],
)
def test_weekdays_by_name_or_prefix(text: str, slot: WeeklySlot) -> None:
    assert parse_slot(text) == slot


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Tue 2pm", "'Tue 2pm' is not a weekday and a 24-hour time, e.g. Tue 14:00"),
        ("14:00", "'14:00' is not a weekday and a 24-hour time, e.g. Tue 14:00"),
        (
            "Tu 14:00",
            "'Tu' is not a weekday (Mon … Sun): a weekday and a 24-hour time, e.g. Tue 14:00",
        ),
        ("Tue 24:00", "24:00 is not a time of day: a weekday and a 24-hour time, e.g. Tue 14:00"),
        ("Tue 10:75", "10:75 is not a time of day: a weekday and a 24-hour time, e.g. Tue 14:00"),
    ],
)
def test_a_bad_slot_says_what_is_wrong_in_one_line(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_slot(text)
    assert str(info.value) == message


def test_a_count_accrues_with_working_days_a_rate_does_not() -> None:
    # December 2026 in Germany: 22 working days (Christmas off; Boxing Day is a Saturday); the
    # 7th is the fifth of them.
    assert working_days_elapsed(date(2026, 12, 7), "DE") == (5, 22)
    assert working_days_elapsed(date(2026, 12, 7), None) == (5, 23)
    assert needed_by_now(44, "activity", 5, 22) == pytest.approx(10)
    assert needed_by_now(0.24, "conversion", 5, 21) == 0.24
    assert needed_by_now(42, "activity", 0, 0) == 42


@given(st.integers(0, 23), st.integers(1, 23), st.floats(1, 1e6))
def test_the_pace_of_a_count_never_passes_its_target(
    elapsed: int, total: int, target: float
) -> None:
    needed = needed_by_now(target, "activity", min(elapsed, total), total)
    assert 0 <= needed <= target


def test_month_value_is_the_formula_on_one_months_counts() -> None:
    counts = {"wins": 3.0, "losses": 2.0, "demos": 20.0}
    assert month_value({"wins": 1}, {"wins": 1, "losses": 1}, counts) == (0.6, 3.0, 5.0)
    assert month_value({"demos": 1}, None, counts) == (20.0, 20.0, None)
    assert month_value({"wins": 1}, {"missing": 1}, counts) == (None, 3.0, 0.0)
    assert month_value({"wins": 1}, None, {}) == (None, 0.0, None)
