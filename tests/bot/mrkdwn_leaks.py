"""Finding hostile input that reaches Slack unescaped in what one call asks Slack to render."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from bot.slack.blocks.mrkdwn import escape

# What Slack would turn into a ping, a channel link or a (masked) link.
PARSED = re.compile(r"<(?:!|@|#|https?:|mailto:)", re.IGNORECASE)
# An & that starts none of the three entities: something was put in unescaped.
BARE_AMPERSAND = re.compile(r"&(?!amp;|lt;|gt;)")
MESSAGE_METHODS = {"chat.postMessage", "chat.update", "chat.postEphemeral", "response_url"}


def _decoded(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        return json.loads(value)
    return value


def text_objects(node: Any) -> Iterator[tuple[str, str]]:
    """Every text object in a Block Kit tree, as (type, text)."""
    if isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
            yield node["type"], node["text"]
        for value in node.values():
            yield from text_objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from text_objects(item)


def rendered(method: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """What one call to Slack (or one answer to it) asks Slack to render, as (type, text): the
    top-level `text` of a message is mrkdwn (notifications render it), then its blocks or view."""
    found = []
    if method in MESSAGE_METHODS and isinstance(params.get("text"), str):
        found.append(("mrkdwn", params["text"]))
    for key in ("blocks", "view", "attachments"):
        found += text_objects(_decoded(params.get(key)))
    return found


def leaks(method: str, params: dict[str, Any], hostile: list[str]) -> list[str]:
    """Where hostile input reached Slack as it was typed: in mrkdwn, anything Slack would parse
    (`<!…>`, `<@…>`, `<#…>`, `<http…>`, `<mailto:…>`), a bare `&`, or one of the `hostile`
    values verbatim; in plain_text, a hostile value escaped (shown to people as `&lt;`)."""
    found = []
    for kind, text in rendered(method, params):
        if kind == "mrkdwn" and (
            PARSED.search(text) or BARE_AMPERSAND.search(text) or any(v in text for v in hostile)
        ):
            found.append(f"{method} mrkdwn: {text[:200]!r}")
        if kind == "plain_text" and any(escape(v) in text for v in hostile):
            found.append(f"{method} plain_text escaped twice: {text[:200]!r}")
    return found
