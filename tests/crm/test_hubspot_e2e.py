"""HubSpot end to end: the stand-in's records → `coach sync hubspot` → `coach gaps`.

The figures `coach gaps` shows equal a count by hand of the records below; an incremental sync
after changes fetches only what changed and ends where a full sync does; a sync killed midway
and run again loses and duplicates nothing. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.demo.hubspot_standin import CALL_OUTCOMES, HubSpotStandIn
from storage.counts import read_counts
from storage.crm import CrmStore, load_records
from storage.db import make_engine, session_scope
from tests.conftest import _create_pg_database, _drop_pg_database
from tests.in_process import Ran, run_coach

TOKEN = "pat-na1-e2e"
CONNECTED = CALL_OUTCOMES["connected"]
NO_ANSWER = CALL_OUTCOMES["no answer"]
COACH = [sys.executable, "-m", "bot.cli.main"]
ORG = """email,name,role,manager_email
dee.director@example.com,Dee Director,director,
mia.manager@example.com,Mia Manager,manager,dee.director@example.com
ann.a@example.com,Ann A,rep,mia.manager@example.com
bo.b@example.com,Bo B,rep,mia.manager@example.com
cy.c@example.com,Cy C,rep,mia.manager@example.com
di.d@example.com,Di D,rep,mia.manager@example.com
"""
OWNERS = {"11": "ann.a", "12": "bo.b", "13": "cy.c", "14": "di.d"}


def at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def seed(hubspot: HubSpotStandIn, calls_per_rep: int = 10) -> None:
    """Four reps' August to October. Ann's and Bo's deals are counted by hand in the test."""
    for owner, name in OWNERS.items():
        first, last = name.split(".")
        hubspot.add_owner(owner, f"{name}@example.com", first.title(), last.upper())
    # Ann: two deals through the demo stage (one won in October, one lost in September), one
    # created past discovery in October (a skipped stage counts), a test deal and a $0 deal.
    hubspot.add_deal(
        "201",
        "Acme",
        owner="11",
        amount=10_000,
        stages=[
            ("appointmentscheduled", at(9, 2)),
            ("presentationscheduled", at(9, 10)),
            ("closedwon", at(10, 5)),
        ],
    )
    hubspot.add_deal(
        "202",
        "Globex",
        owner="11",
        amount=8_000,
        stages=[
            ("appointmentscheduled", at(9, 3)),
            ("presentationscheduled", at(9, 12)),
            ("closedlost", at(9, 20)),
        ],
    )
    hubspot.add_deal(
        "203", "Initech", owner="11", amount=5_000, stages=[("presentationscheduled", at(10, 1))]
    )
    hubspot.add_deal(
        "204",
        "Test deal",
        owner="11",
        amount=1,
        stages=[("appointmentscheduled", at(9, 5)), ("closedwon", at(9, 6))],
    )
    hubspot.add_deal(
        "205",
        "Nothing yet",
        owner="11",
        amount=0,
        stages=[("appointmentscheduled", at(9, 7)), ("presentationscheduled", at(9, 8))],
    )
    # Bo: a deal that skips to decision maker bought-in in August (a demo) and is won in
    # September; a deal in discovery since October.
    hubspot.add_deal(
        "211",
        "Hooli",
        owner="12",
        amount=20_000,
        stages=[
            ("appointmentscheduled", at(8, 10)),
            ("decisionmakerboughtin", at(8, 20)),
            ("closedwon", at(9, 15)),
        ],
    )
    hubspot.add_deal(
        "212", "Umbrella", owner="12", amount=3_000, stages=[("appointmentscheduled", at(10, 3))]
    )
    # Cy and Di: peers.
    for n, (owner, won) in enumerate([("13", True), ("13", True), ("14", False), ("14", True)]):
        hubspot.add_deal(
            str(221 + n),
            f"Peer {n}",
            owner=owner,
            amount=4_000 + 1_000 * n,
            stages=[
                ("appointmentscheduled", at(8, 5 + n)),
                ("presentationscheduled", at(8, 15 + n)),
                ("closedwon" if won else "closedlost", at(9, 1 + n)),
            ],
        )
    # Calls: Ann 10 with 4 connected, Bo 6 with 3, Cy and Di 8 with 4; in September.
    counts = {"11": (10, 4), "12": (6, 3), "13": (8, 4), "14": (8, 4)}
    for owner, (made, connected) in counts.items():
        for n in range(made):
            hubspot.add_activity(
                "call",
                f"{owner}{n:03d}",
                owner=owner,
                at=at(9, 1 + n % 28, 9 + n // 28),
                outcome=CONNECTED if n < connected else NO_ANSWER,
            )
    # Extra calls (`calls_per_rep` beyond 10): older than the window, they move no figure.
    for owner in OWNERS:
        for n in range(calls_per_rep - 10):
            hubspot.add_activity(
                "call", f"{owner}9{n:04d}", owner=owner, at=at(5, 1 + n % 28, 8 + n % 9)
            )


def change(hubspot: HubSpotStandIn) -> None:
    """What happens in November, before the next sync."""
    hubspot.set_stage("203", "closedwon", at(11, 10))
    hubspot.set_stage("212", "presentationscheduled", at(11, 12))
    hubspot.add_activity("call", "11900", owner="11", at=at(11, 13), outcome=CONNECTED)
    hubspot.archive("calls", "12000", at(11, 14))
    hubspot.merge("222", "221", at(11, 15))


@pytest.fixture(params=["sqlite", "postgresql"])
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two databases migrated to head, on SQLite or PostgreSQL: one synced one way, one
    another, to compare."""
    if request.param == "postgresql":
        template = request.getfixturevalue("_pg_template")
        second = _create_pg_database(template)
        try:
            yield request.getfixturevalue("migrated_pg_url"), second
        finally:
            _drop_pg_database(second)
        return
    template = request.getfixturevalue("_sqlite_template")
    paths = [tmp_path / "a.db", tmp_path / "b.db"]
    for path in paths:
        shutil.copyfile(template, path)
    yield f"sqlite:///{paths[0]}", f"sqlite:///{paths[1]}"


@pytest.fixture
def hubspot() -> Iterator[HubSpotStandIn]:
    with HubSpotStandIn(token=TOKEN) as standin:
        seed(standin)
        yield standin


def environment(url: str, hubspot: HubSpotStandIn) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("HUBSPOT_", "COACH_"))},
        "DATABASE_URL": url,
        "COACH_WORKSPACE": "acme",
        "HUBSPOT_ACCESS_TOKEN": TOKEN,
        "HUBSPOT_BASE_URL": hubspot.base,
    }


def coach(url: str, hubspot: HubSpotStandIn, *args: str) -> Ran:
    ran = run_coach(*args, env=environment(url, hubspot))
    assert ran.returncode == 0, ran.stderr
    return ran


def set_up(url: str, hubspot: HubSpotStandIn, tmp_path: Path) -> None:
    org = tmp_path / "org.csv"
    org.write_text(ORG)
    coach(url, hubspot, "import", "org", str(org))


def gaps(url: str, hubspot: HubSpotStandIn, email: str) -> dict[str, dict[str, Any]]:
    ran = coach(url, hubspot, "gaps", email, "--month", "2026-10", "--json")
    return {m["key"]: m for m in json.loads(ran.stdout)["metrics"]}


def kept(url: str) -> tuple[Any, list[tuple[Any, ...]]]:
    """Every record stored and every metric value derived: what two syncs must agree on."""
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            records = load_records(session, "acme", "hubspot")
            values = sorted(
                (pid, month, name, value)
                for (pid, month), counts in read_counts(session, "acme").items()
                for name, value in counts.items()
            )
    finally:
        engine.dispose()
    return records, [tuple(v) for v in values]


def test_gaps_after_a_sync_equal_a_count_by_hand(
    urls: tuple[str, str], hubspot: HubSpotStandIn, tmp_path: Path
) -> None:
    url = urls[0]
    set_up(url, hubspot, tmp_path)
    synced = coach(url, hubspot, "sync", "hubspot")
    assert "synced" in synced.stdout

    ann = gaps(url, hubspot, "ann.a@example.com")
    # Ann, August to October: discovery Acme, Globex, Initech (created past it); demos the
    # same three; won Acme ($10,000), lost Globex; the test deal and the $0 deal left out;
    # 10 calls, 4 connected.
    expected = {
        "leads_prospected": (10, None),
        "connect_rate": (4, 10),
        "discovery_rate": (3, 4),
        "demo_rate": (3, 3),
        "close_rate": (1, 3),
        "win_rate": (1, 2),
        "avg_deal_size": (10_000, 1),
    }
    for key, (numerator, denominator) in expected.items():
        figures = (ann[key]["numerator"], ann[key]["denominator"])
        assert figures[0] == numerator and (denominator is None or figures[1] == denominator), key
    # Bo: discovery Hooli (August), Umbrella (October); a demo for Hooli, which skipped to
    # decision maker bought-in; Hooli won in September ($20,000); 6 calls, 3 connected.
    bo = gaps(url, hubspot, "bo.b@example.com")
    assert (bo["demo_rate"]["numerator"], bo["demo_rate"]["denominator"]) == (1, 2)
    assert (bo["win_rate"]["numerator"], bo["win_rate"]["denominator"]) == (1, 1)
    assert (bo["connect_rate"]["numerator"], bo["connect_rate"]["denominator"]) == (3, 6)
    assert bo["avg_deal_size"]["value"] == 20_000


def test_an_incremental_sync_fetches_only_changes_and_ends_as_a_full_one(
    urls: tuple[str, str], hubspot: HubSpotStandIn, tmp_path: Path
) -> None:
    incremental, full = urls
    set_up(incremental, hubspot, tmp_path)
    coach(incremental, hubspot, "sync", "hubspot")
    before = len(hubspot.calls)
    change(hubspot)
    coach(incremental, hubspot, "sync", "hubspot")

    later = hubspot.calls[before:]
    read = sorted(i["id"] for c in later if c.name == "deals.batch_read" for i in c.body["inputs"])
    assert read == ["203", "212", "221"]
    associated = [
        i["id"] for c in later if c.name == "calls.associations" for i in c.body["inputs"]
    ]
    assert associated == ["11900"]

    set_up(full, hubspot, tmp_path)
    coach(full, hubspot, "sync", "hubspot")
    assert kept(incremental) == kept(full)
    assert len(kept(full)[1]) > 0


def test_a_sync_killed_midway_and_run_again_loses_and_duplicates_nothing(
    urls: tuple[str, str], tmp_path: Path
) -> None:
    killed, whole = urls
    with HubSpotStandIn(token=TOKEN) as hubspot:
        seed(hubspot, calls_per_rep=60)  # 240 calls: two search pages of 200
        set_up(killed, hubspot, tmp_path)
        # The second page of calls is on its way when the process is killed.
        hubspot.hold("calls.associations", after=1)
        process = subprocess.Popen(
            [*COACH, "sync", "hubspot"],
            env=environment(killed, hubspot),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            hubspot.wait_for("calls.associations", 2, timeout=60)
        finally:
            process.kill()
            process.wait()
            hubspot.release()
        engine = make_engine(killed)
        try:
            store = CrmStore(engine, "acme")
            assert store.last_run("hubspot").status == "running"  # type: ignore[union-attr]
            assert store.cursor("hubspot", "activities") is not None
        finally:
            engine.dispose()
        searches = len(hubspot.calls_to("calls.search"))

        coach(killed, hubspot, "sync", "hubspot")
        resumed = hubspot.calls_to("calls.search")[searches + 1]  # after the check's
        filters = resumed.body["filterGroups"][0]["filters"]
        assert any(f["operator"] == "GTE" for f in filters)  # from the cursor, not the start

        set_up(whole, hubspot, tmp_path)
        coach(whole, hubspot, "sync", "hubspot")
    assert kept(killed) == kept(whole)
