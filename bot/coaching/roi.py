"""The coaching ROI service: plans and numbers from the database, the lift from analytics.roi."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Engine, select

from analytics.catalogue import Catalogue
from analytics.gaps import GapConfig, GapEngine
from analytics.roi import CoachedPlan, JudgedRuns, Roi, estimate_roi, judge_runs
from storage.db import session_scope
from storage.models import Person, Plan, PlanFocus
from storage.queries import metrics_frame, people_frame


def coached_plans(engine: Engine, workspace_id: str) -> list[CoachedPlan]:
    """Every plan of the workspace with its focus metrics, oldest first."""
    with session_scope(engine) as session:
        rows = session.execute(
            select(Plan.month, Person.email, PlanFocus.metric_key)
            .join(Person, Person.id == Plan.rep_id)
            .join(PlanFocus, PlanFocus.plan_id == Plan.id)
            .where(Plan.workspace_id == workspace_id)
            .order_by(Plan.month, Person.email, PlanFocus.position)
        ).all()
    focus: dict[tuple[str, str], list[str]] = defaultdict(list)
    for month, email, key in rows:
        focus[(month, email)].append(key)
    return [CoachedPlan(month, email, tuple(keys)) for (month, email), keys in focus.items()]


@dataclass(frozen=True)
class CoachingRuns:
    """A period's judged runs and each rep's manager: what every ROI view is estimated from."""

    runs: JudgedRuns
    managers: dict[str, str | None]

    def roi(self, reps: Collection[str] | None = None) -> Roi:
        """The lift of the runs (only `reps`' when given: a director's division)."""
        return estimate_roi(self.runs, self.managers, reps)


def coaching_runs(
    engine: Engine,
    workspace_id: str,
    catalogue: Catalogue,
    config: GapConfig,
    since: str | None = None,
    until: str | None = None,
    *,
    gap_engine: GapEngine | None = None,
) -> CoachingRuns:
    """The plans starting in `since`..`until`, and the flagged reps left uncoached, judged
    against the expectation at plan time (analytics.roi). `gap_engine`: a warm engine on the
    workspace's data (one is built otherwise)."""
    with session_scope(engine) as session:
        people = people_frame(session, workspace_id)
    if gap_engine is None:  # a warm engine already holds the counts: no second read
        gap_engine = GapEngine(metrics_frame(engine, workspace_id), people, catalogue, config)
    managers = {
        str(email): manager if isinstance(manager, str) else None
        for email, manager in zip(people["email"], people["manager_email"], strict=True)
    }
    plans = coached_plans(engine, workspace_id)
    runs = judge_runs(gap_engine, plans, since, until)
    return CoachingRuns(runs, managers)
