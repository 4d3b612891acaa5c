"""The Slack stand-in, driven by the real slack_sdk WebClient that `make_web_client` makes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

import pytest
from slack_bolt import Ack, App, BoltRequest, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_handlers
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.signature import SignatureVerifier

from bot.demo.standin import (
    BOT_ID,
    BOT_USER_ID,
    RESPONSE_URL,
    TEAM_ID,
    UPLOAD,
    SlackStandIn,
    event_body,
    interaction_body,
    sign_slack_request,
    slash_command_body,
)
from bot.settings import Settings
from bot.slack.client import DEFAULT_MAX_RETRIES, make_web_client

PRIYA = "U024BE7LH"
MARK = "U0MARK001"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn({"mark.manager@example.com": MARK}) as standin:
        standin.add_user(PRIYA, "priya.shah@example.com", tz="Asia/Tokyo")
        yield standin


def client_for(
    slack: SlackStandIn, token: str | None = "xoxb-test", max_retries: int = DEFAULT_MAX_RETRIES
) -> WebClient:
    """A client made the production way, with a backoff short enough for tests."""
    settings = Settings(SLACK_API_URL=slack.url, SLACK_BOT_TOKEN="xoxb-test", _env_file=None)
    interval = FixedValueRetryIntervalCalculator(0.01)
    return make_web_client(settings, token, max_retries=max_retries, interval_calculator=interval)


def modal(blocks: int = 1, title: str = "Plan") -> dict[str, object]:
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title},
        "blocks": [section] * blocks,
    }


def test_calls_are_recorded_and_answered_like_slack(slack: SlackStandIn) -> None:
    client = client_for(slack)

    auth = client.auth_test()
    assert (auth["team_id"], auth["user_id"], auth["bot_id"]) == (TEAM_ID, BOT_USER_ID, BOT_ID)
    assert "users:read.email" in auth.headers["x-oauth-scopes"].split(",")

    user = client.users_lookupByEmail(email="Priya.Shah@example.com")["user"]
    assert (user["id"], user["tz"], user["tz_offset"]) == (PRIYA, "Asia/Tokyo", 9 * 3600)
    assert client.users_info(user=MARK)["user"]["profile"]["email"] == "mark.manager@example.com"

    dm = client.conversations_open(users=PRIYA)["channel"]["id"]
    assert dm.startswith("D")
    assert client.conversations_open(users=PRIYA)["channel"]["id"] == dm

    parent = client.chat_postMessage(channel=PRIYA, text="December 1:1s")
    reply = client.chat_postMessage(channel=dm, thread_ts=parent["ts"], text="Priya", blocks=[])
    assert parent["channel"] == reply["channel"] == dm
    assert float(reply["ts"]) > float(parent["ts"])
    assert reply["message"]["thread_ts"] == parent["ts"]
    updated = client.chat_update(channel=dm, ts=parent["ts"], text="December 1:1s (updated)")
    assert slack.messages[(dm, parent["ts"])]["text"] == updated["text"]
    link = client.chat_getPermalink(channel=dm, message_ts=reply["ts"])["permalink"]
    assert link.endswith(f"/archives/{dm}/p{reply['ts'].replace('.', '')}")
    assert client.chat_postEphemeral(channel=dm, user=PRIYA, text="only you")["message_ts"]

    methods = [call.method for call in slack.calls]
    assert methods[:4] == ["auth.test", "users.lookupByEmail", "users.info", "conversations.open"]
    [post, threaded] = slack.calls_to("chat.postMessage")
    assert (post.params["channel"], threaded.params["thread_ts"]) == (PRIYA, parent["ts"])
    assert post.token == "xoxb-test" and not post.fault and post.status == 200


def test_slack_errors_surface_as_slack_api_errors(slack: SlackStandIn) -> None:
    client = client_for(slack)
    for call, error in [
        (lambda: client.users_lookupByEmail(email="nobody@example.com"), "users_not_found"),
        (lambda: client.users_info(user="U0NOBODY1"), "user_not_found"),
        (lambda: client.chat_postMessage(channel="U0NOBODY1", text="hi"), "channel_not_found"),
        (lambda: client.api_call("chat.postMessage", json={"channel": "C1"}), "no_text"),
        (lambda: client.chat_update(channel="C1", ts="1.000001", text="x"), "message_not_found"),
        (lambda: client.api_call("coach.nothing"), "unknown_method"),
        (lambda: client_for(slack, token="").auth_test(), "not_authed"),
    ]:
        with pytest.raises(SlackApiError) as raised:
            call()
        assert raised.value.response["error"] == error


def test_a_wrong_token_or_a_missing_scope_is_refused() -> None:
    with SlackStandIn({"a@example.com": "U0A"}, scopes=["chat:write"], token="xoxb-right") as s:
        with pytest.raises(SlackApiError) as raised:
            client_for(s, token="xoxb-wrong").auth_test()
        assert raised.value.response["error"] == "invalid_auth"
        with pytest.raises(SlackApiError) as raised:
            client_for(s, token="xoxb-right").files_upload_v2(content=b"x", filename="a.png")
        assert raised.value.response.data == {
            "ok": False,
            "error": "missing_scope",
            "needed": "files:write",
            "provided": "chat:write",
        }


def test_an_injected_slack_error_hits_only_matching_calls(slack: SlackStandIn) -> None:
    slack.fail("chat.postMessage", error="user_not_found", when=lambda p: p["channel"] == PRIYA)
    client = client_for(slack)

    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel=PRIYA, text="hi")
    assert raised.value.response["error"] == "user_not_found"
    assert client.chat_postMessage(channel=MARK, text="hi")["ok"]

    failed, delivered = slack.calls_to("chat.postMessage")
    assert (failed.fault, failed.response) == (True, {"ok": False, "error": "user_not_found"})
    assert not delivered.fault
    assert len(slack.messages) == 1  # the faulted call was not carried out


def test_a_rate_limit_is_waited_out_and_retried(
    slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # slack_sdk sleeps Retry-After plus up to 1 s of jitter; without the jitter this takes 1 s.
    monkeypatch.setattr(builtin_handlers, "random", SimpleNamespace(random=lambda: 0.0))
    slack.fail("chat.postMessage", status=429, retry_after=1, times=1)
    started = time.monotonic()
    assert client_for(slack).chat_postMessage(channel=PRIYA, text="hi")["ok"]
    elapsed = time.monotonic() - started

    limited, delivered = slack.calls_to("chat.postMessage")
    assert (limited.status, limited.fault, delivered.status) == (429, True, 200)
    assert limited.response == {"ok": False, "error": "ratelimited"}
    assert elapsed >= 1.0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_with_backoff(slack: SlackStandIn, status: int) -> None:
    slack.fail("views.publish", status=status, times=2)
    home = {"type": "home", "blocks": []}
    assert client_for(slack).views_publish(user_id=PRIYA, view=home)["ok"]
    assert [call.status for call in slack.calls_to("views.publish")] == [status, status, 200]


def test_retries_give_up_after_max_retries(slack: SlackStandIn) -> None:
    slack.fail("chat.postMessage", status=500)
    with pytest.raises(SlackApiError) as raised:
        client_for(slack, max_retries=2).chat_postMessage(channel=PRIYA, text="hi")
    assert raised.value.response.status_code == 500
    assert len(slack.calls_to("chat.postMessage")) == 3


def test_a_dropped_connection_is_retried(slack: SlackStandIn) -> None:
    slack.fail("users.info", disconnect=True, times=1)
    assert client_for(slack).users_info(user=PRIYA)["user"]["id"] == PRIYA
    dropped, answered = slack.calls_to("users.info")
    assert (dropped.response, dropped.fault, answered.status) == (None, True, 200)


def test_files_upload_v2_goes_through_the_upload_url(slack: SlackStandIn) -> None:
    client = client_for(slack)
    dm = client.conversations_open(users=PRIYA)["channel"]["id"]
    png = b"\x89PNG\r\n\x1a\n" + bytes(100)

    done = client.files_upload_v2(channel=dm, content=png, filename="demos.png", title="Demos")

    file = slack.files[done["file"]["id"]]
    assert (file["content"], file["title"], file["channels"]) == (png, "Demos", [dm])
    methods = [call.method for call in slack.calls][1:]
    assert methods == ["files.getUploadURLExternal", UPLOAD, "files.completeUploadExternal"]
    assert slack.calls_to(UPLOAD)[0].params["content"] == png


def test_block_kit_limits_are_enforced_the_way_slack_does(slack: SlackStandIn) -> None:
    client = client_for(slack)
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}

    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel=PRIYA, text="team", blocks=[section] * 51)
    assert raised.value.response["error"] == "invalid_blocks"
    assert raised.value.response["errors"] == [
        "no more than 50 items allowed [json-pointer:/blocks]"
    ]

    button = {"type": "button", "text": {"type": "plain_text", "text": "b" * 76}, "action_id": "a"}
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(
            channel=PRIYA, text="x", blocks=[{"type": "actions", "elements": [button]}]
        )
    assert raised.value.response["errors"] == [
        "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]"
    ]

    for view, message in [
        (modal(blocks=101), "no more than 100 items allowed [json-pointer:/view/blocks]"),
        (modal(title="t" * 25), "must be less than 25 characters [json-pointer:/view/title/text]"),
        ({"type": "modal", "blocks": []}, "missing required field: title [json-pointer:/view]"),
    ]:
        with pytest.raises(SlackApiError) as raised:
            client.views_open(trigger_id="1.2.abc", view=view)
        assert raised.value.response["error"] == "invalid_arguments"
        assert raised.value.response["response_metadata"]["messages"] == [f"[ERROR] {message}"]
    assert client.chat_postMessage(channel=PRIYA, text="team", blocks=[section] * 50)["ok"]


def test_views_open_update_push_and_publish(slack: SlackStandIn) -> None:
    client = client_for(slack)
    opened = client.views_open(trigger_id="1.2.abc", view=modal())["view"]
    assert opened["id"].startswith("V") and opened["title"]["text"] == "Plan"

    with pytest.raises(SlackApiError) as raised:
        client.views_open(trigger_id="1.2.abc", view=modal())
    assert raised.value.response["error"] == "exchanged_trigger_id"

    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal(2))["view"]
    assert updated["id"] == opened["id"] and len(slack.views[opened["id"]]["blocks"]) == 2
    with pytest.raises(SlackApiError) as raised:  # a stale hash: someone updated it meanwhile
        client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal())
    assert raised.value.response["error"] == "hash_conflict"
    assert client.views_push(trigger_id="3.4.def", view=modal())["view"]["id"] != opened["id"]

    client.views_publish(user_id=PRIYA, view={"type": "home", "blocks": []})
    assert slack.home_tabs[PRIYA]["type"] == "home"


def test_the_signature_helper_signs_as_slack_does() -> None:
    body = slash_command_body("gaps <@U024BE7LH|priya>", user_id=MARK, response_url="http://x/")
    verifier = SignatureVerifier(SECRET)

    assert verifier.is_valid_request(body, sign_slack_request(body, SECRET))
    assert not verifier.is_valid_request(body + b"x", sign_slack_request(body, SECRET))
    assert not verifier.is_valid_request(body, sign_slack_request(body, "another secret"))
    stale = sign_slack_request(body, SECRET, timestamp=int(time.time()) - 6 * 60)
    assert not verifier.is_valid_request(body, stale)
    fixed = sign_slack_request(b"payload", SECRET, timestamp=1531420618)
    expected = verifier.generate_signature(timestamp="1531420618", body=b"payload")
    assert fixed == {"X-Slack-Request-Timestamp": "1531420618", "X-Slack-Signature": expected}


def test_bodies_are_built_as_slack_sends_them() -> None:
    body = slash_command_body(
        "gaps <@U024BE7LH|priya>", user_id=MARK, response_url="http://x/", trigger_id="1.2.3"
    )
    fields = dict(parse_qsl(body.decode(), strict_parsing=True))
    assert list(fields) == [
        "token",
        "team_id",
        "team_domain",
        "channel_id",
        "channel_name",
        "user_id",
        "user_name",
        "command",
        "text",
        "api_app_id",
        "is_enterprise_install",
        "response_url",
        "trigger_id",
    ]
    assert (fields["command"], fields["text"]) == ("/coach", "gaps <@U024BE7LH|priya>")
    assert b"command=%2Fcoach" in body and b"text=gaps+%3C%40U024BE7LH%7Cpriya%3E" in body

    payload = {"type": "block_actions", "user": {"id": MARK}, "actions": [{"action_id": "a"}]}
    [(name, value)] = parse_qsl(interaction_body(payload).decode())
    assert (name, json.loads(value)) == ("payload", payload)


def test_bolt_accepts_the_signed_bodies_and_answers_through_the_stand_in(
    slack: SlackStandIn,
) -> None:
    app = App(client=client_for(slack), signing_secret=SECRET)

    @app.command("/coach")
    def coach(ack: Ack, command: dict[str, str], respond: Respond) -> None:
        ack()
        respond(text=f"gaps for {command['text']}")

    @app.action("archive")
    def archive(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        client.chat_postEphemeral(channel=body["channel"]["id"], user=body["user"]["id"], text="ok")

    @app.event("app_home_opened")
    def home(event: dict[str, Any], client: WebClient) -> None:
        client.views_publish(user_id=event["user"], view={"type": "home", "blocks": []})

    def post(body: bytes, content_type: str = FORM["Content-Type"]) -> int:
        headers = {"Content-Type": content_type, **sign_slack_request(body, SECRET)}
        return app.dispatch(BoltRequest(body=body.decode(), headers=headers)).status

    command = slash_command_body(
        "<@U024BE7LH|priya>", user_id=MARK, response_url=slack.response_url()
    )
    assert post(command) == 200
    [response] = slack.wait_for(RESPONSE_URL)
    assert response.params["text"] == "gaps for <@U024BE7LH|priya>"

    click = {
        "type": "block_actions",
        "team": {"id": TEAM_ID},
        "user": {"id": MARK},
        "channel": {"id": "C0SALES01"},
        "trigger_id": "1.2.3",
        "actions": [{"action_id": "archive", "type": "button", "value": PRIYA}],
    }
    assert post(interaction_body(click)) == 200
    assert slack.wait_for("chat.postEphemeral")[0].params["user"] == MARK

    opened = {"type": "app_home_opened", "user": PRIYA, "tab": "home"}
    assert post(event_body(opened), "application/json") == 200
    slack.wait_for("views.publish")
    assert PRIYA in slack.home_tabs

    forged = {"Content-Type": FORM["Content-Type"], **sign_slack_request(command, "not the secret")}
    assert app.dispatch(BoltRequest(body=command.decode(), headers=forged)).status == 401


def test_fail_needs_a_failure_and_wait_for_times_out(slack: SlackStandIn) -> None:
    with pytest.raises(ValueError, match="needs"):
        slack.fail("chat.postMessage")
    with pytest.raises(AssertionError, match="chat.postMessage"):
        slack.wait_for("chat.postMessage", timeout=0.05)


SENT = {"event_type": "plan_sent", "event_payload": {"rep": PRIYA, "month": "2024-12"}}


def test_history_lists_top_level_messages_newest_first(slack: SlackStandIn) -> None:
    client = client_for(slack)
    first = client.chat_postMessage(channel=PRIYA, text="December plan", metadata=SENT)
    client.chat_postMessage(channel=PRIYA, thread_ts=first["ts"], text="a reply")
    second = client.chat_postMessage(channel=PRIYA, text="check-in")
    client.chat_postMessage(channel=MARK, text="someone else's DM")
    dm = first["channel"]

    history = client.conversations_history(channel=dm)
    assert [m["ts"] for m in history["messages"]] == [second["ts"], first["ts"]]
    assert history["has_more"] is False
    parent = history["messages"][1]
    assert (parent["thread_ts"], parent["reply_count"], parent["reply_users"]) == (
        first["ts"],
        1,
        [BOT_USER_ID],
    )
    assert "metadata" not in parent  # only when asked for
    assert "metadata" in slack.messages[(dm, first["ts"])]

    with_metadata = client.conversations_history(channel=PRIYA, include_all_metadata=True)
    assert with_metadata["messages"][1]["metadata"] == SENT  # a user id reads their DM
    raw = client.api_call(
        "conversations.history",
        http_verb="GET",
        params={"channel": dm, "include_all_metadata": "true"},
    )
    assert raw["messages"][1]["metadata"] == SENT


def test_history_respects_oldest_latest_limit_and_cursor(slack: SlackStandIn) -> None:
    client = client_for(slack)
    ts = [client.chat_postMessage(channel=PRIYA, text=f"m{i}")["ts"] for i in range(4)]

    def listed(**params: Any) -> list[str]:
        return [m["ts"] for m in client.conversations_history(channel=PRIYA, **params)["messages"]]

    assert listed(oldest=ts[1], latest=ts[3]) == [ts[2]]
    assert listed(oldest=ts[1], latest=ts[3], inclusive=True) == [ts[3], ts[2], ts[1]]
    assert listed(oldest=ts[2]) == [ts[3]]

    page = client.conversations_history(channel=PRIYA, limit=3)
    assert ([m["ts"] for m in page["messages"]], page["has_more"]) == ([ts[3], ts[2], ts[1]], True)
    cursor = page["response_metadata"]["next_cursor"]
    rest = client.conversations_history(channel=PRIYA, limit=3, cursor=cursor)
    assert ([m["ts"] for m in rest["messages"]], rest["has_more"]) == ([ts[0]], False)
    with pytest.raises(SlackApiError) as raised:
        client.conversations_history(channel=PRIYA, cursor="not a cursor")
    assert raised.value.response["error"] == "invalid_cursor"
    assert client.conversations_history(channel="C0QUIET01")["messages"] == []


def test_replies_list_the_parent_then_its_replies(slack: SlackStandIn) -> None:
    client = client_for(slack)
    parent = client.chat_postMessage(channel=PRIYA, text="December 1:1s")
    dm = parent["channel"]
    replies = [
        client.chat_postMessage(channel=dm, thread_ts=parent["ts"], text=t, metadata=SENT)["ts"]
        for t in ("Priya", "Sam")
    ]
    client.chat_postMessage(channel=dm, text="not in the thread")

    thread = client.conversations_replies(channel=dm, ts=parent["ts"])
    assert [m["ts"] for m in thread["messages"]] == [parent["ts"], *replies]
    assert thread["messages"][0]["latest_reply"] == replies[-1]
    assert thread["has_more"] is False
    assert "metadata" not in thread["messages"][1]
    thread = client.conversations_replies(channel=PRIYA, ts=parent["ts"], include_all_metadata=True)
    assert thread["messages"][1]["metadata"] == SENT
    assert len(client.conversations_replies(channel=dm, ts=parent["ts"], limit=2)["messages"]) == 2

    for params, error in [
        ({"channel": dm, "ts": "1.000001"}, "thread_not_found"),
        ({"channel": "C0OTHER01", "ts": parent["ts"]}, "thread_not_found"),
        ({"channel": dm}, "invalid_arguments"),
    ]:
        with pytest.raises(SlackApiError) as raised:
            client.api_call("conversations.replies", http_verb="GET", params=params)
        assert raised.value.response["error"] == error


def test_metadata_is_stored_as_a_dict_however_it_was_sent(slack: SlackStandIn) -> None:
    client = client_for(slack)
    as_form = {"channel": PRIYA, "text": "form", "metadata": json.dumps(SENT)}
    as_json = {"channel": PRIYA, "text": "json", "metadata": json.dumps(SENT)}
    client.api_call("chat.postMessage", data=as_form)
    client.api_call("chat.postMessage", json=as_json)
    assert [m["metadata"] for m in slack.posted(PRIYA)] == [SENT, SENT]

    with pytest.raises(SlackApiError) as raised:
        client.api_call("chat.postMessage", json={**as_json, "metadata": "{not json"})
    assert raised.value.response["error"] == "invalid_metadata_format"


def test_reading_a_dm_needs_im_history() -> None:
    with SlackStandIn({"a@example.com": "U0A"}, scopes=["chat:write"]) as s:
        client = client_for(s)
        dm = client.chat_postMessage(channel="U0A", text="hi")["channel"]
        for read in (
            lambda: client.conversations_history(channel=dm),
            lambda: client.conversations_replies(channel=dm, ts="1.000001"),
        ):
            with pytest.raises(SlackApiError) as raised:
                read()
            assert (raised.value.response["error"], raised.value.response["needed"]) == (
                "missing_scope",
                "im:history",
            )


def test_posted_reads_what_each_person_received(slack: SlackStandIn) -> None:
    client = client_for(slack)
    assert slack.posted() == [] and slack.posted(PRIYA) == []
    first = client.chat_postMessage(channel=PRIYA, text="one")
    client.chat_postMessage(channel=MARK, text="two")
    client.chat_postMessage(channel=first["channel"], text="three")

    assert [m["text"] for m in slack.posted()] == ["one", "two", "three"]
    assert [m["text"] for m in slack.posted(PRIYA)] == ["one", "three"]
    assert slack.posted(first["channel"]) == slack.posted(PRIYA)
    assert slack.posted("U0NOBODY1") == []
    slack.posted(PRIYA)[0]["text"] = "changed"  # a copy
    assert slack.posted(PRIYA)[0]["text"] == "one"


def test_a_fault_can_single_out_one_recipient(slack: SlackStandIn) -> None:
    slack.add_user("U123", "gone@example.com")
    slack.fail(
        "chat.postMessage", error="user_not_found", when=lambda p: p.get("channel") == "U123"
    )
    client = client_for(slack)

    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="U123", text="hi")
    assert raised.value.response["error"] == "user_not_found"
    assert client.chat_postMessage(channel=MARK, text="hi")["ok"]
    assert client.api_call("chat.postMessage", json={"channel": PRIYA, "text": "hi"})["ok"]
    assert slack.posted("U123") == [] and len(slack.posted()) == 2


def test_a_slow_answer_comes_after_the_message_is_posted(slack: SlackStandIn) -> None:
    slack.slow("chat.postMessage", 5, times=1, when=lambda p: p.get("channel") == PRIYA)
    client = client_for(slack, max_retries=0)
    client.timeout = 0.3

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        client.chat_postMessage(channel=PRIYA, text="December plan")
    assert time.monotonic() - started < 2
    [call] = slack.calls_to("chat.postMessage")
    assert (call.status, call.fault, call.response["ok"]) == (200, False, True)
    assert [m["text"] for m in slack.posted(PRIYA)] == ["December plan"]  # posted all the same

    assert client.chat_postMessage(channel=PRIYA, text="again")["ok"]  # times=1: used up


def test_a_client_killed_while_waiting_leaves_the_message_posted(
    slack: SlackStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    slack.slow("chat.postMessage", 30)
    script = (
        "import sys; from slack_sdk import WebClient; "
        "WebClient(base_url=sys.argv[1], token='xoxb-test').chat_postMessage("
        "channel=sys.argv[2], text='December plan')"
    )
    process = subprocess.Popen([sys.executable, "-c", script, slack.url, PRIYA])
    try:
        slack.wait_for("chat.postMessage", timeout=10)
    finally:
        process.kill()
        process.wait()
    slack.release()  # the answer goes to a dead client, quietly
    assert [m["text"] for m in slack.posted(PRIYA)] == ["December plan"]
    time.sleep(0.2)  # the server thread writes to the dead connection meanwhile
    assert "Traceback" not in capsys.readouterr().err


def test_release_and_stop_answer_held_back_calls_at_once(slack: SlackStandIn) -> None:
    slack.slow("auth.test", 30)
    client = client_for(slack)
    answers: list[bool] = []

    def call() -> None:
        answers.append(client.auth_test()["ok"])

    for finish in (slack.release, slack.stop):
        waiter = threading.Thread(target=call)
        waiter.start()
        slack.wait_for("auth.test", count=len(answers) + 1)
        time.sleep(0.05)
        assert waiter.is_alive()  # held back
        started = time.monotonic()
        finish()
        waiter.join(timeout=2)
        assert not waiter.is_alive() and time.monotonic() - started < 2
    assert answers == [True, True]
