"""When the database is away: a polite answer instead of a silent failure, and nothing half-saved.

Every listener writes in one transaction and acknowledges a modal only after its commit, so a
submission that got a success reply is saved; one that hits the outage is told to try again.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltResponse, Respond
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.slack.forms import modal_errors

log = logging.getLogger(__name__)

DATABASE_DOWN = (
    "coach can't reach its database right now, so nothing was looked up or saved. "
    "Please try again in a minute."
)


def register(app: App) -> None:
    """Attach the error handler."""
    app.error(database_down)


def unreachable(error: Exception) -> bool:
    """The database could not be reached, or not in time (not a bug in a query: those must
    stay loud)."""
    return isinstance(error, OperationalError | InterfaceError | PoolTimeout) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    )


def database_down(
    error: Exception, body: dict[str, Any], respond: Respond, response: BoltResponse | None
) -> BoltResponse | None:
    """Answer a request that failed because the database is away; other errors keep Bolt's
    default (logged with their traceback). `response` is None once a listener has acked: then
    only the response_url is left to answer on."""
    if not unreachable(error):
        log.exception("unhandled error", exc_info=error)
        return None
    log.warning("database unreachable: %s", type(getattr(error, "orig", None) or error).__name__)
    if body.get("type") == "view_submission" and response is not None:
        # An inline error keeps the modal, and what was typed, open.
        return modal_errors(body.get("view"), {"": DATABASE_DOWN})
    if body.get("response_url") or body.get("command"):
        try:
            respond(text=DATABASE_DOWN, response_type="ephemeral", replace_original=False)
        except Exception:  # the answer is a courtesy: a failure to send it changes nothing
            log.warning("could not tell the user the database is away")
    return None if response is None else BoltResponse(status=200, body="")
