"""`/coach team` and the App Home over HTTP."""

from __future__ import annotations

import json
from typing import Any

from bot.demo.standin import event_body
from tests.bot.conftest import Bot, blocks_text
from tests.bot.test_plan_e2e import november, open_modal, state, submit  # noqa: F401


def home_of(bot: Bot, user: str) -> dict[str, Any]:
    before = len(bot.slack.calls_to("views.publish"))
    body = event_body({"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home"})
    status, _ = bot.post(body, headers={"Content-Type": "application/json"})
    assert status == 200
    [*_, call] = bot.slack.wait_for("views.publish", count=before + 1)
    assert call.params["user_id"] == user
    view = call.params["view"]
    return json.loads(view) if isinstance(view, str) else view


def test_team_lists_only_the_managers_reps(bot: Bot) -> None:
    bot.command("team", "UMARK")
    [reply] = bot.replies()
    text = blocks_text(reply)
    assert all(f"Rep {i}" in text for i in range(1, 6))
    assert "Rep 6" not in text
    assert "5 reps · 5 without a plan" in text


def test_director_sees_the_division_and_reps_are_refused(bot: Bot) -> None:
    bot.command("team", "UDANA")
    [director] = bot.replies()
    bot.command("team", "UREP1")
    rep = bot.replies(2)[1]
    assert "10 reps" in blocks_text(director)
    assert "for managers and directors" in rep["text"]


def test_manager_home_has_a_button_per_rep_and_updates_after_a_plan(bot: Bot) -> None:
    home = home_of(bot, "UMARK")
    buttons = [b["accessory"]["action_id"] for b in home["blocks"] if "accessory" in b]
    # the reminders' switch and the weekly 1:1s' button, then one per rep
    assert buttons == ["reminders_mute", "one_on_one_open"] + ["plan_open"] * 5
    modal = open_modal(bot, "UMARK", "<@UREP1|rep1>")
    submit(bot, "UMARK", modal, state(["close_rate"], ["25%"]))
    published = bot.slack.wait_for("views.publish", count=3)  # rep and Mark, after the opener
    users = [c.params["user_id"] for c in published[1:]]
    assert users == ["UREP1", "UMARK"]
    mark = published[2].params["view"]
    mark = json.loads(mark) if isinstance(mark, str) else mark
    assert "checkin_open" in json.dumps(mark)
    # Dana's home isn't rebuilt on every save below her, but whenever she opens it.
    assert "checkin_open" in json.dumps(home_of(bot, "UDANA"))


def test_rep_home_shows_own_gaps_without_buttons(bot: Bot) -> None:
    home = home_of(bot, "UREP1")
    text = json.dumps(home)
    assert "Rep 1" in text and "team median" in text
    assert "plan_open" not in text
    assert "No plan for this month yet" in text


def test_stranger_home_says_not_set_up(bot: Bot) -> None:
    home = home_of(bot, "USTRANGER")
    assert "not set up" in json.dumps(home)


def test_archive_lists_past_plans_and_respects_rights(bot: Bot) -> None:
    modal = open_modal(bot, "UMARK", "<@UREP1|rep1>")
    submit(bot, "UMARK", modal, state(["close_rate"], ["25%"]))
    bot.slack.wait_for("chat.postMessage", count=2)
    bot.command("archive <@UREP1|rep1>", "UMARK")
    [mine] = bot.replies()
    assert "November 2026" in blocks_text(mine) and "Record 2 demos" in blocks_text(mine)
    bot.command("archive <@UREP1|rep1>", "UMIA")
    refused = bot.replies(2)[1]
    assert "only look up yourself" in refused["text"]


def test_archive_button_answers_through_response_url(bot: Bot) -> None:
    payload = {
        "type": "block_actions",
        "team": {"id": "T0C0ACH01"},
        "user": {"id": "UMARK", "team_id": "T0C0ACH01"},
        "api_app_id": "A0C0ACH01",
        "trigger_id": "1.2.3",
        "response_url": bot.slack.response_url(),
        "actions": [{"action_id": "archive_show", "value": "rep1@example.com", "type": "button"}],
    }
    status, _ = bot.interact(payload)
    assert status == 200
    [reply] = bot.replies()
    assert "archive" in reply["text"] and "No plans yet" in blocks_text(reply)


def test_rep_me_shows_own_plan(bot: Bot) -> None:
    modal = open_modal(bot, "UMARK", "<@UREP1|rep1>")
    submit(bot, "UMARK", modal, state(["close_rate"], ["25%"]))
    bot.slack.wait_for("chat.postMessage", count=2)
    bot.command("me", "UREP1")
    [reply] = bot.replies()
    text = blocks_text(reply)
    assert "Plan for November 2026" in text and "plan_open" not in text
