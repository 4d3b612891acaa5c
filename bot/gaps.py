"""The gap service: the analytics engine fed from the database."""

from __future__ import annotations

from sqlalchemy import Engine

from analytics.catalogue import Catalogue
from analytics.gaps import GapConfig, GapEngine
from storage.db import session_scope
from storage.queries import metrics_frame, people_frame


def load_gap_engine(
    engine: Engine, workspace_id: str, catalogue: Catalogue, config: GapConfig | None = None
) -> GapEngine:
    """Load the workspace's org chart and metrics and build a warm gap engine over them."""
    with session_scope(engine) as session:
        people = people_frame(session, workspace_id)
    metrics = metrics_frame(engine, workspace_id)
    return GapEngine(metrics, people, catalogue, config or GapConfig())
