"""The plan modal over HTTP: opened on the trigger, filled by views.update, validated inline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from sqlalchemy import func, select

from bot.demo.standin import TEAM_ID, new_trigger_id
from storage.db import session_scope
from storage.models import Plan, PlanFocus
from tests.bot.conftest import Bot, wait_until


@pytest.fixture(autouse=True)
def november() -> Iterator[None]:
    """Coaching month November 2026; data runs through October."""
    with time_machine.travel("2026-11-02 09:30:00+00:00", tick=True):
        yield


def open_modal(bot: Bot, viewer: str, target: str) -> dict[str, Any]:
    """Run `/coach plan`, wait for the filled modal, and return it."""
    before = len(bot.slack.calls_to("views.update"))
    bot.command(f"plan {target}", viewer)
    bot.slack.wait_for("views.open")
    [*_, update] = bot.slack.wait_for("views.update", count=before + 1)
    view = update.params["view"]
    return json.loads(view) if isinstance(view, str) else view


def state(
    focus: list[str],
    targets: list[str],
    *,
    why: str = "Closing is where deals die",
    how: str = "Record 2 demos\nReview them together",
    checkins: tuple[str | None, str | None] = ("2026-11-10", "2026-11-24"),
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "focus": {
            "value": {
                "type": "multi_static_select",
                "selected_options": [{"value": k} for k in focus],
            }
        },
        "why": {"value": {"type": "plain_text_input", "value": why}},
        "how": {"value": {"type": "plain_text_input", "value": how}},
    }
    for i in range(2):
        values[f"target_{i + 1}"] = {
            "value": {"type": "plain_text_input", "value": targets[i] if i < len(targets) else None}
        }
        values[f"checkin_{i + 1}"] = {"value": {"type": "datepicker", "selected_date": checkins[i]}}
    return values


def submission(viewer: str, modal: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The view_submission payload of `modal` filled with `values` by `viewer`."""
    return {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "coach-test"},
        "user": {"id": viewer, "team_id": TEAM_ID},
        "api_app_id": "A0C0ACH01",
        "trigger_id": new_trigger_id(),
        "view": {
            "id": "V123",
            "type": "modal",
            "callback_id": modal["callback_id"],
            "private_metadata": modal["private_metadata"],
            "blocks": modal.get("blocks", []),  # Slack sends the view's blocks back too
            "state": {"values": values},
        },
    }


def submit(bot: Bot, viewer: str, modal: dict[str, Any], values: dict[str, Any]) -> tuple[int, str]:
    return bot.interact(submission(viewer, modal, values))


def plans(bot: Bot) -> list[tuple[str, str, float | None]]:
    with session_scope(bot.engine) as s:
        return [
            tuple(row)
            for row in s.execute(
                select(Plan.month, PlanFocus.metric_key, PlanFocus.target).join(PlanFocus)
            ).all()
        ]


def test_plan_modal_is_prefilled_with_the_suggested_focus(bot: Bot) -> None:
    modal = open_modal(bot, "UMARK", "<@UREP1|rep1>")
    assert modal["callback_id"] == "plan_submit"
    focus = next(b for b in modal["blocks"] if b.get("block_id") == "focus")
    chosen = [o["value"] for o in focus["element"].get("initial_options", [])]
    assert "close_rate" in chosen
    how = next(b for b in modal["blocks"] if b.get("block_id") == "how")
    assert how["element"]["initial_value"]


def test_happy_path_saves_once_and_dms_both(bot: Bot) -> None:
    modal = open_modal(bot, "UMARK", "<@UREP1|rep1>")
    status, body = submit(bot, "UMARK", modal, state(["close_rate"], ["25%"]))
    assert status == 200 and body == ""
    assert plans(bot) == [("2026-11", "close_rate", 0.25)]
    posts = bot.slack.wait_for("chat.postMessage", count=2)
    assert {p.params["channel"] for p in posts} == {
        bot.slack.calls_to("conversations.open")[0].response["channel"]["id"],
        bot.slack.calls_to("conversations.open")[1].response["channel"]["id"],
    }
    assert "coaching plan for November 2026" in posts[0].params["text"]
    # A second submission (double click, or an edit) updates the plan; it never makes two.
    submit(bot, "UMARK", modal, state(["close_rate", "win_rate"], ["30%", "70%"]))
    wait_until(lambda: len(plans(bot)) == 2)
    with session_scope(bot.engine) as s:
        assert s.scalar(select(func.count()).select_from(Plan)) == 1


@pytest.mark.parametrize(
    ("values", "block", "needle"),
    [
        (state(["close_rate"], ["lots"]), "target_1", "isn't a number"),
        (state(["close_rate"], ["150%"]), "target_1", "can't be over 100%"),
        (state(["close_rate"], ["5%"]), "target_1", "Aim above today"),
        (state(["close_rate", "win_rate", "demo_rate"], ["30%"]), "focus", "At most two"),
        (
            state(["close_rate"], ["30%"], checkins=("2026-12-03", None)),
            "checkin_1",
            "November 2026",
        ),
        (state(["close_rate"], ["30%"], how="  \n "), "how", "at least one"),
    ],
)
def test_bad_input_is_answered_inline(bot: Bot, values: dict, block: str, needle: str) -> None:
    modal = open_modal(bot, "UMARK", "<@UREP1|rep1>")
    status, body = submit(bot, "UMARK", modal, values)
    assert status == 200
    answer = json.loads(body)
    assert answer["response_action"] == "errors"
    assert needle in answer["errors"][block]
    assert plans(bot) == []


def test_rights_are_checked_again_on_submit(bot: Bot) -> None:
    modal = open_modal(bot, "UMARK", "<@UREP1|rep1>")
    # Mia manages other reps: a forged or forwarded submission for Mark's rep is refused.
    status, body = submit(bot, "UMIA", modal, state(["close_rate"], ["30%"]))
    assert json.loads(body)["response_action"] == "errors"
    assert plans(bot) == []


@pytest.mark.parametrize("viewer", ["UREP1", "UREP2", "UMIA"])
def test_refused_modal_reveals_nothing(bot: Bot, viewer: str) -> None:
    modal = open_modal(bot, viewer, "<@UREP1|rep1>")
    assert "callback_id" not in modal
    assert "only for the reps you coach" in json.dumps(modal)
