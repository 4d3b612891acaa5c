"""The check-in modal over HTTP: stored once, threaded under the plan's DM, errors inline."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from bot.demo.standin import interaction_body
from storage.db import session_scope
from storage.models import CheckIn
from tests.bot.conftest import Bot
from tests.bot.test_plan_e2e import november, open_modal, state, submit  # noqa: F401


def checkin_state(status: str | None = "on_track", value: str = "24%") -> dict[str, Any]:
    return {
        "date": {"value": {"type": "datepicker", "selected_date": "2026-11-10"}},
        "done": {"value": {"type": "checkboxes", "selected_options": [{"value": "0"}]}},
        "metric_value": {"value": {"type": "plain_text_input", "value": value}},
        "status": {
            "value": {
                "type": "radio_buttons",
                "selected_option": {"value": status} if status else None,
            }
        },
        "notes": {"value": {"type": "plain_text_input", "value": "Good first recording"}},
    }


def with_plan(bot: Bot) -> None:
    modal = open_modal(bot, "UMARK", "<@UREP1|rep1>")
    submit(bot, "UMARK", modal, state(["close_rate"], ["25%"]))
    bot.slack.wait_for("chat.postMessage", count=2)


def checkins(bot: Bot) -> list[tuple[str, float | None, list[str]]]:
    with session_scope(bot.engine) as s:
        rows = s.execute(select(CheckIn.status, CheckIn.metric_value, CheckIn.done_actions))
        return [tuple(r) for r in rows.all()]


def test_checkin_is_stored_once_and_threaded(bot: Bot) -> None:
    with_plan(bot)
    modal = open_checkin(bot, "UMARK")
    assert modal["callback_id"] == "checkin_submit"
    assert "Record 2 demos" in json.dumps(modal)
    payload = {**modal, "id": "VCHECK1"}
    status, body = submit_view(bot, "UMARK", payload, checkin_state())
    assert (status, body) == (200, "")
    submit_view(bot, "UMARK", payload, checkin_state())  # a double click
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    submit_view(bot, "UMARK", payload, checkin_state(), headers=retry)  # a redelivery
    assert checkins(bot) == [("on_track", 0.24, ["Record 2 demos"])]
    replies = [c for c in bot.slack.calls_to("chat.postMessage") if c.params.get("thread_ts")]
    assert len(replies) == 1
    assert "On track" in replies[0].params["text"]


def test_rep_may_check_in_on_own_plan_but_not_a_peers(bot: Bot) -> None:
    with_plan(bot)
    assert open_checkin(bot, "UREP1")["callback_id"] == "checkin_submit"
    assert "callback_id" not in open_checkin(bot, "UREP2")


def test_errors_inline_and_nothing_stored(bot: Bot) -> None:
    with_plan(bot)
    modal = {**open_checkin(bot, "UMARK"), "id": "VCHECK2"}
    _, body = submit_view(bot, "UMARK", modal, checkin_state(status=None, value="lots"))
    errors = json.loads(body)["errors"]
    assert set(errors) == {"status", "metric_value"}
    assert checkins(bot) == []


def test_no_plan_yet_says_so(bot: Bot) -> None:
    modal = open_checkin(bot, "UMARK")
    assert "no plan for November 2026" in json.dumps(modal)


def open_checkin(bot: Bot, viewer: str) -> dict[str, Any]:
    before = len(bot.slack.calls_to("views.update"))
    bot.command("checkin <@UREP1|rep1>", viewer)
    [*_, update] = bot.slack.wait_for("views.update", count=before + 1)
    view = update.params["view"]
    return json.loads(view) if isinstance(view, str) else view


def submit_view(
    bot: Bot,
    viewer: str,
    modal: dict[str, Any],
    values: dict,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    payload = {
        "type": "view_submission",
        "team": {"id": "T0C0ACH01"},
        "user": {"id": viewer, "team_id": "T0C0ACH01"},
        "api_app_id": "A0C0ACH01",
        "view": {
            "id": modal.get("id", "VX"),
            "type": "modal",
            "callback_id": modal["callback_id"],
            "private_metadata": modal["private_metadata"],
            "state": {"values": values},
        },
    }
    return bot.post(interaction_body(payload), headers=headers)
