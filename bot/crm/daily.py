"""The daily CRM sync: at COACH_SYNC_TIME in COACH_TIMEZONE, one replica syncs each CRM.

Ticked by the same scheduler as the cadence (`bot.cadence.scheduler`). Who syncs is decided by
the cadence's exactly-once claims (`storage.deliveries`), on a key per CRM and local day: the
first replica to claim it syncs, the others see it busy or done. The claim is renewed while the
sync writes pages; a replica that dies mid-sync stops renewing it, and after COACH_CLAIM_TIMEOUT
the next tick anywhere takes it over and resumes from the cursors the dead one left. A sync
that failed is tried again at the next tick, unless retrying cannot help the same day (a token
refused, scopes missing, settings wrong): `coach doctor` says so meanwhile.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from bot.crm.sync import SyncResult, configured_sources, sync_source
from bot.settings import ConfigError, Settings
from storage.csv_common import ensure_workspace
from storage.deliveries import claim, mark_done, mark_failed, renew

log = logging.getLogger(__name__)

KIND = "crm_sync"
# Failures a retry the same day cannot mend.
FINAL_FOR_THE_DAY = ("auth", "scope", "config")
# How often a running sync renews its claim (well inside the shortest claim timeout).
RENEW_SECONDS = 30.0


def sync_key(source: str, day: str) -> str:
    """The claim key of one CRM's daily sync."""
    return f"crm-sync:{source}:{day}"


class DailySync:
    """Ticks like a cadence (`Ticking`); syncs each configured CRM once a local day."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings, self.engine = settings, engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        # Unique per process and run: a claim is only ever finished by its owner.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._warned = False

    def due(self, now: datetime) -> str | None:
        """The local day whose sync is due at `now` (None: not yet today, or never set)."""
        if self.settings.coach_sync_time is None:
            return None
        local = now.astimezone(ZoneInfo(self.settings.coach_timezone))
        at = datetime.strptime(self.settings.coach_sync_time, "%H:%M").time()
        return local.date().isoformat() if local.time() >= at else None

    def tick(self, now: datetime | None = None) -> list[SyncResult]:
        """Sync what is due and not claimed yet; failures are logged, never raised."""
        now = now or datetime.now(UTC)
        day = self.due(now)
        if day is None:
            return []
        sources = configured_sources(self.settings)
        if not sources:
            return []
        try:
            workspace = self.settings.workspace()
        except ConfigError as exc:
            if not self._warned:  # once per process, not every tick
                log.warning("crm sync: %s", exc)
                self._warned = True
            return []
        results = []
        for source in sources:
            try:
                result = self._sync(workspace, source, day, now)
            except Exception:  # a tick must never kill the scheduler thread
                log.exception("crm sync of %s failed", source)
                continue
            if result is not None:
                results.append(result)
        return results

    def _sync(self, workspace: str, source: str, day: str, now: datetime) -> SyncResult | None:
        stale = timedelta(seconds=self.settings.coach_claim_timeout)
        with self.sessions() as session:
            ensure_workspace(session, workspace)
            session.commit()
            got = claim(
                session,
                workspace_id=workspace,
                key=sync_key(source, day),
                kind=KIND,
                period=day,
                owner=self.owner,
                now=now,
                stale_after=stale,
            )
        if got.state != "mine":
            return None
        if got.stale:
            log.info("crm sync: resuming %s's sync of %s left by a stopped process", source, day)
        last = [time.monotonic()]

        def keep_claim() -> None:
            if time.monotonic() - last[0] >= RENEW_SECONDS:
                last[0] = time.monotonic()
                with self.sessions() as session:
                    renew(session, got.delivery_id, self.owner, datetime.now(UTC))

        result = sync_source(self.settings, self.engine, workspace, source, on_page=keep_claim)
        with self.sessions() as session:
            if result.error is None:
                mark_done(session, got.delivery_id, self.owner, datetime.now(UTC))
            else:
                final = result.error.kind in FINAL_FOR_THE_DAY
                mark_failed(session, got.delivery_id, self.owner, result.error.line, skip=final)
        (log.info if result.ok else log.warning)("%s", result.line())
        return result
