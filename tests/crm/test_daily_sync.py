"""The daily CRM sync: due at COACH_SYNC_TIME local, once a day, by one replica, resumed after a
replica dies, retried unless a retry cannot help that day."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from bot.crm.daily import DailySync, sync_key
from bot.crm.hubspot import HubSpotConnector
from bot.demo.hubspot_standin import HubSpotStandIn
from bot.settings import Settings
from storage.crm import CrmStore
from storage.deliveries import claim
from storage.models import Delivery
from tests.crm.test_hubspot_connector import TOKEN, seed

# 05:30 in Berlin is 04:30 UTC in winter.
BEFORE = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
AFTER = datetime(2026, 11, 30, 4, 30, tzinfo=UTC)
DAY = "2026-11-30"


@pytest.fixture
def hubspot() -> Iterator[HubSpotStandIn]:
    with HubSpotStandIn(token=TOKEN) as standin:
        seed(standin)
        yield standin


def replica(hubspot: HubSpotStandIn, engine: Engine) -> DailySync:
    config = Settings(  # type: ignore[call-arg]
        _env_file=None,
        COACH_WORKSPACE="acme",
        COACH_TIMEZONE="Europe/Berlin",
        COACH_SYNC_TIME="05:30",
        HUBSPOT_ACCESS_TOKEN=TOKEN,
        HUBSPOT_BASE_URL=hubspot.base,
    )
    return DailySync(config, engine)


def walks(hubspot: HubSpotStandIn) -> int:
    """Whole syncs the stand-in saw (each reads the owners first)."""
    return len([c for c in hubspot.calls_to("owners") if c.query.get("limit") == ["1"]])


def test_due_at_the_local_time_then_once_that_day(engine: Engine, hubspot: HubSpotStandIn) -> None:
    daily = replica(hubspot, engine)
    assert daily.tick(BEFORE) == [] and hubspot.calls == []
    [result] = daily.tick(AFTER)
    assert result.ok and walks(hubspot) == 1
    assert daily.tick(AFTER + timedelta(hours=3)) == [] and walks(hubspot) == 1
    assert CrmStore(engine, "acme").last_run("hubspot").status == "ok"  # type: ignore[union-attr]
    [next_day] = daily.tick(AFTER + timedelta(days=1))
    assert next_day.ok and walks(hubspot) == 2


def test_two_replicas_ticking_together_sync_once(engine: Engine, hubspot: HubSpotStandIn) -> None:
    first, second = replica(hubspot, engine), replica(hubspot, engine)
    hubspot.hold("deals.search", after=1)
    ran: list[object] = []
    thread = threading.Thread(target=lambda: ran.extend(first.tick(AFTER)))
    thread.start()
    hubspot.wait_for("deals.search", 2)  # the check's, then the walk's, held
    assert second.tick(AFTER) == []
    hubspot.release()
    thread.join(timeout=30)
    assert len(ran) == 1 and walks(hubspot) == 1


def test_a_replica_that_died_mid_sync_is_taken_over_and_resumed(
    engine: Engine, hubspot: HubSpotStandIn
) -> None:
    daily = replica(hubspot, engine)
    # The dead replica claimed the day and wrote the owners and some deals before it died.
    connector = HubSpotConnector(TOKEN, hubspot.base, page_size=4)
    store = CrmStore(engine, "acme")
    store.start_run("hubspot")
    for obj in ("owners", "deals"):
        for n, (page, cursor) in enumerate(connector.pages(obj, store.cursor("hubspot", obj))):
            store.write_page("hubspot", page, obj, cursor)
            if obj == "deals" and n == 0:
                break
    with daily.sessions() as session:
        claim(
            session,
            workspace_id="acme",
            key=sync_key("hubspot", DAY),
            kind="crm_sync",
            period=DAY,
            owner="dead-replica",
            now=AFTER - timedelta(minutes=5),
            stale_after=timedelta(minutes=10),
        )
    before = len(hubspot.calls)
    assert daily.tick(AFTER) == []  # the claim is still live
    assert len(hubspot.calls) == before

    [resumed] = daily.tick(AFTER + timedelta(minutes=11))
    assert resumed.ok and resumed.written["deals"] == 5  # the 4 the dead one wrote stay
    searches = [c for c in hubspot.calls[before:] if c.name == "deals.search"]
    filters = searches[1].body["filterGroups"][0]["filters"]
    assert any(f["operator"] == "GTE" for f in filters)
    with daily.sessions() as session:
        row = session.scalar(select(Delivery).where(Delivery.key == sync_key("hubspot", DAY)))
        assert row is not None and (row.status, row.attempts) == ("sent", 2)


def test_a_refused_token_waits_for_tomorrow_a_rate_limit_for_the_next_tick(
    engine: Engine, hubspot: HubSpotStandIn
) -> None:
    daily = replica(hubspot, engine)
    hubspot.rate_limit(policy="DAILY")
    [limited] = daily.tick(AFTER)
    assert limited.error is not None and limited.error.kind == "rate_limit"
    [again] = daily.tick(AFTER + timedelta(minutes=5))
    assert again.ok

    hubspot.revoke()
    tomorrow = AFTER + timedelta(days=1)
    [refused] = daily.tick(tomorrow)
    assert refused.error is not None and refused.error.kind == "auth"
    calls = len(hubspot.calls)
    assert daily.tick(tomorrow + timedelta(minutes=5)) == [] and len(hubspot.calls) == calls
