"""Salesforce stand-in, a seeded org, and a record sink kept in memory (storage is not needed to
test what the connector hands over)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bot.crm.salesforce import SalesforceConfig, SalesforceConnector
from bot.demo.salesforce_standin import INSTANCE_URL, SalesforceStandIn
from storage.crm_records import CrmObject, CrmPage, Source

T0 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
OBJECTS: tuple[CrmObject, ...] = ("owners", "deals", "activities")


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


@dataclass
class CountingSink:
    """A RecordSink in dicts: upserts by CRM id, histories replaced per deal, deletions applied.
    `writes` counts how often each record was written, to see what a sync fetched again."""

    cursors: dict[str, str | None] = field(default_factory=dict)
    owners: dict[str, Any] = field(default_factory=dict)
    deals: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, list[Any]] = field(default_factory=dict)
    owner_changes: dict[str, list[Any]] = field(default_factory=dict)
    activities: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    writes: dict[str, int] = field(default_factory=dict)

    def cursor(self, source: Source, obj: CrmObject) -> str | None:
        return self.cursors.get(obj)

    def write_page(self, source: Source, page: CrmPage, obj: CrmObject, cursor: str | None) -> None:
        for owner in page.owners:
            self.owners[owner.crm_id] = owner
        for deal in page.deals:
            self.deals[deal.crm_id] = deal
            self.stages[deal.crm_id] = []
            self.owner_changes[deal.crm_id] = []
        for change in page.stage_changes:
            self.stages[change.deal_crm_id].append(change)
        for move in page.owner_changes:
            self.owner_changes[move.deal_crm_id].append(move)
        for activity in page.activities:
            self.activities[activity.crm_id] = activity
        for gone in page.deletions:
            table = {"owners": self.owners, "deals": self.deals, "activities": self.activities}
            table[gone.object].pop(gone.crm_id, None)
            if gone.object == "deals":
                self.stages.pop(gone.crm_id, None)
                self.owner_changes.pop(gone.crm_id, None)
        for record in [*page.owners, *page.deals, *page.activities]:
            self.writes[record.crm_id] = self.writes.get(record.crm_id, 0) + 1
        self.cursors[obj] = cursor

    def problems(self, source: Source, lines: Sequence[str]) -> None:
        self.lines.extend(lines)

    def state(self) -> dict[str, Any]:
        """Everything kept, comparable between two sinks."""
        return {
            "owners": self.owners,
            "deals": self.deals,
            "stages": self.stages,
            "owner_changes": self.owner_changes,
            "activities": self.activities,
        }


def sync(connector: SalesforceConnector, sink: CountingSink) -> None:
    """What the sync does, reduced: check, then each object's pages from its cursor."""
    connector.check()
    for obj in OBJECTS:
        for page, cursor in connector.pages(obj, sink.cursor("salesforce", obj)):
            sink.write_page("salesforce", page, obj, cursor)


@pytest.fixture
def sf() -> Iterator[SalesforceStandIn]:
    with SalesforceStandIn(page_size=3) as standin:
        yield standin


def connect(sf: SalesforceStandIn, **settings: Any) -> SalesforceConnector:
    """A connector on the stand-in with an access token (or what `settings` say instead)."""
    values: dict[str, Any] = {
        "SALESFORCE_INSTANCE_URL": INSTANCE_URL,
        "SALESFORCE_ACCESS_TOKEN": sf.token,
    }
    if "SALESFORCE_BASE_URL" not in settings:
        values["SALESFORCE_BASE_URL"] = sf.url
    values.update(settings)
    return SalesforceConnector(SalesforceConfig.load(**values))


@dataclass
class Org:
    """Ids of the seeded org's records."""

    maria: str
    priya: str
    noah: str
    nomail: str
    acme: str
    beta: str
    gamma: str
    call: str
    email: str
    todo: str
    meeting: str
    copy: str


def seed(sf: SalesforceStandIn) -> Org:
    """A manager and two reps (one user without an email), three opportunities and activities."""
    maria = sf.add_user("Maria Lopez", "maria@example.com", at=T0)
    priya = sf.add_user("Priya Shah", "priya@example.com", manager=maria, at=T0)
    noah = sf.add_user("Noah Berg", "noah@example.com", manager=maria, at=T0)
    nomail = sf.add_user("Integration Bot", None, at=T0)
    sf.add_user("Portal Guest", "guest@example.com", user_type="Guest", at=T0)
    acme = sf.add_opportunity("Acme expansion", owner=priya, amount=12000, at=day(0))
    sf.set_stage(acme, "Qualification", at=day(3))
    sf.update_opportunity(acme, Amount=15000, at=day(4))  # a history row, not a stage change
    sf.set_stage(acme, "Proposal/Price Quote", at=day(6))  # skips stages
    sf.set_owner(acme, noah, at=day(8))
    sf.set_stage(acme, "Closed Won", at=day(10))
    beta = sf.add_opportunity(
        "Beta pilot", owner=noah, amount=5000, close_date=date(2026, 10, 31), at=day(1)
    )
    sf.set_stage(beta, "Closed Lost", at=day(5))
    gamma = sf.add_opportunity("Gamma", owner=priya, amount=0, at=day(2))
    call = sf.add_task(owner=priya, what=acme, disposition="Connected", at=day(2))
    email = sf.add_task(owner=noah, subtype="Email", what=beta, at=day(3))
    todo = sf.add_task(owner=noah, subtype="Task", status="Not Started", at=day(3))
    meeting = sf.add_event(owner=priya, what=acme, start=day(5), at=day(2))
    copy = sf.add_event(owner=noah, what=acme, start=day(5), child=True, at=day(2))
    return Org(maria, priya, noah, nomail, acme, beta, gamma, call, email, todo, meeting, copy)
