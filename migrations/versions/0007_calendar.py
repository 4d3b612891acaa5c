"""calendar: each person's country (working days and public holidays), muted reminders, time
off and the messages held back for it

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 02:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add people.country (nullable: the COACH_COUNTRY default), people.mute_reminders,
    people.away_until and the deferrals table."""
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("country", sa.String(32), nullable=True))
        batch.add_column(
            sa.Column("mute_reminders", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("away_until", sa.Date(), nullable=True))
    op.create_table(
        "deferrals",
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("deferred_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_deferrals_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_deferrals_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id", "person_id", "job", "period", name=op.f("pk_deferrals")
        ),
    )


def downgrade() -> None:
    """Drop the deferrals table and the people columns."""
    op.drop_table("deferrals")
    with op.batch_alter_table("people") as batch:
        batch.drop_column("away_until")
        batch.drop_column("mute_reminders")
        batch.drop_column("country")
