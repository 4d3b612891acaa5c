"""What each person wants from the cadence and when they are away: muted reminders, time off."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from storage.models import Person


def set_reminders_muted(session: Session, person_id: int, muted: bool) -> None:
    """Mute (or unmute) a person's reminders and escalations; the monthly plan still comes."""
    session.execute(update(Person).where(Person.id == person_id).values(mute_reminders=muted))
    session.commit()
