"""verdicts net of regression to the mean: the expectation and the months judged per outcome

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 02:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("expectation", "material_line", "judged_from", "judged_to", "target_met")


def upgrade() -> None:
    """Add the expectation, the material line, the months judged and target_met to
    plan_outcomes. Outcomes judged by the old rules keep judged_from NULL, which marks them to
    be judged again (`storage.outcomes.unjudged_months`)."""
    with op.batch_alter_table("plan_outcomes") as batch:
        batch.add_column(sa.Column("expectation", sa.Float(), nullable=True))
        batch.add_column(sa.Column("material_line", sa.Float(), nullable=True))
        batch.add_column(sa.Column("judged_from", sa.String(length=7), nullable=True))
        batch.add_column(sa.Column("judged_to", sa.String(length=7), nullable=True))
        batch.add_column(sa.Column("target_met", sa.Boolean(), nullable=True))


def downgrade() -> None:
    """Drop the columns added by upgrade."""
    with op.batch_alter_table("plan_outcomes") as batch:
        for column in reversed(_COLUMNS):
            batch.drop_column(column)
