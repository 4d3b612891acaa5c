"""one-on-ones and workspace settings: each rep's weekly 1:1 slot, the topics reps add for it,
and each workspace's cadence settings

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 05:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add people.one_on_one_weekday and one_on_one_time, one_on_one_topics and
    workspace_settings."""
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("one_on_one_weekday", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("one_on_one_time", sa.Time(), nullable=True))
    op.create_table(
        "one_on_one_topics",
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("rep_id", sa.Integer(), nullable=False),
        sa.Column("meeting_day", sa.Date(), nullable=False),
        sa.Column("topics", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["rep_id"], ["people.id"], name=op.f("fk_one_on_one_topics_rep_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_one_on_one_topics_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id", "rep_id", "meeting_day", name=op.f("pk_one_on_one_topics")
        ),
    )
    op.create_table(
        "workspace_settings",
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("daily_channel", sa.String(length=32), nullable=True),
        sa.Column("send_time", sa.String(length=5), nullable=True),
        sa.Column("reminder_day", sa.Integer(), nullable=True),
        sa.Column("escalation_day", sa.Integer(), nullable=True),
        sa.Column("one_on_one_lead", sa.Integer(), nullable=True),
        sa.Column("country", sa.String(length=32), nullable=True),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["people.id"], name=op.f("fk_workspace_settings_updated_by_people")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_workspace_settings_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_workspace_settings")),
    )


def downgrade() -> None:
    """Drop workspace_settings, one_on_one_topics and the people columns."""
    op.drop_table("workspace_settings")
    op.drop_table("one_on_one_topics")
    with op.batch_alter_table("people") as batch:
        batch.drop_column("one_on_one_time")
        batch.drop_column("one_on_one_weekday")
