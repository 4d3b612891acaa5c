"""Global Bolt middleware: the workspace, the acting person and a session factory, once per request.

Listeners read `context["actor"]` and `context["sessions"]`; none of them looks a person up or
opens a database connection on its own, so none can forget the "are you in the org chart" check.
A modal submission's form is parsed here too (`context["form"]`), and answered inline when it
can't be read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.coaching.services import Services
from bot.slack.context import Actor
from bot.slack.forms import Form, modal_errors, parse_submission, submission_callback
from bot.slack.locales import Locales
from storage.directory import Member
from storage.models import Person
from storage.org import person_by_email, person_by_slack_id

log = logging.getLogger(__name__)

NOT_SET_UP = (
    "You're not set up in coach yet — ask your sales ops admin to add you to the org chart."
)


def resolve_person(
    session: Session, client: WebClient, workspace_id: str, slack_user_id: str
) -> Person | None:
    """The org-chart person for a Slack user: by stored id, else once by email (then stored)."""
    person = person_by_slack_id(session, workspace_id, slack_user_id)
    if person is not None:
        return person
    try:
        email = client.users_info(user=slack_user_id)["user"]["profile"].get("email")
    except SlackApiError as exc:
        log.info("users.info failed for %s: %s", slack_user_id, exc.response.get("error"))
        return None
    if not email:
        return None
    person = person_by_email(session, workspace_id, email)
    if person is not None and person.slack_user_id not in (None, slack_user_id):
        return None  # already bound to another Slack account: an email alone doesn't make you them
    if person is not None and person.slack_user_id is None:
        person.slack_user_id = slack_user_id
        session.commit()
    return person


def resolve_member(
    services: Services, client: WebClient, workspace_id: str, slack_user_id: str
) -> Member | None:
    """`resolve_person` from the in-memory org chart; the database (and Slack) only for a Slack
    id the snapshot doesn't know yet."""
    directory = services.directory(workspace_id)
    member = directory.by_slack_id(slack_user_id)
    if member is not None:
        return member
    with services.sessions() as session:
        person = resolve_person(session, client, workspace_id, slack_user_id)
        if person is None:
            return None
        member = Member.of(person)
    directory.bound(member)
    return member


def install_middleware(
    app: App, workspace_for: Callable[[str | None], str], services: Services
) -> None:
    """Register the middleware that fills `context` for every listener."""
    sessions = services.sessions
    locales = Locales()

    @app.middleware
    def attach_actor(
        context: BoltContext, body: dict[str, Any], client: WebClient, next: Callable[[], None]
    ) -> BoltResponse | None:
        workspace_id = workspace_for(context.team_id)
        context["workspace_id"] = workspace_id
        context["sessions"] = sessions
        context["services"] = services
        context["locales"] = locales  # asked only by listeners that read typed numbers
        user_id = context.user_id
        if user_id is None:  # e.g. url_verification or events without a user
            next()
            return None
        person = resolve_member(services, client, workspace_id, user_id)
        if person is None:
            return _refuse(body, client, user_id)
        actor = Actor(
            person_id=person.id,
            workspace_id=workspace_id,
            email=person.email,
            name=person.name,
            role=person.role,
            slack_user_id=user_id,
            # The import accepts only IANA names, so the org chart's zone is a real one.
            zone=person.timezone or services.settings.coach_timezone,
        )
        context["actor"] = actor
        if submission_callback(body) is not None:
            form = parse_submission(body["view"])
            if not isinstance(form, Form):
                return modal_errors(body["view"], form)
            context["form"] = form
        next()
        return None


def _refuse(body: dict[str, Any], client: WebClient, user_id: str) -> BoltResponse:
    """Tell a stranger, privately, that they aren't set up; reveal nothing else."""
    if body.get("command"):
        payload = {"response_type": "ephemeral", "text": NOT_SET_UP}
        return BoltResponse(
            status=200,
            body=json.dumps(payload),
            headers={"content-type": "application/json;charset=utf-8"},
        )
    if body.get("event", {}).get("type") == "app_home_opened":
        client.views_publish(user_id=user_id, view=_not_set_up_home())
    return BoltResponse(status=200, body="")


def _not_set_up_home() -> dict[str, Any]:
    return {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": NOT_SET_UP}}],
    }
