"""The plan feature: what the modal is prefilled with, what a submission means, and saving it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from analytics.models import GapReport
from bot.coaching.months import current_months, month_bounds, month_label
from bot.coaching.wording import unit_of
from storage.plans import FocusInput

_NUMBER = re.compile(r"^[$€£]?\s*([0-9][0-9,]*(?:\.[0-9]+)?|\.[0-9]+)\s*(%|days?|d)?$", re.I)


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


def parse_target(text: str, metric: dict[str, Any]) -> float | None:
    """A target as typed ('26%', '0.26', '$12,000', '40 days') in the metric's own units."""
    match = _NUMBER.match(text.strip())
    if not match:
        return None
    value = float(match.group(1).replace(",", ""))
    if unit_of(metric) == "percent" and (match.group(2) == "%" or value > 1):
        value /= 100
    return value


def _value(values: dict[str, Any], block: str) -> dict[str, Any]:
    return values.get(block, {}).get("value", {})


def parse_plan_form(
    values: dict[str, Any], month: str, report: GapReport
) -> PlanForm | dict[str, str]:
    """Validate a plan modal's state; a dict of block_id → message when something is wrong."""
    metrics = {m.key: m.model_dump(mode="json") for m in report.metrics}
    errors: dict[str, str] = {}
    keys = [o["value"] for o in _value(values, "focus").get("selected_options") or []]
    if not keys:
        errors["focus"] = "Choose the skill to work on."
    elif len(keys) > 2:
        errors["focus"] = "At most two focus metrics: coaching on more dilutes the effort."
    elif any(k not in metrics for k in keys):
        errors["focus"] = "That metric has no data for this rep."
    why = (_value(values, "why").get("value") or "").strip()
    if not why:
        errors["why"] = "Say why this skill, in a sentence."
    actions = [
        line.strip(" •-\t")
        for line in (_value(values, "how").get("value") or "").splitlines()
        if line.strip(" •-\t")
    ]
    if not actions:
        errors["how"] = "Add at least one concrete action."
    focus: list[FocusInput] = []
    for i, key in enumerate(keys[:2] if "focus" not in errors else []):
        block = f"target_{i + 1}"
        metric = metrics[key]
        text = (_value(values, block).get("value") or "").strip()
        target = parse_target(text, metric) if text else None
        if target is None:
            errors[block] = f"Give a number for {metric['label']}, e.g. 26% or 12,000."
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
    for block in ("checkin_1", "checkin_2"):
        selected = _value(values, block).get("selected_date")
        if not selected:
            continue
        day = date.fromisoformat(selected)
        if not first <= day <= last:
            errors[block] = f"Pick a day in {month_label(month)}."
        else:
            dates.append(day)
    if not dates and "checkin_1" not in errors:
        errors["checkin_1"] = "Schedule at least one check-in."
    if errors:
        return errors
    return PlanForm(focus=focus, why=why, actions=actions, checkin_dates=sorted(dates))


def prefill(report: GapReport) -> dict[str, Any]:
    """What the plan modal starts with: the suggested focus, its coaching actions and targets."""
    metrics = {m.key: m for m in report.metrics}
    options = [
        m.model_dump(mode="json")
        for m in report.metrics
        if m.kind != "outcome" and m.value is not None
    ]
    chosen = [k for k in report.focus if k in metrics]
    actions = [s for k in chosen for s in metrics[k].suggestions[:1]]
    targets = []
    for key in chosen:
        metric = metrics[key].model_dump(mode="json")
        target = reachable_target(report, metric)
        if target is None:
            targets.append("")
        elif unit_of(metric) == "percent":
            targets.append(f"{target:.0%}")
        else:
            targets.append(f"{target:,.2f}".rstrip("0").rstrip("."))
    return {"options": options, "chosen": chosen, "actions": actions, "targets": targets}


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


def plan_summary(plan: Any, labels: dict[str, str]) -> str:
    """A plan in a few mrkdwn lines: what skill, why, how, and the check-ins so far."""
    focus = ", ".join(labels.get(f.metric_key, f.metric_key) for f in plan.focus)
    actions = "\n".join(f"• {a}" for a in plan.actions)
    checkins = ", ".join(f"{c.on_date} {c.status.replace('_', ' ')}" for c in plan.checkins)
    return (
        f"*Plan for {month_label(plan.month)}: {focus}*\n_Why:_ {plan.why}\n{actions}\n"
        f"Check-ins: {checkins or 'none yet'} (planned {', '.join(plan.checkin_dates)})"
    )
