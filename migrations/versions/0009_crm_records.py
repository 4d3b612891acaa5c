"""crm records: owners, deals with their stage and owner histories, activities, cursors, sync
runs, problem lines, and the months whose counts come from a CRM

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 05:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _workspace_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["workspace_id"], ["workspaces.id"], name=op.f(f"fk_{table}_workspace_id_workspaces")
    )


def _key(*extra: sa.Column) -> list[sa.Column]:
    return [
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        *extra,
    ]


def upgrade() -> None:
    """Add the CRM tables."""
    op.create_table(
        "crm_owners",
        *_key(sa.Column("crm_id", sa.String(length=64), nullable=False)),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("manager_crm_id", sa.String(length=64), nullable=True),
        sa.Column("team", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        _workspace_fk("crm_owners"),
        sa.PrimaryKeyConstraint("workspace_id", "source", "crm_id", name=op.f("pk_crm_owners")),
    )
    op.create_table(
        "crm_deals",
        *_key(sa.Column("crm_id", sa.String(length=64), nullable=False)),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("owner_crm_id", sa.String(length=64), nullable=True),
        sa.Column("pipeline", sa.String(length=100), nullable=True),
        sa.Column("stage", sa.String(length=100), nullable=False),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column("currency", sa.String(length=8), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_date", sa.Date(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        _workspace_fk("crm_deals"),
        sa.PrimaryKeyConstraint("workspace_id", "source", "crm_id", name=op.f("pk_crm_deals")),
    )
    op.create_index(
        "ix_crm_deals_owner", "crm_deals", ["workspace_id", "source", "owner_crm_id"], unique=False
    )
    histories = (
        ("crm_stage_changes", sa.Column("stage", sa.String(100), nullable=False), "entered_at"),
        ("crm_owner_changes", sa.Column("owner_crm_id", sa.String(64)), "changed_at"),
    )
    for table, column, at in histories:
        op.create_table(
            table,
            *_key(
                sa.Column("deal_crm_id", sa.String(length=64), nullable=False),
                sa.Column("position", sa.Integer(), nullable=False),
            ),
            column,
            sa.Column(at, sa.DateTime(timezone=True), nullable=False),
            _workspace_fk(table),
            sa.PrimaryKeyConstraint(
                "workspace_id", "source", "deal_crm_id", "position", name=op.f(f"pk_{table}")
            ),
        )
    op.create_table(
        "crm_activities",
        *_key(sa.Column("crm_id", sa.String(length=64), nullable=False)),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("owner_crm_id", sa.String(length=64), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=100), nullable=True),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        _workspace_fk("crm_activities"),
        sa.PrimaryKeyConstraint("workspace_id", "source", "crm_id", name=op.f("pk_crm_activities")),
    )
    op.create_table(
        "crm_activity_deals",
        *_key(
            sa.Column("activity_crm_id", sa.String(length=64), nullable=False),
            sa.Column("deal_crm_id", sa.String(length=64), nullable=False),
        ),
        _workspace_fk("crm_activity_deals"),
        sa.PrimaryKeyConstraint(
            "workspace_id",
            "source",
            "activity_crm_id",
            "deal_crm_id",
            name=op.f("pk_crm_activity_deals"),
        ),
    )
    op.create_index(
        "ix_crm_activity_deals_deal",
        "crm_activity_deals",
        ["workspace_id", "source", "deal_crm_id"],
        unique=False,
    )
    op.create_table(
        "crm_cursors",
        *_key(sa.Column("object", sa.String(length=16), nullable=False)),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _workspace_fk("crm_cursors"),
        sa.PrimaryKeyConstraint("workspace_id", "source", "object", name=op.f("pk_crm_cursors")),
    )
    op.create_table(
        "crm_sync_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        *_key(),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        _workspace_fk("crm_sync_runs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_sync_runs")),
    )
    op.create_index(
        "ix_crm_sync_runs_workspace",
        "crm_sync_runs",
        ["workspace_id", "source", "id"],
        unique=False,
    )
    op.create_table(
        "crm_problems",
        sa.Column("id", sa.Integer(), nullable=False),
        *_key(),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["crm_sync_runs.id"],
            name=op.f("fk_crm_problems_run_id_crm_sync_runs"),
            ondelete="CASCADE",
        ),
        _workspace_fk("crm_problems"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_problems")),
    )
    op.create_index(op.f("ix_crm_problems_run_id"), "crm_problems", ["run_id"], unique=False)
    op.create_table(
        "crm_months",
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("through", sa.Date(), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        _workspace_fk("crm_months"),
        sa.PrimaryKeyConstraint("workspace_id", "month", name=op.f("pk_crm_months")),
    )


def downgrade() -> None:
    """Drop the CRM tables."""
    op.drop_table("crm_months")
    op.drop_index(op.f("ix_crm_problems_run_id"), table_name="crm_problems")
    op.drop_table("crm_problems")
    op.drop_index("ix_crm_sync_runs_workspace", table_name="crm_sync_runs")
    op.drop_table("crm_sync_runs")
    op.drop_table("crm_cursors")
    op.drop_index("ix_crm_activity_deals_deal", table_name="crm_activity_deals")
    op.drop_table("crm_activity_deals")
    op.drop_table("crm_activities")
    op.drop_table("crm_owner_changes")
    op.drop_table("crm_stage_changes")
    op.drop_index("ix_crm_deals_owner", table_name="crm_deals")
    op.drop_table("crm_deals")
    op.drop_table("crm_owners")
