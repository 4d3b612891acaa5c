"""Reading CSV files the way spreadsheets write them, and saying precisely what is wrong in them.

Line numbers are physical lines as a spreadsheet user counts them: the header is line 1, and a
quoted cell spanning three lines moves everything after it down by two.
"""

from __future__ import annotations

import csv
import difflib
import gc
import io
import math
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from storage.models import Workspace

MAX_LISTED = 50
# Problems kept as objects; a wholly wrong 120,000-row file has millions, and only the count of
# the rest matters to anyone.
MAX_KEPT = 1_000

Progress = Callable[[int, int], None]

# Characters no one types into a cell: C0 and C1 controls (tab and line breaks are ordinary
# whitespace), and the bidi overrides and isolates that make text display other than it reads
# (U+202A–U+202E, U+2066–U+2069). Zero-width joiners belong to some names and are left alone.
_PLAIN = bytes(range(0x20, 0x7F)) + b"\t\n\r"
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
# A number with thousands separators as spreadsheets write it: "1,200" or "41,500.50".
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


class Problem(BaseModel):
    """One thing wrong with an input file, where a spreadsheet user can find it."""

    model_config = ConfigDict(frozen=True)

    line: int | None = None
    column: str | None = None
    message: str

    def __str__(self) -> str:
        where = [f"line {self.line}"] if self.line is not None else []
        if self.column:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class CsvImportError(Exception):
    """The file has problems and nothing was written.

    `problems` holds the first MAX_KEPT problems in file order, `total` counts them all; str()
    lists the first MAX_LISTED, one per line, then how many more there are.
    """

    def __init__(self, problems: list[Problem], total: int | None = None) -> None:
        self.problems = problems
        self.total = len(problems) if total is None else total
        lines = [str(problem) for problem in problems[:MAX_LISTED]]
        more = self.total - len(lines)
        if more > 0:
            lines.append(f"… and {more:,} more problem{'s' if more > 1 else ''}")
        super().__init__("\n".join(lines))


class ImportResult(BaseModel):
    """What an import did, counted per CSV row (a person, or a rep's month)."""

    rows: int
    new: int
    updated: int
    unchanged: int
    deactivated: int = 0
    months: list[str] = []  # metrics: the months whose values changed

    def summary(self) -> str:
        """One line for people: `imported 120,000 rows: 118,000 new, 2,000 updated`."""
        text = f"imported {self.rows:,} row{'' if self.rows == 1 else 's'}: "
        text += f"{self.new:,} new, {self.updated:,} updated"
        if self.unchanged:
            text += f", {self.unchanged:,} unchanged"
        if self.deactivated:
            text += f"; {self.deactivated:,} no longer in the file, marked inactive"
        return text


class Problems:
    """Problems found so far: cheap to collect by the million, reported in file order."""

    def __init__(self) -> None:
        self._found: list[tuple[int, int, str | None, str]] = []
        self.column_order: dict[str, int] = {}

    def add(self, line: int | None, column: str | None, message: str) -> None:
        """Note a problem at `line` (None: the file as a whole) and `column` (None: the row)."""
        self._found.append((line or 0, self.column_order.get(column or "", -1), column, message))

    def __bool__(self) -> bool:
        return bool(self._found)

    def __len__(self) -> int:
        return len(self._found)

    def raise_if_any(self) -> None:
        """Raise CsvImportError listing every problem by line, then column, if there is one."""
        if not self._found:
            return
        # Stable sort: problems of one cell stay in the order they were found.
        self._found.sort(key=lambda found: (found[0], found[1]))
        kept = [
            Problem(line=line or None, column=column, message=message)
            for line, _, column, message in self._found[:MAX_KEPT]
        ]
        raise CsvImportError(kept, len(self._found))


@dataclass
class CsvTable:
    """A decoded CSV file: a lower-cased header and rows padded or cut to its width."""

    header: list[str]
    header_line: int
    rows: list[list[str]]  # cells as written (not stripped); blank rows left out
    lines: list[int]  # the first physical line of each row
    controls: bool = False  # whether any cell may hold a control character


def read_csv(path: Path, problems: Problems) -> CsvTable | None:
    """Decode and split `path`; None, with a problem noted, when it can't be read as CSV at all."""
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        problems.add(None, None, "the file is UTF-16 text: save it as 'CSV UTF-8' and try again")
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.add(
            line,
            None,
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x}): save the file as 'CSV UTF-8' "
            "and try again",
        )
        return None
    buffer = io.StringIO(text, newline="")
    reader = csv.reader(buffer, skipinitialspace=True)
    header: list[str] | None = None
    header_line = 0
    rows: list[list[str]] = []
    lines: list[int] = []
    start = last_start = 1  # the physical line the next (the last) record starts on
    offset = last_offset = 0  # where the next (the last) record starts in `text`
    try:
        for cells in reader:
            last_offset = offset
            if "".join(cells).strip():
                if header is None:
                    header, header_line = cells, start
                else:
                    rows.append(cells)
                    lines.append(start)
            last_start, start, offset = start, reader.line_num + 1, buffer.tell()
    except csv.Error as exc:
        problems.add(start, None, f"not readable as CSV: {exc}")
        return None
    if header is None:
        problems.add(None, None, "the file is empty: expected a header line, then one row per line")
        return None
    if _unclosed_quote(text[last_offset:]):
        problems.add(last_start, None, 'a quoted cell is never closed (a " is missing)')
        return None
    if not rows:
        problems.add(None, None, "the file has a header but no rows")
    table = CsvTable([name.strip().lower() for name in header], header_line, rows, lines)
    # One pass over the bytes, so clean files (nearly all) never look cell by cell: drop the
    # printable ASCII bytes in C, then search what's left (the rest is whole UTF-8 sequences).
    table.controls = _CONTROL.search(raw.translate(None, _PLAIN).decode()) is not None
    _fit_rows(table, problems)
    return table


def _unclosed_quote(last_record: str) -> bool:
    """True when the last record opens a quote it never closes.

    The lenient reader (which takes `"a" ,b` as hand-edited files have it) would read the rest of
    the file into that cell instead; only the strict one notices.
    """
    try:
        for _ in csv.reader(
            io.StringIO(last_record, newline=""), skipinitialspace=True, strict=True
        ):
            pass
    except csv.Error as exc:
        return "end of data" in str(exc)
    return False


def _fit_rows(table: CsvTable, problems: Problems) -> None:
    """Give every row the header's width and drop unnamed columns spreadsheets leave empty."""
    width = len(table.header)
    for index, cells in enumerate(table.rows):
        if len(cells) < width:
            cells.extend([""] * (width - len(cells)))
        elif len(cells) > width:
            if "".join(cells[width:]).strip():
                problems.add(
                    table.lines[index],
                    None,
                    f"{len(cells)} cells but the header has {width} columns",
                )
            del cells[width:]
    unnamed = [i for i, name in enumerate(table.header) if not name]
    if not unnamed:
        return
    for i in unnamed:
        filled = next((n for n, cells in enumerate(table.rows) if cells[i].strip()), None)
        if filled is not None:
            problems.add(
                table.header_line,
                None,
                f"column {i + 1} has no name but has values (line {table.lines[filled]})",
            )
    keep = [i for i, name in enumerate(table.header) if name]
    table.header = [table.header[i] for i in keep]
    table.rows = [[cells[i] for i in keep] for cells in table.rows]


def check_header(
    table: CsvTable, required: Sequence[str], known: Collection[str], problems: Problems
) -> bool:
    """Note unknown, repeated and missing columns; False when the cells can't be read by column
    (a required column is missing, or one appears twice)."""
    problems.column_order = {name: i for i, name in enumerate(table.header)}
    line = table.header_line
    seen: set[str] = set()
    twice = False
    for name in table.header:
        if name in seen:
            problems.add(line, name, "the column appears twice")
            twice = True
        elif name not in known:
            problems.add(line, name, f"unknown column{did_you_mean(name, known, sorted(known))}")
        seen.add(name)
    missing = [name for name in required if name not in seen]
    for name in missing:
        problems.add(line, name, "required column is missing")
    return not missing and not twice


def check_text(table: CsvTable, problems: Problems) -> None:
    """Note each cell holding a control or bidi character: invisible in a spreadsheet, they make
    a name or email that looks right match nothing, or display reordered in Slack.

    The characters are then dropped from the cells, so the other checks (and their messages)
    see the text as the person sees it; the problem noted means nothing gets written.
    """
    if not table.controls:
        return
    for line, cells in zip(table.lines, table.rows, strict=True):
        for i, (name, cell) in enumerate(zip(table.header, cells, strict=True)):
            found = _CONTROL.search(cell)
            if found:
                char = found.group()
                label = unicodedata.name(char, "control character").lower()
                problems.add(
                    line,
                    name,
                    f"contains an invisible character (U+{ord(char):04X}, {label}): "
                    "retype the cell",
                )
                cells[i] = _CONTROL.sub("", cell)


def did_you_mean(text: str, candidates: Iterable[str], listed: Sequence[str] = ()) -> str:
    """` — did you mean X?` for a near miss, else the `listed` choices, else nothing."""
    match = difflib.get_close_matches(text, list(candidates), n=1, cutoff=0.75)
    if match:
        return f" — did you mean {match[0]}?"
    return f" (expected one of: {', '.join(listed)})" if listed else ""


def cell_number(text: str) -> float:
    """A cell's number as spreadsheets write it ("1,200" too); NaN when it isn't one."""
    plain = text.replace(",", "") if _THOUSANDS.match(text) else text
    try:
        return float(plain) if "_" not in plain else math.nan  # float() takes "1_000"; people don't
    except ValueError:
        return math.nan


def month_problem(month: str, latest: str, ahead: str) -> str | None:
    """What is wrong with a month cell (None: nothing); `ahead` says what to do about a month
    after `latest`, the last one allowed."""
    if not month:
        return "empty required value"
    if MONTH.match(month):
        if month > latest:
            return f"{month} is in the future: the latest month allowed is {latest} ({ahead})"
        return None
    if re.match(r"^\d{4}-\d{2}-\d{2}$", month):  # a spreadsheet turned the month into a date
        return f"{month!r} is a date, not a YYYY-MM month (write {month[:7]})"
    return f"{month!r} is not a YYYY-MM month"


@contextmanager
def paused_gc() -> Iterator[None]:
    """Hold off Python's cycle collector while millions of cells are allocated.

    The cells make no cycles, but their sheer number triggers full collections that find
    nothing and cost about a third of a big import.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def ensure_workspace(session: Session, workspace_id: str) -> Workspace:
    """The workspace row, created if this is the first import into it."""
    workspace = session.get(Workspace, workspace_id)
    if workspace is None:
        workspace = Workspace(id=workspace_id, data_version=0)
        session.add(workspace)
        session.flush()
    return workspace


def bump_data_version(workspace: Workspace) -> None:
    """Tell warm processes that this workspace's data changed (an SQL increment: no lost bump)."""
    workspace.data_version = Workspace.data_version + 1  # type: ignore[assignment]
