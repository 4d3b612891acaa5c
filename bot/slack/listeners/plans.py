"""The plan modal: opened from `/coach plan @rep` or a "Create plan" button, saved on submit."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from analytics.gaps import GapError
from analytics.models import GapReport
from bot.coaching.archive import flagged_now, lessons_for
from bot.coaching.months import (
    coaching_month,
    current_months,
    month_label,
    same_day_in,
    shift_month,
)
from bot.coaching.numbers import typing_example
from bot.coaching.plans import PlanEntry, button_target, parse_plan_form, prefill, typed
from bot.coaching.services import Services
from bot.slack.blocks.mrkdwn import escape
from bot.slack.blocks.pipeline import hygiene_text
from bot.slack.blocks.plan import PLAN_CALLBACK, loading_modal, message_modal, plan_modal
from bot.slack.blocks.plan_message import plan_message
from bot.slack.context import Actor
from bot.slack.forms import Form, PlanMeta
from bot.slack.listeners.home import republish
from storage.models import Person, Plan
from storage.org import can_view, person_by_email
from storage.plans import FocusInput, get_plan, latest_reflection, save_plan

log = logging.getLogger(__name__)

NOT_YOURS = "You can plan only for the reps you coach."


def register(app: App) -> None:
    """Attach the plan buttons and the modal's submission handler."""
    app.action("plan_open")(open_from_button)
    app.action("plan_keep")(keep_last_focus)
    app.view(PLAN_CALLBACK)(submit)


def may_plan(session: Any, actor: Actor, rep: Person | None) -> bool:
    """Managers, directors and admins plan for active reps they may see; reps don't plan for
    anyone."""
    viewer = session.get(Person, actor.person_id)
    return (
        rep is not None
        and rep.active  # a deactivated rep keeps their last manager id: that grants nothing
        and rep.role == "rep"
        and viewer is not None
        and viewer.role != "rep"
        and can_view(session, viewer, rep)
    )


def open_plan_modal(
    client: WebClient,
    context: BoltContext,
    trigger_id: str,
    rep_email: str,
    month: str | None = None,
) -> None:
    """Open a loading modal at once, then fill it (or say why not) with views.update."""
    view_id = client.views_open(trigger_id=trigger_id, view=loading_modal("Coaching plan"))["view"][
        "id"
    ]
    actor: Actor = context["actor"]
    services: Services = context["services"]
    month = month or coaching_month(actor.zone)
    with context["sessions"]() as session:
        rep = person_by_email(session, actor.workspace_id, rep_email)
        if not may_plan(session, actor, rep):
            client.views_update(view_id=view_id, view=message_modal("Coaching plan", NOT_YOURS))
            return
        assert rep is not None
        try:
            report = services.gap_engine(actor.workspace_id).report(rep.email)
        except GapError as exc:
            client.views_update(view_id=view_id, view=message_modal("Coaching plan", str(exc)))
            return
        existing = get_plan(session, actor.workspace_id, rep.id, month)
        reflection = latest_reflection(session, actor.workspace_id, rep.id, month)
        locale = context["locales"].of(client, actor.workspace_id, actor.slack_user_id)
        start = prefill(report, locale)
        if existing is not None:  # editing: show what was agreed, not the fresh suggestion
            metrics = {m.key: m.model_dump(mode="json") for m in report.metrics}
            start["chosen"] = [f.metric_key for f in existing.focus]
            start["actions"] = existing.actions
            start["targets"] = [
                typed(f.target, metrics.get(f.metric_key, {"key": f.metric_key}), locale)
                if f.target is not None
                else ""
                for f in existing.focus
            ]
        view = plan_modal(
            rep_name=rep.name,
            rep_email=rep.email,
            month=month,
            month_label=month_label(month),
            options=start["options"],
            chosen=start["chosen"],
            why=existing.why if existing else "",
            actions=start["actions"],
            targets=start["targets"],
            checkin_dates=existing.checkin_dates if existing else [],
            example=typing_example(locale),
            hygiene=hygiene_text([m.model_dump(mode="json") for m in report.metrics]),
            lessons=lessons_for(
                session,
                actor.workspace_id,
                start["chosen"],
                rep.id,
                month,
                flagged_now(services.gap_engine(actor.workspace_id)),
            ),
            reflection=None
            if reflection is None
            else {
                "how_it_went": reflection.how_it_went,
                "went_well": reflection.went_well,
                "improve": reflection.improve,
            },
        )
    client.views_update(view_id=view_id, view=view)


def open_from_button(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    """The "Create plan" button on a gap summary or a day-one thread."""
    ack()
    email, month = button_target(body["actions"][0]["value"])
    open_plan_modal(client, context, body["trigger_id"], email, month)


def submit(ack: Ack, client: WebClient, context: BoltContext) -> None:
    """Validate inline, re-check rights (private_metadata is not trusted), save, DM both."""
    actor: Actor = context["actor"]
    services: Services = context["services"]
    form: Form = context["form"]
    meta: PlanMeta = form.meta
    month = meta.month
    with context["sessions"]() as session:
        rep = person_by_email(session, actor.workspace_id, meta.rep)
        if not may_plan(session, actor, rep):
            ack(response_action="errors", errors={"focus": NOT_YOURS})
            return
        if month not in current_months():
            ack(response_action="errors", errors={"focus": "The month changed: reopen the plan."})
            return
        assert rep is not None
        try:
            report = services.gap_engine(actor.workspace_id).report(rep.email)
        except GapError as exc:
            ack(response_action="errors", errors={"focus": str(exc)[:150]})
            return
        values = form.values
        entry = PlanEntry(
            focus=values.options("focus"),
            why=values.text("why"),
            how=values.text("how"),
            targets=[values.text("target_1"), values.text("target_2")],
            checkins=[values.day("checkin_1"), values.day("checkin_2")],
        )
        locale = context["locales"].of(client, actor.workspace_id, actor.slack_user_id)
        plan_form = parse_plan_form(entry, month, report, locale)
        if isinstance(plan_form, dict):
            ack(response_action="errors", errors=plan_form)
            return
        plan, _ = save_plan(
            session,
            workspace_id=actor.workspace_id,
            rep_id=rep.id,
            author_id=actor.person_id,
            month=month,
            focus=plan_form.focus,
            why=plan_form.why,
            actions=plan_form.actions,
            checkin_dates=plan_form.checkin_dates,
        )
        session.commit()
        ack()
        plan_id = plan.id
    announce(client, context, plan_id, report)


def announce(client: WebClient, context: BoltContext, plan_id: int, report: GapReport) -> None:
    """DM a saved plan to its author and the rep, thread check-ins under the author's copy, and
    refresh the homes it shows up in."""
    actor: Actor = context["actor"]
    services: Services = context["services"]
    with context["sessions"]() as session:
        plan = session.get(Plan, plan_id)
        assert plan is not None
        rep = session.get(Person, plan.rep_id)
        assert rep is not None
        units = {m.key: m for m in report.metrics}
        saved = {
            "focus": [
                {
                    "metric_key": f.metric_key,
                    "kind": units[f.metric_key].kind if f.metric_key in units else "conversion",
                    "unit": units[f.metric_key].unit if f.metric_key in units else None,
                    "baseline": f.baseline,
                    "peer_median": f.peer_median,
                    "target": f.target,
                }
                for f in plan.focus
            ],
            "why": plan.why,
            "actions": plan.actions,
            "checkin_dates": plan.checkin_dates,
        }
        recipients = [actor.slack_user_id, rep.slack_user_id]
        rep_id, rep_name, month = rep.id, rep.name, plan.month
    labels = {m.key: m.label for m in services.catalogue.metrics}
    text, blocks = plan_message(
        rep_name=rep_name,
        author_name=actor.name,
        month_label=month_label(month),
        plan=saved,
        labels=labels,
    )
    for user in dict.fromkeys(u for u in recipients if u):
        try:
            channel = client.conversations_open(users=user)["channel"]["id"]
            posted = client.chat_postMessage(channel=channel, text=text, blocks=blocks)
        except SlackApiError as exc:  # the plan is saved; a DM that can't go is only logged
            log.warning("plan DM to %s failed: %s", user, exc.response.get("error"))
            continue
        if user == actor.slack_user_id:
            with context["sessions"]() as session:
                stored = session.get(Plan, plan_id)
                if stored is not None:
                    stored.dm_channel, stored.dm_ts = channel, posted["ts"]
                    session.commit()
    republish(client, context, rep_id)


def keep_last_focus(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond
) -> None:
    """ "Keep last month's focus" on a day-one thread: carry last month's plan into this month,
    with today's figures as the new baseline."""
    ack()
    actor: Actor = context["actor"]
    services: Services = context["services"]
    email, month = button_target(body["actions"][0]["value"])
    with context["sessions"]() as session:
        rep = person_by_email(session, actor.workspace_id, email)
        if not may_plan(session, actor, rep):
            respond(text=NOT_YOURS, replace_original=False)
            return
        assert rep is not None
        if month is None:
            respond(
                text="That month's 1:1s are over: this button has expired.", replace_original=False
            )
            return
        if get_plan(session, actor.workspace_id, rep.id, month) is not None:
            respond(
                text=f"{escape(rep.name)} already has a plan for {month_label(month)}: "
                "use *Create plan* to change it.",
                replace_original=False,
            )
            return
        last = get_plan(session, actor.workspace_id, rep.id, shift_month(month, -1))
        if last is None or not last.focus:
            respond(
                text=f"{escape(rep.name)} had no plan last month to keep.", replace_original=False
            )
            return
        try:
            report = services.gap_engine(actor.workspace_id).report(rep.email)
        except GapError as exc:
            respond(text=escape(exc), replace_original=False)
            return
        metrics = {m.key: m for m in report.metrics}
        focus = [
            FocusInput(
                f.metric_key,
                metrics[f.metric_key].value if f.metric_key in metrics else f.baseline,
                metrics[f.metric_key].peer_median if f.metric_key in metrics else f.peer_median,
                f.target,
            )
            for f in last.focus
        ]
        plan, _ = save_plan(
            session,
            workspace_id=actor.workspace_id,
            rep_id=rep.id,
            author_id=actor.person_id,
            month=month,
            focus=focus,
            why=last.why,
            actions=list(last.actions),
            checkin_dates=[same_day_in(month, date.fromisoformat(d)) for d in last.checkin_dates],
        )
        session.commit()
        plan_id, rep_name = plan.id, rep.name
    respond(
        text=f"Kept last month's focus for {escape(rep_name)} in {month_label(month)}: plan saved.",
        replace_original=False,
    )
    announce(client, context, plan_id, report)
