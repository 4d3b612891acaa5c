"""The team overview behind `/coach team` and the App Home: each rep's focus, plan, check-in."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from analytics.gaps import GapEngine, GapError
from storage.models import Person, Plan
from storage.org import reports_below


@dataclass(frozen=True)
class TeamRow:
    """One rep's line in the overview."""

    email: str
    name: str
    manager: str | None
    focus: list[str]
    planned: bool
    plan_focus: list[str]
    last_checkin: str | None


def team_of(session: Session, viewer: Person) -> list[Person]:
    """The reps a manager, director or admin coaches or oversees (active only)."""
    if viewer.role == "admin":
        people = session.scalars(
            select(Person).where(
                Person.workspace_id == viewer.workspace_id,
                Person.role == "rep",
                Person.active.is_(True),
            )
        ).all()
        return sorted(people, key=lambda p: p.name)
    if viewer.role == "manager":
        below = [p for p in reports_below(session, viewer.workspace_id, viewer.id)]
        return [p for p in below if p.manager_id == viewer.id and p.role == "rep"]
    if viewer.role == "director":
        return [
            p for p in reports_below(session, viewer.workspace_id, viewer.id) if p.role == "rep"
        ]
    return []


def team_rows(
    session: Session, viewer: Person, month: str, engine: GapEngine, labels: dict[str, str]
) -> list[TeamRow]:
    """The overview for `viewer`'s reps in the coaching month."""
    reps = team_of(session, viewer)
    plans = {
        plan.rep_id: plan
        for plan in session.scalars(
            select(Plan)
            .options(selectinload(Plan.focus), selectinload(Plan.checkins))
            .where(Plan.workspace_id == viewer.workspace_id, Plan.month == month)
            .where(Plan.rep_id.in_([r.id for r in reps]))
        )
    }
    managers = {
        p.id: p.name
        for p in session.scalars(
            select(Person).where(Person.id.in_({r.manager_id for r in reps if r.manager_id}))
        )
    }
    rows = []
    for rep in reps:
        try:
            focus = [labels.get(k, k) for k in engine.report(rep.email).focus]
        except GapError:
            focus = []
        plan = plans.get(rep.id)
        last = plan.checkins[-1] if plan and plan.checkins else None
        rows.append(
            TeamRow(
                email=rep.email,
                name=rep.name,
                manager=managers.get(rep.manager_id) if rep.manager_id else None,
                focus=focus,
                planned=plan is not None,
                plan_focus=[labels.get(f.metric_key, f.metric_key) for f in plan.focus]
                if plan
                else [],
                last_checkin=f"{last.on_date} ({last.status.replace('_', ' ')})" if last else None,
            )
        )
    return rows
