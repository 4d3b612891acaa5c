"""Performance improvement plans: who may see and run one, what the modal starts with, what a
submission means, the check-in rhythm, and the verdicts at the end.

The method's rules, enforced here: goals on specific metrics, each with a target and a deadline;
interim tracking metrics with weekly levels; the manager's own commitments; a stated rhythm of
check-ins; and never a surprise — without a coaching plan on the same metrics in the last three
months, the manager must confirm the issues were discussed before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.catalogue import Catalogue, Metric
from analytics.models import GapReport
from analytics.pips import PIP_VERDICTS, per_week, pip_verdict, pooled
from bot.coaching.months import shift_month
from bot.coaching.numbers import DEFAULT_LOCALE, TypedNumberError, format_typed, parse_typed
from bot.coaching.plans import reachable_target
from bot.coaching.wording import format_value, unit_of
from storage.directory import Directory, Member
from storage.models import Person, Pip
from storage.pips import PipGoal, PipTracking, PipVerdict, all_pips, full_months

RHYTHMS = {"weekly": 7, "fortnightly": 14}
DEADLINES = (30, 60, 90)
MAX_GOALS, MAX_TRACKING = 3, 4
MAX_COMMITMENTS = 10  # a check-in ticks each one off: Slack's checkboxes take ten
HISTORY_MONTHS = 3  # a plan on the same metrics this recently: the issues were discussed
LONGEST_DAYS = 180


def may_see_pip(directory: Directory, viewer_id: int, rep: Member | None) -> bool:
    """The rep themselves, their manager chain and admins: the org chart's rights
    (`Directory.can_view`), which never reach a peer or another team's manager."""
    viewer = directory.get(viewer_id)
    return (
        rep is not None
        and viewer is not None
        and rep.role == "rep"
        and directory.can_view(viewer, rep)
    )


def may_run_pip(directory: Directory, viewer_id: int, rep: Member | None) -> bool:
    """Create, check in on and decide a PIP: the rep's manager chain and admins, not the rep."""
    return rep is not None and viewer_id != rep.id and may_see_pip(directory, viewer_id, rep)


def metric_dict(metric: Metric) -> dict[str, Any]:
    """What the wording and number helpers read of a metric."""
    return metric.model_dump(mode="json")


def _typed(value: float, metric: dict[str, Any], locale: str) -> str:
    return format_typed(value, unit_of(metric), locale)


def pip_prefill(
    report: GapReport, recent: set[str], catalogue: Catalogue, locale: str, today: date
) -> dict[str, Any]:
    """What the PIP modal starts with: the rep's gaps and the metrics their recent plans
    coached as goals (toward a reachable step), their weakest activities as tracking metrics
    (at the peers' median per week), and dates from today."""
    metrics = {m.key: m for m in report.metrics if m.value is not None}
    keys = [k for k in [*report.focus, *sorted(recent)] if k in metrics]
    goals = []
    for key in list(dict.fromkeys(keys))[:MAX_GOALS]:
        metric = metrics[key].model_dump(mode="json")
        target = reachable_target(report, metric)
        goals.append(
            {"key": key, "target": "" if target is None else _typed(target, metric, locale)}
        )
    activities = sorted(
        (m for m in metrics.values() if m.kind == "activity" and m.percentile is not None),
        key=lambda m: m.percentile or 0.0,
    )
    tracking = []
    for gap in activities[:2]:
        spec = catalogue.metric(gap.key)
        level = per_week(spec, gap.peer_median)
        tracking.append(
            {
                "key": gap.key,
                "level": ""
                if level is None
                else _typed(level, gap.model_dump(mode="json"), locale),
            }
        )
    return {
        "goals": goals,
        "tracking": tracking,
        "start": today.isoformat(),
        "end": (today + timedelta(days=60)).isoformat(),
    }


@dataclass(frozen=True)
class PipEntry:
    """What the PIP modal's inputs hold, as read at the Slack boundary."""

    goals: list[tuple[str | None, str, str | None]]  # (metric key, target typed, deadline days)
    tracking: list[tuple[str | None, str]]  # (metric key, weekly level typed)
    commitments: str  # one per line
    rhythm: str | None
    start: date | None
    end: date | None
    discussed: bool


@dataclass(frozen=True)
class PipForm:
    """A valid PIP submission."""

    goals: list[PipGoal]
    tracking: list[PipTracking]
    commitments: list[str]
    rhythm_days: int
    start: date
    end: date
    discussed: bool


def _better(metric: dict[str, Any], target: float, than: float | None) -> bool:
    if than is None:
        return True
    return target > than if metric["direction"] == "higher" else target < than


def parse_pip_form(
    entry: PipEntry,
    report: GapReport,
    rep_name: str,
    recent: set[str],
    today: date,
    locale: str = DEFAULT_LOCALE,
) -> PipForm | dict[str, str]:
    """Validate a PIP modal's entry (numbers as typed in `locale`); block_id → message when
    something is wrong."""
    metrics = {m.key: m.model_dump(mode="json") for m in report.metrics if m.value is not None}
    errors: dict[str, str] = {}
    start, end = entry.start, entry.end
    if start is None:
        errors["start"] = "Pick the day the PIP starts."
    elif start < today:
        errors["start"] = "A PIP starts today or later."
    if end is None:
        errors["end"] = "Pick the day the PIP ends."
    elif start is not None and not start < end <= start + timedelta(days=LONGEST_DAYS):
        errors["end"] = f"End after the start, within {LONGEST_DAYS} days."
    goals: list[PipGoal] = []
    seen: set[str] = set()
    for i, (key, text, days) in enumerate(entry.goals[:MAX_GOALS], 1):
        if key is None:
            continue
        metric = metrics.get(key)
        if metric is None:
            errors[f"goal_metric_{i}"] = "That metric has no data for this rep."
            continue
        if key in seen:
            errors[f"goal_metric_{i}"] = "Choose each metric once."
            continue
        seen.add(key)
        try:
            target = parse_typed(text, unit_of(metric), locale)
        except TypedNumberError as exc:
            errors[f"goal_target_{i}"] = f"{metric['label']}: {exc}"[:150]
            continue
        if not _better(metric, target, metric["value"]):
            today_value = format_value(metric, metric["value"])
            errors[f"goal_target_{i}"] = f"Aim past today's {today_value}."[:150]
            continue
        if days is None or not days.isdigit() or int(days) not in DEADLINES:
            errors[f"goal_deadline_{i}"] = "Pick 30, 60 or 90 days."
            continue
        if start is None or end is None:
            continue
        deadline = start + timedelta(days=int(days))
        if deadline > end:
            errors[f"goal_deadline_{i}"] = "The deadline falls after the PIP's end date."
            continue
        goals.append(PipGoal(key, metric["value"], target, deadline))
    if not seen and "goal_metric_1" not in errors:
        errors["goal_metric_1"] = "Set at least one goal on a specific metric."
    tracking: list[PipTracking] = []
    for i, (key, text) in enumerate(entry.tracking[:MAX_TRACKING], 1):
        if key is None:
            continue
        metric = metrics.get(key)
        if metric is None or key in {t.metric_key for t in tracking}:
            errors[f"track_metric_{i}"] = "Choose a metric with data, each once."
            continue
        try:
            level = parse_typed(text, unit_of(metric), locale)
        except TypedNumberError as exc:
            errors[f"track_level_{i}"] = f"{metric['label']}: {exc}"[:150]
            continue
        tracking.append(PipTracking(key, metric["value"], level))
    commitments = [
        line.strip(" •-\t") for line in entry.commitments.splitlines() if line.strip(" •-\t")
    ]
    if not commitments:
        errors["commitments"] = "Add your own commitments, e.g. join three calls a week."
    elif len(commitments) > MAX_COMMITMENTS:
        errors["commitments"] = f"At most {MAX_COMMITMENTS} commitments: each is ticked off."
    if entry.rhythm not in RHYTHMS:
        errors["rhythm"] = "How often will you check in?"
    if seen and not seen & recent and not entry.discussed:
        errors["discussed"] = (
            f"{rep_name} had no coaching plan on these metrics in the last {HISTORY_MONTHS} "
            "months. A PIP must never be a surprise: confirm you discussed them before."
        )[:150]
    if errors:
        return errors
    assert start is not None and end is not None and entry.rhythm is not None
    return PipForm(
        goals=goals,
        tracking=tracking,
        commitments=commitments,
        rhythm_days=RHYTHMS[entry.rhythm],
        start=start,
        end=end,
        discussed=entry.discussed,
    )


def history_since(month: str) -> str:
    """The first month whose plans count as having discussed the issues."""
    return shift_month(month, -HISTORY_MONTHS)


def checkin_days(pip: Pip) -> list[date]:
    """The check-in days the PIP's rhythm gives, from its start to before its end date."""
    days, day = [], pip.start_date + timedelta(days=pip.rhythm_days)
    while day < pip.end_date:
        days.append(day)
        day += timedelta(days=pip.rhythm_days)
    return days


def judged_months(start: date, deadline: date) -> tuple[str, str]:
    """The months a goal is judged on: from the first month that begins on or after the PIP's
    start — the weeks before it are what led to the PIP, not what it asks to change — to the
    deadline's month."""
    first = start if start.day == 1 else (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return min(first, deadline).strftime("%Y-%m"), deadline.strftime("%Y-%m")


def judge_pip(
    session: Session, catalogue: Catalogue, pip: Pip, threshold: float
) -> list[PipVerdict]:
    """Each outcome metric judged on the rep's full months from the first month the PIP covers
    whole to its deadline's month (see `judged_months` and analytics/pips.py)."""
    verdicts = []
    for metric in pip.metrics:
        if metric.role != "outcome" or metric.deadline is None:
            continue
        try:
            spec = catalogue.metric(metric.metric_key)
        except KeyError:
            verdicts.append(PipVerdict(metric.metric_key, "not enough data", None, None))
            continue
        first, last = judged_months(pip.start_date, metric.deadline)
        months = full_months(session, pip.workspace_id, pip.rep_id, first, last)
        figures = pooled(spec, months, catalogue.zero_if_missing)
        verdict, p = pip_verdict(
            model=spec.model,
            direction=spec.direction,
            figures=figures,
            target=metric.target,
            threshold=threshold,
        )
        verdicts.append(
            PipVerdict(metric.metric_key, verdict, figures.value if figures else None, p)
        )
    return verdicts


def latest_levels(session: Session, catalogue: Catalogue, pip: Pip) -> dict[str, float | None]:
    """Each tracking metric's latest figure per week: the rep's latest full month with data."""
    found: dict[str, float | None] = {}
    first = pip.start_date - timedelta(days=62)  # the months just before it count as "latest"
    months = full_months(session, pip.workspace_id, pip.rep_id, first.strftime("%Y-%m"))
    for metric in pip.metrics:
        if metric.role != "tracking":
            continue
        try:
            spec = catalogue.metric(metric.metric_key)
        except KeyError:
            found[metric.metric_key] = None
            continue
        latest = next(
            (
                figures
                for month in reversed(months)
                if (figures := pooled(spec, [month], catalogue.zero_if_missing)) is not None
            ),
            None,
        )
        found[metric.metric_key] = per_week(spec, latest.value) if latest else None
    return found


def pip_outcome(pip: Pip) -> str | None:
    """The PIP's verdict in one word: met when every goal was, else its least good verdict."""
    verdicts = [m.verdict for m in pip.metrics if m.role == "outcome"]
    if not verdicts or any(v is None for v in verdicts):
        return None
    return max(verdicts, key=lambda v: PIP_VERDICTS.index(v))  # type: ignore[arg-type]


def export_rows(session: Session, workspace_id: str, since: date | None) -> list[dict[str, Any]]:
    """One row per PIP, oldest first, for HR: who, when, goals and verdicts, tracking levels,
    commitments, check-ins (commitments kept and missed), acknowledgement, decision, trail."""
    people = {
        p.id: p for p in session.scalars(select(Person).where(Person.workspace_id == workspace_id))
    }

    def email(person_id: int | None) -> str | None:
        person = people.get(person_id or -1)
        return person.email if person else None

    rows = []
    for pip in all_pips(session, workspace_id, since):
        rep = people[pip.rep_id]
        rows.append(
            {
                "rep_email": rep.email,
                "rep_name": rep.name,
                "manager_email": email(rep.manager_id),
                "author_email": email(pip.author_id),
                "start": pip.start_date.isoformat(),
                "end": pip.end_date.isoformat(),
                "status": pip.status,
                "rhythm_days": pip.rhythm_days,
                "discussed_before": pip.discussed,
                "acknowledged_at": _utc_text(pip.acknowledged_at),
                "outcome": pip_outcome(pip),
                "commitments": list(pip.commitments),
                "checkins": len(pip.checkins),
                "commitments_kept": sum(len(c.kept) for c in pip.checkins),
                "commitments_missed": sum(len(c.missed) for c in pip.checkins),
                "goals": [
                    {
                        "metric": m.metric_key,
                        "baseline": m.baseline,
                        "target": m.target,
                        "deadline": m.deadline.isoformat() if m.deadline else None,
                        "value": m.value,
                        "verdict": m.verdict,
                    }
                    for m in pip.metrics
                    if m.role == "outcome"
                ],
                "tracking": [
                    {"metric": m.metric_key, "weekly_level": m.target}
                    for m in pip.metrics
                    if m.role == "tracking"
                ],
                "trail": [
                    {
                        "at": _utc_text(e.at),
                        "who": email(e.actor_id),
                        "action": e.action,
                        "detail": e.detail,
                    }
                    for e in pip.events
                ],
            }
        )
    return rows


def pip_view(pip: Pip, catalogue: Catalogue, zone: ZoneInfo | None = None) -> dict[str, Any]:
    """A stored PIP as the Block Kit builders take it (plain data); `acknowledged_at` in `zone`
    (the rep's, whose day it was), UTC without one."""

    def spec(key: str) -> dict[str, Any]:
        try:
            return metric_dict(catalogue.metric(key))
        except KeyError:  # a metric the catalogue no longer has: shown by its key
            return {"key": key, "label": key, "kind": "value", "direction": "higher"}

    return {
        "id": pip.id,
        "start": pip.start_date,
        "end": pip.end_date,
        "rhythm_days": pip.rhythm_days,
        "commitments": list(pip.commitments),
        "status": pip.status,
        "acknowledged_at": _local(pip.acknowledged_at, zone or ZoneInfo("UTC")),
        "goals": [
            {
                "metric": spec(m.metric_key),
                "baseline": m.baseline,
                "target": m.target,
                "deadline": m.deadline,
                "verdict": m.verdict,
                "value": m.value,
            }
            for m in pip.metrics
            if m.role == "outcome"
        ],
        "tracking": [
            {"metric": spec(m.metric_key), "level": m.target}
            for m in pip.metrics
            if m.role == "tracking"
        ],
        "checkins": [
            {"on": c.on_date, "kept": len(c.kept), "missed": len(c.missed)} for c in pip.checkins
        ],
    }


def _utc_text(at: datetime | None) -> str | None:
    """A stored time in ISO 8601 with its UTC offset, the same on SQLite and PostgreSQL."""
    moment = _local(at, ZoneInfo("UTC"))
    return moment.isoformat() if moment else None


def _local(at: datetime | None, zone: ZoneInfo) -> datetime | None:
    # Stored in UTC; SQLite hands it back without a zone.
    if at is None:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(zone)


def judged_goals(
    session: Session, catalogue: Catalogue, pip: Pip, threshold: float
) -> list[dict[str, Any]]:
    """The PIP's goals as `pip_view` gives them, each with its verdict and value now (judged,
    not stored: the decision stores them)."""
    verdicts = {v.metric_key: v for v in judge_pip(session, catalogue, pip, threshold)}
    goals = pip_view(pip, catalogue)["goals"]
    for goal in goals:
        found = verdicts.get(goal["metric"]["key"])
        goal["verdict"], goal["value"] = (found.verdict, found.value) if found else (None, None)
    return goals
