"""A RecordSink in memory, for connector tests: what a sync would have stored, keyed as storage
keys it, so a test can compare two syncs' results record for record."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from storage.crm_records import CrmObject, CrmPage, Source


@dataclass
class MemorySink:
    """Records by (kind, id); histories replaced per deal; every write counted."""

    owners: dict[str, Any] = field(default_factory=dict)
    deals: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, list[Any]] = field(default_factory=dict)
    owner_changes: dict[str, list[Any]] = field(default_factory=dict)
    activities: dict[str, Any] = field(default_factory=dict)
    merged: dict[str, str] = field(default_factory=dict)
    cursors: dict[tuple[str, str], str | None] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    writes: int = 0
    runs: list[tuple[str, str | None]] = field(default_factory=list)  # (source, error line)

    def cursor(self, source: Source, obj: CrmObject) -> str | None:
        return self.cursors.get((source, obj))

    def write_page(self, source: Source, page: CrmPage, obj: CrmObject, cursor: str | None) -> None:
        self.writes += 1
        for owner in page.owners:
            self.owners[owner.crm_id] = owner
        for deal in page.deals:
            self.deals[deal.crm_id] = deal
            self.stages[deal.crm_id] = []
            self.owner_changes[deal.crm_id] = []
        for change in page.stage_changes:
            self.stages[change.deal_crm_id].append(change)
        for change in page.owner_changes:
            self.owner_changes[change.deal_crm_id].append(change)
        for activity in page.activities:
            self.activities[activity.crm_id] = activity
        for gone in page.deletions:
            if gone.object == "deals":
                self.deals.pop(gone.crm_id, None)
                self.stages.pop(gone.crm_id, None)
                self.owner_changes.pop(gone.crm_id, None)
                if gone.merged_into:
                    self.merged[gone.crm_id] = gone.merged_into
            elif gone.object == "activities":
                self.activities.pop(gone.crm_id, None)
        self.cursors[(source, obj)] = cursor

    def problems(self, source: Source, lines: Sequence[str]) -> None:
        self.lines.extend(lines)

    @contextmanager
    def record_run(self, source: Source) -> Iterator[int]:
        try:
            yield len(self.runs) + 1
        except BaseException as exc:
            self.runs.append((source, getattr(exc, "line", None) or repr(exc)))
            raise
        self.runs.append((source, None))

    def state(self) -> dict[str, Any]:
        """Everything kept, comparable across syncs."""
        return {
            "owners": self.owners,
            "deals": self.deals,
            "stages": self.stages,
            "owner_changes": self.owner_changes,
            "activities": self.activities,
        }
