"""`coach import plans`: exit 0 with the plans judged, 1 for a wrong file, 2 for configuration."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import func, select

from storage.db import make_engine
from storage.models import PlanOutcome
from tests.in_process import Ran, run_coach
from tests.storage.test_import_plans import ORG, PLANS, metrics_csv


def coach(db: Path, *args: str) -> Ran:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COACH_", "SLACK_"))}
    env.update({"DATABASE_URL": f"sqlite:///{db}", "COACH_WORKSPACE": "acme", "COLUMNS": "200"})
    return run_coach(*args, env=env)


def test_exit_status_and_judging(tmp_path: Path) -> None:
    files = {"org.csv": ORG, "metrics.csv": metrics_csv(), "plans.csv": PLANS}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "bad.csv").write_text(PLANS.replace("connect_rate", "conect_rate"))
    db = tmp_path / "coach.db"
    unmigrated = coach(db, "import", "plans", str(tmp_path / "plans.csv"))
    assert unmigrated.returncode == 2 and "coach db upgrade" in unmigrated.stderr
    assert coach(db, "import", "org", str(tmp_path / "org.csv"), "--migrate").returncode == 0
    assert coach(db, "import", "metrics", str(tmp_path / "metrics.csv")).returncode == 0

    bad = coach(db, "import", "plans", str(tmp_path / "bad.csv"))
    assert bad.returncode == 1
    assert "nothing imported" in bad.stderr
    assert (
        "line 4, column metric: 'conect_rate' is not a metric a plan can focus on — did you "
        "mean connect_rate?"
    ) in bad.stderr

    first = coach(db, "import", "plans", str(tmp_path / "plans.csv"))
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "imported 3 rows as 2 plans: 2 new, 0 updated",
        "judged 3 plan focus metrics",
    ]
    engine = make_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(PlanOutcome)) == 3
    engine.dispose()
    again = coach(db, "import", "plans", str(tmp_path / "plans.csv"))
    assert again.returncode == 0
    assert again.stdout.strip() == "imported 3 rows as 2 plans: 0 new, 0 updated, 2 unchanged"
