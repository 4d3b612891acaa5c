"""person discipline: SDR, AE, AM, ... (peers are the same segment and discipline)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 00:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add people.discipline (nullable: blank means the org has one discipline)."""
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("discipline", sa.String(100), nullable=True))


def downgrade() -> None:
    """Drop people.discipline."""
    with op.batch_alter_table("people") as batch:
        batch.drop_column("discipline")
