"""How long deriving the counts and hygiene from a CRM's records takes (analytics.crm_metrics).

    .venv/bin/python benchmarks/bench_crm_derive.py [--deals 20000] [--activities 200000]

A synthetic HubSpot org of 100 owners: deals created over two years walking the default
pipeline (3 to 6 stage changes each, a third won, a third lost), a few owner changes, and
activities (calls, meetings, emails) on them. Prints the time of `derive` (every monthly count
and 24 month-end hygiene snapshots) and of `deal_flags` for one rep (min and max of `--runs`,
without tracemalloc), then their peak traced memory from one more run under tracemalloc.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
import tracemalloc
from datetime import date
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.crm_mapping import load_mapping  # noqa: E402
from analytics.crm_metrics import CrmFrames, deal_flags, derive  # noqa: E402

OWNERS = 100
START = pd.Timestamp("2024-12-01", tz="UTC")
TODAY = date(2026, 11, 20)


def org(deals: int, activities: int, seed: int = 7) -> CrmFrames:
    """The synthetic records (see the module docstring)."""
    rng = random.Random(seed)
    ladder = ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled"]
    ladder += ["decisionmakerboughtin", "contractsent"]
    span = (pd.Timestamp(TODAY, tz="UTC") - START).days
    deal_rows, stage_rows, owner_rows = [], [], []
    for n in range(deals):
        owner = f"o{rng.randrange(OWNERS)}"
        created = START + pd.Timedelta(days=rng.uniform(0, span - 5))
        at, stages = created, []
        for stage in ladder[: rng.randint(1, len(ladder))]:
            stages.append((stage, at))
            at += pd.Timedelta(days=rng.expovariate(1 / 12))
        end = rng.random()
        if end < 1 / 3:
            stages.append(("closedwon", at))
        elif end < 2 / 3:
            stages.append(("closedlost", at))
        stages = [(s, t) for s, t in stages if t.date() <= TODAY]
        deal_rows.append(
            {
                "crm_id": str(n),
                "name": f"Deal {n}",
                "owner_crm_id": owner,
                "pipeline": "default",
                "stage": stages[-1][0],
                "amount": float(rng.choice([5_000, 12_000, 30_000])),
                "created_at": created,
                "closed_at": None,
                "close_date": (created + pd.Timedelta(days=60)).date(),
                "url": None,
            }
        )
        stage_rows += [(str(n), s, t) for s, t in stages]
        if rng.random() < 0.05:
            owner_rows += [(str(n), owner, created), (str(n), f"o{rng.randrange(OWNERS)}", at)]
    activity_rows, links = [], []
    for n in range(activities):
        deal = rng.randrange(deals)
        row = deal_rows[deal]
        when = row["created_at"] + pd.Timedelta(days=rng.uniform(0, 60))
        kind = rng.choice(["call", "call", "meeting", "email"])
        outcome = {"call": "f240bbac-87c9-4f6e-bf70-924b57d47db7", "meeting": "COMPLETED"}
        activity_rows.append((f"a{n}", kind, row["owner_crm_id"], when, outcome.get(kind)))
        links.append((f"a{n}", str(deal)))
    return CrmFrames(
        deals=pd.DataFrame(deal_rows),
        stage_changes=pd.DataFrame(stage_rows, columns=["deal_crm_id", "stage", "entered_at"]),
        owner_changes=pd.DataFrame(
            owner_rows, columns=["deal_crm_id", "owner_crm_id", "changed_at"]
        ),
        activities=pd.DataFrame(
            activity_rows, columns=["crm_id", "kind", "owner_crm_id", "occurred_at", "outcome"]
        ),
        links=pd.DataFrame(links, columns=["activity_crm_id", "deal_crm_id"]),
        owners=pd.DataFrame(
            [(f"o{i}", f"rep{i}@example.com", f"Rep {i}", True) for i in range(OWNERS)],
            columns=["crm_id", "email", "name", "active"],
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=20_000)
    parser.add_argument("--activities", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3, help="timed runs (min and spread)")
    args = parser.parse_args()
    frames = org(args.deals, args.activities)
    mapping = load_mapping()
    now = pd.Timestamp(TODAY, tz="UTC")
    # Times without tracemalloc (it slows allocation-heavy code 2–3×); memory in a run of its own.
    times, flag_times = [], []
    for _ in range(args.runs):
        start = time.perf_counter()
        derived = derive(frames, mapping.hubspot, mapping.hygiene, TODAY)
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
        flags = deal_flags(frames, mapping.hubspot, mapping.hygiene, {"o1"}, now)
        flag_times.append(time.perf_counter() - start)
    tracemalloc.start()
    derive(frames, mapping.hubspot, mapping.hygiene, TODAY)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    deal_flags(frames, mapping.hubspot, mapping.hygiene, {"o1"}, now)
    _, flag_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"derive: {args.deals:,} deals ({len(frames.stage_changes):,} stage changes), "
        f"{args.activities:,} activities → {len(derived.values):,} values over "
        f"{len(derived.months)} months in {_spread(times)}, peak {peak / 2**20:,.0f} MiB"
    )
    print(
        f"deal_flags for one rep: {len(flags)} deals in {_spread(flag_times)}, "
        f"peak {flag_peak / 2**20:,.0f} MiB"
    )
    print(f"load average {os.getloadavg()[0]:.1f}; ru_maxrss {_maxrss():,.0f} MiB")


def _spread(times: list[float]) -> str:
    return f"{min(times):.2f} s (min of {len(times)}; max {max(times):.2f} s)"


def _maxrss() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
