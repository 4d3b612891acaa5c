"""The Salesforce connector against the stand-in: what it hands over, paging, incremental syncs,
resuming after a crash, and one line for each way a sync can fail."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine

from bot.cli.doctor import crm_checks
from bot.crm.base import CrmError
from bot.crm.salesforce import SalesforceConnector
from bot.crm.sync import configured_sources, connector_for
from bot.demo.salesforce_standin import INSTANCE_URL, SalesforceStandIn
from bot.settings import Settings
from storage.crm_records import CrmActivity, CrmOwnerChange, CrmStageChange
from tests.crm.conftest import OBJECTS, T0, CountingSink, connect, day, seed, sync


def test_a_full_sync_hands_over_what_salesforce_holds(sf: SalesforceStandIn) -> None:
    org = seed(sf)
    sink = CountingSink()
    sync(connect(sf), sink)

    # Standard users only (the portal guest is not a rep); the manager hierarchy comes along.
    assert {o.name: (o.email, o.manager_crm_id) for o in sink.owners.values()} == {
        "Maria Lopez": ("maria@example.com", None),
        "Priya Shah": ("priya@example.com", org.maria),
        "Noah Berg": ("noah@example.com", org.maria),
        "Integration Bot": (None, None),
    }

    acme = sink.deals[org.acme]
    assert (acme.stage, acme.amount, acme.owner_crm_id) == ("Closed Won", 15000, org.noah)
    assert acme.created_at == day(0) and acme.closed_at == day(10)
    assert acme.url == f"{INSTANCE_URL}/lightning/r/Opportunity/{org.acme}/view"
    # The amount edit wrote a history row in the same stage: one stay, not two.
    assert sink.stages[org.acme] == [
        CrmStageChange(deal_crm_id=org.acme, stage="Prospecting", entered_at=day(0)),
        CrmStageChange(deal_crm_id=org.acme, stage="Qualification", entered_at=day(3)),
        CrmStageChange(deal_crm_id=org.acme, stage="Proposal/Price Quote", entered_at=day(6)),
        CrmStageChange(deal_crm_id=org.acme, stage="Closed Won", entered_at=day(10)),
    ]
    # Worked by Priya, closed by Noah: the owner history says so (an inherited deal).
    assert sink.owner_changes[org.acme] == [
        CrmOwnerChange(deal_crm_id=org.acme, owner_crm_id=org.priya, changed_at=day(0)),
        CrmOwnerChange(deal_crm_id=org.acme, owner_crm_id=org.noah, changed_at=day(8)),
    ]
    beta = sink.deals[org.beta]
    assert (beta.stage, beta.closed_at, beta.close_date) == (
        "Closed Lost",
        day(5),
        date(2026, 10, 31),
    )
    gamma = sink.deals[org.gamma]
    assert (gamma.stage, gamma.closed_at, gamma.amount) == ("Prospecting", None, 0)
    assert sink.owner_changes[org.gamma] == [
        CrmOwnerChange(deal_crm_id=org.gamma, owner_crm_id=org.priya, changed_at=day(2))
    ]

    # The open to-do and the invitee's copy of the meeting are not activities.
    assert sink.activities == {
        org.call: CrmActivity(
            crm_id=org.call,
            kind="call",
            owner_crm_id=org.priya,
            occurred_at=day(2),
            deal_crm_ids=(org.acme,),
            outcome="Connected",
            modified_at=day(2),
        ),
        org.email: CrmActivity(
            crm_id=org.email,
            kind="email",
            owner_crm_id=org.noah,
            occurred_at=day(3),
            deal_crm_ids=(org.beta,),
            modified_at=day(3),
        ),
        org.meeting: CrmActivity(
            crm_id=org.meeting,
            kind="meeting",
            owner_crm_id=org.priya,
            occurred_at=day(5),
            deal_crm_ids=(org.acme,),
            modified_at=day(2),
        ),
    }


def test_pages_follow_next_records_url_and_carry_their_cursor(sf: SalesforceStandIn) -> None:
    org = seed(sf)
    connector = connect(sf)
    pages = list(connector.pages("deals", None))
    # Three opportunities in pages of three: one page; users (four standard) take two.
    assert [len(page.deals) for page, _ in pages] == [3]
    owners = list(connector.pages("owners", None))
    assert [len(page.owners) for page, _ in owners] == [3, 1]
    assert owners[0][1] != owners[1][1]
    walks = [c for c in sf.calls if c.soql and "FROM User" in c.soql]
    # One query, its second page through nextRecordsUrl.
    assert [(c.kind, c.records) for c in walks] == [("query", 3), ("query_more", 1)]
    assert "ORDER BY SystemModstamp, Id" in walks[0].soql
    # The histories of a page's opportunities are read for those ids only, oldest first.
    history, *more = [c for c in sf.calls if c.soql and "FROM OpportunityHistory" in c.soql]
    assert history.kind == "query" and {c.kind for c in more} == {"query_more"}
    assert all(i in history.soql for i in (org.acme, org.beta, org.gamma))


def test_an_incremental_sync_fetches_only_changes_and_equals_a_full_one(
    sf: SalesforceStandIn,
) -> None:
    org = seed(sf)
    sink = CountingSink()
    sync(connect(sf), sink)

    sf.set_stage(org.gamma, "Qualification", at=day(20))
    sf.update_user(org.nomail, Email="bot@example.com", at=day(20))
    sf.delete("Opportunity", org.beta, at=day(21))
    sf.update_task(org.call, CallDisposition="Left voicemail", at=day(21))
    sf.delete("Task", org.email, at=day(21))
    new_call = sf.add_task(owner=org.noah, what=org.gamma, disposition="Connected", at=day(22))
    sf.clear_calls()
    before = dict(sink.writes)
    sync(connect(sf), sink)

    fetched = {rid for rid, n in sink.writes.items() if n != before.get(rid, 0)}
    assert fetched == {org.gamma, org.nomail, org.call, new_call}
    assert org.beta not in sink.deals and org.email not in sink.activities
    assert sink.activities[org.call].outcome == "Left voicemail"
    # The incremental walks asked Salesforce only for rows modified since the cursor.
    walks = [
        c
        for c in sf.calls
        if c.kind in ("query", "queryAll") and "ORDER BY SystemModstamp" in c.soql
    ]
    assert all("(SystemModstamp > 2026-09-" in c.soql for c in walks)
    assert sum(c.records for c in walks) == len(fetched) + 2  # and the two deleted rows

    full = CountingSink()
    sync(connect(sf), full)
    assert full.state() == sink.state()


def test_a_sync_killed_midway_resumes_and_loses_or_repeats_nothing(sf: SalesforceStandIn) -> None:
    seed(sf)
    for n in range(7):  # more opportunities, several pages of them
        sf.add_opportunity(
            f"Deal {n}", owner=sf.add_user(f"Rep {n}", f"rep{n}@example.com", at=T0), at=day(n)
        )
    sf.fail(
        "query_more",
        when=None,
        after=2,
        status=503,
        error_code="SERVER_UNAVAILABLE",
        message="Server temporarily unavailable",
    )
    sink = CountingSink()
    with pytest.raises(CrmError) as caught:
        sync(connect(sf), sink)
    assert caught.value.kind == "api"
    assert "HTTP 503" in caught.value.line and "\n" not in caught.value.line
    written = dict(sink.writes)
    assert written  # some pages made it before the failure

    sync(connect(sf), sink)
    full = CountingSink()
    sync(connect(sf), full)
    assert sink.state() == full.state()
    # Nothing written before the failure was fetched again.
    assert all(n == 1 for n in sink.writes.values())


def test_rows_sharing_a_second_survive_a_crash_between_them(sf: SalesforceStandIn) -> None:
    owner = sf.add_user("Priya Shah", "priya@example.com", at=T0)
    ids = [sf.add_opportunity(f"Bulk {n}", owner=owner, at=day(1)) for n in range(8)]
    sf.fail("query_more", after=1, status=500)  # pages of 3: dies after six
    sink = CountingSink()
    with pytest.raises(CrmError):
        sync(connect(sf), sink)
    assert len(sink.deals) == 6
    sync(connect(sf), sink)
    assert sorted(sink.deals) == sorted(ids)
    assert all(sink.writes[i] == 1 for i in ids)


def test_reopened_and_deleted_activities_leave(sf: SalesforceStandIn) -> None:
    org = seed(sf)
    sink = CountingSink()
    sync(connect(sf), sink)
    sf.update_task(org.call, Status="In Progress", IsClosed=False, at=day(30))
    sf.delete("Event", org.meeting, at=day(30))
    sync(connect(sf), sink)
    assert set(sink.activities) == {org.email}


# -- failures, one line each -----------------------------------------------------------------------


def failure(connector: SalesforceConnector, sink: CountingSink | None = None) -> CrmError:
    with pytest.raises(CrmError) as caught:
        sync(connector, sink or CountingSink())
    assert "\n" not in caught.value.line
    return caught.value


def test_an_expired_or_revoked_token(sf: SalesforceStandIn) -> None:
    seed(sf)
    sf.revoke()
    error = failure(connect(sf))
    assert error.kind == "auth"
    assert "INVALID_SESSION_ID" in error.line and "SALESFORCE_ACCESS_TOKEN" in error.line


def test_the_daily_request_limit(sf: SalesforceStandIn) -> None:
    seed(sf)
    sf.api_limit = 10
    error = failure(connect(sf, SALESFORCE_MAX_API_SHARE=1))
    assert error.kind == "rate_limit"
    assert "REQUEST_LIMIT_EXCEEDED" in error.line and "(10/10 requests today)" in error.line


def test_the_sync_stops_before_it_starves_the_orgs_other_integrations(
    sf: SalesforceStandIn,
) -> None:
    seed(sf)
    sf.api_limit = 20
    sink = CountingSink()
    error = failure(connect(sf, SALESFORCE_MAX_API_SHARE=0.5), sink)
    assert error.kind == "rate_limit" and "SALESFORCE_MAX_API_SHARE (0.5)" in error.line
    # It stops at the first page boundary past half the allowance, well before the org's limit.
    assert sf.api_used < sf.api_limit
    assert not [c for c in sf.calls if c.error_code == "REQUEST_LIMIT_EXCEEDED"]
    assert sink.cursors  # what was read is kept; the next sync resumes


def test_missing_object_permissions_are_named_together(sf: SalesforceStandIn) -> None:
    seed(sf)
    sf.deny("OpportunityFieldHistory")
    sf.hide("Task", "CallDisposition")
    error = failure(connect(sf))
    assert error.kind == "scope"
    assert "can't read Task, OpportunityFieldHistory" in error.line


def test_a_permission_lost_mid_sync(sf: SalesforceStandIn) -> None:
    seed(sf)
    connector = connect(sf)
    connector.check()
    sf.deny("Event")
    with pytest.raises(CrmError) as caught:
        list(connector.pages("activities", None))
    assert caught.value.kind == "scope" and "INVALID_TYPE" in caught.value.line


def test_an_api_error_mid_sync_keeps_the_pages_before_it(sf: SalesforceStandIn) -> None:
    seed(sf)
    sf.fail("queryAll", status=500, when=lambda q: q is not None and "FROM Task" in q)
    sink = CountingSink()
    error = failure(connect(sf), sink)
    assert error.kind == "api" and "UNKNOWN_EXCEPTION" in error.line
    assert sink.deals and not sink.activities and "activities" not in sink.cursors


def test_nobody_answering(sf: SalesforceStandIn) -> None:
    url = sf.url
    sf.stop()
    error = failure(connect(sf, SALESFORCE_BASE_URL=url))
    assert error.kind == "api" and "no answer from" in error.line


def test_a_wrong_api_version(sf: SalesforceStandIn) -> None:
    error = failure(connect(sf, SALESFORCE_API_VERSION="20.0"))
    assert error.kind == "config" and "SALESFORCE_API_VERSION" in error.line


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"SALESFORCE_ACCESS_TOKEN": None}, "SALESFORCE_ACCESS_TOKEN is not set"),
        (
            {"SALESFORCE_INSTANCE_URL": "acme.my.salesforce.com"},
            "SALESFORCE_INSTANCE_URL: 'acme.my.salesforce.com' is not an http(s) URL",
        ),
        ({"SALESFORCE_USERNAME": "ops@example.com"}, "not both"),
        (
            {
                "SALESFORCE_ACCESS_TOKEN": None,
                "SALESFORCE_INSTANCE_URL": None,
                "SALESFORCE_USERNAME": "ops@example.com",
            },
            "SALESFORCE_CONSUMER_KEY, SALESFORCE_PRIVATE_KEY_FILE: the JWT bearer flow needs all three",
        ),
        (
            {"SALESFORCE_PRIVATE_KEY_FILE": "/nonexistent/key.pem"},
            "SALESFORCE_PRIVATE_KEY_FILE: no such file",
        ),
    ],
)
def test_settings_fail_in_one_line(
    sf: SalesforceStandIn, settings: dict[str, str | None], words: str
) -> None:
    with pytest.raises(CrmError) as caught:
        connect(sf, **settings)
    assert caught.value.kind == "config"
    assert words in caught.value.line and "\n" not in caught.value.line


def test_nothing_configured_and_a_bad_value_in_the_settings() -> None:
    with pytest.raises(CrmError) as caught:
        connector_for("salesforce", Settings(_env_file=None))
    assert caught.value.line.startswith("Salesforce is not configured")
    settings = Settings(
        _env_file=None,
        SALESFORCE_INSTANCE_URL="https://acme.my.salesforce.com",
        SALESFORCE_ACCESS_TOKEN="00D!x",
        SALESFORCE_MAX_API_SHARE="1.5",
    )
    with pytest.raises(CrmError) as caught:
        connector_for("salesforce", settings)
    assert caught.value.line.startswith("SALESFORCE_MAX_API_SHARE: Input should be less than")
    assert "salesforce" not in configured_sources(settings)
    good = settings.model_copy(update={"salesforce_max_api_share": None})
    assert isinstance(connector_for("salesforce", good), SalesforceConnector)
    assert "salesforce" in configured_sources(good)


@pytest.mark.parametrize("objects", [OBJECTS])
def test_cursors_are_opaque_json_per_salesforce_object(sf: SalesforceStandIn, objects) -> None:
    seed(sf)
    sink = CountingSink()
    sync(connect(sf), sink)
    assert set(sink.cursors) == set(objects)
    assert '"Task"' in sink.cursors["activities"] and '"Event"' in sink.cursors["activities"]
    with pytest.raises(CrmError) as caught:
        list(connect(sf).pages("deals", "not json"))
    assert caught.value.kind == "config"


def test_coach_doctor_checks_the_salesforce_connection(
    sf: SalesforceStandIn, sqlite_engine: Engine
) -> None:
    seed(sf)
    settings = Settings(
        _env_file=None,
        COACH_WORKSPACE="acme",
        SALESFORCE_INSTANCE_URL=INSTANCE_URL,
        SALESFORCE_ACCESS_TOKEN=sf.token,
        SALESFORCE_BASE_URL=sf.url,
    )
    connection, last = crm_checks(settings, sqlite_engine)
    assert (connection.name, connection.ok) == ("salesforce", True)
    assert (last.ok, last.detail) == (False, "never synced")
    sf.deny("OpportunityFieldHistory")
    connection, _ = crm_checks(settings, sqlite_engine)
    assert not connection.ok and "can't read OpportunityFieldHistory" in connection.detail
    assert connection.fix is not None
