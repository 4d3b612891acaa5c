"""load_frames(touches_of=…), what `/coach pipeline` reads: the activities and links of the deals
those owners hold, read by lists of ids a few hundred at a time, are exactly the full frames'
rows for those deals (more deals than one list holds), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy import Engine

from storage import crm
from storage.crm import CrmStore, load_frames
from storage.crm_records import CrmActivity, CrmDeal, CrmOwner, CrmPage
from storage.db import session_scope

START = datetime(2026, 3, 2, 9, tzinfo=UTC)


def page() -> CrmPage:
    owners = [
        CrmOwner(crm_id=o, email=f"{o}@example.com", name=o, modified_at=START) for o in "abc"
    ]
    # Owner a holds more deals than one list of ids takes.
    holders = ["a"] * (crm._CHUNK + 30) + ["b"] * 40 + ["c"] * 5
    deals = [
        CrmDeal(
            crm_id=f"D{n:04d}",
            name=f"Deal {n}",
            owner_crm_id=owner,
            pipeline="default",
            stage="appointmentscheduled",
            amount=100.0,
            created_at=START + timedelta(hours=n),
            modified_at=START,
        )
        for n, owner in enumerate(holders)
    ]
    activities = [
        CrmActivity(
            crm_id=f"A{n:05d}",
            kind="call",
            owner_crm_id=holders[n % len(holders)],
            occurred_at=START + timedelta(minutes=n),
            deal_crm_ids=tuple(f"D{(n * k) % len(holders):04d}" for k in (1, 7)[: 1 + n % 2]),
            modified_at=START,
        )
        for n in range(1_500)
    ]
    return CrmPage(owners=owners, deals=deals, activities=activities)


def test_touches_of_keeps_exactly_the_rows_of_those_owners_deals(engine: Engine) -> None:
    CrmStore(engine, "T1").write_page("hubspot", page(), "deals", None)
    with session_scope(engine) as session:
        full = load_frames(session, "T1", "hubspot")
        for owners in ({"a"}, {"b", "c"}, {"z"}):
            mine = load_frames(session, "T1", "hubspot", touches_of=owners)
            deals = set(full.deals.loc[full.deals["owner_crm_id"].isin(owners), "crm_id"])
            links = full.links[full.links["deal_crm_id"].isin(deals)].reset_index(drop=True)
            activities = full.activities[
                full.activities["crm_id"].isin(set(links["activity_crm_id"]))
            ].reset_index(drop=True)
            pd.testing.assert_frame_equal(mine.links, links, check_dtype=False)
            pd.testing.assert_frame_equal(mine.activities, activities, check_dtype=False)
            pd.testing.assert_frame_equal(mine.deals, full.deals)
            assert (len(links) > 0) == (owners != {"z"})


def test_a_large_write_brings_postgresql_statistics_up_to_date(engine: Engine) -> None:
    """Without them the planner deletes a page's old links by scanning every link."""
    CrmStore(engine, "T1").write_page("hubspot", page(), "deals", None)  # over 2,000 records
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE relname = 'crm_activity_deals'"
            ).scalar()
        assert rows is not None and rows > 0  # never analyzed: -1
