"""Whose clock a time is shown on: a person's time zone as the cadence resolves it."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from storage.models import Person

log = logging.getLogger(__name__)


def slack_zone(client: WebClient, person: Person) -> str | None:
    """The time zone of the person's Slack profile, found by Slack id, else by email (None: the
    profile has none). Slack's errors are the caller's: the cadence retries them sooner."""
    user = (
        client.users_info(user=person.slack_user_id)
        if person.slack_user_id
        else client.users_lookupByEmail(email=person.email)
    )["user"]
    return str(user["tz"]) if user.get("tz") else None


def person_zone(client: WebClient, person: Person) -> str | None:
    """The person's time zone as the cadence reads it — the org chart's, else their Slack
    profile's — or None when neither says (the cadence then uses the default,
    COACH_TIMEZONE). Slack away or refusing is None too: a page still renders."""
    if person.timezone:
        return person.timezone
    try:
        return slack_zone(client, person)
    except SlackApiError as exc:
        log.info("no Slack time zone for %s: %s", person.email, exc.response.get("error"))
        return None
    except OSError as exc:
        log.info("no Slack time zone for %s: %s", person.email, exc)
        return None
