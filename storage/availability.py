"""What each person wants from the cadence and when they are away: muted reminders, time off."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import Deferral, Person


def set_reminders_muted(session: Session, person_id: int, muted: bool) -> None:
    """Mute (or unmute) a person's reminders and escalations; the monthly plan still comes."""
    session.execute(update(Person).where(Person.id == person_id).values(mute_reminders=muted))
    session.commit()


def set_away(session: Session, person_id: int, until: date | None) -> None:
    """Record a person's time off: away through `until` (their own calendar), None when back."""
    session.execute(update(Person).where(Person.id == person_id).values(away_until=until))
    session.commit()


def defer(
    session: Session, workspace_id: str, person_id: int, job: str, period: str, until: date
) -> None:
    """Hold back a person's `job` message for `period` while they are away through `until`;
    held back again, the date is updated. Commits at once (replicas may race: both write the
    same row, the last date wins)."""
    key = {"workspace_id": workspace_id, "person_id": person_id, "job": job, "period": period}
    row = session.get(Deferral, key)
    if row is not None:
        row.until = until
        session.commit()
        return
    session.add(Deferral(**key, until=until))
    try:
        session.commit()
    except IntegrityError:  # another process recorded it first: update theirs
        session.rollback()
        session.execute(update(Deferral).filter_by(**key).values(until=until))
        session.commit()


def deferred(
    session: Session, workspace_id: str, job: str, periods: Iterable[str]
) -> dict[str, dict[int, date]]:
    """The `job` messages held back for `periods`: period → person id → last day away."""
    found: dict[str, dict[int, date]] = {}
    rows = session.execute(
        select(Deferral.period, Deferral.person_id, Deferral.until).where(
            Deferral.workspace_id == workspace_id,
            Deferral.job == job,
            Deferral.period.in_(list(periods)),
        )
    )
    for period, person_id, until in rows:
        found.setdefault(period, {})[person_id] = until
    return found
