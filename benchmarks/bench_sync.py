"""Time `coach sync hubspot` on a large account: a first sync, then an incremental one.

    python benchmarks/bench_sync.py [--deals 20000] [--activities 200000] [--reps 100]
                                    [--changed 0.01] [--database-url URL]

Seeds the local HubSpot stand-in (`bot.demo.hubspot_standin.seed_account`) with deals carrying
one to six stage changes and calls, meetings and emails mostly on those deals, over the past
year; imports an org chart of the reps; runs `coach sync hubspot` as its own process (its wall
time and peak resident memory are the figures; the stand-in runs in this process); then changes
`--changed` of the deals and of the activities and syncs again. The stand-in answers at once,
so the times are coach's own: HubSpot's search limit (5 requests a second per account) bounds a
real first sync of this size to at least `searches ÷ 5` seconds, printed too.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot.demo.hubspot_standin import DEFAULT_STAGES, HubSpotStandIn, seed_account
from storage.csv_import import import_org
from storage.db import make_engine, session_scope, upgrade

WORKSPACE = "bench"
TOKEN = "pat-bench"
OPEN_STAGES = DEFAULT_STAGES[:5]
# What `coach sync SOURCE` runs, in its own process (argv: the source, and the day it syncs on if
# not today): prints its line, where the time went and
# the process's peak resident set size (kB on Linux).
_RUN = """
import resource, sys
from datetime import date
from bot.crm.sync import sync_source
from bot.settings import load_settings
from storage.db import make_engine
settings = load_settings()
today = date.fromisoformat(sys.argv[2]) if len(sys.argv) > 2 else None
result = sync_source(
    settings, make_engine(settings.database_url), settings.workspace(), sys.argv[1], today=today
)
print(result.line())
print("timings", *(f"{k}={v:.1f}" for k, v in sorted(result.timings.items())))
# VmHWM: this process's own peak. ru_maxrss is not: Linux carries the parent's (the stand-in's,
# hundreds of MB) over fork and exec.
status = open("/proc/self/status").read() if sys.platform == "linux" else ""
peak = [line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")]
print("maxrss", peak[0] if peak else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(0 if result.ok else 1)
"""


def change(hubspot: HubSpotStandIn, ids: list[str], share: float, rng: random.Random) -> int:
    """Move `share` of the deals a stage on and reassign `share` of the activities, five
    minutes ago (searches look up to a minute back); how many records changed."""
    at = datetime.now(UTC) - timedelta(minutes=5)
    deals = rng.sample(ids, int(len(ids) * share))
    for deal_id in deals:
        stage = hubspot.records["deals"][deal_id].properties["dealstage"]
        if stage in OPEN_STAGES[:-1]:
            hubspot.set_stage(deal_id, OPEN_STAGES[OPEN_STAGES.index(stage) + 1], at)
        else:
            hubspot.set_property("deals", deal_id, "amount", "99000", at)
    activities = [(o, rid) for o in ("calls", "meetings", "emails") for rid in hubspot.records[o]]
    picked = rng.sample(activities, int(len(activities) * share))
    for obj, rid in picked:
        hubspot.associate(obj, rid, rng.choice(ids), at)
    return len(deals) + len(picked)


def write_org(path: Path, reps: int) -> None:
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["email", "name", "role", "manager_email"])
        out.writerow(["dir@bench.example", "Director", "director", ""])
        managers = max(1, reps // 8)
        for m in range(managers):
            out.writerow([f"mgr{m}@bench.example", f"Manager {m}", "manager", "dir@bench.example"])
        for r in range(reps):
            manager = f"mgr{r % managers}@bench.example"
            out.writerow([f"rep{r}@bench.example", f"Rep {r}", "rep", manager])


def sync(env: dict[str, str], source: str, today: date | None = None) -> tuple[float, float, str]:
    """Sync `source` in a process of its own (as of `today`, default the real date): seconds,
    peak MB, its line and where the time went."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _RUN, source, *([today.isoformat()] if today else [])],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"sync failed: {done.stdout.strip()} {done.stderr.strip()}")
    line, timings, rss = done.stdout.strip().splitlines()[-3:]
    return seconds, int(rss.split()[1]) / 1024, f"{line}\n  {timings}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=20_000)
    parser.add_argument("--activities", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--database-url", default=None, help="Default: a fresh SQLite file.")
    args = parser.parse_args()
    rng = random.Random(16)
    with (
        tempfile.TemporaryDirectory() as folder,
        HubSpotStandIn(token=TOKEN, keep_responses=False) as hubspot,
    ):
        url = args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        started = time.perf_counter()
        emails = [f"rep{r}@bench.example" for r in range(args.reps)]
        ids = seed_account(hubspot, emails, deals=args.deals, activities=args.activities, rng=rng)
        print(
            f"seeded {args.deals:,} deals and {args.activities:,} activities over "
            f"{args.reps} reps in {time.perf_counter() - started:.1f} s "
            f"({platform.python_implementation()} {platform.python_version()}, "
            f"{os.cpu_count()} cores, {url.split(':')[0]})"
        )
        upgrade(url)
        org = Path(folder) / "org.csv"
        write_org(org, args.reps)
        engine = make_engine(url)
        with session_scope(engine) as session:
            import_org(session, WORKSPACE, org)
        engine.dispose()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "COACH_WORKSPACE": WORKSPACE,
            "HUBSPOT_ACCESS_TOKEN": TOKEN,
            "HUBSPOT_BASE_URL": hubspot.base,
        }
        for label in ("first sync", "incremental"):
            if label == "incremental":
                changed = change(hubspot, ids, args.changed, rng)
                print(f"changed {changed:,} records ({args.changed:.0%})")
            before = len(hubspot.calls)
            load = os.getloadavg()[0]
            seconds, peak, line = sync(env, "hubspot")
            calls = Counter(c.name for c in hubspot.calls[before:])
            searches = sum(n for name, n in calls.items() if name.endswith(".search"))
            print(f"{label}: {seconds:.1f} s, peak {peak:.0f} MB, load {load:.1f}; {line}")
            print(
                f"  {sum(calls.values()):,} API calls ({searches:,} searches: ≥ "
                f"{searches / 5:.0f} s at HubSpot's 5 searches a second)"
            )


if __name__ == "__main__":
    main()
