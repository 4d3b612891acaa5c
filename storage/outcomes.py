"""Plan outcomes: stored per plan focus, recomputed in place, read back for the archive."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from storage.models import Person, Plan, PlanFocus, PlanOutcome


@dataclass(frozen=True)
class OutcomeInput:
    """The figures one focus metric is judged on, and the verdict."""

    value: float | None
    estimate: float | None
    numerator: float | None
    denominator: float | None
    peer_median_now: float | None
    verdict: str
    p_better: float | None


def plans_of_months(session: Session, workspace_id: str, months: list[str]) -> list[Plan]:
    """The plans of these months, with their focus and outcomes' owners loaded."""
    return list(
        session.scalars(
            select(Plan)
            .options(selectinload(Plan.focus))
            .where(Plan.workspace_id == workspace_id, Plan.month.in_(months))
        )
    )


def save_outcome(session: Session, plan: Plan, focus: PlanFocus, result: OutcomeInput) -> None:
    """Write the focus metric's outcome, replacing the one computed before."""
    outcome = session.scalar(select(PlanOutcome).where(PlanOutcome.focus_id == focus.id))
    if outcome is None:
        outcome = PlanOutcome(workspace_id=plan.workspace_id, plan_id=plan.id, focus_id=focus.id)
        session.add(outcome)
    outcome.metric_key, outcome.month = focus.metric_key, plan.month
    outcome.baseline, outcome.target = focus.baseline, focus.target
    outcome.peer_median_then = focus.peer_median
    outcome.value, outcome.estimate = result.value, result.estimate
    outcome.numerator, outcome.denominator = result.numerator, result.denominator
    outcome.peer_median_now = result.peer_median_now
    outcome.verdict, outcome.p_better = result.verdict, result.p_better


def outcomes_by_focus(session: Session, plan_ids: list[int]) -> dict[int, PlanOutcome]:
    """The outcomes of these plans, by plan focus id."""
    if not plan_ids:
        return {}
    rows = session.scalars(select(PlanOutcome).where(PlanOutcome.plan_id.in_(plan_ids)))
    return {row.focus_id: row for row in rows}


@dataclass(frozen=True)
class MetricRecord:
    """One judged plan on one metric: whose, when, what it did, and how it ended."""

    rep_id: int
    rep_name: str
    rep_active: bool
    month: str
    actions: list[str]
    verdict: str


def metric_history(session: Session, workspace_id: str, metric_key: str) -> list[MetricRecord]:
    """Every judged plan of the workspace that worked on `metric_key`, oldest first."""
    rows = session.execute(
        select(Person.id, Person.name, Person.active, Plan.month, Plan.actions, PlanOutcome.verdict)
        .join(Plan, Plan.id == PlanOutcome.plan_id)
        .join(Person, Person.id == Plan.rep_id)
        .where(PlanOutcome.workspace_id == workspace_id, PlanOutcome.metric_key == metric_key)
        .order_by(Plan.month)
    )
    return [MetricRecord(*row) for row in rows]
