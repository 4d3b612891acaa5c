"""Forgetting a person on request: their personal data goes, the org's aggregates stay anonymous."""

from __future__ import annotations

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from storage.counts import read_counts
from storage.csv_common import bump_data_version, ensure_workspace
from storage.models import (
    Deferral,
    Delivery,
    MetricMonth,
    OneOnOneTopics,
    PartialMonth,
    Person,
    Pip,
    Plan,
    Reflection,
)
from storage.org import person_by_email


def forget_person(session: Session, workspace_id: str, email: str) -> dict[str, int] | None:
    """Delete the person's plans (with their focus, check-ins and outcomes), PIPs (with their
    metrics, check-ins and trail), reflections, metric values and scheduled messages, and blank
    the org-chart row so nothing names them again. The row itself stays, anonymous and inactive:
    check-ins they logged on others' plans and the people who reported to them still point
    somewhere. None when nobody has that email."""
    person = person_by_email(session, workspace_id, email) or session.scalar(
        select(Person).where(Person.workspace_id == workspace_id, Person.email == email.lower())
    )
    if person is None:
        return None
    plans = list(session.scalars(select(Plan).where(Plan.rep_id == person.id)))
    for plan in plans:
        session.delete(plan)  # the ORM cascade takes focus, check-ins and outcomes with it
    pips = list(session.scalars(select(Pip).where(Pip.rep_id == person.id)))
    for pip in pips:
        session.delete(pip)  # with its metrics, check-ins and audit trail
    stored = read_counts(session, person.workspace_id, MetricMonth.person_id == person.id)
    counts = {"plans": len(plans)}
    for name, statement in (
        ("reflections", delete(Reflection).where(Reflection.rep_id == person.id)),
        ("metric values", delete(MetricMonth).where(MetricMonth.person_id == person.id)),
        (
            "scheduled messages",
            delete(Delivery).where(
                or_(Delivery.recipient_id == person.id, Delivery.rep_id == person.id)
            ),
        ),
    ):
        counts[name] = session.execute(statement).rowcount
    counts["metric values"] = sum(map(len, stored.values()))  # values, not rep-months
    counts["PIPs"] = len(pips)
    # Which of their months were month-to-date goes with the values it described.
    session.execute(delete(PartialMonth).where(PartialMonth.person_id == person.id))
    # Time off is personal too, and so is what was held back for it.
    session.execute(delete(Deferral).where(Deferral.person_id == person.id))
    session.execute(delete(OneOnOneTopics).where(OneOnOneTopics.rep_id == person.id))
    person.away_until = person.one_on_one_weekday = person.one_on_one_time = None
    person.country = None
    person.email = f"forgotten-{person.id}@invalid"
    person.name = "Former colleague"
    person.slack_user_id = person.timezone = person.segment = None
    person.start_date = None
    person.active = False
    bump_data_version(ensure_workspace(session, workspace_id))
    session.flush()
    return counts
