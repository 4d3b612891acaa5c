"""One submission delivered to two replicas at once is one check-in (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import CheckIn, Person, Pip, PipCheckIn, Plan, Workspace
from storage.pips import PipGoal, PipRunning, add_pip_checkin, create_pip
from storage.plans import FocusInput, add_checkin, save_plan


def _setup(engine: Engine) -> tuple[int, int, int]:
    with Session(engine) as session:
        session.add(Workspace(id="w"))
        session.flush()
        boss = Person(workspace_id="w", email="m@x.com", name="M", role="manager")
        rep = Person(workspace_id="w", email="r@x.com", name="R", role="rep", manager=boss)
        session.add_all([boss, rep])
        session.flush()
        plan, _ = save_plan(
            session,
            workspace_id="w",
            rep_id=rep.id,
            author_id=boss.id,
            month="2026-11",
            focus=[FocusInput("demos", 5.0, 8.0, 7.0)],
            why="Fewer demos than peers",
            actions=["Book two demos a week"],
            checkin_dates=[date(2026, 11, 16)],
        )
        pip = _pip(session, rep.id, boss.id, ["Join three calls a week"])
        session.commit()
        return boss.id, plan.id, pip.id


def _pip(session: Session, rep_id: int, author_id: int, commitments: list[str]) -> Pip:
    """A ten-week PIP on the close rate for `rep_id`."""
    return create_pip(
        session,
        workspace_id="w",
        rep_id=rep_id,
        author_id=author_id,
        start_date=date(2026, 11, 2),
        end_date=date(2027, 1, 31),
        rhythm_days=7,
        goals=[PipGoal("close_rate", 0.1, 0.2, date(2027, 1, 1))],
        tracking=[],
        commitments=commitments,
        discussed=True,
    )


def _race(engine: Engine, write: Callable[[Session], Any]) -> Any:
    """`write` in a first session left uncommitted while a second session writes the same key;
    then the first commits. What the second's `write` returned, or the exception it raised."""
    first = Session(engine)
    write(first)
    answer: dict[str, Any] = {}

    def second() -> None:
        with Session(engine) as session:
            try:
                answer["second"] = write(session)
                session.commit()
            except Exception as exc:
                answer["second"] = exc

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.5)  # the second insert now waits on the first's uncommitted row
    first.commit()
    first.close()
    thread.join(timeout=30)
    assert not thread.is_alive()
    return answer["second"]


def test_a_submission_racing_on_two_replicas_is_one_plan_checkin(engine: Engine) -> None:
    author, plan_id, _ = _setup(engine)

    def write(session: Session) -> tuple[int, bool]:
        row, created = add_checkin(
            session,
            plan=session.get(Plan, plan_id),  # type: ignore[arg-type]
            author_id=author,
            on_date=date(2026, 11, 16),
            done_actions=[],
            metric_value=6.0,
            status="on track",
            notes="",
            request_key="w:V1",
        )
        return row.id, created

    row_id, created = _race(engine, write)
    assert not created
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(CheckIn)) == 1
        assert session.scalar(select(CheckIn.id)) == row_id


def test_a_submission_racing_on_two_replicas_is_one_pip_checkin(engine: Engine) -> None:
    author, _, pip_id = _setup(engine)

    def write(session: Session) -> tuple[int, bool]:
        row, created = add_pip_checkin(
            session,
            pip=session.get(Pip, pip_id),  # type: ignore[arg-type]
            author_id=author,
            on_date=date(2026, 11, 9),
            values={},
            kept=["Join three calls a week"],
            missed=[],
            notes="",
            request_key="w:V2",
        )
        return row.id, created

    row_id, created = _race(engine, write)
    assert not created
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(PipCheckIn)) == 1
        assert session.scalar(select(PipCheckIn.id)) == row_id


def test_two_pips_racing_for_one_rep_are_one(engine: Engine) -> None:
    """Two managers (or one submission on two replicas) start a PIP for a rep at once: both
    pass the "none running" check; the unique index lets the first in, the second is told."""
    author, _, _ = _setup(engine)
    with Session(engine) as session:
        rep = Person(workspace_id="w", email="s@x.com", name="S", role="rep", manager_id=author)
        session.add(rep)
        session.commit()
        rep_id = rep.id

    def write(session: Session) -> Pip:
        return _pip(session, rep_id, author, [])

    assert isinstance(_race(engine, write), PipRunning)
    with Session(engine) as session:
        running = select(func.count()).where(Pip.rep_id == rep_id, Pip.status == "active")
        assert session.scalar(running) == 1
        with pytest.raises(PipRunning):  # and the check before the insert says so at once
            write(session)


def test_an_integrity_error_that_is_not_a_running_pip_is_not_called_one(engine: Engine) -> None:
    author, _, _ = _setup(engine)
    with Session(engine) as session, pytest.raises(IntegrityError):
        _pip(session, 987_654, author, [])  # nobody: the foreign key refuses it
