"""What every local stand-in shares: an HTTP server on a fresh local port, served from a thread
of its own, started and stopped by hand or as a context manager."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self


class StandInServer(ThreadingHTTPServer):
    """The server under a stand-in; its handlers reach the stand-in as `self.server.standin`."""

    daemon_threads = True
    request_queue_size = 128  # fan-out tests open many connections at once
    standin: Any


class LocalServer:
    """A stand-in's life cycle. Subclasses name themselves and their request handler, and may
    hook `_on_start` (fresh state per start) and `_on_stop` (answer held calls first)."""

    service: ClassVar[str]  # "Slack", "HubSpot", …: for thread names and errors
    handler: ClassVar[type[BaseHTTPRequestHandler]]

    def __init__(self) -> None:
        self._server: StandInServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        """Serve on a fresh local port; returns self."""
        server = StandInServer(("127.0.0.1", 0), self.handler)
        server.standin = self
        self._server = server
        self._on_start()
        # A short poll interval keeps stop() quick: shutdown waits for the loop to look up.
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"{self.service.lower()}-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        self._on_stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        """`http://127.0.0.1:PORT`, where the stand-in answers."""
        if self._server is None:
            raise RuntimeError(f"the {self.service} stand-in is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _on_start(self) -> None:
        """Called as serving starts."""

    def _on_stop(self) -> None:
        """Called before serving stops."""
