"""Benchmark the weekly 1:1 preps for a large org against the Slack stand-in (no rate limit).

    .venv/bin/python benchmarks/bench_one_on_ones.py [--reps 5000] [--managers 500]

The org of `bench_cadence.py` (reps under managers, 24 months of counts), every rep with a
weekly 1:1 (weekdays and half hours from 09:00 to 16:30 spread over the reps; managers in three
time zones) and a December plan. Measures what the scheduler pays every tick: planning the
one-on-one job at a moment when one half hour's preps are due (zones, Slack statuses, claims
looked up, each prep gathered and rendered), a tick just after (all settled: nothing built),
and a by-hand `coach run one-on-one --day` of a whole Tuesday (plan, then claim → send → mark).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_cadence import build_org, serve_standin  # noqa: E402
from sqlalchemy import select, update  # noqa: E402

from analytics.catalogue import load_catalogue  # noqa: E402
from bot.cadence.jobs import Cadence  # noqa: E402
from bot.coaching.services import Services  # noqa: E402
from bot.demo.run import write_demo_csvs  # noqa: E402
from bot.settings import Settings  # noqa: E402
from storage.csv_import import import_metrics, import_org  # noqa: E402
from storage.db import make_engine, session_scope, upgrade  # noqa: E402
from storage.models import Person  # noqa: E402
from storage.plans import FocusInput, save_plan  # noqa: E402

ZONES = ("Europe/Berlin", "America/New_York", "Asia/Singapore")
TUESDAY = "2026-12-08"


def schedule(engine, reps: int) -> None:  # type: ignore[no-untyped-def]
    """Weekly slots for every rep, zones for the managers, a December plan for every rep."""
    from datetime import time as clock

    with session_scope(engine) as session:
        people = session.execute(select(Person.id, Person.role).order_by(Person.id)).all()
        rep_ids = [pid for pid, role in people if role == "rep"]
        manager_ids = [pid for pid, role in people if role == "manager"]
        for i, pid in enumerate(rep_ids):
            half_hours = i // 5 % 16
            session.execute(
                update(Person)
                .where(Person.id == pid)
                .values(
                    one_on_one_weekday=i % 5,
                    one_on_one_time=clock(9 + half_hours // 2, 30 * (half_hours % 2)),
                )
            )
        for i, pid in enumerate(manager_ids):
            session.execute(update(Person).where(Person.id == pid).values(timezone=ZONES[i % 3]))
        for pid in rep_ids:
            save_plan(
                session,
                workspace_id="default",
                rep_id=pid,
                author_id=None,
                month="2026-12",
                focus=[FocusInput("close_rate", 0.1, 0.3, 0.2)],
                why="benchmark",
                actions=["Record 2 demos", "Review them together"],
                checkin_dates=[date(2026, 12, 10)],
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5000)
    parser.add_argument("--managers", type=int, default=500)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    print(f"1:1 prep benchmark · {os.cpu_count()} CPUs · Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/coach.db"
        org, metrics = build_org(args.reps, args.managers)
        org_path, metrics_path = write_demo_csvs(Path(tmp), org, metrics)
        upgrade(url)
        engine = make_engine(url)
        with session_scope(engine) as session:
            import_org(session, "default", org_path)
            import_metrics(session, "default", metrics_path, load_catalogue())
        schedule(engine, args.reps)
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
            # 13:40 in Berlin: the 14:00 1:1s of Berlin's managers are due.
            now = datetime(2026, 12, 8, 12, 40, tzinfo=UTC)
            figures = []
            for label in ("first tick (Slack statuses looked up)", "tick, statuses cached"):
                wall = time.perf_counter()
                runs = cadence.plan("one-on-one", now=now)
                built = sum(len(b.messages) for r in runs for b in r.batches)
                figures.append((label, time.perf_counter() - wall, built))
            summary = cadence.sender().send([b for r in runs for b in r.batches])
            wall = time.perf_counter()
            settled = cadence.plan("one-on-one", now=now)
            figures.append(("tick after they went (nothing built)", time.perf_counter() - wall, 0))
            assert sum(len(b.messages) for r in settled for b in r.batches) == 0
            cpu, wall = time.process_time(), time.perf_counter()
            [day] = cadence.plan("one-on-one", month=TUESDAY)
            plan_wall, plan_cpu = time.perf_counter() - wall, time.process_time() - cpu
            cpu, wall = time.process_time(), time.perf_counter()
            sent = cadence.sender().send(day.batches)
            send_wall, send_cpu = time.perf_counter() - wall, time.process_time() - cpu
        finally:
            stop.set()
            standin.join(timeout=30)
        engine.dispose()
    print(f"org: {args.reps:,} reps with weekly 1:1s under {args.managers} managers (SQLite)")
    for label, seconds, built in figures:
        print(f"  {label:<40} {seconds:6.2f} s wall  {built:5,} preps and prompts built")
    print(f"  sent at that tick: {summary.line('one-on-one', TUESDAY)}")
    preps = len(day.batches)
    print(f"by hand, every 1:1 of Tuesday {TUESDAY}: {preps:,} preps")
    print(f"  {sent.line('one-on-one', TUESDAY)}")
    print(
        f"  gather + render                          {plan_wall:6.2f} s wall  {plan_cpu:5.2f} s CPU"
    )
    print(
        f"  claim → send → mark, {args.workers} workers           {send_wall:6.2f} s wall  "
        f"{send_cpu:5.2f} s CPU ({preps / send_wall:,.0f} preps/s)"
    )


if __name__ == "__main__":
    main()
