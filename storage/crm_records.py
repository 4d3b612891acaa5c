"""Normalised CRM records: what a connector (HubSpot, Salesforce) hands to storage.

Connectors (`bot/crm/`) translate each vendor's objects into these models and never touch the
database; storage (`storage/crm.py`) keeps them keyed by their CRM ids and derives the monthly
counts from them. A page of records and the cursor that follows it are written in one
transaction (`RecordSink.write_page`), so a sync killed midway resumes from its last page and
neither loses nor duplicates anything.

Raw values (stage ids, call outcomes) are kept as the CRM spells them: the mapping file decides
what they mean, so a changed definition recomputes without refetching.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

Source = Literal["hubspot", "salesforce"]
SOURCES: tuple[Source, ...] = ("hubspot", "salesforce")

# The objects a sync walks, each with its own cursor.
CrmObject = Literal["owners", "deals", "activities"]
ActivityKind = Literal["call", "meeting", "email", "task"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _aware(cls, value: object) -> object:
        # Every CRM timestamp is stored in UTC; a naive one would be read in the server's zone.
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError("timestamps must carry a time zone")
        return value


class CrmOwner(_Record):
    """A CRM user who can own deals (HubSpot owner, Salesforce User)."""

    crm_id: str
    email: str | None = Field(None, description="None: the owner cannot be mapped to a person.")
    name: str
    manager_crm_id: str | None = Field(None, description="Salesforce's User.ManagerId.")
    team: str | None = Field(None, description="HubSpot's primary team name.")
    active: bool = True
    modified_at: datetime


class CrmDeal(_Record):
    """A deal (HubSpot) or opportunity (Salesforce) as it stands now."""

    crm_id: str
    name: str
    owner_crm_id: str | None
    pipeline: str | None = Field(None, description="HubSpot pipeline id; None for Salesforce.")
    stage: str = Field(description="The stage id or API name exactly as the CRM has it.")
    amount: float | None = None
    currency: str | None = None
    created_at: datetime
    closed_at: datetime | None = Field(
        None, description="When the deal entered a closed stage (not its expected close date)."
    )
    close_date: date | None = Field(None, description="Expected close date (open deals).")
    url: str | None = Field(None, description="Link to the record in the CRM.")
    modified_at: datetime


class CrmStageChange(_Record):
    """The deal entered `stage` at `entered_at` (HubSpot property history, OpportunityHistory)."""

    deal_crm_id: str
    stage: str
    entered_at: datetime


class CrmOwnerChange(_Record):
    """The deal's owner became `owner_crm_id` at `changed_at` (for inherited deals)."""

    deal_crm_id: str
    owner_crm_id: str | None
    changed_at: datetime


class CrmActivity(_Record):
    """A logged call, meeting, email or task that feeds the funnel or the hygiene metrics."""

    crm_id: str
    kind: ActivityKind
    owner_crm_id: str | None
    occurred_at: datetime
    deal_crm_ids: tuple[str, ...] = ()
    outcome: str | None = Field(
        None, description="Raw call disposition / meeting outcome as the CRM has it."
    )
    modified_at: datetime


class CrmDeletion(_Record):
    """A record deleted (or merged away) in the CRM since the last sync."""

    object: CrmObject
    crm_id: str
    merged_into: str | None = None


class CrmPage(BaseModel):
    """One page of a sync: written with its cursor in one transaction."""

    model_config = ConfigDict(extra="forbid")

    owners: list[CrmOwner] = []
    deals: list[CrmDeal] = []
    # A deal's histories replace what storage held for it (the CRM returns them whole).
    stage_changes: list[CrmStageChange] = []
    owner_changes: list[CrmOwnerChange] = []
    activities: list[CrmActivity] = []
    deletions: list[CrmDeletion] = []


class RecordSink(Protocol):
    """Where a connector writes; implemented by `storage.crm.CrmStore`."""

    def cursor(self, source: Source, obj: CrmObject) -> str | None:
        """The opaque cursor a previous sync left for this object (None: sync from scratch)."""
        ...

    def write_page(self, source: Source, page: CrmPage, obj: CrmObject, cursor: str | None) -> None:
        """Upsert the page's records, apply its deletions and move `obj`'s cursor, atomically."""
        ...

    def problems(self, source: Source, lines: Sequence[str]) -> None:
        """Record records that don't map (one line each) for `coach sync` and `coach doctor`."""
        ...
