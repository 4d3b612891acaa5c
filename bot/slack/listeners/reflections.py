"""The rep's reflection before the day-one 1:1: a button on the invitation opens a small modal."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.coaching.months import current_months, month_label, shift_month
from bot.slack.blocks.cadence import REFLECTION_CALLBACK, reflection_modal
from bot.slack.blocks.plan import message_modal
from bot.slack.context import Actor
from bot.slack.forms import Form, ReflectionMeta
from storage.plans import latest_reflection, save_reflection

QUESTIONS = ("how_it_went", "went_well", "improve")


def register(app: App) -> None:
    """Attach the invitation's button and the modal's submission handler."""
    app.action("reflection_open")(open_modal)
    app.view(REFLECTION_CALLBACK)(submit)


def open_modal(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """Open the modal on the trigger, prefilled with an earlier answer for the same month."""
    ack()
    actor: Actor = context["actor"]
    month = body["actions"][0]["value"]
    if actor.role != "rep":
        text = "Reflections are for reps, before their monthly 1:1."
        client.views_open(trigger_id=body["trigger_id"], view=message_modal("Reflection", text))
        return
    if month not in current_months():
        text = "That 1:1 is over: this invitation has expired."
        client.views_open(trigger_id=body["trigger_id"], view=message_modal("Reflection", text))
        return
    with context["sessions"]() as session:
        found = latest_reflection(session, actor.workspace_id, actor.person_id, month)
        existing = None if found is None else {q: getattr(found, q) for q in QUESTIONS}
    view = reflection_modal(
        month, month_label(month), month_label(shift_month(month, -1)), existing
    )
    client.views_open(trigger_id=body["trigger_id"], view=view)


def submit(ack: Ack, context: BoltContext) -> None:
    """Validate inline and store the reflection under the person who wrote it."""
    actor: Actor = context["actor"]
    form: Form = context["form"]
    meta: ReflectionMeta = form.meta
    month = meta.month
    answers = {q: form.values.text(q) for q in QUESTIONS}
    errors = {q: "A line or two, please." for q, text in answers.items() if not text}
    if month not in current_months():
        errors = {"how_it_went": "That 1:1 is over: this invitation has expired."}
    if actor.role != "rep":
        errors = {"how_it_went": "Reflections are for reps, before their monthly 1:1."}
    if errors:
        ack(response_action="errors", errors=errors)
        return
    with context["sessions"]() as session:
        save_reflection(
            session, workspace_id=actor.workspace_id, rep_id=actor.person_id, month=month, **answers
        )
        session.commit()
    done = "Thanks — saved. Your manager sees it when you plan the month together."
    ack(response_action="update", view=message_modal("Before your 1:1", done))
