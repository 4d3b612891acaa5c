"""metric_months: one row per rep-month (a blob of float64 per count slot) instead of one per
value; metric_names gives each workspace's counts their slots

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 05:00:00

"""

from collections.abc import Sequence

import numpy as np
import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNT = np.dtype("<f8")  # as storage/counts.py writes them
BATCH = 20_000


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    referred = target.split(".")[0]
    return sa.ForeignKeyConstraint([column], [target], name=op.f(f"fk_{table}_{column}_{referred}"))


def _create_values() -> None:
    op.create_table(
        "metric_values",
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        _fk("metric_values", "person_id", "people.id"),
        _fk("metric_values", "workspace_id", "workspaces.id"),
        sa.PrimaryKeyConstraint(
            "workspace_id", "person_id", "month", "name", name=op.f("pk_metric_values")
        ),
        sqlite_with_rowid=False,
    )


def upgrade() -> None:
    """Create metric_names and metric_months, move every value over, drop metric_values."""
    op.create_table(
        "metric_names",
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        _fk("metric_names", "workspace_id", "workspaces.id"),
        sa.PrimaryKeyConstraint("workspace_id", "slot", name=op.f("pk_metric_names")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_metric_names_workspace_id_name")),
    )
    months = op.create_table(
        "metric_months",
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("counts", sa.LargeBinary(), nullable=False),
        # No foreign keys: see storage/models.py (checked row by row, they were most of an
        # import's time on PostgreSQL).
        sa.PrimaryKeyConstraint(
            "workspace_id", "person_id", "month", name=op.f("pk_metric_months")
        ),
        sqlite_with_rowid=False,
    )
    conn = op.get_bind()
    values = sa.table(
        "metric_values",
        sa.column("workspace_id"),
        sa.column("person_id"),
        sa.column("month"),
        sa.column("name"),
        sa.column("value"),
    )
    names = sa.table(
        "metric_names", sa.column("workspace_id"), sa.column("slot"), sa.column("name")
    )
    slots: dict[tuple[str, str], int] = {}
    widths: dict[str, int] = {}  # slots per workspace, given in name order
    pairs = conn.execute(
        sa.select(values.c.workspace_id, values.c.name).distinct().order_by("workspace_id", "name")
    ).all()
    for workspace_id, name in pairs:
        slots[workspace_id, name] = widths.get(workspace_id, 0)
        widths[workspace_id] = slots[workspace_id, name] + 1
    if slots:
        conn.execute(
            names.insert(),
            [
                {"workspace_id": ws, "slot": slot, "name": name}
                for (ws, name), slot in slots.items()
            ],
        )
    # In key order, a rep-month's values are consecutive: one pass, a blob per rep-month.
    rows = conn.execute(
        sa.select(values)
        .order_by("workspace_id", "person_id", "month", "name")
        .execution_options(stream_results=True)
    )
    batch: list[dict[str, object]] = []
    key: tuple[str, int, str] | None = None
    row_values = np.empty(0)
    for workspace_id, person_id, month, name, value in rows:
        if (workspace_id, person_id, month) != key:
            if key is not None:
                batch.append(_month_row(key, row_values))
            key = (workspace_id, person_id, month)
            row_values = np.full(widths[workspace_id], np.nan)
        row_values[slots[workspace_id, name]] = value
        if len(batch) >= BATCH:
            conn.execute(months.insert(), batch)
            batch = []
    if key is not None:
        batch.append(_month_row(key, row_values))
    if batch:
        conn.execute(months.insert(), batch)
    op.drop_table("metric_values")


def _month_row(key: tuple[str, int, str], row: np.ndarray) -> dict[str, object]:
    workspace_id, person_id, month = key
    return {
        "workspace_id": workspace_id,
        "person_id": person_id,
        "month": month,
        "counts": row.astype(COUNT).tobytes(),
    }


def downgrade() -> None:
    """Back to one metric_values row per value."""
    _create_values()
    conn = op.get_bind()
    values = sa.table(
        "metric_values",
        sa.column("workspace_id"),
        sa.column("person_id"),
        sa.column("month"),
        sa.column("name"),
        sa.column("value"),
    )
    names: dict[tuple[str, int], str] = {
        (ws, slot): name
        for ws, slot, name in conn.execute(
            sa.text("SELECT workspace_id, slot, name FROM metric_names")
        )
    }
    rows = conn.execute(
        sa.text("SELECT workspace_id, person_id, month, counts FROM metric_months"),
        execution_options={"stream_results": True},
    )
    batch: list[dict[str, object]] = []
    for workspace_id, person_id, month, blob in rows:
        for slot, value in enumerate(np.frombuffer(bytes(blob), COUNT).tolist()):
            if value == value:  # NaN: no value
                batch.append(
                    {
                        "workspace_id": workspace_id,
                        "person_id": person_id,
                        "month": month,
                        "name": names[workspace_id, slot],
                        "value": value,
                    }
                )
        if len(batch) >= BATCH:
            conn.execute(values.insert(), batch)
            batch = []
    if batch:
        conn.execute(values.insert(), batch)
    op.drop_table("metric_months")
    op.drop_table("metric_names")
