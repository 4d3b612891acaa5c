"""`coach import metrics`: monthly funnel counts per rep, checked as a whole, then merged.

Values are stored long (one row per rep, month and count) and a big file holds millions of them,
so this module parses column by column, compares with what is stored in one grouped query, and
writes in bulk in the import's one transaction: on PostgreSQL through COPY into temporary tables
and a set-based merge, on SQLite with multi-row statements prepared once, straight through the
driver.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from pathlib import Path

import numpy as np
from sqlalchemy import Connection, Table, bindparam, delete, func, insert, literal, select
from sqlalchemy.orm import Session

from analytics.catalogue import Catalogue, Constraint
from analytics.crm_metrics import FUNNEL_COLUMNS
from storage.crm import crm_months
from storage.csv_common import (
    MONTH,
    CsvTable,
    ImportResult,
    Problems,
    Progress,
    bump_data_version,
    cell_number,
    check_header,
    check_text,
    ensure_workspace,
    month_problem,
    paused_gc,
    read_csv,
)
from storage.models import MetricValue, PartialMonth, Person

METRICS_REQUIRED = ("month", "rep_email")
# The last day a month-to-date row covers; empty (or no such column) means the whole month.
THROUGH = "through"
PROGRESS_EVERY = 5_000  # CSV rows written between progress reports
_ANALYZE_AFTER = 100_000  # values written by one PostgreSQL import
_ROWS_PER_INSERT = 400  # 2,000 parameters: far below SQLite's 32,766 and PostgreSQL's 65,535

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_VALUES: Table = MetricValue.__table__  # type: ignore[assignment]
_PARTIAL: Table = PartialMonth.__table__  # type: ignore[assignment]
# No rep-month reaches a trillion of anything, in any currency (¥1e12 is about $7bn): a bigger
# number is a typo, an exponent like 1e308 or a spreadsheet overflow, and would swamp every sum.
MAX_VALUE = 1e12

# What to do about a month after the latest allowed one.
_AHEAD = "to load quotas ahead, set COACH_MONTHS_AHEAD"

Key = tuple[int, str]  # (person id, month)
Values = tuple[float | None, ...]  # one per count column of the file, sorted by name


def import_metrics(
    session: Session,
    workspace_id: str,
    path: Path,
    catalogue: Catalogue,
    progress: Progress | None = None,
    months_ahead: int = 0,
) -> ImportResult:
    """Import the monthly counts CSV at `path` into `workspace_id`, all or nothing.

    The catalogue says which count columns exist, which are amounts (the rest take whole
    numbers) and which constraints the numbers meet. Each row is one rep's month; a row already
    stored takes the file's values for the columns the file has: columns the file lacks keep
    their stored values, and an empty cell is a missing value, so it removes the one stored
    (never a zero). An optional `through` date (inside the row's month) marks a month-to-date
    row; a row without one is the full month, and clears the mark a month-to-date import left.
    The constraints are checked on the rows as they would be stored. Months may
    be at most `months_ahead` after the current one. Any person of the org chart may have rows,
    inactive ones included. Raises CsvImportError, having written nothing, when anything in the
    file is wrong.
    """
    with paused_gc():
        return _import(session, workspace_id, path, catalogue, progress, months_ahead)


def latest_month(months_ahead: int = 0, now: datetime | None = None) -> str:
    """The last month a file may give: `months_ahead` after the current month where it is
    latest on Earth (UTC+14), so no one's file is refused on the first of their month."""
    at = (now or datetime.now(UTC)).astimezone(UTC) + timedelta(hours=14)
    index = at.year * 12 + at.month - 1 + months_ahead
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _import(
    session: Session,
    workspace_id: str,
    path: Path,
    catalogue: Catalogue,
    progress: Progress | None,
    months_ahead: int,
) -> ImportResult:
    problems = Problems()
    table = read_csv(path, problems)
    columns = catalogue.columns
    known = dict.fromkeys([*METRICS_REQUIRED, THROUGH, *columns])
    if table is None or not check_header(table, METRICS_REQUIRED, known, problems):
        problems.raise_if_any()
    assert table is not None  # for the type checker: a missing table always raised above
    check_text(table, problems)
    # Sorted by name, like the primary key, so inserts append to the B-tree in order.
    keys_and_through = {*METRICS_REQUIRED, THROUGH}
    counts = sorted(name for name in set(table.header) - keys_and_through if name in known)
    if not counts and set(table.header) <= keys_and_through:
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
    keys = _check_keys(table, cells_by_column, people, latest_month(months_ahead), problems)
    throughs = _check_through(table, cells_by_column, problems)
    _check_crm_months(session, workspace_id, table, keys, counts, problems)
    amounts = set(catalogue.amounts)
    parsed = [
        _column(cells_by_column[name], name, name not in amounts, table.lines, problems)
        for name in counts
    ]
    # Constraints that the file's columns touch (a file without wins can't break a rule on wins);
    # their other columns come from what is stored, so the rows are checked as they'll be stored.
    checks = [c for c in catalogue.constraints if c.columns & set(counts)]
    extra = sorted({name for c in checks for name in c.columns} - set(counts))
    pooled = any(c.pooled for c in checks)
    months = None if pooled else sorted({month for _, month in keys})
    stored = _stored(session, workspace_id, months, [*counts, *extra])
    if checks:
        _check_constraints(checks, catalogue, keys, counts, parsed, extra, stored, table, problems)
    problems.raise_if_any()

    workspace = ensure_workspace(session, workspace_id)
    marked = _stored_through(session, workspace_id, sorted({month for _, month in keys}))
    values: list[Values] = list(zip(*parsed, strict=True))  # parsed has a column: checked above
    rows = sorted(zip(keys, values, throughs, strict=True))  # primary-key order, as counts are
    total = len(rows)
    if progress:
        progress(0, total)
    connection = session.connection()
    writer = _CopyWriter(connection, workspace_id, counts) if _copies(connection) else None
    new = updated = 0
    months: set[str] = set()
    for start in range(0, total, PROGRESS_EVERY):
        changed: list[tuple[Key, Values]] = []
        replaced: list[Key] = []
        remarked: list[tuple[Key, date | None]] = []
        for key, wanted, through in rows[start : start + PROGRESS_EVERY]:
            before = stored.get(key)
            if extra and before is not None:
                before = before[: len(counts)]  # the constraints' other columns aren't written
            nothing = before is None and wanted.count(None) == len(wanted)  # and nothing to store
            same = nothing or before == wanted
            same_through = nothing or marked.get(key) == through
            if same and same_through:
                continue
            months.add(key[1])
            if before is None:
                new += 1
            else:
                updated += 1
            if not same:
                changed.append((key, wanted))
                if before is not None:
                    replaced.append(key)
            if not same_through:
                remarked.append((key, through))
        if writer:
            writer.stage(replaced, changed)
        else:
            _delete(connection, workspace_id, replaced, counts)
            _insert(connection, workspace_id, changed, counts)
        _mark(connection, workspace_id, remarked)
        if progress:
            progress(min(start + PROGRESS_EVERY, total), total)
    if writer:
        writer.merge()
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
    latest: str,
    problems: Problems,
) -> list[Key]:
    """Each row's (person id, month); rows with problems get a key no one has."""
    month_problems: dict[str, str | None] = {}  # a file has few distinct months: check each once
    first_line: dict[tuple[str, str], int] = {}
    keys: list[Key] = []
    months, emails = cells_by_column.get("month", ()), cells_by_column.get("rep_email", ())
    for line, month_cell, email_cell in zip(table.lines, months, emails, strict=True):
        month, email = month_cell.strip(), email_cell.strip().lower()
        if month not in month_problems:
            month_problems[month] = month_problem(month, latest, _AHEAD)
        if problem := month_problems[month]:
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


def _check_crm_months(
    session: Session,
    workspace_id: str,
    table: CsvTable,
    keys: list[Key],
    counts: list[str],
    problems: Problems,
) -> None:
    """The CRM wins: in a month whose counts come from a CRM, a file can't give (or empty) a
    column the CRM derives; it can still give the others (quota, contacts, accounts)."""
    derived = [name for name in counts if name in FUNNEL_COLUMNS]
    if not derived:
        return
    owned = crm_months(session, workspace_id)
    if not owned:
        return
    for line, (_, month) in zip(table.lines, keys, strict=True):
        source = owned.get(month)
        if source is not None:
            problems.add(
                line,
                derived[0],
                f"{month}'s {', '.join(derived)} come from {source} (coach sync {source}): "
                "the CRM's counts win; drop these columns or this month's rows",
            )


def _check_through(
    table: CsvTable, cells_by_column: dict[str, tuple[str, ...]], problems: Problems
) -> list[date | None]:
    """Each row's `through` date (None: the full month), noting dates that aren't one or fall
    outside the row's month."""
    cells = cells_by_column.get(THROUGH)
    if cells is None:
        return [None] * len(table.lines)
    throughs: list[date | None] = []
    months = cells_by_column.get("month", ())
    for line, cell, month_cell in zip(table.lines, cells, months, strict=True):
        text, month = cell.strip(), month_cell.strip()
        day = None
        if text:
            try:
                day = date.fromisoformat(text) if _DAY.match(text) else None
            except ValueError:
                day = None
            if day is None:
                problems.add(line, THROUGH, f"{text!r} is not a YYYY-MM-DD date")
            elif MONTH.match(month) and text[:7] != month:
                problems.add(
                    line,
                    THROUGH,
                    f"{text} is not in {month}: through is the last day the row's counts cover",
                )
        throughs.append(day)
    return throughs


def _column(
    cells: Sequence[str], name: str, whole: bool, lines: list[int], problems: Problems
) -> list[float | None]:
    """One column's cells as numbers (None when empty), noting each cell that isn't a count
    (a whole number when `whole`) or an amount."""
    values = _plain_numbers(cells)
    if values is not None:
        numbers = np.array(values, dtype=np.float64)  # None → nan
        given = numbers[np.isfinite(numbers)]
        if (
            len(given) == len(values) - values.count(None)
            and not (given < 0).any()
            and not (given > MAX_VALUE).any()
            and not (whole and (given != np.floor(given)).any())
            and "_" not in "".join(cells)  # float() takes "1_000"; people don't write it
        ):
            return values
    values = []
    for cell, line in zip(cells, lines, strict=True):
        value = _count(cell.strip(), name, whole)
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


def _count(text: str, name: str, whole: bool) -> float | None | str:
    """The cell as a number, None when empty, or what is wrong with it."""
    if not text:
        return None
    value = cell_number(text)
    if not math.isfinite(value):
        return f"{text!r} is not a number"
    if value < 0:
        return f"{text} is negative, and {'counts' if whole else 'amounts'} can't be"
    if value > MAX_VALUE:
        return f"{text} is more than {MAX_VALUE:,.0f}: too big for one rep's month"
    if whole and not value.is_integer():
        return f"{text} is not a whole number, and {name} is a count"
    return value


def _check_constraints(
    checks: list[Constraint],
    catalogue: Catalogue,
    keys: list[Key],
    counts: list[str],
    parsed: list[list[float | None]],
    extra: list[str],
    stored: dict[Key, Values],
    table: CsvTable,
    problems: Problems,
) -> None:
    """Note every row (or rep, for pooled checks) whose numbers, as they would be stored, break
    one of the catalogue's constraints. Missing values leave a row out of a check, except in
    the zero-if-missing columns (no inherited deals is none)."""
    needed = {name for check in checks for name in check.columns}
    # Rows as they will be stored: the file's rows (the file's columns, then the stored ones it
    # lacks), then, for pooled checks, the rep's other stored months (`stored` has them all).
    pooled = any(check.pooled for check in checks)
    others = sorted(stored.keys() - set(keys)) if stored and pooled else []
    every = [*keys, *others]
    blank: Values = (None,) * (len(counts) + len(extra))
    values: dict[str, np.ndarray] = {}
    for j, name in enumerate([*counts, *extra]):
        if name not in needed:
            continue
        given = parsed[j] if j < len(counts) else [stored.get(key, blank)[j] for key in keys]
        values[name] = np.array([*given, *(stored[key][j] for key in others)], dtype=np.float64)
    pids = np.fromiter(map(itemgetter(0), every), np.int64, len(every))
    rows = len(keys)  # the first `rows` entries are the file's
    reps, group = np.unique(pids, return_inverse=True)
    zero = set(catalogue.zero_if_missing)
    for check in checks:
        where = _where(check, counts)
        left, right = (_side(terms, values, zero, len(every)) for terms in check.sides)
        broken = left - right > _tolerance(left, right)
        if not check.pooled:
            for i in np.flatnonzero(broken[:rows]):
                problems.add(table.lines[i], where, _broken(check, left[i], right[i]))
            continue
        used = ~np.isnan(left) & ~np.isnan(right) & (pids >= 0)
        totals = [np.bincount(group, np.where(used, x, 0.0), len(reps)) for x in (left, right)]
        touched = np.bincount(group[:rows], used[:rows], len(reps)) > 0  # reps the file changes
        excess = left - right
        for r in np.flatnonzero(touched & (totals[0] - totals[1] > _tolerance(*totals))):
            mine = np.flatnonzero((group == r) & used)
            worst = every[mine[np.argmax(excess[mine])]][1]  # the month most likely the typo's
            # Reported on the rep's file row with most excess: that is where to look first.
            in_file = mine[mine < rows]
            at = in_file[np.argmax(excess[in_file])]
            month = keys[at][1]
            most = "" if worst == month else f"; the most in {worst}"
            figures = (
                f"over this rep's {len(mine)} month{'s' if len(mine) > 1 else ''} on record "
                f"({month}: {_amount(check.sides[0], left[at])} and "
                f"{_amount(check.sides[1], right[at])}{most})"
            )
            problems.add(
                table.lines[at], where, _broken(check, totals[0][r], totals[1][r], figures)
            )


def _side(
    terms: dict[str, float], values: dict[str, np.ndarray], zero: set[str], size: int
) -> np.ndarray:
    """One side of a check for every row: NaN where a value it needs is missing."""
    total = np.zeros(size)
    for name, coefficient in terms.items():
        column = values[name]
        total += coefficient * (np.nan_to_num(column) if name in zero else column)
    return total


def _tolerance(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """What float sums may be off by: amounts like 41,500.50 are not exact in binary."""
    return 1e-9 * (np.abs(left) + np.abs(right)) + 1e-9


def _where(check: Constraint, counts: list[str]) -> str | None:
    """The column to point at: the check's first left-side column the file gives, else the
    first right-side one (a re-import may give only demos, making stored wins too many)."""
    left, right = check.sides
    for name in [*left, *right]:
        if name in counts:
            return name
    return None


def _broken(check: Constraint, left: float, right: float, pooled: str = "") -> str:
    """`9 wins but 3 demos — a rep's own wins … can't exceed their demos`, for sales ops;
    `pooled` says over which months the figures were added up."""
    left_terms, right_terms = check.sides
    reason = check.reason or f"{_say(left_terms)} can't be more than {_say(right_terms)}"
    figures = f"{_amount(left_terms, left)} but {_amount(right_terms, right)}"
    return f"{figures} {pooled} — {reason}" if pooled else f"{figures} — {reason}"


def _say(terms: dict[str, float]) -> str:
    """`wins − inherited_wins`, as the catalogue wrote it but with a real minus sign."""
    text = ""
    for name, coefficient in terms.items():
        sign = "−" if coefficient < 0 else "+"
        size = abs(coefficient)
        term = name if size == 1 else f"{size:g} × {name}"
        text = term if not text and sign == "+" else f"{text} {sign} {term}".strip()
    return text


def _amount(terms: dict[str, float], value: float) -> str:
    """`9 wins`, or `wins − inherited_wins = 9` when the side is more than one column."""
    number = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    if len(terms) == 1 and next(iter(terms.values())) == 1:
        return f"{number} {next(iter(terms))}"
    return f"{_say(terms)} = {number}"


def _stored(
    session: Session, workspace_id: str, months: list[str] | None, counts: list[str]
) -> dict[Key, Values]:
    """What is stored for `months` (None: every month): each (rep, month) with any value, as a
    tuple of `counts` (None where absent), pivoted by the database in one grouped query."""
    if months is not None and not months:
        return {}
    v = _VALUES.c
    # FILTER rather than CASE: faster on SQLite, and a re-import spends most of its time here.
    pivot = [func.max(v.value).filter(v.name == name) for name in counts]
    where = [v.workspace_id == workspace_id]
    if months is not None:
        where.append(v.month.in_(months))
    query = select(v.person_id, v.month, *pivot).where(*where).group_by(v.person_id, v.month)
    return {(pid, month): tuple(rest) for pid, month, *rest in session.execute(query)}


def _stored_through(session: Session, workspace_id: str, months: list[str]) -> dict[Key, date]:
    """The month-to-date marks stored for `months`: (rep, month) → through."""
    if not months:
        return {}
    p = _PARTIAL.c
    query = select(p.person_id, p.month, p.through).where(
        p.workspace_id == workspace_id, p.month.in_(months)
    )
    return {(pid, month): through for pid, month, through in session.execute(query)}


def _mark(connection: Connection, workspace_id: str, marks: list[tuple[Key, date | None]]) -> None:
    """Set each (rep, month)'s month-to-date mark: a date marks it partial, None clears it."""
    if not marks:
        return
    p = _PARTIAL.c
    connection.execute(
        delete(_PARTIAL).where(
            p.workspace_id == workspace_id,
            p.person_id == bindparam("pid"),
            p.month == bindparam("mon"),
        ),
        [{"pid": pid, "mon": month} for (pid, month), _ in marks],
    )
    partial = [
        {"workspace_id": workspace_id, "person_id": pid, "month": month, "through": through}
        for (pid, month), through in marks
        if through is not None
    ]
    if partial:
        connection.execute(insert(_PARTIAL), partial)


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


def _copies(connection: Connection) -> bool:
    """Whether the connection takes COPY (PostgreSQL through psycopg 3)."""
    return connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg"


class _CopyWriter:
    """PostgreSQL's bulk path: the rows to replace and the values to insert are COPYed into
    temporary tables, then merged into metric_values by two set-based statements in the
    import's transaction (all or nothing, like every import). Multi-row INSERTs made the server
    parse and plan every batch: a 120,000-row file took about a minute."""

    def __init__(self, connection: Connection, workspace_id: str, counts: list[str]) -> None:
        self.connection, self.workspace_id, self.counts = connection, workspace_id, counts
        self.driver = connection.connection.driver_connection
        self.staged = 0
        connection.exec_driver_sql(
            "CREATE TEMPORARY TABLE import_replaced (person_id integer, month varchar(7)) "
            "ON COMMIT DROP"
        )
        connection.exec_driver_sql(
            "CREATE TEMPORARY TABLE import_values (person_id integer, month varchar(7), "
            "name varchar(64), value double precision) ON COMMIT DROP"
        )

    def stage(self, replaced: list[Key], changed: list[tuple[Key, Values]]) -> None:
        """Copy these keys (their file columns to be removed) and values (to be inserted)."""
        with self.driver.cursor() as cursor:
            if replaced:
                with cursor.copy("COPY import_replaced (person_id, month) FROM STDIN") as copy:
                    for key in replaced:
                        copy.write_row(key)
            if changed:
                statement = "COPY import_values (person_id, month, name, value) FROM STDIN"
                with cursor.copy(statement) as copy:
                    for (pid, month), values in changed:
                        for name, value in zip(self.counts, values, strict=True):
                            if value is not None:
                                copy.write_row((pid, month, name, value))
                                self.staged += 1

    def merge(self) -> None:
        """Remove the replaced rows' file columns, then insert every staged value."""
        self.connection.exec_driver_sql(
            "DELETE FROM metric_values AS v USING import_replaced AS r "
            "WHERE v.workspace_id = %(ws)s AND v.person_id = r.person_id AND v.month = r.month "
            "AND v.name = ANY(%(names)s)",
            {"ws": self.workspace_id, "names": self.counts},
        )
        self.connection.exec_driver_sql(
            "INSERT INTO metric_values (workspace_id, person_id, month, name, value) "
            "SELECT %(ws)s, person_id, month, name, value FROM import_values",
            {"ws": self.workspace_id},
        )
        if self.staged >= _ANALYZE_AFTER:
            # Fresh statistics now, not when autovacuum comes round: the planner otherwise
            # plans the next reads for the few thousand rows it last knew of.
            self.connection.exec_driver_sql("ANALYZE metric_values")
        self.connection.exec_driver_sql("DROP TABLE import_replaced, import_values")
