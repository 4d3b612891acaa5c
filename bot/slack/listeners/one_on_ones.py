"""The weekly 1:1 from Slack: a manager sets each rep's 1:1 time (App Home), a rep adds topics
to the agenda (the prompt's button), and admins change the workspace's settings (App Home)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select

from analytics.meetings import WeeklySlot, parse_slot
from bot.coaching import workspace
from bot.coaching.prep import MAX_TOPICS_CHARS, late_topics_to, save_topics, topics_for
from bot.coaching.services import Services
from bot.slack.blocks.plan import loading_modal, message_modal
from bot.slack.blocks.prep import (
    SCHEDULE_CALLBACK,
    SCHEDULE_REPS,
    SETTINGS_CALLBACK,
    TOPICS_CALLBACK,
    late_topics,
    schedule_modal,
    settings_modal,
    topics_modal,
)
from bot.slack.context import Actor
from bot.slack.forms import Form, ScheduleMeta, TopicsMeta
from bot.slack.listeners.home import republish
from bot.slack.zones import person_zone
from storage.models import Person, WorkspaceSettings

log = logging.getLogger(__name__)

ADMINS_ONLY = "Only coach's admins change the workspace's settings."
NO_REPS = "Weekly 1:1s are set by the manager reps report to: nobody reports to you."
TOPICS_OVER = "That 1:1 is over: add topics when the next one's prompt comes."


def register(app: App) -> None:
    """Attach the buttons and modal submissions of the weekly 1:1 and the settings."""
    app.action("topics_open")(open_topics)
    app.view(TOPICS_CALLBACK)(submit_topics)
    app.action("one_on_one_open")(open_schedule)
    app.view(SCHEDULE_CALLBACK)(submit_schedule)
    app.action("settings_open")(open_settings)
    app.view(SETTINGS_CALLBACK)(submit_settings)


def _over(day: date) -> bool:
    # The 1:1's day is the manager's: a day behind UTC anywhere on Earth is still "today".
    return day < datetime.now(UTC).date() - timedelta(days=1)


def open_topics(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """The prompt's button: the rep's topics for that 1:1, prefilled with earlier ones."""
    ack()
    actor: Actor = context["actor"]
    try:
        day = date.fromisoformat(body["actions"][0]["value"])
    except ValueError:
        day = date.min
    trigger = body["trigger_id"]
    if actor.role != "rep":
        text = "Topics are for reps, before their weekly 1:1."
        client.views_open(trigger_id=trigger, view=message_modal("1:1 topics", text))
        return
    if _over(day):
        client.views_open(trigger_id=trigger, view=message_modal("1:1 topics", TOPICS_OVER))
        return
    with context["sessions"]() as session:
        rep = session.get(Person, actor.person_id)
        manager = rep.manager if rep is not None else None
        existing = topics_for(session, actor.workspace_id, actor.person_id, day)
    name = manager.name if manager is not None else "your manager"
    client.views_open(trigger_id=trigger, view=topics_modal(day, name, existing))


def submit_topics(ack: Ack, client: WebClient, context: BoltContext) -> None:
    """Store the rep's topics for the 1:1 (replacing earlier ones); the prep shows them, or, when
    it went out already, they follow it as a reply."""
    actor: Actor = context["actor"]
    form: Form = context["form"]
    meta: TopicsMeta = form.meta
    text = form.values.text("topics")
    try:
        day = date.fromisoformat(meta.day)
    except ValueError:
        ack(response_action="errors", errors={"topics": "This form is out of date."})
        return
    error = None
    if actor.role != "rep":
        error = "Topics are for reps, before their weekly 1:1."
    elif _over(day):
        error = TOPICS_OVER
    elif len(text) > MAX_TOPICS_CHARS:
        error = f"At most {MAX_TOPICS_CHARS} characters: the agenda's main points."
    if error:
        ack(response_action="errors", errors={"topics": error})
        return
    services: Services = context["services"]
    with context["sessions"]() as session:
        save_topics(session, actor.workspace_id, actor.person_id, day, text)
        session.commit()
        rep = session.get(Person, actor.person_id)
        target = None
        if rep is not None:
            due = partial(_prep_due, client, session, services, rep, day)
            target = late_topics_to(session, rep, day, due, datetime.now(UTC))
        topics = topics_for(session, actor.workspace_id, actor.person_id, day)
    if target is None:
        done = "Saved — they open the agenda of your manager's prep for this 1:1."
        ack(response_action="update", view=message_modal("Your 1:1 topics", done))
        return
    channel, thread = target
    done = (
        "Saved — your manager's prep already went out: they get your topics as a reply to it."
        if thread
        else "Saved — your manager's prep is on its way: they get your topics in a message of "
        "their own."
    )
    ack(response_action="update", view=message_modal("Your 1:1 topics", done))
    text, blocks = late_topics(actor.name, topics, None if thread else day)
    try:
        client.chat_postMessage(channel=channel, thread_ts=thread, text=text, blocks=blocks)
    except SlackApiError as exc:  # saved; the message is a courtesy, logged when it can't go
        log.warning("late 1:1 topics message failed: %s", exc.response.get("error"))


def _prep_due(
    client: WebClient, session: Any, services: Services, rep: Person, day: date
) -> datetime | None:
    """When the prep of the rep's 1:1 on `day` is made: the lead time before the meeting, on
    the manager's clock (None: no 1:1 time set)."""
    manager = rep.manager
    if manager is None or rep.one_on_one_time is None:
        return None
    try:
        zone = ZoneInfo(person_zone(client, manager) or services.settings.coach_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo(services.settings.coach_timezone)
    lead = workspace.load(session, services.settings, rep.workspace_id).coach_one_on_one_lead
    return datetime.combine(day, rep.one_on_one_time, tzinfo=zone) - timedelta(minutes=lead)


def _direct_reps(session: Any, actor: Actor) -> list[Person]:
    return list(
        session.scalars(
            select(Person)
            .where(
                Person.workspace_id == actor.workspace_id,
                Person.manager_id == actor.person_id,
                Person.role == "rep",
                Person.active.is_(True),
            )
            .order_by(Person.name)
        )
    )


def _label(rep: Person) -> str | None:
    if rep.one_on_one_weekday is None or rep.one_on_one_time is None:
        return None
    return WeeklySlot(rep.one_on_one_weekday, rep.one_on_one_time).label


def open_schedule(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """App Home's *Set 1:1 times*: one field per direct report."""
    ack()
    view_id = client.views_open(trigger_id=body["trigger_id"], view=loading_modal("Weekly 1:1s"))[
        "view"
    ]["id"]
    actor: Actor = context["actor"]
    services: Services = context["services"]
    with context["sessions"]() as session:
        reps = _direct_reps(session, actor)
        me = session.get(Person, actor.person_id)
        if not reps or me is None:
            client.views_update(view_id=view_id, view=message_modal("Weekly 1:1s", NO_REPS))
            return
        # The manager's 1:1 times are in their zone, as the cadence reads them.
        zone = person_zone(client, me) or services.settings.coach_timezone
        lead = workspace.load(session, services.settings, actor.workspace_id).coach_one_on_one_lead
        listed = [(r.id, r.name, _label(r)) for r in reps]
    view = schedule_modal(listed, zone, lead, max(0, len(listed) - SCHEDULE_REPS))
    client.views_update(view_id=view_id, view=view)


def submit_schedule(ack: Ack, client: WebClient, context: BoltContext) -> None:
    """Check every field (inline errors under each), then set the reps' weekly 1:1s."""
    actor: Actor = context["actor"]
    form: Form = context["form"]
    meta: ScheduleMeta = form.meta
    with context["sessions"]() as session:
        mine = {r.id: r for r in _direct_reps(session, actor)}
        errors: dict[str, str] = {}
        slots: dict[int, WeeklySlot | None] = {}
        for rep_id in meta.reps:
            block = f"rep_{rep_id}"
            if rep_id not in mine:
                errors[block] = "Not your direct report any more: close this and open it again."
                continue
            text = form.values.text(block)
            try:
                slots[rep_id] = parse_slot(text) if text else None
            except ValueError as exc:
                errors[block] = str(exc)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        for rep_id, slot in slots.items():
            mine[rep_id].one_on_one_weekday = slot.weekday if slot else None
            mine[rep_id].one_on_one_time = slot.at if slot else None
        session.commit()
    ack()
    republish(client, context, actor.person_id)


def _summary(values: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in values.items() if v}


def settings_texts(row: WorkspaceSettings | None) -> dict[str, str]:
    """A workspace's own settings as the modal's texts ('' where it uses the default)."""
    if row is None:
        return {}
    return {
        name: "" if getattr(row, name) is None else str(getattr(row, name))
        for name in workspace.FIELDS
    }


def default_texts(services: Services) -> dict[str, str]:
    """The environment's settings as the modal's hints."""
    base = services.settings
    return {
        name: "" if getattr(base, setting) is None else str(getattr(base, setting))
        for name, setting in workspace.FIELDS.items()
    }


def open_settings(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """App Home's *Change settings* (admins)."""
    ack()
    actor: Actor = context["actor"]
    services: Services = context["services"]
    if actor.role != "admin":
        view = message_modal("Workspace settings", ADMINS_ONLY)
    else:
        with context["sessions"]() as session:
            stored = settings_texts(session.get(WorkspaceSettings, actor.workspace_id))
        view = settings_modal(_summary(stored), default_texts(services))
    client.views_open(trigger_id=body["trigger_id"], view=view)


def submit_settings(ack: Ack, client: WebClient, context: BoltContext) -> None:
    """Check the settings (inline errors), store them; the next cadence run uses them."""
    actor: Actor = context["actor"]
    form: Form = context["form"]
    services: Services = context["services"]
    if actor.role != "admin":
        ack(response_action="errors", errors={"daily_channel": ADMINS_ONLY})
        return
    checked = workspace.check(
        {name: form.values.text(name) for name in workspace.FIELDS}, services.settings
    )
    if checked.errors:
        ack(response_action="errors", errors=checked.errors)
        return
    with context["sessions"]() as session:
        workspace.save(session, actor.workspace_id, checked.values, actor.person_id)
        session.commit()
    ack()
    republish(client, context, actor.person_id)
