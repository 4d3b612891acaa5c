"""The coaching archive: each plan's outcome once its month's data is in, what has worked for a
gap in this org, who overcame it lately, and the export for sales ops."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from analytics.catalogue import Catalogue
from analytics.gaps import GapError
from analytics.models import GapConfig
from analytics.outcomes import ActionRecord, WorkedAction, judge, persistent, what_worked
from bot.cadence.schedule import shift_month
from bot.gaps import load_gap_engine
from storage.db import session_scope
from storage.models import Person, Plan, PlanFocus, PlanOutcome
from storage.outcomes import (
    OutcomeInput,
    metric_history,
    outcomes_by_focus,
    plans_of_months,
    save_outcome,
)

RECENT_MONTHS = 6


def affected_months(changed: Iterable[str], window: int) -> list[str]:
    """Plan months whose outcome a change to these data months can move: each month's data is in
    the windows ending that month and the `window - 1` after it."""
    return sorted({shift_month(m, i) for m in changed for i in range(window)})


def update_outcomes(
    db: Engine, workspace_id: str, catalogue: Catalogue, config: GapConfig, months: list[str]
) -> int:
    """Judge every plan of `months` on its month's data (months without data are left until it
    arrives); returns how many focus metrics were judged. Recomputes in place."""
    if not months:
        return 0
    engine = load_gap_engine(db, workspace_id, catalogue, config)
    models = {m.key: m for m in catalogue.metrics}
    judged = 0
    with session_scope(db) as session:
        people = select(Person.id, Person.email).where(Person.workspace_id == workspace_id)
        emails = {pid: email for pid, email in session.execute(people)}
        by_month: dict[str, list[Plan]] = {}
        for plan in plans_of_months(session, workspace_id, months):
            by_month.setdefault(plan.month, []).append(plan)
        for month, plans in sorted(by_month.items()):
            try:
                reports = {r.rep: r for r in engine.reports(month)}
            except GapError:
                continue  # no data for that month yet
            for plan in plans:
                report = reports.get(emails.get(plan.rep_id, ""))
                metrics = {m.key: m for m in report.metrics} if report is not None else {}
                for focus in plan.focus:
                    metric, spec = metrics.get(focus.metric_key), models.get(focus.metric_key)
                    if spec is None:
                        continue  # a metric the catalogue no longer has
                    outcome = judge(
                        model=spec.model,
                        direction=spec.direction,
                        baseline=focus.baseline,
                        value=metric.value if metric else None,
                        estimate=metric.estimate if metric else None,
                        numerator=metric.numerator if metric else None,
                        denominator=metric.denominator if metric else None,
                        peer_median=metric.peer_median if metric else None,
                        target=focus.target,
                        threshold=config.flag_threshold,
                    )
                    save_outcome(
                        session,
                        plan,
                        focus,
                        OutcomeInput(
                            value=metric.value if metric else None,
                            estimate=metric.estimate if metric else None,
                            numerator=metric.numerator if metric else None,
                            denominator=metric.denominator if metric else None,
                            peer_median_now=metric.peer_median if metric else None,
                            verdict=outcome.verdict,
                            p_better=outcome.p_better,
                        ),
                    )
                    judged += 1
    return judged


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
    """For each metric: the actions of plans that closed it in this org (most successful first)
    and the active reps other than `rep_id` who closed it in the last six months, latest first."""
    since = shift_month(month, -RECENT_MONTHS)
    found = {}
    for key in dict.fromkeys(metric_keys):
        history = [
            r for r in metric_history(session, workspace_id, key) if r.verdict != "not enough data"
        ]
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


def archive_view(session: Session, rep: Person, limit: int = 12) -> dict[str, Any]:
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
        closed = {f["metric"] for f in focus if f["verdict"] == "closed"}
        history.append(([f.metric_key for f in plan.focus], closed))
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
    order = ["closed", "improved", "no change", "worse", "not enough data"]
    return max(verdicts, key=lambda v: order.index(v))  # type: ignore[arg-type]
