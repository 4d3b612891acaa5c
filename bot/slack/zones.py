"""Whose clock a time is shown on: a person's time zone as the cadence resolves it."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from storage.models import Person

log = logging.getLogger(__name__)


def person_zone(client: WebClient, person: Person) -> str | None:
    """The person's time zone — the org chart's, else their Slack profile's — or None when
    neither says (the cadence then uses the default, COACH_TIMEZONE)."""
    if person.timezone:
        return person.timezone
    if person.slack_user_id:
        try:
            found = client.users_info(user=person.slack_user_id)["user"].get("tz")
            if found:
                return str(found)
        except SlackApiError as exc:
            log.info("no Slack time zone for %s: %s", person.email, exc.response.get("error"))
    return None
