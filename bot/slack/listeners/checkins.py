"""The check-in modal: opened from `/coach checkin @rep` or a "Log check-in" button."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from analytics.gaps import GapError
from analytics.models import MetricGap
from bot.coaching.months import coaching_month, current_months, month_bounds, month_label
from bot.coaching.numbers import TypedNumberError, parse_typed, typing_example
from bot.coaching.plans import typed
from bot.coaching.services import Services
from bot.coaching.wording import unit_of
from bot.slack.blocks.checkin import CHECKIN_CALLBACK, STATUSES, checkin_modal, checkin_reply
from bot.slack.blocks.plan import loading_modal, message_modal
from bot.slack.context import Actor
from bot.slack.forms import CheckinMeta, Form
from bot.slack.listeners.home import republish
from bot.slack.listeners.plans import may_plan
from storage.models import Person, Plan
from storage.org import person_by_email
from storage.plans import add_checkin, get_plan

log = logging.getLogger(__name__)

NOT_YOURS = "You can log check-ins only for yourself and the reps you coach."
MONTH_OVER = "That plan's month is over: log check-ins on this month's plan."


def register(app: App) -> None:
    """Attach the check-in button and the modal's submission handler."""
    app.action("checkin_open")(open_from_button)
    app.view(CHECKIN_CALLBACK)(submit)


def may_check_in(session: Any, actor: Actor, rep: Person | None) -> bool:
    """An active rep themselves, or whoever may plan for them."""
    return (
        rep is not None
        and rep.active
        and (rep.id == actor.person_id or may_plan(session, actor, rep))
    )


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


def submit(ack: Ack, client: WebClient, context: BoltContext) -> None:
    """Validate inline, re-check rights, store once per modal, and reply in the plan's thread.

    The same rules as the plan modal: only this month's plan of an active rep the actor may act
    for, on a day of that month."""
    actor: Actor = context["actor"]
    services: Services = context["services"]
    form: Form = context["form"]
    meta: CheckinMeta = form.meta
    values = form.values
    with context["sessions"]() as session:
        plan = session.get(Plan, meta.plan)
        rep = session.get(Person, plan.rep_id) if plan else None
        if (
            plan is None
            or plan.workspace_id != actor.workspace_id
            or not may_check_in(session, actor, rep)
        ):
            ack(response_action="errors", errors={"date": NOT_YOURS})
            return
        assert rep is not None
        if plan.month not in current_months():
            ack(response_action="errors", errors={"date": MONTH_OVER})
            return
        errors: dict[str, str] = {}
        on_date = values.day("date")
        first, last = month_bounds(plan.month)
        if on_date is None:
            errors["date"] = "Pick the day of the check-in."
        elif not first <= on_date <= last:
            errors["date"] = f"Pick a day in {month_label(plan.month)}."
        status = values.option("status")
        if status not in STATUSES:
            errors["status"] = "Is it on track, at risk, or done?"
        offered = {str(i) for i in range(len(plan.actions))}
        ticked = values.options("done")
        if any(value not in offered for value in ticked):
            errors["done"] = "Tick the plan's own actions."
        metric = next(
            (
                m.model_dump(mode="json")
                for m in _metrics(services, rep)
                if plan.focus and m.key == plan.focus[0].metric_key
            ),
            {"key": "", "kind": "value"},
        )
        raw_value = values.text("metric_value")
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
        assert on_date is not None and status is not None
        done = [plan.actions[int(value)] for value in dict.fromkeys(ticked)]
        _, created = add_checkin(
            session,
            plan=plan,
            author_id=actor.person_id,
            on_date=on_date,
            done_actions=done,
            metric_value=metric_value,
            status=status,  # type: ignore[arg-type]  # one of STATUSES, checked above
            notes=values.text("notes"),
            request_key=f"{actor.workspace_id}:{form.view_id}",
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
