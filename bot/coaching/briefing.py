"""What the cadence's messages say, gathered once per run: the org, the plans, the gap reports."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from analytics.gaps import GapEngine, GapError
from bot.coaching.months import month_label, shift_month, through_label
from storage.models import Person, Plan, PlanOutcome
from storage.org import active_people, descendants
from storage.outcomes import outcomes_by_focus
from storage.pips import active_counts_by_manager


@dataclass(frozen=True)
class FocusOutcome:
    """One focus metric of a plan: the figures it was chosen on, and where the rep is now."""

    label: str
    metric: dict[str, Any]  # key, kind, unit, direction: enough to format and compare values
    baseline: float | None
    now: float | None
    peer_median: float | None
    target: float | None
    verdict: str | None = None  # the archive's, once the plan's month is judged
    judged: dict[str, Any] | None = None  # what the verdict was judged on (months, value, ...)

    def _better(self, value: float | None, than: float | None, strict: bool) -> bool | None:
        if value is None or than is None:
            return None
        gap = value - than if self.metric.get("direction", "higher") == "higher" else than - value
        return gap > 0 if strict else gap >= 0

    @property
    def moved(self) -> bool | None:
        """Moved toward the peer median since the plan was made (None without data)."""
        return self._better(self.now, self.baseline, strict=True)

    @property
    def closed(self) -> bool | None:
        """The archive's verdict, once the month is judged (None before, and without data): a
        raw value at the median or the target is no evidence that the gap closed."""
        if self.verdict is None or self.verdict == "not enough data":
            return None
        return self.verdict == "closed"


@dataclass(frozen=True)
class PlanView:
    """A stored plan as the messages show it: what skill, why, how, check-ins, outcome."""

    month: str
    focus: list[FocusOutcome]
    why: str
    actions: list[str]
    checkins: list[str]

    @property
    def closed(self) -> bool | None:
        """Every focus metric closed (None when there is no data to tell)."""
        verdicts = [f.closed for f in self.focus]
        if not verdicts or any(v is None for v in verdicts):
            return None
        return all(verdicts)


@dataclass(frozen=True)
class RepBrief:
    """Everything a day-one reply or a digest line says about one rep."""

    person_id: int
    email: str
    name: str
    report: dict[str, Any] | None
    problem: str | None  # why there is no report
    last_plan: PlanView | None
    plan: PlanView | None
    # The archive's verdicts on the rep's plans of the last three months: (closed, judged).
    quarter: tuple[int, int] = (0, 0)
    at_quota: bool | None = None  # attainment over the data window, when there is a quota


def reps_by_manager(people: list[Person]) -> dict[int, list[Person]]:
    """The active reps among `people`, by name, grouped by their direct manager (when active)."""
    ids = {p.id for p in people}
    groups: dict[int, list[Person]] = defaultdict(list)
    for rep in sorted((p for p in people if p.role == "rep"), key=lambda p: p.name):
        if rep.manager_id in ids:
            groups[rep.manager_id].append(rep)  # type: ignore[index]
    return groups


def _at_quota(report: dict[str, Any] | None) -> bool | None:
    attainment = next(
        (m["value"] for m in (report or {}).get("metrics", []) if m["key"] == "attainment"), None
    )
    return None if attainment is None else attainment >= 1.0


class Briefing:
    """The org, the plans of a coaching month and the month before, and the gap reports the
    messages quote, loaded once per run."""

    def __init__(
        self,
        session: Session,
        workspace_id: str,
        engine: GapEngine,
        labels: dict[str, str],
        month: str,
    ) -> None:
        self.month, self.labels = month, labels
        self.last_month = shift_month(month, -1)
        self.people = active_people(session, workspace_id)
        self.by_id = {p.id: p for p in self.people}
        self.data_month, self.data_note = self._data_month(engine)
        self.reports: dict[str, dict[str, Any]] = {}
        if self.data_month is not None:
            for report in engine.reports(self.data_month):
                self.reports[report.rep] = report.model_dump(mode="json")
        plans = session.scalars(
            select(Plan)
            .options(selectinload(Plan.focus), selectinload(Plan.checkins))
            .where(Plan.workspace_id == workspace_id, Plan.month.in_([month, self.last_month]))
        )
        self.plans = {(p.rep_id, p.month): p for p in plans}
        judged = outcomes_by_focus(session, [p.id for p in self.plans.values()])
        self.verdicts = {focus_id: o.verdict for focus_id, o in judged.items()}
        self.judged = {
            focus_id: {
                "judged_from": o.judged_from,
                "judged_to": o.judged_to,
                "value": o.value,
                "expectation": o.expectation,
                "peer_median_now": o.peer_median_now,
                "target": o.target,
                "target_met": o.target_met,
            }
            for focus_id, o in judged.items()
            if o.judged_from is not None
        }
        self.quarter = self._quarter(session, workspace_id)
        # Running PIPs per manager (by id as the digest names teams): a count, never who.
        self.pips = {str(m): n for m, n in active_counts_by_manager(session, workspace_id).items()}

    def _quarter(self, session: Session, workspace_id: str) -> dict[int, tuple[int, int]]:
        """Per rep, of their plans of the three months before this one that the archive has
        judged: how many closed every focus metric, and how many had the data to tell."""
        months = [shift_month(self.month, -i) for i in (3, 2, 1)]
        verdicts: dict[tuple[int, int], list[str]] = defaultdict(list)
        rows = session.execute(
            select(Plan.rep_id, Plan.id, PlanOutcome.verdict)
            .join(PlanOutcome, PlanOutcome.plan_id == Plan.id)
            .where(Plan.workspace_id == workspace_id, Plan.month.in_(months))
        )
        for rep_id, plan_id, verdict in rows:
            verdicts[(rep_id, plan_id)].append(verdict)
        quarter: dict[int, tuple[int, int]] = {}
        for (rep_id, _), found in verdicts.items():
            if "not enough data" in found:
                continue
            closed, judged = quarter.get(rep_id, (0, 0))
            quarter[rep_id] = (closed + all(v == "closed" for v in found), judged + 1)
        return quarter

    def _data_month(self, engine: GapEngine) -> tuple[str | None, str | None]:
        """The month of numbers behind this coaching month: the one before it, else the latest."""
        try:
            latest = engine.latest_month()
        except GapError as exc:
            return None, str(exc)
        if latest >= self.last_month:
            return self.last_month, None
        if through := engine.through(self.last_month):
            # Month to date (the daily post's, or a day-one before the full month is in): its
            # numbers so far, said as such, rather than an older full month's.
            return self.last_month, (
                f"{month_label(self.last_month)}'s numbers are month to date, "
                f"{through_label(through)}."
            )
        return latest, (
            f"{month_label(self.last_month)}'s numbers are not imported yet: "
            f"the figures are {month_label(latest)}'s."
        )

    def reps(self) -> list[Person]:
        """Active reps, by name."""
        return sorted((p for p in self.people if p.role == "rep"), key=lambda p: p.name)

    def below(self, person_id: int) -> list[Person]:
        """Everyone (active) below a person in the org chart."""
        return descendants(self.people, person_id)

    def brief(self, rep: Person) -> RepBrief:
        """One rep's brief: this month's suggestion and plan, last month's plan and outcome."""
        report = self.reports.get(rep.email)
        problem = None
        if report is None:
            problem = self.data_note if self.data_month is None else "no metrics in the window"
        return RepBrief(
            person_id=rep.id,
            email=rep.email,
            name=rep.name,
            report=report,
            problem=problem,
            last_plan=self._view(self.plans.get((rep.id, self.last_month)), report),
            plan=self._view(self.plans.get((rep.id, self.month)), report),
            quarter=self.quarter.get(rep.id, (0, 0)),
            at_quota=_at_quota(report),
        )

    def _view(self, plan: Plan | None, report: dict[str, Any] | None) -> PlanView | None:
        if plan is None:
            return None
        metrics = {m["key"]: m for m in (report or {}).get("metrics", [])}
        focus = []
        for f in plan.focus:
            metric = metrics.get(f.metric_key, {"key": f.metric_key, "kind": "conversion"})
            focus.append(
                FocusOutcome(
                    label=self.labels.get(f.metric_key, f.metric_key),
                    metric=metric,
                    baseline=f.baseline,
                    now=metric.get("value"),
                    peer_median=metric.get("peer_median", f.peer_median),
                    target=f.target,
                    verdict=self.verdicts.get(f.id),
                    judged=self.judged.get(f.id),
                )
            )
        return PlanView(
            month=plan.month,
            focus=focus,
            why=plan.why,
            actions=list(plan.actions),
            checkins=[f"{c.on_date:%b %-d} {c.status.replace('_', ' ')}" for c in plan.checkins],
        )
