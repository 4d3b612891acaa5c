"""The org chart in memory: who is who and who may see whom, without a query per request.

A `Directory` is a snapshot of one workspace's active people, read in one query and kept while
the workspace's data version stands (an org import changes it). Requests look people up and
check rights here; only what the snapshot doesn't know (a Slack id seen for the first time)
goes to the database.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Person
from storage.org import plain_rights


@dataclass(frozen=True)
class Member:
    """What a request needs to know of a person."""

    id: int
    workspace_id: str
    email: str
    name: str
    role: str
    manager_id: int | None
    slack_user_id: str | None
    timezone: str | None

    @classmethod
    def of(cls, person: Person) -> Member:
        """The member for an org-chart row."""
        return cls(
            person.id,
            person.workspace_id,
            person.email,
            person.name,
            person.role,
            person.manager_id,
            person.slack_user_id,
            person.timezone,
        )


class Directory:
    """One workspace's active people, by id, Slack id and email, with their managers."""

    def __init__(self, workspace_id: str, members: list[Member]) -> None:
        self.workspace_id = workspace_id
        self._by_id = {m.id: m for m in members}
        self._by_email = {m.email: m for m in members}
        self._by_slack = {m.slack_user_id: m for m in members if m.slack_user_id}
        self._lock = threading.Lock()

    def get(self, person_id: int) -> Member | None:
        """The active person with this id."""
        return self._by_id.get(person_id)

    def by_slack_id(self, slack_user_id: str) -> Member | None:
        """The active person bound to this Slack user id."""
        return self._by_slack.get(slack_user_id)

    def by_email(self, email: str) -> Member | None:
        """The active person with this email (case-insensitive)."""
        return self._by_email.get(email.strip().lower())

    def bound(self, member: Member) -> None:
        """Record a Slack id the database just bound (first sight by email)."""
        with self._lock:
            if member.slack_user_id and member.id in self._by_id:
                self._by_id[member.id] = member
                self._by_email[member.email] = member
                self._by_slack = {**self._by_slack, member.slack_user_id: member}

    def can_view(self, viewer: Member, target: Member) -> bool:
        """`storage.org.can_view` on the snapshot: a rep sees themselves, a manager their
        reports, a director everyone below, an admin all (active people only)."""
        if viewer.id not in self._by_id:  # not (or no longer) active
            return False
        plain = plain_rights(viewer, target)
        if plain is not None:
            return plain
        # A director: walk up from the target through active managers; a loop (which imports
        # reject) ends the walk.
        seen: set[int] = set()
        manager_id = target.manager_id
        while manager_id is not None and manager_id not in seen:
            if manager_id == viewer.id:
                return target.id in self._by_id
            seen.add(manager_id)
            manager = self._by_id.get(manager_id)
            manager_id = manager.manager_id if manager is not None else None
        return False


def load_directory(session: Session, workspace_id: str) -> Directory:
    """The workspace's active org chart as a `Directory` (one query)."""
    rows = session.execute(
        select(
            Person.id,
            Person.workspace_id,
            Person.email,
            Person.name,
            Person.role,
            Person.manager_id,
            Person.slack_user_id,
            Person.timezone,
        ).where(Person.workspace_id == workspace_id, Person.active.is_(True))
    )
    return Directory(workspace_id, [Member(*row) for row in rows])
