"""When cadence messages are due: day one and day two, each person's 09:00, DST, catch-up.

Pure time logic, so every case is an instant in UTC and a zone; the properties at the end check
the same rules for any instant in 2026–2028 and zones from UTC−11 to UTC+14.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cadence.schedule import (
    Kind,
    Rules,
    away_by_status,
    day_one,
    day_two,
    due_period,
    local_period,
    scheduled_at,
)
from bot.coaching.months import parse_month, shift_month

FIRST = Rules()
WORKING = Rules(day_one="first-working-day")
TOKYO = ZoneInfo("Asia/Tokyo")
LA = ZoneInfo("America/Los_Angeles")
BERLIN = ZoneInfo("Europe/Berlin")
UTC_ZONE = ZoneInfo("UTC")
ZONES = [
    "UTC",
    "Pacific/Kiritimati",  # UTC+14
    "Pacific/Pago_Pago",  # UTC−11
    "Pacific/Chatham",  # UTC+12:45, DST
    "Asia/Kolkata",  # UTC+5:30
    "Asia/Kathmandu",  # UTC+5:45
    "Asia/Tokyo",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "America/St_Johns",  # UTC−3:30, DST
    "America/Los_Angeles",
    "Europe/Berlin",
]
PROPERTY = settings(max_examples=300, deadline=None)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """An aware UTC datetime."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# -- day one and day two ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("month", "rules", "one", "two"),
    [
        # 2026-11-01 is a Sunday
        ("2026-11", FIRST, date(2026, 11, 1), date(2026, 11, 2)),
        ("2026-11", WORKING, date(2026, 11, 2), date(2026, 11, 3)),
        # 2027-05-01 is a Saturday
        ("2027-05", FIRST, date(2027, 5, 1), date(2027, 5, 2)),
        ("2027-05", WORKING, date(2027, 5, 3), date(2027, 5, 4)),
        # 2027-01-01 is a Friday: day two is the Monday under the working-day rule
        ("2027-01", FIRST, date(2027, 1, 1), date(2027, 1, 2)),
        ("2027-01", WORKING, date(2027, 1, 1), date(2027, 1, 4)),
        ("2028-09", WORKING, date(2028, 9, 1), date(2028, 9, 4)),
        # 2026-12-01 is a Tuesday: both rules agree
        ("2026-12", FIRST, date(2026, 12, 1), date(2026, 12, 2)),
        ("2026-12", WORKING, date(2026, 12, 1), date(2026, 12, 2)),
    ],
)
def test_day_one_and_day_two(month: str, rules: Rules, one: date, two: date) -> None:
    assert (day_one(month, rules), day_two(month, rules)) == (one, two)


@pytest.mark.parametrize("year", [2026, 2027, 2028])
def test_working_day_one_and_two_are_weekdays_in_the_first_week(year: int) -> None:
    for number in range(1, 13):
        month = f"{year}-{number:02d}"
        one, two = day_one(month, WORKING), day_two(month, WORKING)
        assert one.weekday() < 5 and two.weekday() < 5
        assert one.day <= 3 and one < two <= one + timedelta(days=3)
        assert (one.year, one.month) == (two.year, two.month) == (year, number)


# -- months and moments ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("month", "delta", "expected"),
    [
        ("2026-11", 0, "2026-11"),
        ("2026-11", 1, "2026-12"),
        ("2026-12", 1, "2027-01"),
        ("2027-01", -1, "2026-12"),
        ("2026-11", 14, "2028-01"),
        ("2026-01", -13, "2024-12"),
        ("2026-12", -24, "2024-12"),
        ("2026-12", 12, "2027-12"),
    ],
)
def test_shift_month(month: str, delta: int, expected: str) -> None:
    assert shift_month(month, delta) == expected
    assert shift_month(expected, -delta) == month


def test_parse_month() -> None:
    assert parse_month("2026-12") == (2026, 12)
    assert parse_month("2027-01") == (2027, 1)


def test_scheduled_at() -> None:
    # daily: the period is a working day; 09:00 in Berlin is 08:00 UTC in CET, 07:00 UTC in
    # CEST (from Sunday 2027-03-28); no post on the weekend
    assert scheduled_at("daily", "2027-03-26", BERLIN, FIRST) == utc(2027, 3, 26, 8)
    assert scheduled_at("daily", "2027-03-28", BERLIN, FIRST) is None
    assert scheduled_at("daily", "2027-03-29", BERLIN, FIRST) == utc(2027, 3, 29, 7)
    late = Rules(send_time=time(17, 30))
    assert scheduled_at("daily", "2026-12-01", TOKYO, late) == utc(2026, 12, 1, 8, 30)
    # monthly kinds: the period is a month, the day is its day one or day two
    assert scheduled_at("day-one", "2026-11", LA, WORKING) == utc(2026, 11, 2, 17)
    assert scheduled_at("day-two", "2026-11", LA, WORKING) == utc(2026, 11, 3, 17)
    assert scheduled_at("day-two", "2027-01", TOKYO, WORKING) == utc(2027, 1, 4)


def test_local_period() -> None:
    now = utc(2026, 11, 30, 20)
    assert local_period("day-one", now, TOKYO) == "2026-12"
    assert local_period("daily", now, TOKYO) == "2026-12-01"
    assert local_period("day-one", now, LA) == "2026-11"
    assert local_period("daily", now, LA) == "2026-11-30"


# -- due in each person's own time -----------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "zone", "rules", "due", "period"),
    [
        ("day-one", TOKYO, FIRST, utc(2026, 12, 1, 0, 0), "2026-12"),  # 09:00 JST
        ("day-one", LA, FIRST, utc(2026, 12, 1, 17, 0), "2026-12"),  # 09:00 PST
        # LA leaves DST on Sunday 2026-11-01 at 02:00: 09:00 that day is PST
        ("day-one", LA, FIRST, utc(2026, 11, 1, 17, 0), "2026-11"),
        ("day-two", LA, FIRST, utc(2026, 11, 2, 17, 0), "2026-11"),
        ("day-one", LA, WORKING, utc(2026, 11, 2, 17, 0), "2026-11"),
        # still PDT on 2026-10-01
        ("day-one", LA, FIRST, utc(2026, 10, 1, 16, 0), "2026-10"),
        # Berlin switches to CEST on 2027-03-28
        ("daily", BERLIN, FIRST, utc(2027, 3, 26, 8, 0), "2027-03-26"),
        ("daily", BERLIN, FIRST, utc(2027, 3, 29, 7, 0), "2027-03-29"),
        ("day-one", ZoneInfo("Pacific/Kiritimati"), FIRST, utc(2026, 11, 30, 19), "2026-12"),
        ("day-one", ZoneInfo("Pacific/Pago_Pago"), FIRST, utc(2026, 12, 1, 20), "2026-12"),
        ("day-one", ZoneInfo("Asia/Kolkata"), FIRST, utc(2026, 12, 1, 3, 30), "2026-12"),
        ("day-one", ZoneInfo("America/St_Johns"), FIRST, utc(2026, 12, 1, 12, 30), "2026-12"),
    ],
)
def test_due_from_the_local_send_time(
    kind: Kind, zone: ZoneInfo, rules: Rules, due: datetime, period: str
) -> None:
    """Due at 09:00 local to the minute, not a minute (or an hour) before."""
    assert due_period(kind, due, zone, rules) == period
    assert due_period(kind, due - timedelta(minutes=1), zone, rules) is None
    assert due_period(kind, due - timedelta(hours=1), zone, rules) is None


def test_tokyo_is_not_due_the_evening_before_in_utc() -> None:
    assert due_period("day-one", utc(2026, 11, 30, 23, 59), TOKYO, FIRST) is None
    assert due_period("day-one", utc(2026, 12, 1, 0, 0), TOKYO, FIRST) == "2026-12"


def test_la_is_not_due_at_the_utc_send_time() -> None:
    assert due_period("day-one", utc(2026, 12, 1, 9, 0), LA, FIRST) is None
    assert due_period("day-one", utc(2026, 12, 1, 16, 59), LA, FIRST) is None
    assert due_period("day-one", utc(2026, 12, 1, 17, 0), LA, FIRST) == "2026-12"
    # in DST, 16:00 UTC would have been 09:00; on 2026-11-01 it is 08:00 PST
    assert due_period("day-one", utc(2026, 11, 1, 16, 0), LA, FIRST) is None
    assert due_period("day-one", utc(2026, 11, 1, 16, 59), LA, FIRST) is None


def test_berlin_daily_across_the_dst_change() -> None:
    """09:00 in Berlin is 08:00 UTC before 2027-03-28 and 07:00 UTC from that day on; the
    weekend in between has no post."""
    assert due_period("daily", utc(2027, 3, 26, 7, 0), BERLIN, FIRST) is None
    assert due_period("daily", utc(2027, 3, 26, 8, 0), BERLIN, FIRST) == "2027-03-26"
    assert due_period("daily", utc(2027, 3, 28, 7, 0), BERLIN, FIRST) is None  # Sunday
    assert due_period("daily", utc(2027, 3, 29, 6, 59), BERLIN, FIRST) is None
    assert due_period("daily", utc(2027, 3, 29, 7, 0), BERLIN, FIRST) == "2027-03-29"


def test_day_one_is_not_due_on_other_days() -> None:
    assert due_period("day-one", utc(2026, 11, 2, 12), UTC_ZONE, FIRST) is None
    assert due_period("day-one", utc(2026, 11, 1, 12), UTC_ZONE, WORKING) is None  # a Sunday
    assert due_period("day-one", utc(2026, 11, 2, 12), UTC_ZONE, WORKING) == "2026-11"
    assert due_period("day-two", utc(2026, 11, 2, 12), UTC_ZONE, FIRST) == "2026-11"
    assert due_period("day-two", utc(2026, 11, 2, 12), UTC_ZONE, WORKING) is None
    assert due_period("day-two", utc(2026, 11, 3, 12), UTC_ZONE, WORKING) == "2026-11"
    assert due_period("day-two", utc(2027, 1, 2, 12), UTC_ZONE, WORKING) is None  # Saturday
    assert due_period("day-two", utc(2027, 1, 4, 12), UTC_ZONE, WORKING) == "2027-01"


# -- the catch-up window ---------------------------------------------------------------------


@pytest.mark.parametrize("hours", [1, 2.5, 12])
def test_due_until_the_catch_up_window_closes(hours: float) -> None:
    rules = Rules(catch_up=timedelta(hours=hours))
    start = utc(2026, 12, 1, 9)
    end = start + rules.catch_up
    assert due_period("day-one", start, UTC_ZONE, rules) == "2026-12"
    assert due_period("day-one", end - timedelta(microseconds=1), UTC_ZONE, rules) == "2026-12"
    assert due_period("day-one", end, UTC_ZONE, rules) is None
    # the same, 09:00 local in Tokyo
    assert due_period("day-one", start - timedelta(hours=9), TOKYO, rules) == "2026-12"
    assert due_period("day-one", end - timedelta(hours=9, seconds=1), TOKYO, rules) == "2026-12"
    assert due_period("day-one", end - timedelta(hours=9), TOKYO, rules) is None


def test_default_window_is_twelve_hours() -> None:
    assert due_period("day-one", utc(2026, 12, 1, 20, 59, 59), UTC_ZONE, FIRST) == "2026-12"
    assert due_period("day-one", utc(2026, 12, 1, 21), UTC_ZONE, FIRST) is None
    assert due_period("day-one", utc(2026, 12, 2, 4), TOKYO, FIRST) is None  # 13:00 JST on 2nd


@pytest.mark.parametrize("kind", ["day-one", "day-two", "daily"])
def test_no_window_means_never_due(kind: Kind) -> None:
    rules = Rules(catch_up=timedelta(0))
    start = scheduled_at(kind, "2026-12-01" if kind == "daily" else "2026-12", UTC_ZONE, rules)
    for offset in (timedelta(0), timedelta(seconds=1), timedelta(hours=1)):
        assert due_period(kind, start + offset, UTC_ZONE, rules) is None
        assert due_period(kind, start - offset, UTC_ZONE, rules) is None


def test_december_never_returns_november() -> None:
    assert due_period("day-one", utc(2026, 12, 1, 10), UTC_ZONE, FIRST) == "2026-12"
    for hour in range(24):
        now = utc(2026, 11, 30, hour)
        assert due_period("day-one", now, UTC_ZONE, FIRST) is None
        assert due_period("day-two", now, UTC_ZONE, FIRST) is None
    # early on December 1st, before 09:00: nothing, however long the window
    wide = Rules(catch_up=timedelta(hours=24))  # the most COACH_CATCH_UP_HOURS allows
    for hour in range(9):
        now = utc(2026, 12, 1, hour)
        assert due_period("day-one", now, UTC_ZONE, wide) is None
        assert due_period("day-two", now, UTC_ZONE, wide) is None
    # the widest window still ends within the month it belongs to
    assert due_period("day-one", utc(2026, 11, 2, 8, 59), UTC_ZONE, wide) == "2026-11"
    assert due_period("day-one", utc(2026, 11, 2, 9, 0), UTC_ZONE, wide) is None


# -- properties ------------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(2026, 1, 1),
    max_value=datetime(2028, 12, 31, 23, 59, 59),
    timezones=st.just(UTC),
)
zones = st.sampled_from(ZONES).map(ZoneInfo)
rule_sets = st.sampled_from([FIRST, WORKING])


@st.composite
def near_day(draw: st.DrawFn, kind: Kind) -> tuple[datetime, ZoneInfo, Rules]:
    """An instant within a day of a random month's day one or day two, in a random zone.

    Uniform instants land in the 12-hour window on 2 days a month rarely; these land there often.
    """
    zone, rules = draw(zones), draw(rule_sets)
    month = f"{draw(st.integers(2026, 2028))}-{draw(st.integers(1, 12)):02d}"
    day = day_one(month, rules) if kind == "day-one" else day_two(month, rules)
    minutes = draw(st.integers(-24 * 60, 48 * 60 - 1))
    local = datetime.combine(day, time(0), tzinfo=zone) + timedelta(minutes=minutes)
    return local.astimezone(UTC), zone, rules


def check_due(kind: Kind, now: datetime, zone: ZoneInfo, rules: Rules) -> None:
    """Due exactly from 09:00 to 21:00 on the local day one (or two), for the local month."""
    local = now.astimezone(zone)
    month = local.strftime("%Y-%m")
    day = day_one(month, rules) if kind == "day-one" else day_two(month, rules)
    expected = local.date() == day and time(9) <= local.time() < time(21)
    period = due_period(kind, now, zone, rules)
    assert period == (month if expected else None), (local.isoformat(), period)


@pytest.mark.parametrize("kind", ["day-one", "day-two"])
@PROPERTY
@given(now=instants, zone=zones, rules=rule_sets)
def test_due_only_on_the_local_day_between_nine_and_nine(
    kind: Kind, now: datetime, zone: ZoneInfo, rules: Rules
) -> None:
    check_due(kind, now, zone, rules)


@pytest.mark.parametrize("kind", ["day-one", "day-two"])
@PROPERTY
@given(data=st.data())
def test_due_around_the_day_itself(kind: Kind, data: st.DataObject) -> None:
    now, zone, rules = data.draw(near_day(kind))
    check_due(kind, now, zone, rules)


@PROPERTY
@given(now=instants, zone=zones)
def test_daily_is_due_from_nine_to_nine_local_on_working_days(
    now: datetime, zone: ZoneInfo
) -> None:
    local = now.astimezone(zone)
    working = local.weekday() < 5
    expected = local.date().isoformat() if working and time(9) <= local.time() < time(21) else None
    assert due_period("daily", now, zone, FIRST) == expected


@given(month=st.integers(2000 * 12, 2100 * 12), delta=st.integers(-300, 300))
def test_shift_month_is_reversible_and_counts_months(month: int, delta: int) -> None:
    start = f"{month // 12:04d}-{month % 12 + 1:02d}"
    shifted = shift_month(start, delta)
    year, number = parse_month(shifted)
    assert 1 <= number <= 12
    assert (year * 12 + number - 1) - month == delta
    assert shift_month(shifted, -delta) == start


def test_a_daily_catch_up_window_runs_past_local_midnight() -> None:
    late = Rules(send_time=time(18, 0))
    now = datetime(2027, 3, 30, 0, 30, tzinfo=UTC)
    assert due_period("daily", now, ZoneInfo("UTC"), late) == "2027-03-29"
    assert due_period("daily", now + timedelta(hours=6), ZoneInfo("UTC"), late) is None


# -- countries: weekends and public holidays -------------------------------------------------


@pytest.mark.parametrize(
    ("country", "one", "two"),
    [
        # Friday 2026-05-01 is Labour Day in Germany, a working day in the US and the UK; the
        # UK's early May bank holiday is Monday the 4th.
        ("DE", date(2026, 5, 4), date(2026, 5, 5)),
        ("US", date(2026, 5, 1), date(2026, 5, 4)),
        ("GB", date(2026, 5, 1), date(2026, 5, 5)),
        # Israel's weekend is Friday and Saturday: Sunday the 3rd is a working day
        ("IL", date(2026, 5, 3), date(2026, 5, 4)),
        (None, date(2026, 5, 1), date(2026, 5, 4)),
    ],
)
def test_working_days_are_the_recipients_countrys(
    country: str | None, one: date, two: date
) -> None:
    assert (day_one("2026-05", WORKING, country), day_two("2026-05", WORKING, country)) == (
        one,
        two,
    )


def test_the_default_country_applies_to_people_without_one() -> None:
    german = Rules(day_one="first-working-day", country="DE")
    assert day_one("2026-05", german) == date(2026, 5, 4)
    assert day_one("2026-05", german, "US") == date(2026, 5, 1)  # their own country wins
    # the 1st stays the 1st under the `first` rule, holiday or not
    assert day_one("2026-05", Rules(country="DE")) == date(2026, 5, 1)


def test_a_bank_holiday_on_the_first_moves_day_one_in_that_country_only() -> None:
    # New Year's Day 2027 is a Friday: Berlin waits for Monday, a country-less Tokyo doesn't.
    due = utc(2027, 1, 4, 8)  # 09:00 in Berlin
    assert due_period("day-one", utc(2027, 1, 1, 8), BERLIN, WORKING, "DE") is None
    assert due_period("day-one", due, BERLIN, WORKING, "DE") == "2027-01"
    assert due_period("day-one", utc(2027, 1, 1, 0), TOKYO, WORKING) == "2027-01"
    assert due_period("day-one", utc(2027, 1, 4, 0), TOKYO, WORKING) is None


def test_no_daily_post_on_a_public_holiday() -> None:
    british = Rules(country="GB")
    assert scheduled_at("daily", "2026-12-25", UTC_ZONE, british) is None
    assert scheduled_at("daily", "2026-12-28", UTC_ZONE, british) is None  # Boxing Day, observed
    assert scheduled_at("daily", "2026-12-29", UTC_ZONE, british) == utc(2026, 12, 29, 9)
    assert scheduled_at("daily", "2026-12-28", UTC_ZONE, FIRST) == utc(2026, 12, 28, 9)


# -- a Slack status that says someone is away -----------------------------------------------


@pytest.mark.parametrize(
    ("emoji", "text", "expires", "until"),
    [
        (":palm_tree:", "Vacationing", utc(2026, 12, 10, 17), date(2026, 12, 10)),
        ("", "Out of Office until the 10th", utc(2026, 12, 10, 17), date(2026, 12, 10)),
        (":baby:", "On leave", utc(2026, 12, 10, 17), date(2026, 12, 10)),
        # clears before 09:00 on the 10th: back that day
        (":palm_tree:", "", utc(2026, 12, 10, 7), date(2026, 12, 9)),
        (":palm_tree:", "Vacationing", None, None),  # never clears: too often forgotten
        (":palm_tree:", "Vacationing", utc(2026, 12, 1, 8), None),  # cleared already
        (":spiral_calendar_pad:", "In a meeting", utc(2026, 12, 10, 17), None),
    ],
)
def test_away_by_slack_status(
    emoji: str, text: str, expires: datetime | None, until: date | None
) -> None:
    profile = {
        "status_emoji": emoji,
        "status_text": text,
        "status_expiration": int(expires.timestamp()) if expires else 0,
    }
    assert away_by_status(profile, utc(2026, 12, 1, 9), UTC_ZONE, FIRST) == until
    # the day is the person's own: 07:00 UTC on the 10th is 16:00 in Tokyo, after its 09:00
    if expires is not None and expires.hour == 7:
        assert away_by_status(profile, utc(2026, 12, 1, 9), TOKYO, FIRST) == date(2026, 12, 10)
