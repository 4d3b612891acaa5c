from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from simple_salesforce import Salesforce

from bot.demo.salesforce_standin import SalesforceStandIn, seed_org
from tests.crm.conftest import T0, CountingSink, connect, sync


def test_get_deleted_answers_as_the_reference_shows(sf: SalesforceStandIn) -> None:
    owner = sf.add_user("Priya Shah", "priya@example.com", at=T0)
    opp = sf.add_opportunity("Acme", owner=owner, at=T0)
    sf.delete("Opportunity", opp, at=T0 + timedelta(hours=5, seconds=42))
    client = connect(sf)._client
    found = client.Opportunity.deleted(T0, T0 + timedelta(days=1))
    assert found == {
        "deletedRecords": [{"id": opp, "deletedDate": "2026-09-01T14:00:42.000+0000"}],
        "earliestDateAvailable": "2026-09-01T09:00:00.000+0000",
        "latestDateCovered": "2026-09-02T09:00:00.000+0000",
    }


def test_query_pages_carry_done_total_size_and_next_records_url(sf: SalesforceStandIn) -> None:
    owner = sf.add_user("Priya Shah", "priya@example.com", at=T0)
    for n in range(4):
        sf.add_opportunity(f"Deal {n}", owner=owner, at=T0)
    client: Salesforce = connect(sf)._client
    first = client.query("SELECT Id, Name FROM Opportunity ORDER BY Name")
    assert (first["totalSize"], first["done"], len(first["records"])) == (4, False, 3)
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert first["records"][0]["attributes"]["type"] == "Opportunity"
    rest = client.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert (rest["done"], [r["Name"] for r in rest["records"]]) == (True, ["Deal 3"])
    assert "nextRecordsUrl" not in rest


def test_a_demo_org_from_an_org_chart(tmp_path: Path) -> None:
    org = tmp_path / "org.csv"
    org.write_text(
        "email,name,role,manager_email\n"
        "rep@example.com,Rep One,rep,boss@example.com\n"
        "boss@example.com,Boss,manager,\n"
    )
    with SalesforceStandIn() as sf:
        made = seed_org(sf, org, today=date(2026, 11, 15), months=2)
        sink = CountingSink()
        sync(connect(sf), sink)
    assert made == len(sink.deals) > 0
    boss, rep = sorted(sink.owners.values(), key=lambda o: o.name)
    assert rep.manager_crm_id == boss.crm_id
    assert all(d.created_at >= datetime(2026, 9, 1, tzinfo=UTC) for d in sink.deals.values())
    assert {a.kind for a in sink.activities.values()} >= {"call", "meeting"}
