"""Time `coach import` on a large org: 5,000 reps × 24 months, every count column.

    python benchmarks/bench_import.py [--reps 5000] [--months 24]

Run it pinned to one core (`taskset -c 0 …`) to reproduce the README's figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from analytics.catalogue import load_catalogue
from analytics.simulate import simulate_org
from bot.demo import write_demo_csvs
from storage.csv_import import import_metrics, import_org
from storage.db import make_engine, session_scope, upgrade


def main() -> None:
    """Generate the CSVs, import them into a fresh SQLite file twice, print the timings."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=5000)
    parser.add_argument("--months", type=int, default=24)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        # Everyone active for every month: exactly reps × months rows.
        people, metrics, _ = simulate_org(
            args.reps, args.months, seed=1, ramping_share=0, inactive_share=0
        )
        org_csv, metrics_csv = write_demo_csvs(Path(folder), people, metrics)
        rows = len(metrics)
        python = platform.python_version()
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {python}")
        print(
            f"org: {len(people):,} people; metrics: {rows:,} rows × {metrics.shape[1] - 2} counts"
        )
        url = f"sqlite:///{folder}/bench.db"
        upgrade(url)
        engine = make_engine(url)
        columns = load_catalogue().columns
        start = time.perf_counter()
        with session_scope(engine) as session:
            import_org(session, "bench", org_csv)
        print(f"org import:          {time.perf_counter() - start:6.2f} s")
        for label in ("metrics import:     ", "metrics re-import:  "):
            start = time.perf_counter()
            with session_scope(engine) as session:
                result = import_metrics(session, "bench", metrics_csv, columns)
            seconds = time.perf_counter() - start
            print(f"{label}{seconds:6.2f} s  ({rows / seconds:,.0f} rows/s)  {result.summary()}")
        engine.dispose()


if __name__ == "__main__":
    main()
