"""The App Home: a team overview for managers and directors, own gaps and plan for reps."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.gaps import GapError
from analytics.meetings import WeeklySlot, next_meeting
from bot.coaching import workspace
from bot.coaching.archive import flagged_now, lessons_for
from bot.coaching.months import coaching_month, month_label
from bot.coaching.services import Services
from bot.coaching.team import team_rows
from bot.slack.blocks.gaps import gap_blocks
from bot.slack.blocks.mrkdwn import escape
from bot.slack.blocks.plan_message import plan_summary
from bot.slack.blocks.prep import rep_one_on_one, schedule_home, settings_home
from bot.slack.blocks.team import manager_home, rep_home
from bot.slack.zones import person_zone
from storage.availability import set_reminders_muted
from storage.models import Person
from storage.plans import get_plan

log = logging.getLogger(__name__)


def register(app: App) -> None:
    """Publish the home tab whenever someone opens it."""
    app.event("app_home_opened")(opened)
    app.action("reminders_mute")(mute_reminders)


def opened(event: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """`app_home_opened`: build and publish the opener's home."""
    if event.get("tab", "home") != "home":
        return
    with context["sessions"]() as session:
        person = session.get(Person, context["actor"].person_id)
        if person is not None:
            publish_home(client, session, context["services"], person)


def mute_reminders(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """App Home's switch: mute or unmute the clicker's own reminders, then show it."""
    ack()
    muted = body["actions"][0]["value"] == "mute"
    with context["sessions"]() as session:
        set_reminders_muted(session, context["actor"].person_id, muted)
        person = session.get(Person, context["actor"].person_id)
        if person is not None:
            publish_home(client, session, context["services"], person)


def home_view(
    client: WebClient, session: Session, services: Services, person: Person
) -> dict[str, Any]:
    """The home view for `person` in the current coaching month."""
    month = coaching_month(person.timezone or services.settings.coach_timezone)
    engine = services.gap_engine(person.workspace_id)
    labels = {m.key: m.label for m in services.catalogue.metrics}
    if person.role != "rep":
        rows = team_rows(session, person, month, engine, labels)
        return manager_home(
            rows, month_label(month), person.mute_reminders, _home_lines(session, services, person)
        )
    try:
        report = engine.report(person.email)
        lessons = lessons_for(
            session, person.workspace_id, report.focus, person.id, month, flagged_now(engine)
        )
        gaps = gap_blocks(report.model_dump(mode="json"), lessons)
    except GapError as exc:
        gaps = [{"type": "section", "text": {"type": "mrkdwn", "text": escape(exc)[:3000]}}]
    plan = get_plan(session, person.workspace_id, person.id, month)
    text = plan_summary(plan, labels) if plan is not None else None
    return rep_home(gaps, text, _one_on_one(client, session, services, person))


def _one_on_one(
    client: WebClient, session: Session, services: Services, rep: Person
) -> dict[str, Any] | None:
    """The rep's next weekly 1:1 with their manager, in the rep's time zone (None: not set, or
    none held in the weeks ahead)."""
    manager = rep.manager
    if rep.one_on_one_weekday is None or rep.one_on_one_time is None or manager is None:
        return None
    default = ZoneInfo(services.settings.coach_timezone)
    slot = WeeklySlot(rep.one_on_one_weekday, rep.one_on_one_time)
    zone = _zone(person_zone(client, manager)) or default
    # The manager's working days decide, as for the prep: no 1:1 on their holidays.
    country = (
        manager.country
        or workspace.load(session, services.settings, rep.workspace_id).coach_country
    )
    meeting = next_meeting(slot, zone, datetime.now(UTC), country)
    if meeting is None:
        return None
    # Where neither the org chart nor Slack knows the rep's zone, the manager's is named.
    theirs = _zone(person_zone(client, rep))
    shown = meeting if theirs is None else meeting.astimezone(theirs)
    return rep_one_on_one(manager.name, shown, yours=theirs is not None)


def _zone(name: str | None) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _home_lines(session: Session, services: Services, person: Person) -> list[dict[str, Any]]:
    """The weekly 1:1s line (people with direct reports) and the settings line (admins)."""
    settings = workspace.load(session, services.settings, person.workspace_id)
    lines = []
    reps = list(
        session.execute(
            select(Person.one_on_one_weekday).where(
                Person.workspace_id == person.workspace_id,
                Person.manager_id == person.id,
                Person.role == "rep",
                Person.active.is_(True),
            )
        ).scalars()
    )
    if reps:
        scheduled = sum(1 for day in reps if day is not None)
        lines.append(schedule_home(scheduled, len(reps), settings.coach_one_on_one_lead))
    if person.role == "admin":
        channel = settings.coach_daily_channel
        summary = (
            f"daily post {'in <#' + escape(channel) + '>' if channel else 'off'} · send time "
            f"{settings.coach_send_time} · reminder on working day {settings.coach_reminder_day}, "
            f"escalation on {settings.coach_escalation_day} · 1:1 prep "
            f"{settings.coach_one_on_one_lead} min before · country "
            f"{settings.coach_country or 'none (weekends only)'}"
        )
        lines.append(settings_home(summary))
    return lines


def publish_home(client: WebClient, session: Session, services: Services, person: Person) -> None:
    """Publish `person`'s home tab; a failure is logged, never raised into a user's request."""
    if not person.slack_user_id:
        return
    try:
        client.views_publish(
            user_id=person.slack_user_id, view=home_view(client, session, services, person)
        )
    except SlackApiError as exc:
        log.warning(
            "views.publish for %s failed: %s", person.slack_user_id, exc.response.get("error")
        )


def republish(client: WebClient, context: BoltContext, *person_ids: int) -> None:
    """Refresh the homes a plan or check-in change shows up in at once: the rep's and their
    manager's. Directors' homes (a hundred reps and more each) are rebuilt when they open them
    (`app_home_opened`): rebuilding every director above on every save cost a second or more per
    save under load."""
    with context["sessions"]() as session:
        seen: set[int] = set()
        for person_id in person_ids:
            person = session.get(Person, person_id)
            for who in (person, person.manager if person is not None else None):
                if who is not None and who.id not in seen:
                    seen.add(who.id)
                    publish_home(client, session, context["services"], who)
