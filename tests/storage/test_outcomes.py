"""Plan outcomes on SQLite and PostgreSQL: what a verdict was judged on is stored and read back,
written in place, and an outcome of the rules before migration 0006 waits to be judged again."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, func, select

from analytics.outcomes import Outcome
from storage.db import session_scope
from storage.models import Person, PlanOutcome, Workspace
from storage.outcomes import (
    OutcomeFigures,
    metric_history,
    outcomes_by_focus,
    plans_of_months,
    save_outcome,
    unjudged_months,
)
from storage.plans import FocusInput, save_plan

WS = "default"
FIGURES = OutcomeFigures(
    judged_from="2026-09",
    judged_to="2026-10",
    value=0.24,
    numerator=12.0,
    denominator=50.0,
    expectation=0.2,
    estimate=0.21,
    peer_median_now=0.31,
    material_line=0.25,
)


def seed(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.add(Workspace(id=WS))
        session.flush()
        rep = Person(workspace_id=WS, email="rep@example.com", name="Rep", role="rep")
        session.add(rep)
        session.flush()
        for month in ("2026-09", "2026-10"):
            save_plan(
                session,
                workspace_id=WS,
                rep_id=rep.id,
                author_id=rep.id,
                month=month,
                focus=[FocusInput("close_rate", 0.15, 0.3, 0.25)],
                why="w",
                actions=["Role-play objections"],
                checkin_dates=[date.fromisoformat(f"{month}-10")],
            )


def test_an_outcome_keeps_what_it_was_judged_on(engine: Engine) -> None:
    seed(engine)
    with session_scope(engine) as session:
        assert unjudged_months(session, WS) == ["2026-09", "2026-10"]
    for verdict, target_met in (("worse", False), ("improved", True)):  # the second in place
        with session_scope(engine) as session:
            [plan] = plans_of_months(session, WS, ["2026-09"])
            existing = outcomes_by_focus(session, [plan.id]).get(plan.focus[0].id)
            save_outcome(
                session, plan, plan.focus[0], existing, FIGURES, Outcome(verdict, 0.93, target_met)
            )
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(PlanOutcome)) == 1
        row = session.scalar(select(PlanOutcome))
        assert row is not None
        assert (row.judged_from, row.judged_to, row.verdict) == ("2026-09", "2026-10", "improved")
        assert (row.expectation, row.material_line, row.target_met) == (0.2, 0.25, True)
        assert (row.value, row.peer_median_now, row.p_better) == (0.24, 0.31, 0.93)
        assert (row.baseline, row.target, row.peer_median_then) == (0.15, 0.25, 0.3)
        assert unjudged_months(session, WS) == ["2026-10"]
        [record] = metric_history(session, WS, ["close_rate"], "2026-01")
        assert (record.rep_email, record.verdict) == ("rep@example.com", "improved")
        row.judged_from = None  # as migration 0006 leaves an outcome judged by the old rules
    with session_scope(engine) as session:
        assert unjudged_months(session, WS) == ["2026-09", "2026-10"]
