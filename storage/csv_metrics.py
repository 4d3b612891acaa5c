"""`coach import metrics`: monthly funnel counts per rep, checked as a whole, then merged.

Values are stored long (one row per rep, month and count) and a big file holds millions of them,
so this module parses column by column, compares with what is stored in one grouped query, and
inserts with multi-row statements straight through the driver.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sqlalchemy import Connection, Table, bindparam, delete, func, literal, select
from sqlalchemy.orm import Session

from storage.csv_common import (
    CsvTable,
    ImportResult,
    Problems,
    Progress,
    bump_data_version,
    check_header,
    ensure_workspace,
    paused_gc,
    read_csv,
)
from storage.models import MetricValue, Person

METRICS_REQUIRED = ("month", "rep_email")
PROGRESS_EVERY = 5_000  # CSV rows written between progress reports
_ROWS_PER_INSERT = 400  # 2,000 parameters: far below SQLite's 32,766 and PostgreSQL's 65,535

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_VALUES: Table = MetricValue.__table__  # type: ignore[assignment]

Key = tuple[int, str]  # (person id, month)
Values = tuple[float | None, ...]  # one per count column of the file, sorted by name


def import_metrics(
    session: Session,
    workspace_id: str,
    path: Path,
    columns: Sequence[str],
    progress: Progress | None = None,
) -> ImportResult:
    """Import the monthly counts CSV at `path` into `workspace_id`, all or nothing.

    `columns` are the known count columns (the metric catalogue's). Each row is one rep's month;
    a row already stored takes the file's values for the columns the file has: columns the file
    lacks keep their stored values, and an empty cell is a missing value, so it removes the one
    stored (never a zero). Any person of the org chart may have rows, inactive ones included.
    Raises CsvImportError, having written nothing, when anything in the file is wrong.
    """
    with paused_gc():
        return _import(session, workspace_id, path, columns, progress)


def _import(
    session: Session,
    workspace_id: str,
    path: Path,
    columns: Sequence[str],
    progress: Progress | None,
) -> ImportResult:
    problems = Problems()
    table = read_csv(path, problems)
    known = dict.fromkeys([*METRICS_REQUIRED, *columns])
    if table is None or not check_header(table, METRICS_REQUIRED, known, problems):
        problems.raise_if_any()
    assert table is not None  # for the type checker: a missing table always raised above
    # Sorted by name, like the primary key, so inserts append to the B-tree in order.
    counts = sorted(name for name in set(table.header) - set(METRICS_REQUIRED) if name in known)
    if not counts and set(table.header) <= set(METRICS_REQUIRED):
        problems.add(
            table.header_line, None, f"no count columns: expected some of {', '.join(columns)}"
        )
    people = {
        email.lower(): pid
        for email, pid in session.execute(
            select(Person.email, Person.id).where(Person.workspace_id == workspace_id)
        )
    }
    transposed = list(zip(*table.rows, strict=True)) or [()] * len(table.header)
    cells_by_column = dict(zip(table.header, transposed, strict=True))
    keys = _check_keys(table, cells_by_column, people, problems)
    parsed = [_column(cells_by_column[name], name, table.lines, problems) for name in counts]
    problems.raise_if_any()

    workspace = ensure_workspace(session, workspace_id)
    values: list[Values] = list(zip(*parsed, strict=True))  # parsed has a column: checked above
    stored = _stored(session, workspace_id, sorted({month for _, month in keys}), counts)
    rows = sorted(zip(keys, values, strict=True))  # primary-key order, as counts are
    total = len(rows)
    if progress:
        progress(0, total)
    connection = session.connection()
    new = updated = 0
    months: set[str] = set()
    for start in range(0, total, PROGRESS_EVERY):
        changed: list[tuple[Key, Values]] = []
        replaced: list[Key] = []
        for key, wanted in rows[start : start + PROGRESS_EVERY]:
            before = stored.get(key)
            if before == wanted or (before is None and wanted.count(None) == len(wanted)):
                continue
            changed.append((key, wanted))
            months.add(key[1])
            if before is None:
                new += 1
            else:
                updated += 1
                replaced.append(key)
        _delete(connection, workspace_id, replaced, counts)
        _insert(connection, workspace_id, changed, counts)
        if progress:
            progress(min(start + PROGRESS_EVERY, total), total)
    if new or updated:
        bump_data_version(workspace)
        session.flush()
    return ImportResult(
        rows=total,
        new=new,
        updated=updated,
        unchanged=total - new - updated,
        months=sorted(months),
    )


def _check_keys(
    table: CsvTable,
    cells_by_column: dict[str, tuple[str, ...]],
    people: dict[str, int],
    problems: Problems,
) -> list[Key]:
    """Each row's (person id, month); rows with problems get a key no one has."""
    month_problem: dict[str, str | None] = {}  # a file has few distinct months: check each once
    first_line: dict[tuple[str, str], int] = {}
    keys: list[Key] = []
    months, emails = cells_by_column.get("month", ()), cells_by_column.get("rep_email", ())
    for line, month_cell, email_cell in zip(table.lines, months, emails, strict=True):
        month, email = month_cell.strip(), email_cell.strip().lower()
        if month not in month_problem:
            month_problem[month] = _month_problem(month)
        if problem := month_problem[month]:
            problems.add(line, "month", problem)
        pid = people.get(email)
        if not email:
            problems.add(line, "rep_email", "empty required value")
        elif pid is None:
            problems.add(line, "rep_email", f"{email} is not in the org chart (import it first)")
        if month and email:
            first = first_line.setdefault((email, month), line)
            if first != line:
                problems.add(line, None, f"{email} {month} appears twice (first on line {first})")
        keys.append((-1 if pid is None else pid, month))
    return keys


def _month_problem(month: str) -> str | None:
    if not month:
        return "empty required value"
    if _MONTH.match(month):
        return None
    if re.match(r"^\d{4}-\d{2}-\d{2}$", month):  # a spreadsheet turned the month into a date
        return f"{month!r} is a date, not a YYYY-MM month (write {month[:7]})"
    return f"{month!r} is not a YYYY-MM month"


def _column(
    cells: Sequence[str], name: str, lines: list[int], problems: Problems
) -> list[float | None]:
    """One column's cells as numbers (None when empty), noting each cell that isn't a count."""
    values = _plain_numbers(cells)
    if values is not None:
        numbers = np.array(values, dtype=np.float64)  # None → nan
        if (
            int(np.isfinite(numbers).sum()) == len(values) - values.count(None)
            and not (numbers < 0).any()
            and "_" not in "".join(cells)  # float() takes "1_000"; people don't write it
        ):
            return values
    values = []
    for cell, line in zip(cells, lines, strict=True):
        value = _count(cell.strip())
        if isinstance(value, str):
            problems.add(line, name, value)
            value = None
        values.append(value)
    return values


def _plain_numbers(cells: Sequence[str]) -> list[float | None] | None:
    """The common case at C speed: a column of plain numbers, perhaps with empty cells."""
    try:
        return list(map(float, cells))
    except ValueError:
        pass
    try:
        return [float(cell) if cell else None for cell in cells]
    except ValueError:
        return None


def _count(text: str) -> float | None | str:
    """The cell as a count: a number, None when empty, or what is wrong with it."""
    if not text:
        return None
    plain = text.replace(",", "") if _THOUSANDS.match(text) else text
    try:
        value = float(plain) if "_" not in plain else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        return f"{text!r} is not a number"
    if value < 0:
        return f"{text} is negative, and counts can't be"
    return value


def _stored(
    session: Session, workspace_id: str, months: list[str], counts: list[str]
) -> dict[Key, Values]:
    """What is stored for the file's months: every (rep, month) with any value, as a tuple of
    the file's columns (None where absent), pivoted by the database in one grouped query."""
    if not months:
        return {}
    v = _VALUES.c
    # FILTER rather than CASE: faster on SQLite, and a re-import spends most of its time here.
    pivot = [func.max(v.value).filter(v.name == name) for name in counts]
    query = (
        select(v.person_id, v.month, *pivot)
        .where(v.workspace_id == workspace_id, v.month.in_(months))
        .group_by(v.person_id, v.month)
    )
    return {(pid, month): tuple(rest) for pid, month, *rest in session.execute(query)}


def _delete(connection: Connection, workspace_id: str, keys: list[Key], counts: list[str]) -> None:
    """Remove the file's columns of these (rep, month)s, before their new values go in."""
    if not keys:
        return
    v = _VALUES.c
    statement = delete(_VALUES).where(
        v.workspace_id == workspace_id,
        v.person_id == bindparam("pid"),
        v.month == bindparam("mon"),
        # Bound one by one: an expanding IN can't be used with executemany.
        v.name.in_([literal(name) for name in counts]),
    )
    connection.execute(statement, [{"pid": pid, "mon": month} for pid, month in keys])


def _insert(
    connection: Connection, workspace_id: str, rows: list[tuple[Key, Values]], counts: list[str]
) -> None:
    """Insert the rows' values with multi-row INSERTs straight through the driver.

    At two million values, Core's per-row parameter handling costs more than SQLite's own work,
    and a statement per value pays the statement overhead each time: this is ~3× faster.
    """
    flat = [
        param
        for (pid, month), values in rows
        for name, value in zip(counts, values, strict=True)
        if value is not None
        for param in (workspace_id, pid, month, name, value)
    ]
    if not flat:
        return
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    row = f"({', '.join([marker] * 5)})"
    head = f"INSERT INTO {_VALUES.name} (workspace_id, person_id, month, name, value) VALUES "
    size = _ROWS_PER_INSERT * 5
    full = len(flat) - len(flat) % size
    if full:
        batches = [tuple(flat[i : i + size]) for i in range(0, full, size)]
        connection.exec_driver_sql(head + ", ".join([row] * _ROWS_PER_INSERT), batches)
    if full < len(flat):
        connection.exec_driver_sql(
            head + ", ".join([row] * ((len(flat) - full) // 5)), tuple(flat[full:])
        )
