"""`/coach` over HTTP: signed like Slack, answered through the stand-in, permissions enforced."""

from __future__ import annotations

import json
import threading
import time

import pytest

from bot.slack.listeners.commands import NOT_YOURS
from bot.slack.middleware import NOT_SET_UP
from bot.slack.server import make_http_server
from storage.db import session_scope
from storage.models import Person
from tests.bot.conftest import (
    Bot,
    blocks_text,
    seed,
    serve_bot,
    sign_slack_request,
    slash_command_body,
)

# (viewer slack id, target mention, may see?)
MATRIX = [
    ("UREP1", "<@UREP1|rep1>", True),  # rep → self
    ("UREP1", "<@UREP2|rep2>", False),  # rep → peer
    ("UMARK", "<@UREP1|rep1>", True),  # manager → report
    ("UMARK", "<@UREP6|rep6>", False),  # manager → someone else's report
    ("UDANA", "<@UREP6|rep6>", True),  # director → everyone below
    ("UDORA", "<@UREP6|rep6>", False),  # director → someone in another division
    ("UALEX", "<@UREP3|rep3>", True),  # admin → everyone
    ("UREP2", "rep1@example.com", False),  # plain email, not allowed
    ("UMARK", "rep2@example.com", True),  # plain email, allowed
]


@pytest.mark.parametrize(("viewer", "target", "allowed"), MATRIX)
def test_gaps_permission_matrix(bot: Bot, viewer: str, target: str, allowed: bool) -> None:
    status, body = bot.command(f"gaps {target}", viewer)
    assert status == 200
    [reply] = bot.replies()
    assert reply["response_type"] == "ephemeral"
    if allowed:
        assert "Create plan" in blocks_text(reply)
    else:
        assert reply["text"] == NOT_YOURS
        assert "blocks" not in reply or not reply["blocks"]


def test_refusal_reveals_nothing_about_unknown_people(bot: Bot) -> None:
    bot.command("gaps nobody@example.com", "UREP2")
    [first] = bot.replies()
    bot.command("gaps rep1@example.com", "UREP2")
    second = bot.replies(2)[1]
    assert first["text"] == second["text"] == NOT_YOURS


def test_gaps_shows_the_planted_gap_in_managers_words(bot: Bot) -> None:
    bot.command("gaps <@UREP1|rep1>", "UMARK")
    [reply] = bot.replies()
    text = blocks_text(reply)
    assert "Rep 1" in text
    assert "team median" in text and "top quartile" in text
    assert "demos" in text  # close rate: wins of demos


def test_stranger_is_told_to_ask_sales_ops(bot: Bot) -> None:
    status, body = bot.command("gaps <@UREP1|rep1>", "USTRANGER")
    assert status == 200
    assert json.loads(body) == {"response_type": "ephemeral", "text": NOT_SET_UP}
    assert bot.slack.calls_to("response_url") == []


def test_person_without_slack_id_is_resolved_by_email_once(bot: Bot) -> None:
    bot.command("me", "UREP10")
    [reply] = bot.replies()
    assert "Rep 10" in blocks_text(reply)
    with session_scope(bot.engine) as session:
        person = session.query(Person).filter_by(email="rep10@example.com").one()
        assert person.slack_user_id == "UREP10"
    bot.command("me", "UREP10")
    bot.replies(2)
    assert len(bot.slack.calls_to("users.info")) == 1


@pytest.mark.parametrize("text", ["help", "", "frobnicate", "GAPS"])
def test_help_and_unknown(bot: Bot, text: str) -> None:
    bot.command(text, "UMARK")
    [reply] = bot.replies()
    if text == "GAPS":  # subcommands are case-insensitive; no one named: ask who
        assert "Who do you mean" in reply["text"]
    else:
        assert "/coach gaps" in reply["text"]


def test_bad_signature_is_refused(bot: Bot) -> None:
    body = slash_command_body("help", user_id="UMARK", response_url=bot.slack.response_url())
    status, _ = bot.post(body, headers={"X-Slack-Signature": "v0=" + "0" * 64})
    assert status == 401
    stale = sign_slack_request(body, "8f742231b10e8888abcd99yyyzzz85a5", int(time.time()) - 600)
    status, _ = bot.post(body, headers=stale)
    assert status == 401
    assert bot.slack.calls_to("response_url") == []


def test_healthz(bot: Bot) -> None:
    import urllib.request

    with urllib.request.urlopen(bot.url + "/healthz", timeout=5) as response:
        assert response.status == 200


def click_chart(bot: Bot, user: str, rep: str = "rep1@example.com") -> tuple[int, str]:
    """Press "Team chart" under a gap summary."""
    return bot.interact(
        {
            "type": "block_actions",
            "team": {"id": "T0C0ACH01"},
            "user": {"id": user, "team_id": "T0C0ACH01"},
            "api_app_id": "A0C0ACH01",
            "trigger_id": "1.2.3",
            "response_url": bot.slack.response_url(),
            "actions": [{"action_id": "chart_show", "value": rep, "type": "button"}],
        }
    )


def test_team_chart_is_drawn_on_demand_in_the_viewers_dm(bot: Bot) -> None:
    bot.command("gaps <@UREP1|rep1>", "UMARK")
    [answer] = bot.replies()
    assert '"chart_show"' in blocks_text(answer)
    time.sleep(0.3)
    assert bot.slack.calls_to("files.getUploadURLExternal") == []  # nothing drawn unasked
    status, _ = click_chart(bot, "UMARK")
    assert status == 200
    done = bot.replies(2)[1]
    assert done["text"] == "The team chart for Rep 1 is in your DM with coach."
    charts = list(bot.slack.files.values())  # one per focus metric: the close rate's
    assert [chart["name"] for chart in charts] == ["close_rate.png"]
    dm = bot.slack.calls_to("conversations.open")[0].response["channel"]["id"]
    for chart in charts:
        assert chart["content"].startswith(b"\x89PNG\r\n\x1a\n")
        assert chart["channels"] == [dm]
    assert bot.slack.calls_to("conversations.open")[0].params["users"] == "UMARK"


def test_team_chart_keeps_the_gaps_rights(bot: Bot) -> None:
    click_chart(bot, "UMIA")  # rep1 reports to Mark
    assert bot.replies()[0]["text"] == NOT_YOURS
    click_chart(bot, "UREP2")
    assert bot.replies(2)[1]["text"] == NOT_YOURS
    assert bot.slack.calls_to("files.getUploadURLExternal") == []


def test_without_files_write_the_chart_button_says_why(slack, sqlite_engine) -> None:  # noqa: ANN001
    slack.scopes.discard("files:write")

    seed(sqlite_engine, ["2026-08", "2026-09", "2026-10"])
    with serve_bot(sqlite_engine, slack) as bot:
        click_chart(bot, "UMARK")
        [reply] = bot.replies()
        assert "files:write" in reply["text"]
        assert slack.calls_to("files.completeUploadExternal") == []


def test_healthz_is_503_when_the_database_is_unreachable(bot: Bot) -> None:
    import urllib.error
    import urllib.request

    from storage.db import make_engine

    down = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none")
    server = make_http_server(None, down, "127.0.0.1", 0)  # type: ignore[arg-type]
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    ).start()
    try:
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/healthz", timeout=10)
        assert info.value.code == 503
    finally:
        server.shutdown()
        server.server_close()


def test_healthz_is_503_while_warming_up(sqlite_engine) -> None:  # noqa: ANN001
    import urllib.error
    import urllib.request

    warm = threading.Event()
    server = make_http_server(None, sqlite_engine, "127.0.0.1", 0, ready=warm.is_set)  # type: ignore[arg-type]
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    ).start()
    url = f"http://127.0.0.1:{server.server_port}/healthz"
    try:
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(url, timeout=10)
        assert info.value.code == 503 and info.value.read() == b"warming up\n"
        warm.set()
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
    finally:
        server.shutdown()
        server.server_close()


def test_rate_limited_views_open_is_retried(bot: Bot) -> None:
    bot.slack.fail("views.open", status=429, retry_after=1, times=1)
    bot.command("plan <@UREP1|rep1>", "UMARK")
    bot.slack.wait_for("views.update", timeout=10)
    assert len(bot.slack.calls_to("views.open")) == 2


def test_an_email_already_bound_to_another_account_is_not_enough(bot: Bot) -> None:
    bot.slack.add_user("USPOOF", "rep1@example.com")  # a second account showing rep1's email
    status, body = bot.command("me", "USPOOF")
    assert json.loads(body)["text"] == NOT_SET_UP


def test_a_rep_looking_up_themselves_gets_no_chart_button(bot: Bot) -> None:
    bot.command("gaps <@UREP1|rep1>", "UREP1")
    [reply] = bot.replies()
    assert "Closes" in blocks_text(reply) and "chart_show" not in blocks_text(reply)


def test_a_modal_slack_refuses_to_open_is_reported(bot: Bot) -> None:
    bot.slack.fail("views.open", error="expired_trigger_id", times=1)
    bot.command("plan <@UREP1|rep1>", "UMARK")
    [reply] = bot.replies()
    assert "try again" in reply["text"]
