"""`coach doctor` on a CRM: the token and its scopes, the last sync, the records that don't map."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from bot.cli.doctor import Check, crm_checks
from bot.crm.sync import sync_source
from bot.demo.hubspot_standin import ALL_SCOPES, HubSpotStandIn
from bot.demo.salesforce_standin import INSTANCE_URL, SalesforceStandIn
from bot.settings import Settings
from storage.crm import CrmStore
from storage.db import make_engine
from tests.crm.test_hubspot_connector import TOKEN, seed


@pytest.fixture
def engine(migrated_sqlite_url: str) -> Iterator[Engine]:
    made = make_engine(migrated_sqlite_url)
    yield made
    made.dispose()


@pytest.fixture
def hubspot() -> Iterator[HubSpotStandIn]:
    with HubSpotStandIn(token=TOKEN) as standin:
        seed(standin)
        yield standin


def settings(hubspot: HubSpotStandIn, **extra: str) -> Settings:
    values = {
        "COACH_WORKSPACE": "acme",
        "HUBSPOT_ACCESS_TOKEN": TOKEN,
        "HUBSPOT_BASE_URL": hubspot.base,
        **extra,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def checks(config: Settings, engine: Engine, now: datetime | None = None) -> list[Check]:
    return list(crm_checks(config, engine, now=now))


def test_no_crm_configured_no_crm_lines(engine: Engine) -> None:
    assert checks(Settings(_env_file=None), engine) == []  # type: ignore[call-arg]


def test_before_and_after_a_good_sync(engine: Engine, hubspot: HubSpotStandIn) -> None:
    config = settings(hubspot)
    token, never = checks(config, engine)
    assert (token.name, token.ok) == ("hubspot", True)
    assert (never.ok, never.detail, never.fix) == (
        False,
        "never synced",
        "run `coach sync hubspot`",
    )

    assert sync_source(config, engine, "acme", "hubspot").ok
    last = checks(config, engine)[1]
    assert last.ok and last.detail.startswith("last sync ") and "9 deals" in last.detail


def test_a_revoked_token_and_the_failed_sync_it_left(
    engine: Engine, hubspot: HubSpotStandIn
) -> None:
    config = settings(hubspot)
    assert sync_source(config, engine, "acme", "hubspot").ok
    hubspot.revoke()
    assert not sync_source(config, engine, "acme", "hubspot").ok
    token, last, *_ = checks(config, engine)
    assert not token.ok and "401" in token.detail and token.fix is not None
    assert "renew the token" in token.fix
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert not last.ok and "failed: HubSpot refused the token" in last.detail
    assert last.detail.endswith(f"; the counts are from {today}")


def test_missing_scopes_and_records_that_do_not_map(engine: Engine) -> None:
    granted = [s for s in ALL_SCOPES if s != "sales-email-read"]
    with HubSpotStandIn(token=TOKEN, scopes=granted) as hubspot:
        config = settings(hubspot)
        store = CrmStore(engine, "acme")
        with store.record_run("hubspot"):
            store.problems(
                "hubspot", [f"deal {n}: stage 'x{n}' is not in the mapping" for n in range(5)]
            )
        found = checks(config, engine)
    assert [c.name for c in found] == ["hubspot", "hubspot sync", "hubspot records"]
    assert "sales-email-read" in found[0].detail and "grant the scopes" in (found[0].fix or "")
    records = found[2]
    assert not records.ok and records.detail.startswith("5 don't map: deal 0: stage 'x0'")
    assert records.detail.endswith("and 2 more")


def test_a_killed_sync_and_a_daily_sync_that_stopped(
    engine: Engine, hubspot: HubSpotStandIn
) -> None:
    config = settings(hubspot, COACH_SYNC_TIME="05:00")
    CrmStore(engine, "acme").start_run("hubspot")  # and never finished: the process died
    _, running = checks(config, engine)
    assert running.ok and "is still running" in running.detail
    _, killed = checks(config, engine, now=datetime.now(UTC) + timedelta(hours=1))
    assert not killed.ok and "never finished" in killed.detail and "resumes" in (killed.fix or "")

    assert sync_source(config, engine, "acme", "hubspot").ok
    stale = checks(config, engine, now=datetime.now(UTC) + timedelta(days=2))[1]
    assert not stale.ok and "COACH_SYNC_TIME" in (stale.fix or "")


def test_which_crm_the_counts_come_from_and_a_second_one_set_up(
    engine: Engine, hubspot: HubSpotStandIn
) -> None:
    config = settings(hubspot)
    assert sync_source(config, engine, "acme", "hubspot").ok
    [*_, one] = checks(config, engine)
    assert (one.name, one.ok) == ("crm", True)
    assert one.detail.startswith("the counts come from hubspot (")
    with SalesforceStandIn() as sf:
        both = settings(
            hubspot,
            SALESFORCE_INSTANCE_URL=INSTANCE_URL,
            SALESFORCE_ACCESS_TOKEN=sf.token,
            SALESFORCE_BASE_URL=sf.url,
        )
        [*_, two] = checks(both, engine)
    assert (two.name, two.ok) == ("crm", False)
    assert "salesforce is set up too, and its syncs are refused" in two.detail
    assert (
        two.fix == "unset salesforce's settings, or `coach sync salesforce --switch` to move to it"
    )
