"""A CRM sync: check the connection, walk each object from its cursor, write page by page, then
derive the monthly counts once everything arrived.

Generic over `bot.crm.base.Connector`: a CRM joins by adding its factory to `CONNECTORS`. Each
page is written with the cursor that follows it, so a sync killed midway resumes after its last
written page, losing and duplicating nothing. The counts people see are derived only after a
sync that finished (`storage.crm.apply_crm`): a failed sync leaves the last good ones in place,
and is recorded with its one-line reason for `coach doctor`.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Protocol

from bot.crm.base import Connector, CrmError
from bot.logs import fields
from storage.crm_records import CrmObject, CrmPage, RecordSink, Source

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bot.coaching.crm import SyncApplied
    from bot.settings import Settings

log = logging.getLogger(__name__)

# In this order: deals name owners, activities name deals.
OBJECTS: tuple[CrmObject, ...] = ("owners", "deals", "activities")


def _hubspot(settings: Settings) -> Connector:
    from bot.crm.hubspot import HubSpotConnector

    if not settings.hubspot_access_token:
        raise CrmError(
            "config",
            "HUBSPOT_ACCESS_TOKEN is not set: create a HubSpot private app (README, HubSpot "
            "set-up) and copy its access token",
        )
    return HubSpotConnector(settings.hubspot_access_token, settings.hubspot_base_url)


def _salesforce(settings: Settings) -> Connector:
    from bot.crm.salesforce import SalesforceConnector

    return SalesforceConnector.from_settings(settings)


# Source name → the connector configured from the settings (raises CrmError "config").
CONNECTORS: dict[str, Callable[[Settings], Connector]] = {
    "hubspot": _hubspot,
    "salesforce": _salesforce,
}


def connector_for(source: str, settings: Settings) -> Connector:
    """The configured connector of `source`; CrmError("config") for an unknown or unset one."""
    factory = CONNECTORS.get(source)
    if factory is None:
        raise CrmError("config", f"unknown CRM {source!r}: choose {', '.join(sorted(CONNECTORS))}")
    return factory(settings)


def configured_sources(settings: Settings) -> list[str]:
    """The CRMs whose settings are there (what the daily sync and `coach doctor` look at)."""
    found = []
    for source, factory in CONNECTORS.items():
        try:
            factory(settings)
        except CrmError:
            continue
        found.append(source)
    return found


class SyncStore(RecordSink, Protocol):
    """Where a sync writes (`storage.crm.CrmStore`): the records, and the run itself."""

    def record_run(self, source: Source) -> AbstractContextManager[int]:
        """Record a run: ok when the block ends, failed with the exception's line if it raises."""
        ...


@dataclass
class SyncResult:
    """What one sync did: records written per object, and either how the counts changed or the
    one line saying why it failed."""

    source: str
    written: Counter[str] = field(default_factory=Counter)
    pages: int = 0
    error: CrmError | None = None
    applied: SyncApplied | None = None
    seconds: float = 0.0
    # Where the time went: fetching (the CRM and the connector), storing pages, deriving.
    timings: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return self.error is None

    def line(self) -> str:
        """One line for people and logs."""
        records = ", ".join(f"{n:,} {what}" for what, n in sorted(self.written.items()))
        if self.error is not None:
            text = f"{self.source}: sync failed: {self.error.line}"
            return text + (f" ({records} fetched before it are kept)" if records else "")
        text = f"{self.source}: synced {records or 'nothing new'} in {self.seconds:.1f} s"
        if self.applied is not None:
            text += "; " + self.applied.result.summary().removeprefix(f"{self.source}: ")
            if self.applied.judged:
                text += f"; judged {self.applied.judged:,} plan focus metrics"
        return text


def _count(page: CrmPage, written: Counter[str]) -> None:
    for name in ("owners", "deals", "stage_changes", "activities", "deletions"):
        n = len(getattr(page, name))
        if n:
            written[name.replace("_", " ")] += n


def walk(
    connector: Connector,
    sink: RecordSink,
    result: SyncResult,
    *,
    objects: tuple[CrmObject, ...] = OBJECTS,
    on_page: Callable[[], None] | None = None,
) -> None:
    """Write every page of `objects` from their cursors, each with the cursor after it."""
    source = connector.source
    for obj in objects:
        pages: Iterator[tuple[CrmPage, str | None]] = connector.pages(obj, sink.cursor(source, obj))
        fetching = time.perf_counter()
        for page, cursor in pages:
            storing = time.perf_counter()
            result.timings["fetch"] += storing - fetching
            sink.write_page(source, page, obj, cursor)
            fetching = time.perf_counter()
            result.timings["store"] += fetching - storing
            result.pages += 1
            _count(page, result.written)
            if on_page is not None:
                on_page()


def run_sync(
    connector: Connector,
    store: SyncStore,
    *,
    apply: Callable[[], SyncApplied] | None = None,
    on_page: Callable[[], None] | None = None,
) -> SyncResult:
    """Check, walk every object, then `apply`: derive the counts and judge the plans they
    reach, inside the run (the records that don't map are its problem lines). CrmErrors end
    the sync with a failed result; the run is recorded either way. Other exceptions (a bug,
    the database gone) are recorded and raised."""
    source = connector.source
    result = SyncResult(source)
    start = time.perf_counter()
    try:
        with store.record_run(source):
            connector.check()
            walk(connector, store, result, on_page=on_page)
            if apply is not None:
                deriving = time.perf_counter()
                result.applied = apply()
                result.timings["derive"] += time.perf_counter() - deriving
    except CrmError as exc:
        result.error = exc
    finally:
        result.seconds = time.perf_counter() - start
    log.info(
        "crm sync",
        extra=fields(
            source=source,
            ok=result.ok,
            failure=None if result.error is None else result.error.kind,
            pages=result.pages,
            seconds=round(result.seconds, 2),
            **{f"{k}_seconds": round(v, 2) for k, v in result.timings.items()},
            **{k.replace(" ", "_"): v for k, v in result.written.items()},
        ),
    )
    return result


def sync_source(
    settings: Settings,
    engine: Engine,
    workspace_id: str,
    source: str,
    *,
    connector: Connector | None = None,
    full: bool = False,
    switch: bool = False,
    today: date | None = None,
    on_page: Callable[[], None] | None = None,
) -> SyncResult:
    """Sync `source` into the workspace's CRM records (`storage.crm.CrmStore`), then derive the
    counts and judge as an import does (`bot.coaching.crm.after_sync`; the data version it
    bumps reloads warm gap engines); `full` forgets the cursors first, so everything is fetched
    again. Settings that don't work (no token, a broken mapping file) fail the sync before a
    run is recorded: the mapping is read first, not after minutes of fetching.

    A workspace takes its counts from one CRM: a sync of another is refused (a config error)
    unless `switch`, which moves the workspace to `source` from its first record's month on —
    two CRMs deriving the same months would each wipe the reps only the other one holds."""
    from analytics.crm_mapping import CrmMappingError
    from bot.coaching.crm import after_sync, crm_mapping
    from storage.crm import CrmStore, current_crm, reset_cursors
    from storage.db import session_scope

    try:
        connector = connector or connector_for(source, settings)
        crm_mapping(settings)
    except CrmMappingError as exc:
        return SyncResult(source, error=CrmError("config", str(exc)))
    except CrmError as exc:
        return SyncResult(source, error=exc)
    with session_scope(engine) as session:
        current = current_crm(session, workspace_id)
    if current is not None and current[0] != source and not switch:
        other, first, last = current
        line = (
            f"this workspace's counts come from {other} ({first} to {last}): one CRM at a "
            f"time; `coach sync {source} --switch` moves it to {source} from the month of "
            f"{source}'s first record on"
        )
        return SyncResult(source, error=CrmError("config", line))
    if full:
        with session_scope(engine) as session:
            reset_cursors(session, workspace_id, source)
    store = CrmStore(engine, workspace_id)
    return run_sync(
        connector,
        store,
        apply=lambda: after_sync(engine, settings, workspace_id, source, today),
        on_page=on_page,
    )
