"""PIPs in the database (SQLite and PostgreSQL): saved with an audit trail, forgotten on request."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select

from analytics.catalogue import load_catalogue
from bot.coaching.pips import export_rows, pip_view
from storage.db import session_scope
from storage.forget import forget_person
from storage.models import Person, Pip, PipCheckIn, PipEvent, PipMetric, Workspace
from storage.pips import (
    PipGoal,
    PipTracking,
    PipVerdict,
    acknowledge,
    active_counts_by_manager,
    active_pip,
    add_pip_checkin,
    create_pip,
    decide,
    recent_plan_metrics,
)
from storage.plans import FocusInput, save_plan


def org(engine: Engine) -> dict[str, int]:
    with session_scope(engine) as session:
        session.add(Workspace(id="w"))
        session.flush()
        boss = Person(workspace_id="w", email="m@x.com", name="M", role="manager")
        rep = Person(workspace_id="w", email="r@x.com", name="R", role="rep", manager=boss)
        session.add_all([boss, rep])
        session.flush()
        return {"manager": boss.id, "rep": rep.id}


def new_pip(engine: Engine, ids: dict[str, int]) -> int:
    with session_scope(engine) as session:
        pip = create_pip(
            session,
            workspace_id="w",
            rep_id=ids["rep"],
            author_id=ids["manager"],
            start_date=date(2026, 11, 2),
            end_date=date(2027, 1, 31),
            rhythm_days=7,
            goals=[PipGoal("close_rate", 0.1, 0.2, date(2027, 1, 1))],
            tracking=[PipTracking("demos", 5.0, 7.0)],
            commitments=["Join three calls a week"],
            discussed=True,
        )
        return pip.id


def test_a_pip_keeps_its_trail_from_creation_to_decision(engine: Engine) -> None:
    ids = org(engine)
    pip_id = new_pip(engine, ids)
    with session_scope(engine) as session:
        pip = active_pip(session, "w", ids["rep"])
        assert pip is not None and pip.id == pip_id
        assert [(m.role, m.metric_key, m.target) for m in pip.metrics] == [
            ("outcome", "close_rate", 0.2),
            ("tracking", "demos", 7.0),
        ]
        assert acknowledge(session, pip, ids["rep"], datetime(2026, 11, 3, tzinfo=UTC))
        assert not acknowledge(session, pip, ids["rep"])  # once only
        for _ in range(2):  # the same submission twice is one check-in
            add_pip_checkin(
                session,
                pip=pip,
                author_id=ids["manager"],
                on_date=date(2026, 11, 9),
                values={"demos": 6.0},
                kept=["Join three calls a week"],
                missed=[],
                notes="",
                request_key="w:V1",
            )
        verdicts = [PipVerdict("close_rate", "not met", 0.12, 0.05)]
        with pytest.raises(ValueError, match="later end date"):
            decide(session, pip, ids["manager"], "extended", verdicts, date(2027, 1, 1))
        decide(session, pip, ids["manager"], "extended", verdicts, date(2027, 2, 28))
        assert pip.status == "active" and pip.end_date == date(2027, 2, 28)
        decide(session, pip, ids["manager"], "completed", verdicts)
    with session_scope(engine) as session:
        pip = session.get(Pip, pip_id)
        assert pip is not None and pip.status == "completed"
        assert pip.acknowledged_at is not None
        trail = [(e.action, e.actor_id) for e in pip.events]
        assert trail == [
            ("created", ids["manager"]),
            ("acknowledged", ids["rep"]),
            ("checked in", ids["manager"]),
            ("judged", ids["manager"]),
            ("extended", ids["manager"]),
            ("judged", ids["manager"]),
            ("completed", ids["manager"]),
        ]
        assert pip.events[4].detail == {
            "old_end": "2027-01-31",
            "new_end": "2027-02-28",
            "note": "",
        }
        assert session.scalar(select(func.count()).select_from(PipCheckIn)) == 1
        assert pip.metrics[0].verdict == "not met"
        assert active_counts_by_manager(session, "w") == {}


def test_counts_and_history(engine: Engine) -> None:
    ids = org(engine)
    new_pip(engine, ids)
    with session_scope(engine) as session:
        assert active_counts_by_manager(session, "w") == {ids["manager"]: 1}
        assert recent_plan_metrics(session, "w", ids["rep"], "2026-08") == set()
        save_plan(
            session,
            workspace_id="w",
            rep_id=ids["rep"],
            author_id=ids["manager"],
            month="2026-09",
            focus=[FocusInput("close_rate", 0.1, 0.2, 0.2)],
            why="",
            actions=[],
            checkin_dates=[],
        )
        assert recent_plan_metrics(session, "w", ids["rep"], "2026-08") == {"close_rate"}
        assert recent_plan_metrics(session, "w", ids["rep"], "2026-10") == set()


def test_forget_removes_the_reps_pips(engine: Engine) -> None:
    ids = org(engine)
    new_pip(engine, ids)
    with session_scope(engine) as session:
        counts = forget_person(session, "w", "r@x.com")
        assert counts is not None and counts["PIPs"] == 1
    with session_scope(engine) as session:
        for table in (Pip, PipMetric, PipCheckIn, PipEvent):
            assert session.scalar(select(func.count()).select_from(table)) == 0


def test_the_acknowledgement_shows_on_the_reps_own_day(engine: Engine) -> None:
    # 02:00 UTC on Nov 3 is still the evening of Nov 2 in Los Angeles, where the rep clicked.
    ids = org(engine)
    pip_id = new_pip(engine, ids)
    with session_scope(engine) as session:
        pip = session.get(Pip, pip_id)
        assert pip is not None
        acknowledge(session, pip, ids["rep"], now=datetime(2026, 11, 3, 2, 0, tzinfo=UTC))
    with session_scope(engine) as session:
        pip = session.get(Pip, pip_id)
        assert pip is not None
        shown = pip_view(pip, load_catalogue(), ZoneInfo("America/Los_Angeles"))
        assert shown["acknowledged_at"].date() == date(2026, 11, 2)
        assert pip_view(pip, load_catalogue())["acknowledged_at"].date() == date(2026, 11, 3)


def test_the_hr_export_gives_times_with_their_utc_offset(engine: Engine) -> None:
    ids = org(engine)
    pip_id = new_pip(engine, ids)
    with session_scope(engine) as session:
        pip = session.get(Pip, pip_id)
        assert pip is not None
        acknowledge(session, pip, ids["rep"], now=datetime(2026, 11, 3, 2, 0, tzinfo=UTC))
    with session_scope(engine) as session:
        [row] = export_rows(session, "w", None)
    assert row["acknowledged_at"] == "2026-11-03T02:00:00+00:00"
    assert all(datetime.fromisoformat(e["at"]).utcoffset() is not None for e in row["trail"])
