"""When a weekly 1:1's prompt and prep are due (pure), and reading the admins' settings."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from bot.cadence.schedule import Rules, prompt_at, weekly_meetings
from bot.coaching.workspace import check, effective
from bot.settings import Settings
from storage.models import WorkspaceSettings

BERLIN = ZoneInfo("Europe/Berlin")


def test_the_meetings_near_now_are_on_the_weekday_in_the_managers_zone() -> None:
    # 23:30 UTC on Monday is already Tuesday in Berlin: Tuesday's 1:1 is today there.
    now = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)
    [meeting] = weekly_meetings(now, BERLIN, 1, time(0, 15))
    assert meeting == datetime(2026, 12, 8, 0, 15, tzinfo=BERLIN)
    assert meeting.astimezone(UTC) == datetime(2026, 12, 7, 23, 15, tzinfo=UTC)


def test_a_meeting_keeps_its_local_time_across_dst() -> None:
    # Clocks go forward in Berlin on Sunday, March 28, 2027: Tuesday's 14:00 is 12:00 UTC.
    now = datetime(2027, 3, 29, 12, 0, tzinfo=UTC)
    [meeting] = weekly_meetings(now, BERLIN, 1, time(14))
    assert meeting.astimezone(UTC) == datetime(2027, 3, 30, 12, 0, tzinfo=UTC)


def test_the_rep_is_asked_on_their_last_working_day_before() -> None:
    rules = Rules()
    monday = datetime(2026, 12, 14, 10, 0, tzinfo=BERLIN)
    assert prompt_at(monday, BERLIN, rules, None) == datetime(2026, 12, 11, 9, 0, tzinfo=BERLIN)
    # After Christmas and Boxing Day in Germany: the 24th.
    sunday_after = datetime(2026, 12, 28, 10, 0, tzinfo=BERLIN)
    assert prompt_at(sunday_after, BERLIN, rules, "DE").date().isoformat() == "2026-12-24"


def base() -> Settings:
    return Settings(COACH_DAILY_CHANNEL="CENV", COACH_REMINDER_DAY=3, COACH_ESCALATION_DAY=5)


def test_a_workspaces_own_settings_go_over_the_environments() -> None:
    row = WorkspaceSettings(workspace_id="T1", send_time="08:30", one_on_one_lead=45)
    settings = effective(base(), row)
    assert settings.coach_send_time == "08:30" and settings.coach_one_on_one_lead == 45
    assert settings.coach_daily_channel == "CENV" and settings.coach_reminder_day == 3
    assert settings.cadence_rules().send_time == time(8, 30)
    assert effective(base(), None) is not None


def test_the_settings_form_is_checked_field_by_field() -> None:
    checked = check(
        {
            "daily_channel": "#sales",
            "send_time": "9am",
            "reminder_day": "1",
            "escalation_day": "",
            "one_on_one_lead": "600",
            "country": "xx",
        },
        base(),
    )
    assert set(checked.errors) == {
        "daily_channel",
        "send_time",
        "reminder_day",
        "one_on_one_lead",
        "country",
    }
    late = check({"reminder_day": "6"}, base())  # the default escalation day is 5
    assert late.errors == {
        "escalation_day": "After the reminder's working day 6: the director hears later."
    }
    good = check({"daily_channel": "c0abc", "send_time": "8:05", "country": "us-ca"}, base())
    assert good.errors == {}
    assert good.values == {
        "daily_channel": "C0ABC",
        "send_time": "08:05",
        "reminder_day": None,
        "escalation_day": None,
        "one_on_one_lead": None,
        "country": "US-CA",
    }
