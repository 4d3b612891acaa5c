"""CSV imports of the org chart and monthly metrics: check everything, then write all or nothing.

Both files are read the way spreadsheets write them (UTF-8 with or without BOM, CRLF, quoted
fields, padded cells, `"1,200"`), every problem is collected with its line and column, and the
database is written only when there is none. Writes only touch what changed, so importing the
same file twice leaves the database as it was.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import ROLES, Person, Workspace

MAX_LISTED = 50
PROGRESS_EVERY = 5_000
ORG_REQUIRED = ("email", "name", "role")
ORG_COLUMNS = (*ORG_REQUIRED, "manager_email", "segment", "slack_user_id", "timezone", "start_date")
METRICS_REQUIRED = ("month", "rep_email")

_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")

Progress = Callable[[int, int], None]


class Problem(BaseModel):
    """One thing wrong with an input file, where a spreadsheet user can find it."""

    line: int | None = None
    column: str | None = None
    message: str

    def __str__(self) -> str:
        where = [f"line {self.line}"] if self.line is not None else []
        if self.column:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class CsvImportError(Exception):
    """The file has problems; nothing was written."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        self.total = len(problems)
        lines = [str(p) for p in problems[:MAX_LISTED]]
        if self.total > MAX_LISTED:
            lines.append(f"… and {self.total - MAX_LISTED:,} more problems")
        super().__init__("\n".join(lines))


class ImportResult(BaseModel):
    """What an import did, counted per CSV row."""

    rows: int
    new: int
    updated: int
    unchanged: int
    deactivated: int = 0

    def summary(self) -> str:
        """`imported 120,000 rows: 118,000 new, 2,000 updated, 0 unchanged`."""
        text = (
            f"imported {self.rows:,} rows: {self.new:,} new, {self.updated:,} updated, "
            f"{self.unchanged:,} unchanged"
        )
        return text + (f"; {self.deactivated:,} marked inactive" if self.deactivated else "")


@dataclass
class _Table:
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (first physical line, cells)


def _read(path: Path, problems: list[Problem]) -> _Table | None:
    """Decode and split a CSV file; None (with a problem) when it can't be read as one."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.append(
            Problem(line=line, message="not UTF-8 text: save the file as CSV UTF-8 and try again")
        )
        return None
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    try:
        header = next(reader)
    except StopIteration:
        problems.append(Problem(message="the file is empty: expected a header line"))
        return None
    except csv.Error as exc:
        problems.append(Problem(line=1, message=f"not readable as CSV ({exc})"))
        return None
    rows: list[tuple[int, list[str]]] = []
    line = reader.line_num + 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append((line, [cell.strip() for cell in cells]))
            line = reader.line_num + 1
    except csv.Error as exc:
        problems.append(Problem(line=line, message=f"not readable as CSV ({exc})"))
        return None
    return _Table([h.strip().lower() for h in header], rows)


def _check_header(
    header: list[str], required: Sequence[str], known: Sequence[str], problems: list[Problem]
) -> None:
    seen: set[str] = set()
    for name in header:
        if not name:
            problems.append(Problem(line=1, message="a column has no name"))
        elif name in seen:
            problems.append(Problem(line=1, column=name, message="column appears twice"))
        elif name not in known:
            hint = difflib.get_close_matches(name, known, n=1)
            tip = f" — did you mean {hint[0]}?" if hint else f" (known: {', '.join(known)})"
            problems.append(Problem(line=1, column=name, message=f"unknown column{tip}"))
        seen.add(name)
    for name in required:
        if name not in header:
            problems.append(Problem(line=1, column=name, message="required column is missing"))


def _cells(table: _Table) -> Iterator[tuple[int, dict[str, str], int]]:
    """Each row as {column: cell}, with its line and how many cells it had."""
    width = len(table.header)
    for line, cells in table.rows:
        yield (
            line,
            dict(zip(table.header, cells + [""] * (width - len(cells)), strict=False)),
            len(cells),
        )


def _ensure_workspace(session: Session, workspace_id: str) -> Workspace:
    workspace = session.get(Workspace, workspace_id)
    if workspace is None:
        workspace = Workspace(id=workspace_id, data_version=0)
        session.add(workspace)
        session.flush()
    return workspace


def _bump(session: Session, workspace_id: str) -> None:
    session.execute(
        update(Workspace)
        .where(Workspace.id == workspace_id)
        .values(data_version=Workspace.data_version + 1)
    )


# ----------------------------------------------------------------------------- org chart


@dataclass
class _OrgRow:
    line: int
    email: str
    name: str
    role: str
    manager_email: str | None
    segment: str | None
    slack_user_id: str | None
    timezone: str | None
    start_date: date | None


def _parse_org(table: _Table, problems: list[Problem]) -> list[_OrgRow]:
    rows: list[_OrgRow] = []
    first_line: dict[str, int] = {}
    width = len(table.header)
    for line, cell, count in _cells(table):
        if count > width:
            problems.append(Problem(line=line, message=f"{count} cells but {width} columns"))
            continue
        ok = True
        for column in ORG_REQUIRED:
            if not cell.get(column):
                problems.append(Problem(line=line, column=column, message="empty required value"))
                ok = False
        email = cell.get("email", "").lower()
        if email and not _EMAIL.match(email):
            problems.append(Problem(line=line, column="email", message=f"{email!r} is no email"))
            ok = False
        elif email in first_line:
            problems.append(
                Problem(
                    line=line,
                    column="email",
                    message=f"{email} appears twice (first on line {first_line[email]})",
                )
            )
            ok = False
        role = cell.get("role", "").lower()
        if role and role not in ROLES:
            problems.append(
                Problem(
                    line=line,
                    column="role",
                    message=f"unknown role {role!r} ({', '.join(ROLES)})",
                )
            )
            ok = False
        manager = cell.get("manager_email", "").lower() or None
        if role in ("rep", "manager") and not manager:
            problems.append(
                Problem(line=line, column="manager_email", message=f"a {role} needs a manager")
            )
            ok = False
        if manager and manager == email:
            problems.append(
                Problem(line=line, column="manager_email", message="reports to themselves")
            )
            ok = False
        zone = cell.get("timezone") or None
        if zone:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                problems.append(
                    Problem(
                        line=line,
                        column="timezone",
                        message=f"{zone!r} is not an IANA time zone (e.g. Europe/Berlin)",
                    )
                )
                ok = False
        start = _parse_date(cell.get("start_date", ""), line, problems)
        if start is False:
            ok = False
        if email:
            first_line.setdefault(email, line)
        if ok:
            rows.append(
                _OrgRow(
                    line,
                    email,
                    cell["name"],
                    role,
                    manager,
                    cell.get("segment") or None,
                    cell.get("slack_user_id") or None,
                    zone,
                    start or None,
                )
            )
    by_email = {row.email: row for row in rows}
    for row in rows:
        if row.manager_email and row.manager_email not in first_line:
            problems.append(
                Problem(
                    line=row.line,
                    column="manager_email",
                    message=f"{row.manager_email} is not in the org chart",
                )
            )
        elif row.manager_email in by_email and by_email[row.manager_email].role == "rep":
            problems.append(
                Problem(
                    line=row.line,
                    column="manager_email",
                    message=f"{row.manager_email} is a rep; reps manage no one",
                )
            )
    _find_loops(rows, problems)
    return rows


def _parse_date(text: str, line: int, problems: list[Problem]) -> date | None | bool:
    if not text:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        problems.append(
            Problem(line=line, column="start_date", message=f"{text!r} is not a YYYY-MM-DD date")
        )
        return False


def _find_loops(rows: list[_OrgRow], problems: list[Problem]) -> None:
    manager_of = {row.email: row.manager_email for row in rows}
    line_of = {row.email: row.line for row in rows}
    done: set[str] = set()
    for start in manager_of:
        path: list[str] = []
        node: str | None = start
        while node is not None and node not in done and node not in path:
            path.append(node)
            node = manager_of.get(node)
        if node is not None and node in path:
            loop = path[path.index(node) :]
            problems.append(
                Problem(
                    line=min(line_of[e] for e in loop),
                    column="manager_email",
                    message="reporting loop: " + " → ".join([*loop, loop[0]]),
                )
            )
        done.update(path)


def import_org(
    session: Session, workspace_id: str, path: Path, progress: Progress | None = None
) -> ImportResult:
    """Upsert the org chart by email; people missing from the file are marked inactive."""
    problems: list[Problem] = []
    table = _read(path, problems)
    if table is not None:
        _check_header(table.header, ORG_REQUIRED, ORG_COLUMNS, problems)
    if problems or table is None:
        raise CsvImportError(problems)
    rows = _parse_org(table, problems)
    if problems:
        raise CsvImportError(problems)

    _ensure_workspace(session, workspace_id)
    existing = {
        p.email: p
        for p in session.scalars(select(Person).where(Person.workspace_id == workspace_id))
    }
    people: dict[str, Person] = {}
    new = updated = unchanged = 0
    for done, row in enumerate(rows, 1):
        person = existing.get(row.email)
        fields = {
            "name": row.name,
            "role": row.role,
            "segment": row.segment,
            "timezone": row.timezone,
            "start_date": row.start_date,
            "active": True,
        }
        if row.slack_user_id:  # an empty cell keeps an id already resolved from Slack
            fields["slack_user_id"] = row.slack_user_id
        if person is None:
            person = Person(workspace_id=workspace_id, email=row.email, **fields)
            session.add(person)
            new += 1
        else:
            changed = {k: v for k, v in fields.items() if getattr(person, k) != v}
            for key, value in changed.items():
                setattr(person, key, value)
            was_manager = person.manager.email if person.manager else None
            if changed or was_manager != row.manager_email:
                updated += 1
            else:
                unchanged += 1
        people[row.email] = person
        if progress and done % PROGRESS_EVERY == 0:
            progress(done, len(rows))
    session.flush()
    for row in rows:
        manager = people[row.manager_email] if row.manager_email else None
        if people[row.email].manager_id != (manager.id if manager else None):
            people[row.email].manager_id = manager.id if manager else None
    deactivated = 0
    for email, person in existing.items():
        if email not in people and person.active:
            person.active = False
            deactivated += 1
    if new or updated or deactivated:
        _bump(session, workspace_id)
    session.flush()
    if progress:
        progress(len(rows), len(rows))
    return ImportResult(
        rows=len(rows), new=new, updated=updated, unchanged=unchanged, deactivated=deactivated
    )


# ----------------------------------------------------------------------------- metrics


def _number(text: str) -> float | None | str:
    """The cell as a count: a float, None for empty, or the reason it isn't one."""
    if not text:
        return None
    if "," in text:
        if not _THOUSANDS.match(text):
            return f"{text!r} is not a number"
        text = text.replace(",", "")
    try:
        value = float(text)
    except ValueError:
        return f"{text!r} is not a number"
    if not math.isfinite(value):
        return f"{text!r} is not a number"
    if value < 0:
        return f"{text} is negative: counts can't be"
    return value


def import_metrics(
    session: Session,
    workspace_id: str,
    path: Path,
    columns: Sequence[str],
    progress: Progress | None = None,
) -> ImportResult:
    """Upsert monthly counts; a re-imported (rep, month) takes the file's values for its columns.

    Columns the file doesn't have keep their stored values; an empty cell in a column the file
    has removes that stored value (it is missing, not zero).
    """
    problems: list[Problem] = []
    table = _read(path, problems)
    if table is not None:
        _check_header(table.header, METRICS_REQUIRED, [*METRICS_REQUIRED, *columns], problems)
    if problems or table is None:
        raise CsvImportError(problems)
    counts = [c for c in table.header if c not in METRICS_REQUIRED]

    _ensure_workspace(session, workspace_id)
    person_rows = session.execute(
        select(Person.email, Person.id, Person.role).where(Person.workspace_id == workspace_id)
    ).all()
    people = {email: (pid, role) for email, pid, role in person_rows}
    width = len(table.header)
    parsed: dict[tuple[int, str], dict[str, float | None]] = {}
    first_line: dict[tuple[int, str], int] = {}
    for line, cell, count in _cells(table):
        if count > width:
            problems.append(Problem(line=line, message=f"{count} cells but {width} columns"))
            continue
        month, email = cell["month"], cell["rep_email"].lower()
        ok = True
        if not month:
            problems.append(Problem(line=line, column="month", message="empty required value"))
            ok = False
        elif not _MONTH.match(month):
            problems.append(
                Problem(line=line, column="month", message=f"{month!r} is not a YYYY-MM month")
            )
            ok = False
        person = people.get(email)
        if not email:
            problems.append(Problem(line=line, column="rep_email", message="empty required value"))
            ok = False
        elif person is None:
            problems.append(
                Problem(line=line, column="rep_email", message=f"{email} is not in the org chart")
            )
            ok = False
        elif person[1] != "rep":
            problems.append(
                Problem(
                    line=line, column="rep_email", message=f"{email} is a {person[1]}, not a rep"
                )
            )
            ok = False
        values: dict[str, float | None] = {}
        for column in counts:
            value = _number(cell[column])
            if isinstance(value, str):
                problems.append(Problem(line=line, column=column, message=value))
                ok = False
            else:
                values[column] = value
        if ok and person is not None:
            key = (person[0], month)
            if key in first_line:
                problems.append(
                    Problem(
                        line=line,
                        message=f"{email} {month} appears twice (first on line {first_line[key]})",
                    )
                )
            else:
                first_line[key] = line
                parsed[key] = values
        if len(problems) > 10 * MAX_LISTED:  # the file is wrong wholesale; stop reading it
            break
    if problems:
        raise CsvImportError(problems)

    stored = _stored_values(session, workspace_id, sorted({m for _, m in parsed}), counts)
    new = updated = unchanged = 0
    to_delete: list[tuple[int, str]] = []
    to_insert: list[tuple[str, int, str, str, float]] = []
    for done, (key, values) in enumerate(parsed.items(), 1):
        wanted = {name: value for name, value in values.items() if value is not None}
        before = stored.get(key)
        if before == wanted or (before is None and not wanted):
            unchanged += 1
            continue
        if before is None:
            new += 1
        else:
            updated += 1
            to_delete.append(key)
        to_insert.extend((workspace_id, key[0], key[1], n, v) for n, v in wanted.items())
        if progress and done % PROGRESS_EVERY == 0:
            progress(done, len(parsed))
    _write_metrics(session, workspace_id, counts, to_delete, to_insert)
    if new or updated:
        _bump(session, workspace_id)
    if progress:
        progress(len(parsed), len(parsed))
    return ImportResult(rows=len(parsed), new=new, updated=updated, unchanged=unchanged)


def _stored_values(
    session: Session, workspace_id: str, months: list[str], counts: list[str]
) -> dict[tuple[int, str], dict[str, float]]:
    """What the database holds for these months and columns, read with a bare cursor (fast)."""
    stored: dict[tuple[int, str], dict[str, float]] = {}
    if not months or not counts:
        return stored
    connection = session.connection()
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    cursor = connection.connection.cursor()
    try:
        cursor.execute(
            "SELECT person_id, month, name, value FROM metric_values WHERE workspace_id = "
            f"{marker} AND month IN ({', '.join(marker for _ in months)}) "
            f"AND name IN ({', '.join(marker for _ in counts)})",
            (workspace_id, *months, *counts),
        )
        for pid, month, name, value in cursor:
            stored.setdefault((pid, month), {})[name] = value
    finally:
        cursor.close()
    return stored


def _write_metrics(
    session: Session,
    workspace_id: str,
    counts: list[str],
    to_delete: list[tuple[int, str]],
    to_insert: list[tuple[str, int, str, str, float]],
) -> None:
    """Replace the changed (rep, month) cells with plain executemany: ORM objects are too slow."""
    if not to_delete and not to_insert:
        return
    connection = session.connection()
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    cursor = connection.connection.cursor()
    try:
        if to_delete:
            names = ", ".join(marker for _ in counts)
            cursor.executemany(
                f"DELETE FROM metric_values WHERE workspace_id = {marker} AND person_id = {marker} "
                f"AND month = {marker} AND name IN ({names})",
                [(workspace_id, pid, month, *counts) for pid, month in to_delete],
            )
        if to_insert:
            cursor.executemany(
                "INSERT INTO metric_values (workspace_id, person_id, month, name, value) "
                f"VALUES ({marker}, {marker}, {marker}, {marker}, {marker})",
                to_insert,
            )
    finally:
        cursor.close()
