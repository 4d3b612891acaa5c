"""Modal submissions that aren't what the app wrote, or break its rules: an inline error every
time (never a 500), and nothing saved."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.slack.blocks.cadence import reflection_modal
from bot.slack.forms import OUT_OF_DATE
from bot.slack.listeners.checkins import MONTH_OVER
from bot.slack.listeners.checkins import NOT_YOURS as NOT_YOUR_CHECKIN
from bot.slack.listeners.plans import NOT_YOURS as NOT_YOUR_PLAN
from storage.db import session_scope
from storage.models import CheckIn, Person, Plan, Reflection
from storage.plans import FocusInput, save_plan
from tests.bot.conftest import Bot
from tests.bot.test_checkin_e2e import checkin_state, open_checkin, with_plan
from tests.bot.test_plan_e2e import november, open_modal, state, submit  # noqa: F401

NOT_JSON = "not-json{"
A_LIST = '["rep1@example.com", "2026-11"]'


def inline_errors(answer: tuple[int, str]) -> dict[str, str]:
    """The errors of an inline-error answer (failing on anything else, a 500 included)."""
    status, body = answer
    assert status == 200, body
    payload = json.loads(body)
    assert payload["response_action"] == "errors", payload
    return payload["errors"]


def count(bot: Bot, model: type) -> int:
    with session_scope(bot.engine) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def change_rep1(bot: Bot, **values: Any) -> None:
    with session_scope(bot.engine) as session:
        rep = session.scalars(select(Person).where(Person.email == "rep1@example.com")).one()
        for key, value in values.items():
            setattr(rep, key, value)


def mia_id(bot: Bot) -> int:
    with session_scope(bot.engine) as session:
        return session.scalars(select(Person.id).where(Person.email == "mia@example.com")).one()


def with_date(values: dict[str, Any], block: str, day: object) -> dict[str, Any]:
    return {**values, block: {"value": {"type": "datepicker", "selected_date": day}}}


GOOD_PLAN = state(["close_rate"], ["25%"])


@pytest.mark.parametrize(
    ("metadata", "values", "errors"),
    [
        (NOT_JSON, GOOD_PLAN, {"focus": OUT_OF_DATE}),
        (A_LIST, GOOD_PLAN, {"focus": OUT_OF_DATE}),
        ('{"rep": ["rep1@example.com"], "month": "2026-11"}', GOOD_PLAN, {"focus": OUT_OF_DATE}),
        ('{"rep": "rep1@example.com", "month": "2026-13"}', GOOD_PLAN, {"focus": OUT_OF_DATE}),
        (None, with_date(GOOD_PLAN, "checkin_1", "2026-13-01"), {"checkin_1": "calendar"}),
        (None, with_date(GOOD_PLAN, "checkin_1", 1_700_000_000), {"checkin_1": "calendar"}),
        (None, with_date(GOOD_PLAN, "checkin_1", "1999-11-10"), {"checkin_1": "November 2026"}),
        (None, with_date(GOOD_PLAN, "checkin_2", "2099-11-24"), {"checkin_2": "November 2026"}),
        (None, state(["no_such_metric"], ["25%"]), {"focus": "no data"}),
        (None, state(["close_rate"], ["9" * 400]), {"target_1": "can't be over 100%"}),
        (None, state(["close_rate", "close_rate"], ["25%", "26%"]), {"focus": "once"}),
        (
            None,
            {**GOOD_PLAN, "focus": {"value": {"selected_options": [{"text": "no value"}]}}},
            {"focus": "Choose from the options"},
        ),
        (None, {}, {"focus": "skill", "why": "why", "how": "action", "checkin_1": "check-in"}),
        (None, {"focus": "not a block"}, {"focus": "can't be read"}),
        (
            '{"rep": "rep1@example.com", "month": "2026-10"}',
            GOOD_PLAN,
            {"focus": "month changed"},
        ),
    ],
)
def test_plan_modal_errors_inline(
    bot: Bot, metadata: str | None, values: dict[str, Any], errors: dict[str, str]
) -> None:
    modal = open_modal(bot, "UMARK", "<@UREP1|rep1>")
    sent = {**modal, "private_metadata": metadata or modal["private_metadata"]}
    got = inline_errors(submit(bot, "UMARK", sent, values))
    assert set(got) == set(errors)
    assert all(errors[block] in got[block] for block in errors), got
    assert count(bot, Plan) == 0


def test_plan_modal_refuses_a_rep_deactivated_since_it_opened(bot: Bot) -> None:
    modal = open_modal(bot, "UMARK", "<@UREP1|rep1>")
    change_rep1(bot, active=False)
    assert inline_errors(submit(bot, "UMARK", modal, GOOD_PLAN)) == {"focus": NOT_YOUR_PLAN}
    assert count(bot, Plan) == 0


def last_months_plan(bot: Bot) -> int:
    with session_scope(bot.engine) as session:
        ids = dict(session.execute(select(Person.email, Person.id)).all())
        plan, _ = save_plan(
            session,
            workspace_id="default",
            rep_id=ids["rep1@example.com"],
            author_id=ids["mark@example.com"],
            month="2026-10",
            focus=[FocusInput("close_rate", 0.1, 0.2, 0.25)],
            why="October's",
            actions=["Record 2 demos"],
            checkin_dates=[date(2026, 10, 12)],
        )
        session.flush()
        return plan.id


GOOD_CHECKIN = checkin_state()


@pytest.mark.parametrize(
    ("metadata", "values", "errors"),
    [
        (NOT_JSON, GOOD_CHECKIN, {"date": OUT_OF_DATE}),
        ("[1]", GOOD_CHECKIN, {"date": OUT_OF_DATE}),
        ('{"plan": "1"}', GOOD_CHECKIN, {"date": OUT_OF_DATE}),
        ('{"plan": true}', GOOD_CHECKIN, {"date": OUT_OF_DATE}),
        ('{"plan": 99999}', GOOD_CHECKIN, {"date": NOT_YOUR_CHECKIN}),
        ('{"plan": 99999999999999999999999}', GOOD_CHECKIN, {"date": OUT_OF_DATE}),
        (None, checkin_state(value="9" * 400), {"metric_value": "can't be over 100%"}),
        (None, with_date(GOOD_CHECKIN, "date", "2026-13-01"), {"date": "calendar"}),
        (None, with_date(GOOD_CHECKIN, "date", "1999-11-10"), {"date": "November 2026"}),
        (None, with_date(GOOD_CHECKIN, "date", "2099-11-10"), {"date": "November 2026"}),
        (None, checkin_state(status="great"), {"status": "on track"}),
        (
            None,
            {**GOOD_CHECKIN, "done": {"value": {"selected_options": [{"value": "99"}]}}},
            {"done": "plan's own actions"},
        ),
        (
            None,
            {**GOOD_CHECKIN, "done": {"value": {"selected_options": [{"value": "-1"}]}}},
            {"done": "plan's own actions"},
        ),
        (None, {}, {"date": "day of the check-in", "status": "on track"}),
        (None, {"date": {"value": {"selected_date": ["2026-11-10"]}}}, {"date": "calendar"}),
    ],
)
def test_checkin_modal_errors_inline(
    bot: Bot, metadata: str | None, values: dict[str, Any], errors: dict[str, str]
) -> None:
    with_plan(bot)
    modal = open_checkin(bot, "UMARK")
    sent = {**modal, "private_metadata": metadata or modal["private_metadata"]}
    got = inline_errors(submit(bot, "UMARK", sent, values))
    assert set(got) == set(errors)
    assert all(errors[block] in got[block] for block in errors), got
    assert count(bot, CheckIn) == 0


@pytest.mark.parametrize("case", ["last month's plan", "deactivated rep", "former manager"])
def test_checkin_only_on_this_months_plan_of_an_active_rep_of_yours(bot: Bot, case: str) -> None:
    with_plan(bot)
    modal = open_checkin(bot, "UMARK")
    expected = {"date": NOT_YOUR_CHECKIN}
    if case == "last month's plan":
        modal = {**modal, "private_metadata": json.dumps({"plan": last_months_plan(bot)})}
        expected = {"date": MONTH_OVER}
    elif case == "deactivated rep":
        change_rep1(bot, active=False)  # keeps Mark as their manager on record
    else:
        change_rep1(bot, manager_id=mia_id(bot))
    assert inline_errors(submit(bot, "UMARK", modal, GOOD_CHECKIN)) == expected
    assert count(bot, CheckIn) == 0


def test_a_good_checkin_still_saves(bot: Bot) -> None:
    with_plan(bot)
    modal = open_checkin(bot, "UMARK")
    assert submit(bot, "UMARK", modal, GOOD_CHECKIN) == (200, "")
    assert count(bot, CheckIn) == 1


def reflection(month: str = "2026-11") -> dict[str, Any]:
    return reflection_modal(month, "November 2026", "October 2026", None)


ANSWERS = {
    q: {"value": {"type": "plain_text_input", "value": "Fine"}}
    for q in ("how_it_went", "went_well", "improve")
}


@pytest.mark.parametrize(
    ("metadata", "values", "errors"),
    [
        (NOT_JSON, ANSWERS, {"how_it_went": OUT_OF_DATE}),
        ('{"month": ["2026-11"]}', ANSWERS, {"how_it_went": OUT_OF_DATE}),
        ('{"month": "2026-10"}', ANSWERS, {"how_it_went": "over"}),
        (None, {}, {"how_it_went": "line", "went_well": "line", "improve": "line"}),
        (None, {**ANSWERS, "improve": {"value": {"value": 12}}}, {"improve": "can't be read"}),
    ],
)
def test_reflection_modal_errors_inline(
    bot: Bot, metadata: str | None, values: dict[str, Any], errors: dict[str, str]
) -> None:
    modal = reflection()
    sent = {**modal, "private_metadata": metadata or modal["private_metadata"]}
    got = inline_errors(submit(bot, "UREP1", sent, values))
    assert set(got) == set(errors)
    assert all(errors[block] in got[block] for block in errors), got
    assert count(bot, Reflection) == 0


def test_unreadable_metadata_without_blocks_replaces_the_modal(bot: Bot) -> None:
    modal = {**reflection(), "private_metadata": NOT_JSON, "blocks": []}
    status, body = submit(bot, "UREP1", modal, ANSWERS)
    assert status == 200
    answer = json.loads(body)
    assert answer["response_action"] == "update" and OUT_OF_DATE in json.dumps(answer["view"])
