"""When the database is away: a polite answer instead of a silent failure, and nothing half-saved.

Every listener writes in one transaction and acknowledges a modal only after its commit, so a
submission that got a success reply is saved; one that hits the outage is told to try again.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import App, BoltResponse, Respond
from sqlalchemy.exc import DBAPIError, OperationalError

log = logging.getLogger(__name__)

DATABASE_DOWN = (
    "coach can't reach its database right now, so nothing was looked up or saved. "
    "Please try again in a minute."
)


def register(app: App) -> None:
    """Attach the error handler."""
    app.error(database_down)


def database_down(error: Exception, body: dict[str, Any], respond: Respond) -> BoltResponse | None:
    """Answer a request that failed on the database; other errors keep Bolt's default."""
    if not isinstance(error, OperationalError | DBAPIError):
        log.exception("unhandled error", exc_info=error)
        return None
    log.warning("database unreachable: %s", type(error.orig or error).__name__)
    if body.get("type") == "view_submission":
        blocks = (body.get("view") or {}).get("blocks") or []
        first = next((b["block_id"] for b in blocks if b.get("type") == "input"), None)
        if first is not None:  # an inline error keeps the modal, and what was typed, open
            answer = {"response_action": "errors", "errors": {first: DATABASE_DOWN[:150]}}
            return BoltResponse(
                status=200,
                body=json.dumps(answer),
                headers={"content-type": "application/json;charset=utf-8"},
            )
    if body.get("response_url") or body.get("command"):
        try:
            respond(text=DATABASE_DOWN, response_type="ephemeral", replace_original=False)
        except Exception:  # the answer is a courtesy: a failure to send it changes nothing
            log.warning("could not tell the user the database is away")
    return BoltResponse(status=200, body="")
