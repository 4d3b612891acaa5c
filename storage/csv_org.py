"""`coach import org`: the org chart, checked as a whole, then upserted by email."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from analytics.meetings import WeeklySlot, parse_slot
from analytics.workdays import parse_country
from storage.csv_common import (
    CsvTable,
    ImportResult,
    Problems,
    Progress,
    bump_data_version,
    check_header,
    check_text,
    did_you_mean,
    ensure_workspace,
    read_csv,
)
from storage.models import ROLES, Person

ORG_REQUIRED = ("email", "name", "role")
ORG_COLUMNS = (
    *ORG_REQUIRED,
    "manager_email",
    "segment",
    "discipline",
    "slack_user_id",
    "timezone",
    "start_date",
    "country",
    "one_on_one",
)
NEEDS_MANAGER = ("rep", "manager")

_EMAIL = re.compile(r"^[^@\s,;<>()\[\]\"]+@[^@\s,;<>()\[\]\"]+\.[^@\s,;<>()\[\]\".]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SLACK_ID = re.compile(r"^[UW][A-Z0-9]+$")
# What a re-import compares and updates (besides `active`).
_FIELDS = (
    "name",
    "role",
    "manager_id",
    "segment",
    "discipline",
    "slack_user_id",
    "timezone",
    "start_date",
    "country",
)
# Set only by a non-empty `one_on_one` cell: an empty one keeps what the manager set in Slack.
_SLOT_FIELDS = ("one_on_one_weekday", "one_on_one_time")


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


_PEOPLE: Table = Person.__table__  # type: ignore[assignment]
# Longer cells would only fail at write time on PostgreSQL; catch them with the rest.
_MAX_LENGTH: dict[str, int] = {
    column: _PEOPLE.c[column.removeprefix("manager_")].type.length  # type: ignore[attr-defined]
    for column in (
        "email",
        "manager_email",
        "name",
        "segment",
        "discipline",
        "slack_user_id",
        "timezone",
    )
}


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    email: str
    name: str
    role: str
    manager_email: str | None
    segment: str | None
    discipline: str | None
    slack_user_id: str | None
    timezone: str | None
    start_date: date | None
    country: str | None
    one_on_one: WeeklySlot | None


def import_org(
    session: Session, workspace_id: str, path: Path, progress: Progress | None = None
) -> ImportResult:
    """Import the org chart CSV at `path` into `workspace_id`, all or nothing.

    People are matched by email (case-insensitive, stored lower-case). Everyone in the file is
    active; a person missing from the file is marked inactive, never deleted, and is reactivated
    when they come back. An empty `slack_user_id` keeps the id already resolved from Slack.
    Raises CsvImportError, having written nothing, when anything in the file is wrong.
    """
    problems = Problems()
    table = read_csv(path, problems)
    if table is None or not check_header(table, ORG_REQUIRED, ORG_COLUMNS, problems):
        problems.raise_if_any()
    assert table is not None  # for the type checker: a missing table always raised above
    check_text(table, problems)
    rows = _check_rows(table, problems)
    problems.raise_if_any()
    total = len(rows)
    if progress:
        progress(0, total)

    workspace = ensure_workspace(session, workspace_id)
    stored = {
        row.email.lower(): row
        for row in session.execute(
            select(
                Person.id,
                Person.email,
                Person.active,
                *(getattr(Person, f) for f in (*_FIELDS, *_SLOT_FIELDS)),
            ).where(Person.workspace_id == workspace_id)
        )
    }
    arrivals = [row for row in rows if row.email not in stored]
    ids = {email: person.id for email, person in stored.items()}
    if arrivals:
        # Managers are set below, once every newcomer has an id to point at. Core on the table:
        # the ORM's bulk insert runs one statement per person here.
        session.connection().execute(
            insert(_PEOPLE),
            [
                {
                    **dict.fromkeys(_SLOT_FIELDS),  # every row the same keys: one executemany
                    **_fields(row, None, None),
                    "workspace_id": workspace_id,
                    "email": row.email,
                }
                for row in arrivals
            ],
        )
        query = select(Person.email, Person.id).where(Person.workspace_id == workspace_id)
        ids = {email.lower(): pid for email, pid in session.execute(query)}
    changes: list[dict[str, Any]] = []
    updated = 0
    for row in rows:
        manager_id = ids[row.manager_email] if row.manager_email else None
        before = stored.get(row.email)
        if before is None:
            if manager_id is not None:
                changes.append({"id": ids[row.email], "manager_id": manager_id})
            continue
        wanted = _fields(row, manager_id, before.slack_user_id)
        compared = [f for f in (*_FIELDS, *_SLOT_FIELDS) if f in wanted]
        if not before.active or any(getattr(before, f) != wanted[f] for f in compared):
            changes.append({"id": before.id, "active": True, **wanted})
            updated += 1
    in_file = {row.email for row in rows}
    leavers = [p.id for email, p in stored.items() if email not in in_file and p.active]
    changes.extend({"id": pid, "active": False} for pid in leavers)
    for keys in {tuple(change) for change in changes}:
        # ORM bulk UPDATE by primary key: one executemany per set of columns.
        session.execute(update(Person), [c for c in changes if tuple(c) == keys])
    if changes or arrivals:
        bump_data_version(workspace)
    session.flush()
    if progress:
        progress(total, total)
    return ImportResult(
        rows=total,
        new=len(arrivals),
        updated=updated,
        unchanged=total - len(arrivals) - updated,
        deactivated=len(leavers),
    )


def _fields(row: _Row, manager_id: int | None, known_slack_id: str | None) -> dict[str, Any]:
    slot = {}
    if row.one_on_one is not None:
        slot = {"one_on_one_weekday": row.one_on_one.weekday, "one_on_one_time": row.one_on_one.at}
    return {
        **slot,
        "name": row.name,
        "role": row.role,
        "manager_id": manager_id,
        "segment": row.segment,
        "discipline": row.discipline,
        # An empty cell keeps the id Slack already told us; a given one overrides it.
        "slack_user_id": row.slack_user_id or known_slack_id,
        "timezone": row.timezone,
        "start_date": row.start_date,
        "country": row.country,
        "active": True,
    }


def _check_rows(table: CsvTable, problems: Problems) -> list[_Row]:
    """Every row as a person, with each problem of each cell and of the chart as a whole noted."""
    index = {name: i for i, name in enumerate(table.header)}
    first_line: dict[str, int] = {}
    slack_line: dict[str, int] = {}
    # Everyone in the file with their role as written, and who reports to whom: a row with
    # another problem still names a manager who must exist.
    reports: list[tuple[int, str, str]] = []
    role_of: dict[str, str] = {}
    rows: list[_Row] = []
    add = problems.add
    for line, raw in zip(table.lines, table.rows, strict=True):
        get = {name: raw[i].strip() for name, i in index.items()}.get
        count = len(problems)
        for column, limit in _MAX_LENGTH.items():
            if len(get(column, "")) > limit:
                add(line, column, f"longer than {limit} characters")
        for column in ORG_REQUIRED:
            if not get(column):
                add(line, column, "empty required value")
        email = get("email", "").lower()
        first = False
        if email and not _EMAIL.match(email):
            add(line, "email", f"{email!r} is not an email address")
        elif email in first_line:
            add(line, "email", f"{email} appears twice (first on line {first_line[email]})")
        elif email:
            first_line[email], first = line, True
        role = get("role", "").lower()
        if role and role not in ROLES:
            add(line, "role", f"unknown role {role!r} ({', '.join(ROLES)})")
        if first:
            role_of[email] = role
        manager = get("manager_email", "").lower()
        if manager and not _EMAIL.match(manager):
            add(line, "manager_email", f"{manager!r} is not an email address")
        elif not manager and role in NEEDS_MANAGER:
            add(line, "manager_email", f"a {role} needs a manager")
        elif manager and first:
            reports.append((line, email, manager))
        segment = get("segment") or None
        slack_id = get("slack_user_id") or None
        if slack_id and not _SLACK_ID.match(slack_id):
            add(
                line,
                "slack_user_id",
                f"{slack_id!r} is not a Slack user id (like U024BE7LH); "
                "leave it empty to look it up by email",
            )
        elif slack_id in slack_line:
            add(line, "slack_user_id", f"{slack_id} is also on line {slack_line[slack_id]}")
        elif slack_id:
            slack_line[slack_id] = line
        zone = get("timezone") or None
        if zone and zone not in _zones():
            hint = did_you_mean(zone, _zones()) or " (e.g. Europe/Berlin)"
            add(line, "timezone", f"{zone!r} is not an IANA time zone{hint}")
        start = _date(get("start_date", ""))
        if isinstance(start, str):
            add(line, "start_date", start)
        country = None
        if get("country"):
            try:
                country = parse_country(get("country", ""))
            except ValueError as exc:
                add(line, "country", str(exc))
        slot = None
        if get("one_on_one"):
            if role and role != "rep":
                add(line, "one_on_one", "only a rep has a weekly 1:1 (with their manager)")
            else:
                try:
                    slot = parse_slot(get("one_on_one", ""))
                except ValueError as exc:
                    add(line, "one_on_one", str(exc))
        if len(problems) == count:
            rows.append(
                _Row(
                    line,
                    email,
                    get("name", ""),
                    role,
                    manager or None,
                    segment,
                    get("discipline") or None,
                    slack_id,
                    zone,
                    start if isinstance(start, date) else None,
                    country,
                    slot,
                )
            )
    _check_managers(reports, role_of, problems)
    return rows


def _date(text: str) -> date | None | str:
    """The cell as a date, None when empty, or what is wrong with it."""
    if not text:
        return None
    try:
        if _DATE.match(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    return f"{text!r} is not a YYYY-MM-DD date"


def _check_managers(
    reports: list[tuple[int, str, str]], role_of: dict[str, str], problems: Problems
) -> None:
    """Managers must be in the file and not be reps, and no one may end up their own manager."""
    for line, _, manager in reports:
        if manager not in role_of:
            problems.add(
                line,
                "manager_email",
                f"{manager} is not in the org chart (managers must be in the file too)",
            )
        elif role_of[manager] == "rep":
            problems.add(line, "manager_email", f"{manager} is a rep, and reps manage no one")
    manager_of = {email: manager for _, email, manager in reports}
    line_of = {email: line for line, email, _ in reports}
    settled: set[str] = set()
    for start in manager_of:
        path: list[str] = []
        node: str | None = start
        while node is not None and node not in settled and node not in path:
            path.append(node)
            node = manager_of.get(node)
        settled.update(path)
        if node is None or node not in path:
            continue
        loop = path[path.index(node) :]
        where = min(loop, key=line_of.__getitem__)
        loop = loop[loop.index(where) :] + loop[: loop.index(where)]
        text = (
            f"{where} is their own manager"
            if len(loop) == 1
            else "reporting loop: " + " → ".join([*loop, where])
        )
        problems.add(line_of[where], "manager_email", text)
