"""`coach gaps` with month-to-date rows: the default month is the latest full one, and an asked
month-to-date month says through which day its numbers run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from analytics.simulate import demo_org
from bot.demo.run import write_demo_csvs
from tests.in_process import Ran, run_coach


def coach(env: dict[str, str], *args: str) -> Ran:
    return run_coach(*args, env=env)


def test_gaps_says_through_which_day_a_partial_month_runs(tmp_path: Path) -> None:
    people, metrics, _ = demo_org(end_month="2026-10")
    org_csv, metrics_csv = write_demo_csvs(tmp_path, people, metrics)
    november = pd.read_csv(metrics_csv)
    november = november[november["month"] == "2026-10"].assign(month="2026-11")
    to_date = tmp_path / "november.csv"
    november.assign(through="2026-11-18").to_csv(to_date, index=False)
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'coach.db'}",
        "COACH_WORKSPACE": "demo",
        "COLUMNS": "160",
    }
    for kind, path in (("org", org_csv), ("metrics", metrics_csv), ("metrics", to_date)):
        imported = coach(env, "import", kind, str(path), "--migrate")
        assert imported.returncode == 0, imported.stderr
    rep = str(november["rep_email"].iloc[0])

    default = coach(env, "gaps", rep, "--json")
    assert default.returncode == 0, default.stderr
    assert (json.loads(default.stdout)["month"], json.loads(default.stdout)["through"]) == (
        "2026-10",
        None,
    )
    asked = coach(env, "gaps", rep, "--month", "2026-11", "--json")
    assert json.loads(asked.stdout)["through"] == "2026-11-18"
    text = coach(env, "gaps", rep, "--month", "2026-11")
    assert text.returncode == 0, text.stderr
    assert "2026-11 (through Nov 18)" in text.stdout
    assert "2026-11 is month to date" in " ".join(text.stdout.split())
    assert "through Nov" not in coach(env, "gaps", rep).stdout
