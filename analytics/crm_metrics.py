"""Monthly counts and pipeline hygiene derived from CRM records (pure: frames in, frames out).

The definitions (README, "Numbers from the CRM"):
- a stage counts in the month the deal entered it, for the deal's owner then; a deal that skips a
  stage (or is created past it) counts for every stage it passed, each stage once per deal;
- a win or a loss is dated when the deal entered its final won or lost stage, never by its
  expected close date, and counts for the owner then; a deal reopened counts only as it ends;
- deals with no amount or an amount of 0, and test deals (the mapping's pattern), are left out;
- win rate counts deals, not dollars; the sales cycle is creation to close of won deals;
- a won deal is inherited (a bluebird) when someone other than the rep who closed it owned it for
  most of its life from creation to close: it stays in wins and revenue, and in inherited_wins
  and inherited_revenue, which skill metrics take out as they do for a CSV.

Timestamps are UTC; months are the workspace's (`tz`). Frames (all timestamps tz-aware):
- deals: crm_id, name, owner_crm_id, pipeline, stage, amount, created_at, closed_at,
  close_date, url
- stage_changes: deal_crm_id, stage, entered_at;  owner_changes: deal_crm_id, owner_crm_id,
  changed_at
- activities: crm_id, kind, owner_crm_id, occurred_at, outcome;  links: activity_crm_id,
  deal_crm_id
- owners: crm_id, email, name

How: the deals that count and their stage, owner and touch histories become flat arrays sorted
by deal then time (`_Records`); every count is then a handful of array operations over all
deals at once (200,000 activities, 24 month-end snapshots of 20,000 deals) instead of a Python
loop per deal and month. Times are integer microseconds, as the database keeps them, and every
day figure is computed with the same float operations as `timedelta.total_seconds() / 86400`,
so the figures are exactly those of the deal-by-deal definitions (tests/crm/crm_reference.py,
checked on random orgs by tests/crm/test_crm_derive_reference.py). Crm ids are unique within a
frame, as stored.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from analytics.crm_mapping import Hygiene, SourceMapping
from analytics.models import DealFlag

UTC = ZoneInfo("UTC")
DAY = timedelta(days=1)
# Monthly hygiene snapshots kept: two years of month ends is what the gap window ever reads.
SNAPSHOT_MONTHS = 24

# The columns derived from a CRM: in the months it covers, the CRM's values replace a CSV's.
FUNNEL_COLUMNS = (
    "leads_prospected",
    "connects",
    "discovery_calls",
    "demos",
    "wins",
    "losses",
    "revenue",
    "initial_meetings",
    "follow_up_meetings",
    "opportunities_worked",
    "cycle_days",
    "inherited_wins",
    "inherited_revenue",
)
HYGIENE_COLUMNS = (
    "open_deals",
    "untouched_deals",
    "stuck_deals",
    "open_age_days",
    "median_days_between_touches",
    "touch_medians",
    "deals_advanced",
    "new_pipeline",
    "pipeline_this_quarter",
    "quota_remaining",
)
DERIVED_COLUMNS = FUNNEL_COLUMNS + HYGIENE_COLUMNS
# Counts of things that happen in a month: no record of one is a zero.
FILLED_COLUMNS = FUNNEL_COLUMNS + ("deals_advanced", "new_pipeline")


@dataclass(frozen=True)
class CrmFrames:
    """One CRM's stored records as frames (see the module docstring for their columns)."""

    deals: pd.DataFrame
    stage_changes: pd.DataFrame
    owner_changes: pd.DataFrame
    activities: pd.DataFrame
    links: pd.DataFrame
    owners: pd.DataFrame


@dataclass
class Derived:
    """What the records give: values (email, month, name, value), the problems met, and the
    months the CRM covers (from its first record to `today`)."""

    values: pd.DataFrame
    problems: list[str]
    months: list[str]


def month_of(at: datetime, tz: ZoneInfo) -> str:
    """The YYYY-MM month `at` falls in, in `tz`."""
    local = at.astimezone(tz)
    return f"{local.year:04d}-{local.month:02d}"


def month_end(month: str, tz: ZoneInfo) -> datetime:
    """The first instant after `month`, in `tz`, as UTC."""
    year, number = int(month[:4]), int(month[5:])
    year, number = (year + 1, 1) if number == 12 else (year, number + 1)
    return datetime(year, number, 1, tzinfo=tz).astimezone(UTC)


def months_between(first: str, last: str) -> list[str]:
    """Every month from `first` to `last`, both included."""
    a = int(first[:4]) * 12 + int(first[5:]) - 1
    b = int(last[:4]) * 12 + int(last[5:]) - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(a, b + 1)]


# Times are int64 microseconds since the epoch. A deal still open closes after any moment.
_OPEN = np.iinfo(np.int64).max
_US = 1_000_000  # microseconds a second
_US_DAY = 86_400 * _US


def _micros(at: datetime) -> int:
    """A moment as microseconds since the epoch (floored, as the database keeps it)."""
    return int(pd.Timestamp(at).as_unit("ns").value // 1000)


def _stamps(column: pd.Series) -> np.ndarray:
    """A column of timestamps as microseconds since the epoch (floored); missing ones _OPEN."""
    stamps = pd.DatetimeIndex(pd.to_datetime(column, utc=True)).as_unit("ns")
    out = np.asarray(stamps.asi8) // 1000
    out[np.asarray(stamps.isna())] = _OPEN
    return out


def _days(micros: np.ndarray | int) -> Any:
    """Durations in days, with timedelta.total_seconds() / 86400's exact float operations."""
    return micros / _US / 86400


def _local(micros: np.ndarray, tz: ZoneInfo) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(micros, unit="us", utc=True)).tz_convert(tz)


def _month_numbers(micros: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """Each moment's month in `tz` as year × 12 + month − 1."""
    local = _local(micros, tz)
    return np.asarray(local.year, np.int64) * 12 + np.asarray(local.month, np.int64) - 1


def _month_name(number: int) -> str:
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


def _month_number(month: str) -> int:
    return int(month[:4]) * 12 + int(month[5:]) - 1


def _local_days(micros: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """Each moment's date in `tz`, as days since 1970-01-01."""
    wall = _local(micros, tz).tz_localize(None).as_unit("us")
    return np.asarray(wall.asi8) // _US_DAY


def _none(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else value


def _objects(column: pd.Series) -> np.ndarray:
    """A column as an object array, missing values None."""
    return np.array([_none(v) for v in column.tolist()], dtype=object)


def _starts(groups: np.ndarray, n: int) -> np.ndarray:
    """Where each of groups 0…n−1 starts in `groups` (sorted)."""
    return np.searchsorted(groups, np.arange(n))


def _sorted(groups: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The order by group, then time; rows equal in both keep their order (a stable sort)."""
    return np.lexsort((times, groups))


def _last_at(
    groups: np.ndarray, times: np.ndarray, starts: np.ndarray, at_groups: np.ndarray, at: np.ndarray
) -> np.ndarray:
    """For each query (a group, a moment): the position of its group's last item at or before
    the moment in `times` (sorted by group, then time), or of its first when none is — a
    bisect_right − 1 of at least 0 within the group. Every group has an item."""
    n = len(times)
    kinds = np.concatenate([np.zeros(n, np.int8), np.ones(len(at), np.int8)])
    # Items before queries at the same moment: an item at the very moment counts.
    order = np.lexsort((kinds, np.concatenate([times, at]), np.concatenate([groups, at_groups])))
    items = np.empty(len(order), np.int64)
    items[order] = np.cumsum(kinds[order] == 0)
    return np.maximum(items[n:] - 1, starts[at_groups])


def _last_before(groups: np.ndarray, times: np.ndarray, n: int, at: int) -> np.ndarray:
    """How many of each group's items (groups 0…n−1) are at or before `at`."""
    return np.bincount(groups[times <= at], minlength=n)


@dataclass
class _Records:
    """The deals that count, numbered in the frame's order, and their histories as flat arrays
    sorted by deal, then time: entries (known stages only; the first is the stage it was created
    in), owners (from, owner) and touches (the times of the activities on it)."""

    ids: np.ndarray
    names: np.ndarray
    urls: np.ndarray
    amount: np.ndarray
    created: np.ndarray
    closed: np.ndarray  # when it entered its final won or lost stage; _OPEN while open
    outcome: np.ndarray  # won, lost, None (open)
    close_month: np.ndarray  # the month of its expected close date; −1: none
    entry_deal: np.ndarray
    entry_stage: np.ndarray
    entry_at: np.ndarray
    owner_deal: np.ndarray
    owner_id: np.ndarray
    owner_at: np.ndarray
    touch_deal: np.ndarray
    touch_at: np.ndarray

    @property
    def count(self) -> int:
        return len(self.ids)

    def owners_at(self, deals: np.ndarray, at: np.ndarray) -> np.ndarray:
        """Who owned each deal at each moment (before its first recorded owner: that one)."""
        starts = _starts(self.owner_deal, self.count)
        return self.owner_id[_last_at(self.owner_deal, self.owner_at, starts, deals, at)]


def _records(frames: CrmFrames, mapping: SourceMapping, problems: list[str]) -> _Records:
    """The deals that count, with their histories and touches; problems for stages not mapped."""
    table = frames.deals
    known = {stage.id for stage in mapping.stages}
    stage = _objects(table["stage"])
    amounts = _objects(table["amount"])
    names = table["name"].to_numpy(object)
    keep = np.array([bool(a) for a in amounts], dtype=bool)  # $0 deals are out
    if mapping.pipelines:
        keep &= np.array([p in mapping.pipelines for p in _objects(table["pipeline"])], bool)
    if mapping.test_deals:
        keep &= np.array(
            [bool(k) and not mapping.is_test(n) for k, n in zip(keep, names, strict=True)], bool
        )
    rows = np.flatnonzero(keep)
    ids = pd.Index(table["crm_id"].to_numpy(object)[rows])
    created = _stamps(table["created_at"])[rows]

    # Each deal's stage history, time order; with none, the stage it is in since its creation.
    changes = frames.stage_changes
    of = ids.get_indexer(changes["deal_crm_id"]) if len(changes) else np.empty(0, np.int64)
    given = of >= 0
    bare = np.setdiff1d(np.arange(len(rows)), of[given])
    deal = np.concatenate([of[given], bare])
    stages = np.concatenate([_objects(changes["stage"])[given], stage[rows][bare]])
    times = np.concatenate([_stamps(changes["entered_at"])[given], created[bare]])
    order = _sorted(deal, times)
    deal, stages, times = deal[order], stages[order], times[order]
    mapped = np.array([s in known for s in stages], dtype=bool)
    unmapped = Counter(stages[~mapped].tolist())
    for stage_id, count in sorted(unmapped.items()):
        problems.append(
            f"stage {stage_id!r} is not in the mapping: {count} deal"
            f"{'s' if count > 1 else ''} entered it (add it to the mapping file's stages)"
        )
    counted = np.array([s in known for s in stage[rows]], dtype=bool)
    counted &= np.bincount(deal[mapped], minlength=len(rows)) > 0
    number = np.cumsum(counted) - 1  # a counted deal's new number
    entries = mapped & counted[deal]
    rows, created = rows[counted], created[counted]
    ids = ids[counted]
    n = len(rows)
    entry_deal, entry_stage, entry_at = number[deal[entries]], stages[entries], times[entries]

    # Owner histories, time order; with none, the deal's owner since its creation.
    moves = frames.owner_changes
    of = ids.get_indexer(moves["deal_crm_id"]) if len(moves) else np.empty(0, np.int64)
    given = of >= 0
    bare = np.setdiff1d(np.arange(n), of[given])
    owner_deal = np.concatenate([of[given], bare])
    owner_id = np.concatenate(
        [_objects(moves["owner_crm_id"])[given], _objects(table["owner_crm_id"])[rows][bare]]
    )
    owner_at = np.concatenate([_stamps(moves["changed_at"])[given], created[bare]])
    order = _sorted(owner_deal, owner_at)

    # Touches: the activities on each deal.
    links, activities = frames.links, frames.activities
    touch_deal = np.empty(0, np.int64)
    touch_at = np.empty(0, np.int64)
    if len(links) and len(activities):
        activity = pd.Index(activities["crm_id"]).get_indexer(links["activity_crm_id"])
        on = ids.get_indexer(links["deal_crm_id"])
        real = (activity >= 0) & (on >= 0)
        touch_deal = on[real]
        touch_at = _stamps(activities["occurred_at"])[activity[real]]
        touched = _sorted(touch_deal, touch_at)
        touch_deal, touch_at = touch_deal[touched], touch_at[touched]

    # A closed deal closed when it last entered its final stage (else its close time, else its
    # creation).
    current = stage[rows]
    closes = {s.id: s.closed for s in mapping.stages}
    outcome = np.array([closes[s] for s in current], dtype=object)
    closed = np.full(n, _OPEN, np.int64)
    final = np.full(n, -1, np.int64)
    last = entry_stage == current[entry_deal]
    np.maximum.at(final, entry_deal[last], np.flatnonzero(last))
    is_closed = np.array([o is not None for o in outcome], dtype=bool)
    closed_at = _stamps(table["closed_at"])[rows]
    fallback = np.where(closed_at != _OPEN, closed_at, created)
    closed[is_closed] = np.where(
        final[is_closed] >= 0, entry_at[np.maximum(final[is_closed], 0)], fallback[is_closed]
    )
    close_month = np.array(
        [
            -1 if c is None else c.year * 12 + c.month - 1
            for c in _objects(table["close_date"])[rows]
        ],
        dtype=np.int64,
    )
    return _Records(
        ids=ids.to_numpy(object),
        names=names[rows],
        urls=_objects(table["url"])[rows],
        amount=np.array([float(a) for a in amounts[rows]], dtype=float),
        created=created,
        closed=closed,
        outcome=outcome,
        close_month=close_month,
        entry_deal=entry_deal,
        entry_stage=entry_stage,
        entry_at=entry_at,
        owner_deal=owner_deal[order],
        owner_id=owner_id[order],
        owner_at=owner_at[order],
        touch_deal=touch_deal,
        touch_at=touch_at,
    )


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A small frame's rows as dicts (the owners)."""
    return frame.to_dict("records") if not frame.empty else []


def _emails(frames: CrmFrames, problems: list[str]) -> dict[str, str]:
    """Owner id → email (lower-case); owners without an email are problems."""
    emails = {}
    for row in _rows(frames.owners):
        email = _none(row["email"])
        if email:
            emails[row["crm_id"]] = str(email).strip().lower()
        else:
            problems.append(
                f"owner {row['crm_id']} ({row['name']}) has no email: their deals and "
                "activities are left out"
            )
    return emails


class _Tally:
    """Counts per (email, month, name), and the deals worked and advanced per (email, month),
    gathered as arrays of events (owner, moment, value) and summed once. An event counts when
    its owner has an email and it happened before `until`. Sums add each name's events in the
    order given, as a running total would."""

    def __init__(self, emails: dict[str, str], until: int, tz: ZoneInfo) -> None:
        self.people = sorted(set(emails.values()))
        number = {email: i for i, email in enumerate(self.people)}
        self.person = {owner: number[email] for owner, email in emails.items()}
        self.until = until
        self.tz = tz
        self.sums: dict[str, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
        self.sets: dict[str, list[np.ndarray]] = defaultdict(list)

    def _whose(self, owners: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The events that count, and their (person, month) keys."""
        person = np.array([self.person.get(o, -1) for o in owners], dtype=np.int64)
        counts = (person >= 0) & (at < self.until)
        keys = person[counts] << 32 | _month_numbers(at[counts], self.tz)
        return counts, keys

    def add(self, name: str, owners: np.ndarray, at: np.ndarray, values: Any = 1.0) -> None:
        counts, keys = self._whose(owners, at)
        values = np.broadcast_to(np.asarray(values, dtype=float), at.shape)[counts]
        self.sums[name].append((keys, values))

    def add_deals(self, name: str, owners: np.ndarray, at: np.ndarray, deals: np.ndarray) -> None:
        """The deals count once per (email, month) however many events they have."""
        counts, keys = self._whose(owners, at)
        self.sets[name].append(np.stack([keys, deals[counts]], axis=1))

    def counts(self) -> dict[tuple[str, str, str], float]:
        out: dict[tuple[str, str, str], float] = {}
        for name, parts in self.sums.items():
            keys = np.concatenate([k for k, _ in parts])
            values = np.concatenate([v for _, v in parts])
            unique, inverse = np.unique(keys, return_inverse=True)
            totals = np.bincount(inverse, weights=values, minlength=len(unique))
            out.update(self._named(unique, totals, name))
        for name, parts in self.sets.items():
            pairs = np.unique(np.concatenate(parts), axis=0)
            unique, sizes = np.unique(pairs[:, 0], return_counts=True)
            out.update(self._named(unique, sizes.astype(float), name))
        return out

    def _named(
        self, keys: np.ndarray, values: np.ndarray, name: str
    ) -> dict[tuple[str, str, str], float]:
        return {
            (self.people[key >> 32], _month_name(key & 0xFFFFFFFF), name): float(value)
            for key, value in zip(keys.tolist(), values.tolist(), strict=True)
        }


def derive(
    frames: CrmFrames,
    mapping: SourceMapping,
    hygiene: Hygiene,
    today: date,
    tz: ZoneInfo = UTC,
    quotas: pd.DataFrame | None = None,
) -> Derived:
    """The monthly counts and hygiene figures per rep (by email) from one CRM's records.

    `quotas` (email, month, value) gives the quota for pipeline coverage's quota remaining.
    Hygiene figures are month-end snapshots (the current month's: at the end of `today`) of
    the deals then open. Months run from the CRM's first record to `today`'s month.
    """
    problems: list[str] = []
    emails = _emails(frames, problems)
    records = _records(frames, mapping, problems)
    until = datetime.combine(today + DAY, time(), tzinfo=tz).astimezone(UTC)
    tally = _Tally(emails, _micros(until), tz)
    _deal_counts(records, mapping, tally, tz)
    touched = _activity_counts(frames, mapping, records, tally)
    counts = tally.counts()

    last = month_of(until - timedelta(microseconds=1), tz)
    moments = np.concatenate([records.created, touched])
    first = (
        _month_name(int(_month_numbers(moments[[moments.argmin()]], tz)[0]))
        if len(moments)
        else last
    )
    months = months_between(min(first, last), last)
    _fill_zeros(counts, frames, emails, last)
    _hygiene(records, emails, hygiene, months[-SNAPSHOT_MONTHS:], until, tz, counts, quotas)
    values = pd.DataFrame(
        [(e, m, n, v) for (e, m, n), v in sorted(counts.items())],
        columns=["email", "month", "name", "value"],
    )
    return Derived(values=values, problems=problems, months=months)


def _deal_counts(records: _Records, mapping: SourceMapping, tally: _Tally, tz: ZoneInfo) -> None:
    """New pipeline, the stages entered (and passed), wins and losses, and the deals worked and
    advanced by their stage changes."""
    deals = np.arange(records.count)
    tally.add(
        "new_pipeline", records.owners_at(deals, records.created), records.created, records.amount
    )

    # A stage counts when the deal first gets past every stage it reached before; it counts the
    # stages it skipped too. Lost stages are off the ladder.
    ladder = [s for s in mapping.stages if s.closed != "lost"]
    index = {s.id: i for i, s in enumerate(ladder)}
    deal, at = records.entry_deal, records.entry_at
    step = np.array([index.get(s, -1) for s in records.entry_stage], dtype=np.int64)
    first = np.zeros(len(deal), dtype=bool)
    first[_starts(deal, records.count)[np.bincount(deal, minlength=records.count) > 0]] = True
    reached = pd.Series(step).groupby(deal).cummax().to_numpy()
    before = np.where(first, -1, np.concatenate([[-1], reached[:-1]]))
    new = step > before
    owner = records.owners_at(deal, at)
    passed = np.repeat(np.flatnonzero(new), (step - before)[new])
    rung = before[passed] + 1 + np.arange(len(passed)) - np.searchsorted(passed, passed)
    for i, stage in enumerate(ladder):
        if stage.counts:
            on = passed[rung == i]
            tally.add(stage.counts, owner[on], at[on])
    advanced = new & ~first
    tally.add_deals("deals_advanced", owner[advanced], at[advanced], deal[advanced])
    tally.add_deals("opportunities_worked", owner, at, deal)

    ended = np.flatnonzero(records.closed != _OPEN)
    closer = records.owners_at(ended, records.closed[ended])
    when = records.closed[ended]
    lost = records.outcome[ended] == "lost"
    tally.add("losses", closer[lost], when[lost])
    won, closer, when = ended[~lost], closer[~lost], when[~lost]
    tally.add("wins", closer, when)
    tally.add("revenue", closer, when, records.amount[won])
    days = _local_days(when, tz) - _local_days(records.created[won], tz)
    tally.add("cycle_days", closer, when, np.maximum(days, 0).astype(float))
    inherited = np.array(
        [_majority_owner(records, d) != c for d, c in zip(won.tolist(), closer, strict=True)],
        dtype=bool,
    )
    tally.add("inherited_wins", closer[inherited], when[inherited])
    tally.add(
        "inherited_revenue", closer[inherited], when[inherited], records.amount[won[inherited]]
    )


def _majority_owner(records: _Records, deal: int) -> Any:
    """Who owned the won deal longest between its creation and its close."""
    start, stop = np.searchsorted(records.owner_deal, [deal, deal + 1])
    owners = list(
        zip(records.owner_at[start:stop].tolist(), records.owner_id[start:stop], strict=True)
    )
    created, closed = int(records.created[deal]), int(records.closed[deal])
    if len(owners) == 1:
        return owners[0][1]  # whoever held it, it is theirs (and its closer's)
    held: dict[Any, float] = defaultdict(float)
    for n, (begin, owner) in enumerate(owners):
        begin = max(begin, created) if n else created
        end = min(owners[n + 1][0] if n + 1 < len(owners) else closed, closed)
        if end > begin:
            held[owner] += (end - begin) / _US
    if not held:
        times = [t for t, _ in owners]
        return owners[max(int(np.searchsorted(times, closed, "right")) - 1, 0)][1]
    return max(held.items(), key=lambda kv: kv[1])[0]


def _activity_counts(
    frames: CrmFrames, mapping: SourceMapping, records: _Records, tally: _Tally
) -> np.ndarray:
    """Calls (prospecting, connects), meetings held (initial, follow-up) and deals worked; the
    activities' times."""
    activities = frames.activities
    if activities.empty:
        return np.empty(0, np.int64)
    at = _stamps(activities["occurred_at"])
    owner = _objects(activities["owner_crm_id"])
    kind = activities["kind"].to_numpy(object)
    outcome = np.array(
        [(o or "").casefold() for o in _objects(activities["outcome"])], dtype=object
    )
    connected = {o.casefold() for o in mapping.calls.connected}
    not_held = {o.casefold() for o in mapping.meetings.not_held}
    calls = kind == "call"
    if mapping.calls.counts:
        tally.add(mapping.calls.counts, owner[calls], at[calls])
    connects = calls & np.array([bool(o) and o in connected for o in outcome], dtype=bool)
    tally.add("connects", owner[connects], at[connects])

    links = frames.links
    activity = pd.Index(activities["crm_id"]).get_indexer(links["activity_crm_id"])
    deal = pd.Index(records.ids).get_indexer(links["deal_crm_id"])
    real = (activity >= 0) & (deal >= 0)
    activity, deal = activity[real], deal[real]

    # A meeting held is a follow-up when a deal it is about had a meeting held before it (in
    # time order, then by id).
    held = (kind == "meeting") & np.array([o not in not_held for o in outcome], dtype=bool)
    rank = np.zeros(len(at), np.int64)
    ids = pd.factorize(activities["crm_id"].to_numpy(object), sort=True)[0]
    rank[np.lexsort((ids, at))] = np.arange(len(at))
    on = held[activity]
    firsts = np.full(records.count, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(firsts, deal[on], rank[activity[on]])
    follow_up = np.zeros(len(at), dtype=bool)
    later = on & (rank[activity] > firsts[deal])
    follow_up[activity[later]] = True
    tally.add("follow_up_meetings", owner[held & follow_up], at[held & follow_up])
    tally.add("initial_meetings", owner[held & ~follow_up], at[held & ~follow_up])

    # A deal is worked in a month it has an activity in while open.
    when = at[activity]
    open_then = records.closed[deal] >= when
    tally.add_deals(
        "opportunities_worked", owner[activity[open_then]], when[open_then], deal[open_then]
    )
    return at


def _fill_zeros(
    counts: dict[tuple[str, str, str], float],
    frames: CrmFrames,
    emails: dict[str, str],
    last: str,
) -> None:
    """No record is a zero: each rep gets 0 for every count they have none of, from their first
    month with a record to the last month (an owner deleted in the CRM: to their last)."""
    seen: dict[str, list[str]] = defaultdict(list)
    for email, month, _ in counts:
        seen[email].append(month)
    gone = set()
    for row in _rows(frames.owners):
        if row["crm_id"] in emails and row.get("active") is False:
            gone.add(emails[row["crm_id"]])
    for email, months in seen.items():
        end = max(months) if email in gone else last
        for month in months_between(min(months), end):
            for name in FILLED_COLUMNS:
                counts.setdefault((email, month, name), 0.0)


class _Stays:
    """How long the team's deals stayed in each stage: each stay (from entering a stage to
    entering the next) ends at a moment; "typical" is the median over the stays ended by then."""

    def __init__(self, records: _Records) -> None:
        same = records.entry_deal[1:] == records.entry_deal[:-1]
        stage = records.entry_stage[:-1][same]
        end = records.entry_at[1:][same]
        days = _days(end - records.entry_at[:-1][same])
        self._stays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for stage_id in sorted(set(stage.tolist())):
            mine = stage == stage_id
            order = np.argsort(end[mine], kind="stable")
            self._stays[stage_id] = (end[mine][order], days[mine][order])

    def typical(self, at: int, least: int) -> dict[str, float]:
        """Each stage's median stay over the stays ended by `at`, where there are `least`."""
        out = {}
        for stage_id, (ends, days) in self._stays.items():
            n = int(np.searchsorted(ends, at, "right"))
            if n >= least:
                ended = np.sort(days[:n])
                middle = ended[n // 2] if n % 2 else (ended[n // 2 - 1] + ended[n // 2]) / 2
                out[stage_id] = float(middle)
        return out


@dataclass
class _Snapshot:
    """The deals open at a moment (by number) and what the hygiene metrics and flags read."""

    deals: np.ndarray
    owner: np.ndarray
    stage: np.ndarray
    in_stage: np.ndarray  # days
    since_touch: np.ndarray  # days; NaN: never touched
    untouched: np.ndarray
    stuck: np.ndarray


def _snapshot(records: _Records, hygiene: Hygiene, at: int, stays: _Stays) -> _Snapshot:
    """Every deal open at `at`, judged untouched and stuck as of then."""
    n = records.count
    deals = np.flatnonzero((records.created < at) & (records.closed >= at))
    entry_starts = _starts(records.entry_deal, n)
    entries = _last_before(records.entry_deal, records.entry_at, n, at)
    entry = (entry_starts + np.maximum(entries - 1, 0))[deals]
    stage = records.entry_stage[entry]
    in_stage = _days(at - records.entry_at[entry])
    typical = stays.typical(at, hygiene.stuck_min_stays)
    usual = np.array([typical.get(s, 0.0) for s in stage], dtype=float)
    limit = np.where(usual != 0, hygiene.stuck_factor * usual, float(hygiene.stuck_days))
    owners = _last_before(records.owner_deal, records.owner_at, n, at)
    owner = records.owner_id[(_starts(records.owner_deal, n) + np.maximum(owners - 1, 0))[deals]]
    seen = _last_before(records.touch_deal, records.touch_at, n, at)[deals]
    last_touch = (
        records.touch_at[np.maximum(_starts(records.touch_deal, n)[deals] + seen - 1, 0)]
        if len(records.touch_at)
        else np.zeros(len(deals), np.int64)
    )
    since = np.where(seen > 0, _days(at - last_touch), np.nan)
    quiet = np.where(seen > 0, since, _days(at - records.created[deals]))
    return _Snapshot(
        deals=deals,
        owner=owner,
        stage=stage,
        in_stage=in_stage,
        since_touch=since,
        untouched=quiet > hygiene.untouched_days,
        stuck=in_stage > limit,
    )


def _quarter(month: str) -> list[str]:
    year, number = month[:4], int(month[5:])
    start = (number - 1) // 3 * 3 + 1
    return [f"{year}-{m:02d}" for m in range(start, start + 3)]


def _hygiene(
    records: _Records,
    emails: dict[str, str],
    hygiene: Hygiene,
    months: list[str],
    until: datetime,
    tz: ZoneInfo,
    counts: dict[tuple[str, str, str], float],
    quotas: pd.DataFrame | None,
) -> None:
    """Month-end snapshots of each rep's open deals (the last month: at `until`)."""
    quota: dict[tuple[str, str], float] = {}
    if quotas is not None and not quotas.empty:
        for row in quotas.to_dict("records"):
            quota[(str(row["email"]).lower(), row["month"])] = float(row["value"])
    people = sorted(set(emails.values()))
    number = {email: i for i, email in enumerate(people)}
    stays = _Stays(records)
    # The gaps between a deal's touches, each known from the later touch on.
    same = records.touch_deal[1:] == records.touch_deal[:-1]
    gap_deal = records.touch_deal[1:][same]
    gap_end = records.touch_at[1:][same]
    gap_days = _days(gap_end - records.touch_at[:-1][same])
    for month in months:
        at = _micros(min(month_end(month, tz), until))
        quarter = _quarter(month)
        snap = _snapshot(records, hygiene, at, stays)
        person = np.array([number.get(emails.get(o), -1) for o in snap.owner], dtype=np.int64)
        mine = person >= 0
        deals, person = snap.deals[mine], person[mine]
        in_quarter = np.isin(records.close_month[deals], [_month_number(m) for m in quarter])
        age = ((at - records.created[deals]) / _US_DAY).astype(np.int64)
        sums = {
            "open_deals": np.ones(len(deals)),
            "open_age_days": age.astype(float),
            "untouched_deals": snap.untouched[mine].astype(float),
            "stuck_deals": snap.stuck[mine].astype(float),
            "pipeline_this_quarter": np.where(in_quarter, records.amount[deals], 0.0),
        }
        reps = np.unique(person)
        for name, values in sums.items():
            totals = np.bincount(person, weights=values, minlength=len(people))
            for p in reps.tolist():
                counts[(people[p], month, name)] = counts.get(
                    (people[p], month, name), 0.0
                ) + float(totals[p])
        # Each rep's median gap between touches over their open deals.
        owner_of = np.full(records.count, -1, np.int64)
        owner_of[deals] = person
        kept = (gap_end <= at) & (owner_of[gap_deal] >= 0)
        who, gaps = owner_of[gap_deal[kept]], gap_days[kept]
        order = np.lexsort((gaps, who))
        who, gaps = who[order], gaps[order]
        reps_with, starts, sizes = np.unique(who, return_index=True, return_counts=True)
        for p, start, size in zip(reps_with.tolist(), starts.tolist(), sizes.tolist(), strict=True):
            middle = start + size // 2
            median = gaps[middle] if size % 2 else (gaps[middle - 1] + gaps[middle]) / 2
            counts[(people[p], month, "median_days_between_touches")] = round(float(median), 2)
            counts[(people[p], month, "touch_medians")] = 1.0
        for email in {e for e, m in quota if m in quarter}:
            target = sum(quota.get((email, m), 0.0) for m in quarter)
            won = sum(counts.get((email, m, "revenue"), 0.0) for m in quarter if m <= month)
            if target - won > 0:
                counts[(email, month, "quota_remaining")] = target - won


def deal_flags(
    frames: CrmFrames,
    mapping: SourceMapping,
    hygiene: Hygiene,
    owner_ids: set[str],
    now: datetime,
) -> list[DealFlag]:
    """The open deals of these owners going sideways at `now` (untouched, stuck or both), the
    longest in their stage first. The team's stays say what "stuck" is."""
    by_owner = flags_by_owner(frames, mapping, hygiene, owner_ids, now)
    return in_review_order([flag for flags in by_owner.values() for flag in flags])


def in_review_order(flags: list[DealFlag]) -> list[DealFlag]:
    """Deals going sideways as a pipeline review reads them: the longest in their stage first."""
    return sorted(flags, key=lambda f: (-f.days_in_stage, f.name, f.crm_id))


def flags_by_owner(
    frames: CrmFrames,
    mapping: SourceMapping,
    hygiene: Hygiene,
    owner_ids: set[str],
    now: datetime,
) -> dict[str, list[DealFlag]]:
    """`deal_flags` of each of these owners (only those with a flag), from one pass over the
    team's records: a weekly 1:1 prep judges many reps' deals at the same moment."""
    records = _records(frames, mapping, [])
    snap = _snapshot(records, hygiene, _micros(now), _Stays(records))
    found: dict[str, list[DealFlag]] = {}
    for i, deal in enumerate(snap.deals.tolist()):
        untouched, stuck = bool(snap.untouched[i]), bool(snap.stuck[i])
        if snap.owner[i] not in owner_ids or not (untouched or stuck):
            continue
        stage = mapping.stage(snap.stage[i])
        marks = (("untouched", untouched), ("stuck", stuck))
        reasons: list[Any] = [reason for reason, on in marks if on]
        since = float(snap.since_touch[i])
        found.setdefault(str(snap.owner[i]), []).append(
            DealFlag(
                crm_id=records.ids[deal],
                name=records.names[deal],
                url=records.urls[deal],
                stage=stage.name if stage else snap.stage[i],
                amount=float(records.amount[deal]),
                days_in_stage=int(float(snap.in_stage[i])),
                days_since_touch=None if np.isnan(since) else int(since),
                reasons=reasons,
            )
        )
    return {owner: in_review_order(flags) for owner, flags in found.items()}
