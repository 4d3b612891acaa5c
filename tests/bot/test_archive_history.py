"""A scripted six-month coaching history for the demo org: every kind of outcome, what has
worked, who overcame a gap, persistent deficiencies, and a re-import that recomputes in place."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, select

from analytics.catalogue import load_catalogue
from analytics.gaps import GapEngine
from analytics.models import GapConfig, MetricGap
from analytics.simulate import demo_org
from bot.coaching.archive import (
    affected_months,
    archive_view,
    export_rows,
    lessons_for,
    months_to_judge,
    update_outcomes,
)
from bot.coaching.gaps import load_gap_engine
from bot.demo.run import write_demo_csvs
from storage.csv_import import import_metrics, import_org
from storage.db import session_scope
from storage.models import MetricValue, Person, Plan, PlanOutcome
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


def gaps(db: Engine, window: int = CONFIG.window_months) -> GapEngine:
    """Closing is judged on the usual window; better or worse on the plan's month alone."""
    return load_gap_engine(db, WS, CATALOGUE, CONFIG.model_copy(update={"window_months": window}))


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


def test_every_kind_of_outcome_as_specified(demo: tuple[Engine, Path]) -> None:
    db, _ = demo
    engine = gaps(db)
    taken: set[str] = set()
    month = "2026-09"
    at_median, m1 = pick(
        engine, month, lambda m: m.direction == "higher" and m.estimate >= m.peer_median, taken
    )  # type: ignore[operator]
    by_target, m2 = pick(engine, month, below, taken)
    better, m3 = pick(engine, month, below, taken)
    worse, m4 = pick(engine, month, lambda m: below(m) and m.value < 0.6, taken)  # type: ignore[operator]
    same, m5 = pick(engine, month, below, taken)
    no_data, m6 = pick(engine, month, below, taken)
    plan(db, at_median, month, m1.key, m1.value * 0.9, None)  # type: ignore[operator]
    plan(db, by_target, month, m2.key, m2.value * 0.9, m2.value)  # type: ignore[operator]
    plan(db, better, month, m3.key, m3.value * 0.5, 0.99)  # type: ignore[operator]
    plan(db, worse, month, m4.key, min(0.99, m4.value * 1.6), 0.99)  # type: ignore[operator]
    alone = next(m for m in gaps(db, 1).report(same, month).metrics if m.key == m5.key)
    plan(db, same, month, m5.key, alone.value, 0.99)  # September just like the baseline
    plan(db, no_data, month, m6.key, m6.value, 0.99)
    with session_scope(db) as session:  # September's row is missing; July's and August's stay
        session.execute(
            delete(MetricValue).where(
                MetricValue.person_id == ids(db)[no_data], MetricValue.month == month
            )
        )
    assert judge_all(db) == 6
    found = verdicts(db)
    assert found[(at_median, month)] == "closed"
    assert found[(by_target, month)] == "closed"
    assert found[(better, month)] == "improved"
    assert found[(worse, month)] == "worse"
    assert found[(same, month)] == "no change"
    assert found[(no_data, month)] == "not enough data"
    with session_scope(db) as session:
        improved = session.scalar(select(PlanOutcome).where(PlanOutcome.verdict == "improved"))
        assert improved is not None
        # The numbers behind the verdict: baseline, now, peer median then and now, target.
        assert improved.baseline == pytest.approx(m3.value * 0.5)  # type: ignore[operator]
        assert improved.value == pytest.approx(m3.value)
        # Now is now: after the deletion above the peers are one rep fewer.
        now = next(m for m in gaps(db).report(better, month).metrics if m.key == m3.key)
        assert improved.peer_median_then == 0.3
        assert improved.peer_median_now == pytest.approx(now.peer_median)
        assert improved.target == 0.99 and improved.p_better > 0.8  # type: ignore[operator]


def test_what_worked_ranks_actions_by_closure_rate(demo: tuple[Engine, Path]) -> None:
    db, _ = demo
    engine = gaps(db)
    taken: set[str] = set()
    record, shadow, book = (
        "Record two demos and review them together",
        "Shadow a top closer",
        "Read a sales book",
    )
    script = [
        # (month, closes?, actions)
        ("2026-07", True, [record]),
        ("2026-08", True, [record.upper() + "."]),  # the same action, written differently
        ("2026-07", True, [shadow]),
        ("2026-08", False, [shadow, book]),
        ("2026-09", False, [shadow]),
        ("2026-09", False, [book]),
    ]
    for month, closes, actions in script:
        # Closing plans meet their target; the others aim out of reach, for reps still behind.
        want = (lambda m: True) if closes else below
        email, metric = pick(engine, month, want, taken, keys=("close_rate",), min_n=5)
        plan(
            db, email, month, "close_rate", metric.value, metric.value if closes else 0.99, actions
        )
    judge_all(db)
    with session_scope(db) as session:
        someone = ids(db)["priya.shah@example.com"]
        lessons = lessons_for(session, WS, ["close_rate"], someone, "2026-11")["close_rate"]
    assert [(w["action"], w["closed"], w["used"]) for w in lessons["worked"]] == [
        (record, 2, 2),
        (shadow, 1, 3),
    ]  # the book never closed the gap: not suggested


def test_who_overcame_it_is_recent_active_and_never_the_rep_themself(
    demo: tuple[Engine, Path],
) -> None:
    db, _ = demo
    engine = gaps(db)
    taken: set[str] = set()
    closers = {}
    for label, month in (
        ("recent", "2026-09"),
        ("old", "2026-04"),
        ("gone", "2026-08"),
        ("viewer", "2026-07"),
        ("also", "2026-06"),
    ):
        email, metric = pick(engine, month, lambda m: True, taken, keys=("close_rate",), min_n=5)
        plan(db, email, month, "close_rate", metric.value, metric.value)  # target met: closed
        closers[label] = email
    update_outcomes(db, WS, CATALOGUE, CONFIG, ["2026-04", *MONTHS])
    with session_scope(db) as session:
        gone = session.scalar(select(Person).where(Person.email == closers["gone"]))
        assert gone is not None
        gone.active = False
    people = ids(db)
    with session_scope(db) as session:
        lessons = lessons_for(session, WS, ["close_rate"], people[closers["viewer"]], "2026-11")
    names = {o["name"] for o in lessons["close_rate"]["overcame"]}
    with session_scope(db) as session:
        name = dict(session.execute(select(Person.email, Person.name)).all())
    assert names == {name[closers["recent"]], name[closers["also"]]}
    assert [o["month"] for o in lessons["close_rate"]["overcame"]] == [
        "2026-09",
        "2026-06",
    ]  # latest first
    # Names and months only: nobody's figures travel with them.
    assert set(lessons["close_rate"]["overcame"][0]) == {"name", "month"}


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
    assert rows[0]["focus"][0]["verdict"] in ("no change", "worse", "improved")


def test_an_edited_plan_is_judged_again_and_a_rep_who_left_keeps_their_outcome(
    demo: tuple[Engine, Path],
) -> None:
    db, _ = demo
    engine = gaps(db)
    email, metric = pick(engine, "2026-09", lambda m: True, set())
    plan(db, email, "2026-09", metric.key, metric.value, metric.value)  # target met: closed
    judge_all(db)
    assert verdicts(db)[(email, "2026-09")] == "closed"
    plan(db, email, "2026-09", metric.key, metric.value, 0.99, ["Another approach"])  # edited
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
    assert verdicts(db)[(email, "2026-09")] == before  # not "not enough data"
