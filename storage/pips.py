"""Performance improvement plans: saved with their metrics, check-ins and an audit trail.

Every change goes through a function here, and each writes its `PipEvent` in the same
transaction: the trail can't miss a change that was saved, nor record one that wasn't.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from storage.counts import read_counts
from storage.db import flush_or_first
from storage.models import (
    MetricMonth,
    PartialMonth,
    Person,
    Pip,
    PipCheckIn,
    PipEvent,
    PipMetric,
    Plan,
    PlanFocus,
    utcnow,
)

DECISIONS = ("completed", "extended", "ended")


class PipRunning(Exception):
    """The rep already has a running PIP (perhaps saved a moment ago by another submission)."""


@dataclass(frozen=True)
class PipGoal:
    """An outcome metric as submitted: today's value, the target, and its deadline."""

    metric_key: str
    baseline: float | None
    target: float
    deadline: date


@dataclass(frozen=True)
class PipTracking:
    """An interim tracking metric as submitted: the weekly level it should hold."""

    metric_key: str
    baseline: float | None
    weekly_level: float


@dataclass(frozen=True)
class PipVerdict:
    """One outcome metric's verdict at the end, and the figure it was judged on."""

    metric_key: str
    verdict: str
    value: float | None
    p_reached: float | None


def _load() -> Select[tuple[Pip]]:
    """PIPs with their metrics, check-ins and trail (one query each, not one per PIP)."""
    return select(Pip).options(
        selectinload(Pip.metrics), selectinload(Pip.checkins), selectinload(Pip.events)
    )


def get_pip(session: Session, workspace_id: str, pip_id: int) -> Pip | None:
    """A PIP of the workspace by id, with its metrics, check-ins and trail."""
    return session.scalar(_load().where(Pip.workspace_id == workspace_id, Pip.id == pip_id))


def active_pip(session: Session, workspace_id: str, rep_id: int) -> Pip | None:
    """The rep's running PIP, if any (at most one runs at a time)."""
    return session.scalar(
        _load().where(
            Pip.workspace_id == workspace_id, Pip.rep_id == rep_id, Pip.status == "active"
        )
    )


def pips_of_rep(session: Session, workspace_id: str, rep_id: int) -> list[Pip]:
    """The rep's PIPs, newest first."""
    return list(
        session.scalars(
            _load()
            .where(Pip.workspace_id == workspace_id, Pip.rep_id == rep_id)
            .order_by(Pip.start_date.desc(), Pip.id.desc())
        )
    )


def log_event(
    session: Session, pip: Pip, actor_id: int | None, action: str, **detail: Any
) -> PipEvent:
    """Add one line to the PIP's audit trail."""
    event = PipEvent(
        workspace_id=pip.workspace_id,
        pip_id=pip.id,
        actor_id=actor_id,
        action=action,
        detail=detail,
    )
    session.add(event)
    pip.events.append(event)
    return event


def create_pip(
    session: Session,
    *,
    workspace_id: str,
    rep_id: int,
    author_id: int,
    start_date: date,
    end_date: date,
    rhythm_days: int,
    goals: list[PipGoal],
    tracking: list[PipTracking],
    commitments: list[str],
    discussed: bool,
) -> Pip:
    """Save a new PIP and its `created` event. Raises PipRunning when the rep has a running
    PIP; when another session saved it meanwhile, this session is rolled back, its pending work
    with it (the unique index `uq_pips_one_active` decides between racing submissions)."""
    if active_pip(session, workspace_id, rep_id) is not None:
        raise PipRunning
    pip = Pip(
        workspace_id=workspace_id,
        rep_id=rep_id,
        author_id=author_id,
        start_date=start_date,
        end_date=end_date,
        rhythm_days=rhythm_days,
        commitments=commitments,
        discussed=discussed,
        status="active",
    )
    pip.metrics = [
        PipMetric(
            role="outcome",
            position=i,
            metric_key=g.metric_key,
            baseline=g.baseline,
            target=g.target,
            deadline=g.deadline,
        )
        for i, g in enumerate(goals)
    ] + [
        PipMetric(
            role="tracking",
            position=i,
            metric_key=t.metric_key,
            baseline=t.baseline,
            target=t.weekly_level,
        )
        for i, t in enumerate(tracking)
    ]
    session.add(pip)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        if active_pip(session, workspace_id, rep_id) is None:
            raise  # not the one-running-PIP index: a real error, never hidden as "running"
        raise PipRunning from exc
    log_event(
        session,
        pip,
        author_id,
        "created",
        start=start_date.isoformat(),
        end=end_date.isoformat(),
        goals=[g.metric_key for g in goals],
        tracking=[t.metric_key for t in tracking],
        discussed=discussed,
    )
    session.flush()
    return pip


def set_announced(session: Session, pip: Pip, role: str, channel: str, ts: str) -> None:
    """Remember where the PIP's DM to its author (`author`) or the rep (`rep`) went."""
    if role == "author":
        pip.dm_channel, pip.dm_ts = channel, ts
    else:
        pip.rep_dm_channel, pip.rep_dm_ts = channel, ts
    session.flush()


def acknowledge(session: Session, pip: Pip, rep_id: int, now: datetime | None = None) -> bool:
    """The rep acknowledges the PIP; False (nothing written) when they already had."""
    if pip.acknowledged_at is not None:
        return False
    pip.acknowledged_at = now or utcnow()
    log_event(session, pip, rep_id, "acknowledged")
    session.flush()
    return True


def add_pip_checkin(
    session: Session,
    *,
    pip: Pip,
    author_id: int,
    on_date: date,
    values: dict[str, float | None],
    kept: list[str],
    missed: list[str],
    notes: str,
    request_key: str | None,
) -> tuple[PipCheckIn, bool]:
    """Record a check-in; a repeated `request_key` (a double submit, even one racing on another
    replica) returns the first one."""
    if request_key:
        existing = session.scalar(select(PipCheckIn).where(PipCheckIn.request_key == request_key))
        if existing is not None:
            return existing, False
    checkin = PipCheckIn(
        workspace_id=pip.workspace_id,
        pip_id=pip.id,
        author_id=author_id,
        on_date=on_date,
        values=values,
        kept=kept,
        missed=missed,
        notes=notes,
        request_key=request_key,
    )
    session.add(checkin)
    first = flush_or_first(session, checkin, request_key)
    if first is not None:
        return first, False
    pip.checkins.append(checkin)
    log_event(
        session,
        pip,
        author_id,
        "checked in",
        on=on_date.isoformat(),
        kept=len(kept),
        missed=len(missed),
    )
    session.flush()
    return checkin, True


def decide(
    session: Session,
    pip: Pip,
    actor_id: int,
    decision: str,
    verdicts: list[PipVerdict],
    new_end: date | None = None,
    note: str = "",
) -> None:
    """Record the end-date verdicts and the decision: completed, extended to `new_end` (the
    PIP runs on), or ended."""
    if decision not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r}")
    if decision == "extended" and (new_end is None or new_end <= pip.end_date):
        raise ValueError("an extension needs a later end date")
    by_key = {v.metric_key: v for v in verdicts}
    for metric in pip.metrics:
        found = by_key.get(metric.metric_key) if metric.role == "outcome" else None
        if found is not None:
            metric.verdict, metric.value, metric.p_reached = (
                found.verdict,
                found.value,
                found.p_reached,
            )
    log_event(
        session, pip, actor_id, "judged", verdicts={v.metric_key: v.verdict for v in verdicts}
    )
    if decision == "extended":
        assert new_end is not None  # checked above, before anything was written
        log_event(
            session,
            pip,
            actor_id,
            "extended",
            old_end=pip.end_date.isoformat(),
            new_end=new_end.isoformat(),
            note=note,
        )
        pip.end_date = new_end
        pip.status = "active"
    else:
        log_event(session, pip, actor_id, decision, note=note)
        pip.status = decision
    session.flush()


def recent_plan_metrics(session: Session, workspace_id: str, rep_id: int, since: str) -> set[str]:
    """The metrics the rep's coaching plans focused on from month `since` on."""
    return set(
        session.scalars(
            select(PlanFocus.metric_key)
            .join(Plan, Plan.id == PlanFocus.plan_id)
            .where(Plan.workspace_id == workspace_id, Plan.rep_id == rep_id, Plan.month >= since)
        )
    )


def active_counts_by_manager(session: Session, workspace_id: str) -> Counter[int]:
    """How many running PIPs each manager's reps have (their direct manager's id): a number
    only, for the director's digest."""
    rows = session.scalars(
        select(Person.manager_id)
        .join(Pip, Pip.rep_id == Person.id)
        .where(Pip.workspace_id == workspace_id, Pip.status == "active")
    )
    return Counter(m for m in rows if m is not None)


def active_pips(session: Session, workspace_id: str) -> list[Pip]:
    """Every running PIP of the workspace (for the cadence's check-ins and end dates)."""
    return list(
        session.scalars(_load().where(Pip.workspace_id == workspace_id, Pip.status == "active"))
    )


def all_pips(session: Session, workspace_id: str, since: date | None) -> list[Pip]:
    """The workspace's PIPs started on or after `since` (all without), oldest first."""
    query = _load().where(Pip.workspace_id == workspace_id)
    if since is not None:
        query = query.where(Pip.start_date >= since)
    return list(session.scalars(query.order_by(Pip.start_date, Pip.id)))


def full_months(
    session: Session, workspace_id: str, rep_id: int, first: str, last: str | None = None
) -> list[dict[str, float]]:
    """The rep's counts per full month from `first` to `last` (YYYY-MM, both included; no end
    without `last`), oldest first. Month-to-date months are left out: a goal is judged on
    whole months."""
    where = [MetricMonth.person_id == rep_id, MetricMonth.month >= first]
    if last is not None:
        where.append(MetricMonth.month <= last)
    partial = set(
        session.scalars(
            select(PartialMonth.month).where(
                PartialMonth.workspace_id == workspace_id, PartialMonth.person_id == rep_id
            )
        )
    )
    months = {
        month: values
        for (_, month), values in read_counts(session, workspace_id, *where).items()
        if month not in partial and values
    }
    return [months[m] for m in sorted(months)]
