"""Time reading a workspace's metric values for the gap engine, on SQLite and PostgreSQL.

    python benchmarks/bench_read.py [--reps 5000] [--months 24] [--no-postgresql]

Imports the same org as bench_import.py (every count column: 1.92 million stored values by
default) into a fresh SQLite file and, when the test server at 127.0.0.1:5432 answers, a fresh
PostgreSQL database, then times each way of reading the values that was considered (best of 3,
wall and this process's CPU; PostgreSQL's own work shows only in the wall time):

- `read_sql`: what coach did before, pandas.read_sql through SQLAlchemy rows, then a pivot;
- `cursor rows`: the driver's cursor, one (person, month, name, value) tuple per value;
- `metrics_frame`: what coach does now (storage/queries.py): PostgreSQL aggregates the values
  into two arrays copied out in binary and read in place by numpy; SQLite hands back one
  (packed key, value) pair of numbers per value;
- `adbc`: the ADBC drivers to Arrow, when adbc-driver-sqlite / adbc-driver-postgresql and
  pyarrow are installed (they are not dependencies of coach).

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
import pandas as pd
from sqlalchemy import Engine, create_engine, select, text

sys.path.insert(0, str(Path(__file__).parent))
from bench_import import CATALOGUE, WORKSPACE, write_metrics, write_org  # noqa: E402

from bot.coaching.gaps import load_gap_engine  # noqa: E402
from storage.csv_import import import_metrics, import_org  # noqa: E402
from storage.db import make_engine, session_scope, upgrade  # noqa: E402
from storage.models import MetricValue, Person  # noqa: E402
from storage.queries import metrics_frame  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def read_sql(engine: Engine) -> pd.DataFrame:
    """The reader this release replaced."""
    query = (
        select(Person.email.label("rep"), MetricValue.month, MetricValue.name, MetricValue.value)
        .join(Person, Person.id == MetricValue.person_id)
        .where(MetricValue.workspace_id == WORKSPACE)
    )
    with engine.connect() as conn:
        long = pd.read_sql(query, conn)
    wide = long.pivot(index=["rep", "month"], columns="name", values="value")
    return wide.reset_index().sort_values(["rep", "month"], ignore_index=True)


def cursor_rows(engine: Engine) -> list[Any]:
    """One tuple per value through the driver's own cursor (before any pivot)."""
    marker = "%s" if engine.dialect.name == "postgresql" else "?"
    raw = engine.raw_connection()
    try:
        cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
        query = "SELECT person_id, month, name, value FROM metric_values WHERE workspace_id = "
        return cursor.execute(query + marker, (WORKSPACE,)).fetchall()
    finally:
        raw.close()


def adbc(url: str) -> Callable[[], Any] | None:
    """An ADBC read of the same values to an Arrow table, or None when not installed."""
    try:
        if url.startswith("sqlite"):
            import adbc_driver_sqlite.dbapi as driver

            target, marker = url.removeprefix("sqlite:///"), "?"
        else:
            import adbc_driver_postgresql.dbapi as driver

            target, marker = url.replace("+psycopg", ""), "$1"
    except ImportError:
        return None

    def read() -> Any:
        with driver.connect(target) as conn, conn.cursor() as cursor:
            cursor.execute(
                "SELECT person_id, month, name, value FROM metric_values "
                f"WHERE workspace_id = {marker}",
                (WORKSPACE,),
            )
            return cursor.fetch_arrow_table()

    return read


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
    with engine.connect() as conn:
        values = conn.scalar(text("SELECT count(*) FROM metric_values"))
    print(f"  {values:,} stored values")
    timed("read_sql", lambda: read_sql(engine))
    timed("cursor rows", lambda: cursor_rows(engine))
    timed("metrics_frame", lambda: metrics_frame(engine, WORKSPACE))
    if reader := adbc(url):
        timed("adbc", reader)
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
