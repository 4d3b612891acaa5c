"""plan outcomes: what became of each focus metric of a plan

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 02:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "plan_outcomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("focus_id", sa.Integer(), nullable=False),
        sa.Column("metric_key", sa.String(length=64), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("baseline", sa.Float(), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("estimate", sa.Float(), nullable=True),
        sa.Column("numerator", sa.Float(), nullable=True),
        sa.Column("denominator", sa.Float(), nullable=True),
        sa.Column("peer_median_then", sa.Float(), nullable=True),
        sa.Column("peer_median_now", sa.Float(), nullable=True),
        sa.Column("target", sa.Float(), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("p_better", sa.Float(), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["focus_id"],
            ["plan_focus.id"],
            name=op.f("fk_plan_outcomes_focus_id_plan_focus"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["plans.id"],
            name=op.f("fk_plan_outcomes_plan_id_plans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_plan_outcomes_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_outcomes")),
        sa.UniqueConstraint("focus_id", name=op.f("uq_plan_outcomes_focus_id")),
    )
    with op.batch_alter_table("plan_outcomes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_outcomes_plan_id"), ["plan_id"], unique=False)
        batch_op.create_index(
            "ix_plan_outcomes_workspace_id_metric_key", ["workspace_id", "metric_key"], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("plan_outcomes", schema=None) as batch_op:
        batch_op.drop_index("ix_plan_outcomes_workspace_id_metric_key")
        batch_op.drop_index(batch_op.f("ix_plan_outcomes_plan_id"))
    op.drop_table("plan_outcomes")
