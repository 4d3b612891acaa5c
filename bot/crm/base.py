"""What every CRM connector offers the sync (`bot/crm/sync.py`), and how it fails.

A connector walks one object at a time from a cursor and yields pages; the sync writes each page
with the cursor that follows it (`RecordSink.write_page`), so an interrupted sync resumes after
its last written page. Connectors never touch the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, Protocol

from storage.crm_records import CrmObject, CrmPage, Source

# What went wrong, for one line in `coach sync` and `coach doctor`.
FailureKind = Literal["auth", "scope", "rate_limit", "api", "config"]


class CrmError(Exception):
    """A sync cannot go on; `line` is the one-line message shown to the operator."""

    def __init__(self, kind: FailureKind, line: str) -> None:
        super().__init__(line)
        self.kind = kind
        self.line = line


class Connector(Protocol):
    """One CRM account, configured from settings."""

    source: Source

    def check(self) -> None:
        """Raise `CrmError` unless the token works and has the scopes a sync needs."""
        ...

    def pages(self, obj: CrmObject, cursor: str | None) -> Iterator[tuple[CrmPage, str | None]]:
        """Yield (page, cursor after it) for records of `obj` changed since `cursor`.

        `cursor` None walks everything. The cursor after the last page is what the next
        incremental sync starts from; raises `CrmError` on failures it cannot ride out.
        """
        ...
