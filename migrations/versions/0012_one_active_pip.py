"""pips: at most one active PIP per rep (a partial unique index)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 08:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = sa.text("status = 'active'")


def upgrade() -> None:
    # Two submissions racing could save two running PIPs for one rep before this index: which
    # one stands is the manager's call, so the migration stops and names them.
    twice = op.get_bind().execute(
        sa.text(
            "SELECT workspace_id, rep_id, count(*) FROM pips WHERE status = 'active' "
            "GROUP BY workspace_id, rep_id HAVING count(*) > 1"
        )
    )
    found = [f"{w}/person {r}: {n} active PIPs" for w, r, n in twice]
    if found:
        raise RuntimeError(
            "a rep may have one running PIP; end all but one of these (their decision), then "
            "migrate again: " + "; ".join(found)
        )
    op.create_index(
        "uq_pips_one_active",
        "pips",
        ["workspace_id", "rep_id"],
        unique=True,
        postgresql_where=ACTIVE,
        sqlite_where=ACTIVE,
    )


def downgrade() -> None:
    op.drop_index("uq_pips_one_active", table_name="pips")
