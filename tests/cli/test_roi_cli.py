"""`coach report roi` end to end on SQLite and PostgreSQL: plans in the database, the lift out."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from analytics.catalogue import load_catalogue
from analytics.gaps import GapEngine
from analytics.roi import CoachedPlan, coaching_roi
from analytics.simulate_coaching import CoachedHistory, simulate_coaching
from bot.demo.run import write_demo_csvs
from storage.db import session_scope
from storage.models import Person
from storage.plans import FocusInput, save_plan
from tests.in_process import Ran, run_coach

CATALOGUE = load_catalogue()


def coach(url: str, *args: str) -> Ran:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COACH_", "SLACK_"))}
    env.update({"DATABASE_URL": url, "COACH_WORKSPACE": "acme", "COLUMNS": "200"})
    return run_coach(*args, env=env)


def rounded(value: object) -> object:
    """Floats to 9 significant digits, in any nesting (a database may round the last bits)."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def save_history(engine: Engine, history: CoachedHistory) -> None:
    """The simulated plans, each written by the rep's manager."""
    managers = dict(zip(history.people["email"], history.people["manager_email"], strict=True))
    with session_scope(engine) as session:
        ids = dict(session.execute(select(Person.email, Person.id)).all())
        for plan in history.plans:
            save_plan(
                session,
                workspace_id="acme",
                rep_id=ids[plan.rep],
                author_id=ids[managers[plan.rep]],
                month=plan.month,
                focus=[
                    FocusInput(key, None, None, target)
                    for key, target in zip(plan.focus, plan.targets, strict=True)
                ],
                why="Flagged in last month's report",
                actions=["Ride along on two calls"],
                checkin_dates=[date.fromisoformat(f"{plan.month}-15")],
            )


def test_report_roi_reads_the_plans_and_numbers(engine: Engine, tmp_path: Path) -> None:
    db_url = engine.url.render_as_string(hide_password=False)
    history = simulate_coaching(
        2, reps=30, months=8, coached_months=3, weak_share=0.6, lift=0.25, catalogue=CATALOGUE
    )
    org_csv, metrics_csv = write_demo_csvs(tmp_path, history.people, history.metrics)
    for kind, path in (("org", org_csv), ("metrics", metrics_csv)):
        imported = coach(db_url, "import", kind, str(path))
        assert imported.returncode == 0, imported.stderr
    save_history(engine, history)

    result = coach(db_url, "report", "roi", "--json")
    assert result.returncode == 0, result.stderr
    roi = json.loads(result.stdout)
    # The same figures as the analytics on the simulation's own frames.
    managers = dict(zip(history.people["email"], history.people["manager_email"], strict=True))
    direct = coaching_roi(
        GapEngine(history.metrics, history.people, CATALOGUE),
        [CoachedPlan(p.month, p.rep, p.focus) for p in history.plans],
        managers,
    ).as_json()
    assert rounded(roi) == rounded(direct)
    assert (roi["since"], roi["until"]) == ("2026-04", "2026-06")
    # Every plan focus metric but those made in a rep's first months (still ramping).
    assert 0 < roi["coached"] <= sum(len(p.focus) for p in history.plans)
    assert roi["controls"] > 0 and roi["control_reps"] > 0
    assert (roi["method"] == "difference in differences") == (roi["comparison_weight"] > 0)
    assert roi["interval"][0] < roi["lift"] < roi["interval"][1]
    assert {row["key"] for row in roi["by_metric"]} <= {k for p in history.plans for k in p.focus}
    assert {row["manager_email"] for row in roi["by_manager"]} <= set(managers.values())
    assert sum(row["coached"] for row in roi["by_manager"]) == roi["coached"]

    table = coach(db_url, "report", "roi", "--since", "2026-05", "--until", "2026-05")
    assert table.returncode == 0, table.stderr
    assert "Coaching lift, plans 2026-05 to 2026-05" in table.stdout
    assert "coached plan metrics" in table.stdout and "$-" not in table.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--since", "2026-13"), "--since '2026-13' is not a month"),
        (("--since", "2026-05", "--until", "2026-04"), "--since 2026-05 is after --until"),
    ],
)
def test_report_roi_refuses_bad_months(sqlite_url: str, args: tuple[str, ...], needle: str) -> None:
    result = coach(sqlite_url, "report", "roi", *args)
    assert result.returncode == 1 and needle in " ".join(result.stderr.split())
