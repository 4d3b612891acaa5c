"""What a manager's weekly 1:1 prep says about one rep, gathered from the database (Rhorer's
checklist: a success line, an agenda the rep fills in part of, and the numbers behind it)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.catalogue import Catalogue
from analytics.crm_mapping import CrmMapping
from analytics.meetings import month_value, needed_by_now, working_days_elapsed
from analytics.models import DealFlag
from bot.coaching.crm import Pipeline, sideways_of
from bot.coaching.months import month_bounds
from storage.counts import read_counts
from storage.deliveries import delivered
from storage.models import CheckIn, MetricMonth, OneOnOneTopics, PartialMonth, Person, Plan
from storage.plans import get_plan

MAX_TOPICS_CHARS = 1500


def prep_key(day: str, manager_id: int, rep_id: int) -> str:
    """The key of a manager's prep of one rep's 1:1 on `day`."""
    return f"one-on-one:{day}:manager:{manager_id}:rep:{rep_id}"


def topics_key(day: str, rep_id: int) -> str:
    """The key of a rep's prompt to add topics to their 1:1 on `day`."""
    return f"topics:{day}:rep:{rep_id}"


@dataclass(frozen=True)
class FocusProgress:
    """One focus metric this month: the month-to-date value and where the target needs it."""

    label: str
    metric: dict[str, object]  # key, kind, unit, direction: enough to format values
    value: float | None
    numerator: float
    denominator: float | None
    target: float | None
    needed: float | None  # where the target needs the rep by now (the target, for a rate)
    peer_median: float | None

    @property
    def on_pace(self) -> bool | None:
        """At or past the pace the target needs (None without a value or a target)."""
        if self.value is None or self.needed is None:
            return None
        if self.metric.get("direction", "higher") == "higher":
            return self.value >= self.needed
        return self.value <= self.needed


@dataclass(frozen=True)
class LastCheckIn:
    """The rep's latest check-in on a plan."""

    on_date: date
    status: str
    done: int
    planned: int
    notes: str


@dataclass(frozen=True)
class Prep:
    """Everything one 1:1 prep says about one rep."""

    rep_id: int
    rep_name: str
    rep_email: str
    meeting: datetime  # aware, in the manager's time zone
    month: str
    planned: bool
    why: str = ""
    focus: list[FocusProgress] = field(default_factory=list)
    through: date | None = None  # the day the month's numbers run through
    last_checkin: LastCheckIn | None = None
    next_steps: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    crm: bool = False
    flags: list[DealFlag] = field(default_factory=list)
    rep_away_until: date | None = None
    held_back: bool = False  # due while the manager was away: sent on their return


def topics_for(session: Session, workspace_id: str, rep_id: int, day: date) -> list[str]:
    """What the rep added to the agenda of their 1:1 on `day`, one topic a line."""
    row = session.get(OneOnOneTopics, (workspace_id, rep_id, day))
    if row is None:
        return []
    return [line.strip(" -•*\t") for line in row.topics.splitlines() if line.strip(" -•*\t")]


def save_topics(session: Session, workspace_id: str, rep_id: int, day: date, text: str) -> None:
    """Store (or replace) the rep's topics for their 1:1 on `day`; the caller commits."""
    row = session.get(OneOnOneTopics, (workspace_id, rep_id, day))
    if row is None:
        session.add(
            OneOnOneTopics(workspace_id=workspace_id, rep_id=rep_id, meeting_day=day, topics=text)
        )
    else:
        row.topics = text


def late_topics_to(
    session: Session,
    rep: Person,
    day: date,
    due: Callable[[], datetime | None],
    now: datetime,
) -> tuple[str, str | None] | None:
    """Where topics the rep saves `now` for their 1:1 on `day` must go because the manager's
    prep may be made without them: (channel, ts) of the prep once it went out, for a reply
    under it; (the manager's Slack id, None) while it is being sent, or once it is `due()` and
    not yet recorded (made, waiting for its turn to send), for a message of its own. None while
    the prep is still to be made: it will show them. `due` is asked only when no prep is
    recorded (it may ask Slack for the manager's zone)."""
    manager = rep.manager
    if manager is None:
        return None
    key = prep_key(day.isoformat(), manager.id, rep.id)
    row = delivered(session, rep.workspace_id, [key]).get(key)
    if row is not None and row.status == "sent" and row.channel and row.ts:
        return row.channel, row.ts
    sending = row is not None and row.status == "claimed"
    when = due() if row is None else None
    made = when is not None and now >= when
    if (sending or made) and manager.slack_user_id:
        return manager.slack_user_id, None
    return None


def _month_counts(
    session: Session, workspace_id: str, rep_id: int, month: str
) -> tuple[dict[str, float], date | None]:
    """The rep's counts of `month` and the day they run through (the month's last day when
    they are the full month's; None without any)."""
    stored = read_counts(
        session, workspace_id, MetricMonth.person_id == rep_id, MetricMonth.month == month
    )
    counts = stored.get((rep_id, month), {})
    if not counts:
        return {}, None
    partial = session.get(PartialMonth, (workspace_id, rep_id, month))
    return counts, partial.through if partial is not None else month_bounds(month)[1]


def pipeline_reviews(
    session: Session, mapping: CrmMapping, meetings: Iterable[tuple[Person, datetime]]
) -> dict[tuple[int, datetime], Pipeline]:
    """The deals going sideways of each (rep, meeting), keyed by (rep id, meeting): the reps
    meeting at the same moment are judged together, so a CRM's records are read once a moment
    rather than once a rep."""
    at: dict[tuple[str, datetime], list[Person]] = {}
    for rep, meeting in meetings:
        at.setdefault((rep.workspace_id, meeting), []).append(rep)
    reviews = {}
    for (workspace_id, meeting), reps in at.items():
        found = sideways_of(session, mapping, workspace_id, [r.email for r in reps], meeting)
        for rep in reps:
            reviews[(rep.id, meeting)] = found[rep.email.strip().lower()]
    return reviews


def gather(
    session: Session,
    catalogue: Catalogue,
    rep: Person,
    meeting: datetime,
    country: str | None,
    *,
    held_back: bool = False,
    rep_away_until: date | None = None,
    review: Pipeline | None = None,
) -> Prep:
    """The prep of `rep`'s 1:1 at `meeting` (the manager's local time; its month is the
    coaching month), with the manager's `country` deciding the working days of the pace;
    `review`: the rep's deals going sideways as of the meeting (`pipeline_reviews`), None
    without a CRM mapping."""
    workspace_id = rep.workspace_id
    month = meeting.strftime("%Y-%m")
    day = meeting.date()
    plan = get_plan(session, workspace_id, rep.id, month)
    counts, through = _month_counts(session, workspace_id, rep.id, month)
    pace_day = through or day - timedelta(days=1)
    if pace_day.strftime("%Y-%m") != month:  # the 1st: nothing of the month has gone by yet
        elapsed, total = 0, 1
    else:
        elapsed, total = working_days_elapsed(pace_day, country)
    focus = []
    for f in plan.focus if plan is not None else []:
        try:
            metric = catalogue.metric(f.metric_key)
        except KeyError:
            continue
        value, top, bottom = month_value(metric.numerator_terms, metric.denominator_terms, counts)
        focus.append(
            FocusProgress(
                label=metric.label,
                metric={
                    "key": metric.key,
                    "kind": metric.kind,
                    "unit": metric.unit,
                    "direction": metric.direction,
                },
                value=value,
                numerator=top,
                denominator=bottom,
                target=f.target,
                needed=None
                if f.target is None
                else needed_by_now(f.target, metric.kind, elapsed, total),
                peer_median=f.peer_median,
            )
        )
    latest = session.scalars(
        select(CheckIn)
        .join(Plan, Plan.id == CheckIn.plan_id)
        .where(Plan.workspace_id == workspace_id, Plan.rep_id == rep.id)
        .order_by(CheckIn.on_date.desc(), CheckIn.id.desc())
        .limit(1)
    ).first()
    last = None
    if latest is not None:
        last = LastCheckIn(
            latest.on_date,
            latest.status,
            len(latest.done_actions),
            len(latest.plan.actions),
            latest.notes,
        )
    steps: list[str] = []
    if plan is not None:
        done = {a for c in plan.checkins for a in c.done_actions}
        steps = [a for a in plan.actions if a not in done]
    return Prep(
        rep_id=rep.id,
        rep_name=rep.name,
        rep_email=rep.email,
        meeting=meeting,
        month=month,
        planned=plan is not None,
        why=plan.why if plan is not None else "",
        focus=focus,
        through=through,
        last_checkin=last,
        next_steps=steps,
        topics=topics_for(session, workspace_id, rep.id, day),
        crm=review is not None and review.source is not None,
        flags=review.flags if review is not None else [],
        rep_away_until=rep_away_until,
        held_back=held_back,
    )
