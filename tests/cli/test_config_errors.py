"""A missing or invalid setting ends a command with one line naming the variable, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

COACH = [sys.executable, "-m", "bot.cli.main"]


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("COACH_", "SLACK_"))}
    full_env.pop("DATABASE_URL", None)
    full_env.update(env)
    return subprocess.run(COACH + args, env=full_env, cwd=cwd, capture_output=True, text=True)


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
