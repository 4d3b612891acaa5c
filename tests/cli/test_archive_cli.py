"""The archive from the command line: outcomes judged on import, `coach export plans`."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from analytics.simulate import demo_org
from bot.demo.run import write_demo_csvs
from storage.db import make_engine, session_scope
from storage.models import Person, PlanOutcome
from storage.plans import FocusInput, save_plan
from tests.in_process import Ran, run_coach


def coach(db: Path, *args: str) -> Ran:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COACH_", "SLACK_"))}
    env.update({"DATABASE_URL": f"sqlite:///{db}", "COACH_WORKSPACE": "acme", "COLUMNS": "200"})
    return run_coach(*args, env=env)


@pytest.fixture
def org(tmp_path: Path) -> tuple[Path, Path]:
    """The demo org imported through the CLI, with October and September plans for Priya."""
    people, metrics, _ = demo_org(end_month="2026-10")
    org_csv, metrics_csv = write_demo_csvs(tmp_path, people, metrics)
    db = tmp_path / "coach.db"
    assert coach(db, "import", "org", str(org_csv), "--migrate").returncode == 0
    first = coach(db, "import", "metrics", str(metrics_csv))
    assert first.returncode == 0 and "judged" not in first.stdout  # no plans yet
    engine = make_engine(f"sqlite:///{db}")
    with session_scope(engine) as session:
        ids = dict(session.execute(select(Person.email, Person.id)).all())
        for month, target in (("2026-09", 0.99), ("2026-10", 0.01)):
            save_plan(
                session,
                workspace_id="acme",
                rep_id=ids["priya.shah@example.com"],
                author_id=ids["marcus.bell@example.com"],
                month=month,
                focus=[FocusInput("discovery_rate", 0.1, 0.3, target)],
                why="Discovery calls don't turn into demos",
                actions=["Use the new discovery script", "Review two calls a week"],
                checkin_dates=[date.fromisoformat(f"{month}-12")],
            )
    engine.dispose()
    return db, metrics_csv


def outcomes(db: Path) -> int:
    engine = make_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        count = conn.scalar(select(func.count()).select_from(PlanOutcome)) or 0
    engine.dispose()
    return count


def bumped(metrics_csv: Path, month: str) -> Path:
    """A copy of the metrics file with one of `month`'s leads counts raised."""
    lines = metrics_csv.read_text().splitlines()
    column = lines[0].split(",").index("leads_prospected")
    row = next(i for i, line in enumerate(lines) if line.startswith(month))
    cells = lines[row].split(",")
    cells[column] = str(int(float(cells[column])) + 7)
    lines[row] = ",".join(cells)
    path = metrics_csv.with_name(f"bumped-{month}.csv")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_an_import_judges_the_plans_its_months_touch_once(org: tuple[Path, Path]) -> None:
    db, metrics_csv = org
    # The plans were saved after their months' numbers came in: any import judges them.
    waiting = coach(db, "import", "metrics", str(metrics_csv))
    assert "0 new, 0 updated" in waiting.stdout and "judged 2 plan focus metrics" in waiting.stdout
    october_file = bumped(metrics_csv, "2026-10")
    october = coach(db, "import", "metrics", str(october_file))
    assert october.returncode == 0, october.stderr
    # October is a month judged for both plans (September's: September and October).
    assert "judged 2 plan focus metrics" in october.stdout
    # June is only in the window September's expectation was estimated on (June to August).
    june_file = bumped(october_file, "2026-06")
    june = coach(db, "import", "metrics", str(june_file))
    assert "1 updated" in june.stdout and "judged 1 plan focus metrics" in june.stdout
    assert outcomes(db) == 2  # recomputed in place, never added twice
    unchanged = coach(db, "import", "metrics", str(june_file))
    assert "judged" not in unchanged.stdout and outcomes(db) == 2


def test_export_plans_as_csv_and_json(org: tuple[Path, Path]) -> None:
    db, metrics_csv = org
    assert coach(db, "import", "metrics", str(bumped(metrics_csv, "2026-09"))).returncode == 0
    result = coach(db, "export", "plans")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["month"] for r in rows] == ["2026-09", "2026-10"]
    october = rows[1]
    assert october["rep_email"] == "priya.shah@example.com"
    assert october["manager_email"] == "marcus.bell@example.com"
    assert october["focus1_metric"] == "discovery_rate"
    assert october["outcome"] == october["focus1_verdict"] and october["focus2_metric"] == ""
    assert october["actions"] == "Use the new discovery script | Review two calls a week"
    # Beside each verdict what it was judged on: the months, the value, the expectation.
    assert (october["focus1_judged_from"], october["focus1_judged_to"]) == ("2026-10", "2026-10")
    assert (rows[0]["focus1_judged_from"], rows[0]["focus1_judged_to"]) == ("2026-09", "2026-10")
    for row in rows:
        assert 0 < float(row["focus1_expectation"]) < 1 and 0 < float(row["focus1_value"]) < 1
        assert 0 < float(row["focus1_material_line"]) < float(row["focus1_peer_median_now"])
    # A target of 1% is met, and closes nothing by itself.
    assert october["focus1_target_met"] == "True" and rows[0]["focus1_target_met"] == "False"
    assert october["focus1_verdict"] in ("improved", "no change", "worse", "not enough data")
    lines = coach(
        db, "export", "plans", "--since", "2026-10", "--format", "json"
    ).stdout.splitlines()
    [plan] = [json.loads(line) for line in lines]
    assert plan["month"] == "2026-10" and plan["focus"][0]["target"] == 0.01
    focus = plan["focus"][0]
    assert focus["target_met"] is True and focus["verdict"] == october["focus1_verdict"]
    assert (focus["judged_from"], focus["judged_to"]) == ("2026-10", "2026-10")
    assert focus["expectation"] == pytest.approx(float(october["focus1_expectation"]))
    assert 0.0 <= focus["p_better"] <= 1.0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--since", "2026-13"], "--since '2026-13' is not a month"),
        (["--format", "xml"], "--format 'xml': choose csv or json"),
    ],
)
def test_export_refuses_bad_options(org: tuple[Path, Path], args: list[str], needle: str) -> None:
    db, _ = org
    result = coach(db, "export", "plans", *args)
    assert result.returncode == 1 and needle in result.stderr and result.stdout == ""


LEADS = "=+-@＝＋－＠"
HOSTILE = [
    "Rep 2\r=cmd|' /C calc'!A0",
    '=HYPERLINK("http://evil")',
    "  +1+1",
    "\t-2+3",
    "\r@SUM(A1)",
    "ok\r\n－1",
    "ok\u2028＝1",
    "\u200b=1",
]


def runs_as_formula(text: str) -> bool:
    """What a spreadsheet would run: a lead after blanks, invisible characters or a quote."""
    visible = next((c for c in text if c.isprintable() and not c.isspace() and c != '"'), "")
    return bool(visible) and visible in LEADS


def test_export_leaves_no_formula_for_a_spreadsheet(org: tuple[Path, Path]) -> None:
    db, _ = org
    engine = make_engine(f"sqlite:///{db}")
    with session_scope(engine) as session:
        priya = session.scalars(select(Person).where(Person.email == "priya.shah@example.com"))
        rep = priya.one()
        rep.name = HOSTILE[0]
        ids = dict(session.execute(select(Person.email, Person.id)).all())
        save_plan(
            session,
            workspace_id="acme",
            rep_id=rep.id,
            author_id=ids["marcus.bell@example.com"],
            month="2026-08",
            focus=[FocusInput("discovery_rate", 0.1, 0.3, 0.2)],
            why="\n".join(HOSTILE),
            actions=HOSTILE,
            checkin_dates=[date(2026, 8, 12)],
        )
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COACH_", "SLACK_"))}
    env.update({"DATABASE_URL": f"sqlite:///{db}", "COACH_WORKSPACE": "acme"})
    # Bytes, not text: text mode would turn the bare CRs this is about into LFs.
    exported = run_coach("export", "plans", env=env)
    assert exported.returncode == 0, exported.stderr
    raw = exported.raw_stdout.decode()
    assert "\r" not in raw and "\u2028" not in raw  # every line break is a quoted LF
    # An importer that breaks rows at every line break, inside quotes or not, runs nothing.
    for physical in raw.split("\n"):
        for field in physical.split(","):
            assert not runs_as_formula(field), physical
    rows = list(csv.reader(io.StringIO(raw, newline="")))
    assert len(rows) == 4  # the header and three plans: no row split off
    for row in rows:
        for cell in row:
            for line in cell.split("\n"):
                assert not runs_as_formula(line), cell
    august = rows[1]
    assert august[2] == "Rep 2\n'=cmd|' /C calc'!A0"  # what was typed, one mark added
    assert august[6].split("\n")[:2] == ["Rep 2", "'=cmd|' /C calc'!A0"]
