"""The vectorised derivation (analytics.crm_metrics) gives exactly what the deal-by-deal one
(tests/crm/crm_reference.py) gives, on random orgs built to hit the corners: skipped and unmapped
stages, reopened and lost deals, owner changes before creation, owners without an email, two
owner records with one email, inactive owners, test and $0 deals, other pipelines, ties in time,
activities on several deals or on none, meetings not held, time zones, month-to-date."""

from __future__ import annotations

import random
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from analytics import crm_metrics
from analytics.crm_mapping import Hygiene, load_mapping
from analytics.crm_metrics import CrmFrames
from tests.crm import crm_reference

MAPPING = load_mapping().hubspot
STAGES = [s.id for s in MAPPING.stages] + ["weird"]
OUTCOMES = [*MAPPING.calls.connected, "no-answer", "COMPLETED", "CANCELED", "no_show", None]
START = pd.Timestamp("2025-01-01", tz="UTC")


# Month ends (the snapshots' moments) in the zones the test uses.
MONTH_STARTS = [
    pd.Timestamp(f"{y}-{m:02d}-01", tz=z).tz_convert("UTC")
    for y in (2025, 2026)
    for m in range(1, 13)
    for z in ("UTC", "America/New_York", "Asia/Kolkata")
]


def moment(rng: random.Random, seen: list[pd.Timestamp] | None = None) -> pd.Timestamp:
    """A moment in 2025–26: often one already used or a month's start (ties), or on a coarse
    grid, sometimes to the nanosecond."""
    pick = rng.random()
    if seen and pick < 0.2:
        return rng.choice(seen)
    if pick < 0.3:
        return rng.choice(MONTH_STARTS)
    if pick < 0.45:
        return START + pd.Timedelta(days=rng.randrange(0, 600, 7))
    out = (
        START
        + pd.Timedelta(microseconds=rng.randrange(600 * 86_400_000_000))
        + pd.Timedelta(nanoseconds=rng.choice([0, 0, 999]))
    )
    if seen is not None:
        seen.append(out)
    return out


def org(rng: random.Random) -> CrmFrames:
    owners = [f"o{i}" for i in range(7)]
    deals, stages, moves = [], [], []
    seen: list[pd.Timestamp] = []  # moments used, to use again: ties between records
    for n in range(rng.randint(0, 45)):
        created = moment(rng, seen)
        history, at = [], created - pd.Timedelta(days=rng.choice([0, 0, 0, 3]))
        for _ in range(rng.choice([0, 1, 2, 3, 4, 6])):
            history.append((rng.choice(STAGES), at))
            seen.append(at)
            at += pd.Timedelta(days=rng.choice([0, 0.5, 3, 11, 40, 90]))
        if rng.random() < 0.3:
            history.append(("closedwon", at))
        current = history[-1][0] if history and rng.random() < 0.85 else rng.choice(STAGES)
        stages += [(f"d{n}", s, t) for s, t in history]
        for _ in range(rng.choice([0, 0, 1, 2, 3])):
            near = rng.choice([created, at]) + pd.Timedelta(days=rng.choice([-5, -1, 0, 2, 20]))
            moves.append(
                (f"d{n}", rng.choice([*owners, None]), rng.choice([near, moment(rng, seen)]))
            )
        deals.append(
            {
                "crm_id": f"d{n}",
                "name": rng.choice(["Acme", "Beta", "Test deal", "Gamma"]) + f" {n}",
                "owner_crm_id": rng.choice([*owners, None]),
                "pipeline": rng.choice(["default"] * 5 + ["other", None]),
                "stage": current,
                "amount": rng.choice([None, 0.0, 100.1, 250.0, 999.99, 5000.0, 12000.3]),
                "created_at": created,
                "closed_at": rng.choice([None, moment(rng, seen)]),
                "close_date": rng.choice([None, (moment(rng) + pd.Timedelta(days=30)).date()]),
                "url": rng.choice([None, f"https://crm.example/{n}"]),
            }
        )
    activities, links = [], []
    for n in range(rng.randint(0, 160)):
        kind = rng.choice(["call", "call", "meeting", "meeting", "email", "task"])
        at = moment(rng, seen)
        if stages and rng.random() < 0.2:  # on a deal as it changes stage
            deal, _, at = rng.choice(stages)
            links.append((f"a{n:03d}", deal))
        activities.append((f"a{n:03d}", kind, rng.choice([*owners, None]), at))
        activities[-1] += (rng.choice(OUTCOMES),)
        for _ in range(rng.choice([0, 1, 1, 1, 2, 3])):
            links.append((f"a{n:03d}", f"d{rng.randrange(len(deals) + 2)}"))
    emails = ["ann@x.com", "BOB@x.com", None, "cy@x.com", "dee@x.com", "ann@x.com", "eve@x.com"]
    return CrmFrames(
        deals=pd.DataFrame(
            deals,
            columns=["crm_id", "name", "owner_crm_id", "pipeline", "stage", "amount"]
            + ["created_at", "closed_at", "close_date", "url"],
        ),
        stage_changes=pd.DataFrame(stages, columns=["deal_crm_id", "stage", "entered_at"]),
        owner_changes=pd.DataFrame(moves, columns=["deal_crm_id", "owner_crm_id", "changed_at"]),
        activities=pd.DataFrame(
            activities, columns=["crm_id", "kind", "owner_crm_id", "occurred_at", "outcome"]
        ),
        links=pd.DataFrame(sorted(set(links)), columns=["activity_crm_id", "deal_crm_id"]),
        owners=pd.DataFrame(
            [(o, e, o.upper(), o != "o4") for o, e in zip(owners, emails, strict=True)],
            columns=["crm_id", "email", "name", "active"],
        ),
    )


def values(derived: crm_metrics.Derived) -> dict[tuple[str, str, str], float]:
    return {(e, m, n): v for e, m, n, v in derived.values.itertuples(index=False)}


@pytest.mark.parametrize("seed", range(30))
def test_vectorised_derivation_equals_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    frames = org(rng)
    hygiene = Hygiene(
        untouched_days=rng.choice([1, 14]),
        stuck_factor=rng.choice([1.0, 2.0]),
        stuck_min_stays=rng.choice([1, 2, 5]),
        stuck_days=rng.choice([5, 30]),
    )
    tz = ZoneInfo(rng.choice(["UTC", "America/New_York", "Asia/Kolkata"]))
    today = date(2025, 1, 1) + timedelta(days=rng.randrange(40, 700))
    quotas = pd.DataFrame(
        [(e, f"2026-{m:02d}", 4000.0) for e in ("ann@x.com", "bob@x.com") for m in range(1, 13)],
        columns=["email", "month", "value"],
    )
    got = crm_metrics.derive(frames, MAPPING, hygiene, today, tz, quotas)
    want = crm_reference.derive(frames, MAPPING, hygiene, today, tz, quotas)
    assert got.problems == want.problems
    assert got.months == want.months
    mine, theirs = values(got), values(want)
    assert mine.keys() == theirs.keys()
    # The same figures to the last bit, as the README says: summed in the same order.
    wrong = {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]}
    assert not wrong
    seen = [*frames.stage_changes["entered_at"], *frames.activities["occurred_at"]]
    for owners in ({"o0"}, {"o0", "o5"}, {"o3"}, {"o2"}):
        for _ in range(3):
            now = moment(rng, seen).floor("us").to_pydatetime()
            assert crm_metrics.deal_flags(
                frames, MAPPING, hygiene, owners, now
            ) == crm_reference.deal_flags(frames, MAPPING, hygiene, owners, now)
