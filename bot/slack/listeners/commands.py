"""`/coach` and its subcommands: parse, authorise, call a service, render."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from analytics.crm_mapping import CrmMappingError
from analytics.gaps import GapError
from analytics.models import GapReport
from bot.coaching.archive import archive_view
from bot.coaching.crm import pipeline as crm_pipeline
from bot.coaching.months import coaching_month, month_label
from bot.coaching.services import Services
from bot.coaching.team import team_rows
from bot.slack.blocks.archive import archive_blocks
from bot.slack.blocks.gaps import gap_blocks
from bot.slack.blocks.mrkdwn import escape
from bot.slack.blocks.pipeline import pipeline_blocks
from bot.slack.blocks.plan_message import plan_summary
from bot.slack.blocks.team import team_blocks
from bot.slack.charts import team_chart
from bot.slack.context import Actor
from bot.slack.listeners.checkins import open_checkin_modal
from bot.slack.listeners.errors import database_down
from bot.slack.listeners.pips import pip_command
from bot.slack.listeners.plans import open_plan_modal
from bot.slack.mentions import parse_mention
from bot.slack.middleware import resolve_member, resolve_person
from storage.availability import set_away
from storage.directory import Member
from storage.models import Person
from storage.plans import get_plan

log = logging.getLogger(__name__)
# Team charts are drawn and uploaded here, after the answer: two at a time per process.
CHARTS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="charts")
# Slash-command answers, after the ack.
ANSWERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="answers")

HELP = """*coach* — metrics-driven coaching. Examples:
• `/coach gaps @priya` — where Priya trails her peers, credibly, and what to try
• `/coach plan @priya` — co-create this month's plan (what skill, why, how)
• `/coach checkin @priya` — log progress on her plan
• `/coach team` — your reps: focus, plan, last check-in
• `/coach archive @priya` — her past plans, month by month
• `/coach pipeline @priya` — her open deals going sideways (untouched, stuck), from the CRM
• `/coach pip @priya` — a performance improvement plan (her manager chain and admins)
• `/coach me` — your own gaps
• `/coach away until 2026-12-24` — hold coach's messages until you're back (`away off`: back)
• `/coach help` — this message"""

# The furthest ahead a last day away may be.
MAX_AWAY_DAYS = 365
NOT_YOURS = "You can only look up yourself and the reps you coach."
WHO = "Who do you mean? Mention them, e.g. `/coach {sub} @priya`, or give their email."


def register(app: App) -> None:
    """Attach the /coach command."""
    app.command("/coach")(coach_command)
    app.action("archive_show")(archive_button)
    app.action("chart_show")(chart_button)


def coach_command(
    ack: Ack, command: dict[str, Any], context: BoltContext, respond: Respond, client: WebClient
) -> None:
    """Route `/coach <sub> [args]` to its handler; anything unknown gets the help."""
    ack()
    words = (command.get("text") or "").split()
    sub, args = (words[0].lower(), words[1:]) if words else ("help", [])
    handler = SUBCOMMANDS.get(sub)
    if handler is None:
        respond(response_type="ephemeral", text=HELP)
        return
    context["trigger_id"] = command.get("trigger_id")
    if sub in ("plan", "checkin", "pip"):  # a modal opens on the trigger, which expires in 3 s
        handler(args, context, respond, client)
        return
    # Answered off Bolt's listener threads: those only ack, so a burst of slow answers (or a
    # slow Slack taking them) can't keep the next request from being acked within 3 s.
    ANSWERS.submit(_answer, handler, args, context, respond, client, command)


def _answer(
    handler: Callable[[list[str], BoltContext, Respond, WebClient], None],
    args: list[str],
    context: BoltContext,
    respond: Respond,
    client: WebClient,
    body: dict[str, Any],
) -> None:
    """Run a subcommand in the answer pool; what it raises goes where a listener's would."""
    try:
        handler(args, context, respond, client)
    except Exception as error:
        database_down(error, body, respond, None)


def _target(
    sub: str, args: list[str], context: BoltContext, respond: Respond, client: WebClient
) -> Member | None:
    """The person a subcommand is about, if the actor may see them; else answer and None."""
    actor: Actor = context["actor"]
    services: Services = context["services"]
    mention = parse_mention(args[0]) if args else None
    if mention is None:
        respond(response_type="ephemeral", text=WHO.format(sub=sub))
        return None
    directory = services.directory(actor.workspace_id)
    if mention.user_id:
        target = resolve_member(services, client, actor.workspace_id, mention.user_id)
    else:
        target = directory.by_email(mention.email or "")
    viewer = directory.get(actor.person_id)
    allowed = target is not None and viewer is not None and directory.can_view(viewer, target)
    if not allowed:
        # The same answer whether the person exists or not: a refusal reveals nothing.
        respond(response_type="ephemeral", text=NOT_YOURS)
        return None
    return target


def _show_gaps(
    target: Member | Person, context: BoltContext, respond: Respond, with_plan: bool = False
) -> None:
    services: Services = context["services"]
    try:
        report = services.gap_engine(target.workspace_id).report(target.email)
    except GapError as exc:
        respond(response_type="ephemeral", text=escape(f"{target.name}: {exc}"))
        return
    payload = report.model_dump(mode="json")
    lessons = services.lessons(
        target.workspace_id, report.focus, target.id, coaching_month(context["actor"].zone)
    )
    # Peers' spread is for coaches; a rep sees their own numbers and the medians only.
    blocks = gap_blocks(payload, lessons, chart=context["actor"].role != "rep")
    if with_plan:  # a rep's own view: no buttons, their plan and check-ins instead
        blocks = [b for b in blocks if b["type"] != "actions"]
        labels = {m.key: m.label for m in services.catalogue.metrics}
        with context["sessions"]() as session:
            plan = get_plan(
                session, target.workspace_id, target.id, coaching_month(context["actor"].zone)
            )
            text = plan_summary(plan, labels) if plan else "No plan for this month yet."
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}})
    respond(
        response_type="ephemeral",
        text=f"{escape(target.name)}: coaching focus for {payload['month']}",
        blocks=blocks,
    )


def chart_button(
    ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond, client: WebClient
) -> None:
    """The "Team chart" button under a gap summary: one chart per focus metric, in the viewer's
    DM with coach. Drawn on demand, in the chart pool, since a chart costs far more than the
    answer it illustrates."""
    ack()
    if context["actor"].role == "rep":
        respond(response_type="ephemeral", text=NOT_YOURS, replace_original=False)
        return
    target = _target("chart", [body["actions"][0]["value"]], context, respond, client)
    if target is None:
        return
    services: Services = context["services"]
    try:
        report = services.gap_engine(target.workspace_id).report(target.email)
    except GapError as exc:
        respond(
            response_type="ephemeral",
            text=escape(f"{target.name}: {exc}"),
            replace_original=False,
        )
        return
    CHARTS.submit(_upload_charts, report, context, context.client, respond)


def _upload_charts(
    report: GapReport, context: BoltContext, client: WebClient, respond: Respond
) -> None:
    """A team chart per focus metric, in the viewer's DM with the bot. Runs in the chart pool,
    where nothing reports an exception: so it is logged here."""
    try:
        _charts(report, context, client, respond)
    except Exception:
        log.exception("team charts for %s failed", report.rep)
        try:
            respond(
                response_type="ephemeral",
                text="The team chart couldn't be drawn: try again in a moment.",
                replace_original=False,
            )
        except Exception:  # nothing else reports what happens in this pool
            log.exception("could not say the team chart failed")


def _charts(report: GapReport, context: BoltContext, client: WebClient, respond: Respond) -> None:
    # Without a gap the stretch metric is what the 1:1 discusses: chart that instead.
    keys = report.focus or ([report.stretch.key] if report.stretch else [])
    if not keys:
        respond(
            response_type="ephemeral",
            text=f"{escape(report.name)} has no focus or stretch metric to chart this month.",
            replace_original=False,
        )
        return
    actor: Actor = context["actor"]
    services: Services = context["services"]
    metrics = {m.key: m for m in report.metrics}
    try:
        channel = client.conversations_open(users=actor.slack_user_id)["channel"]["id"]
        for key in keys:
            metric = metrics[key]
            if metric.value is None:
                continue
            peers = services.peer_values(actor.workspace_id, report, key)
            png = team_chart(metric.model_dump(mode="json"), metric.value, peers)
            client.files_upload_v2(
                channel=channel,
                content=png,
                filename=f"{key}.png",
                title=f"{report.name}: {metric.label} vs peers ({report.month})",
            )
    except SlackApiError as exc:  # e.g. files:write not granted: the text answer stands alone
        error = exc.response.get("error")
        log.info("team chart upload skipped: %s", error)
        respond(
            response_type="ephemeral",
            text="Slack refused the chart upload: ask your Slack admin to grant coach the "
            "files:write scope."
            if error == "missing_scope"
            else f"Slack refused the chart upload ({error}): try again in a moment.",
            replace_original=False,
        )
        return
    respond(
        response_type="ephemeral",
        text=f"The team chart for {escape(report.name)} is in your DM with coach.",
        replace_original=False,
    )


def gaps(args: list[str], context: BoltContext, respond: Respond, client: WebClient) -> None:
    """`/coach gaps @rep`."""
    target = _target("gaps", args, context, respond, client)
    if target is not None:
        _show_gaps(target, context, respond)


def me(args: list[str], context: BoltContext, respond: Respond, client: WebClient) -> None:
    """`/coach me`: the actor's own gaps."""
    actor: Actor = context["actor"]
    with context["sessions"]() as session:
        person = session.get(Person, actor.person_id)
    if person is None or person.role != "rep":
        respond(response_type="ephemeral", text="`/coach me` shows a rep's own gaps.")
        return
    _show_gaps(person, context, respond, with_plan=True)


def _mentioned_email(
    sub: str, args: list[str], context: BoltContext, respond: Respond, client: WebClient
) -> str | None:
    """The email of the person named (rights are checked by the modal that opens next)."""
    mention = parse_mention(args[0]) if args else None
    if mention is None:
        respond(response_type="ephemeral", text=WHO.format(sub=sub))
        return None
    if mention.email:
        return mention.email
    actor: Actor = context["actor"]
    with context["sessions"]() as session:
        person = resolve_person(session, client, actor.workspace_id, mention.user_id or "")
        return person.email if person else ""


def _opening(respond: Respond, open_modal: Callable[[], None]) -> None:
    """Open a modal; if Slack refuses (e.g. the trigger expired), say so instead of nothing."""
    try:
        open_modal()
    except SlackApiError as exc:
        log.warning("opening a modal failed: %s", exc.response.get("error"))
        respond(response_type="ephemeral", text="Slack didn't open the form in time: try again.")


def plan(args: list[str], context: BoltContext, respond: Respond, client: WebClient) -> None:
    """`/coach plan @rep`: the plan modal."""
    email = _mentioned_email("plan", args, context, respond, client)
    if email is not None:
        _opening(respond, lambda: open_plan_modal(client, context, context["trigger_id"], email))


def checkin(args: list[str], context: BoltContext, respond: Respond, client: WebClient) -> None:
    """`/coach checkin @rep`: the check-in modal for the rep's current plan."""
    email = _mentioned_email("checkin", args, context, respond, client)
    if email is not None:
        _opening(respond, lambda: open_checkin_modal(client, context, context["trigger_id"], email))


def team(args: list[str], context: BoltContext, respond: Respond, client: WebClient) -> None:
    """`/coach team`: one line per rep for a manager or director (or admin)."""
    actor: Actor = context["actor"]
    services: Services = context["services"]
    if actor.role == "rep":
        respond(response_type="ephemeral", text="`/coach team` is for managers and directors.")
        return
    month = coaching_month(actor.zone)
    labels = {m.key: m.label for m in services.catalogue.metrics}
    with context["sessions"]() as session:
        viewer = session.get(Person, actor.person_id)
        assert viewer is not None
        rows = team_rows(session, viewer, month, services.gap_engine(actor.workspace_id), labels)
    respond(
        response_type="ephemeral",
        text=f"Team — {month_label(month)}",
        blocks=team_blocks(rows, month_label(month)),
    )


def archive(args: list[str], context: BoltContext, respond: Respond, client: WebClient) -> None:
    """`/coach archive @rep`: past plans month by month (same rights as gaps)."""
    target = _target("archive", args, context, respond, client)
    if target is None:
        return
    services: Services = context["services"]
    metrics = {m.key: m.model_dump(mode="json") for m in services.catalogue.metrics}
    with context["sessions"]() as session:
        blocks = archive_blocks(target.name, archive_view(session, target), metrics)
    respond(
        response_type="ephemeral", text=f"{escape(target.name)}: coaching archive", blocks=blocks
    )


NO_CRM = (
    "No CRM is connected: `coach sync hubspot` or `coach sync salesforce` brings the deals in "
    "(README, Numbers from the CRM)."
)


def pipeline(args: list[str], context: BoltContext, respond: Respond, client: WebClient) -> None:
    """`/coach pipeline @rep`: the rep's open deals going sideways (same rights as gaps)."""
    target = _target("pipeline", args, context, respond, client)
    if target is None:
        return
    services: Services = context["services"]
    try:
        review = crm_pipeline(
            services.engine, services.settings, target.workspace_id, target.email, datetime.now(UTC)
        )
    except CrmMappingError as exc:
        respond(response_type="ephemeral", text=escape(f"COACH_CRM_MAPPING_FILE: {exc}"))
        return
    if review.source is None:
        respond(response_type="ephemeral", text=NO_CRM)
        return
    flags = [flag.model_dump(mode="json") for flag in review.flags]
    respond(
        response_type="ephemeral",
        text=f"{escape(target.name)}: {len(flags):,} deals going sideways",
        blocks=pipeline_blocks(target.name, review.source, flags, review.untouched_days),
    )


def archive_button(
    ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond, client: WebClient
) -> None:
    """The "Archive" button under a gap summary."""
    ack()
    archive([body["actions"][0]["value"]], context, respond, client)


AWAY_USAGE = (
    "Say when you're back: `/coach away until YYYY-MM-DD` (your last day away), or "
    "`/coach away off` when you're back early."
)


def away(args: list[str], context: BoltContext, respond: Respond, client: WebClient) -> None:
    """`/coach away until YYYY-MM-DD` and `/coach away off`: the actor's own time off."""
    actor: Actor = context["actor"]
    words = [w.lower() for w in args]
    if words in (["off"], ["back"], ["clear"]):
        with context["sessions"]() as session:
            set_away(session, actor.person_id, None)
        respond(response_type="ephemeral", text="Welcome back: coach's messages come as usual.")
        return
    if len(words) != 2 or words[0] != "until":
        respond(response_type="ephemeral", text=AWAY_USAGE)
        return
    today = datetime.now(ZoneInfo(actor.zone)).date()
    try:
        until = date.fromisoformat(words[1]) if len(words[1]) == 10 else None
    except ValueError:
        until = None
    if until is None:
        respond(response_type="ephemeral", text=f"{escape(args[1])} is not a date. {AWAY_USAGE}")
        return
    if not today <= until <= today + timedelta(days=MAX_AWAY_DAYS):
        respond(
            response_type="ephemeral",
            text=f"Give a last day away from today to {MAX_AWAY_DAYS} days ahead. {AWAY_USAGE}",
        )
        return
    with context["sessions"]() as session:
        set_away(session, actor.person_id, until)
    respond(
        response_type="ephemeral",
        text=(
            f"Away until {until:%A, %B} {until.day}: coach holds your day-one, day-two and "
            "reminder messages until your first working day back (within their month)."
        ),
    )


def help_(args: list[str], context: BoltContext, respond: Respond, client: WebClient) -> None:
    """`/coach help`."""
    respond(response_type="ephemeral", text=HELP)


SUBCOMMANDS: dict[str, Callable[[list[str], BoltContext, Respond, WebClient], None]] = {
    "gaps": gaps,
    "me": me,
    "plan": plan,
    "checkin": checkin,
    "team": team,
    "archive": archive,
    "pipeline": pipeline,
    "away": away,
    "pip": pip_command,
    "help": help_,
}
