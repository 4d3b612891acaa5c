"""A first `coach sync salesforce` of 20,000 opportunities with their stage history and 200,000
activities from the local stand-in, then an incremental sync after 1% of them changed: wall
time and where it went (fetch, store, derive), the sync process's peak resident memory and the
API requests each cost.

    .venv/bin/python benchmarks/bench_salesforce.py [--deals 20000] [--activities 200000]

The sync runs as `coach sync salesforce` does, in a process of its own; the stand-in answers from
this one (in threads), on the same cores. Against Salesforce the network adds per request, and
each page is 2,000 rows.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_sync import sync

from bot.demo.salesforce_standin import INSTANCE_URL, SalesforceStandIn
from storage.csv_import import import_org
from storage.db import make_engine, upgrade

STAGES = ["Qualification", "Needs Analysis", "Value Proposition", "Proposal/Price Quote"]
REPS = 50


def seed(sf: SalesforceStandIn, deals: int, activities: int, start: datetime) -> list[str]:
    rng = random.Random(16)
    manager = sf.add_user("Maria Lopez", "maria@example.com", at=start)
    reps = [
        sf.add_user(f"Rep {n}", f"rep{n}@example.com", manager=manager, at=start)
        for n in range(REPS)
    ]
    opps = []
    for n in range(deals):
        created = start + timedelta(minutes=rng.uniform(0, 60 * 24 * 150))
        opp = sf.add_opportunity(
            f"Deal {n}", owner=rng.choice(reps), amount=rng.choice([5e3, 12e3, 40e3]), at=created
        )
        when = created
        for stage in STAGES[: rng.randint(0, len(STAGES))]:
            when += timedelta(days=rng.uniform(1, 9))
            sf.set_stage(opp, stage, at=when)
        if rng.random() < 0.5:
            sf.set_stage(
                opp, rng.choice(["Closed Won", "Closed Lost"]), at=when + timedelta(days=3)
            )
        opps.append(opp)
    for n in range(activities):
        at = start + timedelta(minutes=rng.uniform(0, 60 * 24 * 160))
        what = rng.choice(opps) if rng.random() < 0.6 else None
        if n % 4 == 0:
            sf.add_event(owner=rng.choice(reps), what=what, start=at, at=at)
        else:
            sf.add_task(owner=rng.choice(reps), what=what, disposition="Connected", at=at)
    return opps


def run(deals: int, activities: int) -> None:
    start = datetime(2026, 5, 1, 9, tzinfo=UTC)
    folder = Path(tempfile.mkdtemp())
    url = f"sqlite:///{folder / 'coach.db'}"
    upgrade(url)
    engine = make_engine(url)
    org = folder / "org.csv"
    org.write_text(
        "email,name,role,manager_email\ndana@example.com,Dana,director,\n"
        "maria@example.com,Maria,manager,dana@example.com\n"
        + "".join(f"rep{n}@example.com,Rep {n},rep,maria@example.com\n" for n in range(REPS))
    )
    from storage.db import session_scope

    with session_scope(engine) as session:
        import_org(session, "bench", org)
    engine.dispose()
    with SalesforceStandIn() as sf:
        t = time.perf_counter()
        opps = seed(sf, deals, activities, start)
        print(f"stand-in seeded in {time.perf_counter() - t:.1f} s")
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "COACH_WORKSPACE": "bench",
            "SALESFORCE_INSTANCE_URL": INSTANCE_URL,
            "SALESFORCE_ACCESS_TOKEN": sf.token,
            "SALESFORCE_BASE_URL": sf.url,
        }
        today = datetime(2026, 11, 15).date()

        def once(label: str) -> None:
            sf.clear_calls()
            load = os.getloadavg()[0]
            seconds, peak, text = sync(env, "salesforce", today)
            print(
                f"{label}: {seconds:.1f} s, peak {peak:.0f} MB resident, "
                f"{len(sf.calls):,} API requests, load {load:.1f} — {text}"
            )

        once("first sync")
        rng = random.Random(1)
        later = start + timedelta(days=170)
        for opp in rng.sample(opps, deals // 100):
            sf.set_stage(opp, "Negotiation/Review", at=later)
        owner = next(iter(sf.records["User"]))
        for _ in range(activities // 100):
            sf.add_task(owner=owner, disposition="Connected", at=later)
        once("incremental sync (1% changed)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=20_000)
    parser.add_argument("--activities", type=int, default=200_000)
    args = parser.parse_args()
    run(args.deals, args.activities)
