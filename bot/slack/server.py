"""HTTP mode: Slack's requests on POST /slack/events, a health check on GET /healthz."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import Engine

from storage.db import is_reachable

log = logging.getLogger(__name__)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # socketserver's default backlog of 5 refuses connections as soon as a burst of slash
    # commands arrives together; the kernel caps this at its own somaxconn.
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


def wsgi_app(
    app: App, engine: Engine, ready: Callable[[], bool] = lambda: True
) -> Callable[..., Iterable[bytes]]:
    """Bolt's WSGI handler (events, and the OAuth install pages when enabled) with a /healthz
    route in front of it: 200 once `ready` (the gap engines are warm) and while the database
    answers, else 503."""
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
        return slack(environ, start_response)

    return application


def make_http_server(
    app: App, engine: Engine, host: str, port: int, ready: Callable[[], bool] = lambda: True
) -> WSGIServer:
    """A threaded HTTP server for the app; port 0 picks a free one."""
    return make_server(
        host,
        port,
        wsgi_app(app, engine, ready),
        server_class=_ThreadingWSGIServer,
        handler_class=_QuietHandler,
    )
