"""Impossible numbers and invisible characters are refused at import, on SQLite and PostgreSQL.

Each problem names its line and column in words a sales-ops person reads, and a refused file
leaves every table exactly as it was (`problems_of` compares a full dump before and after).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import time_machine
from sqlalchemy import Engine

from analytics.catalogue import load_catalogue
from analytics.simulate import demo_org
from benchmarks.bench_import import write_metrics, write_org
from bot.demo.run import write_demo_csvs
from storage.csv_import import ImportResult, import_metrics, import_org
from storage.csv_metrics import latest_month
from storage.db import session_scope
from tests.storage.test_import_metrics import header, row, run_import, stored
from tests.storage.test_import_org import ORG, WS, problems_of, write
from tests.storage.test_import_org import run_import as run_org_import

PRIYA, OMAR = "priya@example.com", "omar@example.com"
OWN_WINS = "a rep's own wins (wins − inherited_wins) can't exceed their demos"
FUTURE = "(to load quotas ahead, set COACH_MONTHS_AHEAD)"


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    with time_machine.travel("2026-11-20 12:00:00+00:00", tick=True):
        yield


@pytest.fixture
def org(engine: Engine, tmp_path: Path) -> Engine:
    """The engine with the org chart and a first month for each rep imported."""
    with session_scope(engine) as s:
        import_org(s, WS, write(tmp_path, ORG, "org.csv"))
    first = (
        header("leads_prospected", "connects", "discovery_calls", "demos", "wins", "revenue")
        + row("2026-08", PRIYA, "200", "40", "15", "8", "2", "9000")
        + row("2026-08", OMAR, "100", "20", "10", "5", "1", "4000")
    )
    run_import(engine, write(tmp_path, first, "first.csv"))
    return engine


# (case, file, the problems reported). Priya has 8 demos and 2 wins stored for 2026-08.
IMPOSSIBLE: list[tuple[str, str, list[str]]] = [
    (
        "more own wins than demos over the rep's months",
        header("demos", "wins")
        + row("2026-09", PRIYA, "3", "4")
        + row("2026-10", PRIYA, "3", "9")
        + row("2026-10", OMAR, "5", "1"),
        [
            "line 3, column wins: wins − inherited_wins = 15 but 14 demos over this rep's 3 "
            f"months on record (2026-10: wins − inherited_wins = 9 and 3 demos) — {OWN_WINS}",
        ],
    ),
    (
        "each funnel stage above the one before",
        header("leads_prospected", "connects", "discovery_calls", "demos")
        + row("2026-09", OMAR, "10", "100", "10", "5"),
        [
            "line 2, column connects: 120 connects but 110 leads_prospected over this rep's 2 "
            "months on record (2026-09: 100 connects and 10 leads_prospected) — a rep can't "
            "connect with more leads than they prospected",
        ],
    ),
    (
        "demos above discovery calls",
        header("discovery_calls", "demos") + row("2026-09", OMAR, "0", "7"),
        [
            "line 2, column demos: 12 demos but 10 discovery_calls over this rep's 2 months on "
            "record (2026-09: 7 demos and 0 discovery_calls) — every demo follows a discovery "
            "call",
        ],
    ),
    (
        "inherited more than all",
        header("wins", "inherited_wins", "revenue", "inherited_revenue")
        + row("2026-09", PRIYA, "1", "2", '"1,000"', "1000.5"),
        [
            "line 2, column inherited_wins: 2 inherited_wins but 1 wins — inherited wins are "
            "part of wins",
            "line 2, column inherited_revenue: 1,000.50 inherited_revenue but 1,000 revenue — "
            "inherited revenue is part of revenue",
        ],
    ),
    (
        "fractional counts",
        header("wins", "leads_prospected") + row("2026-09", PRIYA, "2.5", '"1,200.4"'),
        [
            "line 2, column wins: 2.5 is not a whole number, and wins is a count",
            "line 2, column leads_prospected: 1,200.4 is not a whole number, and "
            "leads_prospected is a count",
        ],
    ),
    (
        "absurd sizes",
        header("revenue", "wins", "quota")
        + row("2026-09", PRIYA, "1e308", "1e13", "1000000000001"),
        [
            "line 2, column revenue: 1e308 is more than 1,000,000,000,000: too big for one "
            "rep's month",
            "line 2, column wins: 1e13 is more than 1,000,000,000,000: too big for one rep's month",
            "line 2, column quota: 1000000000001 is more than 1,000,000,000,000: too big for "
            "one rep's month",
        ],
    ),
    (
        "months in the future",
        header("wins") + row("2031-03", PRIYA, "1") + row("2026-12", OMAR, "1"),
        [
            f"line 2, column month: 2031-03 is in the future: the latest month allowed is "
            f"2026-11 {FUTURE}",
            f"line 3, column month: 2026-12 is in the future: the latest month allowed is "
            f"2026-11 {FUTURE}",
        ],
    ),
    (
        "invisible characters",
        header("wins")
        + row("2026-09", "priya@example.com\x00", "1")
        + row("2026-10\u202e", OMAR, "1"),
        [
            "line 2, column rep_email: contains an invisible character (U+0000, control "
            "character): retype the cell",
            "line 3, column month: contains an invisible character (U+202E, right-to-left "
            "override): retype the cell",
        ],
    ),
]


@pytest.mark.parametrize(("case", "text", "expected"), IMPOSSIBLE, ids=[c[0] for c in IMPOSSIBLE])
def test_impossible_numbers_are_refused_whole(
    org: Engine, tmp_path: Path, case: str, text: str, expected: list[str]
) -> None:
    assert problems_of(org, write(tmp_path, text, "m.csv"), run_import) == expected


def test_possible_numbers_pass(org: Engine, tmp_path: Path) -> None:
    text = (
        header(
            "demos", "wins", "inherited_wins", "revenue", "inherited_revenue", "leads_prospected"
        )
        # Wins from last month's demos: more than this month's, not more than the months' demos.
        + row("2026-09", PRIYA, "2", "5", "", "12000.75", "", "2.0")
        # Inherited deals are not the rep's: 6 wins on 4 demos, 3 of them inherited.
        + row("2026-10", PRIYA, "4", "6", "3", '"1,000,000,000,000"', "500000", "")
        # Only wins: nothing to compare them with this month, and no demos on record.
        + row("2026-10", OMAR, "", "2", "", "", "", "")
    )
    assert run_import(org, write(tmp_path, text, "m.csv")).new == 3
    assert stored(org)[PRIYA, "2026-09"]["leads_prospected"] == 2


def test_a_partial_reimport_is_checked_against_what_is_stored(org: Engine, tmp_path: Path) -> None:
    # 5 own wins on 1 demo in October: possible, as August's 8 demos cover them (7 on 9).
    full = header("wins", "inherited_wins", "demos") + row("2026-10", PRIYA, "6", "1", "1")
    run_import(org, write(tmp_path, full, "full.csv"))
    fewer_wins = header("wins") + row("2026-10", PRIYA, "0")
    assert problems_of(org, write(tmp_path, fewer_wins, "wins.csv"), run_import) == [
        "line 2, column wins: 1 inherited_wins but 0 wins — inherited wins are part of wins"
    ]
    fewer_demos = header("demos") + row("2026-08", PRIYA, "5")
    assert problems_of(org, write(tmp_path, fewer_demos, "demos.csv"), run_import) == [
        "line 2, column demos: wins − inherited_wins = 7 but 6 demos over this rep's 2 months "
        "on record (2026-08: wins − inherited_wins = 2 and 5 demos; the most in 2026-10) — "
        f"{OWN_WINS}"
    ]
    # A column no constraint ties to them leaves the stored counts alone.
    quota = header("quota") + row("2026-10", PRIYA, "9000")
    assert run_import(org, write(tmp_path, quota, "quota.csv")).updated == 1


def test_a_custom_catalogue_adds_constraints(org: Engine, tmp_path: Path) -> None:
    custom = write(
        tmp_path,
        "columns: [no_shows]\n"
        "constraints:\n"
        "  - check: no_shows <= demos\n"
        "    reason: a no-show is a demo that was booked\n"
        "  - {check: 'no_shows + demos <= 2 * discovery_calls', pooled: true}\n",
        "metrics.yaml",
    )
    catalogue = load_catalogue(custom)
    text = header("discovery_calls", "demos", "no_shows") + row("2026-09", PRIYA, "3", "3", "4")
    problems = problems_of(
        org,
        write(tmp_path, text, "m.csv"),
        lambda engine, path: run_import(engine, path, catalogue=catalogue),
    )
    assert problems == [
        "line 2, column no_shows: 4 no_shows but 3 demos — a no-show is a demo that was booked",
        "line 2, column no_shows: no_shows + demos = 7 but 2 × discovery_calls = 6 over this "
        "rep's 1 month on record (2026-09: no_shows + demos = 7 and 2 × discovery_calls = 6) "
        "— no_shows + demos can't be more than 2 × discovery_calls",
    ]
    fine = header("discovery_calls", "demos", "no_shows") + row("2026-09", PRIYA, "4", "3", "1")
    assert run_import(org, write(tmp_path, fine, "ok.csv"), catalogue=catalogue).new == 1


def test_months_ahead_only_with_the_setting(org: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, header("quota") + row("2027-01", PRIYA, "60000"), "q.csv")
    assert problems_of(org, path, run_import) == [
        "line 2, column month: 2027-01 is in the future: the latest month allowed is 2026-11 "
        f"{FUTURE}"
    ]
    assert run_import(org, path, months_ahead=2).new == 1
    later = write(tmp_path, header("quota") + row("2027-02", PRIYA, "60000"), "q2.csv")
    assert problems_of(org, later, lambda e, p: run_import(e, p, months_ahead=2)) == [
        "line 2, column month: 2027-02 is in the future: the latest month allowed is 2027-01 "
        f"{FUTURE}"
    ]


def test_the_month_is_the_latest_anywhere_on_earth() -> None:
    # 11:00 UTC on 30 November is already 1 December in Kiribati (UTC+14).
    assert latest_month(0, datetime(2026, 11, 30, 9, 59, tzinfo=UTC)) == "2026-11"
    assert latest_month(0, datetime(2026, 11, 30, 10, 0, tzinfo=UTC)) == "2026-12"
    assert latest_month(3, datetime(2026, 11, 30, 9, 0, tzinfo=UTC)) == "2027-02"


def test_invisible_characters_in_the_org_chart(engine: Engine, tmp_path: Path) -> None:
    with session_scope(engine) as s:
        import_org(s, WS, write(tmp_path, ORG, "org.csv"))
    lines = ORG.splitlines(keepends=True)
    bad = (
        lines[0]
        + lines[1].replace("Dana Director", "Dana\x00Director")
        + lines[2].replace("mark@", "mark\x85@")
        + lines[3].replace("SMB", "SMB\u2066")
        + lines[4].replace("Omar Ali", '"Omar\tAli\u202e"')
    )
    assert problems_of(engine, write(tmp_path, bad, "bad.csv"), run_org_import) == [
        "line 2, column name: contains an invisible character (U+0000, control character): "
        "retype the cell",
        "line 3, column email: contains an invisible character (U+0085, control character): "
        "retype the cell",
        "line 4, column segment: contains an invisible character (U+2066, left-to-right "
        "isolate): retype the cell",
        "line 5, column name: contains an invisible character (U+202E, right-to-left "
        "override): retype the cell",
    ]
    # Joiners belong to some names; tabs and line breaks are ordinary whitespace.
    fine = ORG.replace("Priya Shah", "Priya\u200dShah").replace("Omar Ali", '"Omar\n\tAli"')
    assert run_org_import(engine, write(tmp_path, fine, "fine.csv")).updated == 2


def test_the_demo_org_and_the_benchmark_import_cleanly(engine: Engine, tmp_path: Path) -> None:
    catalogue = load_catalogue()
    people, metrics, _ = demo_org(end_month="2026-10")
    org_csv, metrics_csv = write_demo_csvs(tmp_path / "demo", people, metrics)
    rng = np.random.default_rng(1)
    bench_org, bench_metrics = tmp_path / "bench_org.csv", tmp_path / "bench_metrics.csv"
    reps = write_org(bench_org, 60, rng)
    rows = write_metrics(bench_metrics, reps, 24, rng)
    results: list[ImportResult] = []
    with session_scope(engine) as s:
        import_org(s, "demo", org_csv)
        results.append(import_metrics(s, "demo", metrics_csv, catalogue))
        import_org(s, "bench", bench_org)
        results.append(import_metrics(s, "bench", bench_metrics, catalogue))
    assert [r.new for r in results] == [len(metrics), rows]
