"""pips: performance improvement plans, their metrics, check-ins and audit trail

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 02:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, column: str, target: str, cascade: bool = False) -> sa.ForeignKeyConstraint:
    referred = target.split(".")[0]
    return sa.ForeignKeyConstraint(
        [column],
        [target],
        name=op.f(f"fk_{table}_{column}_{referred}"),
        ondelete="CASCADE" if cascade else None,
    )


def upgrade() -> None:
    """Add pips, pip_metrics, pip_checkins and pip_events."""
    op.create_table(
        "pips",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("rep_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("rhythm_days", sa.Integer(), nullable=False),
        sa.Column("commitments", sa.JSON(), nullable=False),
        sa.Column("discussed", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dm_channel", sa.String(length=32), nullable=True),
        sa.Column("dm_ts", sa.String(length=32), nullable=True),
        sa.Column("rep_dm_channel", sa.String(length=32), nullable=True),
        sa.Column("rep_dm_ts", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _fk("pips", "author_id", "people.id"),
        _fk("pips", "rep_id", "people.id"),
        _fk("pips", "workspace_id", "workspaces.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pips")),
    )
    op.create_index(op.f("ix_pips_rep_id"), "pips", ["rep_id"], unique=False)
    op.create_table(
        "pip_metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pip_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("metric_key", sa.String(length=64), nullable=False),
        sa.Column("baseline", sa.Float(), nullable=True),
        sa.Column("target", sa.Float(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("p_reached", sa.Float(), nullable=True),
        _fk("pip_metrics", "pip_id", "pips.id", cascade=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pip_metrics")),
    )
    op.create_index(op.f("ix_pip_metrics_pip_id"), "pip_metrics", ["pip_id"], unique=False)
    op.create_table(
        "pip_checkins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("pip_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("kept", sa.JSON(), nullable=False),
        sa.Column("missed", sa.JSON(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("request_key", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("pip_checkins", "author_id", "people.id"),
        _fk("pip_checkins", "pip_id", "pips.id", cascade=True),
        _fk("pip_checkins", "workspace_id", "workspaces.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pip_checkins")),
        sa.UniqueConstraint("request_key", name=op.f("uq_pip_checkins_request_key")),
    )
    op.create_index(op.f("ix_pip_checkins_pip_id"), "pip_checkins", ["pip_id"], unique=False)
    op.create_table(
        "pip_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("pip_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        _fk("pip_events", "actor_id", "people.id"),
        _fk("pip_events", "pip_id", "pips.id", cascade=True),
        _fk("pip_events", "workspace_id", "workspaces.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pip_events")),
    )
    op.create_index(op.f("ix_pip_events_pip_id"), "pip_events", ["pip_id"], unique=False)


def downgrade() -> None:
    """Drop the PIP tables."""
    for table in ("pip_events", "pip_checkins", "pip_metrics"):
        op.drop_index(op.f(f"ix_{table}_pip_id"), table_name=table)
        op.drop_table(table)
    op.drop_index(op.f("ix_pips_rep_id"), table_name="pips")
    op.drop_table("pips")
