"""Hostile HTTP requests: refused at the door (413, 401, 411, 400) unread, never a 500, and no
log line carrying what was sent."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import io
import json
import logging
import socket
import time
import tracemalloc
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine

from bot.demo.standin import SlackStandIn, interaction_body, slash_command_body
from bot.logs import configure_logging
from bot.slack import server
from bot.slack.server import MAX_BODY
from tests.bot.conftest import SECRET, Bot, seed, serve_bot

MiB = 1024 * 1024


def raw_post(bot: Bot, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, float]:
    """POST exactly these headers and bytes; (status, body, seconds to the answer)."""
    parts = urlsplit(bot.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    start = time.monotonic()
    try:
        connection.request("POST", "/slack/events", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read(), time.monotonic() - start
    finally:
        connection.close()


def signed(body: bytes, timestamp: str) -> dict[str, str]:
    """Headers signing `body` with `timestamp` as given, however malformed."""
    digest = hmac.new(SECRET.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest.hexdigest()}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def test_a_body_declared_too_large_is_refused_at_once_unread(bot: Bot) -> None:
    headers = {"Content-Length": str(100 * MiB), **signed(b"", str(int(time.time())))}
    status, body, seconds = raw_post(bot, b"abc", headers)  # the other 100 MB never come
    assert status == 413 and json.loads(body) == {"error": "invalid request"}
    assert seconds < 2  # not waiting for a body it would read


def test_a_large_body_is_not_read_into_memory(bot: Bot) -> None:
    payload = b"x" * (16 * MiB)  # made before tracing: only the server's memory is measured
    parts = urlsplit(bot.url)
    head = f"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: {len(payload)}\r\n\r\n"
    tracemalloc.start()
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
            answer = b""
            # Refused and closed before all of it was sent (as it should be): sending, or even
            # reading the answer, may then fail.
            with contextlib.suppress(OSError):
                sock.sendall(head.encode())
                sock.sendall(payload)
            with contextlib.suppress(OSError):
                answer = sock.recv(200)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer == b"" or answer.startswith(b"HTTP/1.0 413")
    assert peak < MiB, f"{peak / MiB:.1f} MiB traced while refusing a 16 MiB body"


def test_a_body_that_stops_coming_times_out(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server._QuietHandler, "timeout", 0.3)  # READ_TIMEOUT, shortened
    headers = {"Content-Length": "100", **signed(b"", str(int(time.time())))}
    status, _, seconds = raw_post(bot, b"abc", headers)  # 97 bytes promised, never sent
    assert status == 408 and seconds < 2


def test_a_body_at_the_limit_is_read(bot: Bot) -> None:
    body = b"x" * MAX_BODY
    status, _, _ = raw_post(bot, body, signed(body, str(int(time.time()))))
    assert status != 413  # read, and handled by Bolt (it isn't a payload it knows)


@pytest.mark.parametrize("timestamp", ["abc", "", "1.5", "9" * 5000, "¹²³", "-1", " 1700000000"])
def test_a_malformed_timestamp_is_401(bot: Bot, timestamp: str) -> None:
    body = slash_command_body("gaps", user_id="UMARK", response_url=bot.slack.response_url())
    status, answer, _ = raw_post(bot, body, signed(body, timestamp))
    assert (status, json.loads(answer)) == (401, {"error": "invalid request"})


@pytest.mark.parametrize(
    "signature", ["", "v0=", "v0=é" + "0" * 63, "v1=" + "0" * 64, "v0=" + "0" * 64]
)
def test_a_malformed_or_wrong_signature_is_401(bot: Bot, signature: str) -> None:
    body = b"payload=not-json{"  # Bolt would answer 500 parsing it
    headers = {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": signature}
    status, _, _ = raw_post(bot, body, headers)
    assert status == 401


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Transfer-Encoding": "chunked"}, 411),
        ({"Content-Length": "abc"}, 400),
        ({"Content-Length": "9" * 5000}, 413),
    ],
)
def test_unusable_lengths_are_refused(bot: Bot, headers: dict[str, str], status: int) -> None:
    body = b"3\r\nabc\r\n0\r\n\r\n" if "Transfer-Encoding" in headers else b"abc"
    assert raw_post(bot, body, {**signed(b"abc", str(int(time.time()))), **headers})[0] == status


def test_a_signed_body_that_is_not_utf8_is_400(bot: Bot) -> None:
    body = b"payload=\xff\xfe"
    assert raw_post(bot, body, signed(body, str(int(time.time()))))[0] == 400


def test_a_good_request_still_passes(bot: Bot) -> None:
    assert bot.command("help", "UMARK")[0] == 200


@pytest.fixture
def debug_logs() -> Iterator[io.StringIO]:
    """The app's own logging configuration at DEBUG, its handler writing to a buffer."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("json", "DEBUG")
    stream = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    try:
        yield stream
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_no_log_line_carries_a_body_or_typed_text(
    sqlite_engine: Engine, slack: SlackStandIn, debug_logs: io.StringIO
) -> None:
    seed(sqlite_engine, ["2026-09", "2026-10"])
    typed = "Typed-Private-Words"
    # Logging is configured before the app is built, as `coach serve` does: Bolt copies the
    # root's level (DEBUG) into its loggers then.
    with serve_bot(sqlite_engine, slack) as bot:
        url = slack.response_url()
        body = slash_command_body(f"gaps {typed}", user_id="UMARK", response_url=url)
        assert bot.post(body)[0] == 200
        bot.replies()
        unhandled = {
            "type": "block_actions",
            "team": {"id": "T0C0ACH01"},
            "user": {"id": "UMARK", "team_id": "T0C0ACH01"},
            "api_app_id": "A0C0ACH01",
            "response_url": url,
            "actions": [{"action_id": "no_such_button", "value": typed}],
        }
        assert bot.interact(unhandled)[0] == 404  # Bolt warns "Unhandled request" with the body
        big = interaction_body({"text": typed * 1000})
        assert raw_post(bot, big, {"X-Slack-Signature": "v0=" + "0" * 64})[0] == 401
    err = debug_logs.getvalue()
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(x["msg"] == "Unhandled request" for x in lines)  # library warnings kept, bare
    assert any(x.get("kind") == "refused" and x.get("outcome") == "401" for x in lines)
    assert typed not in err and url not in err and "Private" not in err
