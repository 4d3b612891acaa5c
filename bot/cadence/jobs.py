"""The cadence's jobs: who gets what for which period, and running them (scheduled or by hand).

A scheduled tick and `coach run JOB` without `--month` send what is due now in each recipient's
own time; `coach run JOB --month M` sends month M's messages to everyone now. Both go through the
same exactly-once keys, so any mix of ticks, reruns and replicas sends each message once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analytics.gaps import collector_paused
from analytics.workdays import is_working_day, next_working_day, nth_working_day
from bot.cadence.one_on_ones import plan_one_on_ones
from bot.cadence.schedule import (
    Kind,
    away_by_status,
    due_period,
    scheduled_at,
    scheduled_day,
)
from bot.cadence.sender import Batch, Message, Pacer, Recipient, Sender, Summary
from bot.coaching.briefing import Briefing, reps_by_manager
from bot.coaching.months import month_label, parse_month, shift_month
from bot.coaching.pips import checkin_days, judged_goals, may_run_pip
from bot.coaching.roi import CoachingRuns, coaching_runs
from bot.coaching.services import Services
from bot.coaching.workspace import load as load_workspace_settings
from bot.logs import fields
from bot.slack.blocks.cadence import (
    daily_progress,
    day_one_parent,
    day_one_reply,
    digest,
    escalation,
    reflection_invite,
    reminder,
)
from bot.slack.blocks.pip import pip_checkin_due, pip_end_due, pip_lead_moved
from bot.slack.client import make_web_client
from bot.slack.zones import slack_zone
from storage.availability import defer, deferred
from storage.counts import read_counts
from storage.deliveries import delivered
from storage.directory import Directory
from storage.models import Delivery, MetricMonth, PartialMonth, Person, Pip, Plan
from storage.org import active_people
from storage.pips import active_pips

log = logging.getLogger(__name__)

# PIP check-ins and end dates are due on days, like the daily post, in each PIP lead's time.
# Weekly 1:1 preps (and the reps' prompts for topics) are due on days, in each manager's time.
Job = Kind | Literal["pips", "one-on-one"]
JOBS: tuple[Job, ...] = (
    "day-one",
    "day-two",
    "reminder",
    "escalation",
    "daily",
    "pips",
    "one-on-one",
)
ZONE_TTL = 24 * 3600.0
RETRY_TTL = 600.0
# A Slack status is read when a message is due, and kept this long (seconds) across ticks.
STATUS_TTL = 900.0


@dataclass
class Run:
    """One job for one period: the batches it makes and, once run, what happened."""

    job: Job
    period: str
    batches: list[Batch]
    summary: Summary = field(default_factory=Summary)
    # Messages settled by an earlier run (sent, or skipped for the period): counted, not rebuilt.
    settled: Counter[str] = field(default_factory=Counter)
    # People away now: (person id, last day away); the run records their messages as held back.
    held: list[tuple[int, date]] = field(default_factory=list)

    def line(self) -> str:
        """The run's one-line summary."""
        return self.summary.line(self.job, self.period)


def _recipient(person: Person) -> Recipient:
    return Recipient(
        person.id, person.workspace_id, person.email, person.name, person.slack_user_id
    )


def reflection_key(month: str, rep_id: int) -> str:
    """The key of a rep's day-one invitation to reflect."""
    return f"reflection:{month}:rep:{rep_id}"


def thread_key(month: str, manager_id: int, rep_id: int | None = None) -> str:
    """The key of a manager's day-one message, or of its reply about one rep."""
    parent = f"day-one:{month}:manager:{manager_id}"
    return parent if rep_id is None else f"{parent}:rep:{rep_id}"


def digest_key(month: str, director_id: int, part: str = "") -> str:
    """The key of a director's day-two digest, or of a threaded part (a manager's team, or a
    piece of one): keyed by the team, so a retry after the org changed resends no team twice."""
    key = f"day-two:{month}:director:{director_id}"
    return f"{key}:manager:{part}" if part else key


def nudge_key(job: Kind, month: str, person_id: int) -> str:
    """The key of a manager's reminder or a director's escalation: one each a month."""
    role = "manager" if job == "reminder" else "director"
    return f"{job}:{month}:{role}:{person_id}"


def escalation_target(by_id: dict[int, Person], manager: Person) -> Person | None:
    """Whom a manager's planless reps are escalated to: the nearest director above them, else
    their own manager."""
    boss = first = by_id.get(manager.manager_id or -1)
    seen: set[int] = set()
    while boss is not None and boss.id not in seen:
        if boss.role == "director":
            return boss
        seen.add(boss.id)
        boss = by_id.get(boss.manager_id or -1)
    return first


def _day_one_keys(month: str, person: Person, reps: list[int]) -> list[str]:
    """Every key a person's day one uses: their invitation (reps), their thread (managers)."""
    keys = [reflection_key(month, person.id)] if person.role == "rep" else []
    if reps:
        keys += [thread_key(month, person.id), *(thread_key(month, person.id, r) for r in reps)]
    return keys


def _day_two_keys(
    month: str, person: Person, settled: dict[str, tuple[str, list[str]]]
) -> list[str]:
    """A digest's keys: the parent, and the parts the parent listed when it was sent."""
    parts = settled.get(digest_key(month, person.id), ("", []))[1]
    return [digest_key(month, person.id, part) for part in ["", *parts]]


def _name(person: Person | None) -> str:
    return person.name if person is not None else "No manager"


class Cadence:
    """Builds and sends the cadence's messages for one workspace.

    Without a `client`, one is made from the settings (none without a bot token: a dry run). A
    client given must be made with `make_web_client(..., resend=False)`.
    """

    def __init__(
        self,
        services: Services,
        workspace_id: str,
        client: WebClient | None = None,
        *,
        backoff: float = 0.5,
    ) -> None:
        settings = services.settings
        if client is None and settings.slack_bot_token:
            client = make_web_client(settings, resend=False)
        self.services, self.client, self.workspace_id = services, client, workspace_id
        self.backoff = backoff
        self.settings = settings
        self.rules = self.settings.cadence_rules()
        self.default_zone = ZoneInfo(self.settings.coach_timezone)
        self._zones: dict[str, tuple[float, ZoneInfo | None]] = {}
        self._statuses: dict[str, tuple[float, date | None]] = {}
        self._zones_lock = threading.Lock()

    # -- whose time is it ------------------------------------------------------------------------

    def zone(self, person: Person) -> ZoneInfo:
        """The person's time zone: the org chart's, else their Slack profile's, else the default."""
        if person.timezone:
            try:
                return ZoneInfo(person.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                log.warning("%s: unknown time zone %r", person.email, person.timezone)
        if self.client is not None:
            found = self._slack_zone(person)
            if found is not None:
                return found
        return self.default_zone

    def _slack_zone(self, person: Person) -> ZoneInfo | None:
        """The zone of the person's Slack profile, by id or else by email; kept for a day, and a
        failed look-up is asked again after a few minutes."""
        key = person.slack_user_id or person.email
        with self._zones_lock:
            cached = self._zones.get(key)
        if cached is not None and time.monotonic() < cached[0]:
            return cached[1]
        assert self.client is not None
        try:
            name = slack_zone(self.client, person)
            zone, ttl = ZoneInfo(name) if name else None, ZONE_TTL
        except SlackApiError as exc:
            log.info("no Slack time zone for %s: %s", person.email, exc.response.get("error"))
            zone, ttl = None, RETRY_TTL
        except (ZoneInfoNotFoundError, ValueError):
            zone, ttl = None, ZONE_TTL
        with self._zones_lock:
            self._zones[key] = (time.monotonic() + ttl, zone)
        return zone

    def _maybe_due(self, job: Kind, now: datetime, countries: set[str | None]) -> bool:
        """Cheap pre-check: could `job` be due anywhere on Earth now, in any of `countries`?
        Saves Slack look-ups."""
        if job == "daily":
            return True
        latest = (now + timedelta(hours=14)).date()
        day = (now - timedelta(hours=12)).date() - timedelta(days=1)
        while day <= latest:
            month = day.strftime("%Y-%m")
            if any(scheduled_day(job, month, self.rules, c) == day for c in countries):
                return True
            day += timedelta(days=1)
        return False

    def _due(
        self, job: Kind, people: list[Person], month: str | None, now: datetime
    ) -> dict[str, list[Person]]:
        """People grouped by the period their `job` message is for: `month` for all, or
        whatever is due in each one's local time."""
        if month is not None:
            return {month: people} if people else {}
        if not self._maybe_due(job, now, {p.country for p in people}):
            return {}
        groups: dict[str, list[Person]] = {}
        for person in people:
            period = due_period(job, now, self.zone(person), self.rules, person.country)
            if period is not None:
                groups.setdefault(period, []).append(person)
        return groups

    # -- what to send ----------------------------------------------------------------------------

    def _briefing(self, month: str) -> Briefing:
        labels = {m.key: m.label for m in self.services.catalogue.metrics}
        engine = self.services.gap_engine(self.workspace_id)
        with self.services.sessions() as session:
            return Briefing(session, self.workspace_id, engine, labels, month)

    def refresh(self) -> None:
        """Read the workspace's own settings (App Home) over the environment's defaults: an
        admin's change takes effect on the next run, in every replica."""
        with self.services.sessions() as session:
            base = self.services.settings
            self.settings = load_workspace_settings(session, base, self.workspace_id)
        self.rules = self.settings.cadence_rules()

    def plan(self, job: Job, *, month: str | None = None, now: datetime | None = None) -> list[Run]:
        """The runs `job` makes now (or for `month`), with every message rendered."""
        # A day one renders ten thousand messages from five thousand reports' dicts: the
        # collector's passes over them found nothing and cost a third of the planning's CPU.
        with collector_paused():
            return self._plan(job, month, now)

    def _plan(self, job: Job, month: str | None, now: datetime | None) -> list[Run]:
        now = now or datetime.now(UTC)
        self.refresh()
        if job == "one-on-one":
            return plan_one_on_ones(self, month, now)
        if job == "daily":
            return self._daily(month, now)
        if job in ("reminder", "escalation"):
            return self._nudges(job, month, now)
        if job == "pips":
            return self._pips(month, now)
        with self.services.sessions() as session:
            people = active_people(session, self.workspace_id)
        teams = {m: [r.id for r in reps] for m, reps in reps_by_manager(people).items()}
        if job == "day-one":
            recipients = [p for p in people if p.id in teams or p.role == "rep"]
        else:
            recipients = [p for p in people if p.role == "director"]
        by_id = {p.id: p for p in people}
        groups = self._due(job, recipients, month, now)
        if month is None:
            self._owed(job, recipients, now, groups)
        runs = []
        for period, due in sorted(groups.items()):
            run = Run(job, period, [])
            settled = self._settled(period)
            if job == "day-one":
                keys = {p.id: _day_one_keys(period, p, teams.get(p.id, [])) for p in due}
            else:
                keys = {p.id: _day_two_keys(period, p, settled) for p in due}
            pending = []
            for person in due:
                states = [settled[k][0] for k in keys[person.id] if k in settled]
                if keys[person.id] and len(states) == len(keys[person.id]):
                    run.settled.update(states)  # all settled: nothing to build or claim
                else:
                    pending.append(person)
            covers: dict[int, tuple[Person, date]] = {}
            if month is None:  # a run by hand for a month sends to everyone now
                pending, covers = self._hold(job, period, pending, now, run, set(teams), by_id)
            if pending:
                briefing = self._briefing(period)
                if job == "day-one":
                    run.batches = self._day_one(briefing, pending, covers)
                else:
                    run.batches = self._day_two(briefing, pending)
            runs.append(run)
        return runs

    # -- time off --------------------------------------------------------------------------------

    def away_through(self, person: Person, now: datetime) -> date | None:
        """The last day `person` is away, when they are away today (their own calendar): by
        `/coach away until`, or by a Slack status read when a message is due for them."""
        zone = self.zone(person)
        today = now.astimezone(zone).date()
        if person.away_until is not None and person.away_until >= today:
            return person.away_until
        until = self._status_away(person, now, zone)
        return until if until is not None and until >= today else None

    def _status_away(self, person: Person, now: datetime, zone: ZoneInfo) -> date | None:
        """The last day away by the person's Slack status; kept a few minutes, and a failed
        look-up (no `users.profile:read` scope yet, say) counts as present."""
        if self.client is None or not person.slack_user_id:
            return None
        key = person.slack_user_id
        with self._zones_lock:
            cached = self._statuses.get(key)
        if cached is not None and time.monotonic() < cached[0]:
            return cached[1]
        try:
            profile = self.client.users_profile_get(user=key)["profile"]
            until = away_by_status(profile, now, zone, self.rules)
        except SlackApiError as exc:
            log.info("no Slack status for %s: %s", person.email, exc.response.get("error"))
            until = None
        with self._zones_lock:
            self._statuses[key] = (time.monotonic() + STATUS_TTL, until)
        return until

    def _owed(
        self,
        job: Job,
        people: list[Person],
        now: datetime,
        groups: dict[str, list[Person]],
        days: set[str] | None = None,
    ) -> None:
        """Add to `groups` the people whose `job` message was held back while they were away,
        on a working day in its month from the local send time on (not only in the catch-up
        window: a held-back message is never lost to a late return). For PIPs, `days` are the
        days their messages were due on so far, and a held-back one goes any later working day."""
        periods = (
            days
            if days is not None
            else {(now + timedelta(hours=h)).strftime("%Y-%m") for h in (-12, 14)}
        )
        kind: Kind = "daily" if job in ("pips", "one-on-one") else job  # type: ignore[assignment]
        with self.services.sessions() as session:
            owed = deferred(session, self.workspace_id, job, periods)
        known = {p.id: p for p in people}
        for period, held in owed.items():
            for person_id in held:
                person = known.get(person_id)
                if person is None:
                    continue
                zone = self.zone(person)
                local = now.astimezone(zone)
                start = scheduled_at(kind, period, zone, self.rules, person.country)
                if (
                    (days is not None or local.strftime("%Y-%m") == period)
                    and start is not None
                    and start <= now
                    and local.time() >= self.rules.send_time
                    and is_working_day(local.date(), person.country or self.rules.country)
                ):
                    group = groups.setdefault(period, [])
                    if all(p.id != person.id for p in group):
                        group.append(person)

    def _hold(
        self,
        job: Job,
        period: str,
        pending: list[Person],
        now: datetime,
        run: Run,
        managers: set[int],
        by_id: dict[int, Person],
    ) -> tuple[list[Person], dict[int, tuple[Person, date]]]:
        """Of `pending`, those a message goes to now; those away are held back until a working
        day they are back. A manager away the whole first week (its first five working days)
        has their day-one thread go to their director instead: (people to send to, manager id →
        (director, the manager's last day away))."""
        here: list[Person] = []
        covers: dict[int, tuple[Person, date]] = {}
        for person in pending:
            until = self.away_through(person, now)
            if until is None:
                here.append(person)
                continue
            if job == "day-one" and person.id in managers:
                director = self._cover(person, period, until, now, by_id)
                if director is not None:
                    covers[person.id] = (director, until)
                    here.append(person)
                    continue
            run.held.append((person.id, until))
            run.settled["deferred"] += 1
        return here, covers

    def _cover(
        self, manager: Person, period: str, until: date, now: datetime, by_id: dict[int, Person]
    ) -> Person | None:
        """Who takes a manager's day one when they are away all of the first week: their
        director, when present; None otherwise (the thread waits for the manager)."""
        country = manager.country or self.rules.country
        year, number = parse_month(period)
        week = nth_working_day(year, number, 5, country)
        back = next_working_day(until + timedelta(days=1), country)
        director = escalation_target(by_id, manager)
        if week is None or back <= week or director is None:
            return None
        return director if self.away_through(director, now) is None else None

    def _settled(self, period: str) -> dict[str, tuple[str, list[str]]]:
        """Keys of `period` no run needs to touch again (sent, or skipped for the period), with
        the number of threaded parts each said it had."""
        with self.services.sessions() as session:
            rows = session.execute(
                select(Delivery.key, Delivery.status, Delivery.payload).where(
                    Delivery.workspace_id == self.workspace_id,
                    Delivery.period == period,
                    Delivery.status.in_(("sent", "skipped")),
                )
            )
            return {
                key: (status, (payload or {}).get("parts", [])) for key, status, payload in rows
            }

    def _day_one(
        self,
        briefing: Briefing,
        due: list[Person],
        covers: dict[int, tuple[Person, date]] | None = None,
    ) -> list[Batch]:
        """Reps' invitations and managers' threads; a thread in `covers` (manager id →
        (director, last day away)) goes to the director, who is told why."""
        covers = covers or {}
        month, label = briefing.month, month_label(briefing.month)
        last_label = month_label(briefing.last_month)
        teams = reps_by_manager(briefing.people)
        batches = []
        for person in due:
            if person.role == "rep":
                manager = briefing.by_id.get(person.manager_id or -1)
                text, blocks = reflection_invite(
                    person.name, manager.name if manager else None, month, label, last_label
                )
                key = reflection_key(month, person.id)
                message = Message(key, "reflection", month, text, blocks, rep_id=person.id)
                batches.append(Batch([message], person=_recipient(person)))
            if person.id in teams:
                briefs = [briefing.brief(rep) for rep in teams[person.id]]
                key = thread_key(month, person.id)
                director, until = covers.get(person.id, (None, None))
                text, blocks = day_one_parent(
                    person.name if director is None else director.name,
                    label,
                    len(briefs),
                    sum(1 for b in briefs if b.last_plan is None),
                    briefing.data_note,
                    covering=None if until is None else (person.name, until),
                )
                messages = [Message(key, "day-one", month, text, blocks)]
                for brief in briefs:
                    text, blocks = day_one_reply(brief, month, label, last_label)
                    messages.append(
                        Message(
                            thread_key(month, person.id, brief.person_id),
                            "day-one",
                            month,
                            text,
                            blocks,
                            rep_id=brief.person_id,
                            threaded=True,
                        )
                    )
                batches.append(Batch(messages, person=_recipient(director or person)))
        return batches

    def _day_two(self, briefing: Briefing, due: list[Person]) -> list[Batch]:
        month, label = briefing.month, month_label(briefing.month)
        batches = []
        quarter = self._quarter_runs(month) if due else None
        for director in due:
            below = briefing.below(director.id)
            reps = sorted((p for p in below if p.role == "rep"), key=lambda p: p.name)
            teams: dict[int | None, list[Person]] = {}
            for rep in reps:
                teams.setdefault(rep.manager_id, []).append(rep)
            named = sorted(
                (
                    (str(m), _name(briefing.by_id.get(m or -1)), [briefing.brief(r) for r in team])
                    for m, team in teams.items()
                ),
                # Teams with reps still planless first: the managers reminders are about.
                key=lambda item: (all(b.plan is not None for b in item[2]), item[1]),
            )
            if not named:
                continue
            lift = quarter.roi([p.email for p in reps]).org if quarter is not None else None
            parts = digest(
                director.name,
                label,
                month_label(briefing.last_month),
                named,
                briefing.data_note,
                briefing.pips,
                lift,
            )
            listed = [part for part, _, _ in parts if part]
            messages = [
                Message(
                    digest_key(month, director.id, part),
                    "day-two",
                    month,
                    text,
                    blocks,
                    threaded=bool(part),
                    payload=None if part else {"parts": listed},
                )
                for part, text, blocks in parts
            ]
            batches.append(Batch(messages, person=_recipient(director)))
        return batches

    def _quarter_runs(self, month: str) -> CoachingRuns:
        """The plans of the three months before `month`, judged for the digest's ROI line."""
        services = self.services
        return coaching_runs(
            services.engine,
            self.workspace_id,
            services.catalogue,
            self.settings.gap_config(),
            shift_month(month, -3),
            shift_month(month, -1),
            gap_engine=services.gap_engine(self.workspace_id),
        )

    def _nudges(self, job: Kind, month: str | None, now: datetime) -> list[Run]:
        """Reminders to managers whose reps have no plan yet, or the escalation of those
        managers to their director: one message per recipient and month, none when muted or
        when every rep has a plan by then."""
        with self.services.sessions() as session:
            people = active_people(session, self.workspace_id)
        by_id = {p.id: p for p in people}
        teams = reps_by_manager(people)
        # Recipient id → the managers whose reps they hear about.
        concerned: dict[int, list[int]] = {}
        for manager_id in teams:
            target = (
                by_id[manager_id]
                if job == "reminder"
                else escalation_target(by_id, by_id[manager_id])
            )
            if target is not None:
                concerned.setdefault(target.id, []).append(manager_id)
        recipients = [by_id[r] for r in concerned if not by_id[r].mute_reminders]
        groups = self._due(job, recipients, month, now)
        if month is None:
            self._owed(job, recipients, now, groups)
        runs = []
        for period, due in sorted(groups.items()):
            run = Run(job, period, [])
            settled = self._settled(period)
            pending = []
            for person in due:
                state = settled.get(nudge_key(job, period, person.id))
                if state is not None:
                    run.settled[state[0]] += 1
                else:
                    pending.append(person)
            if month is None:
                pending, _ = self._hold(job, period, pending, now, run, set(), by_id)
            if pending:
                planless = self._planless(period, teams)
                run.batches = (
                    self._reminders(period, pending, planless)
                    if job == "reminder"
                    else self._escalations(period, pending, concerned, planless, by_id)
                )
            runs.append(run)
        return runs

    def _planless(self, month: str, teams: dict[int, list[Person]]) -> dict[int, list[Person]]:
        """Each manager's reps with no plan for `month` (managers whose reps all have one left
        out)."""
        with self.services.sessions() as session:
            planned = set(
                session.scalars(
                    select(Plan.rep_id).where(
                        Plan.workspace_id == self.workspace_id, Plan.month == month
                    )
                )
            )
        found = {m: [r for r in reps if r.id not in planned] for m, reps in teams.items()}
        return {m: reps for m, reps in found.items() if reps}

    def _reminders(
        self, month: str, due: list[Person], planless: dict[int, list[Person]]
    ) -> list[Batch]:
        """One reminder per manager with planless reps, under their day-one thread when it
        went out (and shown in the conversation too), else as a message of its own."""
        wanted = [m for m in due if m.id in planless]
        with self.services.sessions() as session:
            keys = [thread_key(month, m.id) for m in wanted]
            threads = delivered(session, self.workspace_id, keys)
        batches = []
        for manager in wanted:
            parent = threads.get(thread_key(month, manager.id))
            where = (
                (parent.channel, parent.ts)
                if parent is not None
                and parent.status == "sent"
                and parent.recipient_id == manager.id  # not a director's, who covered
                and parent.channel
                and parent.ts
                else None
            )
            reps = [(r.name, r.email) for r in planless[manager.id]]
            text, blocks = reminder(manager.name, month, month_label(month), reps)
            message = Message(
                nudge_key("reminder", month, manager.id),
                "reminder",
                month,
                text,
                blocks,
                reply_to=where,
                broadcast=where is not None,
            )
            batches.append(Batch([message], person=_recipient(manager)))
        return batches

    def _escalations(
        self,
        month: str,
        due: list[Person],
        concerned: dict[int, list[int]],
        planless: dict[int, list[Person]],
        by_id: dict[int, Person],
    ) -> list[Batch]:
        """One escalation per director naming their managers with planless reps; a manager
        escalated already this month (under another director before the org changed) is not
        named again."""
        done = self._escalated(month)
        batches = []
        for director in due:
            managers = sorted(
                (by_id[m] for m in concerned[director.id] if m in planless and m not in done),
                key=lambda m: m.name,
            )
            if not managers:
                continue
            named = [(m.name, [r.name for r in planless[m.id]]) for m in managers]
            text, blocks = escalation(director.name, month_label(month), named)
            message = Message(
                nudge_key("escalation", month, director.id),
                "escalation",
                month,
                text,
                blocks,
                payload={"managers": [m.id for m in managers]},
            )
            batches.append(Batch([message], person=_recipient(director)))
        return batches

    def _escalated(self, month: str) -> set[int]:
        """The managers named in escalations sent for `month`."""
        with self.services.sessions() as session:
            payloads = session.scalars(
                select(Delivery.payload).where(
                    Delivery.workspace_id == self.workspace_id,
                    Delivery.period == month,
                    Delivery.kind == "escalation",
                    Delivery.status == "sent",
                )
            )
            return {m for payload in payloads for m in (payload or {}).get("managers", [])}

    def _daily(self, day: str | None, now: datetime) -> list[Run]:
        channel = self.settings.coach_daily_channel
        if not channel:
            return []
        if day is None:
            day = due_period("daily", now, self.default_zone, self.rules)
            if day is None:
                return []
        key = f"daily:{day}:{channel}"
        settled = self._settled(day).get(key)
        if settled is not None:  # posted (or given up on) already: nothing to build
            run = Run("daily", day, [])
            run.settled[settled[0]] += 1
            return [run]
        month = day[:7]
        # A briefing for the month after: its "last month" is this month, judged on this
        # month's numbers so far — how the coached metrics are moving.
        briefing = self._briefing(shift_month(month, 1))
        teams = []
        with self.services.sessions() as session:
            values = read_counts(session, self.workspace_id, MetricMonth.month == month)
            managers = dict(
                session.execute(
                    select(Person.id, Person.manager_id).where(
                        Person.workspace_id == self.workspace_id
                    )
                ).all()
            )
            through = session.scalar(
                select(func.max(PartialMonth.through)).where(
                    PartialMonth.workspace_id == self.workspace_id, PartialMonth.month == month
                )
            )
        totals: dict[int | None, dict[str, float]] = {}
        for (rep_id, _), counts in values.items():
            team = totals.setdefault(managers[rep_id], {})
            for name, value in counts.items():
                team[name] = team.get(name, 0.0) + value
        for manager_id, team in totals.items():
            teams.append((_name(briefing.by_id.get(manager_id or -1)), team))
        teams.sort(key=lambda item: item[0])
        coached: dict[str, list[bool | None]] = {}
        for rep in briefing.reps():
            plan = briefing.brief(rep).last_plan
            for f in plan.focus if plan else []:
                coached.setdefault(f.label, []).append(f.moved)
        focus = [
            (label, len(moves), sum(1 for m in moves if m))
            for label, moves in sorted(coached.items())
        ]
        text, blocks = daily_progress(day, month_label(month), teams, focus, through)
        return [
            Run("daily", day, [Batch([Message(key, "daily", day, text, blocks)], channel=channel)])
        ]

    def _pips(self, day: str | None, now: datetime) -> list[Run]:
        """Each running PIP's check-in reminders on its rhythm's days and its verdicts on its
        end date, to its lead (see `_pip_lead`), in the lead's time (or on `day`). A day that is
        not a working day of the lead's country moves to the next one; messages due while the
        lead is away are held back, like the rest of the cadence's, until a working day they are
        back. An end message that missed its day goes on the next run (see `_late_ends`)."""
        runs = []
        directory = self.services.directory(self.workspace_id)
        with self.services.sessions() as session:
            running = []
            for pip in active_pips(session, self.workspace_id):
                lead, rep = self._pip_lead(session, directory, pip), session.get(Person, pip.rep_id)
                if lead is not None and rep is not None:
                    running.append((pip, lead, rep))
                else:
                    log.info("PIP %s: nobody may act on it now; its reminders wait", pip.id)
            leads = {lead.id: lead for _, lead, _ in running}
            late: dict[str, set[int]] = {}
            if day is not None:
                groups = {day: list(leads.values())} if leads else {}
            else:
                groups = self._due("daily", list(leads.values()), None, now)
                latest = (now + timedelta(hours=14)).date()
                days = {
                    d.isoformat()
                    for p, a, _ in running
                    for d in self._pip_days(p, a)
                    if d <= latest
                }
                self._owed("pips", list(leads.values()), now, groups, days)
                late = self._late_ends(session, running, now, groups)
            for period, due in sorted(groups.items()):
                run, settled = Run("pips", period, []), self._settled(period)
                on, ids = date.fromisoformat(period), {a.id for a in due}
                wanted = [
                    (pip, lead, rep, keys)
                    for pip, lead, rep in running
                    if lead.id in ids and (keys := self._pip_keys(pip, lead, on))
                ]
                wanted += [
                    (pip, lead, rep, {"end": f"pip:{pip.id}:end:{period}"})
                    for pip, lead, rep in running
                    if pip.id in late.get(period, set()) and lead.id not in ids
                ]
                pending: dict[int, Person] = {}
                for _, lead, _, keys in wanted:
                    states = [settled[k][0] for k in keys.values() if k in settled]
                    run.settled.update(states)
                    if len(states) < len(keys):
                        pending[lead.id] = lead
                here = list(pending.values())
                if day is None:  # a run by hand for a day sends to everyone now
                    here, _ = self._hold("pips", period, here, now, run, set(), leads)
                sending = {a.id for a in here}
                for pip, lead, rep, keys in wanted:
                    if lead.id in sending:
                        today = on if day is not None else now.astimezone(self.zone(lead)).date()
                        run.batches += self._pip_batches(
                            session, pip, lead, rep, period, today, keys, settled
                        )
                runs.append(run)
        return runs

    def _pip_lead(self, session: Session, directory: Directory, pip: Pip) -> Person | None:
        """Who a PIP's reminders go to: the rep's current manager, who may act on it (after a
        reorg, not its author any more), else its author while they still may; None when
        neither may (the rep left, say)."""
        rep = directory.get(pip.rep_id)
        for person_id in (rep.manager_id if rep else None, pip.author_id):
            if person_id is not None and may_run_pip(directory, person_id, rep):
                return session.get(Person, person_id)
        return None

    def _late_ends(
        self,
        session: Session,
        running: list[tuple[Pip, Person, Person]],
        now: datetime,
        groups: dict[str, list[Person]],
    ) -> dict[str, set[int]]:
        """PIPs whose end message missed its day (the bot was down all its catch-up window):
        end day → their ids, sent now, on a working day from the lead's send time (its key is
        the end day's, so it still goes once). Check-in reminders that missed theirs are stale
        and stay unsent."""
        ends = {}
        for pip, lead, _ in running:
            country = lead.country or self.rules.country
            end = next_working_day(pip.end_date, country)
            local = now.astimezone(self.zone(lead))
            if (
                end <= local.date()
                and local.time() >= self.rules.send_time
                and is_working_day(local.date(), country)
                and all(a.id != lead.id for a in groups.get(end.isoformat(), []))
            ):
                ends[f"pip:{pip.id}:end:{end}"] = (pip.id, end.isoformat())
        settled = delivered(session, self.workspace_id, list(ends))
        late: dict[str, set[int]] = {}
        for key, (pip_id, period) in ends.items():
            if key not in settled or settled[key].status not in ("sent", "skipped"):
                late.setdefault(period, set()).add(pip_id)
                groups.setdefault(period, [])
        return late

    def _pip_days(self, pip: Pip, lead: Person) -> set[date]:
        """The days a PIP's messages go out: its check-in days and end date, each moved to the
        next working day of the lead's country."""
        country = lead.country or self.rules.country
        return {next_working_day(d, country) for d in [*checkin_days(pip), pip.end_date]}

    def _pip_keys(self, pip: Pip, lead: Person, on: date) -> dict[str, str]:
        """The keys of the PIP's messages due on `on` ("checkin", "end" → key): one check-in
        reminder however many check-in days moved onto it, and the end-of-PIP message."""
        country = lead.country or self.rules.country
        keys = {}
        if any(next_working_day(d, country) == on for d in checkin_days(pip)):
            keys["checkin"] = f"pip:{pip.id}:checkin:{on}"
        if next_working_day(pip.end_date, country) == on:
            keys["end"] = f"pip:{pip.id}:end:{on}"
        return keys

    def _pip_batches(
        self,
        session: Session,
        pip: Pip,
        lead: Person,
        rep: Person,
        period: str,
        today: date,
        keys: dict[str, str],
        settled: dict[str, tuple[str, list[str]]],
    ) -> list[Batch]:
        """The PIP's messages of `keys` for `period` not settled yet, worded for `today`, the day
        they go out: in its thread under the author's DM while the author leads it, else to the
        lead's DM, with a note in that thread (once per lead) that the reminders moved."""
        moved = lead.id != pip.author_id
        author = session.get(Person, pip.author_id) if moved and pip.author_id else None
        who = f"set up by {author.name}" if author else "set up by a previous manager"
        note = None
        if moved:  # it goes to someone who didn't set it up: say why
            note = f"This PIP was {who}: it comes to you as {rep.name}'s manager now."
        messages = []
        for kind, key in keys.items():
            if key in settled:
                continue
            if kind == "checkin":
                text, blocks = pip_checkin_due(rep.name, pip.id, today, note)
            else:  # judged only while there is something to send
                goals = judged_goals(
                    session, self.services.catalogue, pip, self.settings.coach_flag_threshold
                )
                text, blocks = pip_end_due(rep.name, pip.id, pip.end_date, goals, today, note)
            messages.append(Message(key, "pip", period, text, blocks, rep_id=rep.id))
        thread = (pip.dm_channel, pip.dm_ts) if pip.dm_channel and pip.dm_ts else None
        batches = [
            Batch(
                [message],
                person=_recipient(lead),
                channel=thread[0] if thread and not moved else None,
                thread=thread if not moved else None,
            )
            for message in messages
        ]
        if moved and messages and author is not None and thread is not None:
            text, blocks = pip_lead_moved(rep.name, lead.name)
            moved_note = Message(f"pip:{pip.id}:lead:{lead.id}", "pip", period, text, blocks)
            batches.append(
                Batch([moved_note], person=_recipient(author), channel=thread[0], thread=thread)
            )
        return batches

    # -- sending ---------------------------------------------------------------------------------

    def sender(self) -> Sender:
        """A sender with the configured pacing and claim timeout."""
        assert self.client is not None
        return Sender(
            self.services.engine,
            self.client,
            self.workspace_id,
            stale_after=timedelta(seconds=self.settings.coach_claim_timeout),
            pacer=Pacer(self.settings.coach_send_rate),
            workers=self.settings.coach_send_workers,
            backoff=self.backoff,
        )

    def run(self, job: Job, *, month: str | None = None, now: datetime | None = None) -> list[Run]:
        """Plan and send `job`; each run's summary is filled in."""
        start = time.perf_counter()
        runs = self.plan(job, month=month, now=now)
        sender = self.sender()
        for run in runs:
            if run.held:  # recorded by a real run only: a dry run plans, it writes nothing
                with self.services.sessions() as session:
                    for person_id, until in run.held:
                        defer(session, self.workspace_id, person_id, job, run.period, until)
            run.summary = sender.send(run.batches)
            run.summary.add("already", run.settled["sent"])
            run.summary.add("skipped", run.settled["skipped"])
            run.summary.add("deferred", run.settled["deferred"])
            s = run.summary
            log.info(
                "job run",
                extra=fields(
                    workspace=self.workspace_id,
                    job=job,
                    period=run.period,
                    sent=s.sent,
                    already=s.already,
                    busy=s.busy,
                    skipped=s.skipped,
                    failed=s.failed,
                    ms=round((time.perf_counter() - start) * 1000, 1),
                ),
            )
        return runs

    def already_sent(self, run: Run) -> set[str]:
        """The keys of `run` recorded as sent (for dry runs)."""
        keys = [m.key for b in run.batches for m in b.messages]
        with self.services.sessions() as session:
            rows = delivered(session, self.workspace_id, keys)
        return {key for key, row in rows.items() if row.status == "sent"}

    def tick(self, now: datetime | None = None) -> list[Run]:
        """One scheduler tick: every job, for whatever is due now; failures are logged."""
        runs: list[Run] = []
        for job in JOBS:
            try:
                runs.extend(self.run(job, now=now))
            except Exception:  # a tick must never kill the scheduler thread
                log.exception("cadence %s failed", job)
        return runs
