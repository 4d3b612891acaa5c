"""The coaching archive: each plan's outcome once its month's data is in, what has worked for a
gap in this org, who overcame it lately, and the export for sales ops."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from analytics.catalogue import Catalogue, Metric
from analytics.gaps import GapEngine, GapError
from analytics.models import GapConfig, GapReport, MetricGap
from analytics.outcomes import (
    VERDICTS,
    ActionRecord,
    WorkedAction,
    judge,
    persistent,
    what_worked,
)
from bot.coaching.gaps import load_gap_engines
from bot.coaching.months import shift_month
from storage.db import session_scope
from storage.directory import Member
from storage.models import Person, Plan, PlanFocus, PlanOutcome
from storage.outcomes import (
    MetricRecord,
    OutcomeFigures,
    metric_history,
    outcomes_by_focus,
    plans_of_months,
    save_outcome,
    unjudged_months,
)

RECENT_MONTHS = 6  # who overcame a gap: closed it this recently
WORKED_MONTHS = 24  # what has worked: plans this recent


def months_to_judge(
    db: Engine, workspace_id: str, changed: Iterable[str], window: int
) -> list[str]:
    """After an import: the plan months the changed data months reach, and every month with a
    plan not judged yet (saved after its month's import, or left by an interrupted run)."""
    with session_scope(db) as session:
        waiting = unjudged_months(session, workspace_id)
    return sorted(set(affected_months(changed, window)) | set(waiting))


def affected_months(changed: Iterable[str], window: int) -> list[str]:
    """Plan months whose outcome a change to these data months can move: each month's data is in
    the windows ending that month and the `window - 1` after it."""
    return sorted({shift_month(m, i) for m in changed for i in range(window)})


def update_outcomes(
    db: Engine,
    workspace_id: str,
    catalogue: Catalogue,
    config: GapConfig,
    months: list[str] | None,
) -> int:
    """Judge every plan of `months` (None: of every month) on the numbers for its month, and
    return how many focus metrics were judged. Months without numbers wait until they arrive,
    and so do months whose numbers are month to date (a `through` date): a plan is judged on its
    full month only. Each month is written in its own short transaction, in place.

    Closing is judged as gaps are found — the rep's shrunk estimate over the window ending in the
    plan's month against the peer median — while better or worse than the baseline is judged on
    the plan's month alone (the baseline's window would otherwise be counted twice), and a rep
    with no numbers in the plan's month has not enough data.
    """
    plan_months = _plan_months(db, workspace_id, months)
    if not plan_months:
        return 0
    window, alone = load_gap_engines(
        db, workspace_id, catalogue, config, config.model_copy(update={"window_months": 1})
    )
    models = {m.key: m for m in catalogue.metrics}
    with session_scope(db) as session:
        people = select(Person.id, Person.email).where(Person.workspace_id == workspace_id)
        emails = {pid: email for pid, email in session.execute(people)}
    judged = 0
    for month in plan_months:
        if window.through(month) is not None:
            continue  # month to date: judged once the full month is imported
        try:
            pooled = {r.rep: r for r in window.reports(month)}
            single = {r.rep: r for r in alone.reports(month)}
        except GapError:
            continue  # no numbers for that month yet
        for attempt in (1, 2):
            try:
                with session_scope(db) as session:
                    judged += _judge_month(
                        session,
                        workspace_id,
                        month,
                        emails,
                        models,
                        config,
                        (window, pooled),
                        (alone, single),
                    )
                break
            except IntegrityError:  # another import judged the same plan at the same moment
                if attempt == 2:
                    raise
    return judged


def _plan_months(db: Engine, workspace_id: str, months: list[str] | None) -> list[str]:
    query = select(Plan.month).distinct().where(Plan.workspace_id == workspace_id)
    if months is not None:
        query = query.where(Plan.month.in_(months))
    with session_scope(db) as session:
        return sorted(session.scalars(query))


def _judge_month(
    session: Session,
    workspace_id: str,
    month: str,
    emails: dict[int, str],
    models: dict[str, Metric],
    config: GapConfig,
    pooled: tuple[GapEngine, dict[str, GapReport]],
    single: tuple[GapEngine, dict[str, GapReport]],
) -> int:
    judged = 0
    plans = plans_of_months(session, workspace_id, [month])
    existing = outcomes_by_focus(session, [p.id for p in plans])
    for plan in plans:
        email = emails.get(plan.rep_id, "")
        window = _metrics(_report(*pooled, email, month))
        alone = _metrics(_report(*single, email, month))
        for focus in plan.focus:
            spec = models.get(focus.metric_key)
            if spec is None:
                continue  # a metric the catalogue no longer has
            now, month_only = window.get(focus.metric_key), alone.get(focus.metric_key)
            figures = OutcomeFigures(
                value=now.value if now and month_only else None,
                estimate=now.estimate if now else None,
                numerator=month_only.numerator if month_only else None,
                denominator=month_only.denominator if month_only else None,
                peer_median_now=now.peer_median if now else None,
            )
            outcome = judge(
                model=spec.model,
                direction=spec.direction,
                baseline=focus.baseline,
                value=figures.value,
                estimate=figures.estimate,
                numerator=figures.numerator,
                denominator=figures.denominator,
                peer_median=figures.peer_median_now,
                target=focus.target,
                threshold=config.flag_threshold,
            )
            save_outcome(session, plan, focus, existing.get(focus.id), figures, outcome)
            judged += 1
    return judged


def _metrics(report: GapReport | None) -> dict[str, MetricGap]:
    return {m.key: m for m in report.metrics} if report is not None else {}


def _report(
    engine: GapEngine, reports: dict[str, GapReport], email: str, month: str
) -> GapReport | None:
    """The rep's report for the month; one `reports()` leaves out (a rep who left since) is
    asked for by name, so their month is still judged."""
    if email in reports:
        return reports[email]
    try:
        return engine.report(email, month)
    except GapError:
        return None


@dataclass(frozen=True)
class Lessons:
    """What the org has learnt about one gap: actions that closed it, reps who did lately."""

    worked: list[WorkedAction]
    overcame: list[tuple[str, str]]  # (rep name, month): names and the fact only, no figures

    def as_dict(self) -> dict[str, Any]:
        """For the pure Block Kit builders."""
        return {
            "worked": [
                {"action": w.action, "closed": w.closed, "used": w.used} for w in self.worked
            ],
            "overcame": [{"name": n, "month": m} for n, m in self.overcame],
        }


def lessons_for(
    session: Session, workspace_id: str, metric_keys: list[str], rep_id: int, month: str
) -> dict[str, dict[str, Any]]:
    """For each metric: the actions of plans that closed it in this org over the last two years
    (most successful first) and the active reps other than `rep_id` who closed it in the last six
    months, latest first."""
    records = lesson_records(session, workspace_id, list(metric_keys), month)
    return lessons_from(records, metric_keys, rep_id, month)


def lesson_records(
    session: Session, workspace_id: str, metric_keys: list[str], month: str
) -> list[MetricRecord]:
    """The judged plans `lessons_from` needs for `month`: two years of them, on these metrics."""
    return metric_history(session, workspace_id, metric_keys, shift_month(month, -WORKED_MONTHS))


def lessons_from(
    records: list[MetricRecord], metric_keys: list[str], rep_id: int, month: str
) -> dict[str, dict[str, Any]]:
    """`lessons_for` on records already read (they may cover more metrics than asked)."""
    since = shift_month(month, -RECENT_MONTHS)
    found = {}
    for key in dict.fromkeys(metric_keys):
        history = [r for r in records if r.metric_key == key and r.verdict != "not enough data"]
        worked = what_worked(
            ActionRecord(action, r.verdict == "closed") for r in history for action in r.actions
        )
        latest: dict[int, tuple[str, str]] = {}
        for r in history:
            if r.verdict == "closed" and r.rep_active and r.rep_id != rep_id and r.month >= since:
                latest[r.rep_id] = (r.rep_name, r.month)
        overcame = sorted(latest.values(), key=lambda item: item[1], reverse=True)[:3]
        if worked or overcame:
            found[key] = Lessons(worked, overcame).as_dict()
    return found


def archive_view(session: Session, rep: Person | Member, limit: int = 12) -> dict[str, Any]:
    """A rep's plans newest first, each focus metric with its outcome, and the deficiencies
    coached three months or more without closing."""
    plans = list(
        session.scalars(
            select(Plan)
            .options(selectinload(Plan.focus), selectinload(Plan.checkins))
            .where(Plan.workspace_id == rep.workspace_id, Plan.rep_id == rep.id)
            .order_by(Plan.month.desc())
            .limit(limit)
        )
    )
    outcomes = outcomes_by_focus(session, [p.id for p in plans])
    history = []
    rows = []
    for plan in plans:
        focus = [_focus_row(f, outcomes.get(f.id)) for f in plan.focus]
        if focus and all(f["verdict"] for f in focus):  # judged plans only
            closed = {f["metric"] for f in focus if f["verdict"] == "closed"}
            history.append((plan.month, [f["metric"] for f in focus], closed))
        rows.append(
            {
                "month": plan.month,
                "why": plan.why,
                "actions": list(plan.actions),
                "focus": focus,
                "checkins": [f"{c.on_date} {c.status.replace('_', ' ')}" for c in plan.checkins],
            }
        )
    return {"plans": rows, "persistent": persistent(list(reversed(history)))}


def export_rows(session: Session, workspace_id: str, since: str | None) -> list[dict[str, Any]]:
    """One row per plan, oldest first, with its focus metrics' outcomes (for sales ops)."""
    query = (
        select(Plan)
        .options(selectinload(Plan.focus), selectinload(Plan.checkins))
        .where(Plan.workspace_id == workspace_id)
        .order_by(Plan.month, Plan.id)
    )
    if since:
        query = query.where(Plan.month >= since)
    plans = list(session.scalars(query))
    people = {
        p.id: p for p in session.scalars(select(Person).where(Person.workspace_id == workspace_id))
    }
    outcomes = outcomes_by_focus(session, [p.id for p in plans])
    rows = []
    for plan in plans:
        rep = people[plan.rep_id]
        manager = people.get(rep.manager_id or -1)
        author = people.get(plan.author_id or -1)
        verdicts = [outcomes[f.id].verdict if f.id in outcomes else None for f in plan.focus]
        rows.append(
            {
                "month": plan.month,
                "rep_email": rep.email,
                "rep_name": rep.name,
                "manager_email": manager.email if manager else None,
                "author_email": author.email if author else None,
                "why": plan.why,
                "actions": list(plan.actions),
                "checkins": len(plan.checkins),
                "last_checkin_status": plan.checkins[-1].status if plan.checkins else None,
                "outcome": _plan_verdict(verdicts),
                "focus": [_focus_row(f, outcomes.get(f.id)) for f in plan.focus],
            }
        )
    return rows


def _focus_row(focus: PlanFocus, outcome: PlanOutcome | None) -> dict[str, Any]:
    """A focus metric with the figures it was chosen on and, once judged, its outcome."""
    return {
        "metric": focus.metric_key,
        "baseline": focus.baseline,
        "target": focus.target,
        "peer_median_then": focus.peer_median,
        "value": outcome.value if outcome else None,
        "estimate": outcome.estimate if outcome else None,
        "peer_median_now": outcome.peer_median_now if outcome else None,
        "verdict": outcome.verdict if outcome else None,
    }


def _plan_verdict(verdicts: list[str | None]) -> str | None:
    """A plan closed when every focus metric did; otherwise its least good verdict."""
    if not verdicts or any(v is None for v in verdicts):
        return None
    return max(verdicts, key=lambda v: VERDICTS.index(v))  # type: ignore[arg-type]
