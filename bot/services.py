"""What listeners need beyond the request: the database, the catalogue, warm gap engines."""

from __future__ import annotations

import threading

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from analytics.catalogue import Catalogue, load_catalogue
from analytics.gaps import GapEngine
from analytics.models import GapReport
from bot.gaps import load_gap_engine
from bot.settings import Settings
from storage.org import data_version


class Services:
    """Shared, thread-safe state of one running bot process."""

    def __init__(self, settings: Settings, engine: Engine, catalogue: Catalogue | None = None):
        self.settings = settings
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.catalogue = catalogue or load_catalogue(settings.coach_metrics_file)
        self._engines: dict[str, tuple[int, GapEngine]] = {}
        self._month_reports: tuple[tuple[GapEngine, str] | None, list[GapReport]] = (None, [])
        self._lock = threading.Lock()

    def gap_engine(self, workspace_id: str) -> GapEngine:
        """A warm gap engine for the workspace, reloaded only after an import changed the data."""
        with self.sessions() as session:
            version = data_version(session, workspace_id)
        cached = self._engines.get(workspace_id)
        if cached is not None and cached[0] == version:
            return cached[1]
        with self._lock:
            cached = self._engines.get(workspace_id)
            if cached is None or cached[0] != version:
                engine = load_gap_engine(
                    self.engine, workspace_id, self.catalogue, self.settings.gap_config()
                )
                cached = (version, engine)
                self._engines[workspace_id] = cached
        return cached[1]

    def peer_values(self, workspace_id: str, report: GapReport, metric_key: str) -> list[float]:
        """The values of `report`'s peers on one metric (for the anonymous team chart)."""
        engine = self.gap_engine(workspace_id)
        key = (engine, report.month)  # the engine itself: a reload after an import is a miss
        with self._lock:
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
