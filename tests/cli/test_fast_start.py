"""`coach --help` and `coach gaps EMAIL` load only what they use: a fresh process runs the
command, then lists every module it imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine

from tests.bot.conftest import REPS_OF_MARK, seed

# Runs `coach ARGS` as the console script does, then writes the imported modules' names.
PROBE = """
import json, os, sys
from bot.cli.main import main
sys.argv = ["coach", *sys.argv[2:]]
try:
    main()
except SystemExit:
    pass
with open(os.environ["MODULES_OUT"], "w") as f:
    json.dump(sorted(sys.modules), f)
"""
# Bolt, charts and the scheduler belong to `coach serve`; statistics beyond scipy.special and
# locale-aware number parsing to the Slack app.
# Alembic (and its Mako templates) only to migrate: the schema check reads the migration files.
NEVER = (
    "slack_bolt",
    "slack_sdk",
    "matplotlib",
    "apscheduler",
    "babel",
    "scipy.stats",
    "alembic",
    "mako",
)
# Help text needs none of the data stack or settings validation.
NOT_FOR_HELP = (
    *NEVER,
    "scipy",
    "pandas",
    "numpy",
    "sqlalchemy",
    "pydantic_settings",
    "bot.settings",
)


def imported_by(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[set[str], str]:
    out = tmp_path / "modules.json"
    result = subprocess.run(
        [sys.executable, "-c", PROBE, "coach", *args],
        env={**env, "MODULES_OUT": str(out), "COLUMNS": "120"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(out.read_text())), result.stdout


def loaded(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted({p for p in packages for m in modules if m == p or m.startswith(p + ".")})


def test_help_imports_no_data_stack_no_slack(tmp_path: Path) -> None:
    modules, shown = imported_by(tmp_path, dict(os.environ), "--help")
    assert "gaps" in shown and "serve" in shown
    assert loaded(modules, NOT_FOR_HELP) == []


def test_gaps_for_one_rep_imports_no_slack_charts_or_scheduler(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    seed(sqlite_engine, ["2026-08", "2026-09", "2026-10"])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COACH_", "SLACK_"))}
    env["DATABASE_URL"] = sqlite_engine.url.render_as_string(hide_password=False)
    modules, shown = imported_by(tmp_path, env, "gaps", REPS_OF_MARK[0], "--month", "2026-10")
    assert REPS_OF_MARK[0] in shown
    assert "pandas" in modules  # the probe sees what the command imports
    assert loaded(modules, NEVER) == []
