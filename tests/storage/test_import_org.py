"""`import_org`: the org chart CSV, on SQLite and PostgreSQL.

Every kind of bad input is reported at its line and column, and then nothing is written, even
over an org imported before; what spreadsheets write is accepted; re-imports upsert by email.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import aliased

from storage.counts import put_counts
from storage.csv_import import CsvImportError, ImportResult, Problem, import_org
from storage.db import session_scope
from storage.models import MetricMonth, MetricName, PartialMonth, Person, Workspace

WS = "T1"
ORG = """\
email,name,role,manager_email,segment,slack_user_id,timezone,start_date
dana@example.com,Dana Director,director,,,,America/New_York,2019-03-01
mark@example.com,Mark Manager,manager,dana@example.com,,,America/Chicago,
priya@example.com,Priya Shah,rep,mark@example.com,SMB,U024BE7LH,Europe/Berlin,2026-09-01
omar@example.com,Omar Ali,rep,mark@example.com,SMB,,,
"""


def write(tmp_path: Path, text: str | bytes, name: str = "org.csv") -> Path:
    """`text` as a file, UTF-8 unless given as bytes, newlines exactly as written."""
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table an import may write, timestamps included."""
    tables = (
        Workspace.__table__,
        Person.__table__,
        MetricName.__table__,
        MetricMonth.__table__,
        PartialMonth.__table__,
    )
    with session_scope(engine) as s:
        return {
            t.name: [tuple(r) for r in s.execute(select(t).order_by(*t.primary_key))]
            for t in tables
        }


def run_import(engine: Engine, path: Path, **kwargs: Any) -> ImportResult:
    with session_scope(engine) as s:
        return import_org(s, WS, path, **kwargs)


def problems_of(engine: Engine, path: Path, run: Callable[..., Any] = run_import) -> list[str]:
    """The problems an import reports, checking it wrote nothing at all."""
    before = snapshot(engine)
    with pytest.raises(CsvImportError) as info:
        run(engine, path)
    assert snapshot(engine) == before, "a failed import wrote something"
    return [str(p) for p in info.value.problems]


def people(engine: Engine) -> dict[str, Person]:
    with session_scope(engine) as s:
        return {p.email: p for p in s.scalars(select(Person).where(Person.workspace_id == WS))}


def managers(engine: Engine) -> dict[str, str | None]:
    boss = aliased(Person)
    query = select(Person.email, boss.email).outerjoin(boss, Person.manager_id == boss.id)
    with session_scope(engine) as s:
        return {email: manager for email, manager in s.execute(query)}


def test_imports_people_with_their_managers(engine: Engine, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    result = run_import(engine, write(tmp_path, ORG), progress=lambda *a: seen.append(a))
    assert result == ImportResult(rows=4, new=4, updated=0, unchanged=0)
    assert result.summary() == "imported 4 rows: 4 new, 0 updated"
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    assert managers(engine) == {
        "dana@example.com": None,
        "mark@example.com": "dana@example.com",
        "priya@example.com": "mark@example.com",
        "omar@example.com": "mark@example.com",
    }
    org = people(engine)
    priya = org["priya@example.com"]
    assert (priya.name, priya.role, priya.segment, priya.slack_user_id) == (
        "Priya Shah",
        "rep",
        "SMB",
        "U024BE7LH",
    )
    assert (priya.timezone, priya.start_date, priya.active) == (
        "Europe/Berlin",
        date(2026, 9, 1),
        True,
    )
    omar = org["omar@example.com"]
    assert (omar.slack_user_id, omar.timezone, omar.start_date) == (None, None, None)
    with session_scope(engine) as s:
        assert s.get(Workspace, WS).data_version == 1


def test_same_file_twice_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, ORG)
    run_import(engine, path)
    first = snapshot(engine)
    again = run_import(engine, path)
    assert (again.rows, again.new, again.updated, again.unchanged) == (4, 0, 0, 4)
    assert again.summary() == "imported 4 rows: 0 new, 0 updated, 4 unchanged"
    assert snapshot(engine) == first


def test_reimport_updates_by_email(engine: Engine, tmp_path: Path) -> None:
    run_import(engine, write(tmp_path, ORG))
    before = people(engine)
    changed = ORG.replace("Omar Ali,rep,mark@example.com", "Omar B. Ali,rep,dana@example.com")
    changed = changed.replace("priya@example.com", "PRIYA@Example.com")  # same person
    changed += "lee@example.com,Lee,rep,mark@example.com,SMB,,,\n"
    result = run_import(engine, write(tmp_path, changed))
    assert (result.new, result.updated, result.unchanged) == (1, 1, 3)
    after = people(engine)
    assert after["omar@example.com"].name == "Omar B. Ali"
    assert after["omar@example.com"].updated_at > before["omar@example.com"].updated_at
    assert after["dana@example.com"].updated_at == before["dana@example.com"].updated_at
    assert managers(engine) == {
        "dana@example.com": None,
        "mark@example.com": "dana@example.com",
        "priya@example.com": "mark@example.com",
        "omar@example.com": "dana@example.com",
        "lee@example.com": "mark@example.com",
    }


def test_missing_person_is_deactivated_then_reactivated(engine: Engine, tmp_path: Path) -> None:
    run_import(engine, write(tmp_path, ORG))
    omar_id = people(engine)["omar@example.com"].id
    with session_scope(engine) as s:
        put_counts(s, WS, omar_id, "2026-10", {"wins": 3})
    without = "".join(line for line in ORG.splitlines(True) if "omar" not in line)
    result = run_import(engine, write(tmp_path, without))
    assert (result.rows, result.unchanged, result.deactivated) == (3, 3, 1)
    assert result.summary() == (
        "imported 3 rows: 0 new, 0 updated, 3 unchanged; 1 no longer in the file, marked inactive"
    )
    omar = people(engine)["omar@example.com"]
    assert (omar.id, omar.active, omar.manager_id is not None) == (omar_id, False, True)
    assert len(snapshot(engine)["metric_months"]) == 1  # their history stays
    assert run_import(engine, write(tmp_path, without)).deactivated == 0  # already inactive
    back = run_import(engine, write(tmp_path, ORG))
    assert (back.new, back.updated, back.unchanged) == (0, 1, 3)
    assert people(engine)["omar@example.com"].active


def test_empty_slack_id_keeps_the_resolved_one(engine: Engine, tmp_path: Path) -> None:
    run_import(engine, write(tmp_path, ORG))
    with session_scope(engine) as s:  # as the bot does when it first meets Omar on Slack
        s.execute(
            update(Person).where(Person.email == "omar@example.com").values(slack_user_id="U0MAR")
        )
    assert run_import(engine, write(tmp_path, ORG)).unchanged == 4
    assert people(engine)["omar@example.com"].slack_user_id == "U0MAR"
    result = run_import(engine, write(tmp_path, ORG.replace("SMB,,,\n", "SMB,W0NEW,,\n")))
    assert result.updated == 1
    assert people(engine)["omar@example.com"].slack_user_id == "W0NEW"


def test_what_spreadsheets_write_is_accepted(engine: Engine, tmp_path: Path) -> None:
    text = (
        "\ufeff Email , NAME,Role ,manager_email,Segment,slack_user_id,timezone,start_date,\r\n"
        '"dana@example.com","Dana Director",DIRECTOR,,,,America/New_York,2019-03-01,\r\n'
        "\r\n"
        ' mark@example.com , "Manager, Mark" ,manager, Dana@Example.com ,,,,\r\n'
        'priya@example.com,"Priya\r\nShah",rep,mark@example.com,SMB,,,\r\n'
        ",,,,,,,,\r\n"
        'omar@example.com,"Omar ""O"" Ali",rep,mark@example.com,SMB\r\n'
    )
    result = run_import(engine, write(tmp_path, text.encode("utf-8")))
    assert (result.rows, result.new) == (4, 4)
    org = people(engine)
    assert org["mark@example.com"].name == "Manager, Mark"
    assert managers(engine)["mark@example.com"] == "dana@example.com"
    assert org["dana@example.com"].role == "director"
    assert org["priya@example.com"].name == "Priya\r\nShah"
    assert org["omar@example.com"].name == 'Omar "O" Ali'
    assert org["omar@example.com"].segment == "SMB"


def replace(old: str, new: str) -> str:
    assert old in ORG
    return ORG.replace(old, new)


# (case, file, the problems reported)
BAD_ORG: list[tuple[str, str | bytes, list[str]]] = [
    (
        "missing column",
        "email,name\nx@example.com,X\n",
        ["line 1, column role: required column is missing"],
    ),
    (
        "typo in column",
        replace("segment", "segmnet"),
        ["line 1, column segmnet: unknown column — did you mean segment?"],
    ),
    (
        "unknown column",
        replace("start_date", "start_date,shoe_size"),
        [
            "line 1, column shoe_size: unknown column (expected one of: country, discipline, "
            "email, manager_email, name, one_on_one, role, segment, slack_user_id, start_date, "
            "timezone)"
        ],
    ),
    ("twice", replace("segment", "Email"), ["line 1, column email: the column appears twice"]),
    ("empty name", replace("Omar Ali", ""), ["line 5, column name: empty required value"]),
    (
        "empty email",
        replace("omar@example.com,", " ,"),
        ["line 5, column email: empty required value"],
    ),
    (
        "unknown role",
        replace("Omar Ali,rep", "Omar Ali,rpe"),
        ["line 5, column role: unknown role 'rpe' (rep, manager, director, admin)"],
    ),
    (
        "a manager's own row is wrong",
        replace("Mark Manager,manager", "Mark Manager,mgr"),
        ["line 3, column role: unknown role 'mgr' (rep, manager, director, admin)"],
    ),
    (
        "bad date",
        replace("2026-09-01", "2026-13-01"),
        ["line 4, column start_date: '2026-13-01' is not a YYYY-MM-DD date"],
    ),
    (
        "US date",
        replace("2026-09-01", "9/1/2026"),
        ["line 4, column start_date: '9/1/2026' is not a YYYY-MM-DD date"],
    ),
    (
        "bad zone",
        replace("Europe/Berlin", "Mars/Base"),
        ["line 4, column timezone: 'Mars/Base' is not an IANA time zone (e.g. Europe/Berlin)"],
    ),
    (
        "zone case",
        replace("Europe/Berlin", "europe/berlin"),
        [
            "line 4, column timezone: 'europe/berlin' is not an IANA time zone — did you mean "
            "Europe/Berlin?"
        ],
    ),
    (
        "bad email",
        replace("omar@example.com,Omar", "omar-at-example,Omar"),
        ["line 5, column email: 'omar-at-example' is not an email address"],
    ),
    (
        "duplicate email",
        ORG + "Priya@Example.com,Priya Again,rep,mark@example.com,,,,\n",
        ["line 6, column email: priya@example.com appears twice (first on line 4)"],
    ),
    (
        "unknown manager",
        replace("Omar Ali,rep,mark@example.com", "Omar Ali,rep,nobody@example.com"),
        [
            "line 5, column manager_email: nobody@example.com is not in the org chart "
            "(managers must be in the file too)"
        ],
    ),
    (
        "rep without manager",
        replace("Omar Ali,rep,mark@example.com", "Omar Ali,rep,"),
        ["line 5, column manager_email: a rep needs a manager"],
    ),
    (
        "manager without manager",
        replace("manager,dana@example.com", "manager,"),
        ["line 3, column manager_email: a manager needs a manager"],
    ),
    (
        "rep as manager",
        replace("Omar Ali,rep,mark@example.com", "Omar Ali,rep,priya@example.com"),
        ["line 5, column manager_email: priya@example.com is a rep, and reps manage no one"],
    ),
    (
        "loop",
        replace("Dana Director,director,", "Dana Director,director,mark@example.com"),
        [
            "line 2, column manager_email: reporting loop: dana@example.com → mark@example.com"
            " → dana@example.com"
        ],
    ),
    (
        "own manager",
        replace("Dana Director,director,", "Dana Director,director,dana@example.com"),
        ["line 2, column manager_email: dana@example.com is their own manager"],
    ),
    (
        "bad slack id",
        replace("U024BE7LH", "@priya"),
        [
            "line 4, column slack_user_id: '@priya' is not a Slack user id (like U024BE7LH); "
            "leave it empty to look it up by email"
        ],
    ),
    (
        "slack id twice",
        replace("SMB,,,\n", "SMB,U024BE7LH,,\n"),
        ["line 5, column slack_user_id: U024BE7LH is also on line 4"],
    ),
    (
        "too long",
        replace("Omar Ali", "O" * 201),
        ["line 5, column name: longer than 200 characters"],
    ),
    (
        "extra cells",
        replace("SMB,,,\n", "SMB,,,,surplus\n"),
        ["line 5: 9 cells but the header has 8 columns"],
    ),
    (
        "line after a cell on two lines",
        replace("Priya Shah", '"Priya\nShah"').replace("Omar Ali,rep", "Omar Ali,rpe"),
        ["line 6, column role: unknown role 'rpe' (rep, manager, director, admin)"],
    ),
    (
        "unclosed quote",
        replace("Omar Ali", '"Omar Ali'),
        ['line 5: a quoted cell is never closed (a " is missing)'],
    ),
    (
        "latin-1",
        replace("Omar", "Jörg").encode("latin-1"),
        ["line 5: not UTF-8 text (byte 0xf6): save the file as 'CSV UTF-8' and try again"],
    ),
    (
        "utf-16",
        ORG.encode("utf-16"),
        ["the file is UTF-16 text: save it as 'CSV UTF-8' and try again"],
    ),
    ("empty", "", ["the file is empty: expected a header line, then one row per line"]),
    (
        "blank",
        "\ufeff\r\n \r\n",
        ["the file is empty: expected a header line, then one row per line"],
    ),
    ("header only", ORG.splitlines()[0] + "\n", ["the file has a header but no rows"]),
]


def test_bad_org_files_are_refused_whole(engine: Engine, tmp_path: Path) -> None:
    # One database for all cases (a fresh one each costs more than the import): every refused
    # file must leave the org imported first exactly as it was.
    run_import(engine, write(tmp_path, ORG, "good.csv"))
    wrong = {}
    for case, text, expected in BAD_ORG:
        reported = problems_of(engine, write(tmp_path, text, f"{case}.csv"))
        if reported != expected:
            wrong[case] = reported
    assert wrong == {}


def test_every_problem_is_listed_in_file_order(sqlite_engine: Engine, tmp_path: Path) -> None:
    text = (
        "email,name,role,manager_email,timezone,segmnet\n"
        "a@example.com,,boss,b@example.com,Nowhere,\n"
        "b@example.com,B,rep,,,\n"
    )
    assert problems_of(sqlite_engine, write(tmp_path, text)) == [
        "line 1, column segmnet: unknown column — did you mean segment?",
        "line 2, column name: empty required value",
        "line 2, column role: unknown role 'boss' (rep, manager, director, admin)",
        "line 2, column manager_email: b@example.com is a rep, and reps manage no one",
        "line 2, column timezone: 'Nowhere' is not an IANA time zone (e.g. Europe/Berlin)",
        "line 3, column manager_email: a rep needs a manager",
    ]


def test_more_than_50_problems_are_counted(sqlite_engine: Engine, tmp_path: Path) -> None:
    rows = "".join(f"p{i}@example.com,,rpe,,,,,\n" for i in range(40))
    path = write(tmp_path, ORG.splitlines(True)[0] + rows)  # 2 problems a row
    with pytest.raises(CsvImportError) as info:
        run_import(sqlite_engine, path)
    error = info.value
    assert error.total == 80
    lines = str(error).splitlines()
    assert len(lines) == 51
    assert lines[:2] == [
        "line 2, column name: empty required value",
        "line 2, column role: unknown role 'rpe' (rep, manager, director, admin)",
    ]
    assert lines[-1] == "… and 30 more problems"
    assert [str(p) for p in error.problems[:50]] == lines[:50]


def test_problem_reads_like_a_sentence() -> None:
    assert str(Problem(line=7, column="role", message="unknown role 'rpe'")) == (
        "line 7, column role: unknown role 'rpe'"
    )
    assert str(Problem(line=3, message="x")) == "line 3: x"
    assert str(Problem(message="the file is empty")) == "the file is empty"
    assert str(CsvImportError([Problem(message="a")] * 51)).endswith("\n… and 1 more problem")


def test_discipline_is_imported_and_reaches_the_people_frame(
    engine: Engine, tmp_path: Path
) -> None:
    from storage.queries import people_frame

    rows = [line.split(",") for line in ORG.splitlines()]
    # The discipline column after segment: "AE" for Priya, blank for everyone else.
    for cells in rows:
        cells.insert(
            5, "discipline" if cells[0] == "email" else "AE" * (cells[0] == "priya@example.com")
        )
    run_import(engine, write(tmp_path, "\n".join(",".join(c) for c in rows) + "\n"))
    with session_scope(engine) as s:
        frame = people_frame(s, WS)
    assert "discipline" in frame.columns
    assert set(frame["discipline"].dropna()) == {"AE"}
    assert frame["discipline"].isna().any()


def test_country_is_checked_normalised_and_updated(engine: Engine, tmp_path: Path) -> None:
    with_country = ORG.replace("start_date\n", "start_date,country\n")
    with_country = with_country.replace("2026-09-01\n", "2026-09-01,de-by\n")
    run_import(engine, write(tmp_path, with_country))
    assert people(engine)["priya@example.com"].country == "DE-BY"
    assert people(engine)["omar@example.com"].country is None
    assert problems_of(engine, write(tmp_path, with_country.replace("de-by", "Germany"))) == [
        "line 4, column country: 'Germany' is not a country code coach knows the holidays of "
        "(ISO 3166-1 alpha-2, e.g. DE, or with a region, e.g. DE-BY)"
    ]
    run_import(engine, write(tmp_path, with_country.replace("de-by", "GB-SCT")))
    assert people(engine)["priya@example.com"].country == "GB-SCT"


def test_one_on_one_is_checked_with_line_numbers_and_an_empty_cell_keeps_slack_s(
    engine: Engine, tmp_path: Path
) -> None:
    weekly = ORG.replace("start_date\n", "start_date,one_on_one\n")
    weekly = weekly.replace("2026-09-01\n", "2026-09-01,tue 14:00\n")
    weekly = weekly.replace(",,,\n", ",,,,Friday 9:30\n").replace("2019-03-01\n", "2019-03-01,\n")
    weekly = weekly.replace("America/Chicago,\n", "America/Chicago,,\n")
    run_import(engine, write(tmp_path, weekly))
    found = people(engine)
    assert (
        found["priya@example.com"].one_on_one_weekday,
        str(found["priya@example.com"].one_on_one_time),
    ) == (1, "14:00:00")
    assert (
        found["omar@example.com"].one_on_one_weekday,
        str(found["omar@example.com"].one_on_one_time),
    ) == (4, "09:30:00")
    bad = weekly.replace("tue 14:00", "Tue 2pm").replace("Friday 9:30", "Someday 09:00")
    bad = bad.replace("America/Chicago,,\n", "America/Chicago,,Mon 10:00\n")
    assert problems_of(engine, write(tmp_path, bad)) == [
        "line 3, column one_on_one: only a rep has a weekly 1:1 (with their manager)",
        "line 4, column one_on_one: 'Tue 2pm' is not a weekday and a 24-hour time, e.g. Tue 14:00",
        "line 5, column one_on_one: 'Someday' is not a weekday (Mon … Sun): a weekday and a "
        "24-hour time, e.g. Tue 14:00",
    ]
    # An empty cell keeps what the manager set from App Home; a given one replaces it.
    run_import(
        engine, write(tmp_path, weekly.replace("tue 14:00", "").replace("Friday 9:30", "Wed 08:00"))
    )
    found = people(engine)
    assert found["priya@example.com"].one_on_one_weekday == 1
    assert found["omar@example.com"].one_on_one_weekday == 2
