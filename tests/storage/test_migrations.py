"""Migrations run both ways, and the models agree with them, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import MetaData, inspect

from storage.db import current_revision, downgrade, make_engine, upgrade
from storage.models import Base

TABLES = {
    "workspaces",
    "people",
    "metric_values",
    "partial_months",
    "plans",
    "plan_focus",
    "checkins",
    "reflections",
    "deliveries",
    "deferrals",
    "plan_outcomes",
    "pips",
    "pip_metrics",
    "pip_checkins",
    "pip_events",
    "crm_owners",
    "crm_deals",
    "crm_stage_changes",
    "crm_owner_changes",
    "crm_activities",
    "crm_activity_deals",
    "crm_cursors",
    "crm_sync_runs",
    "crm_problems",
    "crm_months",
    "slack_installations",
    "slack_bots",
    "slack_oauth_states",
}


def test_upgrade_then_downgrade(db_url: str) -> None:
    engine = make_engine(db_url)
    assert current_revision(engine) is None
    upgrade(db_url)
    assert set(inspect(engine).get_table_names()) >= TABLES
    assert current_revision(engine) is not None
    downgrade(db_url)
    assert set(inspect(engine).get_table_names()) - {"alembic_version"} == set()
    assert current_revision(engine) is None
    upgrade(db_url)
    assert set(inspect(engine).get_table_names()) >= TABLES
    engine.dispose()


def expected_metadata() -> MetaData:
    """coach's models, and slack-sdk's installation and state stores as the installed slack-sdk
    defines them (an upgrade that changes them needs a migration)."""
    metadata = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(metadata)
    SQLAlchemyInstallationStore.build_installations_table(metadata, "slack_installations")
    SQLAlchemyInstallationStore.build_bots_table(metadata, "slack_bots")
    SQLAlchemyOAuthStateStore.build_oauth_states_table(metadata, "slack_oauth_states")
    return metadata


def test_models_match_migrations(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, expected_metadata())
    engine.dispose()
    assert diff == []
