"""`coach run` with nothing due: the hint names the option the job takes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.in_process import run_coach


@pytest.mark.parametrize(("job", "option"), [("pips", "--day"), ("day-one", "--month")])
def test_nothing_due_points_to_the_jobs_own_option(tmp_path: Path, job: str, option: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COACH_", "SLACK_"))}
    env.update({"DATABASE_URL": f"sqlite:///{tmp_path / 'coach.db'}", "COLUMNS": "200"})
    assert run_coach("db", "upgrade", env=env).returncode == 0
    ran = run_coach("run", job, "--dry-run", env=env)
    assert ran.returncode == 0, ran.stderr
    other = "--month" if option == "--day" else "--day"
    assert f"give {option}" in ran.stdout and other not in ran.stdout


@pytest.mark.parametrize(("job", "period"), [("pips", "2026-12-03"), ("day-two", "2026-12")])
def test_nothing_for_the_period_asked_says_so(tmp_path: Path, job: str, period: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COACH_", "SLACK_"))}
    env.update({"DATABASE_URL": f"sqlite:///{tmp_path / 'coach.db'}", "COLUMNS": "200"})
    assert run_coach("db", "upgrade", env=env).returncode == 0
    option = "--day" if job == "pips" else "--month"
    ran = run_coach("run", job, option, period, "--dry-run", env=env)
    assert ran.returncode == 0, ran.stderr
    assert f"nothing to see for {period}" in ran.stdout and "due now" not in ran.stdout
