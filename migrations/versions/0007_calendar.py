"""calendar: each person's country (working days and public holidays), muted reminders

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-29 02:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add people.country (nullable: the COACH_COUNTRY default) and people.mute_reminders."""
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("country", sa.String(32), nullable=True))
        batch.add_column(
            sa.Column("mute_reminders", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    """Drop people.country and people.mute_reminders."""
    with op.batch_alter_table("people") as batch:
        batch.drop_column("mute_reminders")
        batch.drop_column("country")
