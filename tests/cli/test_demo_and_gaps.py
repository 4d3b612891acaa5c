"""`coach demo` end to end, then `coach gaps` on the database it built."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.in_process import Ran, run_coach

COACH = [sys.executable, "-m", "bot.cli.main"]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    result = subprocess.run(
        [*COACH, "demo", "--folder", str(folder / "demo")],
        capture_output=True,
        text=True,
        cwd=folder,
        env={**os.environ, "COLUMNS": "120"},
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    assert "Coaching focus for" in result.stdout
    assert "stretch: " in result.stdout  # reps without a weakness get a stretch, shown as such
    assert "sees: /coach gaps" in result.stdout and "sees: plan DM" in result.stdout
    assert "The archive:" in result.stdout and "What has worked for" in result.stdout
    for seen in (
        "/coach archive",
        "day-one thread",
        "day-one thread (a reply)",
        "invitation to reflect",
        "day-two digest",
    ):
        assert f"sees: {seen}" in result.stdout
    assert "day-one 20" in result.stdout and "0 failed" in result.stdout
    return folder / "demo"


def gaps(demo_dir: Path, *args: str) -> Ran:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{demo_dir / 'coach.db'}",
        "COACH_WORKSPACE": "demo",
    }
    return run_coach("gaps", *args, env=env)


def test_demo_writes_csvs_database_and_slack_payloads(demo_dir: Path) -> None:
    assert (demo_dir / "org.csv").read_text().startswith("email,name,role,manager_email")
    assert (demo_dir / "metrics.csv").read_text().startswith("month,rep_email,")
    payloads = sorted(p.name for p in (demo_dir / "slack").glob("*.json"))
    assert payloads[0] == "01_coach_gaps.json" and len(payloads) == 14
    assert payloads[-1] == "14_day_two_digest.json"
    for path in (demo_dir / "slack").glob("*.json"):
        json.loads(path.read_text())


def test_gaps_json_for_one_rep_and_all(demo_dir: Path) -> None:
    org = (demo_dir / "org.csv").read_text().splitlines()
    rep = next(line.split(",")[0] for line in org if ",rep," in line)
    one = gaps(demo_dir, rep, "--json")
    assert one.returncode == 0, one.stderr
    report = json.loads(one.stdout)
    assert report["rep"] == rep and len(report["window"]) == 3
    lines = gaps(demo_dir, "--all", "--json").stdout.splitlines()
    assert len(lines) >= 20
    assert {json.loads(line)["rep"] for line in lines} >= {rep}
    assert "NaN" not in one.stdout and "Infinity" not in one.stdout
    text = gaps(demo_dir, rep)
    assert text.returncode == 0 and "peers:" in text.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["nobody@example.com"], "nobody@example.com"),
        (["--month", "1999-01", "--all", "--json"], "1999-01"),
        (["--month", "2026-13", "--all", "--json"], "2026-13"),
        ([], "EMAIL or --all"),
        (["[/][bold]x@example.com"], "[/][bold]x@example.com"),  # typed text is not markup
    ],
)
def test_gaps_errors_are_one_clear_line(demo_dir: Path, args: list[str], needle: str) -> None:
    result = gaps(demo_dir, *args)
    assert result.returncode == 1
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
