"""Coaching plans and check-ins: one plan per rep and month, updated in place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from storage.db import flush_or_first
from storage.models import CheckIn, Plan, PlanFocus, Reflection

MAX_FOCUS = 2  # focus metrics per plan: coaching on more dilutes the effort
# What the plan modal's text inputs hold (Slack's plain-text input limit): a longer why, or
# actions written one a line, couldn't be edited in the modal without being cut.
MAX_TEXT = 3000


@dataclass(frozen=True)
class FocusInput:
    """One focus metric as submitted: its key, the figures it was chosen on, and the target."""

    metric_key: str
    baseline: float | None
    peer_median: float | None
    target: float | None


def get_plan(session: Session, workspace_id: str, rep_id: int, month: str) -> Plan | None:
    """The rep's plan for the month, with its focus and check-ins."""
    return session.scalar(
        select(Plan)
        .options(selectinload(Plan.focus), selectinload(Plan.checkins))
        .where(Plan.workspace_id == workspace_id, Plan.rep_id == rep_id, Plan.month == month)
    )


def save_plan(
    session: Session,
    *,
    workspace_id: str,
    rep_id: int,
    author_id: int,
    month: str,
    focus: list[FocusInput],
    why: str,
    actions: list[str],
    checkin_dates: list[date],
) -> tuple[Plan, bool]:
    """Create the rep's plan for the month, or update the one there is; (plan, created)."""
    before = get_plan(session, workspace_id, rep_id, month)
    plan = write_plan(
        session,
        before,
        workspace_id=workspace_id,
        rep_id=rep_id,
        author_id=author_id,
        month=month,
        focus=focus,
        why=why,
        actions=actions,
        checkin_dates=checkin_dates,
    )
    session.flush()
    return plan, before is None


def write_plan(
    session: Session,
    plan: Plan | None,
    *,
    workspace_id: str,
    rep_id: int,
    author_id: int,
    month: str,
    focus: list[FocusInput],
    why: str,
    actions: list[str],
    checkin_dates: list[date],
) -> Plan:
    """Write the rep's plan for the month over `plan`, the one stored (loaded with its focus),
    or as a new one when None; the caller flushes (many plans at once: one flush)."""
    if plan is None:
        plan = Plan(workspace_id=workspace_id, rep_id=rep_id, month=month)
        session.add(plan)
    elif plan.focus:
        plan.focus.clear()
        session.flush()  # the old focus rows go before new ones with the same keys arrive
    plan.author_id = author_id
    plan.why = why
    plan.actions = actions
    plan.checkin_dates = [d.isoformat() for d in checkin_dates]
    plan.focus.extend(
        PlanFocus(
            position=i,
            metric_key=f.metric_key,
            baseline=f.baseline,
            peer_median=f.peer_median,
            target=f.target,
        )
        for i, f in enumerate(focus)
    )
    return plan


def latest_reflection(
    session: Session, workspace_id: str, rep_id: int, month: str
) -> Reflection | None:
    """The rep's reflection written for this coaching month, if any."""
    return session.scalar(
        select(Reflection).where(
            Reflection.workspace_id == workspace_id,
            Reflection.rep_id == rep_id,
            Reflection.month == month,
        )
    )


def add_checkin(
    session: Session,
    *,
    plan: Plan,
    author_id: int,
    on_date: date,
    done_actions: list[str],
    metric_value: float | None,
    status: str,
    notes: str,
    request_key: str | None,
) -> tuple[CheckIn, bool]:
    """Record a check-in; a repeated `request_key` (a double submit, even one racing on another
    replica) returns the first one."""
    if request_key:
        existing = session.scalar(select(CheckIn).where(CheckIn.request_key == request_key))
        if existing is not None:
            return existing, False
    checkin = CheckIn(
        workspace_id=plan.workspace_id,
        plan_id=plan.id,
        author_id=author_id,
        on_date=on_date,
        done_actions=done_actions,
        metric_value=metric_value,
        status=status,
        notes=notes,
        request_key=request_key,
    )
    session.add(checkin)
    first = flush_or_first(session, checkin, request_key)
    return (first, False) if first is not None else (checkin, True)


def save_reflection(
    session: Session,
    *,
    workspace_id: str,
    rep_id: int,
    month: str,
    how_it_went: str,
    went_well: str,
    improve: str,
) -> Reflection:
    """Create or replace the rep's reflection for the coaching month."""
    reflection = latest_reflection(session, workspace_id, rep_id, month)
    if reflection is None:
        reflection = Reflection(workspace_id=workspace_id, rep_id=rep_id, month=month)
        session.add(reflection)
    reflection.how_it_went, reflection.went_well, reflection.improve = (
        how_it_went,
        went_well,
        improve,
    )
    session.flush()
    return reflection
