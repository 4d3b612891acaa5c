"""A missing or invalid setting ends a command with one line naming the variable, exit 2."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.in_process import Ran, run_coach


def run(args: list[str], env: dict[str, str], cwd: Path) -> Ran:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("COACH_", "SLACK_"))}
    full_env.pop("DATABASE_URL", None)
    full_env.update(env)
    return run_coach(*args, env=full_env, cwd=cwd)


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"COACH_TIMEZONE": "Mars/Olympus"}, "COACH_TIMEZONE"),
        ({"DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL"),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
        ({"SLACK_API_URL": "slack.com/api"}, "SLACK_API_URL"),
        ({"COACH_METRICS_FILE": "/nonexistent/metrics.yaml"}, "COACH_METRICS_FILE"),
        ({"DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/none"}, "DATABASE_URL"),
        ({"COACH_WINDOW_MONTHS": "0"}, "COACH_WINDOW_MONTHS"),
        ({"COACH_FLAG_THRESHOLD": "high"}, "COACH_FLAG_THRESHOLD"),
        ({"COACH_MAX_FOCUS": "3"}, "COACH_MAX_FOCUS"),
        ({"COACH_MONTHS_AHEAD": "-1"}, "COACH_MONTHS_AHEAD"),
        ({"COACH_COUNTRY": "Germany"}, "COACH_COUNTRY"),
        ({"COACH_COUNTRY": "DE-XX"}, "COACH_COUNTRY"),
        ({"COACH_REMINDER_DAY": "1"}, "COACH_REMINDER_DAY"),
        ({"COACH_REMINDER_DAY": "6"}, "COACH_ESCALATION_DAY"),
    ],
)
def test_bad_setting_is_one_line_exit_2(env: dict[str, str], needle: str, tmp_path: Path) -> None:
    result = run(["db", "upgrade"], env, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]
    assert "Traceback" not in result.stderr


def test_broken_catalogue_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "metrics.yaml"
    bad.write_text("metrics:\n  - key: x\n    kind: nonsense\n")
    result = run(["import", "metrics", "nothing.csv"], {"COACH_METRICS_FILE": str(bad)}, tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "COACH_METRICS_FILE" in result.stderr


def test_schema_not_migrated_is_explained(tmp_path: Path) -> None:
    (tmp_path / "org.csv").write_text("email,name,role\n")
    result = run(["import", "org", "org.csv"], {}, tmp_path)
    assert result.returncode == 2
    assert "coach db upgrade" in result.stderr


def test_months_ahead_come_from_the_setting(tmp_path: Path) -> None:
    """A quota two months ahead is refused (exit 1, line and column) unless COACH_MONTHS_AHEAD
    allows it; the clock is the real one, as the command line has no other."""
    from storage.csv_metrics import latest_month

    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'coach.db'}"}
    (tmp_path / "org.csv").write_text(
        "email,name,role,manager_email\nm@example.com,M,director,\nr@example.com,R,rep,m@example.com\n"
    )
    assert run(["import", "org", "org.csv", "--migrate"], env, tmp_path).returncode == 0
    month = latest_month(2)
    (tmp_path / "quota.csv").write_text(f"month,rep_email,quota\n{month},r@example.com,60000\n")
    refused = run(["import", "metrics", "quota.csv"], env, tmp_path)
    assert refused.returncode == 1
    assert f"line 2, column month: {month} is in the future" in refused.stderr
    allowed = run(["import", "metrics", "quota.csv"], {**env, "COACH_MONTHS_AHEAD": "2"}, tmp_path)
    assert allowed.returncode == 0, allowed.stderr
    assert "1 new" in allowed.stdout
