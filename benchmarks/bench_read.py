"""Time reading a workspace's metric values for the gap engine, on SQLite and PostgreSQL.

    python benchmarks/bench_read.py [--reps 5000] [--months 24] [--no-postgresql]

Imports the same org as bench_import.py (every count column: 1.92 million stored values by
default) into a fresh SQLite file and, when the test server at 127.0.0.1:5432 answers, a fresh
PostgreSQL database, then times each way of reading the values that was considered (best of 3,
wall and this process's CPU; PostgreSQL's own work shows only in the wall time):

- `cursor rows`: the driver's cursor, one (person, month, blob) tuple per stored rep-month;
- `metrics_frame`: what coach does (storage/queries.py): PostgreSQL aggregates the rep-months
  into arrays and one concatenated bytea, copied out in binary and viewed in place by numpy;
  SQLite hands back one (person, month code, blob) tuple per rep-month and numpy views the
  joined blobs as a matrix.

Then the whole gap-engine load (`load_gap_engine`) on each database.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, create_engine, text

sys.path.insert(0, str(Path(__file__).parent))
from bench_import import CATALOGUE, WORKSPACE, write_metrics, write_org  # noqa: E402

from bot.coaching.gaps import load_gap_engine  # noqa: E402
from storage.csv_import import import_metrics, import_org  # noqa: E402
from storage.db import make_engine, session_scope, upgrade  # noqa: E402
from storage.queries import metrics_frame  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def cursor_rows(engine: Engine) -> list[Any]:
    """One (person, month, blob) tuple per rep-month through the driver's own cursor."""
    marker = "%s" if engine.dialect.name == "postgresql" else "?"
    raw = engine.raw_connection()
    try:
        cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
        query = "SELECT person_id, month, counts FROM metric_months WHERE workspace_id = "
        return cursor.execute(query + marker, (WORKSPACE,)).fetchall()
    finally:
        raw.close()


def timed(label: str, run: Callable[[], Any]) -> None:
    best_wall = best_cpu = float("inf")
    for _ in range(3):
        cpu, wall = time.process_time(), time.perf_counter()
        run()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    print(f"  {label:<16} {best_wall:6.2f} s wall {best_cpu:6.2f} s CPU", flush=True)


def load(url: str, folder: Path) -> Engine:
    upgrade(url)
    engine = make_engine(url)
    start = time.perf_counter()
    with session_scope(engine) as session:
        import_org(session, WORKSPACE, folder / "org.csv")
    with session_scope(engine) as session:
        result = import_metrics(session, WORKSPACE, folder / "metrics.csv", CATALOGUE)
    seconds = time.perf_counter() - start
    print(f"{engine.dialect.name}: imported {result.rows:,} rows in {seconds:.1f} s")
    return engine


def bench(url: str, folder: Path) -> None:
    engine = load(url, folder)
    frame = metrics_frame(engine, WORKSPACE)
    values = int(frame.drop(columns=["rep", "month", "through"]).notna().to_numpy().sum())
    print(f"  {len(frame):,} rep-months, {values:,} stored values")
    timed("cursor rows", lambda: cursor_rows(engine))
    timed("metrics_frame", lambda: metrics_frame(engine, WORKSPACE))
    timed("load_gap_engine", lambda: load_gap_engine(engine, WORKSPACE, CATALOGUE))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--no-postgresql", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        reps = write_org(folder / "org.csv", args.reps, rng)
        write_metrics(folder / "metrics.csv", reps, args.months, rng)
        bench(f"sqlite:///{folder / 'bench.db'}", folder)
        if args.no_postgresql:
            return
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        database = f"coach_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{database}"'))
        try:
            bench(PG_ADMIN.rsplit("/", 1)[0] + f"/{database}", folder)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{database}" WITH (FORCE)'))
            admin.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory {peak:.0f} MB")


if __name__ == "__main__":
    main()
