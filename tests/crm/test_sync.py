"""The sync, generic over connectors: order, cursors, failures kept from the counts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.crm.base import CrmError
from bot.crm.sync import CONNECTORS, configured_sources, connector_for, run_sync
from bot.settings import Settings
from storage.crm_records import CrmDeal, CrmObject, CrmOwner, CrmPage
from tests.crm.memory_sink import MemorySink

AT = datetime(2026, 10, 1, tzinfo=UTC)


class Scripted:
    """A connector that yields two pages per object and can fail at a given page."""

    source = "hubspot"

    def __init__(self, fail_at: tuple[str, int] | None = None, check: CrmError | None = None):
        self.fail_at, self.check_error = fail_at, check
        self.asked: list[tuple[str, str | None]] = []

    def check(self) -> None:
        if self.check_error is not None:
            raise self.check_error

    def pages(self, obj: CrmObject, cursor: str | None) -> Iterator[tuple[CrmPage, str | None]]:
        self.asked.append((obj, cursor))
        start = int(cursor or 0)
        for n in range(start, 2):
            if self.fail_at == (obj, n):
                raise CrmError("rate_limit", f"HubSpot: 429 on {obj} page {n}")
            page = CrmPage()
            if obj == "owners":
                page.owners.append(CrmOwner(crm_id=str(n), name=f"O{n}", modified_at=AT))
            elif obj == "deals":
                page.deals.append(
                    CrmDeal(
                        crm_id=str(n),
                        name="D",
                        owner_crm_id="0",
                        stage="s",
                        created_at=AT,
                        modified_at=AT,
                    )
                )
            yield page, str(n + 1)


def test_a_sync_walks_owners_deals_activities_then_applies_once() -> None:
    sink, applied = MemorySink(), []
    result = run_sync(Scripted(), sink, apply=lambda: applied.append(1))
    assert result.ok and applied == [1] and sink.runs == [("hubspot", None)]
    assert [k[1] for k in sink.cursors] == ["owners", "deals", "activities"]
    assert result.written == {"owners": 2, "deals": 2} and result.pages == 6
    assert result.line().startswith("hubspot: synced 2 deals, 2 owners in ")


def test_a_failed_sync_keeps_its_pages_applies_nothing_and_resumes_after_them() -> None:
    sink, applied = MemorySink(), []
    failing = Scripted(fail_at=("deals", 1))
    result = run_sync(failing, sink, apply=lambda: applied.append(1))
    assert not result.ok and applied == []
    assert sink.runs == [("hubspot", "HubSpot: 429 on deals page 1")]
    assert sink.cursor("hubspot", "deals") == "1" and list(sink.deals) == ["0"]
    assert result.line() == (
        "hubspot: sync failed: HubSpot: 429 on deals page 1 (1 deals, 2 owners fetched before it "
        "are kept)"
    )
    assert "\n" not in result.line()

    again = Scripted()
    assert run_sync(again, sink, apply=lambda: applied.append(1)).ok
    assert ("deals", "1") in again.asked and applied == [1] and sorted(sink.deals) == ["0", "1"]


def test_a_failed_check_walks_nothing() -> None:
    sink = MemorySink()
    result = run_sync(Scripted(check=CrmError("auth", "HubSpot refused the token")), sink)
    assert result.error is not None and result.error.kind == "auth"
    assert sink.writes == 0 and sink.runs == [("hubspot", "HubSpot refused the token")]
    assert result.line() == "hubspot: sync failed: HubSpot refused the token"


def test_connectors_come_from_the_settings_by_source_name() -> None:
    bare = Settings(_env_file=None)  # type: ignore[call-arg]
    assert "hubspot" in CONNECTORS and configured_sources(bare) == []
    with pytest.raises(CrmError, match="HUBSPOT_ACCESS_TOKEN is not set") as unset:
        connector_for("hubspot", bare)
    assert unset.value.kind == "config"
    with pytest.raises(CrmError, match="unknown CRM 'pipedrive'"):
        connector_for("pipedrive", bare)
    token = Settings(_env_file=None, HUBSPOT_ACCESS_TOKEN="pat-x")  # type: ignore[call-arg]
    assert configured_sources(token) == ["hubspot"]
    assert connector_for("hubspot", token).source == "hubspot"
