"""`import_plans`: a plan history from CSV, on SQLite and PostgreSQL.

Every problem is reported at its line and column (emails and metric keys with a did-you-mean),
and then nothing is written; the same file twice changes nothing; a changed row replaces a plan
an earlier import wrote, never one made or used in Slack; the figures stored are the gap
engine's, for the report the plan was made on.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from analytics.catalogue import load_catalogue
from analytics.models import GapConfig
from bot.coaching.archive import archive_view
from bot.coaching.gaps import load_gap_engine
from bot.coaching.plans import history_figures, metric_units
from bot.slack.blocks.archive import archive_blocks
from storage.csv_import import (
    CsvImportError,
    PlanImportResult,
    import_metrics,
    import_org,
    import_plans,
)
from storage.db import session_scope
from storage.models import CheckIn, Person, Plan, PlanFocus
from tests.bot.mrkdwn_leaks import leaks

WS = "T1"
NOW = datetime(2026, 10, 15, tzinfo=UTC)
CATALOGUE = load_catalogue()
ORG = """\
email,name,role,manager_email,segment
dana@example.com,Dana Director,director,,
mark@example.com,Mark Manager,manager,dana@example.com,
priya@example.com,Priya Shah,rep,mark@example.com,SMB
omar@example.com,Omar Ali,rep,mark@example.com,SMB
lena@example.com,Lena Berg,rep,mark@example.com,SMB
raj@example.com,Raj Iyer,rep,mark@example.com,SMB
"""
# Priya's discovery calls rarely become demos; the others are alike.
FUNNEL = {
    "priya": (400, 120, 60, 9, 3),
    "omar": (380, 110, 40, 20, 6),
    "lena": (420, 125, 45, 22, 7),
    "raj": (390, 105, 38, 19, 5),
}
PLANS = """\
month,rep_email,author_email,metric,target,why,actions
2026-08,priya@example.com,mark@example.com,demo_rate,30%,Discovery calls rarely become demos,\
Use the discovery script; Review two calls a week
2026-08,priya@example.com,mark@example.com,win_rate,,,Role-play the close
2026-09,omar@example.com,mark@example.com,connect_rate,0.4,Few leads answer,Call in the morning
"""


def write(tmp_path: Path, text: str, name: str = "plans.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def metrics_csv() -> str:
    """Three months of numbers for the four reps, 2026-07 to 2026-09."""
    rows = ["month,rep_email,leads_prospected,connects,discovery_calls,demos,wins,losses,revenue"]
    for month in ("2026-07", "2026-08", "2026-09"):
        for name, (leads, connects, calls, demos, wins) in FUNNEL.items():
            rows.append(
                f"{month},{name}@example.com,{leads},{connects},{calls},{demos},{wins},"
                f"{demos - wins},{wins * 9000}"
            )
    return "\n".join(rows) + "\n"


@pytest.fixture
def org(engine: Engine, tmp_path: Path) -> Engine:
    """The org chart and its numbers imported."""
    with session_scope(engine) as session:
        import_org(session, WS, write(tmp_path, ORG, "org.csv"))
    with session_scope(engine) as session:
        import_metrics(session, WS, write(tmp_path, metrics_csv(), "m.csv"), CATALOGUE)
    return engine


def run(engine: Engine, path: Path) -> PlanImportResult:
    figures = history_figures(load_gap_engine(engine, WS, CATALOGUE, GapConfig()))
    with session_scope(engine) as session:
        return import_plans(session, WS, path, CATALOGUE, metric_units(CATALOGUE), figures, now=NOW)


def stored(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every plan and focus row, timestamps included."""
    with session_scope(engine) as session:
        return {
            table.name: [tuple(r) for r in session.execute(select(table).order_by(table.c.id))]
            for table in (Plan.__table__, PlanFocus.__table__)
        }


def problems_of(engine: Engine, path: Path) -> list[str]:
    """The problems an import reports, checking it wrote nothing at all."""
    before = stored(engine)
    with pytest.raises(CsvImportError) as info:
        run(engine, path)
    assert stored(engine) == before, "a failed import wrote something"
    return [str(p) for p in info.value.problems]


def plans(engine: Engine) -> dict[tuple[str, str], Plan]:
    with session_scope(engine) as session:
        query = select(Person.email, Plan).join(Person, Person.id == Plan.rep_id)
        found = {(email, plan.month): plan for email, plan in session.execute(query)}
        for plan in found.values():
            _ = plan.focus  # loaded before the session closes
        return found


def test_imports_plans_with_the_figures_they_were_made_on(org: Engine, tmp_path: Path) -> None:
    result = run(org, write(tmp_path, PLANS))
    assert result.summary() == "imported 3 rows as 2 plans: 2 new, 0 updated"
    assert result.months == ["2026-08", "2026-09"]
    saved = plans(org)
    priya = saved[("priya@example.com", "2026-08")]
    assert priya.why == "Discovery calls rarely become demos"
    assert priya.actions == [
        "Use the discovery script",
        "Review two calls a week",
        "Role-play the close",
    ]
    assert priya.checkin_dates == []
    # The figures of July's report: the one a plan for August is made on, as on day one.
    july = load_gap_engine(org, WS, CATALOGUE, GapConfig()).report("priya@example.com", "2026-07")
    then = {m.key: m for m in july.metrics}
    assert [(f.metric_key, f.target) for f in priya.focus] == [
        ("demo_rate", 0.3),
        ("win_rate", None),
    ]
    for focus in priya.focus:
        metric = then[focus.metric_key]
        assert metric.value is not None and metric.peer_median is not None
        assert (focus.baseline, focus.peer_median) == (metric.value, metric.peer_median)
    assert priya.focus[0].baseline == pytest.approx(9 / 60)


def test_same_file_twice_changes_nothing(org: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, PLANS)
    run(org, path)
    first = stored(org)
    again = run(org, path)
    assert again.summary() == "imported 3 rows as 2 plans: 0 new, 0 updated, 2 unchanged"
    assert again.months == []
    assert stored(org) == first


def test_plans_imported_before_their_numbers_get_them_on_reimport(
    engine: Engine, tmp_path: Path
) -> None:
    with session_scope(engine) as session:
        import_org(session, WS, write(tmp_path, ORG, "org.csv"))
    path = write(tmp_path, PLANS)
    run(engine, path)  # no numbers yet: no baseline, no peer median
    assert all(f.baseline is None for p in plans(engine).values() for f in p.focus)
    with session_scope(engine) as session:
        import_metrics(session, WS, write(tmp_path, metrics_csv(), "m.csv"), CATALOGUE)
    again = run(engine, path)
    assert again.summary() == "imported 3 rows as 2 plans: 0 new, 2 updated"
    priya = plans(engine)[("priya@example.com", "2026-08")]
    assert priya.focus[0].baseline == pytest.approx(9 / 60)
    assert run(engine, path).summary().endswith("2 unchanged")  # and then it settles


def test_a_changed_row_replaces_an_imported_plan_never_one_used_in_slack(
    org: Engine, tmp_path: Path
) -> None:
    run(org, write(tmp_path, PLANS))
    changed = write(tmp_path, PLANS.replace("connect_rate,0.4", "connect_rate,0.45"), "2.csv")
    result = run(org, changed)
    assert (result.new, result.updated, result.unchanged, result.months) == (0, 1, 1, ["2026-09"])
    assert plans(org)[("omar@example.com", "2026-09")].focus[0].target == 0.45
    with session_scope(org) as session:  # Omar's plan is then used in Slack: a check-in
        plan = session.scalars(select(Plan).where(Plan.month == "2026-09")).one()
        session.add(
            CheckIn(
                workspace_id=WS,
                plan_id=plan.id,
                author_id=plan.author_id,
                on_date=date(2026, 9, 12),
                status="on_track",
            )
        )
    assert run(org, changed).unchanged == 2  # what Slack has is what the file says: fine
    assert problems_of(org, write(tmp_path, PLANS.replace("0.4,Few", "0.5,Few"), "3.csv")) == [
        "line 4: omar@example.com already has a plan for 2026-09 made or used in Slack, and "
        "these rows change its focus metrics and targets: it is kept as it is — change it in "
        "Slack (/coach plan), or make these rows match it"
    ]


def test_every_problem_at_its_line_and_column(org: Engine, tmp_path: Path) -> None:
    lines = [
        "month,rep_email,author_email,metric,target,why,actions",
        "2026-08,pirya@example.com,mark@example.com,dicsovery_rate,,Why,Act",
        "2026-08-01,omar@example.com,priya@example.com,win_rte,,Why,Act",
        "2026-12,omar@example.com,mark@example.com,bookings,,Why,Act",
        "2026-09,omar@example.com,mark@example.com,connect_rate,26,Why,Act",
        "2026-09,omar@example.com,dana@example.com,Win rate,,Why,Act",
        "2026-09,omar@example.com,mark@example.com,connect_rate,,Why,Act",
        "2026-09,omar@example.com,mark@example.com,demo_rate,,Why,Act",
        "2026-09,omar@example.com,mark@example.com,leads_prospected,12%,Why,Act",
        "2026-08,lena@example.com,mark@example.com,win_rate,0,,;",
        "2026-08,raj@example.com,mark@example.com,win_rate,0.01,Wh\u202ey,Act",
    ]
    assert problems_of(org, write(tmp_path, "\n".join(lines) + "\n")) == [
        "line 2, column rep_email: pirya@example.com is not in the org chart — did you mean "
        "priya@example.com?",
        "line 2, column metric: 'dicsovery_rate' is not a metric a plan can focus on — did you "
        "mean discovery_rate?",
        "line 3, column month: '2026-08-01' is a date, not a YYYY-MM month (write 2026-08)",
        "line 3, column author_email: priya@example.com is a rep: plans are made by managers, "
        "directors or admins",
        "line 3, column metric: 'win_rte' is not a metric a plan can focus on — did you mean "
        "win_rate?",
        "line 4, column month: 2026-12 is in the future: the latest month allowed is 2026-10 "
        "(a plan can't be for a month still to come)",
        "line 4, column metric: bookings is a result, not a skill a plan can focus on",
        "line 5, column target: 26 is over 1: connect_rate is a rate, given as a fraction as "
        "`coach gaps --json` shows it (0.26, or 26%, for 26%)",
        "line 6, column author_email: omar@example.com's plan for 2026-09 is by "
        "mark@example.com on line 5: one author per plan",
        "line 6, column metric: 'Win rate' is not a metric a plan can focus on — did you mean "
        "win_rate?",
        "line 7, column metric: connect_rate is already in this plan on line 5",
        "line 9, column metric: a plan has at most 2 focus metrics, and omar@example.com's plan "
        "for 2026-09 has more (lines 5, 6, 7, 8, 9)",
        "line 9, column target: leads_prospected isn't a rate: give its target without %",
        "line 10, column target: a target of 0 is met by any win_rate: aim above the rep's value",
        "line 10, column why: lena@example.com's plan for 2026-08 doesn't say why this skill: "
        "say it in a sentence",
        "line 10, column actions: lena@example.com's plan for 2026-08 has no action: add at "
        "least one concrete action",
        "line 11, column target: 0.01 is not above the rep's win_rate of 0.2632 in 2026-07's "
        "report, the one the plan was made on: aim past it, or leave the target empty",
        "line 11, column why: contains an invisible character (U+202E, right-to-left override): "
        "retype the cell",
    ]


def test_a_target_the_rep_already_met_is_refused_like_the_modal(
    org: Engine, tmp_path: Path
) -> None:
    met = PLANS.replace("demo_rate,30%", "demo_rate,10%")  # July: 9 demos of 60 calls
    assert problems_of(org, write(tmp_path, met)) == [
        "line 2, column target: 0.1 is not above the rep's demo_rate of 0.15 in 2026-07's "
        "report, the one the plan was made on: aim past it, or leave the target empty"
    ]


def test_hostile_text_is_escaped_in_slack(org: Engine, tmp_path: Path) -> None:
    hostile = "<!channel> read this & <@U0BOSS>"
    run(org, write(tmp_path, PLANS.replace("Few leads answer", f'"{hostile}"')))
    with session_scope(org) as session:
        omar = session.scalars(select(Person).where(Person.email == "omar@example.com")).one()
        blocks = archive_blocks(omar.name, archive_view(session, omar), {})
    assert hostile in str(plans(org)[("omar@example.com", "2026-09")].why)
    assert "&lt;!channel&gt; read this &amp; &lt;@U0BOSS&gt;" in str(blocks)  # shown, escaped
    assert leaks("chat.postMessage", {"blocks": blocks}, [hostile]) == []
