"""Read models out of the database in the shapes the analytics engine takes."""

from __future__ import annotations

from operator import itemgetter

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session, aliased

from storage import counts
from storage.csv_org import ORG_COLUMNS
from storage.models import PartialMonth, Person

# The org chart as imported, and whether the person is still in it.
# The org chart as the analytics read it: who people are, not when they meet.
PEOPLE_COLUMNS = [*(c for c in ORG_COLUMNS if c != "one_on_one"), "active"]


def people_frame(session: Session, workspace_id: str) -> pd.DataFrame:
    """The workspace's org chart: one row per person, active or not."""
    manager = aliased(Person)
    rows = session.execute(
        select(
            Person.email,
            Person.name,
            Person.role,
            manager.email,
            Person.segment,
            Person.discipline,
            Person.slack_user_id,
            Person.timezone,
            Person.start_date,
            Person.country,
            Person.active,
        )
        .outerjoin(manager, Person.manager_id == manager.id)
        .where(Person.workspace_id == workspace_id)
        .order_by(Person.email)
    ).all()
    # Plain tuples: pandas probes each Row object for attributes, 10× slower.
    frame = pd.DataFrame([tuple(row) for row in rows], columns=PEOPLE_COLUMNS)
    frame["active"] = frame["active"].astype(bool)
    return frame


def metrics_frame(engine: Engine, workspace_id: str) -> pd.DataFrame:
    """Monthly counts, wide: `rep` (email), `month` (YYYY-MM), then one float column per count,
    and `through`: the last day a month-to-date row covers (a date), None for a full month.

    Rows are sorted by rep and month; a rep-month is there when it has any value."""
    with engine.connect() as conn:
        by_slot = sorted((slot, name) for name, slot in counts.slots(conn, workspace_id).items())
        width = by_slot[-1][0] + 1 if by_slot else 0
        if conn.dialect.name == "postgresql":
            pids, month_codes, table = _read_postgresql(conn, workspace_id, width)
        else:
            pids, month_codes, table = _read_sqlite(conn, workspace_id, width)
        # After the values: everyone they name is here (people are never deleted).
        emails = dict(
            conn.execute(
                select(Person.id, Person.email).where(Person.workspace_id == workspace_id)
            ).all()
        )
        marks = conn.execute(
            select(PartialMonth.person_id, PartialMonth.month, PartialMonth.through).where(
                PartialMonth.workspace_id == workspace_id
            )
        ).all()
    names = [name for _, name in by_slot]
    table = table[:, [slot for slot, _ in by_slot]]
    if len(names):
        kept = ~np.isnan(table).all(axis=1)  # a month whose every value was removed
        pids, month_codes, table = pids[kept], month_codes[kept], table[kept]
    if not len(pids):
        return pd.DataFrame(columns=["rep", "month", "through"])
    # Sorted by email and month with numpy: a few thousand emails sort, not 120,000 rows.
    rep_ids, rep_index = np.unique(pids, return_inverse=True)
    rep_names = np.array([emails[pid] for pid in rep_ids.tolist()], object)
    rank = np.empty(len(rep_names), np.int64)
    rank[np.argsort(rep_names, kind="stable")] = np.arange(len(rep_names))
    order = np.lexsort((month_codes, rank[rep_index]))
    pids, month_codes, rep_index, table = (
        pids[order],
        month_codes[order],
        rep_index[order],
        table[order],
    )
    codes, month_index = np.unique(month_codes, return_inverse=True)
    month_names = np.array([f"{c // 12:04d}-{c % 12 + 1:02d}" for c in codes.tolist()], object)
    wide = pd.DataFrame(table, columns=names)
    wide.insert(0, "rep", rep_names[rep_index])
    wide.insert(1, "month", month_names[month_index])
    through = np.full(len(wide), None, object)
    if marks:
        key = pd.Index(pids * _MONTH_SLOTS + month_codes)
        marked = [
            pid * _MONTH_SLOTS + int(month[:4]) * 12 + int(month[5:]) - 1 for pid, month, _ in marks
        ]
        at = key.get_indexer(marked)
        days = np.array([day for _, _, day in marks], object)
        through[at[at >= 0]] = days[at >= 0]
    wide["through"] = through
    return wide


_MONTH_SLOTS = 1 << 16  # month codes (months since year 0) stay below it


_MONTH_CODE = (
    "(CAST(substr(month, 1, 4) AS INTEGER) * 12 + CAST(substr(month, 6, 2) AS INTEGER) - 1)"
)
_COPY_HEADER = 19  # signature (11 bytes), flags (4), header extension length (4)


def _read_postgresql(
    conn: Connection, workspace_id: str, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Person ids, month codes (months since year 0) and the counts matrix, from one row of
    four aggregates (person ids, month codes, blob lengths, the blobs back to back) copied out
    in binary.

    COPY sends one message per row, and each would be a Python object: one row is one message.
    In binary each array element is its 4-byte length and big-endian bytes, so numpy reads the
    arrays in place, and the blobs are one bytea numpy views as the matrix.
    """
    query = (
        f"COPY (SELECT array_agg(person_id), array_agg({_MONTH_CODE}), "
        "array_agg(octet_length(counts)), string_agg(counts, ''::bytea) "
        "FROM (SELECT person_id, month, counts FROM metric_months WHERE workspace_id = %s "
        "ORDER BY person_id, month) AS m) TO STDOUT (FORMAT BINARY)"
    )
    driver = conn.connection.driver_connection
    with driver.cursor() as cursor, cursor.copy(query, (workspace_id,)) as copy:  # type: ignore[union-attr]
        stream = memoryview(b"".join(copy))
    at = _COPY_HEADER + int.from_bytes(stream[_COPY_HEADER - 4 : _COPY_HEADER], "big") + 2
    cells: list[memoryview | None] = []
    for _ in range(4):
        length = int.from_bytes(stream[at : at + 4], "big", signed=True)
        cells.append(None if length < 0 else stream[at + 4 : at + 4 + length])  # -1: NULL
        at += 4 + max(length, 0)
    if cells[0] is None or cells[1] is None or cells[2] is None or cells[3] is None:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, width))
    pids = _pg_array(cells[0], ">i4").astype(np.int64)
    months = _pg_array(cells[1], ">i4").astype(np.int64)
    lengths = _pg_array(cells[2], ">i4").astype(np.int64)
    return pids, months, counts.matrix(cells[3], lengths, width)


def _pg_array(data: memoryview, element: str) -> np.ndarray:
    """A one-dimensional array in PostgreSQL's binary format, its elements all `element` wide:
    a header (dimensions, null flag, element type, then size and lower bound per dimension),
    then each element's 4-byte length and bytes."""
    dimensions = int.from_bytes(data[:4], "big")
    count = int.from_bytes(data[12:16], "big") if dimensions else 0
    layout = np.dtype([("length", ">i4"), ("value", element)])
    cells = np.frombuffer(data, layout, count, offset=12 + 8 * dimensions)
    if (cells["length"] != layout["value"].itemsize).any():
        raise ValueError(f"metric_months holds an element that is not {element} wide")
    return cells["value"]


def _read_sqlite(
    conn: Connection, workspace_id: str, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Person ids, month codes and the counts matrix: one (id, month code, blob) tuple per
    rep-month through the driver's cursor, the least SQLite can hand over."""
    query = f"SELECT person_id, {_MONTH_CODE}, counts FROM metric_months WHERE workspace_id = ?"
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        rows = cursor.execute(query, (workspace_id,)).fetchall()
    finally:
        cursor.close()
    size = len(rows)
    pids = np.fromiter(map(itemgetter(0), rows), np.int64, size)
    months = np.fromiter(map(itemgetter(1), rows), np.int64, size)
    return pids, months, counts.blobs_matrix(list(map(itemgetter(2), rows)), width)
