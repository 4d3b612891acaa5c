"""Performance improvement plans: `/coach pip @rep`, the rep's Acknowledge button, check-ins
and the decision at the end. Rights come from the org chart the middleware resolved
(`bot.coaching.pips.may_see_pip` / `may_run_pip` on the request's directory)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from analytics.gaps import GapError
from bot.coaching.months import coaching_month
from bot.coaching.numbers import TypedNumberError, format_typed, parse_typed, typing_example
from bot.coaching.pips import (
    LONGEST_DAYS,
    MAX_GOALS,
    MAX_TRACKING,
    PipEntry,
    history_since,
    judge_pip,
    judged_goals,
    latest_levels,
    may_run_pip,
    may_see_pip,
    parse_pip_form,
    pip_prefill,
    pip_view,
)
from bot.coaching.services import Services
from bot.coaching.wording import format_value, unit_of
from bot.slack.blocks.mrkdwn import escape
from bot.slack.blocks.pip import (
    PIP_CALLBACK,
    PIP_CHECKIN_CALLBACK,
    PIP_DECISION_CALLBACK,
    pip_checkin_modal,
    pip_checkin_reply,
    pip_decided,
    pip_decision_modal,
    pip_message,
    pip_modal,
    pip_status_modal,
)
from bot.slack.blocks.plan import loading_modal, message_modal
from bot.slack.context import Actor
from bot.slack.forms import Form, PipMeta, PipRef
from bot.slack.mentions import parse_mention
from bot.slack.middleware import resolve_member
from storage.directory import Member
from storage.models import Pip
from storage.pips import (
    DECISIONS,
    PipRunning,
    acknowledge,
    active_pip,
    add_pip_checkin,
    create_pip,
    decide,
    get_pip,
    pips_of_rep,
    recent_plan_metrics,
    set_announced,
)

log = logging.getLogger(__name__)

TITLE = "Improvement plan"
NOT_YOURS = "You can see a PIP only for yourself and the reps you coach."
WHO = "Who do you mean? Mention them, e.g. `/coach pip @priya`, or give their email."
OVER = "This PIP is no longer running."


def register(app: App) -> None:
    """Attach the PIP buttons and modals."""
    app.action("pip_ack")(acknowledge_button)
    app.action("pip_checkin_open")(open_checkin)
    app.action("pip_decide_open")(open_decision)
    app.view(PIP_CALLBACK)(submit)
    app.view(PIP_CHECKIN_CALLBACK)(submit_checkin)
    app.view(PIP_DECISION_CALLBACK)(submit_decision)


def _today(actor: Actor) -> date:
    return datetime.now(ZoneInfo(actor.zone)).date()


def _rep(context: BoltContext, client: WebClient, token: str | None) -> Member | None:
    actor: Actor = context["actor"]
    services: Services = context["services"]
    mention = parse_mention(token) if token else None
    if mention is None:
        return None
    if mention.user_id:
        return resolve_member(services, client, actor.workspace_id, mention.user_id)
    return services.directory(actor.workspace_id).by_email(mention.email or "")


def _may(context: BoltContext, rep: Member | None, run: bool) -> bool:
    actor: Actor = context["actor"]
    directory = context["services"].directory(actor.workspace_id)
    check = may_run_pip if run else may_see_pip
    return check(directory, actor.person_id, rep)


def pip_command(args: list[str], context: BoltContext, respond: Respond, client: WebClient) -> None:
    """`/coach pip @rep`: the PIP modal (the manager chain and admins), or the running PIP."""
    if not args or parse_mention(args[0]) is None:
        respond(response_type="ephemeral", text=WHO)
        return
    try:
        opened = client.views_open(trigger_id=context["trigger_id"], view=loading_modal(TITLE))
    except SlackApiError as exc:
        log.warning("opening the PIP modal failed: %s", exc.response.get("error"))
        respond(response_type="ephemeral", text="Slack didn't open the form in time: try again.")
        return
    client.views_update(view_id=opened["view"]["id"], view=_pip_view(context, client, args[0]))


def _pip_view(context: BoltContext, client: WebClient, token: str) -> dict[str, Any]:
    """What `/coach pip @rep` shows: a refusal, the rep's PIP, or the form for a new one."""
    actor: Actor = context["actor"]
    services: Services = context["services"]
    rep = _rep(context, client, token)
    if not _may(context, rep, run=False):
        return message_modal(TITLE, NOT_YOURS)
    assert rep is not None
    with context["sessions"]() as session:
        running = active_pip(session, actor.workspace_id, rep.id)
        if running is not None or not _may(context, rep, run=True):
            shown = running or next(iter(pips_of_rep(session, actor.workspace_id, rep.id)), None)
            if shown is None:
                return message_modal(TITLE, f"{rep.name} has no performance improvement plan.")
            return _status_modal(context, shown, rep.name)
        try:
            report = services.gap_engine(actor.workspace_id).report(rep.email)
        except GapError as exc:
            return message_modal(TITLE, str(exc))
        since = history_since(coaching_month(actor.zone))
        recent = recent_plan_metrics(session, actor.workspace_id, rep.id, since)
    locale = context["locales"].of(client, actor.workspace_id, actor.slack_user_id)
    labels = {m.key: m.label for m in services.catalogue.metrics}
    start = pip_prefill(report, recent, services.catalogue, locale, _today(actor))
    return pip_modal(
        rep_name=rep.name,
        rep_email=rep.email,
        options=[m.model_dump(mode="json") for m in report.metrics if m.value is not None],
        prefill=start,
        recent_labels=sorted(labels.get(k, k) for k in recent),
        example=typing_example(locale),
    )


def _status_modal(context: BoltContext, pip: Pip, rep_name: str) -> dict[str, Any]:
    services: Services = context["services"]
    author = services.directory(pip.workspace_id).get(pip.author_id or -1)
    name = author.name if author else "Their manager"
    return pip_status_modal(rep_name, name, _view(context, pip))


def _view(context: BoltContext, pip: Pip) -> dict[str, Any]:
    services: Services = context["services"]
    rep = services.directory(pip.workspace_id).get(pip.rep_id)
    zone = (rep.timezone if rep else None) or services.settings.coach_timezone
    return pip_view(pip, services.catalogue, ZoneInfo(zone))


def submit(ack: Ack, client: WebClient, context: BoltContext) -> None:
    """Validate inline, re-check rights (private_metadata is not trusted), save, DM both."""
    actor: Actor = context["actor"]
    services: Services = context["services"]
    form: Form = context["form"]
    meta: PipMeta = form.meta
    rep = services.directory(actor.workspace_id).by_email(meta.rep)
    if not _may(context, rep, run=True):
        ack(response_action="errors", errors={"goal_metric_1": NOT_YOURS})
        return
    assert rep is not None
    values = form.values
    entry = PipEntry(
        goals=[
            (
                values.option(f"goal_metric_{i}"),
                values.text(f"goal_target_{i}"),
                values.option(f"goal_deadline_{i}"),
            )
            for i in range(1, MAX_GOALS + 1)
        ],
        tracking=[
            (values.option(f"track_metric_{i}"), values.text(f"track_level_{i}"))
            for i in range(1, MAX_TRACKING + 1)
        ],
        commitments=values.text("commitments"),
        rhythm=values.option("rhythm"),
        start=values.day("start"),
        end=values.day("end"),
        discussed="yes" in values.options("discussed"),
    )
    running = f"{rep.name} has a PIP running."
    with context["sessions"]() as session:
        if active_pip(session, actor.workspace_id, rep.id) is not None:
            ack(response_action="errors", errors={"goal_metric_1": running})
            return
        try:
            report = services.gap_engine(actor.workspace_id).report(rep.email)
        except GapError as exc:
            ack(response_action="errors", errors={"goal_metric_1": str(exc)[:150]})
            return
        recent = recent_plan_metrics(
            session, actor.workspace_id, rep.id, history_since(coaching_month(actor.zone))
        )
    locale = context["locales"].of(client, actor.workspace_id, actor.slack_user_id)
    parsed = parse_pip_form(entry, report, rep.name, recent, _today(actor), locale)
    if isinstance(parsed, dict):
        ack(response_action="errors", errors=parsed)
        return
    # Valid: answer Slack now (it waits 3 seconds), then save and announce.
    ack()
    with context["sessions"]() as session:
        try:
            pip = create_pip(
                session,
                workspace_id=actor.workspace_id,
                rep_id=rep.id,
                author_id=actor.person_id,
                start_date=parsed.start,
                end_date=parsed.end,
                rhythm_days=parsed.rhythm_days,
                goals=parsed.goals,
                tracking=parsed.tracking,
                commitments=parsed.commitments,
                discussed=parsed.discussed,
            )
        except PipRunning:  # saved meanwhile, by another submission
            try:
                client.chat_postMessage(
                    channel=actor.slack_user_id, text=f"Not saved: {escape(running)}"
                )
            except SlackApiError as exc:
                log.warning("PIP not saved, and the DM saying so failed: %s", exc)
            return
        session.commit()
        view = _view(context, pip)
        pip_id = pip.id
    for role, user in (("author", actor.slack_user_id), ("rep", rep.slack_user_id)):
        if not user:
            continue
        text, blocks = pip_message(rep.name, actor.name, view, for_rep=role == "rep")
        try:
            channel = client.conversations_open(users=user)["channel"]["id"]
            posted = client.chat_postMessage(channel=channel, text=text, blocks=blocks)
        except SlackApiError as exc:  # the PIP is saved; a DM that can't go is only logged
            log.warning("PIP DM failed: %s", exc.response.get("error"))
            continue
        with context["sessions"]() as session:
            stored = session.get(Pip, pip_id)
            if stored is not None:
                set_announced(session, stored, role, channel, posted["ts"])
                session.commit()


def _threads(pip: Pip) -> list[tuple[str, str]]:
    """The PIP's threads: under the author's DM and under the rep's."""
    return [
        (channel, ts)
        for channel, ts in ((pip.dm_channel, pip.dm_ts), (pip.rep_dm_channel, pip.rep_dm_ts))
        if channel and ts
    ]


def _post(client: WebClient, threads: list[tuple[str, str]], text: str) -> None:
    for channel, ts in threads:
        try:
            client.chat_postMessage(channel=channel, thread_ts=ts, text=text)
        except SlackApiError as exc:
            log.warning("PIP thread reply failed: %s", exc.response.get("error"))


def acknowledge_button(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond
) -> None:
    """The rep's Acknowledge button: recorded once, shown on both DMs and in the thread."""
    ack()
    actor: Actor = context["actor"]
    with context["sessions"]() as session:
        pip = get_pip(session, actor.workspace_id, _ref(body))
        if pip is None or pip.rep_id != actor.person_id:
            respond(text="Only the rep can acknowledge their PIP.", replace_original=False)
            return
        if not acknowledge(session, pip, actor.person_id):
            return
        session.commit()
        view, threads = _view(context, pip), _threads(pip)
        _refresh(client, context, pip, actor.name)
    when = view["acknowledged_at"]
    _post(client, threads[:1], f"Acknowledged by {escape(actor.name)} on {when:%b %-d, %Y}.")


def _refresh(client: WebClient, context: BoltContext, pip: Pip, rep_name: str) -> None:
    """Rewrite both copies of the PIP's DM as it stands now (acknowledged, extended, over)."""
    view = _view(context, pip)
    author = context["services"].directory(pip.workspace_id).get(pip.author_id or -1)
    author_name = author.name if author else "Their manager"
    for channel, ts, for_rep in (
        (pip.rep_dm_channel, pip.rep_dm_ts, True),
        (pip.dm_channel, pip.dm_ts, False),
    ):
        if channel and ts:
            text, blocks = pip_message(rep_name, author_name, view, for_rep=for_rep)
            try:
                client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
            except SlackApiError as exc:
                log.warning("PIP message update failed: %s", exc.response.get("error"))


def _runnable(context: BoltContext, session: Session, pip_id: int) -> tuple[Pip, Member] | str:
    """The PIP and its rep, when the actor may run it and it is running; else why not."""
    actor: Actor = context["actor"]
    pip = get_pip(session, actor.workspace_id, pip_id)
    rep = context["services"].directory(actor.workspace_id).get(pip.rep_id) if pip else None
    if pip is None or not _may(context, rep, run=True):
        return NOT_YOURS
    if pip.status != "active":
        return OVER
    assert rep is not None
    return pip, rep


def _ref(body: dict[str, Any]) -> int:
    value = str(body["actions"][0].get("value") or "")
    return int(value) if value.isdigit() and len(value) < 10 else 0


def _open_for(
    body: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    title: str,
    build: Callable[[Session, Pip, Member], dict[str, Any]],
) -> None:
    """A PIP button's modal: opened at once on the trigger, then filled by `build` (or says why
    the actor can't act on that PIP)."""
    opened = client.views_open(trigger_id=body["trigger_id"], view=loading_modal(title))
    with context["sessions"]() as session:
        found = _runnable(context, session, _ref(body))
        view = message_modal(title, found) if isinstance(found, str) else build(session, *found)
    client.views_update(view_id=opened["view"]["id"], view=view)


def open_checkin(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """ "Log check-in": the modal, with each tracking metric's latest value against its level."""
    ack()
    actor: Actor = context["actor"]
    services: Services = context["services"]
    locale = context["locales"].of(client, actor.workspace_id, actor.slack_user_id)

    def build(session: Session, pip: Pip, rep: Member) -> dict[str, Any]:
        latest = latest_levels(session, services.catalogue, pip)
        tracking = []
        for item in _view(context, pip)["tracking"]:
            metric, value = item["metric"], latest.get(item["metric"]["key"])
            typed = None if value is None else format_typed(value, unit_of(metric), locale)
            tracking.append(
                {
                    "label": metric["label"],
                    "level_text": format_value(metric, item["level"]),
                    "latest_text": typed,
                }
            )
        return pip_checkin_modal(
            pip_id=pip.id,
            rep_name=rep.name,
            today=_today(actor).isoformat(),
            tracking=tracking,
            commitments=list(pip.commitments),
        )

    _open_for(body, client, context, "PIP check-in", build)


def submit_checkin(ack: Ack, client: WebClient, context: BoltContext) -> None:
    """Validate inline, store once per modal, and reply in the PIP's threads."""
    actor: Actor = context["actor"]
    form: Form = context["form"]
    meta: PipRef = form.meta
    values = form.values
    locale = context["locales"].of(client, actor.workspace_id, actor.slack_user_id)
    with context["sessions"]() as session:
        found = _runnable(context, session, meta.pip)
        if isinstance(found, str):
            ack(response_action="errors", errors={"date": found})
            return
        pip, _ = found
        view = _view(context, pip)
        errors: dict[str, str] = {}
        on_date = values.day("date")
        if on_date is None or not pip.start_date <= on_date <= pip.end_date:
            errors["date"] = "Pick a day between the PIP's start and end."
        readings: dict[str, float | None] = {}
        rows = []
        for i, item in enumerate(view["tracking"], 1):
            metric, typed = item["metric"], values.text(f"track_value_{i}")
            value = None
            if typed:
                try:
                    value = parse_typed(typed, unit_of(metric), locale)
                except TypedNumberError as exc:
                    errors[f"track_value_{i}"] = f"{exc} Or leave it empty."[:150]
            readings[metric["key"]] = value
            rows.append((metric, value, item["level"]))
        offered = {str(i) for i in range(len(pip.commitments))}
        ticked = values.options("kept")
        if any(v not in offered for v in ticked):
            errors["kept"] = "Tick the PIP's own commitments."
        if errors:
            ack(response_action="errors", errors=errors)
            return
        assert on_date is not None
        kept = [c for i, c in enumerate(pip.commitments) if str(i) in ticked]
        missed = [c for i, c in enumerate(pip.commitments) if str(i) not in ticked]
        _, created = add_pip_checkin(
            session,
            pip=pip,
            author_id=actor.person_id,
            on_date=on_date,
            values=readings,
            kept=kept,
            missed=missed,
            notes=values.text("notes"),
            request_key=f"{actor.workspace_id}:pip:{form.view_id}",
        )
        session.commit()
        threads = _threads(pip)
    ack()
    if created:
        reply = pip_checkin_reply(
            on_date=on_date,
            author=actor.name,
            rows=rows,
            kept=kept,
            missed=missed,
            notes=values.text("notes"),
        )
        _post(client, threads, reply)


def open_decision(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """ "Record decision": the goals judged now, and completed / extended / ended."""
    ack()
    services: Services = context["services"]
    threshold = services.settings.coach_flag_threshold

    def build(session: Session, pip: Pip, rep: Member) -> dict[str, Any]:
        goals = judged_goals(session, services.catalogue, pip, threshold)
        return pip_decision_modal(pip_id=pip.id, rep_name=rep.name, end=pip.end_date, goals=goals)

    _open_for(body, client, context, "PIP decision", build)


def submit_decision(ack: Ack, client: WebClient, context: BoltContext) -> None:
    """Store the verdicts and the decision (an extension needs a later end date)."""
    actor: Actor = context["actor"]
    services: Services = context["services"]
    form: Form = context["form"]
    meta: PipRef = form.meta
    decision = form.values.option("decision")
    new_end = form.values.day("new_end")
    with context["sessions"]() as session:
        found = _runnable(context, session, meta.pip)
        if isinstance(found, str):
            ack(response_action="errors", errors={"decision": found})
            return
        pip, rep = found
        latest = pip.end_date + timedelta(days=LONGEST_DAYS)
        if decision not in DECISIONS:
            ack(response_action="errors", errors={"decision": "Completed, extended or ended?"})
            return
        if decision == "extended" and (new_end is None or not pip.end_date < new_end <= latest):
            ack(
                response_action="errors",
                errors={
                    "new_end": "Pick a new end date after the current one, "
                    f"within {LONGEST_DAYS} days."
                },
            )
            return
        assert decision is not None
        verdicts = judge_pip(
            session, services.catalogue, pip, services.settings.coach_flag_threshold
        )
        decide(
            session,
            pip,
            actor.person_id,
            decision,
            verdicts,
            new_end if decision == "extended" else None,
            form.values.text("note"),
        )
        session.commit()
        ack()
        threads, end = _threads(pip), pip.end_date
        _refresh(client, context, pip, rep.name)
    _post(client, threads, pip_decided(rep.name, actor.name, decision, end))
