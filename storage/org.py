"""Org-chart queries: who is who, who reports to whom, and who may see whom."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Person


def person_by_slack_id(session: Session, workspace_id: str, slack_user_id: str) -> Person | None:
    """The active person with this Slack user id, if the org chart (or a lookup) knows it."""
    return session.scalar(
        select(Person).where(
            Person.workspace_id == workspace_id,
            Person.slack_user_id == slack_user_id,
            Person.active.is_(True),
        )
    )


def person_by_email(session: Session, workspace_id: str, email: str) -> Person | None:
    """The active person with this email (case-insensitive)."""
    return session.scalar(
        select(Person).where(
            Person.workspace_id == workspace_id,
            Person.email == email.strip().lower(),
            Person.active.is_(True),
        )
    )


def active_people(session: Session, workspace_id: str) -> list[Person]:
    """Everyone active in the workspace's org chart."""
    return list(
        session.scalars(
            select(Person).where(Person.workspace_id == workspace_id, Person.active.is_(True))
        )
    )


def reports_below(session: Session, workspace_id: str, manager_id: int) -> list[Person]:
    """Everyone below a person in the org chart (direct and indirect), active only."""
    return descendants(active_people(session, workspace_id), manager_id)


def descendants(people: Iterable[Person], manager_id: int) -> list[Person]:
    """Those of `people` below `manager_id` (direct and indirect), by name."""
    children: dict[int | None, list[Person]] = {}
    for person in people:
        children.setdefault(person.manager_id, []).append(person)
    below: list[Person] = []
    stack = list(children.get(manager_id, []))
    seen: set[int] = set()
    while stack:
        person = stack.pop()
        if person.id in seen:  # imports reject loops; this guards a hand-edited database
            continue
        seen.add(person.id)
        below.append(person)
        stack.extend(children.get(person.id, []))
    return sorted(below, key=lambda p: p.name)


def plain_rights(viewer: Any, target: Any) -> bool | None:
    """Who may see whom without looking below the viewer: a rep themselves, a manager their
    reports, an admin everyone, nobody another workspace. None for a director (everyone below
    them): the caller walks the org chart. Takes a `Person` or a directory `Member`."""
    if viewer.workspace_id != target.workspace_id:
        return False
    if viewer.id == target.id or viewer.role == "admin":
        return True
    if viewer.role == "rep":
        return False
    if viewer.role == "manager":
        return bool(target.manager_id == viewer.id)
    return None


def can_view(session: Session, viewer: Person, target: Person) -> bool:
    """A rep sees themselves, a manager their reports, a director everyone below, an admin all."""
    if not viewer.active:
        return False
    plain = plain_rights(viewer, target)
    if plain is not None:
        return plain
    return any(p.id == target.id for p in reports_below(session, viewer.workspace_id, viewer.id))


def data_version(session: Session, workspace_id: str) -> int:
    """The workspace's data version: it changes whenever an import writes."""
    from storage.models import Workspace

    return session.scalar(select(Workspace.data_version).where(Workspace.id == workspace_id)) or 0
