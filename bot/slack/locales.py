"""Each Slack user's locale, for reading the numbers they type ("1,5" is 1.5 in German)."""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.coaching.numbers import DEFAULT_LOCALE, locale_of

log = logging.getLogger(__name__)


class Locales:
    """`users.info` with `include_locale`, asked once an hour per person: a locale seldom
    changes, and a modal must be answered within Slack's 3 seconds."""

    def __init__(self, ttl_seconds: float = 3600) -> None:
        self._ttl = ttl_seconds
        self._known: dict[tuple[str, str], tuple[float, str]] = {}
        self._lock = threading.Lock()

    def of(self, client: WebClient, workspace_id: str, user_id: str) -> str:
        """The user's Babel locale name ('de_DE'); English (US) when Slack can't say."""
        key = (workspace_id, user_id)
        with self._lock:
            cached = self._known.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            user = client.users_info(user=user_id, include_locale=True)["user"]
        except SlackApiError as exc:  # not cached: the next request asks again
            log.info("users.info (locale) failed for %s: %s", user_id, exc.response.get("error"))
            return DEFAULT_LOCALE
        locale = locale_of(user.get("locale"))
        with self._lock:
            self._known[key] = (time.monotonic() + self._ttl, locale)
        return locale
