"""`coach demo`, the archive: three months of past plans for the demo org, judged like any import.

The plans are scripted the way a manager makes them and nothing more: each month, every rep with
a focus on the report the plan is made on (the month before) gets the plan modal's prefill — the
suggested focus, its first coaching action, the reachable target — and the modal's own validation
(a target must beat today's value). The judge decides how each ended; the demo's data hold no
coaching effect, so the archive shows what such data support.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from functools import partial

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, select

from analytics.catalogue import Catalogue
from analytics.gaps import GapEngine, GapError
from analytics.models import GapConfig, GapReport
from bot.coaching.archive import export_rows, flagged_now, lessons_for, update_outcomes
from bot.coaching.months import shift_month
from bot.coaching.plans import PlanEntry, PlanForm, parse_plan_form, prefill
from bot.coaching.wording import format_value, months_span
from storage.db import session_scope
from storage.models import Person
from storage.plans import save_plan


def script_history(
    db: Engine, workspace: str, gaps: GapEngine, catalogue: Catalogue, console: Console
) -> None:
    """Write the past plans, judge them, and print how they ended and on what."""
    latest = gaps.latest_month()
    months = [shift_month(latest, -i) for i in (2, 1, 0)]
    with session_scope(db) as session:
        people = {
            p.email: p
            for p in session.scalars(select(Person).where(Person.workspace_id == workspace))
        }
        for month in months:
            try:
                reports = gaps.reports(shift_month(month, -1))
            except GapError:
                continue  # no numbers to plan on that month
            for report in reports:
                form = _plan_form(report, month)
                if form is None:
                    continue
                rep = people[report.rep]
                save_plan(
                    session,
                    workspace_id=workspace,
                    rep_id=rep.id,
                    author_id=rep.manager_id or rep.id,
                    month=month,
                    focus=form.focus,
                    why=form.why,
                    actions=form.actions,
                    checkin_dates=form.checkin_dates,
                )
    judged = update_outcomes(db, workspace, catalogue, GapConfig(), months)
    _print_archive(db, workspace, catalogue, months, judged, console)


def rep_to_show(
    db: Engine, workspace: str, gaps: GapEngine, candidates: list[str], month: str
) -> str | None:
    """The first of `candidates` (reps with a focus) for whose focus the archive has lessons
    (what has worked, who overcame it), so the demo shows them where the data hold any; else
    the first candidate."""
    with session_scope(db) as session:
        people = dict(
            session.execute(
                select(Person.email, Person.id).where(Person.workspace_id == workspace)
            ).all()
        )
        flagged = flagged_now(gaps)
        for email in candidates:
            focus = gaps.report(email).focus
            if lessons_for(session, workspace, focus, people[email], month, flagged):
                return email
    return candidates[0] if candidates else None


def _plan_form(report: GapReport, month: str) -> PlanForm | None:
    """The plan a manager accepting the modal's suggestion would save; None without a focus, or
    when the modal would refuse the suggestion as it stands (a manager would edit it first)."""
    if not report.focus:
        return None
    start = prefill(report)
    labels = {m.key: m.label for m in report.metrics}
    first_name = report.name.split()[0]
    entry = PlanEntry(
        focus=start["chosen"],
        why=f"{labels[start['chosen'][0]]} is where {first_name} falls furthest behind peers.",
        how="\n".join(start["actions"]),
        targets=start["targets"],
        checkins=[date.fromisoformat(f"{month}-10"), date.fromisoformat(f"{month}-24")],
    )
    form = parse_plan_form(entry, month, report)
    return form if isinstance(form, PlanForm) else None


def _print_archive(
    db: Engine,
    workspace: str,
    catalogue: Catalogue,
    months: list[str],
    judged: int,
    console: Console,
) -> None:
    metrics = {m.key: m.model_dump(mode="json") for m in catalogue.metrics}
    with session_scope(db) as session:
        rows = export_rows(session, workspace, months[0])
    table = Table(
        title=f"The archive: {judged} focus metrics of past plans, judged",
        caption="Each verdict: the rep's value over the months judged (from the plan's month on) "
        "against what they were expected to do without coaching (the estimate the plan was made "
        "on), and the peers' median.",
    )
    columns = ("plan", "rep", "focus", "months judged", "value", "expected", "peers", "verdict")
    for column in columns:
        table.add_column(column)
    verdicts: Counter[str] = Counter()
    for row in rows:
        for focus in row["focus"]:
            metric = metrics.get(focus["metric"], {"key": focus["metric"], "kind": "conversion"})
            fmt = partial(format_value, metric)
            verdict = focus["verdict"] or "waiting for the month's numbers"
            verdicts[verdict] += 1
            months = focus["judged_from"] and months_span(focus["judged_from"], focus["judged_to"])
            table.add_row(
                months_span(row["month"], row["month"]),
                row["rep_name"],
                metric.get("label", focus["metric"]),
                months or "—",
                fmt(focus["value"]),
                fmt(focus["expectation"]),
                fmt(focus["peer_median_now"]),
                verdict,
            )
    console.print(table)
    console.print(
        "  " + ", ".join(f"{verdict}: {count}" for verdict, count in verdicts.most_common()),
        highlight=False,
    )
