"""CrmStore, the sink connectors write to, on SQLite and PostgreSQL: pages upserted with their
cursor in one transaction, histories replaced whole, deletions and merges applied, runs and
problem lines kept for `coach doctor`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from storage.crm import CrmStore, connected_sources, load_records, stored_counts
from storage.crm_records import (
    CrmActivity,
    CrmDeal,
    CrmDeletion,
    CrmOwner,
    CrmOwnerChange,
    CrmPage,
    CrmStageChange,
)
from storage.db import session_scope
from storage.models import CrmCursor
from storage.models import CrmDeal as DealRow
from storage.models import CrmStageChange as StageRow

WS = "T1"
T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def owner(crm_id: str = "o1", email: str | None = "ann@example.com", **kw: object) -> CrmOwner:
    return CrmOwner(crm_id=crm_id, email=email, name=f"Owner {crm_id}", modified_at=T0, **kw)


def deal(crm_id: str = "d1", stage: str = "appointmentscheduled", **kw: object) -> CrmDeal:
    fields: dict[str, object] = {
        "name": f"Deal {crm_id}",
        "owner_crm_id": "o1",
        "pipeline": "default",
        "amount": 1000.0,
        "created_at": T0,
        "modified_at": T0,
    }
    fields.update(kw)
    return CrmDeal(crm_id=crm_id, stage=stage, **fields)  # type: ignore[arg-type]


def call(
    crm_id: str, *deals: str, days: float = 1, outcome: str | None = "connected"
) -> CrmActivity:
    return CrmActivity(
        crm_id=crm_id,
        kind="call",
        owner_crm_id="o1",
        occurred_at=at(days),
        deal_crm_ids=deals,
        outcome=outcome,
        modified_at=at(days),
    )


@pytest.fixture
def store(engine: Engine) -> CrmStore:
    return CrmStore(engine, WS)


def test_page_upserted_with_cursor_and_read_back(store: CrmStore, engine: Engine) -> None:
    assert store.cursor("hubspot", "deals") is None
    page = CrmPage(
        owners=[owner()],
        deals=[deal(close_date=date(2026, 12, 31), url="https://crm/d1")],
        stage_changes=[
            CrmStageChange(deal_crm_id="d1", stage="qualifiedtobuy", entered_at=at(3)),
            CrmStageChange(deal_crm_id="d1", stage="appointmentscheduled", entered_at=at(0)),
        ],
        owner_changes=[CrmOwnerChange(deal_crm_id="d1", owner_crm_id="o1", changed_at=at(0))],
        activities=[call("c1", "d1"), call("c2", days=2)],
    )
    store.write_page("hubspot", page, "deals", "cursor-1")
    assert store.cursor("hubspot", "deals") == "cursor-1"
    assert store.cursor("hubspot", "owners") is None
    assert store.cursor("salesforce", "deals") is None
    with session_scope(engine) as session:
        records = load_records(session, WS, "hubspot")
    assert records.owners == [owner()]
    assert records.deals == [deal(close_date=date(2026, 12, 31), url="https://crm/d1")]
    # Stored in time order, whatever order the page gave them in.
    assert [c.stage for c in records.stage_changes] == ["appointmentscheduled", "qualifiedtobuy"]
    assert records.stage_changes[1].entered_at == at(3)
    assert records.stage_changes[1].entered_at.tzinfo is not None
    assert [(a.crm_id, a.deal_crm_ids) for a in records.activities] == [
        ("c1", ("d1",)),
        ("c2", ()),
    ]


def test_rewriting_a_page_changes_nothing_and_updates_replace(
    store: CrmStore, engine: Engine
) -> None:
    page = CrmPage(
        deals=[deal()],
        stage_changes=[CrmStageChange(deal_crm_id="d1", stage="a", entered_at=at(0))],
        activities=[call("c1", "d1")],
    )
    store.write_page("hubspot", page, "deals", "c1")
    store.write_page("hubspot", page, "deals", "c1")  # a killed sync reruns its last page
    with session_scope(engine) as session:
        assert stored_counts(session, WS, "hubspot") == {
            "owners": 0,
            "deals": 1,
            "stage_changes": 1,
            "owner_changes": 0,
            "activities": 1,
            "activity_deals": 1,
        }
    changed = CrmPage(
        deals=[deal(stage="b", amount=2500.0, modified_at=at(5))],
        stage_changes=[
            CrmStageChange(deal_crm_id="d1", stage="a", entered_at=at(0)),
            CrmStageChange(deal_crm_id="d1", stage="b", entered_at=at(5)),
        ],
        activities=[call("c1", "d2", days=6)],  # re-associated with another deal
    )
    store.write_page("hubspot", changed, "deals", "c2")
    with session_scope(engine) as session:
        records = load_records(session, WS, "hubspot")
    assert [(d.stage, d.amount) for d in records.deals] == [("b", 2500.0)]
    assert [(c.stage, c.entered_at) for c in records.stage_changes] == [("a", at(0)), ("b", at(5))]
    assert [(a.deal_crm_ids, a.occurred_at) for a in records.activities] == [(("d2",), at(6))]


def test_a_deal_without_history_in_the_page_keeps_its_history(
    store: CrmStore, engine: Engine
) -> None:
    store.write_page(
        "hubspot",
        CrmPage(
            deals=[deal()],
            stage_changes=[CrmStageChange(deal_crm_id="d1", stage="a", entered_at=at(0))],
        ),
        "deals",
        "1",
    )
    store.write_page("hubspot", CrmPage(deals=[deal(name="Renamed")]), "deals", "2")
    with session_scope(engine) as session:
        records = load_records(session, WS, "hubspot")
    assert records.deals[0].name == "Renamed"
    assert [c.stage for c in records.stage_changes] == ["a"]


def test_deletions_and_merges(store: CrmStore, engine: Engine) -> None:
    store.write_page(
        "hubspot",
        CrmPage(
            owners=[owner("o1"), owner("o2", email="bob@example.com")],
            deals=[deal("d1"), deal("d2"), deal("d3")],
            stage_changes=[
                CrmStageChange(deal_crm_id=d, stage="a", entered_at=at(0))
                for d in ("d1", "d2", "d3")
            ],
            activities=[call("c1", "d1"), call("c2", "d2", "d1"), call("c3", "d3")],
        ),
        "deals",
        "1",
    )
    store.write_page(
        "hubspot",
        CrmPage(
            deletions=[
                CrmDeletion(object="deals", crm_id="d1", merged_into="d2"),
                CrmDeletion(object="deals", crm_id="d3"),
                CrmDeletion(object="activities", crm_id="c3"),
                CrmDeletion(object="owners", crm_id="o2"),
                CrmDeletion(object="deals", crm_id="never-seen"),
            ]
        ),
        "deals",
        "2",
    )
    with session_scope(engine) as session:
        records = load_records(session, WS, "hubspot")
    assert [d.crm_id for d in records.deals] == ["d2"]
    assert {c.deal_crm_id for c in records.stage_changes} == {"d2"}
    # c1 was about the merged-away d1: it now counts for the survivor; c2 is not doubled.
    assert [(a.crm_id, a.deal_crm_ids) for a in records.activities] == [
        ("c1", ("d2",)),
        ("c2", ("d2",)),
    ]
    # A deleted owner stays, inactive: the deals they worked still count for them.
    assert [(o.crm_id, o.active) for o in records.owners] == [("o1", True), ("o2", False)]


def test_a_failing_page_writes_nothing_not_even_its_cursor(store: CrmStore, engine: Engine) -> None:
    store.write_page("hubspot", CrmPage(deals=[deal("d1")]), "deals", "1")
    broken = CrmPage.model_construct(
        owners=[],
        deals=[deal("d2")],
        stage_changes=[],
        owner_changes=[],
        # An activity without its required fields: the insert fails after the deal was written.
        activities=[CrmActivity.model_construct(crm_id="c9", kind="call", deal_crm_ids=())],
        deletions=[],
    )
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises
        store.write_page("hubspot", broken, "deals", "2")
    assert store.cursor("hubspot", "deals") == "1"
    with session_scope(engine) as session:
        assert session.scalars(select(DealRow.crm_id)).all() == ["d1"]


def test_sources_and_workspaces_are_apart(engine: Engine) -> None:
    one, other = CrmStore(engine, WS), CrmStore(engine, "T2")
    one.write_page("hubspot", CrmPage(deals=[deal("d1")]), "deals", "h")
    one.write_page("salesforce", CrmPage(deals=[deal("d1", stage="Prospecting")]), "deals", "s")
    other.write_page("hubspot", CrmPage(deals=[deal("d1", stage="closedwon")]), "deals", "x")
    with session_scope(engine) as session:
        assert [d.stage for d in load_records(session, WS, "hubspot").deals] == [
            "appointmentscheduled"
        ]
        assert [d.stage for d in load_records(session, WS, "salesforce").deals] == ["Prospecting"]
        assert [d.stage for d in load_records(session, "T2", "hubspot").deals] == ["closedwon"]
        assert len(session.scalars(select(CrmCursor)).all()) == 3
        assert session.scalars(select(StageRow)).all() == []


def test_runs_counts_problems_and_failures(store: CrmStore, engine: Engine) -> None:
    assert store.last_run("hubspot") is None
    with store.record_run("hubspot"):
        store.write_page("hubspot", CrmPage(owners=[owner()], deals=[deal()]), "deals", "1")
        store.problems("hubspot", ["owner o7 (Zed) has no email: their deals are left out"])
        running = store.last_run("hubspot")
        assert running is not None and running.status == "running"
    run = store.last_run("hubspot")
    assert run is not None
    assert (run.status, run.error, run.counts) == ("ok", None, {"owners": 1, "deals": 1})
    assert run.problems == ["owner o7 (Zed) has no email: their deals are left out"]
    assert run.finished_at is not None and run.finished_at >= run.started_at

    class Revoked(Exception):
        line = "HubSpot said 401: the private-app token is expired or revoked"

    with pytest.raises(Revoked), store.record_run("hubspot"):
        raise Revoked("long\ntraceback")
    failed = store.last_run("hubspot")
    assert failed is not None
    assert (failed.status, failed.error, failed.problems) == (
        "failed",
        "HubSpot said 401: the private-app token is expired or revoked",
        [],
    )
    good = store.last_run("hubspot", ok_only=True)
    assert good is not None and good.id == run.id
    with session_scope(engine) as session:
        assert connected_sources(session, WS) == ["hubspot"]
        assert connected_sources(session, "T2") == []


def test_an_exception_without_a_line_is_cut_to_one(store: CrmStore) -> None:
    with pytest.raises(ValueError), store.record_run("salesforce"):
        raise ValueError("first line\nsecond line")
    run = store.last_run("salesforce")
    assert run is not None and run.error == "ValueError: first line"
