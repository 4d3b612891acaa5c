"""`coach run one-on-one` as operators run it: killed mid-send, then run again."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from datetime import time

import pytest
from sqlalchemy import update

from bot.demo.standin import SlackStandIn
from storage.db import make_engine
from storage.models import Person
from tests.bot.conftest import REPS_OF_MARK, metadata_keys, seed
from tests.bot.test_cadence_processes import COACH, age_claims, coach, env_for

RUN = ["run", "one-on-one", "--day", "2026-12-08"]


@pytest.fixture
def sqlite_db(migrated_sqlite_url: str) -> str:
    """The small org, Mark's five reps meeting him on Tuesdays at 14:00."""
    engine = make_engine(migrated_sqlite_url)
    seed(engine, ["2026-08", "2026-09", "2026-10"])
    with engine.begin() as conn:
        conn.execute(
            update(Person)
            .where(Person.email.in_(REPS_OF_MARK))
            .values(one_on_one_weekday=1, one_on_one_time=time(14, 0))
        )
    engine.dispose()
    return migrated_sqlite_url


def test_kill_9_mid_prep_then_rerun_sends_each_prep_exactly_once(
    sqlite_db: str, slack: SlackStandIn
) -> None:
    """Mark's five reps meet him on Tuesdays: the run dies once Slack has posted the second
    prep but before it heard so; a rerun once that claim is stale finds the prep in the DM (its
    key in the metadata) and sends only the three never tried."""
    calls = iter(range(1, 1000))
    slack.slow("chat.postMessage", 60, when=lambda _p: next(calls) == 2)
    process = subprocess.Popen(
        [*COACH, *RUN],
        env=env_for(sqlite_db, slack, COACH_SEND_WORKERS="1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        slack.wait_for("chat.postMessage", count=2, timeout=60)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    slack.release()
    age_claims(sqlite_db)  # COACH_CLAIM_TIMEOUT later (a rerun before leaves the claim alone)
    later = coach(sqlite_db, slack, *RUN)
    assert later.returncode == 0, later.stderr
    assert "one-on-one 2026-12-08: 3 sent, 2 already sent, 0 skipped, 0 failed" in later.stdout
    keys = Counter(metadata_keys(slack))
    assert len(keys) == 5 and set(keys.values()) == {1}
    assert all(k.startswith("one-on-one:2026-12-08:manager:") for k in keys)
    assert len(slack.posted("UMARK")) == 5
