"""apply_crm: the counts derived from stored CRM records are written like an import, on SQLite and
PostgreSQL: the CRM's columns replace a CSV's in the months it covers, the others stay, the
current month is month to date, and a rerun with nothing new changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, select

from analytics.catalogue import load_catalogue
from analytics.crm_mapping import load_mapping
from storage.crm import CrmStore, apply_crm, crm_months
from storage.crm_records import CrmActivity, CrmDeal, CrmOwner, CrmPage, CrmStageChange
from storage.csv_import import CsvImportError, import_metrics
from storage.db import session_scope
from storage.models import MetricValue, PartialMonth, Person, Workspace

WS = "T1"
MAPPING = load_mapping()
CONNECTED = "f240bbac-87c9-4f6e-bf70-924b57d47db7"


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 9, tzinfo=UTC)


def seed(engine: Engine) -> dict[str, int]:
    """Ann and Bob in the org chart, with CSV numbers for September and October."""
    with session_scope(engine) as session:
        session.add(Workspace(id=WS, data_version=0))
        session.flush()
        ann = Person(workspace_id=WS, email="ann@example.com", name="Ann", role="rep")
        bob = Person(workspace_id=WS, email="bob@example.com", name="Bob", role="rep")
        session.add_all([ann, bob])
        session.flush()
        for month in ("2026-08", "2026-09", "2026-10"):
            for name, value in (("wins", 7.0), ("quota", 5000.0), ("contacts_engaged", 9.0)):
                session.add(
                    MetricValue(
                        workspace_id=WS, person_id=ann.id, month=month, name=name, value=value
                    )
                )
        return {"ann": ann.id, "bob": bob.id}


def records(store: CrmStore) -> None:
    store.write_page(
        "hubspot",
        CrmPage(
            owners=[
                CrmOwner(crm_id="o1", email="Ann@example.com", name="Ann", modified_at=at(9, 1)),
                CrmOwner(crm_id="o9", email="eve@example.com", name="Eve", modified_at=at(9, 1)),
            ],
            deals=[
                CrmDeal(
                    crm_id="D1",
                    name="Acme",
                    owner_crm_id="o1",
                    pipeline="default",
                    stage="closedwon",
                    amount=1000.0,
                    created_at=at(9, 5),
                    modified_at=at(10, 10),
                ),
                CrmDeal(
                    crm_id="D9",
                    name="Eve's",
                    owner_crm_id="o9",
                    pipeline="default",
                    stage="appointmentscheduled",
                    amount=50.0,
                    created_at=at(10, 1),
                    modified_at=at(10, 1),
                ),
            ],
            stage_changes=[
                CrmStageChange(deal_crm_id="D1", stage="appointmentscheduled", entered_at=at(9, 5)),
                CrmStageChange(deal_crm_id="D1", stage="closedwon", entered_at=at(10, 10)),
            ],
            activities=[
                CrmActivity(
                    crm_id="c1",
                    kind="call",
                    owner_crm_id="o1",
                    occurred_at=at(10, 3),
                    deal_crm_ids=("D1",),
                    outcome=CONNECTED,
                    modified_at=at(10, 3),
                )
            ],
        ),
        "deals",
        "1",
    )


def stored(engine: Engine, pid: int) -> dict[tuple[str, str], float]:
    with session_scope(engine) as session:
        rows = session.execute(
            select(MetricValue.month, MetricValue.name, MetricValue.value).where(
                MetricValue.person_id == pid
            )
        ).all()
    return {(month, name): value for month, name, value in rows}


def version(engine: Engine) -> int:
    with session_scope(engine) as session:
        workspace = session.get(Workspace, WS)
        assert workspace is not None
        return workspace.data_version


def test_apply_writes_like_an_import(engine: Engine) -> None:
    ids = seed(engine)
    store = CrmStore(engine, WS)
    records(store)
    with store.record_run("hubspot"):
        result = apply_crm(engine, WS, "hubspot", MAPPING, date(2026, 10, 20))
    assert result.covered == ["2026-09", "2026-10"]
    assert result.months == ["2026-09", "2026-10"]
    values = stored(engine, ids["ann"])
    # August is before the CRM's first record: the CSV's numbers stay.
    assert values[("2026-08", "wins")] == 7
    # The CRM wins for its columns in its months: 1 win in October, none in September.
    assert values[("2026-09", "wins")] == 0
    assert values[("2026-10", "wins")] == 1
    assert values[("2026-10", "revenue")] == 1000
    assert values[("2026-10", "cycle_days")] == 35
    assert values[("2026-09", "discovery_calls")] == 1
    assert values[("2026-10", "connects")] == 1
    # Columns the CRM doesn't give stay as the CSV gave them.
    assert values[("2026-10", "quota")] == 5000
    assert values[("2026-10", "contacts_engaged")] == 9
    # Coverage: Q4's quota is 5,000 (only October's is known), 1,000 of it booked.
    assert values[("2026-10", "quota_remaining")] == 4000
    with session_scope(engine) as session:
        marks = session.execute(
            select(PartialMonth.person_id, PartialMonth.month, PartialMonth.through)
        ).all()
        assert marks == [(ids["ann"], "2026-10", date(2026, 10, 20))]
        assert crm_months(session, WS) == {"2026-09": "hubspot", "2026-10": "hubspot"}
    run = store.last_run("hubspot")
    assert run is not None
    assert run.problems == [
        "eve@example.com owns hubspot records but is not in the org chart: left out (import it first)"
    ]
    assert version(engine) == 1


def test_rerun_changes_nothing_and_a_new_day_moves_through(engine: Engine) -> None:
    ids = seed(engine)
    store = CrmStore(engine, WS)
    records(store)
    apply_crm(engine, WS, "hubspot", MAPPING, date(2026, 10, 20))
    again = apply_crm(engine, WS, "hubspot", MAPPING, date(2026, 10, 20))
    assert again.months == []
    assert version(engine) == 1
    # November begins: October becomes a full month (its mark goes), November month to date.
    later = apply_crm(engine, WS, "hubspot", MAPPING, date(2026, 11, 2))
    assert "2026-10" in later.months
    with session_scope(engine) as session:
        marks = session.execute(select(PartialMonth.month, PartialMonth.through)).all()
    assert marks == [("2026-11", date(2026, 11, 2))]
    assert version(engine) == 2
    assert stored(engine, ids["ann"])[("2026-10", "wins")] == 1


def test_apply_in_a_callers_session_is_all_or_nothing(engine: Engine) -> None:
    ids = seed(engine)
    records(CrmStore(engine, WS))
    try:
        with session_scope(engine) as session:
            apply_crm(session, WS, "hubspot", MAPPING, date(2026, 10, 20))
            raise RuntimeError("judging failed")
    except RuntimeError:
        pass
    assert stored(engine, ids["ann"])[("2026-09", "wins")] == 7
    assert version(engine) == 0


def test_a_csv_cannot_overwrite_the_crms_months(engine: Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ids = seed(engine)
    records(CrmStore(engine, WS))
    apply_crm(engine, WS, "hubspot", MAPPING, date(2026, 10, 20))
    catalogue = load_catalogue()
    path = tmp_path / "metrics.csv"
    path.write_text(
        "month,rep_email,wins,quota\n2026-08,ann@example.com,3,6000\n2026-10,ann@example.com,,7000\n"
    )
    with session_scope(engine) as session, pytest.raises(CsvImportError) as refused:
        import_metrics(session, WS, path, catalogue)
    assert str(refused.value) == (
        "line 3, column wins: 2026-10's wins come from hubspot (coach sync hubspot): "
        "the CRM's counts win; drop these columns or this month's rows"
    )
    # Columns the CRM doesn't derive go in, in its months too.
    path.write_text("month,rep_email,quota\n2026-10,ann@example.com,7000\n")
    with session_scope(engine) as session:
        import_metrics(session, WS, path, catalogue)
    values = stored(engine, ids["ann"])
    assert (values[("2026-10", "quota")], values[("2026-10", "wins")]) == (7000, 1)
