"""Read models out of the database in the shapes the analytics engine takes."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session, aliased

from storage.csv_org import ORG_COLUMNS
from storage.models import MetricValue, PartialMonth, Person

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
    frame = pd.DataFrame(rows, columns=PEOPLE_COLUMNS)
    frame["active"] = frame["active"].astype(bool)
    return frame


def metrics_frame(engine: Engine, workspace_id: str) -> pd.DataFrame:
    """Monthly counts, wide: `rep` (email), `month` (YYYY-MM), then one float column per count,
    and `through`: the last day a month-to-date row covers (a date), None for a full month.

    Rows are sorted by rep and month; a rep-month is there when it has any value."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            names, keys, values = _read_postgresql(conn, workspace_id)
        else:
            names, keys, values = _read_sqlite(conn, workspace_id)
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
    if not len(keys):
        return pd.DataFrame(columns=["rep", "month", "through"])
    # One row per rep-month, one column per name: each value lands in its cell by index.
    rep_months, row = np.unique(keys // _NAME_SLOTS, return_inverse=True)
    table = np.full((len(rep_months), len(names)), np.nan)
    table[row, keys % _NAME_SLOTS] = values
    pids, month_codes = np.divmod(rep_months, _MONTH_SLOTS)
    codes, month_index = np.unique(month_codes, return_inverse=True)
    month_names = np.array([f"{c // 12:04d}-{c % 12 + 1:02d}" for c in codes.tolist()], object)
    rep_ids, rep_index = np.unique(pids, return_inverse=True)
    rep_names = np.array([emails[pid] for pid in rep_ids.tolist()], object)
    wide = pd.DataFrame({"rep": rep_names[rep_index], "month": month_names[month_index]})
    wide[names] = table
    wide = wide.sort_values(["rep", "month"], ignore_index=True)
    through = {(emails[pid], month): day for pid, month, day in marks}
    wide["through"] = [through.get(key) for key in zip(wide["rep"], wide["month"], strict=True)]
    return wide


# Each stored value is read as two numbers: its value and one integer saying whose, which month
# and which count (person id, month index since year 0 and the count's place among the names,
# packed into one int64, exact as a float64 too since it stays below 2**53).
_NAME_SLOTS = 1 << 10
_MONTH_SLOTS = 1 << 16
_MONTH_CODE = (
    "(CAST(substr(month, 1, 4) AS INTEGER) * 12 + CAST(substr(month, 6, 2) AS INTEGER) - 1)"
)
_KEY = (
    f"(CAST(person_id AS BIGINT) * {_MONTH_SLOTS} + {_MONTH_CODE}) * {_NAME_SLOTS} + {{name_code}}"
)
_COPY_HEADER = 19  # signature (11 bytes), flags (4), header extension length (4)
_EMPTY = (np.empty(0, np.int64), np.empty(0, np.float64))


def _read_postgresql(
    conn: Connection, workspace_id: str
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The names and every (packed key, value), from one row per count name holding three
    arrays (person ids, months, values), copied out in binary.

    COPY sends one message per row, and each would be a Python object: sixteen rows of arrays
    are sixteen messages. In binary each array element is its 4-byte length and big-endian
    bytes, the same width for every element (months are always YYYY-MM), so numpy reads each
    array in place. The database does no work per value beyond gathering it.
    """
    query = (
        "COPY (SELECT name, array_agg(person_id), array_agg(month), array_agg(value) "
        "FROM metric_values WHERE workspace_id = %s GROUP BY name ORDER BY name) "
        "TO STDOUT (FORMAT BINARY)"
    )
    driver = conn.connection.driver_connection
    with driver.cursor() as cursor, cursor.copy(query, (workspace_id,)) as copy:  # type: ignore[union-attr]
        stream = memoryview(b"".join(copy))
    at = _COPY_HEADER + int.from_bytes(stream[_COPY_HEADER - 4 : _COPY_HEADER], "big")
    names: list[str] = []
    keys, values = [], []
    while int.from_bytes(stream[at : at + 2], "big", signed=True) != -1:  # -1 ends the stream
        at += 2
        cells = []
        for _ in range(4):
            length = int.from_bytes(stream[at : at + 4], "big")
            cells.append(stream[at + 4 : at + 4 + length])
            at += 4 + length
        pids = _pg_array(cells[1], ">i4").astype(np.int64)
        text = np.ascontiguousarray(_pg_array(cells[2], "S7")).view(np.uint8)
        digits = text.reshape(-1, 7).astype(np.int64) - 48  # YYYY-MM, as ASCII digits
        months = digits[:, :4] @ np.array([12_000, 1_200, 120, 12]) + digits[:, 5] * 10
        months += digits[:, 6] - 1
        keys.append((pids * _MONTH_SLOTS + months) * _NAME_SLOTS + len(names))
        values.append(_pg_array(cells[3], ">f8").astype(np.float64))
        names.append(bytes(cells[0]).decode())
    _check_names(names)
    if not names:
        return names, *_EMPTY
    return names, np.concatenate(keys), np.concatenate(values)


def _pg_array(data: memoryview, element: str) -> np.ndarray:
    """A one-dimensional array in PostgreSQL's binary format, its elements all `element` wide:
    a header (dimensions, null flag, element type, then size and lower bound per dimension),
    then each element's 4-byte length and bytes."""
    dimensions = int.from_bytes(data[:4], "big")
    count = int.from_bytes(data[12:16], "big") if dimensions else 0
    layout = np.dtype([("length", ">i4"), ("value", element)])
    cells = np.frombuffer(data, layout, count, offset=12 + 8 * dimensions)
    if (cells["length"] != layout["value"].itemsize).any():
        raise ValueError(f"metric_values holds an element that is not {element} wide")
    return cells["value"]


def _check_names(names: list[str]) -> None:
    if len(names) >= _NAME_SLOTS:
        raise ValueError(f"{len(names)} metric names: at most {_NAME_SLOTS - 1} can be read")


def _read_sqlite(conn: Connection, workspace_id: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The names and every (packed key, value). SQLite has no bulk export: each value comes
    back as a tuple of two numbers, the least a cursor can hand over, and numpy turns the list
    into arrays in one pass."""
    v = MetricValue.__table__.c
    names = sorted(
        conn.scalars(select(v.name).where(v.workspace_id == workspace_id).distinct()).all()
    )
    _check_names(names)
    if not names:
        return names, *_EMPTY
    cases = " ".join(f"WHEN ? THEN {code}" for code in range(len(names)))
    key = _KEY.format(name_code=f"CASE name {cases} END")
    known = ", ".join("?" * len(names))
    query = f"SELECT {key}, value FROM metric_values WHERE workspace_id = ? AND name IN ({known})"
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        rows = cursor.execute(query, (*names, workspace_id, *names)).fetchall()
    finally:
        cursor.close()
    pairs = np.array(rows, np.float64).reshape(-1, 2)
    return names, pairs[:, 0].astype(np.int64), pairs[:, 1]
