"""The CRM derivation as it was first written, deal by deal in plain Python: the oracle the
vectorised `analytics.crm_metrics` is checked against (tests/crm/test_crm_derive_reference.py).
Definitions: analytics/crm_metrics.py's docstring."""

from __future__ import annotations

import bisect
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from analytics.crm_mapping import Hygiene, SourceMapping

# The frames, the result and the month arithmetic are shared with the code under test; the
# derivation below is the oracle.
from analytics.crm_metrics import (
    DAY,
    FILLED_COLUMNS,
    SNAPSHOT_MONTHS,
    UTC,
    CrmFrames,
    Derived,
    month_end,
    month_of,
    months_between,
)
from analytics.models import DealFlag


@dataclass
class _Deal:
    crm_id: str
    name: str
    url: str | None
    amount: float
    created: datetime
    close_date: date | None
    current: str
    # (stage id, entered at), time order; the first is the stage it was created in.
    entries: list[tuple[str, datetime]]
    owners: list[tuple[datetime, str | None]]  # (from, owner) time order
    outcome: str | None = None  # won, lost, None (open)
    closed: datetime | None = None
    touches: list[datetime] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._owner_times = [t for t, _ in self.owners]
        self._entry_times = [t for _, t in self.entries]

    def owner_at(self, at: datetime) -> str | None:
        """Who owned the deal at `at` (before its first recorded owner: that one)."""
        i = bisect.bisect_right(self._owner_times, at) - 1
        return self.owners[max(i, 0)][1]

    def open_at(self, at: datetime) -> bool:
        return self.created < at and (self.closed is None or self.closed >= at)

    def stage_at(self, at: datetime) -> tuple[str, datetime]:
        i = max(bisect.bisect_right(self._entry_times, at) - 1, 0)
        return self.entries[i]


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows as dicts, timestamps as datetimes: column by column, as to_dict's
    per-cell boxing costs seconds at 200,000 activities."""
    if frame.empty:
        return []
    columns = []
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            values = [None if pd.isna(v) else v for v in column.dt.floor("us").dt.to_pydatetime()]
        else:
            values = column.tolist()
        columns.append(values)
    names = list(frame.columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _none(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else value


def _deals(frames: CrmFrames, mapping: SourceMapping, problems: list[str]) -> list[_Deal]:
    """The deals that count, with their histories and touches; problems for stages not mapped."""
    stages: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    for row in _rows(frames.stage_changes):
        stages[row["deal_crm_id"]].append((row["stage"], row["entered_at"]))
    owners: dict[str, list[tuple[datetime, str | None]]] = defaultdict(list)
    for row in _rows(frames.owner_changes):
        owners[row["deal_crm_id"]].append((row["changed_at"], _none(row["owner_crm_id"])))
    touches: dict[str, list[datetime]] = defaultdict(list)
    when = {row["crm_id"]: row["occurred_at"] for row in _rows(frames.activities)}
    for row in _rows(frames.links):
        if row["activity_crm_id"] in when:
            touches[row["deal_crm_id"]].append(when[row["activity_crm_id"]])
    unmapped: dict[str, int] = defaultdict(int)
    deals = []
    for row in _rows(frames.deals):
        if mapping.pipelines and _none(row["pipeline"]) not in mapping.pipelines:
            continue
        amount = _none(row["amount"])
        if not amount or mapping.is_test(row["name"]):
            continue  # $0 and test deals are out
        created = row["created_at"]
        history = sorted(stages.get(row["crm_id"], []), key=lambda e: e[1])
        if not history:
            history = [(row["stage"], created)]
        known = [e for e in history if mapping.stage(e[0]) is not None]
        for stage_id, _ in history:
            if mapping.stage(stage_id) is None:
                unmapped[stage_id] += 1
        if mapping.stage(row["stage"]) is None or not known:
            continue
        owner_list = sorted(owners.get(row["crm_id"], []), key=lambda o: o[0])
        if not owner_list:
            owner_list = [(created, _none(row["owner_crm_id"]))]
        deal = _Deal(
            crm_id=row["crm_id"],
            name=row["name"],
            url=_none(row["url"]),
            amount=float(amount),
            created=created,
            close_date=_none(row["close_date"]),
            current=row["stage"],
            entries=known,
            owners=owner_list,
            touches=sorted(touches.get(row["crm_id"], [])),
        )
        closed = mapping.stage(row["stage"]).closed  # type: ignore[union-attr]
        if closed:
            deal.outcome = closed
            last_entry = [t for s, t in known if s == row["stage"]]
            closed_at = _none(row["closed_at"])
            deal.closed = (
                last_entry[-1] if last_entry else (closed_at if closed_at is not None else created)
            )
        deals.append(deal)
    for stage_id, count in sorted(unmapped.items()):
        problems.append(
            f"stage {stage_id!r} is not in the mapping: {count} deal"
            f"{'s' if count > 1 else ''} entered it (add it to the mapping file's stages)"
        )
    return deals


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
    deals = _deals(frames, mapping, problems)
    counts: dict[tuple[str, str, str], float] = defaultdict(float)
    worked: dict[tuple[str, str], set[str]] = defaultdict(set)
    advanced: dict[tuple[str, str], set[str]] = defaultdict(set)
    until = datetime.combine(today + DAY, time(), tzinfo=tz).astimezone(UTC)

    def add(owner: str | None, at: datetime, name: str, value: float = 1.0) -> None:
        email = emails.get(owner) if owner else None
        if email is not None and at < until:
            counts[(email, month_of(at, tz), name)] += value

    ladder = [s for s in mapping.stages if s.closed != "lost"]
    index = {s.id: i for i, s in enumerate(ladder)}
    first_months: list[str] = []
    for deal in deals:
        first_months.append(month_of(deal.created, tz))
        creator = deal.owner_at(deal.created)
        add(creator, deal.created, "new_pipeline", deal.amount)
        reached = -1
        for n, (stage_id, at) in enumerate(deal.entries):
            i = index.get(stage_id)
            if i is None or i <= reached:
                continue
            owner = deal.owner_at(at)
            for passed in ladder[reached + 1 : i + 1]:
                if passed.counts:
                    add(owner, at, passed.counts)
            if n > 0 and owner in emails and at < until:
                advanced[(emails[owner], month_of(at, tz))].add(deal.crm_id)
            reached = i
        if deal.closed is not None and deal.outcome is not None:
            closer = deal.owner_at(deal.closed)
            if deal.outcome == "lost":
                add(closer, deal.closed, "losses")
            else:
                add(closer, deal.closed, "wins")
                add(closer, deal.closed, "revenue", deal.amount)
                days = (deal.closed.astimezone(tz).date() - deal.created.astimezone(tz).date()).days
                add(closer, deal.closed, "cycle_days", float(max(days, 0)))
                if _majority_owner(deal) != closer:
                    add(closer, deal.closed, "inherited_wins")
                    add(closer, deal.closed, "inherited_revenue", deal.amount)
        for _, at in deal.entries:
            owner = deal.owner_at(at)
            if owner in emails and at < until:
                worked[(emails[owner], month_of(at, tz))].add(deal.crm_id)

    by_id = {deal.crm_id: deal for deal in deals}
    _activities(frames, mapping, emails, by_id, add, worked, until, tz, first_months)
    for (email, month), ids in worked.items():
        counts[(email, month, "opportunities_worked")] = float(len(ids))
    for (email, month), ids in advanced.items():
        counts[(email, month, "deals_advanced")] = float(len(ids))

    last = month_of(until - timedelta(microseconds=1), tz)
    first = min(first_months) if first_months else last
    months = months_between(min(first, last), last)
    _fill_zeros(counts, frames, emails, last)
    _hygiene(deals, emails, hygiene, months[-SNAPSHOT_MONTHS:], until, tz, counts, quotas)
    values = pd.DataFrame(
        [(e, m, n, v) for (e, m, n), v in sorted(counts.items())],
        columns=["email", "month", "name", "value"],
    )
    return Derived(values=values, problems=problems, months=months)


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


def _majority_owner(deal: _Deal) -> str | None:
    """Who owned the won deal longest between its creation and its close."""
    assert deal.closed is not None
    held: dict[str | None, float] = defaultdict(float)
    owners = deal.owners
    for n, (start, owner) in enumerate(owners):
        begin = max(start, deal.created) if n else deal.created
        end = owners[n + 1][0] if n + 1 < len(owners) else deal.closed
        end = min(end, deal.closed)
        if end > begin:
            held[owner] += (end - begin).total_seconds()
    if not held:
        return deal.owner_at(deal.closed)
    return max(held.items(), key=lambda kv: kv[1])[0]


def _activities(
    frames: CrmFrames,
    mapping: SourceMapping,
    emails: dict[str, str],
    deals: dict[str, _Deal],
    add: Any,
    worked: dict[tuple[str, str], set[str]],
    until: datetime,
    tz: ZoneInfo,
    first_months: list[str],
) -> None:
    """Calls (prospecting, connects), meetings held (initial, follow-up) and deals worked."""
    connected = {o.casefold() for o in mapping.calls.connected}
    not_held = {o.casefold() for o in mapping.meetings.not_held}
    links: dict[str, list[str]] = defaultdict(list)
    for row in _rows(frames.links):
        links[row["activity_crm_id"]].append(row["deal_crm_id"])
    met: set[str] = set()  # deals that had a meeting held
    rows = sorted(_rows(frames.activities), key=lambda r: (r["occurred_at"], r["crm_id"]))
    for row in rows:
        at = row["occurred_at"]
        owner = _none(row["owner_crm_id"])
        outcome = (_none(row["outcome"]) or "").casefold()
        first_months.append(month_of(at, tz))
        if row["kind"] == "call":
            if mapping.calls.counts:
                add(owner, at, mapping.calls.counts)
            if outcome and outcome in connected:
                add(owner, at, "connects")
        elif row["kind"] == "meeting" and outcome not in not_held:
            about = [d for d in links.get(row["crm_id"], []) if d in deals]
            follow_up = any(d in met for d in about)
            add(owner, at, "follow_up_meetings" if follow_up else "initial_meetings")
            met.update(about)
        email = emails.get(owner) if owner else None
        if email is None or at >= until:
            continue
        for deal_id in links.get(row["crm_id"], []):
            deal = deals.get(deal_id)
            if deal is not None and (deal.closed is None or deal.closed >= at):
                worked[(email, month_of(at, tz))].add(deal_id)


@dataclass(frozen=True)
class _Snapshot:
    """One open deal at a moment: what the hygiene metrics and flags read."""

    deal: _Deal
    owner: str | None
    stage: str
    days_in_stage: int
    days_since_touch: int | None
    untouched: bool
    stuck: bool
    gaps: list[float]


class _Stays:
    """How long the team's deals stayed in each stage, over the stays ended by a moment; read
    at moments in time order (monthly snapshots), each stay is added once."""

    def __init__(self, deals: list[_Deal]) -> None:
        self._ended = sorted(
            (end, stage_id, (end - start).total_seconds() / 86400)
            for deal in deals
            for (stage_id, start), (_, end) in zip(deal.entries, deal.entries[1:], strict=False)
        )
        self._next = 0
        self._days: dict[str, list[float]] = defaultdict(list)  # each kept sorted

    def typical(self, at: datetime, least: int) -> dict[str, float]:
        """Each stage's median stay over the stays ended by `at`, where there are `least`."""
        if self._next and self._ended[self._next - 1][0] > at:
            self._next, self._days = 0, defaultdict(list)
        while self._next < len(self._ended) and self._ended[self._next][0] <= at:
            _, stage_id, days = self._ended[self._next]
            bisect.insort(self._days[stage_id], days)
            self._next += 1
        out = {}
        for stage_id, days in self._days.items():
            n = len(days)
            if n >= least:
                out[stage_id] = days[n // 2] if n % 2 else (days[n // 2 - 1] + days[n // 2]) / 2
        return out


def _snapshots(
    deals: list[_Deal], hygiene: Hygiene, at: datetime, stays: _Stays | None = None
) -> list[_Snapshot]:
    """Every deal open at `at`, judged untouched and stuck as of then."""
    typical = (stays or _Stays(deals)).typical(at, hygiene.stuck_min_stays)
    out = []
    for deal in deals:
        if not deal.open_at(at):
            continue
        stage, entered = deal.stage_at(at)
        in_stage = (at - entered).total_seconds() / 86400
        usual = typical.get(stage)
        stuck = in_stage > (hygiene.stuck_factor * usual if usual else hygiene.stuck_days)
        seen = deal.touches[: bisect.bisect_right(deal.touches, at)]
        since = (at - seen[-1]).total_seconds() / 86400 if seen else None
        quiet = since if since is not None else (at - deal.created).total_seconds() / 86400
        gaps = [(b - a).total_seconds() / 86400 for a, b in zip(seen, seen[1:], strict=False)]
        out.append(
            _Snapshot(
                deal=deal,
                owner=deal.owner_at(at),
                stage=stage,
                days_in_stage=int(in_stage),
                days_since_touch=None if since is None else int(since),
                untouched=quiet > hygiene.untouched_days,
                stuck=stuck,
                gaps=gaps,
            )
        )
    return out


def _quarter(month: str) -> list[str]:
    year, number = month[:4], int(month[5:])
    start = (number - 1) // 3 * 3 + 1
    return [f"{year}-{m:02d}" for m in range(start, start + 3)]


def _hygiene(
    deals: list[_Deal],
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
    stays = _Stays(deals)
    for month in months:
        at = min(month_end(month, tz), until)
        quarter = _quarter(month)
        gaps: dict[str, list[float]] = defaultdict(list)
        reps: set[str] = set()
        for snap in _snapshots(deals, hygiene, at, stays):
            email = emails.get(snap.owner) if snap.owner else None
            if email is None:
                continue
            reps.add(email)
            key = (email, month)
            counts[(*key, "open_deals")] += 1
            counts[(*key, "open_age_days")] += float(int((at - snap.deal.created) / DAY))
            counts[(*key, "untouched_deals")] += float(snap.untouched)
            counts[(*key, "stuck_deals")] += float(snap.stuck)
            gaps[email].extend(snap.gaps)
            closing = snap.deal.close_date
            if closing is not None and f"{closing:%Y-%m}" in quarter:
                counts[(*key, "pipeline_this_quarter")] += snap.deal.amount
        for email in reps:
            counts.setdefault((email, month, "untouched_deals"), 0.0)
            counts.setdefault((email, month, "pipeline_this_quarter"), 0.0)
            if gaps[email]:
                counts[(email, month, "median_days_between_touches")] = round(
                    statistics.median(gaps[email]), 2
                )
                counts[(email, month, "touch_medians")] = 1.0
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
    longest in their stage first."""
    deals = _deals(frames, mapping, [])
    # The team's stays say what "stuck" is; only these owners' deals are judged.
    mine = [deal for deal in deals if deal.owner_at(now) in owner_ids]
    flags = []
    for snap in _snapshots(mine, hygiene, now, _Stays(deals)):
        if snap.owner not in owner_ids or not (snap.untouched or snap.stuck):
            continue
        stage = mapping.stage(snap.stage)
        marks = (("untouched", snap.untouched), ("stuck", snap.stuck))
        reasons: list[Any] = [reason for reason, on in marks if on]
        flags.append(
            DealFlag(
                crm_id=snap.deal.crm_id,
                name=snap.deal.name,
                url=snap.deal.url,
                stage=stage.name if stage else snap.stage,
                amount=snap.deal.amount,
                days_in_stage=snap.days_in_stage,
                days_since_touch=snap.days_since_touch,
                reasons=reasons,
            )
        )
    flags.sort(key=lambda f: (-f.days_in_stage, f.name, f.crm_id))
    return flags
