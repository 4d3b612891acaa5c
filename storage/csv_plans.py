"""`coach import plans`: a history of coaching plans from a spreadsheet, checked as a whole, then
saved one plan per rep and month.

One row per focus metric; the rows of one rep and month make one plan. A plan is held to the
plan modal's rules (at most two focus metrics, a why, at least one action, a target better than
the rep's value in the report the plan was made on). A stored plan the file differs from is
replaced only when nothing in Slack has touched it (see `import_plans`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from analytics.catalogue import Catalogue, Metric
from analytics.gaps import format_month, parse_month
from storage.csv_common import (
    CsvTable,
    ImportResult,
    Problems,
    cell_number,
    check_header,
    check_text,
    did_you_mean,
    ensure_workspace,
    month_problem,
    read_csv,
)
from storage.csv_metrics import MAX_VALUE, latest_month
from storage.models import Person, Plan
from storage.plans import MAX_FOCUS, MAX_TEXT, FocusInput, write_plan

PLANS_REQUIRED = ("month", "rep_email", "author_email", "metric", "why", "actions")
PLANS_COLUMNS = ("month", "rep_email", "author_email", "metric", "target", "why", "actions")

Figures = tuple[float | None, float | None]  # one metric's (baseline, peer median)
# The figures a plan of (rep email, month) was made on, by metric key; empty without data.
FiguresOf = Callable[[str, str], Mapping[str, Figures]]

_ACTIONS = re.compile(r"[;\r\n]+")
_BULLETS = " •-\t"  # what the plan modal strips from each action line


class PlanImportResult(ImportResult):
    """What a plan import did: `new`, `updated` and `unchanged` count plans, `rows` CSV rows."""

    plans: int

    def summary(self) -> str:
        """`imported 31 rows as 24 plans: 20 new, 4 updated`."""
        text = (
            f"imported {self.rows:,} row{'' if self.rows == 1 else 's'} as {self.plans:,} "
            f"plan{'' if self.plans == 1 else 's'}: {self.new:,} new, {self.updated:,} updated"
        )
        return f"{text}, {self.unchanged:,} unchanged" if self.unchanged else text


@dataclass
class _Focus:
    line: int
    metric: Metric
    target: float | None


@dataclass
class _Plan:
    month: str
    rep: Person
    lines: list[int] = field(default_factory=list)
    author: Person | None = None
    author_line: int = 0
    focus: list[_Focus] = field(default_factory=list)
    whys: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)

    @property
    def why(self) -> str:
        return "\n".join(dict.fromkeys(self.whys))

    def content(self) -> tuple[object, ...]:
        """What the file says of the plan, to compare with a stored one."""
        author = self.author.id if self.author else None
        focus = [(f.metric.key, f.target) for f in self.focus]
        return author, focus, self.why, self.actions


def import_plans(
    session: Session,
    workspace_id: str,
    path: Path,
    catalogue: Catalogue,
    units: Mapping[str, str],
    figures: FiguresOf,
    now: datetime | None = None,
) -> PlanImportResult:
    """Import the plan history CSV at `path` into `workspace_id`, all or nothing.

    `units` gives each metric's unit (a `percent` target is a fraction, as `coach gaps --json`
    shows rates, or written with `%`); `figures` the baseline and peer median each focus metric
    stores, from the report the plan was made on. A plan the file gives as it is stored is left
    alone. One the file changes is replaced when nothing in Slack has touched it (no check-in
    days, no check-ins, never sent as a DM: a plan an earlier import wrote); one made or used in
    Slack is never overwritten: the rows are refused, saying so. Plans the file doesn't give are
    kept. Raises CsvImportError, having written nothing, when anything in the file is wrong.
    """
    problems = Problems()
    table = read_csv(path, problems)
    if table is None or not check_header(table, PLANS_REQUIRED, PLANS_COLUMNS, problems):
        problems.raise_if_any()
    assert table is not None  # for the type checker: a missing table always raised above
    check_text(table, problems)
    people = {
        person.email.lower(): person
        for person in session.scalars(select(Person).where(Person.workspace_id == workspace_id))
    }
    plans = _check_rows(table, people, catalogue, units, latest_month(0, now), problems)
    stored = _stored(session, workspace_id, list(plans))
    changed: list[_Plan] = []
    for key, plan in plans.items():
        before = stored.get(key)
        # The same rows change nothing, unless the plan was imported before its month's
        # numbers and they have come since: then they fill in its figures.
        if (
            before is not None
            and _content(before) == plan.content()
            and (_touched(before) or not _figures_arrived(before, plan, figures))
        ):
            continue
        if before is not None and _touched(before):
            problems.add(plan.lines[0], None, _kept(plan, before))
            continue
        changed.append(plan)
    writes = [(plan, _figures(plan, figures, units, problems)) for plan in changed]
    problems.raise_if_any()

    ensure_workspace(session, workspace_id)
    for plan, focus in writes:
        assert plan.author is not None  # a plan without an author raised above
        write_plan(
            session,
            stored.get((plan.rep.id, plan.month)),
            workspace_id=workspace_id,
            rep_id=plan.rep.id,
            author_id=plan.author.id,
            month=plan.month,
            focus=focus,
            why=plan.why,
            actions=plan.actions,
            checkin_dates=[],
        )
    session.flush()
    updated = sum(1 for plan in changed if (plan.rep.id, plan.month) in stored)
    return PlanImportResult(
        rows=len(table.rows),
        plans=len(plans),
        new=len(changed) - updated,
        updated=updated,
        unchanged=len(plans) - len(changed),
        months=sorted({plan.month for plan in changed}),
    )


def _check_rows(
    table: CsvTable,
    people: dict[str, Person],
    catalogue: Catalogue,
    units: Mapping[str, str],
    latest: str,
    problems: Problems,
) -> dict[tuple[int, str], _Plan]:
    """The file's plans by (rep id, month), each cell's and each plan's problems noted."""
    index = {name: i for i, name in enumerate(table.header)}
    reps = [email for email, p in people.items() if p.role == "rep"]
    authors = [email for email, p in people.items() if p.role != "rep"]
    plans: dict[tuple[int, str], _Plan] = {}
    add = problems.add
    for line, raw in zip(table.lines, table.rows, strict=True):
        get = {name: raw[i].strip() for name, i in index.items()}.get
        month = get("month", "")
        problem = month_problem(month, latest, "a plan can't be for a month still to come")
        if problem:
            add(line, "month", problem)
        rep = _person(get("rep_email", ""), people, reps, "rep", line, problems)
        author = _person(get("author_email", ""), people, authors, "author", line, problems)
        metric = _metric(get("metric", ""), catalogue, line, problems)
        target = None
        if metric is not None:
            target = _target(get("target", ""), metric, units.get(metric.key, "count"))
            if isinstance(target, str):
                add(line, "target", target)
                target = None
        if rep is None or problem:
            continue
        plan = plans.setdefault((rep.id, month), _Plan(month, rep))
        plan.lines.append(line)
        if author is not None and plan.author is not None and author is not plan.author:
            add(
                line,
                "author_email",
                f"{rep.email}'s plan for {month} is by {plan.author.email} on line "
                f"{plan.author_line}: one author per plan",
            )
        elif author is not None and plan.author is None:
            plan.author, plan.author_line = author, line
        if metric is not None:
            _add_focus(plan, _Focus(line, metric, target), problems)
        if get("why"):
            plan.whys.append(get("why", ""))
        for action in _ACTIONS.split(get("actions", "")):
            action = action.strip(_BULLETS)
            if action and action not in plan.actions:
                plan.actions.append(action)
    for plan in plans.values():
        _check_plan(plan, problems)
    return plans


def _person(
    email: str,
    people: dict[str, Person],
    fitting: list[str],
    role: str,
    line: int,
    problems: Problems,
) -> Person | None:
    """The rep (or author) an email names; None, with the problem noted, if it can't be."""
    column = f"{role}_email"
    email = email.lower()
    person = people.get(email)
    if not email:
        problems.add(line, column, "empty required value")
    elif person is None:
        hint = did_you_mean(email, fitting) or " (import the org chart first)"
        problems.add(line, column, f"{email} is not in the org chart{hint}")
    elif role == "rep" and person.role != "rep":
        problems.add(line, column, f"{email} is a {person.role}: plans are for reps")
    elif role == "author" and person.role == "rep":
        problems.add(
            line, column, f"{email} is a rep: plans are made by managers, directors or admins"
        )
    else:
        return person
    return None


def _metric(text: str, catalogue: Catalogue, line: int, problems: Problems) -> Metric | None:
    """The focus metric a key names; None, with the problem noted, if it isn't one (the plan
    modal offers skills, not results)."""
    key = text.lower()
    metrics = {m.key: m for m in catalogue.metrics}
    coachable = [m.key for m in catalogue.metrics if m.kind != "outcome"]
    if key in coachable:
        return metrics[key]
    if not key:
        problems.add(line, "metric", "empty required value")
        return None
    if key in metrics:
        problems.add(line, "metric", f"{key} is a result, not a skill a plan can focus on")
        return None
    spaced = re.sub(r"[\s-]+", "_", key)  # "Win rate" is win_rate's label, not its key
    hint = did_you_mean(spaced, coachable, sorted(coachable))
    problems.add(line, "metric", f"{text!r} is not a metric a plan can focus on{hint}")
    return None


def _target(text: str, metric: Metric, unit: str) -> float | None | str:
    """The target in the metric's unit (a rate as a fraction), None when empty, or what is wrong
    with it: the plan modal's limits, in the unit `coach gaps --json` uses."""
    if not text:
        return None
    percent = text.endswith("%")
    value = cell_number(text.removesuffix("%").strip())
    if not math.isfinite(value):
        return f"{text!r} is not a number"
    if value < 0:
        return f"{text} is negative, and a target can't be"
    if percent and unit != "percent":
        return f"{metric.key} isn't a rate: give its target without %"
    if percent:
        value /= 100
    if unit == "percent" and value > 1:
        if percent:
            return f"{text} is over 100%, and a rate can't be"
        return (
            f"{text} is over 1: {metric.key} is a rate, given as a fraction as `coach gaps "
            f"--json` shows it (0.26, or 26%, for 26%)"
        )
    if value > MAX_VALUE:
        return f"{text} is more than {MAX_VALUE:,.0f}: too big for a month"
    if value == 0 and metric.direction == "higher":
        return f"a target of 0 is met by any {metric.key}: aim above the rep's value"
    return value


def _add_focus(plan: _Plan, focus: _Focus, problems: Problems) -> None:
    key = focus.metric.key
    first = next((f.line for f in plan.focus if f.metric.key == key), None)
    if first is not None:
        problems.add(focus.line, "metric", f"{key} is already in this plan on line {first}")
    elif len(plan.focus) >= MAX_FOCUS:
        problems.add(
            focus.line,
            "metric",
            f"a plan has at most {MAX_FOCUS} focus metrics, and {plan.rep.email}'s plan for "
            f"{plan.month} has more (lines {', '.join(map(str, plan.lines))})",
        )
    else:
        plan.focus.append(focus)


def _check_plan(plan: _Plan, problems: Problems) -> None:
    """The plan modal's rules on what a plan says: a why, at least one action, and no more
    text than the modal holds."""
    first = plan.lines[0]
    rows = "" if len(plan.lines) == 1 else f" (lines {', '.join(map(str, plan.lines))})"
    whose = f"{plan.rep.email}'s plan for {plan.month}{rows}"
    if not plan.whys:
        problems.add(first, "why", f"{whose} doesn't say why this skill: say it in a sentence")
    elif len(plan.why) > MAX_TEXT:
        problems.add(first, "why", f"{whose}: the why is longer than {MAX_TEXT:,} characters")
    if not plan.actions:
        problems.add(first, "actions", f"{whose} has no action: add at least one concrete action")
    elif len("\n".join(plan.actions)) > MAX_TEXT:
        problems.add(
            first,
            "actions",
            f"{whose}: the actions, one a line, are longer than {MAX_TEXT:,} characters",
        )


def _stored(
    session: Session, workspace_id: str, keys: list[tuple[int, str]]
) -> dict[tuple[int, str], Plan]:
    """The stored plans of these (rep id, month)s, with focus and check-ins loaded."""
    if not keys:
        return {}
    query = (
        select(Plan)
        .options(selectinload(Plan.focus), selectinload(Plan.checkins))
        .where(
            Plan.workspace_id == workspace_id,
            Plan.rep_id.in_({rep for rep, _ in keys}),
            Plan.month.in_({month for _, month in keys}),
        )
    )
    wanted = set(keys)
    return {
        (plan.rep_id, plan.month): plan
        for plan in session.scalars(query)
        if (plan.rep_id, plan.month) in wanted
    }


def _content(plan: Plan) -> tuple[object, ...]:
    focus = [(f.metric_key, f.target) for f in plan.focus]
    return plan.author_id, focus, plan.why, list(plan.actions)


def _figures_arrived(before: Plan, plan: _Plan, figures: FiguresOf) -> bool:
    """Whether a stored plan lacks a baseline the report it was made on now gives."""
    missing = [f.metric_key for f in before.focus if f.baseline is None]
    if not missing:
        return False
    known = figures(plan.rep.email, plan.month)
    return any(known.get(key, (None, None))[0] is not None for key in missing)


def _touched(plan: Plan) -> bool:
    """Whether Slack has had a hand in the plan: the modal schedules check-in days (it needs
    one), a saved plan is sent as a DM, and check-ins are logged there. An imported plan has
    none of these until someone uses it."""
    return bool(plan.checkin_dates or plan.checkins or plan.dm_ts)


def _kept(plan: _Plan, before: Plan) -> str:
    """Why a plan made or used in Slack is not overwritten, and what the file changes in it."""
    parts = ("author", "focus metrics and targets", "why", "actions")
    differ = [p for p, a, b in zip(parts, _content(before), plan.content(), strict=True) if a != b]
    return (
        f"{plan.rep.email} already has a plan for {plan.month} made or used in Slack, and these "
        f"rows change its {', '.join(differ)}: it is kept as it is — change it in Slack "
        "(/coach plan), or make these rows match it"
    )


def _figures(
    plan: _Plan, figures: FiguresOf, units: Mapping[str, str], problems: Problems
) -> list[FocusInput]:
    """The plan's focus metrics with the figures the plan was made on; a target no better than
    the rep's value then is noted, as the plan modal refuses it."""
    known = figures(plan.rep.email, plan.month)
    before = format_month(parse_month(plan.month) - 1)
    focus = []
    for f in plan.focus:
        baseline, median = known.get(f.metric.key, (None, None))
        higher = f.metric.direction == "higher"
        if (
            f.target is not None
            and baseline is not None
            and (f.target <= baseline if higher else f.target >= baseline)
        ):
            problems.add(
                f.line,
                "target",
                f"{_written(f.target, units.get(f.metric.key))} is not "
                f"{'above' if higher else 'below'} the rep's {f.metric.key} of "
                f"{_written(baseline, units.get(f.metric.key))} in {before}'s report, the one the "
                "plan was made on: aim past it, or leave the target empty",
            )
        focus.append(FocusInput(f.metric.key, baseline, median, f.target))
    return focus


def _written(value: float, unit: str | None) -> str:
    """A figure as the file would give it: rates as fractions, others to two decimals."""
    return f"{value:.4g}" if unit == "percent" else f"{value:,.2f}".removesuffix(".00")
