"""HTTP mode: Slack's requests on POST /slack/events, a health check on GET /healthz."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Engine

from bot.logs import fields
from bot.slack.app import CoachApp
from storage.db import is_reachable

log = logging.getLogger(__name__)

# The largest request body read. Slack's own payloads are far smaller: a slash command is a few
# hundred bytes, a view submission carries the view (at most 100 blocks of at most 3,000
# characters each, about 300 kB even in JSON-escaped multibyte text) and its state. A body past
# this is refused with 413 from its Content-Length alone, before a byte of it is read.
MAX_BODY = 1024 * 1024
# Slack sends a request whole at once; a client that goes quiet mid-request for this long is
# holding a thread for nothing (wsgiref has no timeout of its own).
READ_TIMEOUT = 10.0
# What Slack's signing headers look like (seconds since the epoch; `v0=` and a hex SHA-256). Any
# other shape is refused as unsigned before the verifier sees it: it would raise on `int("abc")`
# or on comparing a non-ASCII string.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_INVALID = json.dumps({"error": "invalid request"}).encode()  # Bolt's own 401 body


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # socketserver's default backlog of 5 refuses connections as soon as a burst of slash
    # commands arrives together; the kernel caps this at its own somaxconn.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went quiet (READ_TIMEOUT) or hung up: one line, not a traceback on stderr.
        log.info("connection dropped: %s", type(sys.exc_info()[1]).__name__)


class _QuietHandler(WSGIRequestHandler):
    timeout = READ_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class Refused(Exception):
    """A request answered at the door, before Bolt parses (or logs) any of it."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def read_body(environ: dict[str, Any], limit: int = MAX_BODY) -> bytes:
    """The request body, read only once its Content-Length says it fits in `limit`.

    A request without Content-Length has no body (HTTP/1.1). A chunked one is refused (411):
    wsgiref hands over chunked framing undecoded, Slack always sends Content-Length, and
    decoding the framing by hand is not worth the risk for a client Slack isn't.
    """
    if environ.get("HTTP_TRANSFER_ENCODING"):
        raise Refused("411 Length Required", "chunked")
    declared = (environ.get("CONTENT_LENGTH") or "0").strip()
    if not declared.isdigit() or not declared.isascii():
        raise Refused("400 Bad Request", "bad length")
    if len(declared) > len(str(limit)) or int(declared) > limit:  # int() of 5,000 digits raises
        raise Refused("413 Content Too Large", "too large")
    length = int(declared)
    try:
        body = environ["wsgi.input"].read(length)
    except TimeoutError as exc:
        raise Refused("408 Request Timeout", "slow body") from exc
    if len(body) != length:
        raise Refused("400 Bad Request", "short body")
    return bytes(body)


def verify(environ: dict[str, Any], body: bytes, signing_secret: str) -> None:
    """Refuse (401) a request Slack didn't sign, as Bolt would, but without Bolt's parsing of an
    unsigned body (a malformed one would answer 500) or its logging of it."""
    try:
        text = body.decode("utf-8")  # the verifier, and Bolt, decode it first
    except UnicodeDecodeError as exc:
        raise Refused("400 Bad Request", "not utf-8") from exc
    timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP") or ""
    signature = environ.get("HTTP_X_SLACK_SIGNATURE") or ""
    well_formed = _TIMESTAMP.fullmatch(timestamp) and _SIGNATURE.fullmatch(signature)
    if not well_formed or not SignatureVerifier(signing_secret).is_valid(
        text, timestamp, signature
    ):
        raise Refused("401 Unauthorized", "bad signature")


def wsgi_app(
    app: CoachApp, engine: Engine, ready: Callable[[], bool] = lambda: True
) -> Callable[..., Iterable[bytes]]:
    """Bolt's WSGI handler (events, and the OAuth install pages when enabled) behind a door that
    refuses oversized (413) and unsigned (401) requests unread, and a /healthz route: 200 once
    `ready` (the gap engines are warm) and while the database answers, else 503."""
    slack = SlackRequestHandler(app, path="/slack/events")

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz" and environ.get("REQUEST_METHOD") == "GET":
            problem = (
                b"warming up\n"
                if not ready()
                else None
                if is_reachable(engine)
                else b"database unreachable\n"
            )
            status = "503 Service Unavailable" if problem else "200 OK"
            start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
            return [problem or b"ok\n"]
        start = time.perf_counter()
        try:
            body = read_body(environ)
            if environ.get("PATH_INFO") == "/slack/events":
                verify(environ, body, app.signing_secret)
        except Refused as refused:
            log.info(
                "request",
                extra=fields(
                    kind="refused",
                    name=refused.reason,
                    ms=round((time.perf_counter() - start) * 1000, 1),
                    outcome=refused.status.split()[0],
                ),
            )
            # The server closes the connection after this answer (HTTP/1.0): an unread body
            # goes with it.
            start_response(refused.status, [("Content-Type", "application/json")])
            return [_INVALID]
        # Bolt reads the body again from wsgi.input: hand it what was read, exactly.
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        return slack(environ, start_response)

    return application


def make_http_server(
    app: CoachApp, engine: Engine, host: str, port: int, ready: Callable[[], bool] = lambda: True
) -> WSGIServer:
    """A threaded HTTP server for the app; port 0 picks a free one."""
    return make_server(
        host,
        port,
        wsgi_app(app, engine, ready),
        server_class=_ThreadingWSGIServer,
        handler_class=_QuietHandler,
    )
