"""`import_metrics`: monthly counts per rep, on SQLite and PostgreSQL.

Bad input is reported at its line and column and nothing is written; what spreadsheets write is
accepted; a re-imported (rep, month) takes the file's values for the file's columns only.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from analytics.catalogue import Catalogue, load_catalogue
from storage.counts import read_counts
from storage.csv_import import CsvImportError, ImportResult, import_metrics, import_org
from storage.db import session_scope
from storage.models import PartialMonth, Person, Workspace
from storage.queries import metrics_frame
from tests.storage.test_import_org import ORG, WS, problems_of, snapshot, write

DEFAULT_COLUMNS = [
    "leads_prospected",
    "connects",
    "discovery_calls",
    "demos",
    "wins",
    "losses",
    "revenue",
    "quota",
    "initial_meetings",
    "follow_up_meetings",
    "contacts_engaged",
    "accounts_active",
    "opportunities_worked",
    "cycle_days",
    "inherited_wins",
    "inherited_revenue",
]
COLUMNS = [*DEFAULT_COLUMNS, "calls_recorded"]  # as a metric catalogue may add one
CATALOGUE = load_catalogue().model_copy(update={"columns": COLUMNS})
METRICS = """\
month,rep_email,leads_prospected,connects,demos,wins,revenue
2026-09,priya@example.com,"1,200",310,21,5,"41,500.50"
2026-10,priya@example.com,900,250,18,4,30000
2026-10,omar@example.com,800,200,20,6,
"""
Stored = dict[tuple[str, str], dict[str, float]]
# The files' latest month is 2026-12: months after the current one are refused.
TODAY = "2026-12-15 12:00:00+00:00"


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    with time_machine.travel(TODAY, tick=True):
        yield


def load_org(engine: Engine, tmp_path: Path, workspace: str = WS) -> None:
    with session_scope(engine) as s:
        import_org(s, workspace, write(tmp_path, ORG, "org.csv"))


def run_import(
    engine: Engine, path: Path, workspace: str = WS, catalogue: Catalogue = CATALOGUE, **kwargs: Any
) -> ImportResult:
    with session_scope(engine) as s:
        return import_metrics(s, workspace, path, catalogue, **kwargs)


def stored(engine: Engine, workspace: str = WS) -> Stored:
    """{(email, month): {count: value}} as the database holds it."""
    with session_scope(engine) as s:
        emails = dict(s.execute(select(Person.id, Person.email)).all())
        stored = read_counts(s, workspace)
    assert all(stored.values()), "a rep-month without values is stored"
    return {(emails[pid], month): values for (pid, month), values in stored.items()}


@pytest.fixture
def org(engine: Engine, tmp_path: Path) -> Engine:
    """The engine, with the org chart imported."""
    load_org(engine, tmp_path)
    return engine


def test_imports_one_value_per_rep_month_and_count(org: Engine, tmp_path: Path) -> None:
    result = run_import(org, write(tmp_path, METRICS, "m.csv"))
    assert result == ImportResult(
        rows=3, new=3, updated=0, unchanged=0, months=["2026-09", "2026-10"]
    )
    assert result.summary() == "imported 3 rows: 3 new, 0 updated"
    assert stored(org) == {
        ("priya@example.com", "2026-09"): {
            "leads_prospected": 1200,
            "connects": 310,
            "demos": 21,
            "wins": 5,
            "revenue": 41500.5,
        },
        ("priya@example.com", "2026-10"): {
            "leads_prospected": 900,
            "connects": 250,
            "demos": 18,
            "wins": 4,
            "revenue": 30000,
        },
        # An empty cell is a missing value, not a zero.
        ("omar@example.com", "2026-10"): {
            "leads_prospected": 800,
            "connects": 200,
            "demos": 20,
            "wins": 6,
        },
    }
    with session_scope(org) as s:
        assert s.get(Workspace, WS).data_version == 2  # the org, then the metrics


def test_same_file_twice_changes_nothing(org: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, METRICS, "m.csv")
    run_import(org, path)
    first = snapshot(org)
    again = run_import(org, path)
    assert (again.rows, again.new, again.updated, again.unchanged) == (3, 0, 0, 3)
    assert again.summary() == "imported 3 rows: 0 new, 0 updated, 3 unchanged"
    assert snapshot(org) == first


def test_reimport_replaces_the_given_columns_only(org: Engine, tmp_path: Path) -> None:
    run_import(org, write(tmp_path, METRICS, "m.csv"))
    patch = (
        "month,rep_email,wins,revenue,losses\n"
        "2026-10,priya@example.com,7,,3\n"  # wins changed, revenue emptied, losses added
        "2026-10,omar@example.com,6,,\n"  # as stored
        "2026-11,priya@example.com,1,,\n"  # a new month
    )
    result = run_import(org, write(tmp_path, patch, "patch.csv"))
    assert (result.new, result.updated, result.unchanged) == (1, 1, 1)
    values = stored(org)
    assert values["priya@example.com", "2026-10"] == {
        "leads_prospected": 900,  # not in the file: kept
        "connects": 250,
        "demos": 18,
        "wins": 7,
        "losses": 3,
    }
    assert values["omar@example.com", "2026-10"]["wins"] == 6
    assert values["priya@example.com", "2026-11"] == {"wins": 1}
    assert values["priya@example.com", "2026-09"]["wins"] == 5  # not in the file at all


def test_a_stored_month_given_new_columns_counts_as_updated(org: Engine, tmp_path: Path) -> None:
    run_import(org, write(tmp_path, METRICS, "m.csv"))
    text = (
        "month,rep_email,quota,losses\n"
        "2026-09,priya@example.com,60000,\n"  # a stored month, a column it lacked: updated
        "2026-10,omar@example.com,,\n"  # no quota nor losses, and none stored: unchanged
    )
    result = run_import(org, write(tmp_path, text, "quota.csv"))
    assert (result.new, result.updated, result.unchanged) == (0, 1, 1)
    assert stored(org)["priya@example.com", "2026-09"]["quota"] == 60000


def test_any_person_of_the_org_is_known(org: Engine, tmp_path: Path) -> None:
    without_omar = "".join(line for line in ORG.splitlines(True) if "omar" not in line)
    with session_scope(org) as s:
        assert import_org(s, WS, write(tmp_path, without_omar, "org2.csv")).deactivated == 1
    text = "month,rep_email,wins\n2026-10,omar@example.com,2\n2026-10,mark@example.com,1\n"
    assert run_import(org, write(tmp_path, text, "m.csv")).new == 2


def test_what_spreadsheets_write_is_accepted(org: Engine, tmp_path: Path) -> None:
    text = (
        "\ufeff Month ,REP_EMAIL,Wins , revenue,calls_recorded,,\r\n"
        ' 2026-10 , "PRIYA@example.com" ,"1,002", " 12,000.25 ",3,,\r\n'
        "\r\n"
        "2026-09,omar@example.com, 7 ,,0\r\n"
        ",,,,,,\r\n"
    )
    assert run_import(org, write(tmp_path, text.encode(), "m.csv")).new == 2
    assert stored(org) == {
        ("priya@example.com", "2026-10"): {
            "wins": 1002,
            "revenue": 12000.25,
            "calls_recorded": 3,
        },
        ("omar@example.com", "2026-09"): {"wins": 7, "calls_recorded": 0},
    }


def header(*counts: str) -> str:
    return ",".join(["month", "rep_email", *counts]) + "\n"


def row(*cells: str) -> str:
    return ",".join(cells) + "\n"


PRIYA = "priya@example.com"
KNOWN = ", ".join(sorted(["month", "rep_email", "through", *COLUMNS]))
# (case, file, the problems reported)
BAD_METRICS: list[tuple[str, str | bytes, list[str]]] = [
    (
        "missing column",
        "rep_email,wins\npriya@example.com,1\n",
        ["line 1, column month: required column is missing"],
    ),
    (
        "typo in column",
        header("discovery_cals") + row("2026-10", PRIYA, "1"),
        ["line 1, column discovery_cals: unknown column — did you mean discovery_calls?"],
    ),
    (
        "column not in the catalogue",
        header("wins", "nps") + row("2026-10", PRIYA, "1", "9"),
        [f"line 1, column nps: unknown column (expected one of: {KNOWN})"],
    ),
    (
        "column twice",
        header("wins", "Wins") + row("2026-10", PRIYA, "1", "2"),
        ["line 1, column wins: the column appears twice"],
    ),
    (
        "no count columns",
        header() + row("2026-10", PRIYA),
        [f"line 1: no count columns: expected some of {', '.join(COLUMNS)}"],
    ),
    (
        "bad month",
        header("wins") + row("2026-13", PRIYA, "1"),
        ["line 2, column month: '2026-13' is not a YYYY-MM month"],
    ),
    (
        "US month",
        header("wins") + row("10/2026", PRIYA, "1"),
        ["line 2, column month: '10/2026' is not a YYYY-MM month"],
    ),
    (
        "month made a date",
        header("wins") + row("2026-10-01", PRIYA, "1"),
        ["line 2, column month: '2026-10-01' is a date, not a YYYY-MM month (write 2026-10)"],
    ),
    (
        "empty month",
        header("wins") + row(" ", PRIYA, "1"),
        ["line 2, column month: empty required value"],
    ),
    (
        "empty rep",
        header("wins") + row("2026-10", "", "1"),
        ["line 2, column rep_email: empty required value"],
    ),
    (
        "unknown rep",
        header("wins") + row("2026-10", "ghost@example.com", "1"),
        ["line 2, column rep_email: ghost@example.com is not in the org chart (import it first)"],
    ),
    (
        "negative",
        header("wins", "revenue") + row("2026-10", PRIYA, "-1", '"-1,200"'),
        [
            "line 2, column wins: -1 is negative, and counts can't be",
            "line 2, column revenue: -1,200 is negative, and amounts can't be",
        ],
    ),
    (
        "not numbers",
        header("wins")
        + "".join(
            row(f"2026-{m:02d}", PRIYA, cell)
            for m, cell in enumerate(
                ["five", '"1,2"', "1_000", "nan", "inf", "$5", '"1.200,50"', "1 200"], 1
            )
        ),
        [
            "line 2, column wins: 'five' is not a number",
            "line 3, column wins: '1,2' is not a number",
            "line 4, column wins: '1_000' is not a number",
            "line 5, column wins: 'nan' is not a number",
            "line 6, column wins: 'inf' is not a number",
            "line 7, column wins: '$5' is not a number",
            "line 8, column wins: '1.200,50' is not a number",
            "line 9, column wins: '1 200' is not a number",
        ],
    ),
    (
        "rep month twice",
        header("wins") + row("2026-10", PRIYA, "1") + row("2026-10", " Priya@Example.com", "2"),
        ["line 3: priya@example.com 2026-10 appears twice (first on line 2)"],
    ),
    (
        "every problem of a row, in column order",
        header("wins", "losses") + row("2026-13", "ghost@example.com", "x", "-2"),
        [
            "line 2, column month: '2026-13' is not a YYYY-MM month",
            "line 2, column rep_email: ghost@example.com is not in the org chart (import it first)",
            "line 2, column wins: 'x' is not a number",
            "line 2, column losses: -2 is negative, and counts can't be",
        ],
    ),
    (
        "line after a cell on three lines",
        'month,rep_email,wins\n2026-10,"priya@example.com\n\n",1\n2026-11,x@y.z,1\n',
        ["line 5, column rep_email: x@y.z is not in the org chart (import it first)"],
    ),
    (
        "extra cells",
        header("wins") + row("2026-10", PRIYA, "1", "2"),
        ["line 2: 4 cells but the header has 3 columns"],
    ),
    (
        "latin-1",
        (
            header("wins") + row("2026-10", PRIYA, "1") + row("2026-11", "jörg@example.com", "1")
        ).encode("latin-1"),
        ["line 3: not UTF-8 text (byte 0xf6): save the file as 'CSV UTF-8' and try again"],
    ),
    (
        "values in an unnamed column",
        "month,rep_email,wins,\n2026-10,priya@example.com,1,\n2026-11,priya@example.com,2,x\n",
        ["line 1: column 4 has no name but has values (line 3)"],
    ),
    (
        "a cell too big for a spreadsheet",
        header("wins") + row("2026-10", PRIYA, "1" * 140_000),
        ["line 2: not readable as CSV: field larger than field limit (131072)"],
    ),
    (
        "through outside the row's month, or not a date",
        header("wins", "through")
        + row("2026-10", PRIYA, "1", "2026-11-02")
        + row("2026-11", PRIYA, "1", "2026-11-31")
        + row("2026-12", PRIYA, "1", "18/12/2026"),
        [
            "line 2, column through: 2026-11-02 is not in 2026-10: through is the last day the "
            "row's counts cover",
            "line 3, column through: '2026-11-31' is not a YYYY-MM-DD date",
            "line 4, column through: '18/12/2026' is not a YYYY-MM-DD date",
        ],
    ),
    (
        "through and no counts",
        header("through") + row("2026-10", PRIYA, "2026-10-05"),
        ["line 1: no count columns: expected some of " + ", ".join(COLUMNS)],
    ),  # fmt: skip
    ("empty", b"", ["the file is empty: expected a header line, then one row per line"]),
    ("header only", header("wins"), ["the file has a header but no rows"]),
]


def test_bad_metrics_files_are_refused_whole(org: Engine, tmp_path: Path) -> None:
    # One database for all cases: every refused file must leave the data imported first as is.
    run_import(org, write(tmp_path, METRICS, "good.csv"))
    wrong = {}
    for case, text, expected in BAD_METRICS:
        reported = problems_of(org, write(tmp_path, text, f"{case}.csv"), run_import)
        if reported != expected:
            wrong[case] = reported
    assert wrong == {}


def test_more_than_50_problems_are_counted(sqlite_engine: Engine, tmp_path: Path) -> None:
    load_org(sqlite_engine, tmp_path)
    rows = "".join(row(f"2026-{m:02d}", PRIYA, "x", "-1") for m in range(1, 13)) * 3
    with pytest.raises(CsvImportError) as info:
        run_import(sqlite_engine, write(tmp_path, header("wins", "losses") + rows, "m.csv"))
    error = info.value
    # 2 bad counts a row, and 24 of the 36 rows repeat an earlier (rep, month)
    assert error.total == 36 * 2 + 24
    lines = str(error).splitlines()
    assert len(lines) == 51
    assert lines[0] == "line 2, column wins: 'x' is not a number"
    assert lines[-1] == f"… and {error.total - 50} more problems"


def test_progress_is_reported_every_5000_rows(sqlite_engine: Engine, tmp_path: Path) -> None:
    reps = [f"rep{i}@example.com" for i in range(1_000)]
    org = "email,name,role,manager_email\nboss@example.com,Boss,director,\n"
    org += "".join(f"{rep},Rep,rep,boss@example.com\n" for rep in reps)
    with session_scope(sqlite_engine) as s:
        import_org(s, WS, write(tmp_path, org, "org.csv"))
    text = header("wins") + "".join(
        row(f"2026-{m:02d}", rep, str(m)) for m in range(1, 13) for rep in reps
    )
    seen: list[tuple[int, int]] = []
    result = run_import(
        sqlite_engine, write(tmp_path, text, "m.csv"), progress=lambda *a: seen.append(a)
    )
    assert result.new == 12_000
    assert seen == [(0, 12_000), (5_000, 12_000), (10_000, 12_000), (12_000, 12_000)]


# ------------------------------------------------------------------------- property: round trip

REPS = ["priya@example.com", "omar@example.com", "mark@example.com"]
MONTHS = ["2026-01", "2026-02", "2026-03"]
Frame = tuple[list[str], dict[tuple[str, str], list[float | None]]]

# Columns no constraint ties together, so any values are possible: two counts, two amounts.
FREE = ["leads_prospected", "losses", "calls_recorded", "revenue", "quota"]
counts = st.one_of(st.none(), st.integers(0, 10**9).map(float))
amounts = st.one_of(
    counts, st.floats(0, 1e12, allow_nan=False, allow_infinity=False, allow_subnormal=False)
)


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    """Some count columns and some (rep, month)s, each with a value or None per column."""
    columns = draw(st.lists(st.sampled_from(FREE), min_size=1, max_size=5, unique=True))
    keys = draw(st.lists(st.tuples(st.sampled_from(REPS), st.sampled_from(MONTHS)), unique=True))
    return columns, {
        key: [draw(amounts if c in CATALOGUE.amounts else counts) for c in columns] for key in keys
    }


@st.composite
def csv_texts(draw: st.DrawFn, frame: Frame) -> str:
    """The frame as a spreadsheet might write it: any row order, padding, `1,200`, CRLF."""
    columns, rows = frame
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(["month", "rep_email", *columns])
    for (rep, month), values in draw(st.permutations(list(rows.items()))):
        cells = []
        for value in values:
            if value is None:
                cells.append(draw(st.sampled_from(["", " "])))
            elif value.is_integer() and value >= 1000 and draw(st.booleans()):
                cells.append(f"{int(value):,}")
            else:
                cells.append(draw(st.sampled_from(["{}", " {} "])).format(repr(value)))
        writer.writerow([month, draw(st.sampled_from([rep, rep.upper()])), *cells])
    return out.getvalue()


def expected_after(model: Stored, frame: Frame) -> tuple[Stored, tuple[int, int, int]]:
    """The documented semantics: the file's columns of its (rep, month)s are replaced."""
    columns, rows = frame
    after = {key: dict(values) for key, values in model.items()}
    new = updated = 0
    for key, values in rows.items():
        before = model.get(key, {})
        given = dict(zip(columns, values, strict=True))
        merged = {k: v for k, v in before.items() if k not in given}
        merged.update({k: v for k, v in given.items() if v is not None})
        if merged != before:
            new, updated = (new + 1, updated) if not before else (new, updated + 1)
        if merged:
            after[key] = merged
        else:
            after.pop(key, None)
    return after, (new, updated, len(rows) - new - updated)


workspaces = itertools.count()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_sequence_of_files_lands_exactly(
    engine: Engine, tmp_path: Path, data: st.DataObject
) -> None:
    workspace = f"H{next(workspaces)}"  # a fresh workspace per example, one database
    load_org(engine, tmp_path, workspace)
    model: Stored = {}
    for _ in range(2):
        frame = data.draw(frames())
        path = write(tmp_path, data.draw(csv_texts(frame)), "m.csv")
        if not frame[1]:
            with pytest.raises(CsvImportError):
                run_import(engine, path, workspace)
            continue
        model, (new, updated, unchanged) = expected_after(model, frame)
        result = run_import(engine, path, workspace)
        assert (result.new, result.updated, result.unchanged) == (new, updated, unchanged)
        assert stored(engine, workspace) == model
        assert as_read(engine, workspace) == model


def as_read(engine: Engine, workspace: str) -> Stored:
    """{(email, month): {count: value}} as the gap engine's columnar read sees it."""
    frame = metrics_frame(engine, workspace)
    counts = [c for c in frame.columns if c not in ("rep", "month", "through")]
    assert list(frame[["rep", "month"]].itertuples(index=False)) == sorted(
        frame[["rep", "month"]].itertuples(index=False)
    )
    return {
        (rep, month): {c: v for c, v in zip(counts, values, strict=True) if v == v}
        for rep, month, *values in frame[["rep", "month", *counts]].itertuples(index=False)
    }


def marks(engine: Engine) -> dict[tuple[str, str], date]:
    """{(email, month): through} of the month-to-date rep-months stored."""
    query = select(Person.email, PartialMonth.month, PartialMonth.through).join(
        Person, Person.id == PartialMonth.person_id
    )
    with session_scope(engine) as s:
        return {(email, month): through for email, month, through in s.execute(query)}


def test_through_marks_month_to_date_rows_until_the_full_month(org: Engine, tmp_path: Path) -> None:
    run_import(org, write(tmp_path, METRICS, "m.csv"))
    daily = (
        "month,rep_email,leads_prospected,through\n"
        "2026-11,priya@example.com,400,2026-11-18\n"
        "2026-11,omar@example.com,380, 2026-11-18 \n"
        "2026-10,omar@example.com,800,\n"  # a full month, as stored
    )
    result = run_import(org, write(tmp_path, daily, "daily.csv"))
    assert (result.new, result.updated, result.unchanged, result.months) == (2, 0, 1, ["2026-11"])
    assert marks(org) == {
        ("priya@example.com", "2026-11"): date(2026, 11, 18),
        ("omar@example.com", "2026-11"): date(2026, 11, 18),
    }
    # The next day: the same counts through a later day change the mark only.
    later = daily.replace("2026-11-18", "2026-11-19")
    result = run_import(org, write(tmp_path, later, "later.csv"))
    assert (result.new, result.updated, result.unchanged) == (0, 2, 1)
    assert set(marks(org).values()) == {date(2026, 11, 19)}
    # The full month, without the column: no longer month to date, the values replaced.
    full = "month,rep_email,leads_prospected\n2026-11,priya@example.com,650\n"
    result = run_import(org, write(tmp_path, full, "full.csv"))
    assert (result.updated, result.months) == (1, ["2026-11"])
    assert marks(org) == {("omar@example.com", "2026-11"): date(2026, 11, 19)}
    assert stored(org)["priya@example.com", "2026-11"] == {"leads_prospected": 650}
    # An empty cell is the full month too.
    blank = "month,rep_email,leads_prospected,through\n2026-11,omar@example.com,380,\n"
    assert run_import(org, write(tmp_path, blank, "blank.csv")).updated == 1
    assert marks(org) == {}


def test_a_refused_file_leaves_the_marks_as_they_were(org: Engine, tmp_path: Path) -> None:
    daily = "month,rep_email,wins,through\n2026-11,priya@example.com,1,2026-11-18\n"
    run_import(org, write(tmp_path, daily, "daily.csv"))
    bad = daily.replace(",1,", ",-1,").replace("2026-11-18", "2026-11-19")
    assert problems_of(org, write(tmp_path, bad, "bad.csv"), run_import) == [
        "line 2, column wins: -1 is negative, and counts can't be"
    ]
    assert marks(org) == {("priya@example.com", "2026-11"): date(2026, 11, 18)}
