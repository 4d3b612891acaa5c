"""A plan is never judged on a month-to-date month: only once its full month is imported."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, select

from analytics.catalogue import load_catalogue
from analytics.models import GapConfig
from analytics.simulate import demo_org
from bot.coaching.archive import months_to_judge, update_outcomes
from bot.coaching.gaps import load_gap_engine
from bot.demo.run import write_demo_csvs
from storage.csv_import import import_metrics, import_org
from storage.db import session_scope
from storage.models import Person, PlanOutcome
from storage.plans import FocusInput, save_plan

WS = "demo"
CATALOGUE = load_catalogue()
CONFIG = GapConfig()


def import_file(db: Engine, path: Path) -> list[str]:
    with session_scope(db) as session:
        return import_metrics(session, WS, path, CATALOGUE).months


def judge(db: Engine, changed: list[str]) -> int:
    months = months_to_judge(db, WS, changed, CONFIG.window_months)
    return update_outcomes(db, WS, CATALOGUE, CONFIG, months)


def outcomes(db: Engine) -> list[tuple[str, str]]:
    with session_scope(db) as session:
        return [tuple(r) for r in session.execute(select(PlanOutcome.month, PlanOutcome.verdict))]


def test_a_plan_waits_for_its_full_month(sqlite_engine: Engine, tmp_path: Path) -> None:
    db = sqlite_engine
    people, metrics, _ = demo_org(end_month="2026-10")
    org_csv, metrics_csv = write_demo_csvs(tmp_path, people, metrics)
    with session_scope(db) as session:
        import_org(session, WS, org_csv)
    import_file(db, metrics_csv)
    report = load_gap_engine(db, WS, CATALOGUE, CONFIG).reports("2026-10")[0]
    connect = next(m for m in report.metrics if m.key == "connect_rate")
    with session_scope(db) as session:
        rep = session.scalar(select(Person.id).where(Person.email == report.rep))
        assert rep is not None
        save_plan(
            session,
            workspace_id=WS,
            rep_id=rep,
            author_id=None,
            month="2026-11",
            focus=[FocusInput("connect_rate", connect.estimate, connect.peer_median, 0.3)],
            why="connects",
            actions=["Test two calling windows"],
            checkin_dates=[date(2026, 11, 16)],
        )

    # November so far: October's rows again, through the 18th. Not judged.
    november = pd.read_csv(metrics_csv)
    november = november[november["month"] == "2026-10"].assign(month="2026-11")
    so_far = tmp_path / "november-to-date.csv"
    november.assign(through="2026-11-18").to_csv(so_far, index=False)
    assert judge(db, import_file(db, so_far)) == 0
    assert outcomes(db) == []
    assert load_gap_engine(db, WS, CATALOGUE, CONFIG).through("2026-11") == date(2026, 11, 18)

    # The full month comes in: judged on it.
    full = tmp_path / "november.csv"
    november.to_csv(full, index=False)
    changed = import_file(db, full)
    assert changed == ["2026-11"]
    assert judge(db, changed) == 1
    assert [month for month, _ in outcomes(db)] == ["2026-11"]
