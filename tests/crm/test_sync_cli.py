"""`coach sync hubspot` end to end against the HubSpot stand-in, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from bot.demo.hubspot_standin import HubSpotStandIn
from storage.crm import CrmStore
from storage.db import make_engine
from storage.models import CrmDeal
from tests.crm.test_hubspot_connector import TOKEN, seed
from tests.in_process import Ran, run_coach


@pytest.fixture
def hubspot() -> Iterator[HubSpotStandIn]:
    with HubSpotStandIn(token=TOKEN) as standin:
        seed(standin)
        yield standin


def coach(url: str, hubspot: HubSpotStandIn, *args: str, **extra: str) -> Ran:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("HUBSPOT_", "COACH_"))},
        "DATABASE_URL": url,
        "COACH_WORKSPACE": "acme",
        "HUBSPOT_ACCESS_TOKEN": TOKEN,
        "HUBSPOT_BASE_URL": hubspot.base,
        **extra,
    }
    return run_coach(*args, env=env)


def deals_stored(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(CrmDeal)) or 0
    finally:
        engine.dispose()


def test_sync_stores_the_records_and_says_what_it_did(
    migrated_url: str, hubspot: HubSpotStandIn
) -> None:
    ran = coach(migrated_url, hubspot, "sync", "hubspot")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("hubspot: synced ") and "9 deals" in ran.stdout
    assert deals_stored(migrated_url) == 9

    again = coach(migrated_url, hubspot, "sync", "hubspot")
    assert again.returncode == 0 and "deals" not in again.stdout  # owners are read whole


def test_a_revoked_token_fails_in_one_line_and_keeps_what_was_there(
    migrated_url: str, hubspot: HubSpotStandIn
) -> None:
    assert coach(migrated_url, hubspot, "sync", "hubspot").returncode == 0
    hubspot.revoke()
    ran = coach(migrated_url, hubspot, "sync", "hubspot")
    assert ran.returncode == 1 and ran.stdout == ""
    [line] = ran.stderr.strip().splitlines()
    assert "sync failed: HubSpot refused the token (401 INVALID_AUTHENTICATION)" in line
    assert deals_stored(migrated_url) == 9
    engine = make_engine(migrated_url)
    try:
        run = CrmStore(engine, "acme").last_run("hubspot")
    finally:
        engine.dispose()
    assert run is not None and run.status == "failed" and "401" in (run.error or "")


def test_settings_missing_or_a_crm_unknown_is_exit_status_2(
    migrated_sqlite_url: str, hubspot: HubSpotStandIn
) -> None:
    unset = coach(migrated_sqlite_url, hubspot, "sync", "hubspot", HUBSPOT_ACCESS_TOKEN="")
    assert unset.returncode == 2 and "HUBSPOT_ACCESS_TOKEN is not set" in unset.stderr
    unknown = coach(migrated_sqlite_url, hubspot, "sync", "pipedrive")
    assert unknown.returncode == 2 and "unknown CRM 'pipedrive'" in unknown.stderr
