"""What listeners need beyond the request: the database, the catalogue, warm gap engines."""

from __future__ import annotations

import ctypes
import gc
import logging
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from analytics.catalogue import Catalogue, load_catalogue
from analytics.gaps import GapEngine, GapError
from analytics.models import GapReport
from bot.coaching.archive import flagged_now, lesson_records, lessons_from
from bot.coaching.gaps import load_gap_engine
from bot.settings import Settings
from storage.directory import Directory, load_directory
from storage.org import data_version
from storage.outcomes import MetricRecord

log = logging.getLogger(__name__)
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# How long a request waits for the gap engine of a fresh import before it answers from the
# engine it has: a big org takes seconds to load, and Slack gives a request 3.
FRESH_WAIT = 1.0
# How long a process trusts the data version it last read: an import is seen this much later at
# most, and a burst of requests costs one query instead of one each.
VERSION_SECONDS = 1.0
# How long "what has worked" lists are kept: they change when plans are judged, monthly.
LESSONS_SECONDS = 60.0


class Refreshed(Generic[K, V]):
    """Values read afresh at most every `seconds` per key. When one is due, one request reads
    it while the others carry on with the value as it was: a slow or absent database then holds
    up that one request, not every request at once."""

    def __init__(
        self, seconds: float, limit: int = 1024, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds, self.limit, self.clock = seconds, limit, clock
        self._values: dict[K, tuple[float, V]] = {}
        self._reading: set[K] = set()
        self._lock = threading.Lock()

    def get(self, key: K, read: Callable[[], V]) -> V:
        """The value for `key`, from `read()` when due (its errors propagate)."""
        with self._lock:
            known = self._values.get(key)
            if known is not None and (self.clock() < known[0] or key in self._reading):
                return known[1]
            self._reading.add(key)
        try:
            value = read()
        finally:
            with self._lock:
                self._reading.discard(key)
        with self._lock:
            if len(self._values) >= self.limit:  # a bound on memory, not a working limit
                self._values.clear()
            self._values[key] = (self.clock() + self.seconds, value)
        return value


def _release_free_memory() -> None:
    """Give the pages a load freed back to the system: glibc keeps a freed heap for reuse, and
    the load's transient frames would otherwise stay in every replica's resident memory
    (measured: 17–40 MB at 5,000 reps × 24 months)."""
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl)
        return
    trim(0)


@dataclass(frozen=True)
class _Loaded:
    version: int
    engine: GapEngine


class Services:
    """Shared, thread-safe state of one running bot process."""

    def __init__(self, settings: Settings, engine: Engine, catalogue: Catalogue | None = None):
        self.settings = settings
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.catalogue = catalogue or load_catalogue(settings.coach_metrics_file)
        self._engines: dict[str, _Loaded] = {}
        self._loading: dict[tuple[str, int], Future[_Loaded]] = {}
        # One load at a time: two would only share the same cores, and double the memory.
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gap-engine")
        self._month_reports: tuple[tuple[GapEngine, str] | None, list[GapReport]] = (None, [])
        self._versions: Refreshed[str, int] = Refreshed(VERSION_SECONDS)
        self._directories: dict[str, tuple[int, Directory]] = {}
        self._directory_locks: dict[str, threading.Lock] = {}
        self._lessons: Refreshed[tuple[str, int, str, tuple[str, ...]], list[MetricRecord]] = (
            Refreshed(LESSONS_SECONDS)
        )
        self._reports_lock = threading.Lock()
        self._lock = threading.Lock()

    def version(self, workspace_id: str) -> int:
        """The workspace's data version, read at most once per VERSION_SECONDS."""
        return self._versions.get(workspace_id, lambda: self._read_version(workspace_id))

    def _read_version(self, workspace_id: str) -> int:
        with self.sessions() as session:
            return data_version(session, workspace_id)

    def directory(self, workspace_id: str) -> Directory:
        """The workspace's org chart in memory, reloaded after an import."""
        version = self.version(workspace_id)
        known = self._directories.get(workspace_id)
        if known is not None and known[0] == version:
            return known[1]
        lock = self._directory_locks.setdefault(workspace_id, threading.Lock())
        if not lock.acquire(blocking=known is None):
            return known[1]  # type: ignore[index]  # another request reads the new one
        try:
            known = self._directories.get(workspace_id)
            if known is None or known[0] != version:
                with self.sessions() as session:
                    known = (version, load_directory(session, workspace_id))
                self._directories[workspace_id] = known
            return known[1]
        finally:
            lock.release()

    def lessons(
        self, workspace_id: str, metric_keys: list[str], rep_id: int, month: str
    ) -> dict[str, dict[str, Any]]:
        """`bot.coaching.archive.lessons_for`, from judged plans kept for LESSONS_SECONDS; who is
        flagged now from the workspace's warm gap engine."""
        keys = sorted(set(metric_keys))

        def read() -> list[MetricRecord]:
            with self.sessions() as session:
                return lesson_records(session, workspace_id, keys, month)

        # Keyed by the data version too: after `coach forget` nobody is named a minute longer.
        version = self.version(workspace_id)
        records = self._lessons.get((workspace_id, version, month, tuple(keys)), read)
        flagged = flagged_now(self.gap_engine(workspace_id))
        return lessons_from(records, metric_keys, rep_id, month, flagged)

    def gap_engine(self, workspace_id: str) -> GapEngine:
        """A warm gap engine for the workspace's latest import.

        After an import, the new engine loads in the background; a request waits up to
        FRESH_WAIT for it and is otherwise answered from the previous one (only the very first
        load is waited for in full).
        """
        version = self.version(workspace_id)
        cached = self._engines.get(workspace_id)
        if cached is not None and cached.version == version:
            return cached.engine
        future = self._load(workspace_id, version)
        if cached is None:
            return future.result().engine
        try:
            return future.result(timeout=FRESH_WAIT).engine
        except FutureTimeout:
            return cached.engine

    def warm(self, workspace_id: str) -> None:
        """Load and warm the workspace's gap engine now (at start-up, before taking traffic)."""
        self.gap_engine(workspace_id)

    def _load(self, workspace_id: str, version: int) -> Future[_Loaded]:
        with self._lock:
            key = (workspace_id, version)
            future = self._loading.get(key)
            if future is None:
                future = self._loader.submit(self._build, workspace_id, version)
                self._loading[key] = future
            return future

    def _build(self, workspace_id: str, version: int) -> _Loaded:
        start = time.perf_counter()
        try:
            engine = load_gap_engine(
                self.engine, workspace_id, self.catalogue, self.settings.gap_config()
            )
            with suppress(GapError):  # no numbers yet: nothing to warm, requests will say so
                engine.warm()
            loaded = _Loaded(version, engine)
            with self._lock:
                current = self._engines.get(workspace_id)
                if current is None or current.version < version:
                    self._engines[workspace_id] = loaded
            # A warm engine is millions of long-lived Python objects; left to the cyclic
            # collector, each full pass over them stalls every request for a second. Collect
            # once (the replaced engine too), then freeze what's alive out of later passes.
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            _release_free_memory()
            log.info(
                "gap engine loaded for %s (data version %s) in %.1f s",
                workspace_id,
                version,
                time.perf_counter() - start,
            )
            return loaded
        finally:
            with self._lock:  # a failed load is tried again by the next request
                self._loading.pop((workspace_id, version), None)

    def peer_values(self, workspace_id: str, report: GapReport, metric_key: str) -> list[float]:
        """The values of `report`'s peers on one metric (for the anonymous team chart)."""
        engine = self.gap_engine(workspace_id)
        key = (engine, report.month)  # the engine itself: a reload after an import is a miss
        with self._reports_lock:  # not self._lock: engine loads mustn't wait on a chart
            if self._month_reports[0] != key:
                self._month_reports = (key, engine.reports(report.month))  # keep one month
            reports = self._month_reports[1]
        segment = None if report.peer_group.widened else report.peer_group.segment
        values = []
        for other in reports:
            if other.rep == report.rep or (segment is not None and other.segment != segment):
                continue
            metric = next((m for m in other.metrics if m.key == metric_key), None)
            if metric is not None and metric.value is not None:
                values.append(metric.value)
        return values
