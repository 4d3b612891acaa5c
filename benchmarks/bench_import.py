"""Time the CSV imports on a large org: 5,000 reps × 24 months, every count column.

    taskset -c 0 python benchmarks/bench_import.py [--reps 5000] [--months 24] [--no-postgresql]

Generates an org chart and a full-column metrics CSV (self-contained, seeded), imports both into
a fresh SQLite file and, when the test server at 127.0.0.1:5432 answers, a fresh PostgreSQL
database, then imports the metrics again (every row unchanged) and prints the timings: wall, and
this process's CPU (PostgreSQL's own work shows only in the wall time). `taskset -c 0` pins it
to one core, as the README's figure was measured.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, event, text

from analytics.catalogue import load_catalogue
from storage.csv_import import ORG_COLUMNS, ImportResult, import_metrics, import_org
from storage.db import make_engine, session_scope, upgrade

WORKSPACE = "bench"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
# Every count column the default catalogue knows: the issue asks for "all columns".
CATALOGUE = load_catalogue()
COUNTS = CATALOGUE.columns
SEGMENTS = ["SMB", "Mid-Market", "Enterprise"]
ZONES = ["America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London"]


def write_org(path: Path, reps: int, rng: np.random.Generator) -> list[str]:
    """An org chart with a director per 8 managers and a manager per 8 reps; the reps' emails."""
    managers = max(1, reps // 8)
    directors = max(1, managers // 8)
    rep_emails = [f"rep{i}@bench.example" for i in range(reps)]
    starts = np.datetime64("2019-01-01") + rng.integers(0, 2500, reps)
    rows = [["ops@bench.example", "Sales Ops", "admin", "", "", "", "", ""]]
    rows += [
        [f"dir{i}@bench.example", f"Director {i}", "director", "", "", "", ZONES[i % 4], ""]
        for i in range(directors)
    ]
    rows += [
        [
            f"mgr{i}@bench.example",
            f"Manager {i}",
            "manager",
            f"dir{i % directors}@bench.example",
            "",
            "",
            ZONES[i % 4],
            "2020-03-02",
        ]
        for i in range(managers)
    ]
    rows += [
        [
            email,
            f"Rep {i}",
            "rep",
            f"mgr{i % managers}@bench.example",
            SEGMENTS[i % 3],
            f"U{i:08d}" if i % 2 else "",
            ZONES[i % 4],
            str(starts[i]),
        ]
        for i, email in enumerate(rep_emails)
    ]
    with path.open("w", newline="", encoding="utf-8") as file:
        out = csv.writer(file)
        # One discipline, no weekly 1:1s.
        out.writerow([c for c in ORG_COLUMNS if c not in ("discipline", "one_on_one")])
        out.writerows(rows)
    return rep_emails


def write_metrics(path: Path, reps: list[str], months: int, rng: np.random.Generator) -> int:
    """One row per rep and month with all 16 counts of a plausible funnel; the row count."""
    size = (months, len(reps))
    leads = rng.poisson(300, size)
    connects = rng.binomial(leads, 0.3)
    discovery = rng.binomial(connects, 0.4)
    demos = rng.binomial(discovery, 0.5)
    wins = rng.binomial(demos, 0.3)
    revenue = np.round(wins * rng.lognormal(9, 0.5, size))
    inherited = rng.binomial(wins, 0.1)
    initial = rng.binomial(connects, 0.5)
    columns = [
        leads,
        connects,
        discovery,
        demos,
        wins,
        rng.binomial(demos - wins, 0.5),
        revenue,
        np.broadcast_to(rng.choice([30_000, 60_000, 120_000], len(reps)), size),
        initial,
        rng.binomial(initial, 0.6),
        rng.poisson(60, size),
        rng.poisson(40, size),
        rng.poisson(20, size),
        wins * rng.poisson(45, size),
        inherited,
        np.round(revenue * inherited / np.maximum(wins, 1)),
    ]
    table = np.stack(columns, axis=-1).astype(np.int64)  # months × reps × counts
    first = np.datetime64("2024-07", "M")
    with path.open("w", newline="", encoding="utf-8") as file:
        out = csv.writer(file)
        out.writerow(["month", "rep_email", *COUNTS])
        for m in range(months):
            month = str(first + m)
            counts = table[m].tolist()
            out.writerows([month, rep, *row] for rep, row in zip(reps, counts, strict=True))
    return months * len(reps)


def server_seconds(backends: set[int]) -> float:
    """CPU seconds the PostgreSQL server processes serving us have used (they run on this
    machine): with other work competing for the cores, CPU, not wall time, tells what an
    import costs."""
    total = 0
    for pid in backends:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def timed(
    label: str, rows: int, run: Callable[[], ImportResult], backends: set[int] | None = None
) -> None:
    server = server_seconds(backends or set())
    start, cpu = time.perf_counter(), time.process_time()
    result = run()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    server = server_seconds(backends or set()) - server
    rate = f"{rows / seconds:>10,.0f} rows/s"
    on_server = f" + {server:5.2f} s server CPU" if backends else ""
    print(
        f"{label:<15}{rows:>9,} rows {seconds:7.2f} s ({cpu:5.2f} s CPU{on_server}) {rate}",
        flush=True,
    )
    print(f"{'':<15}{result.summary()}")


def bench(url: str, org_csv: Path, metrics_csv: Path, people: int, rows: int) -> None:
    """Import the org, the metrics, then the metrics again into the empty database at `url`."""
    upgrade(url)
    engine = make_engine(url)
    print(engine.dialect.name)
    backends: set[int] | None = None
    if engine.dialect.name == "postgresql":
        backends = set()

        @event.listens_for(engine, "connect")
        def _backend(dbapi_connection: Any, _record: Any) -> None:
            assert backends is not None
            backends.add(dbapi_connection.info.backend_pid)

    def run(kind: str) -> ImportResult:
        with session_scope(engine) as session:
            if kind == "org":
                return import_org(session, WORKSPACE, org_csv)
            return import_metrics(session, WORKSPACE, metrics_csv, CATALOGUE)

    timed("org", people, lambda: run("org"), backends)
    timed("metrics", rows, lambda: run("metrics"), backends)
    timed("metrics again", rows, lambda: run("metrics"), backends)
    engine.dispose()


def main() -> None:
    """Generate the CSVs, import them into a fresh SQLite file, print the timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-postgresql", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"{platform.machine()}, {os.cpu_count()} cores ({cores} usable), "
        f"Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory() as folder:
        org_csv, metrics_csv = Path(folder, "org.csv"), Path(folder, "metrics.csv")
        reps = write_org(org_csv, args.reps, rng)
        rows = write_metrics(metrics_csv, reps, args.months, rng)
        people = sum(1 for _ in org_csv.open()) - 1
        bench(f"sqlite:///{folder}/bench.db", org_csv, metrics_csv, people, rows)
        if args.no_postgresql:
            return
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        database = f"coach_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{database}"'))
        try:
            url = PG_ADMIN.rsplit("/", 1)[0] + f"/{database}"
            bench(url, org_csv, metrics_csv, people, rows)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{database}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
