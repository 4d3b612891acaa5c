"""partial months: rep-months whose counts run only through a day (month-to-date rows)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 01:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add partial_months (one row per partial rep-month; a full month has none)."""
    op.create_table(
        "partial_months",
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("through", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_partial_months_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_partial_months_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id", "person_id", "month", name=op.f("pk_partial_months")
        ),
    )


def downgrade() -> None:
    """Drop partial_months."""
    op.drop_table("partial_months")
