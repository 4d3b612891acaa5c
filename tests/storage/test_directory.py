"""The in-memory org chart answers "who may see whom" exactly as the database queries do."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine

from storage.db import session_scope
from storage.directory import Member, load_directory
from storage.models import Base, Person, Workspace
from storage.org import can_view

ROLES = ("rep", "manager", "director", "admin")

# (role, index of the manager among the earlier people or None, active) per person.
people_strategy = st.lists(
    st.tuples(st.sampled_from(ROLES), st.integers(min_value=-1, max_value=30), st.booleans()),
    min_size=1,
    max_size=14,
)


def build(engine: Engine, spec: list[tuple[str, int, bool]]) -> None:
    with session_scope(engine) as session:
        session.add(Workspace(id="w", data_version=1))
        people: list[Person] = []
        for i, (role, manager, active) in enumerate(spec):
            boss = people[manager % i] if i and manager >= 0 else None
            person = Person(
                workspace_id="w",
                email=f"p{i}@example.com",
                name=f"P{i}",
                role=role,
                manager=boss,
                slack_user_id=f"U{i}",
                active=active,
            )
            people.append(person)
        session.add_all(people)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(people_strategy)
def test_directory_can_view_matches_the_queries(spec: list[tuple[str, int, bool]]) -> None:
    engine = create_engine("sqlite://")  # in memory: one database per example, quickly
    Base.metadata.create_all(engine)
    build(engine, spec)
    try:
        with session_scope(engine) as session:
            directory = load_directory(session, "w")
            everyone = session.query(Person).all()
            for viewer in everyone:
                for target in everyone:
                    if not target.active:
                        continue  # requests only ever look up active people
                    expected = can_view(session, viewer, target)
                    member_viewer = directory.get(viewer.id) or Member.of(viewer)
                    got = directory.can_view(member_viewer, directory.get(target.id))  # type: ignore[arg-type]
                    assert got == expected, (viewer.email, target.email)
    finally:
        engine.dispose()


def test_lookups_and_a_late_binding(sqlite_engine: Engine) -> None:
    build(sqlite_engine, [("director", -1, True), ("rep", 0, True), ("rep", 0, False)])
    with session_scope(sqlite_engine) as session:
        directory = load_directory(session, "w")
        rep = session.query(Person).filter_by(email="p1@example.com").one()
    assert directory.by_slack_id("U1") == Member.of(rep)
    assert directory.by_email(" P1@Example.com ") == Member.of(rep)
    assert directory.by_email("p2@example.com") is None  # inactive
    later = Member(99, "w", "new@example.com", "New", "rep", None, "UNEW", None)
    directory.bound(later)  # not in the snapshot: nothing to bind
    assert directory.by_slack_id("UNEW") is None
