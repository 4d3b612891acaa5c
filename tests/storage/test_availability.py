"""Muted reminders, time off and the messages held back for it, on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from storage.availability import defer, deferred, set_away, set_reminders_muted
from storage.forget import forget_person
from storage.models import Deferral, Person, Workspace

WS = "default"


def setup(engine: Engine) -> tuple[sessionmaker[Session], int, int]:
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as s:
        s.add(Workspace(id=WS))
        s.commit()
        people = [
            Person(workspace_id=WS, email=f"{n}@example.com", name=n, role="rep") for n in "ab"
        ]
        s.add_all(people)
        s.commit()
        return factory, people[0].id, people[1].id


def test_mute_and_away_are_set_and_cleared(engine: Engine) -> None:
    factory, a, _ = setup(engine)
    with factory() as s:
        assert s.get(Person, a).mute_reminders is False  # type: ignore[union-attr]
        set_reminders_muted(s, a, True)
        set_away(s, a, date(2026, 12, 10))
    with factory() as s:
        person = s.get(Person, a)
        assert person is not None and (person.mute_reminders, person.away_until) == (
            True,
            date(2026, 12, 10),
        )
        set_away(s, a, None)
        set_reminders_muted(s, a, False)
    with factory() as s:
        person = s.get(Person, a)
        assert person is not None and (person.mute_reminders, person.away_until) == (False, None)


def test_a_held_back_message_is_one_row_whose_date_moves(engine: Engine) -> None:
    factory, a, b = setup(engine)
    with factory() as s:
        defer(s, WS, a, "day-one", "2026-12", date(2026, 12, 2))
        defer(s, WS, a, "day-one", "2026-12", date(2026, 12, 4))  # away longer
        defer(s, WS, b, "day-two", "2026-12", date(2026, 12, 3))
        defer(s, WS, b, "day-one", "2027-01", date(2027, 1, 5))
    with factory() as s:
        assert deferred(s, WS, "day-one", ["2026-12", "2027-01"]) == {
            "2026-12": {a: date(2026, 12, 4)},
            "2027-01": {b: date(2027, 1, 5)},
        }
        assert deferred(s, WS, "day-two", ["2026-11"]) == {}
        assert len(s.scalars(select(Deferral)).all()) == 3


def test_replicas_holding_back_the_same_message_leave_one_row(engine: Engine) -> None:
    factory, a, _ = setup(engine)

    def hold(day: int) -> None:
        with factory() as s:
            defer(s, WS, a, "reminder", "2026-12", date(2026, 12, day))

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(hold, [5, 6, 7, 8] * 2))
    with factory() as s:
        [row] = s.scalars(select(Deferral)).all()
        assert row.until in {date(2026, 12, d) for d in (5, 6, 7, 8)}


def test_forgetting_a_person_forgets_their_time_off(engine: Engine) -> None:
    factory, a, _ = setup(engine)
    with factory() as s:
        set_away(s, a, date(2026, 12, 10))
        defer(s, WS, a, "day-one", "2026-12", date(2026, 12, 10))
        forget_person(s, WS, "a@example.com")
        s.commit()
    with factory() as s:
        assert s.scalars(select(Deferral)).all() == []
        assert s.get(Person, a).away_until is None  # type: ignore[union-attr]
