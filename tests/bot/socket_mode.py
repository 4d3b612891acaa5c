"""Slack's end of Socket Mode on a local port, for end-to-end tests of `coach serve --socket`.

The HTTP stand-in answers `apps.connections.open` with this server's `ws://` URL. Like Slack,
it greets each connection with `hello`, sends envelopes (slash commands, interactivity) to the
newest connection and records every acknowledgement by envelope id; `drop` cuts the current
connection without a goodbye, as a network failure would.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
from collections import Counter
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from bot.demo.standin import APP_ID


class SocketModeStandIn:
    """A WebSocket server speaking Slack's Socket Mode protocol."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._connections: list[ServerConnection] = []
        self.acks: list[dict[str, Any]] = []
        self._server: Server | None = None

    def __enter__(self) -> SocketModeStandIn:
        self._server = serve(self._session, "127.0.0.1", 0)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.shutdown()

    @property
    def url(self) -> str:
        """The URL `apps.connections.open` hands out."""
        assert self._server is not None
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket={secrets.token_hex(8)}"

    def _session(self, connection: ServerConnection) -> None:
        hello = {
            "type": "hello",
            "num_connections": 1,
            "debug_info": {"host": "applink-local", "approximate_connection_time": 18060},
            "connection_info": {"app_id": APP_ID},
        }
        connection.send(json.dumps(hello))
        with self._lock:
            self._connections.append(connection)
            self._lock.notify_all()
        try:
            for message in connection:
                ack = json.loads(message)
                if "envelope_id" in ack:
                    with self._lock:
                        self.acks.append(ack)
                        self._lock.notify_all()
        except ConnectionClosed:
            pass

    def wait_for_connections(self, count: int, timeout: float = 30.0) -> None:
        """Wait until `count` connections have been made in all (reconnections included)."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._connections) >= count, timeout):
                raise AssertionError(f"{len(self._connections)} connections, not {count}")

    def send(self, kind: str, payload: dict[str, Any]) -> str:
        """Send one envelope to the newest connection, as Slack does; its envelope id."""
        envelope_id = secrets.token_hex(16)
        envelope = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": kind,
            "accepts_response_payload": True,
            "retry_attempt": 0,
            "retry_reason": "",
        }
        with self._lock:
            connection = self._connections[-1]
        connection.send(json.dumps(envelope))
        return envelope_id

    def wait_for_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The acknowledgement of one envelope (Slack waits 3 s for it; tests wait longer)."""
        with self._lock:
            if not self._lock.wait_for(lambda: self.ack_counts()[envelope_id] > 0, timeout):
                raise AssertionError(f"no ack for {envelope_id}")
            return next(ack for ack in self.acks if ack["envelope_id"] == envelope_id)

    def ack_counts(self) -> Counter[str]:
        """How many times each envelope was acknowledged."""
        return Counter(ack["envelope_id"] for ack in self.acks)

    def drop(self) -> None:
        """Cut the newest connection at the TCP level: no close frame, no `disconnect`."""
        with self._lock:
            connection = self._connections[-1]
        connection.socket.shutdown(socket.SHUT_RDWR)
