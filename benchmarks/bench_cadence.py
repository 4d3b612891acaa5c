"""Benchmark day one for a large org against the Slack stand-in with no rate limit.

    .venv/bin/python benchmarks/bench_cadence.py [--reps 5000] [--managers 500] [--database-url URL]

Builds an org of `--reps` reps under `--managers` managers (50 directors above them) with 24 months
of simulated funnel counts, imports it through the real CSV import into a fresh database (SQLite
in a temporary folder unless `--database-url` names an empty one), serves the Slack stand-in in a
separate process, and runs `day-one` for one month exactly as `coach run day-one --month` does:
every manager's thread (a parent and a reply per rep) and every rep's invitation, each claimed,
sent and marked. Pacing is off, so what is measured is the bot's own work: loading the gap
engine, every rep's gaps, rendering, claims — plus the HTTP round trips to the stand-in.
Target (issue 5): the bot's own work under 30 s in all.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402

from analytics.catalogue import load_catalogue  # noqa: E402
from analytics.simulate import simulate_org  # noqa: E402
from bot.cadence.jobs import Cadence  # noqa: E402
from bot.coaching.services import Services  # noqa: E402
from bot.demo.run import write_demo_csvs  # noqa: E402
from bot.demo.standin import SlackStandIn  # noqa: E402
from bot.settings import Settings  # noqa: E402
from storage.csv_import import import_metrics, import_org  # noqa: E402
from storage.db import make_engine, session_scope, upgrade  # noqa: E402

MONTH = "2026-11"


def build_org(reps: int, managers: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulated reps and counts, regrouped under `managers` managers and 50 directors."""
    people, metrics, _ = simulate_org(reps, 24, seed=1, end_month="2026-10")
    reps_frame = people[people["role"] == "rep"].reset_index(drop=True)
    directors = pd.DataFrame(
        {
            "email": [f"director{i}@example.com" for i in range(50)],
            "name": [f"Director {i}" for i in range(50)],
            "role": "director",
            "manager_email": None,
        }
    )
    bosses = pd.DataFrame(
        {
            "email": [f"boss{i}@example.com" for i in range(managers)],
            "name": [f"Manager {i}" for i in range(managers)],
            "role": "manager",
            "manager_email": [f"director{i % 50}@example.com" for i in range(managers)],
        }
    )
    reps_frame["manager_email"] = [
        f"boss{i % managers}@example.com" for i in range(len(reps_frame))
    ]
    org = pd.concat([directors, bosses, reps_frame], ignore_index=True)
    org["slack_user_id"] = [f"U{i:08d}" for i in range(len(org))]
    return org, metrics


def serve_standin(directory: dict[str, str], ready: multiprocessing.Queue, stop: object) -> None:
    """The stand-in in its own process, so its work is not counted as the bot's."""
    with SlackStandIn(directory) as slack:
        ready.put(slack.url)
        stop.wait()  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5000)
    parser.add_argument("--managers", type=int, default=500)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--database-url", help="an empty database (default: SQLite in /tmp)")
    args = parser.parse_args()
    print(f"cadence benchmark · {os.cpu_count()} CPUs · Python {sys.version.split()[0]}")

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/coach.db"
        org, metrics = build_org(args.reps, args.managers)
        org_path, metrics_path = write_demo_csvs(Path(tmp), org, metrics)
        upgrade(url)
        engine = make_engine(url)
        catalogue = load_catalogue()
        start = time.perf_counter()
        with session_scope(engine) as session:
            import_org(session, "default", org_path)
            import_metrics(session, "default", metrics_path, catalogue)
        print(
            f"org: {args.reps:,} reps, {args.managers} managers, 50 directors; "
            f"{len(metrics):,} metric rows imported in {time.perf_counter() - start:.1f} s "
            f"({engine.url.get_backend_name()})"
        )

        ready: multiprocessing.Queue = multiprocessing.Queue()
        stop = multiprocessing.Event()
        directory = dict(zip(org["email"], org["slack_user_id"], strict=True))
        standin = multiprocessing.Process(target=serve_standin, args=(directory, ready, stop))
        standin.start()
        try:
            settings = Settings(
                SLACK_BOT_TOKEN="xoxb-bench",
                SLACK_API_URL=ready.get(timeout=60),
                DATABASE_URL=url,
                COACH_SEND_RATE=0,
                COACH_SEND_WORKERS=args.workers,
            )
            cadence = Cadence(Services(settings, engine), "default")
            cpu, wall = time.process_time(), time.perf_counter()
            [run] = cadence.plan("day-one", month=MONTH)
            plan_cpu, plan_wall = time.process_time() - cpu, time.perf_counter() - wall
            messages = sum(len(b.messages) for b in run.batches)
            cpu, wall = time.process_time(), time.perf_counter()
            summary = cadence.sender().send(run.batches)
            send_cpu, send_wall = time.process_time() - cpu, time.perf_counter() - wall
        finally:
            stop.set()
            standin.join(timeout=30)
        engine.dispose()

    print(f"day one {MONTH}: {messages:,} messages; {summary.line('day-one', MONTH)}")
    print(
        f"  gaps + rendering (engine load, every rep)   {plan_wall:6.1f} s wall  "
        f"{plan_cpu:6.1f} s CPU"
    )
    print(
        f"  claim → send → mark, {args.workers} workers            {send_wall:6.1f} s wall  "
        f"{send_cpu:6.1f} s CPU  ({messages / send_wall:,.0f} messages/s)"
    )
    total = plan_cpu + send_cpu
    print(
        f"  the bot's own work (its process's CPU)      {total:6.1f} s        (target < 30 s); "
        f"wall in all {plan_wall + send_wall:.1f} s with the stand-in on the same cores"
    )


if __name__ == "__main__":
    main()
