"""Parse who a command is about: `<@U024BE7LH|alice>`, `<@U024BE7LH>` or a plain email."""

from __future__ import annotations

import re

from pydantic import BaseModel

_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_EMAIL = re.compile(r"^<?(?:mailto:)?([^@\s<>|]+@[^@\s<>|]+\.[^@\s<>|]+)(?:\|[^>]*)?>?$")


class Mention(BaseModel):
    """Either a Slack user id or an email address."""

    user_id: str | None = None
    email: str | None = None


def parse_mention(token: str) -> Mention | None:
    """The person a command argument names, or None when it names nobody."""
    token = token.strip()
    if match := _MENTION.match(token):
        return Mention(user_id=match.group(1))
    if match := _EMAIL.match(token):
        return Mention(email=match.group(1).lower())
    return None
