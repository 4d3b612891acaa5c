"""The HubSpot connector against the local HubSpot stand-in: records, paging, cursors, failures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.crm.base import CrmError
from bot.crm.hubspot import HubSpotConnector
from bot.demo.hubspot_standin import ALL_SCOPES, CALL_OUTCOMES, HubSpotStandIn
from storage.crm_records import CrmObject
from tests.crm.memory_sink import MemorySink

TOKEN = "pat-na1-test"
T0 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
OBJECTS: tuple[CrmObject, ...] = ("owners", "deals", "activities")


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def seed(hubspot: HubSpotStandIn) -> None:
    """Two reps and a rep without an email; deals through the default pipeline; activities."""
    hubspot.add_owner("11", "priya.shah@example.com", "Priya", "Shah", team="East")
    hubspot.add_owner("12", "tom.berg@example.com", "Tom", "Berg", team="West")
    hubspot.add_owner("13", None, "Queue", "")
    hubspot.add_owner("14", "gone@example.com", "Gone", "Person", archived=True)
    hubspot.add_deal(
        "101",
        "Acme renewal",
        owner="11",
        stages=[("appointmentscheduled", day(0)), ("qualifiedtobuy", day(3))],
        amount=12000,
    )
    hubspot.set_stage("101", "closedwon", day(10))
    hubspot.add_deal(
        "102",
        "Globex",
        owner="12",
        stages=[("appointmentscheduled", day(1)), ("contractsent", day(5))],
        amount=5000,
        owners=[("11", day(1)), ("12", day(4))],
    )
    hubspot.add_deal("103", "Initech", owner="12", stages=[("qualifiedtobuy", day(2))])
    hubspot.set_stage("103", "closedlost", day(12))
    for n in range(4, 10):
        hubspot.add_deal(
            str(100 + n), f"Deal {n}", owner="11", stages=[("appointmentscheduled", day(n))]
        )
    hubspot.add_activity(
        "call", "9001", owner="11", at=day(0.5), deals=["101"], outcome=CALL_OUTCOMES["connected"]
    )
    hubspot.add_activity("call", "9002", owner="12", at=day(1.5), deals=[])
    hubspot.add_activity(
        "meeting", "9003", owner="11", at=day(2), deals=["101", "102"], outcome="COMPLETED"
    )
    hubspot.add_activity("email", "9004", owner="12", at=day(3), deals=["102"])


@pytest.fixture
def hubspot() -> Iterator[HubSpotStandIn]:
    with HubSpotStandIn(token=TOKEN) as standin:
        seed(standin)
        yield standin


def connector(hubspot: HubSpotStandIn, **kwargs: object) -> tuple[HubSpotConnector, list[float]]:
    slept: list[float] = []
    made = HubSpotConnector(
        TOKEN,
        hubspot.base,
        sleep=slept.append,
        now=lambda: NOW,
        **kwargs,  # type: ignore[arg-type]
    )
    return made, slept


def sync(made: HubSpotConnector, sink: MemorySink) -> None:
    for obj in OBJECTS:
        for page, cursor in made.pages(obj, sink.cursor("hubspot", obj)):
            sink.write_page("hubspot", page, obj, cursor)


def test_a_full_walk_brings_every_record_in_its_normalised_form(hubspot: HubSpotStandIn) -> None:
    made, _ = connector(hubspot)
    made.check()
    sink = MemorySink()
    sync(made, sink)

    assert sorted(sink.owners) == ["11", "12", "13", "14"]
    assert sink.owners["11"].email == "priya.shah@example.com"
    assert sink.owners["11"].name == "Priya Shah" and sink.owners["11"].team == "East"
    assert sink.owners["13"].email is None and sink.owners["14"].active is False
    assert sorted(sink.deals) == [str(n) for n in range(101, 110)]
    won = sink.deals["101"]
    assert (won.stage, won.amount, won.closed_at) == ("closedwon", 12000.0, day(10))
    assert won.url == "https://app.hubspot.com/contacts/4242424/record/0-3/101"
    assert won.created_at == day(0) and won.pipeline == "default"
    assert [(c.stage, c.entered_at) for c in sink.stages["101"]] == [
        ("appointmentscheduled", day(0)),
        ("qualifiedtobuy", day(3)),
        ("closedwon", day(10)),
    ]
    assert [(c.owner_crm_id, c.changed_at) for c in sink.owner_changes["102"]] == [
        ("11", day(1)),
        ("12", day(4)),
    ]
    assert sink.deals["102"].closed_at is None
    assert sink.deals["103"].closed_at == day(12)
    call = sink.activities["9001"]
    assert (call.kind, call.owner_crm_id, call.occurred_at) == ("call", "11", day(0.5))
    assert call.outcome == CALL_OUTCOMES["connected"] and call.deal_crm_ids == ("101",)
    assert sink.activities["9002"].deal_crm_ids == ()
    assert sink.activities["9003"].deal_crm_ids == ("101", "102")
    assert sink.activities["9003"].outcome == "COMPLETED"
    assert sink.activities["9004"].kind == "email" and sink.activities["9004"].outcome is None
    # Property histories are read 50 deals at a time at most (HubSpot's limit).
    assert all(len(c.body["inputs"]) <= 50 for c in hubspot.calls_to("deals.batch_read"))


def test_paging_past_the_search_cap_starts_a_new_search_and_loses_nothing(
    hubspot: HubSpotStandIn,
) -> None:
    hubspot.search_cap = 4  # as HubSpot's 10,000, smaller
    made, _ = connector(hubspot, page_size=2, search_cap=4)
    sink = MemorySink()
    sync(made, sink)

    assert sorted(sink.deals) == [str(n) for n in range(101, 110)]
    read = [i["id"] for c in hubspot.calls_to("deals.batch_read") for i in c.body["inputs"]]
    assert sorted(read) == sorted(sink.deals)  # each deal read once
    searches = hubspot.calls_to("deals.search")
    assert all(int(c.body.get("after", 0)) < 4 for c in searches)
    assert all(c.status == 200 for c in searches)
    restarts = [c for c in searches if "after" not in c.body]
    assert len(restarts) >= 3
    assert any(f["operator"] == "GTE" for f in restarts[1].body["filterGroups"][0]["filters"])


def test_an_incremental_walk_fetches_only_what_changed_and_ends_as_a_full_one(
    hubspot: HubSpotStandIn,
) -> None:
    made, _ = connector(hubspot)
    sink = MemorySink()
    sync(made, sink)
    before = len(hubspot.calls)

    hubspot.set_stage("104", "qualifiedtobuy", day(30))
    hubspot.set_owner("105", "12", day(30))
    hubspot.add_activity("call", "9005", owner="11", at=day(30), deals=["104"])
    hubspot.archive("deals", "106", day(31))
    hubspot.archive("emails", "9004", day(31))
    hubspot.merge("108", "107", day(32))
    sync(made, sink)

    later = hubspot.calls[before:]
    read = [i["id"] for c in later if c.name == "deals.batch_read" for i in c.body["inputs"]]
    assert sorted(read) == ["104", "105", "107"]
    associated = [
        i["id"] for c in later if c.name.endswith(".associations") for i in c.body["inputs"]
    ]
    assert associated == ["9005"]

    fresh = MemorySink()
    sync(connector(hubspot)[0], fresh)
    assert sink.state() == fresh.state()
    assert "106" not in sink.deals and "108" not in sink.deals and "9004" not in sink.activities
    assert sink.merged == {"108": "107"}


def test_records_changed_at_the_same_millisecond_are_each_taken_once(
    hubspot: HubSpotStandIn,
) -> None:
    for deal in ("104", "105"):
        hubspot.set_stage(deal, "qualifiedtobuy", day(40))
    made, _ = connector(hubspot, page_size=1, search_cap=3)
    hubspot.search_cap = 3
    sink = MemorySink()
    sync(made, sink)
    read = [i["id"] for c in hubspot.calls_to("deals.batch_read") for i in c.body["inputs"]]
    assert sorted(read) == sorted(sink.deals) and len(sink.deals) == 9

    # More ties than one search can page through: said plainly, not looped on.
    hubspot.set_stage("106", "qualifiedtobuy", day(40))
    hubspot.search_cap = 2
    with pytest.raises(CrmError, match="more than 2 deals share one modification time"):
        sync(connector(hubspot, page_size=1, search_cap=2)[0], MemorySink())


def test_a_walk_resumed_from_any_page_s_cursor_ends_where_a_whole_walk_does(
    hubspot: HubSpotStandIn,
) -> None:
    made, _ = connector(hubspot, page_size=2)
    whole = MemorySink()
    sync(made, whole)
    cursors = [c for _, c in made.pages("deals", None)]
    for cursor in cursors:
        partial = MemorySink()
        partial.cursors[("hubspot", "deals")] = cursor
        # What the pages before the cursor wrote, then the rest of the walk from the cursor.
        for page, after in made.pages("deals", None):
            partial.write_page("hubspot", page, "deals", after)
            if after == cursor:
                break
        for page, after in made.pages("deals", cursor):
            partial.write_page("hubspot", page, "deals", after)
        assert partial.deals == whole.deals and partial.stages == whole.stages


def test_changes_of_the_last_minute_wait_for_the_next_sync(hubspot: HubSpotStandIn) -> None:
    hubspot.set_stage("104", "qualifiedtobuy", NOW - timedelta(seconds=20))
    made, _ = connector(hubspot)
    sink = MemorySink()
    sync(made, sink)
    assert "104" not in sink.deals
    later, _ = connector(hubspot)
    later.now = lambda: NOW + timedelta(minutes=5)  # type: ignore[method-assign]
    sync(later, sink)
    assert sink.deals["104"].stage == "qualifiedtobuy"


def test_a_revoked_token_is_one_line_naming_the_setting(hubspot: HubSpotStandIn) -> None:
    hubspot.revoke()
    with pytest.raises(CrmError) as failed:
        connector(hubspot)[0].check()
    assert failed.value.kind == "auth"
    assert "401" in failed.value.line and "HUBSPOT_ACCESS_TOKEN" in failed.value.line
    assert "\n" not in failed.value.line


def test_check_names_every_missing_scope_at_once() -> None:
    granted = [s for s in ALL_SCOPES if s not in ("crm.objects.deals.read", "sales-email-read")]
    with HubSpotStandIn(token=TOKEN, scopes=granted) as hubspot:
        with pytest.raises(CrmError) as failed:
            connector(hubspot)[0].check()
        assert [c.status for c in hubspot.calls] == [200, 403, 200, 200, 403]
    assert failed.value.kind == "scope"
    assert "crm.objects.deals.read, sales-email-read" in failed.value.line


@pytest.mark.parametrize(
    ("policy", "retry_after", "waited"),
    [("SECONDLY", None, [1.0]), ("TEN_SECONDLY_ROLLING", None, [10.0]), ("SECONDLY", 3, [3.0])],
)
def test_a_429_is_waited_out_as_hubspot_asks(
    hubspot: HubSpotStandIn, policy: str, retry_after: int | None, waited: list[float]
) -> None:
    hubspot.rate_limit("deals.search", policy=policy, retry_after=retry_after)
    made, slept = connector(hubspot)
    sink = MemorySink()
    sync(made, sink)
    assert slept == waited and len(sink.deals) == 9
    assert [c.status for c in hubspot.calls_to("deals.search")][:2] == [429, 200]


def test_the_daily_limit_and_endless_429s_end_the_sync_in_one_line(
    hubspot: HubSpotStandIn,
) -> None:
    hubspot.rate_limit("deals.search", policy="DAILY")
    with pytest.raises(CrmError) as daily:
        list(connector(hubspot)[0].pages("deals", None))
    assert (
        daily.value.kind == "rate_limit" and "daily API limit (1000000 calls)" in daily.value.line
    )

    hubspot.rate_limit("deals.search", policy="SECONDLY", times=None)
    made, slept = connector(hubspot)
    with pytest.raises(CrmError) as endless:
        list(made.pages("deals", None))
    assert endless.value.kind == "rate_limit" and "after 5 waits" in endless.value.line
    assert len(slept) == 5


def test_server_errors_are_retried_twice_then_reported(hubspot: HubSpotStandIn) -> None:
    hubspot.fail("deals.batch_read", status=502, times=2)
    made, slept = connector(hubspot)
    assert len(list(made.pages("deals", None))) > 0 and slept == [0.5, 1.0]

    hubspot.fail("deals.batch_read", status=500, times=None, message="Internal\nerror")
    with pytest.raises(CrmError) as failed:
        list(connector(hubspot)[0].pages("deals", None))
    assert failed.value.kind == "api"
    assert failed.value.line == "HubSpot answered 500 INTERNAL_ERROR to read deals: Internal error"


def test_an_unreachable_hubspot_is_one_line() -> None:
    with HubSpotStandIn(token=TOKEN) as hubspot:
        base = hubspot.base
    made = HubSpotConnector(TOKEN, base, sleep=lambda s: None)
    with pytest.raises(CrmError) as failed:
        made.check()
    assert failed.value.kind == "api" and failed.value.line.startswith(
        f"HubSpot: cannot reach {base} (read owners)"
    )


def test_the_stand_in_holds_to_hubspot_s_limits(hubspot: HubSpotStandIn) -> None:
    made, _ = connector(hubspot)
    batch = made._apis["deals"][1]
    too_many = {
        "inputs": [{"id": str(i)} for i in range(51)],
        "propertiesWithHistory": ["dealstage"],
    }
    with pytest.raises(CrmError, match="property histories is 50"):
        made._call("read", lambda: batch.read(too_many, _preload_content=False))
    search = made._apis["deals"][0]
    with pytest.raises(CrmError, match="limit must be between 1 and 200"):
        made._call("search", lambda: search.do_search({"limit": 201}, _preload_content=False))
    with pytest.raises(CrmError, match="limited to 10,000"):
        made._call(
            "search",
            lambda: search.do_search({"limit": 10, "after": "10000"}, _preload_content=False),
        )


def test_the_stand_in_s_answers_are_what_the_official_client_s_models_read(
    hubspot: HubSpotStandIn,
) -> None:
    from hubspot import Client

    crm = Client.create(access_token=TOKEN, host=hubspot.base).crm
    owners = crm.owners.owners_api.get_page(limit=2)
    assert [o.email for o in owners.results] == ["priya.shah@example.com", "tom.berg@example.com"]
    assert owners.results[0].teams[0].name == "East" and owners.paging.next.after == "2"
    found = crm.deals.search_api.do_search(
        {
            "filterGroups": [
                {"filters": [{"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"}]}
            ],
            "properties": ["dealname"],
            "limit": 5,
        }
    )
    assert found.total == 1 and found.results[0].properties["dealname"] == "Acme renewal"
    read = crm.deals.batch_api.read(
        {"inputs": [{"id": "101"}], "propertiesWithHistory": ["dealstage"], "properties": []}
    )
    history = read.results[0].properties_with_history["dealstage"]
    assert [v.value for v in history] == ["closedwon", "qualifiedtobuy", "appointmentscheduled"]
    assert history[0].timestamp == day(10)
    links = crm.associations.v4.batch_api.get_page(
        "meetings", "deals", {"inputs": [{"id": "9003"}]}
    )
    assert [t.to_object_id for t in links.results[0].to] == ["101", "102"]
    archived = crm.objects.calls.basic_api.get_page(archived=True)
    assert archived.results == []
