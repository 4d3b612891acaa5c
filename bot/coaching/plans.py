"""The plan feature: what the modal is prefilled with, what a submission means, and saving it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from analytics.catalogue import Catalogue
from analytics.gaps import GapEngine, GapError
from analytics.models import GapReport
from bot.coaching.months import current_months, month_bounds, month_label, shift_month
from bot.coaching.numbers import DEFAULT_LOCALE, TypedNumberError, format_typed, parse_typed
from bot.coaching.wording import unit_of
from storage.csv_plans import Figures, FiguresOf
from storage.plans import FocusInput


@dataclass(frozen=True)
class PlanForm:
    """A valid plan submission."""

    focus: list[FocusInput]
    why: str
    actions: list[str]
    checkin_dates: list[date]


def button_target(value: str) -> tuple[str, str | None]:
    """A button's 'email|YYYY-MM' (day-one threads) or plain email: (email, the month it names
    while that month is current somewhere, else None)."""
    email, _, month = value.partition("|")
    return email, month if month in current_months() else None


@dataclass(frozen=True)
class PlanEntry:
    """What the plan modal's inputs hold, as read (and typed) at the Slack boundary."""

    focus: list[str]  # metric keys chosen
    why: str
    how: str  # one action a line
    targets: list[str]  # as typed, one per focus metric
    checkins: list[date | None]  # the two check-in days, None where none was picked


def parse_plan_form(
    entry: PlanEntry, month: str, report: GapReport, locale: str = DEFAULT_LOCALE
) -> PlanForm | dict[str, str]:
    """Validate a plan modal's entry (targets as typed in the user's `locale`); a dict of
    block_id → message when something is wrong."""
    metrics = {m.key: m.model_dump(mode="json") for m in report.metrics}
    errors: dict[str, str] = {}
    keys = entry.focus
    if not keys:
        errors["focus"] = "Choose the skill to work on."
    elif len(keys) > 2:
        errors["focus"] = "At most two focus metrics: coaching on more dilutes the effort."
    elif len(set(keys)) < len(keys):
        errors["focus"] = "Choose each metric once."
    elif not set(keys) <= coachable(report):
        errors["focus"] = "That metric has no data for this rep."
    why = entry.why.strip()
    if not why:
        errors["why"] = "Say why this skill, in a sentence."
    actions = [line.strip(" •-\t") for line in entry.how.splitlines() if line.strip(" •-\t")]
    if not actions:
        errors["how"] = "Add at least one concrete action."
    focus: list[FocusInput] = []
    for i, key in enumerate(keys[:2] if "focus" not in errors else []):
        block = f"target_{i + 1}"
        metric = metrics[key]
        text = entry.targets[i].strip() if i < len(entry.targets) else ""
        try:
            target = parse_typed(text, unit_of(metric), locale)
        except TypedNumberError as exc:
            errors[block] = f"{metric['label']}: {exc}"[:150]
            continue
        baseline = metric["value"]
        not_better = baseline is not None and (
            target <= baseline if metric["direction"] == "higher" else target >= baseline
        )
        if not_better:  # a target already met would close the gap with no change at all
            errors[block] = f"Aim above today's value for {metric['label']}."
            continue
        focus.append(FocusInput(key, baseline, metric["peer_median"], target))
    first, last = month_bounds(month)
    dates: list[date] = []
    for i, day in enumerate(entry.checkins[:2]):
        block = f"checkin_{i + 1}"
        if day is None:
            continue
        if not first <= day <= last:
            errors[block] = f"Pick a day in {month_label(month)}."
        else:
            dates.append(day)
    if not dates and "checkin_1" not in errors:
        errors["checkin_1"] = "Schedule at least one check-in."
    if errors:
        return errors
    return PlanForm(focus=focus, why=why, actions=actions, checkin_dates=sorted(dates))


def coachable(report: GapReport) -> set[str]:
    """The metrics a plan may focus on (the modal's options): skills, not outcomes, with data."""
    return {m.key for m in report.metrics if m.kind != "outcome" and m.value is not None}


def prefill(report: GapReport, locale: str = DEFAULT_LOCALE) -> dict[str, Any]:
    """What the plan modal starts with: the suggested focus, its coaching actions and targets
    (written as the user types numbers, so a German manager's "12.000" reads back as 12,000)."""
    metrics = {m.key: m for m in report.metrics}
    offered = coachable(report)
    options = [m.model_dump(mode="json") for m in report.metrics if m.key in offered]
    chosen = [k for k in report.focus if k in metrics]
    actions = [s for k in chosen for s in metrics[k].suggestions[:1]]
    targets = []
    for key in chosen:
        metric = metrics[key].model_dump(mode="json")
        target = reachable_target(report, metric)
        targets.append("" if target is None else typed(target, metric, locale))
    return {"options": options, "chosen": chosen, "actions": actions, "targets": targets}


def typed(value: float, metric: dict[str, Any], locale: str = DEFAULT_LOCALE) -> str:
    """A metric's value as an input's initial text, in the user's locale and the metric's unit."""
    return format_typed(value, unit_of(metric), locale)


# The worked-back volume (quota at the rep's own rates) behind each volume metric.
_WORKED_BACK = {"leads_prospected": "leads_prospected", "opportunities_worked": "opportunities"}


def reachable_target(report: GapReport, metric: dict[str, Any]) -> float | None:
    """A month's reachable step on one metric: the peer median, or for a volume the nearer of
    the median and the worked-back figure (what quota takes at the rep's own rates); never
    beyond the peers' top quartile."""
    median, top = metric["peer_median"], metric["top_quartile"]
    if median is None:
        return None
    target = median
    field = _WORKED_BACK.get(metric["key"])
    needed = getattr(report.targets.own, field) if report.targets and field else None
    current = metric["value"]
    if needed is not None and current is not None and needed > current:
        # Already enough volume for quota at today's rates: the median is the only step.
        target = min((median, needed), key=lambda x: abs(x - current))
    if top is not None:
        higher = metric["direction"] == "higher"
        target = min(target, top) if higher else max(target, top)
    return target


def metric_units(catalogue: Catalogue) -> dict[str, str]:
    """Each metric's unit by key, as `unit_of` says it (`percent` for rates)."""
    return {m.key: unit_of(m.model_dump()) for m in catalogue.metrics}


def history_figures(gaps: GapEngine) -> FiguresOf:
    """For a plan of (rep email, month) made before coach was in use: each metric's value and
    peer median in the report the plan would have been made on — the month before's, the one
    day one quotes (empty where there are no numbers for it)."""
    by_month: dict[str, dict[str, GapReport]] = {}

    def figures(email: str, month: str) -> Mapping[str, Figures]:
        before = shift_month(month, -1)
        if before not in by_month:
            try:  # every rep of a month at once: a history has many plans a month
                by_month[before] = {r.rep: r for r in gaps.reports(before)}
            except GapError:
                by_month[before] = {}
        report = by_month[before].get(email)
        if report is None:  # not among the month's active reps with data: ask by name
            try:
                report = gaps.report(email, before)
            except GapError:
                return {}
        return {m.key: (m.value, m.peer_median) for m in report.metrics}

    return figures
