"""CSV imports: every kind of bad input is listed by line and column, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from storage.csv_import import CsvImportError, import_metrics, import_org
from storage.db import session_scope
from storage.models import MetricValue, Person, Workspace

WS = "T1"
COLUMNS = [
    "leads_prospected",
    "connects",
    "discovery_calls",
    "demos",
    "wins",
    "losses",
    "revenue",
    "quota",
    "inherited_wins",
    "inherited_revenue",
]
ORG = """email,name,role,manager_email,segment,slack_user_id,timezone,start_date
dana@example.com,Dana Director,director,,,,America/New_York,2019-03-01
mark@example.com,Mark Manager,manager,dana@example.com,,,America/Chicago,
priya@example.com,Priya Shah,rep,mark@example.com,SMB,U024BE7LH,Europe/Berlin,2026-09-01
omar@example.com,Omar Ali,rep,mark@example.com,SMB,,,
"""
METRICS = """month,rep_email,leads_prospected,connects,demos,wins,revenue
2026-09,priya@example.com,"1,200",310,21,5,"41,500"
2026-10,priya@example.com,900,250,18,4,30000
2026-10,omar@example.com,800,200,20,6,
"""


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def snapshot(engine: Engine) -> tuple[int, int, list[tuple[str, bool]]]:
    with session_scope(engine) as s:
        people = s.execute(select(Person.email, Person.active).order_by(Person.email)).all()
        return (
            s.scalar(select(func.count()).select_from(MetricValue)) or 0,
            s.scalar(select(func.coalesce(func.max(Workspace.data_version), 0))) or 0,
            [tuple(p) for p in people],
        )


def load(engine: Engine, tmp_path: Path) -> None:
    with session_scope(engine) as s:
        import_org(s, WS, write(tmp_path, "org.csv", ORG))
    with session_scope(engine) as s:
        import_metrics(s, WS, write(tmp_path, "metrics.csv", METRICS), COLUMNS)


def problems_of(engine: Engine, kind: str, path: Path) -> list[str]:
    before = snapshot(engine)
    with pytest.raises(CsvImportError) as info, session_scope(engine) as s:
        if kind == "org":
            import_org(s, WS, path)
        else:
            import_metrics(s, WS, path, COLUMNS)
    assert snapshot(engine) == before, "a failed import wrote something"
    return [str(p) for p in info.value.problems]


def test_good_files_import_and_reimport_is_idempotent(engine: Engine, tmp_path: Path) -> None:
    with session_scope(engine) as s:
        result = import_org(s, WS, write(tmp_path, "org.csv", ORG))
    assert (result.rows, result.new, result.updated) == (4, 4, 0)
    with session_scope(engine) as s:
        result = import_metrics(s, WS, write(tmp_path, "m.csv", METRICS), COLUMNS)
    assert result.summary() == "imported 3 rows: 3 new, 0 updated, 0 unchanged"
    first = snapshot(engine)
    assert first[0] == 5 + 5 + 4  # omar's empty revenue is missing, not zero
    with session_scope(engine) as s:
        assert import_org(s, WS, write(tmp_path, "org.csv", ORG)).unchanged == 4
    with session_scope(engine) as s:
        again = import_metrics(s, WS, write(tmp_path, "m.csv", METRICS), COLUMNS)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 3)
    assert snapshot(engine) == first
    with session_scope(engine) as s:
        priya = s.scalar(select(Person).where(Person.email == "priya@example.com"))
        assert priya.manager.email == "mark@example.com"
        values = dict(
            s.execute(
                select(MetricValue.name, MetricValue.value).where(
                    MetricValue.person_id == priya.id, MetricValue.month == "2026-09"
                )
            ).all()
        )
    assert values == {
        "leads_prospected": 1200,
        "connects": 310,
        "demos": 21,
        "wins": 5,
        "revenue": 41500,
    }


def test_reimport_replaces_given_columns_only(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    patch = "month,rep_email,wins,losses\n2026-10,priya@example.com,7,3\n"
    with session_scope(engine) as s:
        result = import_metrics(s, WS, write(tmp_path, "p.csv", patch), COLUMNS)
    assert (result.new, result.updated) == (0, 1)
    with session_scope(engine) as s:
        values = dict(
            s.execute(
                select(MetricValue.name, MetricValue.value)
                .join(Person)
                .where(Person.email == "priya@example.com", MetricValue.month == "2026-10")
            ).all()
        )
    assert values == {
        "leads_prospected": 900,
        "connects": 250,
        "demos": 18,
        "wins": 7,
        "losses": 3,
        "revenue": 30000,
    }


def test_missing_person_is_deactivated_then_reactivated(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path)
    without_omar = "".join(line for line in ORG.splitlines(True) if "omar" not in line)
    with session_scope(engine) as s:
        assert import_org(s, WS, write(tmp_path, "o2.csv", without_omar)).deactivated == 1
    assert ("omar@example.com", False) in snapshot(engine)[2]
    assert snapshot(engine)[0] == 14  # history stays
    with session_scope(engine) as s:
        import_org(s, WS, write(tmp_path, "o3.csv", ORG))
    assert ("omar@example.com", True) in snapshot(engine)[2]


def test_spreadsheet_quirks_are_accepted(engine: Engine, tmp_path: Path) -> None:
    org = ORG.replace("\n", "\r\n").replace("Priya Shah", '"Shah, Priya"')
    org = org.replace("email,name", " Email , NAME ")
    with session_scope(engine) as s:
        assert import_org(s, WS, write(tmp_path, "o.csv", "\ufeff" + org)).new == 4
    metrics = '\ufeffmonth,rep_email,wins\r\n 2026-10 , "PRIYA@example.com" ,"1,002"\r\n\r\n'
    with session_scope(engine) as s:
        assert import_metrics(s, WS, write(tmp_path, "m.csv", metrics), COLUMNS).new == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("email,name\nx@example.com,X\n", "line 1, column role: required column is missing"),
        (
            ORG.replace("segment", "segmnet"),
            "line 1, column segmnet: unknown column — did you mean segment?",
        ),
        (ORG.replace("Omar Ali", ""), "line 5, column name: empty required value"),
        (
            ORG.replace("rep,mark@example.com,SMB,,", "rpe,mark@example.com,SMB,,"),
            "line 5, column role: unknown role 'rpe'",
        ),
        (
            ORG.replace(",2026-09-01", ",2026-13-01"),
            "line 4, column start_date: '2026-13-01' is not a YYYY-MM-DD date",
        ),
        (
            ORG.replace("Europe/Berlin", "Mars/Base"),
            "line 4, column timezone: 'Mars/Base' is not an IANA",
        ),
        (
            ORG.replace(
                "omar@example.com,Omar Ali,rep,mark@example.com",
                "omar@example.com,Omar Ali,rep,nobody@example.com",
            ),
            "line 5, column manager_email: nobody@example.com is not in the org chart",
        ),
        (
            ORG.replace("Omar Ali,rep,mark@example.com", "Omar Ali,rep,"),
            "line 5, column manager_email: a rep needs a manager",
        ),
        (
            ORG + "priya@example.com,Priya Again,rep,mark@example.com,,,,\n",
            "line 6, column email: priya@example.com appears twice (first on line 4)",
        ),
        (
            ORG.replace(
                "dana@example.com,Dana Director,director,,",
                "dana@example.com,Dana Director,director,mark@example.com,",
            ),
            "reporting loop: dana@example.com → mark@example.com → dana@example.com",
        ),
        (
            ORG.replace("omar@example.com,Omar", "omar-at-example,Omar"),
            "line 5, column email: 'omar-at-example' is no email",
        ),
        ("", "the file is empty"),
    ],
)
def test_bad_org_files(engine: Engine, tmp_path: Path, text: str, expected: str) -> None:
    load(engine, tmp_path)
    problems = problems_of(engine, "org", write(tmp_path, "bad.csv", text))
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "month,rep_email,discovery_cals\n",
            "line 1, column discovery_cals: unknown column — did you mean discovery_calls?",
        ),
        ("rep_email,wins\n", "line 1, column month: required column is missing"),
        (
            "month,rep_email,wins\n2026-13,priya@example.com,1\n",
            "line 2, column month: '2026-13' is not a YYYY-MM month",
        ),
        (
            "month,rep_email,wins\n10/2026,priya@example.com,1\n",
            "line 2, column month: '10/2026' is not a YYYY-MM month",
        ),
        (
            "month,rep_email,wins\n2026-10,priya@example.com,-1\n",
            "line 2, column wins: -1 is negative",
        ),
        (
            "month,rep_email,wins\n2026-10,priya@example.com,five\n",
            "line 2, column wins: 'five' is not a number",
        ),
        (
            'month,rep_email,wins\n2026-10,priya@example.com,"1,2"\n',
            "line 2, column wins: '1,2' is not a number",
        ),
        (
            "month,rep_email,wins\n2026-10,ghost@example.com,1\n",
            "line 2, column rep_email: ghost@example.com is not in the org chart",
        ),
        (
            "month,rep_email,wins\n2026-10,mark@example.com,1\n",
            "line 2, column rep_email: mark@example.com is a manager, not a rep",
        ),
        ("month,rep_email,wins\n2026-10,,1\n", "line 2, column rep_email: empty required value"),
        (
            "month,rep_email,wins\n2026-10,priya@example.com,1\n2026-10,PRIYA@example.com,2\n",
            "line 3: priya@example.com 2026-10 appears twice (first on line 2)",
        ),
        (
            'month,rep_email,wins\n2026-10,"priya@example.com\nstill",1\n2026-10,x@y.z,1\n',
            "line 4, column rep_email: x@y.z is not in the org chart",
        ),
    ],
)
def test_bad_metrics_files(engine: Engine, tmp_path: Path, text: str, expected: str) -> None:
    load(engine, tmp_path)
    problems = problems_of(engine, "metrics", write(tmp_path, "bad.csv", text))
    assert any(expected in p for p in problems), problems


def test_not_utf8_is_a_problem_not_a_crash(sqlite_engine: Engine, tmp_path: Path) -> None:
    load(sqlite_engine, tmp_path)
    path = write(tmp_path, "latin1.csv", ORG.replace("Omar", "Jörg"), encoding="latin-1")
    [problem] = problems_of(sqlite_engine, "org", path)
    assert problem.startswith("line 5: not UTF-8")


def test_more_than_50_problems_are_counted(sqlite_engine: Engine, tmp_path: Path) -> None:
    load(sqlite_engine, tmp_path)
    rows = "".join(f"2026-{m:02d},priya@example.com,x\n" for m in range(1, 13)) * 6
    path = write(tmp_path, "many.csv", "month,rep_email,wins\n" + rows)
    with pytest.raises(CsvImportError) as info, session_scope(sqlite_engine) as s:
        import_metrics(s, WS, path, COLUMNS)
    message = str(info.value).splitlines()
    assert len(message) == 51
    assert message[-1] == f"… and {info.value.total - 50} more problems"
