"""The gap service: the analytics engine fed from the database."""

from __future__ import annotations

from sqlalchemy import Engine

from analytics.catalogue import Catalogue, with_crm_metrics
from analytics.gaps import GapConfig, GapEngine
from storage.crm import crm_months
from storage.db import session_scope
from storage.queries import metrics_frame, people_frame


def load_gap_engine(
    engine: Engine, workspace_id: str, catalogue: Catalogue, config: GapConfig | None = None
) -> GapEngine:
    """Load the workspace's org chart and metrics and build a warm gap engine over them."""
    return load_gap_engines(engine, workspace_id, catalogue, config or GapConfig())[0]


def load_gap_engines(
    engine: Engine, workspace_id: str, catalogue: Catalogue, *configs: GapConfig
) -> list[GapEngine]:
    """One engine per config over the same data, read from the database once. A workspace
    whose counts come from a CRM gets the pipeline hygiene metrics too."""
    with session_scope(engine) as session:
        people = people_frame(session, workspace_id)
        if crm_months(session, workspace_id):
            catalogue = with_crm_metrics(catalogue)
    metrics = metrics_frame(engine, workspace_id)
    return [GapEngine(metrics, people, catalogue, config) for config in configs]
