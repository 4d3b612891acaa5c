"""`coach run` as operators run it: separate processes, killed mid-run, or racing each other.

A run that only has to print and exit (and each rerun after a kill) runs `coach` in the test
process (`tests.in_process`); the runs that are killed or race are real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from bot.demo.standin import SlackStandIn
from storage.db import make_engine
from storage.models import Delivery
from tests.bot.conftest import metadata_keys, seed
from tests.in_process import Ran, run_coach

COACH = [sys.executable, "-m", "bot.cli.main"]
MONTH_RUN = ["run", "day-one", "--month", "2026-11"]
ALL_KEYS = 22  # 2 managers × (1 + 5 replies) + 10 invitations


@pytest.fixture
def sqlite_db(migrated_sqlite_url: str) -> str:
    sqlite_url = migrated_sqlite_url
    engine = make_engine(sqlite_url)
    seed(engine, ["2026-08", "2026-09", "2026-10"])
    engine.dispose()
    return sqlite_url


def env_for(url: str, slack: SlackStandIn, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("COACH_", "SLACK_"))}
    return {
        **base,
        "DATABASE_URL": url,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_API_URL": slack.url,
        "COACH_SEND_RATE": "0",
        "COLUMNS": "200",
        **extra,
    }


def coach(url: str, slack: SlackStandIn, *args: str, **extra: str) -> Ran:
    return run_coach(*args, env=env_for(url, slack, **extra))


def age_claims(url: str) -> None:
    """Make every open claim look an hour old, as if COACH_CLAIM_TIMEOUT had passed."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            update(Delivery)
            .where(Delivery.status == "claimed")
            .values(claimed_at=datetime.now(UTC) - timedelta(hours=1))
        )
    engine.dispose()


def deliveries(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        count = conn.scalar(select(func.count()).select_from(Delivery))
    engine.dispose()
    return count or 0


def test_dry_run_prints_everything_and_sends_and_records_nothing(
    sqlite_db: str, slack: SlackStandIn
) -> None:
    result = coach(sqlite_db, slack, *MONTH_RUN, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "→ mark@example.com" in result.stdout and "November 1:1s — 5 reps" in result.stdout
    assert "day-one 2026-11 (dry run): 22 would be sent, 0 already sent" in result.stdout
    assert slack.calls == [] and deliveries(sqlite_db) == 0


def test_run_summary_rerun_and_exit_status(sqlite_db: str, slack: SlackStandIn) -> None:
    slack.fail("chat.postMessage", status=500, when=lambda p: p.get("channel") == "UREP4")
    first = coach(sqlite_db, slack, *MONTH_RUN)
    assert first.returncode == 1  # something failed
    assert "day-one 2026-11: 21 sent, 0 already sent, 0 skipped, 1 failed" in first.stdout
    assert "failed rep4@example.com (reflection)" in first.stderr
    slack._faults.clear()
    second = coach(sqlite_db, slack, *MONTH_RUN)
    assert second.returncode == 0, second.stderr
    assert "day-one 2026-11: 1 sent, 21 already sent, 0 skipped, 0 failed" in second.stdout
    dry = coach(sqlite_db, slack, *MONTH_RUN, "--dry-run")
    assert "0 would be sent, 22 already sent, 0 skipped earlier" in dry.stdout
    assert Counter(metadata_keys(slack)) == Counter({k: 1 for k in metadata_keys(slack)})
    assert len(metadata_keys(slack)) == ALL_KEYS


@pytest.mark.parametrize(
    ("args", "needle", "code"),
    [
        (["run", "day-three"], "unknown job 'day-three'", 1),
        (["run", "day-one", "--month", "2026-13"], "--month '2026-13' is not a month", 1),
        (["run", "daily", "--month", "2026-11"], "daily takes --day", 1),
        (["run", "daily", "--day", "2026-11-31"], "not a date", 1),
        (["run", "daily"], "no daily channel: set COACH_DAILY_CHANNEL, or a workspace", 2),
        (["run", "one-on-one", "--month", "2026-11"], "one-on-one takes --day", 1),
    ],
)
def test_bad_arguments_say_what_and_change_nothing(
    sqlite_db: str, slack: SlackStandIn, args: list[str], needle: str, code: int
) -> None:
    result = coach(sqlite_db, slack, *args)
    assert result.returncode == code
    assert needle in result.stderr
    assert slack.calls == [] and deliveries(sqlite_db) == 0


def test_a_run_with_no_token_says_which_variable(sqlite_db: str, slack: SlackStandIn) -> None:
    env = env_for(sqlite_db, slack)
    env.pop("SLACK_BOT_TOKEN")
    result = run_coach(*MONTH_RUN, env=env)
    assert result.returncode == 2 and "SLACK_BOT_TOKEN" in result.stderr


@pytest.mark.parametrize(
    ("killed_at", "early", "final"),
    [
        # Call 1 is Mark's thread parent: his whole thread waits for its claim.
        (1, "16 sent, 0 already sent, 6 in progress elsewhere", "5 sent, 17 already sent"),
        (7, "10 sent, 6 already sent, 6 in progress elsewhere", "5 sent, 17 already sent"),
        (8, "14 sent, 7 already sent, 1 in progress elsewhere", "0 sent, 22 already sent"),
        (13, "9 sent, 12 already sent, 1 in progress elsewhere", "0 sent, 22 already sent"),
    ],
)
def test_kill_9_mid_send_then_rerun_sends_every_message_exactly_once(
    sqlite_db: str, slack: SlackStandIn, killed_at: int, early: str, final: str
) -> None:
    """The process dies while Slack has posted a message but before it heard so: the worst
    moment. A rerun at once leaves the dead claim alone (it may still be live) and says so; once
    the claim is stale, a rerun takes it over, finds the message in Slack, and sends the rest.
    (Call 1 is Mark's thread parent, 7 Mia's, 8 the first reply in Mia's thread, 13 the first
    invitation; one worker sends in that order.)
    """
    calls = iter(range(1, 1000))
    slack.slow("chat.postMessage", 60, when=lambda _p: next(calls) == killed_at)
    process = subprocess.Popen(
        [*COACH, *MONTH_RUN],
        env=env_for(sqlite_db, slack, COACH_SEND_WORKERS="1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        slack.wait_for("chat.postMessage", count=killed_at, timeout=60)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    slack.release()
    assert len(metadata_keys(slack)) == killed_at
    at_once = coach(sqlite_db, slack, *MONTH_RUN)
    assert at_once.returncode == 0, at_once.stderr
    assert f"day-one 2026-11: {early}, 0 skipped, 0 failed" in at_once.stdout
    age_claims(sqlite_db)  # COACH_CLAIM_TIMEOUT later
    later = coach(sqlite_db, slack, *MONTH_RUN)
    assert later.returncode == 0, later.stderr
    assert f"day-one 2026-11: {final}, 0 skipped, 0 failed" in later.stdout
    keys = Counter(metadata_keys(slack))
    assert len(keys) == ALL_KEYS and set(keys.values()) == {1}
    for message in slack.posted():  # replies are still under their manager's parent
        key = message["metadata"]["event_payload"]["key"]
        assert bool(message.get("thread_ts")) == (key.startswith("day-one") and ":rep:" in key)


@pytest.fixture
def pg_db(migrated_pg_url: str) -> Iterator[str]:
    pg_url = migrated_pg_url
    engine = make_engine(pg_url)
    seed(engine, ["2026-08", "2026-09", "2026-10"])
    engine.dispose()
    yield pg_url


def _counts(output: str) -> dict[str, int]:
    line = next(line for line in output.splitlines() if line.startswith("day-one 2026-11:"))
    counts = {}
    for chunk in line.split(":", 1)[1].split(","):
        number, _, what = chunk.strip().partition(" ")
        counts[what] = int(number)
    return counts


def test_two_processes_on_postgresql_send_every_message_exactly_once(
    pg_db: str, slack: SlackStandIn
) -> None:
    # Slow answers keep each run going for seconds, so the second starts while the first sends.
    slack.slow("chat.postMessage", 0.5)
    env = env_for(pg_db, slack, COACH_SEND_WORKERS="2")
    processes = [
        subprocess.Popen(
            [*COACH, *MONTH_RUN], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in processes]
    for process, (_out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
    counts = [_counts(out) for out, _ in outputs]
    assert all(c["sent"] > 0 for c in counts)  # both really sent: they ran at the same time
    assert sum(c["sent"] for c in counts) == ALL_KEYS
    for c in counts:
        assert c["sent"] + c["already sent"] + c.get("in progress elsewhere", 0) == ALL_KEYS
    keys = Counter(metadata_keys(slack))
    assert len(keys) == ALL_KEYS and set(keys.values()) == {1}


def test_kill_9_mid_reminder_then_rerun_reminds_each_manager_once(
    sqlite_db: str, slack: SlackStandIn
) -> None:
    """A reminder is a reply in the day-one thread: a rerun after the sender died once Slack had
    posted it finds it there and doesn't post it again; the escalation goes once too."""
    assert coach(sqlite_db, slack, *MONTH_RUN).returncode == 0
    reminder_run = ["run", "reminder", "--month", "2026-11"]
    calls = iter(range(1, 1000))
    slack.slow("chat.postMessage", 60, when=lambda _p: next(calls) == 1)
    process = subprocess.Popen(
        [*COACH, *reminder_run],
        env=env_for(sqlite_db, slack, COACH_SEND_WORKERS="1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        slack.wait_for("chat.postMessage", count=ALL_KEYS + 1, timeout=60)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    slack.release()
    at_once = coach(sqlite_db, slack, *reminder_run)
    assert "reminder 2026-11: 1 sent, 0 already sent, 1 in progress elsewhere" in at_once.stdout
    age_claims(sqlite_db)
    later = coach(sqlite_db, slack, *reminder_run)
    assert "reminder 2026-11: 0 sent, 2 already sent" in later.stdout, later.stderr
    for _ in range(2):
        escalated = coach(sqlite_db, slack, "run", "escalation", "--month", "2026-11")
        assert escalated.returncode == 0, escalated.stderr
    keys = Counter(metadata_keys(slack))
    assert set(keys.values()) == {1} and len(keys) == ALL_KEYS + 2 + 1  # reminders, escalation
    reminders = [m for m in slack.posted() if "reminder:" in str(m["metadata"])]
    assert all(m.get("thread_ts") for m in reminders)
