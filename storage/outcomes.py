"""Plan outcomes: stored per plan focus, recomputed in place, read back for the archive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from storage.models import Person, Plan, PlanFocus, PlanOutcome


@dataclass(frozen=True)
class OutcomeFigures:
    """The figures one focus metric is judged on: the rep's over the months judged
    (`judged_from` to `judged_to`), the expectation without coaching, the peers'."""

    judged_from: str
    judged_to: str
    value: float | None
    numerator: float | None
    denominator: float | None
    expectation: float | None
    estimate: float | None
    peer_median_now: float | None
    material_line: float | None


class Verdict(Protocol):
    """A judgement: its word, the probability behind it, and whether the target was met."""

    verdict: str
    p_better: float | None
    target_met: bool | None


def plans_of_months(session: Session, workspace_id: str, months: list[str]) -> list[Plan]:
    """The plans of these months, with their focus metrics loaded."""
    return list(
        session.scalars(
            select(Plan)
            .options(selectinload(Plan.focus))
            .where(Plan.workspace_id == workspace_id, Plan.month.in_(months))
        )
    )


def save_outcome(
    session: Session,
    plan: Plan,
    focus: PlanFocus,
    outcome: PlanOutcome | None,
    result: OutcomeFigures,
    judged: Verdict,
) -> None:
    """Write the focus metric's outcome over `outcome`, the one computed before (if any)."""
    if outcome is None:
        outcome = PlanOutcome(workspace_id=plan.workspace_id, plan_id=plan.id, focus_id=focus.id)
        session.add(outcome)
    outcome.metric_key, outcome.month = focus.metric_key, plan.month
    outcome.baseline, outcome.target = focus.baseline, focus.target
    outcome.peer_median_then = focus.peer_median
    outcome.value, outcome.estimate = result.value, result.estimate
    outcome.numerator, outcome.denominator = result.numerator, result.denominator
    outcome.peer_median_now = result.peer_median_now
    outcome.expectation, outcome.material_line = result.expectation, result.material_line
    outcome.judged_from, outcome.judged_to = result.judged_from, result.judged_to
    outcome.verdict, outcome.p_better = judged.verdict, judged.p_better
    outcome.target_met = judged.target_met


def outcomes_by_focus(session: Session, plan_ids: list[int]) -> dict[int, PlanOutcome]:
    """The outcomes of these plans, by plan focus id."""
    if not plan_ids:
        return {}
    rows = session.scalars(select(PlanOutcome).where(PlanOutcome.plan_id.in_(plan_ids)))
    return {row.focus_id: row for row in rows}


@dataclass(frozen=True)
class MetricRecord:
    """One judged plan on one metric: which, whose, when, what it did, and how it ended."""

    metric_key: str
    rep_id: int
    rep_email: str
    rep_name: str
    rep_active: bool
    month: str
    actions: list[str]
    verdict: str


def metric_history(
    session: Session, workspace_id: str, metric_keys: list[str], since: str
) -> list[MetricRecord]:
    """The workspace's judged plans on these metrics from month `since` on, oldest first (one
    query, on the (workspace, metric) index)."""
    rows = session.execute(
        select(
            PlanOutcome.metric_key,
            Person.id,
            Person.email,
            Person.name,
            Person.active,
            Plan.month,
            Plan.actions,
            PlanOutcome.verdict,
        )
        .join(Plan, Plan.id == PlanOutcome.plan_id)
        .join(Person, Person.id == Plan.rep_id)
        .where(
            PlanOutcome.workspace_id == workspace_id,
            PlanOutcome.metric_key.in_(metric_keys),
            PlanOutcome.month >= since,
        )
        .order_by(Plan.month)
    )
    return [MetricRecord(*row) for row in rows]


def unjudged_months(session: Session, workspace_id: str) -> list[str]:
    """Months with a plan focus metric that has no outcome yet, or one judged by the rules
    before the months judged were recorded (migration 0006)."""
    return list(
        session.scalars(
            select(Plan.month)
            .distinct()
            .join(PlanFocus, PlanFocus.plan_id == Plan.id)
            .outerjoin(PlanOutcome, PlanOutcome.focus_id == PlanFocus.id)
            .where(
                Plan.workspace_id == workspace_id,
                or_(PlanOutcome.id.is_(None), PlanOutcome.judged_from.is_(None)),
            )
            .order_by(Plan.month)
        )
    )
