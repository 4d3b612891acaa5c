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

from bot.cadence.schedule import Kind, day_one, day_two, due_period
from bot.cadence.sender import Batch, Message, Pacer, Recipient, Sender, Summary
from bot.coaching.briefing import Briefing, reps_by_manager
from bot.coaching.months import month_label, shift_month
from bot.coaching.pips import checkin_days, judged_goals
from bot.coaching.services import Services
from bot.logs import fields
from bot.slack.blocks.cadence import (
    daily_progress,
    day_one_parent,
    day_one_reply,
    digest,
    reflection_invite,
)
from bot.slack.blocks.pip import pip_checkin_due, pip_end_due
from bot.slack.client import make_web_client
from storage.deliveries import delivered
from storage.models import Delivery, MetricValue, PartialMonth, Person
from storage.org import active_people
from storage.pips import active_pips

log = logging.getLogger(__name__)

# PIP check-ins and end dates are due on days, like the daily post, in each PIP author's time.
Job = Kind | Literal["pips"]
JOBS: tuple[Job, ...] = ("day-one", "day-two", "daily", "pips")
ZONE_TTL = 24 * 3600.0
RETRY_TTL = 600.0


@dataclass
class Run:
    """One job for one period: the batches it makes and, once run, what happened."""

    job: Job
    period: str
    batches: list[Batch]
    summary: Summary = field(default_factory=Summary)
    # Messages settled by an earlier run (sent, or skipped for the period): counted, not rebuilt.
    settled: Counter[str] = field(default_factory=Counter)

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
            user = (
                self.client.users_info(user=person.slack_user_id)
                if person.slack_user_id
                else self.client.users_lookupByEmail(email=person.email)
            )["user"]
            zone, ttl = ZoneInfo(user["tz"]) if user.get("tz") else None, ZONE_TTL
        except SlackApiError as exc:
            log.info("no Slack time zone for %s: %s", person.email, exc.response.get("error"))
            zone, ttl = None, RETRY_TTL
        except (ZoneInfoNotFoundError, ValueError):
            zone, ttl = None, ZONE_TTL
        with self._zones_lock:
            self._zones[key] = (time.monotonic() + ttl, zone)
        return zone

    def _maybe_due(self, job: Kind, now: datetime) -> bool:
        """Cheap pre-check: could `job` be due anywhere on Earth now? Saves Slack look-ups."""
        if job == "daily":
            return True
        latest = (now + timedelta(hours=14)).date()
        day = (now - timedelta(hours=12)).date() - timedelta(days=1)
        while day <= latest:
            month = day.strftime("%Y-%m")
            scheduled = (
                day_one(month, self.rules) if job == "day-one" else day_two(month, self.rules)
            )
            if scheduled == day:
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
        if not self._maybe_due(job, now):
            return {}
        groups: dict[str, list[Person]] = {}
        for person in people:
            period = due_period(job, now, self.zone(person), self.rules)
            if period is not None:
                groups.setdefault(period, []).append(person)
        return groups

    # -- what to send ----------------------------------------------------------------------------

    def _briefing(self, month: str) -> Briefing:
        labels = {m.key: m.label for m in self.services.catalogue.metrics}
        engine = self.services.gap_engine(self.workspace_id)
        with self.services.sessions() as session:
            return Briefing(session, self.workspace_id, engine, labels, month)

    def plan(self, job: Job, *, month: str | None = None, now: datetime | None = None) -> list[Run]:
        """The runs `job` makes now (or for `month`), with every message rendered."""
        now = now or datetime.now(UTC)
        if job == "daily":
            return self._daily(month, now)
        if job == "pips":
            return self._pips(month, now)
        with self.services.sessions() as session:
            people = active_people(session, self.workspace_id)
        teams = {m: [r.id for r in reps] for m, reps in reps_by_manager(people).items()}
        if job == "day-one":
            recipients = [p for p in people if p.id in teams or p.role == "rep"]
        else:
            recipients = [p for p in people if p.role == "director"]
        runs = []
        for period, due in sorted(self._due(job, recipients, month, now).items()):
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
            if pending:
                briefing = self._briefing(period)
                make = self._day_one if job == "day-one" else self._day_two
                run.batches = make(briefing, pending)
            runs.append(run)
        return runs

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

    def _day_one(self, briefing: Briefing, due: list[Person]) -> list[Batch]:
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
                text, blocks = day_one_parent(
                    person.name,
                    label,
                    len(briefs),
                    sum(1 for b in briefs if b.last_plan is None),
                    briefing.data_note,
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
                batches.append(Batch(messages, person=_recipient(person)))
        return batches

    def _day_two(self, briefing: Briefing, due: list[Person]) -> list[Batch]:
        month, label = briefing.month, month_label(briefing.month)
        batches = []
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
                key=lambda item: item[1],
            )
            if not named:
                continue
            parts = digest(
                director.name,
                label,
                month_label(briefing.last_month),
                named,
                briefing.data_note,
                briefing.pips,
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
            rows = session.execute(
                select(Person.manager_id, MetricValue.name, MetricValue.value)
                .join(Person, Person.id == MetricValue.person_id)
                .where(MetricValue.workspace_id == self.workspace_id, MetricValue.month == month)
            ).all()
            through = session.scalar(
                select(func.max(PartialMonth.through)).where(
                    PartialMonth.workspace_id == self.workspace_id, PartialMonth.month == month
                )
            )
        totals: dict[int | None, dict[str, float]] = {}
        for manager_id, name, value in rows:
            team = totals.setdefault(manager_id, {})
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
        end date, in the PIP's thread, on the day it is in the author's time (or on `day`)."""
        catalogue = self.services.catalogue
        threshold = self.settings.coach_flag_threshold
        runs: dict[str, Run] = {}
        settled_by: dict[str, dict[str, tuple[str, list[str]]]] = {}
        with self.services.sessions() as session:
            for pip in active_pips(session, self.workspace_id):
                author, rep = (
                    session.get(Person, pip.author_id or -1),
                    session.get(Person, pip.rep_id),
                )
                if author is None or rep is None or not (pip.dm_channel and pip.dm_ts):
                    continue
                period = day or due_period("daily", now, self.zone(author), self.rules)
                if period is None:
                    continue
                if period not in runs:
                    runs[period], settled_by[period] = (
                        Run("pips", period, []),
                        self._settled(period),
                    )
                run, settled = runs[period], settled_by[period]
                on = date.fromisoformat(period)
                messages = []
                if on in checkin_days(pip):
                    key = f"pip:{pip.id}:checkin:{period}"
                    text, blocks = pip_checkin_due(rep.name, pip.id, on)
                    messages.append(Message(key, "pip", period, text, blocks, rep_id=rep.id))
                if on == pip.end_date:
                    key = f"pip:{pip.id}:end:{period}"
                    if key not in settled:  # judged only while there is something to send
                        goals = judged_goals(session, catalogue, pip, threshold)
                        text, blocks = pip_end_due(rep.name, pip.id, on, goals)
                        messages.append(Message(key, "pip", period, text, blocks, rep_id=rep.id))
                for message in messages:
                    if message.key in settled:
                        run.settled[settled[message.key][0]] += 1
                    else:
                        run.batches.append(
                            Batch(
                                [message],
                                person=_recipient(author),
                                channel=pip.dm_channel,
                                thread=(pip.dm_channel, pip.dm_ts),
                            )
                        )
        return [runs[p] for p in sorted(runs)]

    # -- sending ---------------------------------------------------------------------------------

    def sender(self) -> Sender:
        """A sender with the configured pacing and claim timeout."""
        assert self.client is not None
        return Sender(
            self.services.sessions,
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
            run.summary = sender.send(run.batches)
            run.summary.add("already", run.settled["sent"])
            run.summary.add("skipped", run.settled["skipped"])
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
