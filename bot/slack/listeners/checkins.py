"""The check-in modal: opened from `/coach checkin @rep` or a "Log check-in" button."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from analytics.gaps import GapError
from analytics.models import MetricGap
from bot.coaching.months import coaching_month, month_label
from bot.coaching.numbers import TypedNumberError, parse_typed, typing_example
from bot.coaching.plans import typed
from bot.coaching.services import Services
from bot.coaching.wording import unit_of
from bot.slack.blocks.checkin import CHECKIN_CALLBACK, STATUSES, checkin_modal, checkin_reply
from bot.slack.blocks.plan import loading_modal, message_modal
from bot.slack.context import Actor
from bot.slack.listeners.home import republish
from bot.slack.listeners.plans import may_plan
from storage.models import Person, Plan
from storage.org import person_by_email
from storage.plans import add_checkin, get_plan

log = logging.getLogger(__name__)

NOT_YOURS = "You can log check-ins only for yourself and the reps you coach."


def register(app: App) -> None:
    """Attach the check-in button and the modal's submission handler."""
    app.action("checkin_open")(open_from_button)
    app.view(CHECKIN_CALLBACK)(submit)


def may_check_in(session: Any, actor: Actor, rep: Person | None) -> bool:
    """The rep themselves, or whoever may plan for them."""
    return rep is not None and (rep.id == actor.person_id or may_plan(session, actor, rep))


def open_checkin_modal(
    client: WebClient, context: BoltContext, trigger_id: str, rep_email: str
) -> None:
    """Open at once, then fill with the rep's current plan (or say why not)."""
    view_id = client.views_open(trigger_id=trigger_id, view=loading_modal("Check-in"))["view"]["id"]
    actor: Actor = context["actor"]
    services: Services = context["services"]
    month = coaching_month(actor.zone)
    with context["sessions"]() as session:
        rep = person_by_email(session, actor.workspace_id, rep_email)
        if not may_check_in(session, actor, rep):
            client.views_update(view_id=view_id, view=message_modal("Check-in", NOT_YOURS))
            return
        assert rep is not None
        plan = get_plan(session, actor.workspace_id, rep.id, month)
        if plan is None or not plan.focus:
            text = f"{rep.name} has no plan for {month_label(month)} yet: `/coach plan` first."
            client.views_update(view_id=view_id, view=message_modal("Check-in", text))
            return
        focus = plan.focus[0]
        metric = next((m for m in _metrics(services, rep) if m.key == focus.metric_key), None)
        locale = context["locales"].of(client, actor.workspace_id, actor.slack_user_id)
        current = ""
        if metric is not None and metric.value is not None:
            current = typed(metric.value, metric.model_dump(mode="json"), locale)
        view = checkin_modal(
            plan_id=plan.id,
            rep_name=rep.name,
            metric_label=metric.label if metric else focus.metric_key,
            today=datetime.now(UTC).date().isoformat(),
            actions=plan.actions,
            current_value=current,
            example=typing_example(locale),
        )
    client.views_update(view_id=view_id, view=view)


def open_from_button(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    """The "Log check-in" button."""
    ack()
    open_checkin_modal(client, context, body["trigger_id"], body["actions"][0]["value"])


def _metrics(services: Services, rep: Person) -> list[MetricGap]:
    """The rep's current metrics; none when there is no data for them now (the check-in still
    works, only without a prefilled value)."""
    try:
        return services.gap_engine(rep.workspace_id).report(rep.email).metrics
    except GapError:
        return []


def _state(values: dict[str, Any], block: str) -> dict[str, Any]:
    return values.get(block, {}).get("value", {})


def submit(ack: Ack, view: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """Validate inline, re-check rights, store once per modal, and reply in the plan's thread."""
    actor: Actor = context["actor"]
    services: Services = context["services"]
    plan_id = json.loads(view.get("private_metadata") or "{}").get("plan")
    values = view["state"]["values"]
    with context["sessions"]() as session:
        plan = session.get(Plan, plan_id) if isinstance(plan_id, int) else None
        rep = session.get(Person, plan.rep_id) if plan else None
        if (
            plan is None
            or plan.workspace_id != actor.workspace_id
            or not may_check_in(session, actor, rep)
        ):
            ack(response_action="errors", errors={"date": NOT_YOURS})
            return
        assert rep is not None
        errors: dict[str, str] = {}
        selected = _state(values, "date").get("selected_date")
        on_date = date.fromisoformat(selected) if selected else None
        if on_date is None:
            errors["date"] = "Pick the day of the check-in."
        status = (_state(values, "status").get("selected_option") or {}).get("value")
        if status not in STATUSES:
            errors["status"] = "Is it on track, at risk, or done?"
        metric = next(
            (
                m.model_dump(mode="json")
                for m in _metrics(services, rep)
                if plan.focus and m.key == plan.focus[0].metric_key
            ),
            {"key": "", "kind": "value"},
        )
        raw_value = (_state(values, "metric_value").get("value") or "").strip()
        metric_value = None
        if raw_value:
            locale = context["locales"].of(client, actor.workspace_id, actor.slack_user_id)
            try:
                metric_value = parse_typed(raw_value, unit_of(metric), locale)
            except TypedNumberError as exc:
                errors["metric_value"] = f"{exc} Or leave it empty."
        if errors:
            ack(response_action="errors", errors=errors)
            return
        done = [
            plan.actions[int(o["value"])]
            for o in _state(values, "done").get("selected_options") or []
            if o["value"].isdigit() and int(o["value"]) < len(plan.actions)
        ]
        _, created = add_checkin(
            session,
            plan=plan,
            author_id=actor.person_id,
            on_date=on_date,  # type: ignore[arg-type]
            done_actions=done,
            metric_value=metric_value,
            status=status,  # type: ignore[arg-type]
            notes=(_state(values, "notes").get("value") or "").strip(),
            request_key=f"{actor.workspace_id}:{view.get('id')}",
        )
        session.commit()
        thread = (plan.dm_channel, plan.dm_ts)
        rep_id = rep.id
        summary = checkin_reply(
            on_date=on_date,  # type: ignore[arg-type]
            status=status,  # type: ignore[arg-type]
            done=len(done),
            planned=len(plan.actions),
            value=raw_value,
            author=actor.name,
        )
    ack()
    if created and all(thread):
        try:
            client.chat_postMessage(channel=thread[0], thread_ts=thread[1], text=summary)
        except SlackApiError as exc:
            log.warning("check-in reply failed: %s", exc.response.get("error"))
    if created:
        republish(client, context, rep_id)
