"""Migrations run both ways, and the models agree with them, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import MetaData, inspect, text

from storage.counts import read_counts
from storage.db import (
    alembic_config,
    current_revision,
    downgrade,
    make_engine,
    session_scope,
    upgrade,
)
from storage.models import Base

TABLES = {
    "workspaces",
    "people",
    "metric_names",
    "metric_months",
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


def test_metric_values_move_to_rep_months_and_back(db_url: str) -> None:
    """0011 packs each rep-month's values into one row, and unpacks them on the way down:
    every value, and only those, survives both ways (a missing value stays missing)."""
    upgrade(db_url, "0010")
    engine = make_engine(db_url)
    values = [
        ("a", 1, "2026-09", "wins", 3.0),
        ("a", 1, "2026-09", "demos", 12.0),
        ("a", 1, "2026-10", "revenue", 41_500.5),
        ("a", 2, "2026-10", "wins", 0.0),
        ("b", 3, "2026-10", "calls", 7.0),
    ]
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO workspaces (id, data_version, created_at) VALUES (:id, 0, :at)"),
            [{"id": ws, "at": "2026-01-01 00:00:00"} for ws in ("a", "b")],
        )
        for pid, ws in ((1, "a"), (2, "a"), (3, "b")):
            conn.execute(
                text(
                    "INSERT INTO people (id, workspace_id, email, name, role, active, mute_reminders, "
                    "created_at, updated_at) "
                    "VALUES (:id, :ws, :email, 'X', 'rep', true, false, :at, :at)"
                ),
                {"id": pid, "ws": ws, "email": f"p{pid}@example.com", "at": "2026-01-01 00:00:00"},
            )
        conn.execute(
            text(
                "INSERT INTO metric_values (workspace_id, person_id, month, name, value) "
                "VALUES (:ws, :pid, :month, :name, :value)"
            ),
            [dict(zip(("ws", "pid", "month", "name", "value"), v, strict=True)) for v in values],
        )
    upgrade(db_url, "0011")
    with session_scope(engine) as session:
        assert read_counts(session, "a") == {
            (1, "2026-09"): {"wins": 3.0, "demos": 12.0},
            (1, "2026-10"): {"revenue": 41_500.5},
            (2, "2026-10"): {"wins": 0.0},
        }
        assert read_counts(session, "b") == {(3, "2026-10"): {"calls": 7.0}}
    downgrade(db_url, "0010")
    with engine.connect() as conn:
        back = conn.execute(
            text("SELECT workspace_id, person_id, month, name, value FROM metric_values")
        ).all()
    assert sorted(map(tuple, back)) == sorted(values)
    engine.dispose()


def test_two_running_pips_for_one_rep_stop_0012_with_their_names(db_url: str) -> None:
    """Before 0012, racing submissions could leave a rep two running PIPs: the migration names
    them and stops (which one stands is the manager's call); ended, it goes through."""
    upgrade(db_url, "0011")
    engine = make_engine(db_url)
    at = "2026-01-01 00:00:00"
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO workspaces (id, data_version, created_at) VALUES ('a', 0, :at)"),
            {"at": at},
        )
        conn.execute(
            text(
                "INSERT INTO people (id, workspace_id, email, name, role, active, mute_reminders, "
                "created_at, updated_at) VALUES (7, 'a', 'r@x.com', 'R', 'rep', true, false, :at, :at)"
            ),
            {"at": at},
        )
        conn.execute(
            text(
                "INSERT INTO pips (id, workspace_id, rep_id, start_date, end_date, rhythm_days, "
                "commitments, discussed, status, created_at, updated_at) VALUES (:id, 'a', 7, "
                "'2026-11-02', '2027-01-31', 7, '[]', true, 'active', :at, :at)"
            ),
            [{"id": 1, "at": at}, {"id": 2, "at": at}],
        )
    with pytest.raises(RuntimeError, match="a/person 7: 2 active PIPs"):
        upgrade(db_url)
    assert current_revision(engine) == "0011"
    with engine.begin() as conn:
        conn.execute(text("UPDATE pips SET status = 'ended' WHERE id = 2"))
    upgrade(db_url)
    head = ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()
    assert current_revision(engine) == head
    engine.dispose()
