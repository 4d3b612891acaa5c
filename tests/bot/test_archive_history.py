"""A scripted coaching history for the demo org: outcomes stored as the analytics judge them,
with what they were judged on; what has worked, who overcame a gap (and is past it now),
persistent deficiencies, and a re-import that recomputes in place."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, select

from analytics.catalogue import load_catalogue
from analytics.gaps import GapEngine
from analytics.models import GapConfig, MetricGap
from analytics.outcomes import judge_plan
from analytics.simulate import demo_org
from bot.coaching.archive import (
    affected_months,
    archive_view,
    export_rows,
    flagged_now,
    lessons_for,
    months_to_judge,
    update_outcomes,
)
from bot.coaching.gaps import load_gap_engine
from bot.demo.run import write_demo_csvs
from storage.csv_import import import_metrics, import_org
from storage.db import session_scope
from storage.models import MetricMonth, Person, Plan, PlanOutcome
from storage.plans import FocusInput, save_plan

WS = "demo"
CATALOGUE = load_catalogue()
CONFIG = GapConfig()
MONTHS = ["2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10"]
RATES = ("connect_rate", "discovery_rate", "demo_rate", "close_rate", "win_rate")


@pytest.fixture
def demo(sqlite_engine: Engine, tmp_path: Path) -> tuple[Engine, Path]:
    people, metrics, _ = demo_org(end_month="2026-10")
    org_csv, metrics_csv = write_demo_csvs(tmp_path, people, metrics)
    with session_scope(sqlite_engine) as session:
        import_org(session, WS, org_csv)
        import_metrics(session, WS, metrics_csv, CATALOGUE)
    return sqlite_engine, metrics_csv


def gaps(db: Engine) -> GapEngine:
    return load_gap_engine(db, WS, CATALOGUE, CONFIG)


def ids(db: Engine) -> dict[str, int]:
    with session_scope(db) as session:
        return dict(
            session.execute(select(Person.email, Person.id).where(Person.workspace_id == WS)).all()
        )


def pick(
    engine: GapEngine,
    month: str,
    want: Callable[[MetricGap], bool],
    taken: set[str],
    keys: tuple[str, ...] = RATES,
    min_n: float = 15,
) -> tuple[str, MetricGap]:
    """A rep (not yet used) and one of their rate metrics in `month` that satisfies `want`."""
    for report in engine.reports(month):
        if report.rep in taken:
            continue
        for metric in report.metrics:
            if (
                metric.key in keys
                and metric.value
                and metric.denominator
                and metric.denominator >= min_n
                and want(metric)
            ):
                taken.add(report.rep)
                return report.rep, metric
    raise AssertionError(f"no rep in {month} fits")


def below(m: MetricGap) -> bool:
    return m.estimate is not None and m.peer_median is not None and m.estimate < m.peer_median


def plan(
    db: Engine,
    email: str,
    month: str,
    metric: str,
    baseline: float | None,
    target: float | None,
    actions: list[str] | None = None,
) -> None:
    people = ids(db)
    with session_scope(db) as session:
        save_plan(
            session,
            workspace_id=WS,
            rep_id=people[email],
            author_id=people["marcus.bell@example.com"],
            month=month,
            focus=[FocusInput(metric, baseline, 0.3, target)],
            why="scripted",
            actions=actions or ["Practise the talk track"],
            checkin_dates=[date.fromisoformat(f"{month}-15")],
        )


def judge_all(db: Engine) -> int:
    return update_outcomes(db, WS, CATALOGUE, CONFIG, affected_months(MONTHS, CONFIG.window_months))


def verdicts(db: Engine) -> dict[tuple[str, str], str]:
    with session_scope(db) as session:
        found = session.execute(
            select(Person.email, Plan.month, PlanOutcome.verdict)
            .join(Plan, Plan.id == PlanOutcome.plan_id)
            .join(Person, Person.id == Plan.rep_id)
        ).all()
    return {(email, month): verdict for email, month, verdict in found}


def test_each_outcome_is_the_analytics_judgement_with_what_it_was_judged_on(
    demo: tuple[Engine, Path],
) -> None:
    db, _ = demo
    engine = gaps(db)
    taken: set[str] = set()
    planned = []
    for month in ("2026-08", "2026-09", "2026-10"):
        for _ in range(3):
            email, metric = pick(engine, month, below, taken)
            plan(db, email, month, metric.key, metric.value, 0.99)
            planned.append((email, month, metric.key))
    gone, _ = pick(engine, "2026-09", below, taken)
    plan(db, gone, "2026-09", "close_rate", 0.1, 0.99)
    with session_scope(db) as session:  # no numbers from the plan's month on
        session.execute(
            delete(MetricMonth).where(
                MetricMonth.person_id == ids(db)[gone], MetricMonth.month >= "2026-09"
            )
        )
    assert judge_all(db) == 10
    engine = gaps(db)  # the numbers as judged
    with session_scope(db) as session:
        stored = {
            (email, month): outcome
            for email, month, outcome in session.execute(
                select(Person.email, Plan.month, PlanOutcome)
                .join(Plan, Plan.id == PlanOutcome.plan_id)
                .join(Person, Person.id == Plan.rep_id)
            )
        }
    for email, month, key in planned:
        found = judge_plan(engine, email, month, key, 0.99)
        assert found is not None
        row = stored[(email, month)]
        assert (row.judged_from, row.judged_to) == (found.first, found.last)
        assert row.judged_to == "2026-10"  # up to three months, as far as the data go
        assert row.verdict == found.verdict and row.p_better == found.outcome.p_better
        assert row.expectation == found.expectation and row.expectation is not None
        assert row.value == found.value and row.peer_median_now == found.peer_median
        assert row.material_line == found.material_line and row.target_met is False
    assert stored[(gone, "2026-09")].verdict == "not enough data"
    assert stored[(gone, "2026-09")].value is None


def test_an_outcome_judged_by_the_old_rules_is_judged_again(demo: tuple[Engine, Path]) -> None:
    db, _ = demo
    email, metric = pick(gaps(db), "2026-09", below, set())
    plan(db, email, "2026-09", metric.key, metric.value, 0.99)
    judge_all(db)
    with session_scope(db) as session:  # as migration 0006 leaves an outcome of before
        row = session.scalar(select(PlanOutcome))
        assert row is not None
        judged = row.verdict
        old = "worse" if judged != "worse" else "improved"
        row.judged_from, row.judged_to, row.verdict = None, None, old
    assert months_to_judge(db, WS, [], CONFIG.window_months) == ["2026-09"]
    update_outcomes(db, WS, CATALOGUE, CONFIG, ["2026-09"])
    with session_scope(db) as session:
        row = session.scalar(select(PlanOutcome))
        assert row is not None and row.judged_from == "2026-09" and row.verdict == judged
    assert months_to_judge(db, WS, [], CONFIG.window_months) == []


def scripted(db: Engine, script: list[tuple[str, str, list[str]]]) -> dict[str, str]:
    """Plans on close rate, one per (month, verdict, actions), by reps not used yet; their
    verdicts then set as scripted (the judge's own rules are tested above). The rep of each."""
    engine = gaps(db)
    taken: set[str] = set()
    reps = {}
    for i, (month, _, actions) in enumerate(script):
        email, metric = pick(engine, month, lambda m: True, taken, keys=("close_rate",), min_n=5)
        plan(db, email, month, "close_rate", metric.value, 0.99, actions)
        reps[f"{i}"] = email
    judge_all(db)
    people = ids(db)
    with session_scope(db) as session:
        for i, (month, verdict, _) in enumerate(script):
            row = session.scalar(
                select(PlanOutcome)
                .join(Plan, Plan.id == PlanOutcome.plan_id)
                .where(Plan.rep_id == people[reps[f"{i}"]], Plan.month == month)
            )
            assert row is not None
            row.verdict = verdict
    return reps


def nobody_flagged(email: str, key: str) -> bool:
    return False


def test_what_worked_counts_closed_and_improved_plans(demo: tuple[Engine, Path]) -> None:
    db, _ = demo
    record, shadow, book = (
        "Record two demos and review them together",
        "Shadow a top closer",
        "Read a sales book",
    )
    scripted(
        db,
        [
            ("2026-07", "closed", [record]),
            ("2026-08", "improved", [record.upper() + "."]),  # the same action, written apart
            ("2026-07", "closed", [shadow]),
            ("2026-08", "no change", [shadow, book]),
            ("2026-09", "worse", [shadow]),
            ("2026-09", "no change", [book]),
            ("2026-09", "not enough data", [book]),  # no data: not counted at all
        ],
    )
    with session_scope(db) as session:
        someone = ids(db)["priya.shah@example.com"]
        lessons = lessons_for(session, WS, ["close_rate"], someone, "2026-11", nobody_flagged)
    worked = lessons["close_rate"]["worked"]
    assert [(w["action"], w["closed"], w["improved"], w["used"]) for w in worked] == [
        (record, 1, 1, 2),
        (shadow, 1, 0, 3),
    ]  # the book never worked: not suggested


def test_who_overcame_it_is_recent_active_past_it_now_and_never_the_rep_themself(
    demo: tuple[Engine, Path],
) -> None:
    db, _ = demo
    reps = scripted(
        db,
        [
            ("2026-09", "closed", ["a"]),  # 0: named
            ("2026-04", "closed", ["a"]),  # 1: too long ago
            ("2026-08", "improved", ["a"]),  # 2: left the company
            ("2026-07", "closed", ["a"]),  # 3: the rep asking
            ("2026-06", "improved", ["a"]),  # 4: named
            ("2026-08", "closed", ["a"]),  # 5: flagged on it again now
            ("2026-09", "no change", ["a"]),  # 6: never overcame it
        ],
    )
    with session_scope(db) as session:
        gone = session.scalar(select(Person).where(Person.email == reps["2"]))
        assert gone is not None
        gone.active = False
    people = ids(db)
    asked: list[tuple[str, str]] = []

    def flagged(email: str, key: str) -> bool:
        asked.append((email, key))
        return email == reps["5"]

    with session_scope(db) as session:
        lessons = lessons_for(session, WS, ["close_rate"], people[reps["3"]], "2026-11", flagged)
        name = dict(session.execute(select(Person.email, Person.name)).all())
    overcame = lessons["close_rate"]["overcame"]
    assert overcame == [
        {"name": name[reps["0"]], "month": "2026-09", "verdict": "closed"},
        {"name": name[reps["4"]], "month": "2026-06", "verdict": "improved"},
    ]  # latest first; names, months and the verdict only: nobody's figures
    assert (reps["5"], "close_rate") in asked


def test_persistent_deficiency_and_reimport_recomputes_without_duplicates(
    demo: tuple[Engine, Path],
) -> None:
    db, metrics_csv = demo
    engine = gaps(db)
    priya = "priya.shah@example.com"
    for month in ("2026-06", "2026-07", "2026-08", "2026-09"):
        metric = next(m for m in engine.report(priya, month).metrics if m.key == "discovery_rate")
        plan(db, priya, month, "discovery_rate", metric.value, 0.99)
    assert judge_all(db) == 4
    with session_scope(db) as session:
        rep = session.scalar(select(Person).where(Person.email == priya))
        assert rep is not None
        view = archive_view(session, rep)
        assert all(v != "closed" for p in view["plans"] for v in [p["focus"][0]["verdict"]])
        assert view["persistent"] == {"discovery_rate": 4}
    plan(db, priya, "2026-11", "discovery_rate", 0.1, 0.99)  # this month's: not judged yet
    with session_scope(db) as session:
        rep = session.scalar(select(Person).where(Person.email == priya))
        assert archive_view(session, rep)["persistent"] == {"discovery_rate": 4}  # type: ignore[arg-type]
        before = session.scalar(select(func.count()).select_from(PlanOutcome))
        old = session.scalar(select(PlanOutcome.value).where(PlanOutcome.month == "2026-09"))
    # September's numbers are corrected and imported again: the outcomes move, none is added.
    text = metrics_csv.read_text().splitlines()
    header = text[0].split(",")
    column = header.index("discovery_calls")
    fixed = [text[0]]
    for line in text[1:]:
        cells = line.split(",")
        if cells[0] == "2026-09" and cells[1] == priya:
            cells[column] = str(int(float(cells[column])) * 3)
        fixed.append(",".join(cells))
    metrics_csv.write_text("\n".join(fixed) + "\n")
    with session_scope(db) as session:
        result = import_metrics(session, WS, metrics_csv, CATALOGUE)
    assert result.months == ["2026-09"]
    update_outcomes(db, WS, CATALOGUE, CONFIG, affected_months(result.months, CONFIG.window_months))
    with session_scope(db) as session:
        assert session.scalar(select(func.count()).select_from(PlanOutcome)) == before
        new = session.scalar(select(PlanOutcome.value).where(PlanOutcome.month == "2026-09"))
    assert new != old
    with session_scope(db) as session:
        rows = export_rows(session, WS, "2026-07")
    assert [r["month"] for r in rows] == ["2026-07", "2026-08", "2026-09", "2026-11"]
    assert rows[-1]["outcome"] is None and rows[-1]["focus"][0]["verdict"] is None  # not yet
    assert rows[0]["focus"][0]["verdict"] in ("no change", "worse", "improved", "not enough data")
    assert rows[0]["focus"][0]["judged_from"] == "2026-07"


def test_an_edited_plan_is_judged_again_and_a_rep_who_left_keeps_their_outcome(
    demo: tuple[Engine, Path],
) -> None:
    db, _ = demo
    engine = gaps(db)
    email, metric = pick(engine, "2026-09", below, set())
    plan(db, email, "2026-09", metric.key, metric.value, 0.99)
    judge_all(db)
    assert (email, "2026-09") in verdicts(db)
    plan(db, email, "2026-09", metric.key, metric.value, 0.98, ["Another approach"])  # edited
    assert (email, "2026-09") not in verdicts(db)  # the old verdict went with the old plan
    months = months_to_judge(db, WS, [], CONFIG.window_months)  # what any import judges
    assert months == ["2026-09"]
    update_outcomes(db, WS, CATALOGUE, CONFIG, months)
    assert (email, "2026-09") in verdicts(db)
    with session_scope(db) as session:
        person = session.scalar(select(Person).where(Person.email == email))
        assert person is not None
        person.active = False
    before = verdicts(db)[(email, "2026-09")]
    judge_all(db)
    assert verdicts(db)[(email, "2026-09")] == before  # judged on their numbers all the same


def test_flagged_now_reads_the_latest_report(demo: tuple[Engine, Path]) -> None:
    db, _ = demo
    engine = gaps(db)
    flagged = flagged_now(engine)
    report = next(r for r in engine.reports() if any(m.flagged for m in r.metrics))
    on = next(m.key for m in report.metrics if m.flagged)
    off = next(m.key for m in report.metrics if not m.flagged)
    assert flagged(report.rep, on) and not flagged(report.rep, off)
    assert not flagged("nobody@example.com", on)  # no numbers now: not flagged
