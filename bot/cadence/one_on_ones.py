"""The weekly 1:1: each manager's prep a little before each rep's 1:1, and the rep's prompt to
add topics the working day before, through the cadence's exactly-once sender.

A 1:1's period is its day in the manager's calendar. A prep is due from `COACH_ONE_ON_ONE_LEAD`
minutes before the meeting until it starts (later it is stale); none on a day that is not a
working day of the manager's country. A manager away then has their preps of that day held back
(the cadence's deferrals) and sent on their first working day back from the send time, within
a week of the meeting (after that, the next week's prep has taken its place). A rep away gets no
prompt, and their manager's prep says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from analytics.crm_mapping import CrmMapping, CrmMappingError
from analytics.meetings import WeeklySlot
from analytics.workdays import is_working_day
from bot.cadence.schedule import prompt_at, weekly_meetings
from bot.cadence.sender import Batch, Message
from bot.coaching.crm import crm_mapping
from bot.coaching.prep import gather, pipeline_reviews, prep_key, topics_key
from bot.slack.blocks.prep import one_on_one_prep, topics_prompt
from storage.models import Person
from storage.org import active_people

if TYPE_CHECKING:
    from bot.cadence.jobs import Cadence, Run

log = logging.getLogger(__name__)

JOB = "one-on-one"
# A held-back prep goes at most this long after its meeting: then the next one has come.
HELD_FOR_DAYS = 7


@dataclass(frozen=True)
class Pair:
    """A rep with a weekly 1:1, and the manager it is with."""

    rep: Person
    manager: Person
    slot: WeeklySlot


def weekly_pairs(people: list[Person]) -> list[Pair]:
    """Active reps with a weekly 1:1 and an active manager."""
    by_id = {p.id: p for p in people}
    pairs = []
    for rep in sorted(people, key=lambda p: p.name):
        manager = by_id.get(rep.manager_id or -1)
        if (
            rep.role == "rep"
            and manager is not None
            and rep.one_on_one_weekday is not None
            and rep.one_on_one_time is not None
        ):
            slot = WeeklySlot(rep.one_on_one_weekday, rep.one_on_one_time)
            pairs.append(Pair(rep, manager, slot))
    return pairs


def plan_one_on_ones(cadence: Cadence, day: str | None, now: datetime) -> list[Run]:
    """The runs of the weekly 1:1s: what is due now in each manager's (and rep's) time, or —
    by hand, `day` — the prep of every 1:1 of that weekday, now, to every manager (the reps'
    prompts go only ahead of a 1:1, by the schedule)."""
    from bot.cadence.jobs import Run, _recipient

    with cadence.services.sessions() as session:
        people = active_people(session, cadence.workspace_id)
    by_id = {p.id: p for p in people}
    pairs = weekly_pairs(people)
    rules = cadence.rules
    lead = timedelta(minutes=cadence.settings.coach_one_on_one_lead)
    preps: dict[str, dict[int, tuple[Pair, datetime]]] = {}
    prompts: dict[str, dict[int, tuple[Pair, datetime]]] = {}
    if day is not None:
        on = date.fromisoformat(day)
        for pair in pairs:
            if pair.slot.weekday == on.weekday():
                meeting = datetime.combine(on, pair.slot.at, tzinfo=cadence.zone(pair.manager))
                preps.setdefault(day, {})[pair.rep.id] = (pair, meeting)
    else:
        for pair in pairs:
            zone = cadence.zone(pair.manager)
            country = pair.manager.country or rules.country
            for meeting in weekly_meetings(now, zone, pair.slot.weekday, pair.slot.at):
                if not is_working_day(meeting.date(), country):
                    continue  # a public holiday or weekend of the manager's: no 1:1
                period = meeting.date().isoformat()
                if meeting - lead <= now < meeting:
                    preps.setdefault(period, {})[pair.rep.id] = (pair, meeting)
                rep_zone = cadence.zone(pair.rep)
                asked = prompt_at(meeting, rep_zone, rules, pair.rep.country)
                if asked <= now < meeting - lead:
                    prompts.setdefault(period, {})[pair.rep.id] = (pair, meeting)
        _owed_preps(cadence, pairs, now, preps)
    runs = []
    for period in sorted(set(preps) | set(prompts)):
        run = Run(JOB, period, [])  # type: ignore[arg-type]
        settled = cadence._settled(period)
        pending: dict[int, list[tuple[Pair, datetime]]] = {}
        for pair, meeting in preps.get(period, {}).values():
            state = settled.get(prep_key(period, pair.manager.id, pair.rep.id))
            if state is not None:
                run.settled[state[0]] += 1
            else:
                pending.setdefault(pair.manager.id, []).append((pair, meeting))
        managers = [by_id[m] for m in pending]
        if day is None:  # a run by hand for a day sends to everyone now
            managers, _ = cadence._hold(JOB, period, managers, now, run, set(), by_id)  # type: ignore[arg-type]
        asking = []
        for pair, meeting in prompts.get(period, {}).values():
            state = settled.get(topics_key(period, pair.rep.id))
            if state is not None:
                run.settled[state[0]] += 1
            elif day is not None or cadence.away_through(pair.rep, now) is None:
                asking.append((pair, meeting))
        mapping = _mapping(cadence) if managers else None
        with cadence.services.sessions() as session:
            meetings = [(pair.rep, meeting) for m in managers for pair, meeting in pending[m.id]]
            reviews = pipeline_reviews(session, mapping, meetings) if mapping else {}
            for manager in managers:
                for pair, meeting in pending[manager.id]:
                    away = cadence.away_through(pair.rep, now) if day is None else None
                    prep = gather(
                        session,
                        cadence.services.catalogue,
                        pair.rep,
                        meeting,
                        manager.country or rules.country,
                        held_back=day is None and now >= meeting,
                        rep_away_until=away,
                        review=reviews.get((pair.rep.id, meeting)),
                    )
                    text, blocks = one_on_one_prep(prep)
                    key = prep_key(period, manager.id, pair.rep.id)
                    message = Message(key, JOB, period, text, blocks, rep_id=pair.rep.id)
                    run.batches.append(Batch([message], person=_recipient(manager)))
        for pair, meeting in asking:
            theirs = meeting.astimezone(cadence.zone(pair.rep))
            text, blocks = topics_prompt(pair.rep.name, pair.manager.name, theirs, meeting.date())
            key = topics_key(period, pair.rep.id)
            message = Message(key, "topics", period, text, blocks, rep_id=pair.rep.id)
            run.batches.append(Batch([message], person=_recipient(pair.rep)))
        runs.append(run)
    return runs


def _owed_preps(
    cadence: Cadence,
    pairs: list[Pair],
    now: datetime,
    preps: dict[str, dict[int, tuple[Pair, datetime]]],
) -> None:
    """Add to `preps` those held back while their manager was away, now due again (the
    cadence's deferrals: a working day back, from the send time, within a week of the 1:1)."""
    managers = list({pair.manager.id: pair.manager for pair in pairs}.values())
    recent = {(now.date() - timedelta(days=i)).isoformat() for i in range(-1, HELD_FOR_DAYS + 1)}
    groups: dict[str, list[Person]] = {}
    cadence._owed(JOB, managers, now, groups, recent)  # type: ignore[arg-type]
    for period, back in groups.items():
        on = date.fromisoformat(period)
        ids = {m.id for m in back}
        for pair in pairs:
            if pair.manager.id in ids and pair.slot.weekday == on.weekday():
                meeting = datetime.combine(on, pair.slot.at, tzinfo=cadence.zone(pair.manager))
                if (now - meeting).days < HELD_FOR_DAYS:
                    preps.setdefault(period, {}).setdefault(pair.rep.id, (pair, meeting))


def _mapping(cadence: Cadence) -> CrmMapping | None:
    """The CRM mapping the preps review deals with; a broken mapping file costs the preps their
    pipeline section (logged; `coach doctor` names the file), never the preps themselves."""
    try:
        return crm_mapping(cadence.settings)
    except CrmMappingError as exc:
        log.warning("1:1 preps without the pipeline review: %s", exc)
        return None
