"""The coaching archive: each plan's outcome once its month's data is in, what has worked for a
gap in this org, who overcame it lately, and the export for sales ops."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from analytics.catalogue import Catalogue
from analytics.gaps import GapEngine, GapError
from analytics.models import GapConfig
from analytics.outcomes import (
    SUCCESS,
    VERDICTS,
    ActionRecord,
    WorkedAction,
    judge_plan,
    months_judged,
    persistent,
    what_worked,
)
from bot.coaching.gaps import load_gap_engine
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
    """Plan months whose outcome a change to these data months can move: a plan is judged on up
    to `window` months from its own on (so plans up to `window - 1` months before a data month),
    against the expectation of the window ending the month before it (plans up to `window`
    months after), with the peers of the window ending the last month judged (in between)."""
    return sorted({shift_month(m, i) for m in changed for i in range(1 - window, window + 1)})


def update_outcomes(
    db: Engine,
    workspace_id: str,
    catalogue: Catalogue,
    config: GapConfig,
    months: list[str] | None,
) -> int:
    """Judge every plan of `months` (None: of every month) on the numbers so far, and return how
    many focus metrics were judged. A plan is judged on the rep's data from its month on, up to
    `window_months` months as they arrive, against the expectation without coaching (the
    engine's estimate the month before): `analytics.outcomes`. Months without numbers wait until
    they arrive, and so do months whose numbers are month to date (a `through` date): a plan is
    judged on full months only. Each month is written in its own short transaction, in place.
    """
    plan_months = _plan_months(db, workspace_id, months)
    if not plan_months:
        return 0
    gaps = load_gap_engine(db, workspace_id, catalogue, config)
    known = {m.key for m in catalogue.metrics}
    with session_scope(db) as session:
        people = select(Person.id, Person.email).where(Person.workspace_id == workspace_id)
        emails = {pid: email for pid, email in session.execute(people)}
    judged = 0
    for month in plan_months:
        span = months_judged(gaps, month, config.window_months)
        if span is None:
            continue  # no full month of numbers from the plan's month on yet
        for report_month in (shift_month(month, -1), span[1]):
            with suppress(GapError):  # every rep at once: cheaper than one by one
                gaps.warm(report_month)
        for attempt in (1, 2):
            try:
                with session_scope(db) as session:
                    judged += _judge_month(session, workspace_id, month, emails, known, gaps)
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
    known: set[str],
    gaps: GapEngine,
) -> int:
    judged = 0
    plans = plans_of_months(session, workspace_id, [month])
    existing = outcomes_by_focus(session, [p.id for p in plans])
    for plan in plans:
        email = emails.get(plan.rep_id, "")
        for focus in plan.focus:
            if focus.metric_key not in known:
                continue  # a metric the catalogue no longer has
            found = judge_plan(gaps, email, month, focus.metric_key, focus.target)
            if found is None:
                continue
            figures = OutcomeFigures(
                judged_from=found.first,
                judged_to=found.last,
                value=found.value,
                numerator=found.numerator,
                denominator=found.denominator,
                expectation=found.expectation,
                estimate=found.estimate,
                peer_median_now=found.peer_median,
                material_line=found.material_line,
            )
            save_outcome(session, plan, focus, existing.get(focus.id), figures, found.outcome)
            judged += 1
    return judged


# (rep email, metric key) → whether the rep is flagged on that metric in the latest month.
FlaggedNow = Callable[[str, str], bool]


def flagged_now(engine: GapEngine) -> FlaggedNow:
    """`FlaggedNow` from a gap engine's latest month (a rep without numbers then is not)."""

    def flagged(email: str, key: str) -> bool:
        try:
            report = engine.report(email)
        except GapError:
            return False
        return any(m.key == key and m.flagged for m in report.metrics)

    return flagged


@dataclass(frozen=True)
class Lessons:
    """What the org has learnt about one gap: actions of plans that closed it or credibly
    improved on it, and reps who did lately and are past it now."""

    worked: list[WorkedAction]
    overcame: list[tuple[str, str, str]]  # (rep name, month, verdict): no figures

    def as_dict(self) -> dict[str, Any]:
        """For the pure Block Kit builders."""
        return {
            "worked": [
                {"action": w.action, "closed": w.closed, "improved": w.improved, "used": w.used}
                for w in self.worked
            ],
            "overcame": [{"name": n, "month": m, "verdict": v} for n, m, v in self.overcame],
        }


def lessons_for(
    session: Session,
    workspace_id: str,
    metric_keys: list[str],
    rep_id: int,
    month: str,
    flagged: FlaggedNow,
) -> dict[str, dict[str, Any]]:
    """For each metric: the actions of plans that closed it or credibly improved on it in this
    org over the last two years (most successful first, with how often, of the plans judged
    with data), and the active reps other than `rep_id` whose plan on it closed or credibly
    improved in the last six months and who are not `flagged` on it now, latest first."""
    records = lesson_records(session, workspace_id, list(metric_keys), month)
    return lessons_from(records, metric_keys, rep_id, month, flagged)


def lesson_records(
    session: Session, workspace_id: str, metric_keys: list[str], month: str
) -> list[MetricRecord]:
    """The judged plans `lessons_from` needs for `month`: two years of them, on these metrics."""
    return metric_history(session, workspace_id, metric_keys, shift_month(month, -WORKED_MONTHS))


def lessons_from(
    records: list[MetricRecord],
    metric_keys: list[str],
    rep_id: int,
    month: str,
    flagged: FlaggedNow,
) -> dict[str, dict[str, Any]]:
    """`lessons_for` on records already read (they may cover more metrics than asked)."""
    since = shift_month(month, -RECENT_MONTHS)
    found = {}
    for key in dict.fromkeys(metric_keys):
        history = [r for r in records if r.metric_key == key and r.verdict != "not enough data"]
        worked = what_worked(
            ActionRecord(action, r.verdict) for r in history for action in r.actions
        )
        latest: dict[int, MetricRecord] = {}
        for r in history:  # oldest first: a rep's latest success wins
            if r.verdict in SUCCESS and r.rep_active and r.rep_id != rep_id and r.month >= since:
                latest[r.rep_id] = r
        newest_first = sorted(latest.values(), key=lambda r: r.month, reverse=True)
        past_it = (r for r in newest_first if not flagged(r.rep_email, key))
        overcame = [(r.rep_name, r.month, r.verdict) for r in islice(past_it, 3)]
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
    """A focus metric with the figures it was chosen on and, once judged, its outcome with what
    it was judged on: the months, the rep's value over them, the expectation without coaching,
    the peers' median and material line on the window ending the last month judged."""

    def judged(name: str) -> Any:
        return getattr(outcome, name) if outcome is not None else None

    return {
        "metric": focus.metric_key,
        "baseline": focus.baseline,
        "target": focus.target,
        "peer_median_then": focus.peer_median,
        "value": judged("value"),
        "estimate": judged("estimate"),
        "peer_median_now": judged("peer_median_now"),
        "verdict": judged("verdict"),
        "judged_from": judged("judged_from"),
        "judged_to": judged("judged_to"),
        "expectation": judged("expectation"),
        "material_line": judged("material_line"),
        "target_met": judged("target_met"),
        "p_better": judged("p_better"),
    }


def _plan_verdict(verdicts: list[str | None]) -> str | None:
    """A plan closed when every focus metric did; otherwise its least good verdict."""
    if not verdicts or any(v is None for v in verdicts):
        return None
    return max(verdicts, key=lambda v: VERDICTS.index(v))  # type: ignore[arg-type]
