"""`coach sync salesforce` end to end against the Salesforce stand-in, on SQLite and PostgreSQL:
the figures `coach gaps` shows equal a hand computation, an incremental sync equals a full one,
and a sync killed midway then rerun loses and repeats nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, select

from analytics.crm_mapping import load_mapping
from bot.coaching.crm import Pipeline, sideways
from bot.demo.hubspot_standin import HubSpotStandIn
from bot.demo.salesforce_standin import INSTANCE_URL, SalesforceStandIn
from storage.crm import current_crm
from storage.db import make_engine, session_scope
from storage.models import CrmDeal
from tests.crm.test_hubspot_connector import TOKEN as HUBSPOT_TOKEN
from tests.crm.test_hubspot_connector import seed as seed_hubspot
from tests.in_process import Ran, run_coach

ORG = (
    "email,name,role,manager_email\n"
    "dana@example.com,Dana,director,\n"
    "maria@example.com,Maria,manager,dana@example.com\n"
    "priya@example.com,Priya,rep,maria@example.com\n"
    "noah@example.com,Noah,rep,maria@example.com\n"
    "lena@example.com,Lena,rep,maria@example.com\n"
)
REPS = {"Priya": 3, "Noah": 4, "Lena": 5}  # opportunities each
TODAY = datetime(2026, 11, 15, 12, tzinfo=UTC)
MONTH = "2026-10"


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 10, tzinfo=UTC)


def seed(sf: SalesforceStandIn) -> dict[str, list[str]]:
    """Each rep's deal k: created 2+k September for 1000·(k+1), qualified on the 10+k; the even
    ones shown the value proposition 2+k October and won on the 20+k; a connected call on each."""
    maria = sf.add_user("Maria", "maria@example.com", at=at(8, 1))
    deals: dict[str, list[str]] = {}
    for name, count in REPS.items():
        rep = sf.add_user(name, f"{name.lower()}@example.com", manager=maria, at=at(8, 1))
        deals[name] = []
        for k in range(count):
            opp = sf.add_opportunity(
                f"{name} {k}", owner=rep, amount=1000 * (k + 1), at=at(9, 2 + k)
            )
            sf.set_stage(opp, "Qualification", at=at(9, 10 + k))
            if k % 2 == 0:
                sf.set_stage(opp, "Value Proposition", at=at(10, 2 + k))
                sf.set_stage(opp, "Closed Won", at=at(10, 20 + k))
            sf.add_task(owner=rep, what=opp, disposition="Connected", at=at(9, 3 + k))
            deals[name].append(opp)
    return deals


@pytest.fixture
def sf() -> Iterator[SalesforceStandIn]:
    with time_machine.travel(TODAY, tick=True), SalesforceStandIn(page_size=4) as standin:
        yield standin


def environment(url: str, sf: SalesforceStandIn) -> dict[str, str]:
    keep = ("SALESFORCE_", "COACH_", "HUBSPOT_", "DATABASE_URL")
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(keep)},
        "DATABASE_URL": url,
        "COACH_WORKSPACE": "acme",
        "SALESFORCE_INSTANCE_URL": INSTANCE_URL,
        "SALESFORCE_ACCESS_TOKEN": sf.token,
        "SALESFORCE_BASE_URL": sf.url,
    }


def coach(url: str, sf: SalesforceStandIn, *args: str, tmp: Path | None = None) -> Ran:
    return run_coach(*args, env=environment(url, sf), cwd=tmp)


def with_org(url: str, sf: SalesforceStandIn, tmp_path: Path) -> None:
    (tmp_path / "org.csv").write_text(ORG)
    ran = coach(url, sf, "import", "org", str(tmp_path / "org.csv"))
    assert ran.returncode == 0, ran.stderr


def figures(url: str, sf: SalesforceStandIn) -> dict[str, dict[str, tuple]]:
    """rep → metric → (value, numerator, denominator), as `coach gaps --all --json` shows them."""
    ran = coach(url, sf, "gaps", "--all", "--month", MONTH, "--json")
    assert ran.returncode == 0, ran.stderr
    return {
        report["rep"]: {
            m["key"]: (m["value"], m["numerator"], m["denominator"]) for m in report["metrics"]
        }
        for report in map(json.loads, ran.stdout.splitlines())
    }


def deals_stored(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(CrmDeal)) or 0
    finally:
        engine.dispose()


def walked(sf: SalesforceStandIn, sobject: str) -> int:
    """Rows of `sobject` the walks fetched (their query and its nextRecordsUrl pages)."""
    return sum(
        call.records
        for call in sf.calls
        if call.kind in ("query", "queryAll", "query_more")
        and f"FROM {sobject} " in (call.soql or "")
        and "ORDER BY SystemModstamp" in (call.soql or "")
    )


def test_sync_then_gaps_shows_the_hand_computed_figures(
    migrated_url: str, sf: SalesforceStandIn, tmp_path: Path
) -> None:
    seed(sf)
    with_org(migrated_url, sf, tmp_path)
    ran = coach(migrated_url, sf, "sync", "salesforce")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("salesforce: synced ") and "12 deals" in ran.stdout
    shown = figures(migrated_url, sf)
    for name, count in REPS.items():
        won = [1000 * (k + 1) for k in range(count) if k % 2 == 0]
        rep = shown[f"{name.lower()}@example.com"]
        assert rep["bookings"][1] == sum(won)  # won in October, dated by the stage change
        assert rep["avg_deal_size"][1:] == (sum(won), len(won))
        assert rep["close_rate"][1:] == (len(won), len(won))  # wins ÷ value propositions
        assert rep["sales_cycle_days"][1:] == (48 * len(won), len(won))  # 2+k Sep → 20+k Oct
        assert rep["leads_prospected"][1] == count  # a call per deal, in September
        assert rep["connect_rate"][1:] == (count, count)


def test_an_incremental_sync_fetches_only_the_changes_and_equals_a_full_one(
    migrated_url: str, sf: SalesforceStandIn, tmp_path: Path, sqlite_url: str
) -> None:
    deals = seed(sf)
    with_org(migrated_url, sf, tmp_path)
    assert coach(migrated_url, sf, "sync", "salesforce").returncode == 0
    before = figures(migrated_url, sf)

    sf.set_stage(deals["Priya"][1], "Value Proposition", at=at(10, 24))
    sf.set_stage(deals["Priya"][1], "Closed Won", at=at(10, 25))
    sf.delete("Opportunity", deals["Noah"][0], at=at(11, 1))
    sf.add_task(
        owner=sf.records["Opportunity"][deals["Lena"][1]]["OwnerId"],
        what=deals["Lena"][1],
        disposition="Left voicemail",
        at=at(10, 5),
    )
    sf.clear_calls()
    ran = coach(migrated_url, sf, "sync", "salesforce")
    assert ran.returncode == 0, ran.stderr
    assert (walked(sf, "User"), walked(sf, "Opportunity"), walked(sf, "Task")) == (0, 2, 1)
    after = figures(migrated_url, sf)
    assert after != before
    assert after["priya@example.com"]["bookings"][1] == 1000 + 2000 + 3000
    assert after["noah@example.com"]["bookings"][1] == 3000

    fresh = str(tmp_path / "fresh")
    os.mkdir(fresh)
    from storage.db import upgrade

    upgrade(sqlite_url)
    with_org(sqlite_url, sf, Path(fresh))
    assert coach(sqlite_url, sf, "sync", "salesforce").returncode == 0
    assert figures(sqlite_url, sf) == after


def test_a_sync_killed_midway_then_rerun_loses_and_repeats_nothing(
    migrated_url: str, sf: SalesforceStandIn, tmp_path: Path, sqlite_url: str
) -> None:
    deals = seed(sf)
    total = sum(len(d) for d in deals.values())
    with_org(migrated_url, sf, tmp_path)
    release = sf.hold("query_more", after=3)  # the owners' second page, then a deals page
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli.main", "sync", "salesforce"],
        env=environment(migrated_url, sf),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert sf.held.wait(60), "the sync never reached the held call"
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        release.set()
        if process.poll() is None:
            process.kill()
    kept = deals_stored(migrated_url)
    assert 0 < kept < total  # killed between pages: the pages before stayed
    fetched_before = walked(sf, "Opportunity")

    sf.clear_calls()
    ran = coach(migrated_url, sf, "sync", "salesforce")
    assert ran.returncode == 0, ran.stderr
    assert deals_stored(migrated_url) == total
    # The rerun resumed after the last page written: nothing fetched twice, nothing missed.
    assert walked(sf, "Opportunity") == total - kept
    assert fetched_before >= kept

    from storage.db import upgrade

    upgrade(sqlite_url)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    with_org(sqlite_url, sf, fresh)
    assert coach(sqlite_url, sf, "sync", "salesforce").returncode == 0
    assert figures(sqlite_url, sf) == figures(migrated_url, sf)


def test_each_failure_is_one_line_and_keeps_the_last_good_figures(
    migrated_sqlite_url: str, sf: SalesforceStandIn, tmp_path: Path
) -> None:
    url = migrated_sqlite_url
    seed(sf)
    with_org(url, sf, tmp_path)
    assert coach(url, sf, "sync", "salesforce").returncode == 0
    good = figures(url, sf)
    sf.add_opportunity("Late deal", owner=sf.records["User"][next(iter(sf.records["User"]))]["Id"])

    def failed(*words: str) -> None:
        ran = coach(url, sf, "sync", "salesforce")
        assert ran.returncode == 1 and ran.stdout == ""
        [line] = ran.stderr.strip().splitlines()
        assert line.startswith("error: salesforce: sync failed: Salesforce")
        assert all(word in line for word in words), line
        assert figures(url, sf) == good

    sf.fail("queryAll", status=503, error_code="SERVER_UNAVAILABLE", message="Try again later")
    failed("HTTP 503 while reading Opportunity (SERVER_UNAVAILABLE: Try again later)")
    limit, sf.api_limit = sf.api_limit, sf.api_used + 3
    failed("daily API request limit is used up", "REQUEST_LIMIT_EXCEEDED")
    sf.api_limit = limit
    sf.deny("Event")
    failed("can't read Event", "read access")
    sf.revoke()
    failed("expired or revoked", "INVALID_SESSION_ID", "SALESFORCE_ACCESS_TOKEN")


def test_a_user_without_an_email_is_a_problem_line(
    migrated_sqlite_url: str, sf: SalesforceStandIn, tmp_path: Path
) -> None:
    seed(sf)
    bot_user = sf.add_user("Integration Bot", None, at=at(9, 1))
    sf.add_opportunity("Auto-created", owner=bot_user, amount=500, at=at(9, 2))
    with_org(migrated_sqlite_url, sf, tmp_path)
    ran = coach(migrated_sqlite_url, sf, "sync", "salesforce")
    assert ran.returncode == 0, ran.stderr
    assert f"owner {bot_user} (Integration Bot) has no email" in ran.stderr
    assert "1 records don't map" in ran.stdout or "records don't map" in ran.stdout


def test_one_crm_at_a_time_until_the_workspace_switches(
    migrated_url: str, sf: SalesforceStandIn, tmp_path: Path
) -> None:
    """Two CRMs deriving the same months would each wipe the reps only the other holds: a sync
    of a second CRM is refused, in one line, before it fetches anything, until --switch."""
    seed(sf)
    with_org(migrated_url, sf, tmp_path)
    with HubSpotStandIn(token=HUBSPOT_TOKEN) as hubspot:
        seed_hubspot(hubspot)
        env = {
            **environment(migrated_url, sf),
            "HUBSPOT_ACCESS_TOKEN": HUBSPOT_TOKEN,
            "HUBSPOT_BASE_URL": hubspot.base,
        }
        assert run_coach("sync", "hubspot", env=env).returncode == 0
        refused = run_coach("sync", "salesforce", env=env)
        assert refused.returncode == 2 and refused.stdout == ""
        [line] = refused.stderr.strip().splitlines()
        assert "this workspace's counts come from hubspot (" in line
        assert "`coach sync salesforce --switch`" in line
        assert sf.calls == [] and deals_of(migrated_url, "salesforce") == 0
        assert review_of(migrated_url, "priya.shah@example.com").source == "hubspot"

        switched = run_coach("sync", "salesforce", "--switch", env=env)
        assert switched.returncode == 0, switched.stderr
        assert deals_of(migrated_url, "salesforce") == 12
        engine = make_engine(migrated_url)
        try:
            with session_scope(engine) as session:
                now = current_crm(session, "acme")
        finally:
            engine.dispose()
        assert now is not None and now[0] == "salesforce" and now[2] == "2026-11"
        # Her HubSpot deals are frozen now: the pipeline review reads Salesforce only.
        after = review_of(migrated_url, "priya.shah@example.com")
        assert after.source == "salesforce" and after.flags == []
        back = run_coach("sync", "hubspot", env=env)
        assert back.returncode == 2 and "come from salesforce" in back.stderr


def review_of(url: str, email: str) -> Pipeline:
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            return sideways(session, load_mapping(), "acme", email, TODAY)
    finally:
        engine.dispose()


def deals_of(url: str, source: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            count = select(func.count()).where(CrmDeal.source == source)
            return conn.scalar(count) or 0
    finally:
        engine.dispose()
