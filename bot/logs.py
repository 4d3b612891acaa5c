"""Logging for operators: one line per request and per job run, as text or JSON.

Lines carry the workspace, what was asked (a subcommand, an action or view id, a job) and how
long it took — never tokens, signing secrets, message text or metric values.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

FIELDS = "fields"  # the `extra` key structured values travel under


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **getattr(record, FIELDS, {}),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """`time level logger: message key=value …` for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in getattr(record, FIELDS, {}).items())
        return super().format(record) + (f" {fields}" if fields else "")


# Slack's libraries write request and response bodies into their lines — Bolt the whole body of
# a request whose signature fails (at INFO) or that no listener handles, the SDK every API call's
# parameters and every response_url — and so what people typed.
LIBRARIES = ("slack_bolt", "slack_sdk")
# Where a library line stops saying what happened and starts quoting data: "Unhandled request
# ({...})", "Sending a request - url: …", "Responding with status: 200 body: …".
_DATA_STARTS = re.compile(r"\s*(?:\(|:|\s-\s|\n|\{|\[|=)")


# Bolt reads SLACK_BOT_TOKEN from the environment itself and warns on every start that the
# client (or the installation store) is used instead: coach's client carries that very token.
# Bolt's wording (slack_bolt.logger.messages), kept here so logging imports no Bolt.
_BOLT_TOKEN_NOTES = {
    "As you gave `client` as well, `token` will be unused.",
    "As `installation_store` or `authorize` has been used, `token` (or SLACK_BOT_TOKEN env "
    "variable) will be ignored.",
}


class WithoutBodies(logging.Filter):
    """Keeps Slack's libraries' lines to their warnings, and those to what happened, never the
    data they quote.

    Their chatter below WARNING would repeat our one line per request. Bolt sets each of its
    loggers' levels from the root's when the app is built, so a level set on `slack_bolt` alone
    doesn't hold (at INFO it logged whole unsigned bodies): this filter, on the handler, does.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """False to drop the record; otherwise True, with a library record's data removed."""
        if not record.name.startswith(LIBRARIES):
            return True
        if record.levelno < logging.WARNING or record.getMessage() in _BOLT_TOKEN_NOTES:
            return False
        record.msg = _DATA_STARTS.split(record.getMessage(), maxsplit=1)[0] or "(withheld)"
        record.args = ()
        return True


def configure_logging(fmt: str, level: str = "INFO") -> None:
    """Send the app's logs to stderr in `fmt` (text or json), Slack's libraries' without data."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    handler.addFilter(WithoutBodies())
    # Libraries' own request chatter would repeat what our one line per request says.
    for name in ("slack_bolt", "slack_sdk", "apscheduler", "urllib3", "alembic.runtime.plugins"):
        logging.getLogger(name).setLevel(logging.WARNING)


def fields(**values: Any) -> dict[str, Any]:
    """`extra=` for a structured log line: `log.info("request", extra=fields(ms=12))`."""
    return {FIELDS: {k: v for k, v in values.items() if v is not None}}
