"""Stored monthly counts: one row per rep-month (`metric_months`) whose `counts` blob holds a
little-endian float64 per slot of the workspace's `metric_names`, NaN where there is no value.

A read of a whole workspace is a concatenation of blobs that numpy views as a matrix, with no
Python object per value; these helpers are the one place that knows the encoding.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from sqlalchemy import ColumnElement, Connection, func, insert, select, update
from sqlalchemy.orm import Session

from storage.models import MetricMonth, MetricName

COUNT = np.dtype("<f8")
WIDTH = COUNT.itemsize


def slots(db: Session | Connection, workspace_id: str) -> dict[str, int]:
    """The workspace's count names and their slots."""
    rows = db.execute(
        select(MetricName.name, MetricName.slot).where(MetricName.workspace_id == workspace_id)
    )
    return {name: slot for name, slot in rows}


def fresh_slots(known: dict[str, int], names: Iterable[str]) -> dict[str, int]:
    """The next free slots, for those of `names` that `known` lacks."""
    new = [name for name in dict.fromkeys(names) if name not in known]
    first = max(known.values(), default=-1) + 1
    return {name: first + i for i, name in enumerate(new)}


def save_slots(db: Session | Connection, workspace_id: str, fresh: dict[str, int]) -> None:
    """Record new names' slots (from `fresh_slots`)."""
    if fresh:
        rows = [{"workspace_id": workspace_id, "slot": s, "name": n} for n, s in fresh.items()]
        db.execute(insert(MetricName), rows)


def encode(row: np.ndarray) -> bytes:
    """One rep-month's blob from its values by slot (NaN: none)."""
    return np.ascontiguousarray(row, COUNT).tobytes()


def matrix(data: bytes | memoryview, lengths: np.ndarray, width: int) -> np.ndarray:
    """Blobs stored back to back in `data`, `lengths` bytes each, as a rows × `width` matrix
    (NaN past a blob's end: its month predates the slot). Vectorised: numpy gathers the bytes
    of each distinct length at once, and a workspace has a few at most."""
    rows = len(lengths)
    if rows and (lengths == width * WIDTH).all():
        return np.frombuffer(data, COUNT, rows * width).reshape(rows, width).copy()
    table = np.full((rows, width), np.nan)
    raw = np.frombuffer(data, np.uint8)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    for length in np.unique(lengths).tolist():
        count = min(length // WIDTH, width)
        if count == 0:
            continue
        chosen = np.flatnonzero(lengths == length)
        gather = starts[chosen, None] + np.arange(count * WIDTH)
        table[chosen, :count] = raw[gather].view(COUNT).reshape(len(chosen), count)
    return table


def blobs_matrix(blobs: Sequence[bytes], width: int) -> np.ndarray:
    """`matrix` of a list of blobs."""
    lengths = np.fromiter(map(len, blobs), np.int64, len(blobs))
    return matrix(b"".join(blobs), lengths, width)


def read_counts(
    session: Session, workspace_id: str, *where: ColumnElement[bool]
) -> dict[tuple[int, str], dict[str, float]]:
    """{(person id, month): {name: value}} of the workspace's rep-months that match `where`:
    for reads of a few thousand rep-months (a rep's history, a month's team totals)."""
    names = {slot: name for name, slot in slots(session, workspace_id).items()}
    rows = session.execute(
        select(MetricMonth.person_id, MetricMonth.month, MetricMonth.counts).where(
            MetricMonth.workspace_id == workspace_id, *where
        )
    ).all()
    table = blobs_matrix([blob for _, _, blob in rows], max(names, default=-1) + 1)
    return {
        (pid, month): {names[i]: v for i, v in enumerate(values) if v == v}  # NaN: none
        for (pid, month, _), values in zip(rows, table.tolist(), strict=True)
    }


def put_counts(
    session: Session, workspace_id: str, person_id: int, month: str, values: dict[str, float]
) -> None:
    """Store these values of one rep-month, keeping its others (for tests, seeds and tools;
    imports write in bulk)."""
    positions = slots(session, workspace_id)
    fresh = fresh_slots(positions, values)
    save_slots(session, workspace_id, fresh)
    positions.update(fresh)
    row = session.get(MetricMonth, (workspace_id, person_id, month))
    width = max(positions.values(), default=-1) + 1
    current = blobs_matrix([row.counts if row else b""], width)[0]
    for name, value in values.items():
        current[positions[name]] = value
    if row is None:
        session.add(
            MetricMonth(
                workspace_id=workspace_id, person_id=person_id, month=month, counts=encode(current)
            )
        )
    else:
        row.counts = encode(current)
    session.flush()


def latest_month(session: Session, workspace_id: str) -> str | None:
    """The latest month with any stored count."""
    return session.scalar(
        select(func.max(MetricMonth.month)).where(MetricMonth.workspace_id == workspace_id)
    )


def replace_counts(
    session: Session,
    workspace_id: str,
    values: dict[tuple[int, str], dict[str, float]],
    names: Sequence[str],
) -> None:
    """For each rep-month of `values`, store its values of `names` — none where it gives none —
    and keep the rep-month's other counts (a CRM's derived columns beside a CSV's quota)."""
    if not values:
        return
    positions = slots(session, workspace_id)
    fresh = fresh_slots(positions, [*names, *(n for v in values.values() for n in v)])
    save_slots(session, workspace_id, fresh)
    positions.update(fresh)
    width = max(positions.values()) + 1
    months = sorted({month for _, month in values})
    stored: dict[tuple[int, str], bytes] = {}
    for start in range(0, len(months), 50):
        rows = session.execute(
            select(MetricMonth.person_id, MetricMonth.month, MetricMonth.counts).where(
                MetricMonth.workspace_id == workspace_id,
                MetricMonth.month.in_(months[start : start + 50]),
            )
        )
        stored.update({(pid, month): blob for pid, month, blob in rows if (pid, month) in values})
    keys = sorted(values)
    table = blobs_matrix([stored.get(key, b"") for key in keys], width)
    table[:, [positions[name] for name in names]] = np.nan
    for i, key in enumerate(keys):
        for name, value in values[key].items():
            table[i, positions[name]] = value
    rows_of = [
        {"workspace_id": workspace_id, "person_id": pid, "month": month, "counts": encode(row)}
        for (pid, month), row in zip(keys, table, strict=True)
    ]
    changed = [row for row in rows_of if (row["person_id"], row["month"]) in stored]
    new = [row for row in rows_of if (row["person_id"], row["month"]) not in stored]
    if changed:
        session.execute(update(MetricMonth), changed)
    if new:
        session.execute(insert(MetricMonth), new)
