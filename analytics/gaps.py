"""The gap engine: for a rep and a month, the 1–2 metrics where they credibly trail their peers.

Inputs (the storage layer produces these):

* `metrics` — wide DataFrame, one row per (rep, month): `rep` (email), `month` ("YYYY-MM"), then
  any catalogue count columns as floats (NaN = not reported). Columns the catalogue does not know
  are ignored; a metric whose columns are absent is not computed (`zero_if_missing` columns such as
  `inherited_wins` count as 0 when absent). An optional `through` column (a date inside the row's
  month, or None) marks a month-to-date row: that month counts as the fraction of the month it
  covers (its exposure) wherever months are counted, and is never the default month.
* `people` — DataFrame of the org chart: `email`, `name`, `role` (rep/manager/director/admin),
  `segment` (str or None/NaN), `start_date` (date or None/NaT), `active` (bool; default True).
  Only `role == "rep"` people are reported on and compared; only active reps are peers.

The computation follows issue 3's public contract; `analytics/README.md` explains it in plain
words. Work is cached: pooled windows per month, peer fits per (peer pool, month), and every rep's
results per month once `reports()` has run, so a warm engine serves one rep in milliseconds.
"""

from __future__ import annotations

import calendar
import functools
import gc
import math
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from analytics.catalogue import Catalogue, Metric
from analytics.comparisons import (
    Adjusted,
    adjusted_pool,
    detrended,
    level_discount,
    tenure_windows,
)
from analytics.models import GapConfig, GapReport
from analytics.peers import peer_figures
from analytics.shrinkage import PoolFit, fit_pool, posterior

__all__ = ["GapConfig", "GapEngine", "GapError"]

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_FUNNEL = (
    "leads_prospected",
    "connect_rate",
    "discovery_rate",
    "demo_rate",
    "close_rate",
    "avg_deal_size",
)
# Catalogue kinds a ramping rep is compared on with tenured peers: conversion only (volumes,
# deal sizes and cycles of a rep building a territory are not yet theirs to coach).
_RAMP_COMPARABLE = ("conversion",)
# Against reps in the same tenure months, volumes too; a ramping rep's first few deals (size,
# cycle) and accounts are still too few and too inherited to judge, even against a cohort.
_COHORT_COMPARABLE = ("activity", "conversion", "outcome")
# A flag needs the gap credible (P(worse than the peers' typical value) ≥ flag_threshold) and
# material: P(worse by at least `material_gap`) ≥ this. Lower than the flag threshold because the
# second question is asked of a gap already known to be real; on realistic simulations 0.65
# keeps 9 in 10 focus metrics real (benchmarks/bench_advice.py, analytics/README.md).
MATERIAL_PROBABILITY = 0.65
# A metric with drivers is an independent weakness only if its own part (corrected for the
# drivers) is behind the material line with this confidence: otherwise it follows from upstream.
OWN_DRIVER_CONFIDENCE = 0.95
# Results (bookings, attainment) at or above this peer percentile: a shortfall on a metric with
# no bookings link is evidently not holding the rep back, and is no remedial focus.
TOP_RESULTS = 90.0


class GapError(ValueError):
    """A request the engine cannot answer (unknown rep, no data, bad month), with the reason."""


def parse_month(text: str) -> int:
    """'2026-10' → a month number (year * 12 + month - 1); GapError when malformed."""
    match = _MONTH.match(str(text).strip())
    if not match:
        raise GapError(f"month must be YYYY-MM, got {text!r}")
    return int(match[1]) * 12 + int(match[2]) - 1


@functools.lru_cache(maxsize=4096)
def format_month(number: int) -> str:
    """A month number back to 'YYYY-MM'."""
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


def _num(x: Any) -> float | None:
    """A float for JSON: None for NaN, infinities and None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _as_date(x: Any) -> date | None:
    if x is None or x is pd.NaT or (not isinstance(x, str | date) and pd.isna(x)):
        return None
    if isinstance(x, datetime):
        return x.date()
    if isinstance(x, date):
        return x
    try:
        return date.fromisoformat(str(x).strip()[:10])
    except ValueError:
        raise GapError(f"people: start_date {x!r} is not YYYY-MM-DD") from None


def _as_segment(x: Any) -> str | None:
    if x is None or (not isinstance(x, str) and pd.isna(x)):
        return None
    return str(x).strip() or None


@dataclass
class _Pool:
    """One peer pool in one month: its members, sorted values and fits per metric."""

    members: np.ndarray  # (R,) active reps with data in the window (and in the segment)
    member_of: list[np.ndarray]  # per metric: members with a value for it, (R,) bool
    position: list[np.ndarray]  # per metric: each rep's index among those members, or -1
    sorted_values: list[np.ndarray]
    fits: list[PoolFit | None]


@dataclass
class _Cohort:
    """Reps' windows ending in one tenure month, from the data's history, for one peer group."""

    reps: np.ndarray  # (J,) rep indices, one observation each
    position: list[np.ndarray]  # per metric: each rep's index among those with a value, or -1
    sorted_values: list[np.ndarray]
    fits: list[PoolFit | None]


@dataclass
class _Figures:
    """(n, K) peer figures and posterior results being filled in by _evaluate."""

    median: np.ndarray
    top: np.ndarray
    percentile: np.ndarray
    count: np.ndarray
    estimate: np.ndarray
    credibility: np.ndarray
    typical: np.ndarray
    material: np.ndarray


@dataclass
class _Month:
    """Everything pooled for one month's window, for all reps."""

    t: int  # index on the engine's month axis
    window: list[int]  # month numbers of the window, oldest first
    num: np.ndarray  # (R, K) pooled numerators
    den: np.ndarray  # (R, K) pooled denominators
    count: np.ndarray  # (R, K) months in the window in which the metric could be computed
    value: np.ndarray  # (R, K) num / den, NaN when den <= 0
    has_data: np.ndarray  # (R,) any row in the window
    extras: dict[str, np.ndarray]  # (R,) window figures: quota (monthly mean), inherited sums
    pool_of: list[tuple[str | None, str | None]]  # (R,) each rep's (segment, discipline)
    group_size: np.ndarray  # (R,) the rep's peer group incl. the rep
    pools: dict[str | None, _Pool] = field(default_factory=dict)
    cohorts: dict[tuple[Any, int], _Cohort] = field(default_factory=dict)  # ramp cohorts
    adjusted: dict[tuple[int, int], Adjusted] = field(default_factory=dict)  # (rep, metric)
    results: _Results | None = None  # every rep's results, once reports() asked
    focus_results: _Results | None = None  # every rep's focus only (for the next month's trend)


@dataclass
class _Results:
    """Per-rep results for a set of reps (rows) and every metric (columns)."""

    reps: np.ndarray  # (n,) rep indices
    peer_median: np.ndarray
    top_quartile: np.ndarray
    percentile: np.ndarray
    peer_count: np.ndarray
    peer_size: np.ndarray  # (n,) peers in the rep's pool, the rep not counted
    estimate: np.ndarray
    credibility: np.ndarray
    material_line: np.ndarray  # the peers' typical true value, `material_gap` worse
    materiality: np.ndarray  # P(true value worse than material_line)
    comparable: np.ndarray  # (n, K) bool: may be flagged (see GapEngine._comparable)
    flagged: np.ndarray
    consequence_of: np.ndarray  # (n, K) the flagged driver explaining the shortfall, or -1
    impact: np.ndarray
    focus: list[list[int]]  # metric positions, best first
    stretch: list[tuple[int, float] | None]  # (metric, monthly upside) for reps without focus
    cohort_size: np.ndarray  # (n,) ramp cohort observations compared with, -1 when none
    adjusted: np.ndarray  # (n, 2): reps in the level-adjusted pool, of them from other groups
    table: dict[str, list[Any]] | None = None  # the same as Python lists, for assembling reports

    def row(self, rep: int) -> int:
        """The row of rep index `rep` (which must be among `reps`)."""
        return int(np.searchsorted(self.reps, rep))


class GapEngine:
    """Peer-relative, noise-aware gaps for every rep and month of the data it was built on."""

    def __init__(
        self,
        metrics: pd.DataFrame,
        people: pd.DataFrame,
        catalogue: Catalogue,
        config: GapConfig | None = None,
    ) -> None:
        """Index the data once; see the module docstring for the DataFrame formats."""
        self.catalogue = catalogue
        self.config = config or GapConfig()
        self._load_people(people)
        self._load_metrics(metrics)
        self._months: dict[int, _Month] = {}

    # ---------------------------------------------------------------- loading

    def _load_people(self, people: pd.DataFrame) -> None:
        missing = {"email", "name", "role"} - set(people.columns)
        if missing:
            raise GapError(f"people: missing column {sorted(missing)[0]!r}")
        frame = people.copy()
        frame["email"] = frame["email"].astype(str).str.strip().str.lower()
        frame = frame[frame["role"].astype(str).str.strip().str.lower() == "rep"]
        duplicated = frame["email"][frame["email"].duplicated()]
        if len(duplicated):
            raise GapError(f"people: {duplicated.iloc[0]} appears twice")
        frame = frame.sort_values("email", ignore_index=True)
        self._emails = frame["email"].to_numpy(dtype=object)
        self._index = pd.Index(self._emails)
        self._names = frame["name"].astype(str).tolist()
        self._segments = [_as_segment(s) for s in frame.get("segment", [None] * len(frame))]
        self._disciplines = [_as_segment(s) for s in frame.get("discipline", [None] * len(frame))]
        self._groups = list(zip(self._segments, self._disciplines, strict=True))
        self._starts = [_as_date(s) for s in frame.get("start_date", [None] * len(frame))]
        active = frame["active"] if "active" in frame else pd.Series(True, index=frame.index)
        self._active = active.fillna(True).astype(bool).to_numpy()

    def _load_metrics(self, metrics: pd.DataFrame) -> None:
        missing = {"rep", "month"} - set(metrics.columns)
        if missing:
            raise GapError(f"metrics: missing column {sorted(missing)[0]!r}")
        frame = metrics.copy()
        frame["rep"] = frame["rep"].astype(str).str.strip().str.lower()
        frame = frame[frame["rep"].isin(self._index)]  # managers' rows, unknown people: ignored
        months = frame["month"].astype(str).map(parse_month).to_numpy(dtype=int)
        rows = self._index.get_indexer(frame["rep"])
        duplicated = pd.Series(rows * 100_000 + months).duplicated().to_numpy()
        if duplicated.any():
            first = frame.iloc[int(np.argmax(duplicated))]
            raise GapError(f"metrics: two rows for {first['rep']} in {first['month']}")

        reps = len(self._emails)
        self._first = int(months.min()) if len(months) else 0
        span = int(months.max()) - self._first + 1 if len(months) else 0
        cols = months - self._first
        exposure = self._load_through(frame, rows, cols, months, (reps, span))
        present = [c for c in self.catalogue.columns if c in frame.columns]
        raw: dict[str, np.ndarray] = {}
        for column in present:
            grid = np.full((reps, span), np.nan)
            grid[rows, cols] = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
            raw[column] = grid
        has_row = np.zeros((reps, span), dtype=bool)
        for grid in raw.values():
            has_row |= np.isfinite(grid)
        # A month-to-date row holds the whole month's quota: attainment compares the bookings
        # so far with the quota's share of the days covered.
        self._raw = {**raw, "quota": raw["quota"] * exposure} if "quota" in raw else raw
        self._has_row = has_row
        self._span = span

        # Metrics whose columns are all in the data (zero-if-missing columns may be absent).
        zero = set(self.catalogue.zero_if_missing)
        self.metrics: list[Metric] = [
            m for m in self.catalogue.metrics if all(c in raw or c in zero for c in m.columns)
        ]
        self._pos = {m.key: i for i, m in enumerate(self.metrics)}
        k = len(self.metrics)
        num = np.zeros((k, reps, span))
        den = np.zeros((k, reps, span))
        valid = np.zeros((k, reps, span), dtype=bool)
        for i, metric in enumerate(self.metrics):
            top = self._linear(metric.numerator_terms, zero, (reps, span))
            terms = metric.denominator_terms
            # A monthly count's denominator is the months it covers: less than 1 for a partial one.
            bottom = exposure if terms is None else self._linear(terms, zero, top.shape)
            ok = np.isfinite(top) & np.isfinite(bottom)
            valid[i], num[i], den[i] = ok, np.where(ok, top, 0.0), np.where(ok, bottom, 0.0)
        self._num, self._den, self._valid = num, den, valid
        with np.errstate(divide="ignore", invalid="ignore"):
            self._monthly = np.where(valid & (den > 0), num / den, np.nan)  # single-month values

        def cumulative(a: np.ndarray) -> np.ndarray:
            c = np.cumsum(a, axis=-1, dtype=float)
            return np.concatenate([np.zeros(c.shape[:-1] + (1,)), c], axis=-1)

        self._cum_num, self._cum_den = cumulative(num), cumulative(den)
        # Months counted by exposure, so figures per month (volumes, worked-back targets) treat a
        # month-to-date row as the part of a month it is.
        self._cum_valid = cumulative(np.where(valid, exposure, 0.0))
        self._cum_rows = cumulative(has_row)
        # Window sums of single columns: quota (reported, positive months) and bluebirds.
        quota = raw.get("quota", np.full((reps, span), np.nan))
        quota_ok = np.isfinite(quota) & (quota > 0)
        self._cum_extra = {
            "quota": cumulative(np.where(quota_ok, quota, 0.0)),
            "quota_months": cumulative(quota_ok),
            **{
                c: cumulative(np.nan_to_num(raw[c])) if c in raw else np.zeros((reps, span + 1))
                for c in ("inherited_wins", "inherited_revenue")
            },
        }
        self._data_months = {self._first + t for t in np.flatnonzero(has_row.any(axis=0))}

    def _load_through(
        self,
        frame: pd.DataFrame,
        rows: np.ndarray,
        cols: np.ndarray,
        months: np.ndarray,
        shape: tuple[int, int],
    ) -> np.ndarray:
        """Each rep-month's exposure: 1 for a full month, days through ÷ days in the month for a
        month-to-date row. Notes each partial month's latest `through` in `self._through`."""
        exposure = np.ones(shape)
        self._through: dict[int, date] = {}
        if "through" not in frame.columns:
            return exposure
        given = frame["through"].notna().to_numpy()
        if not given.any():
            return exposure
        cells = frame["through"][given].astype(str).str.strip().str[:10]
        days = pd.to_datetime(cells, format="%Y-%m-%d", errors="coerce")
        if days.isna().any():
            raise GapError(f"metrics: through {cells[days.isna()].iloc[0]!r} is not YYYY-MM-DD")
        number = (days.dt.year * 12 + days.dt.month - 1).to_numpy()
        wrong = np.flatnonzero(number != months[given])
        if len(wrong):
            i = int(np.flatnonzero(given)[wrong[0]])
            raise GapError(
                f"metrics: through {cells.iloc[wrong[0]]} of {frame['rep'].iloc[i]} is not in "
                f"{format_month(int(months[i]))}"
            )
        exposure[rows[given], cols[given]] = (days.dt.day / days.dt.days_in_month).to_numpy()
        latest = days.groupby(number).max()
        self._through = {int(n): day.date() for n, day in latest.items()}
        return exposure

    def _linear(
        self, terms: dict[str, float], zero: set[str], shape: tuple[int, int]
    ) -> np.ndarray:
        total = np.zeros(shape)
        for column, coef in terms.items():
            values = self._raw.get(column)
            if values is None:
                continue  # an absent zero-if-missing column
            total = total + coef * (np.nan_to_num(values) if column in zero else values)
        return total

    # ---------------------------------------------------------------- public API

    def latest_month(self) -> str:
        """The latest full month with data, as YYYY-MM: a month-to-date month is not one (the
        latest month, partial, only when no full month has data)."""
        if not self._data_months:
            raise GapError("no metrics loaded: import monthly metrics first")
        full = self._data_months - self._through.keys()
        return format_month(max(full or self._data_months))

    def through(self, month: str) -> date | None:
        """The last day `month`'s month-to-date rows cover (the latest, if they differ); None
        for a full month or a month without data."""
        return self._through.get(parse_month(month))

    def report(self, email: str, month: str | None = None, today: date | None = None) -> GapReport:
        """One rep's gaps for `month` (default: the latest full month with data).

        `today` decides who is ramping (default: the last day of the month). GapError for an
        unknown email or a non-rep, a malformed month, a month without data, or a rep without data
        in the window.
        """
        key = str(email).strip().lower()
        position = int(self._index.get_indexer([key])[0])
        if position < 0:
            raise GapError(f"{email}: not a rep in the org chart")
        state = self._month(month)
        if not state.has_data[position]:
            first, last = format_month(state.window[0]), format_month(state.window[-1])
            raise GapError(f"{key}: no metrics in {first} to {last}")
        results = state.results or self._evaluate(state, np.array([position]))
        previous = self._previous_focus(state, np.array([position]))
        return self._assemble(state, results, position, previous.get(position, []), today)

    def warm(self, month: str | None = None) -> None:
        """Evaluate every rep for `month` (default: the latest full month) once, with the month
        before's focus, so that each later `report` of it is a look-up and an assembly."""
        state = self._month(month)
        with _collector_paused():
            self._table(state, self._all(state))
            self._previous_focus(state, np.flatnonzero(state.has_data))

    def reports(self, month: str | None = None, today: date | None = None) -> list[GapReport]:
        """Every active rep with data in the window, sorted by email (vectorised over reps)."""
        state = self._month(month)
        reps = np.flatnonzero(self._active & state.has_data)
        with _collector_paused():
            results = self._all(state)
            previous = self._previous_focus(state, reps)
            return [
                self._assemble(state, results, int(i), previous.get(int(i), []), today)
                for i in reps
            ]

    def counts(self, email: str, key: str, first: str, last: str) -> tuple[float, float]:
        """The rep's own counts (numerator, denominator) on metric `key`, added up over the
        months `first` to `last` (months without data add nothing); (0, 0) for an unknown rep
        or a metric the data can't compute."""
        rep = int(self._index.get_indexer([str(email).strip().lower()])[0])
        m = self._pos.get(key)
        if rep < 0 or m is None:
            return 0.0, 0.0
        start = max(parse_month(first) - self._first, 0)
        stop = min(parse_month(last) - self._first + 1, self._span)
        if stop <= start:
            return 0.0, 0.0
        valid = self._valid[m][rep, start:stop]
        return (
            float(self._num[m][rep, start:stop][valid].sum()),
            float(self._den[m][rep, start:stop][valid].sum()),
        )

    def noise_scale(self, email: str, month: str, key: str) -> float | None:
        """The month-to-month noise level the engine measured on `key` among the rep's peer
        group for the window ending `month`: the dispersion φ of the count models, the per-unit
        variance of `normal`; None without a fit (fewer than two peers, unknown rep)."""
        rep = int(self._index.get_indexer([str(email).strip().lower()])[0])
        m = self._pos.get(key)
        if rep < 0 or m is None:
            return None
        state = self._month(month)
        fit = self._pool(state, state.pool_of[rep]).fits[m]
        return None if fit is None else float(fit.scale)

    # ---------------------------------------------------------------- months and pools

    def _month(self, month: str | None) -> _Month:
        number = parse_month(month) if month is not None else parse_month(self.latest_month())
        if number not in self._data_months:
            if not self._data_months:
                raise GapError("no metrics loaded: import monthly metrics first")
            first, last = min(self._data_months), max(self._data_months)
            raise GapError(
                f"no metrics for {format_month(number)} "
                f"(data covers {format_month(first)} to {format_month(last)})"
            )
        t = number - self._first
        if t not in self._months:
            self._months[t] = self._pool_window(t)
        return self._months[t]

    def _window_sum(self, cum: np.ndarray, t: int) -> np.ndarray:
        """Sum over the window ending at t of a cumulative array (last axis: months + 1)."""
        return cum[..., t + 1] - cum[..., max(t + 1 - self.config.window_months, 0)]

    def _pool_window(self, t: int) -> _Month:
        num = self._window_sum(self._cum_num, t).T
        den = self._window_sum(self._cum_den, t).T
        count = self._window_sum(self._cum_valid, t).T
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(den > 0, num / den, np.nan)
            quota = self._window_sum(self._cum_extra["quota"], t) / self._window_sum(
                self._cum_extra["quota_months"], t
            )
        extras = {
            "quota": quota,
            "inherited_wins": self._window_sum(self._cum_extra["inherited_wins"], t),
            "inherited_revenue": self._window_sum(self._cum_extra["inherited_revenue"], t),
        }
        has_data = self._window_sum(self._cum_rows, t) > 0
        eligible = self._active & has_data
        # Peers are the same segment and discipline, never widened to other motions: a small
        # group is compared within itself (and not on scale-dependent metrics, see _comparable).
        # Without a segment, a rep is compared with every rep of their discipline.
        sizes: dict[tuple[str | None, str | None], int] = {}
        for i in np.flatnonzero(eligible):
            key = self._group_key(int(i))
            sizes[key] = sizes.get(key, 0) + 1
        pool_of = [self._group_key(i) for i in range(len(self._groups))]
        group_size = np.array(
            [sizes.get(key, 0) - int(eligible[i]) + 1 for i, key in enumerate(pool_of)], dtype=int
        )
        number = self._first + t
        window = list(range(number - self.config.window_months + 1, number + 1))
        return _Month(t, window, num, den, count, value, has_data, extras, pool_of, group_size)

    def _group_key(self, rep: int) -> tuple[str | None, str | None]:
        """The peer group of a rep: (segment, discipline); segment None means all segments."""
        return self._groups[rep]

    def _tenure_month(self, rep: int, month: int) -> int | None:
        """1 in the month the rep started, 2 the month after, ...; None without a start date."""
        start = self._starts[rep]
        if start is None:
            return None
        return month - (start.year * 12 + start.month - 1) + 1

    def _group_mask(self, key: tuple[str | None, str | None]) -> np.ndarray:
        """(R,) the reps of a peer group; segment None means every segment of the discipline."""
        segment, discipline = key
        members = np.array(self._disciplines, dtype=object) == discipline
        if segment is not None:
            members &= np.array(self._segments, dtype=object) == segment
        return members

    def _pool(self, state: _Month, key: str | None) -> _Pool:
        if key in state.pools:
            return state.pools[key]
        members = self._active & state.has_data & self._group_mask(key)
        window = slice(max(state.t + 1 - self.config.window_months, 0), state.t + 1)
        member_of, position, sorted_values, fits = [], [], [], []
        for i, metric in enumerate(self.metrics):
            has = members & (state.den[:, i] > 0)
            member_of.append(has)
            where = np.full(len(has), -1)
            where[has] = np.arange(int(has.sum()))
            position.append(where)
            sorted_values.append(np.sort(state.value[has, i]))
            month_valid = self._valid[i][has, window]
            fits.append(
                fit_pool(
                    metric.model,
                    state.num[has, i],
                    state.den[has, i],
                    np.where(month_valid, self._num[i][has, window], 0.0),
                    np.where(month_valid, self._den[i][has, window], 0.0),
                )
            )
        pool = _Pool(members, member_of, position, sorted_values, fits)
        state.pools[key] = pool
        return pool

    # ---------------------------------------------------------------- per-rep results

    def _all(self, state: _Month) -> _Results:
        """Every rep's results for the month (computed once, then cached)."""
        if state.results is None:
            state.results = self._evaluate(state, np.flatnonzero(state.has_data))
        return state.results

    def _evaluate(self, state: _Month, reps: np.ndarray, focus_only: bool = False) -> _Results:
        """Peer figures, shrinkage, impact and focus for `reps` (sorted rep indices).

        `focus_only` skips what the focus cannot depend on (shrinkage of metrics on which the rep
        is at or above the median); such results must not be shown as a report.
        """
        n, k = len(reps), len(self.metrics)
        cfg = self.config
        fig = _Figures(*(np.full((n, k), np.nan) for _ in range(3)), np.zeros((n, k), dtype=int),
                       *(np.full((n, k), np.nan) for _ in range(4)))  # fmt: skip
        keys = [state.pool_of[i] for i in reps]
        order = {key: i for i, key in enumerate(dict.fromkeys(keys))}
        pools = [self._pool(state, key) for key in order]
        pool_of = np.array([order[key] for key in keys], dtype=int)
        rows_of = [np.flatnonzero(pool_of == p) for p in range(len(pools))]

        def gather(arrays: list[np.ndarray]) -> np.ndarray:
            """Each rep's entry of its own pool's (R,) array."""
            out = np.empty(n, dtype=arrays[0].dtype)
            for rows, array in zip(rows_of, arrays, strict=True):
                out[rows] = array[reps[rows]]
            return out

        peer_size = np.array([pool.members.sum() for pool in pools])[pool_of] - gather(
            [pool.members for pool in pools]
        )
        every = np.arange(n)
        for m in range(k):
            self._compare(
                fig, m, every, state.value[reps, m], state.num[reps, m], state.den[reps, m],
                [pool.sorted_values[m] for pool in pools], [pool.fits[m] for pool in pools],
                pool_of, gather([pool.position[m] for pool in pools]), focus_only,
            )  # fmt: skip
        cohort_size = self._against_cohorts(state, reps, fig, focus_only)
        adjusted, borrowed = self._against_adjusted(state, reps, fig, cohort_size >= 0)
        med, top, pct, peer_count = fig.median, fig.top, fig.percentile, fig.count
        est, cred, typical, material = fig.estimate, fig.credibility, fig.typical, fig.material

        value = state.value[reps]
        sign = np.array([1.0 if m.direction == "higher" else -1.0 for m in self.metrics])
        line = typical * (1.0 - cfg.material_gap * sign)
        worse = (value - med) * sign < 0  # strictly worse than the raw peer median
        comparable = self._comparable(state, reps, cohort_size >= 0, borrowed)
        flagged = (
            worse & (cred >= cfg.flag_threshold) & (material >= MATERIAL_PROBABILITY) & comparable
        )
        own = self._driver_factor(value, typical, sign)
        consequence = self._consequences(
            flagged, value, own, self._log_variance(state, reps), typical, line, sign
        )
        consequence[consequence == -2] = -1  # unflagged: nothing to show
        # Advice rests on the estimates: the raw value of a small sample would overstate a gap.
        current = np.where(np.isfinite(est), est, value)
        # A count with drivers is worth only its own part: the drivers' shortfall is theirs.
        impact = self._impact(state, reps, current * own, med)
        outcome = np.array([m.kind == "outcome" for m in self.metrics])
        # Results at the top of the peers: a leading indicator without a bookings link is
        # evidently not holding the rep back, so it is no remedial focus (the stretch remains).
        top_results = (np.nan_to_num(pct[:, outcome], nan=0.0) >= TOP_RESULTS).any(axis=1)
        linked = np.isfinite(impact)
        focus = self._focus(
            flagged & (consequence < 0) & ~(top_results[:, None] & ~linked), impact, cred
        )
        stretch: list[tuple[int, float] | None] = [None] * n
        if not focus_only:
            upside = self._impact(state, reps, current, top)
            upside = np.where(comparable & (upside > 0), upside, -np.inf)
            best = np.argmax(upside, axis=1)
            gain = upside[np.arange(n), best]
            stretch = [
                None if chosen or not math.isfinite(g) else (b, g)
                for chosen, b, g in zip(focus, best.tolist(), gain.tolist(), strict=True)
            ]
        return _Results(
            reps, med, top, pct, peer_count, peer_size, est, cred, line, material, comparable,
            flagged, consequence, impact, focus, stretch, cohort_size, adjusted,
        )  # fmt: skip

    def _compare(
        self,
        fig: _Figures,
        m: int,
        rows: np.ndarray,
        values: np.ndarray,
        k: np.ndarray,
        n: np.ndarray,
        pools: list[np.ndarray] | None,
        fits: list[PoolFit | None],
        pool_of: np.ndarray,
        position: np.ndarray,
        focus_only: bool,
    ) -> None:
        """Fill `fig`'s `rows` for metric m: peer figures against the sorted `pools` (kept as
        they are when None) and the posterior against `fits` (counts k, n; `position` the rep's
        index among its pool's members or -1). Pools without a fit give no estimate."""
        higher = self.metrics[m].direction == "higher"
        if pools is not None:
            figures = peer_figures(pools, pool_of, values, position >= 0, higher)
            fig.median[rows, m], fig.top[rows, m] = figures.median, figures.top_quartile
            fig.percentile[rows, m], fig.count[rows, m] = figures.percentile, figures.count
        for out in (fig.estimate, fig.credibility, fig.typical, fig.material):
            out[rows, m] = np.nan
        fitted = [p for p, fit in enumerate(fits) if fit is not None]
        fit_of = np.full(len(fits), -1)
        fit_of[fitted] = np.arange(len(fitted))
        ok = (n > 0) & (fit_of[pool_of] >= 0)
        if focus_only:
            ok &= (values - fig.median[rows, m]) * (1 if higher else -1) < 0
        if not ok.any():
            return
        cfg = self.config
        where = rows[ok]
        (
            fig.estimate[where, m],
            fig.credibility[where, m],
            fig.typical[where, m],
            fig.material[where, m],
        ) = posterior(
            [fits[p] for p in fitted],  # type: ignore[misc]
            fit_of[pool_of[ok]],
            k[ok],
            n[ok],
            position[ok],
            higher,
            gap=cfg.material_gap,
            material_from=cfg.flag_threshold,
        )

    def _against_cohorts(
        self, state: _Month, reps: np.ndarray, fig: _Figures, focus_only: bool
    ) -> np.ndarray:
        """Ramping reps with a tenure cohort of at least `min_peer_group` observations get its
        figures and posterior in `fig` on the metrics it judges (_COHORT_COMPARABLE kinds; the
        rest keep the group's figures, for reference). Returns the cohort size per row, -1 for
        reps compared as usual."""
        size = np.full(len(reps), -1)
        keys: dict[tuple[Any, int], int] = {}
        cohort_of = np.full(len(reps), -1)
        for row, rep in enumerate(reps.tolist()):
            tenure = self._tenure_month(rep, state.window[-1])
            if tenure is None or not self._in_ramp(rep, state):
                continue
            key = (state.pool_of[rep], tenure)
            cohort = self._cohort(state, key)
            observations = len(cohort.reps) - int(rep in set(cohort.reps.tolist()))
            if observations >= self.config.min_peer_group:
                size[row] = observations
                cohort_of[row] = keys.setdefault(key, len(keys))
        rows = np.flatnonzero(cohort_of >= 0)
        if not len(rows):
            return size
        cohorts = [state.cohorts[key] for key in keys]
        chosen, pool_of = reps[rows], cohort_of[rows]
        for m in range(len(self.metrics)):
            if self.metrics[m].kind not in _COHORT_COMPARABLE:
                continue
            position = np.array(
                [cohorts[c].position[m][r] for c, r in zip(pool_of, chosen, strict=True)]
            )
            self._compare(
                fig, m, rows, state.value[chosen, m], state.num[chosen, m], state.den[chosen, m],
                [c.sorted_values[m] for c in cohorts], [c.fits[m] for c in cohorts], pool_of,
                position, focus_only,
            )  # fmt: skip
        return size

    def _cohort(self, state: _Month, key: tuple[Any, int]) -> _Cohort:
        """The group's reps in the window ending at their tenure month N (key = (group, N)),
        from any start date whose month N lies within the data up to this month."""
        if key in state.cohorts:
            return state.cohorts[key]
        group, tenure = key
        if not hasattr(self, "_start_index"):
            self._start_index = np.array(
                [-(10**9) if s is None else s.year * 12 + s.month - 1 - self._first
                 for s in self._starts]
            )  # fmt: skip
        candidates, months = tenure_windows(
            self._start_index, tenure, state.t, self.config.window_months
        )
        inside = self._group_mask(group)[candidates]
        candidates, months = candidates[inside], months[inside]
        used = months >= 0
        index = np.where(used, months, 0)
        rows = candidates[:, None]
        reported = (self._has_row[rows, index] & used).any(axis=1)
        candidates, index, used, rows = (
            candidates[reported],
            index[reported],
            used[reported],
            rows[reported],
        )
        position, sorted_values, fits = [], [], []
        for m, metric in enumerate(self.metrics):
            if metric.kind not in _COHORT_COMPARABLE:
                position.append(np.full(len(self._emails), -1))
                sorted_values.append(np.zeros(0))
                fits.append(None)
                continue
            valid = self._valid[m][rows, index] & used
            k_month = np.where(valid, self._num[m][rows, index], 0.0)
            n_month = np.where(valid, self._den[m][rows, index], 0.0)
            k, n = k_month.sum(axis=1), n_month.sum(axis=1)
            has = n > 0
            where = np.full(len(self._emails), -1)
            where[candidates[has]] = np.arange(int(has.sum()))
            position.append(where)
            sorted_values.append(np.sort(k[has] / n[has]))
            fits.append(
                fit_pool(
                    metric.model,
                    k[has],
                    n[has],
                    detrended(k_month[has], n_month[has]),
                    n_month[has],
                )  # fmt: skip
            )
        cohort = _Cohort(candidates, position, sorted_values, fits)
        state.cohorts[key] = cohort
        return cohort

    def _against_adjusted(
        self, state: _Month, reps: np.ndarray, fig: _Figures, skip: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Reps of a group under `min_peer_group` (not in `skip`) are judged on conversion rates
        against the whole org, each group's rates adjusted to the rep's group level (see
        analytics.comparisons); the group's own figures stay as shown. Their counts are
        discounted for the uncertainty of that level. Returns per row (reps in the adjusted
        pool, of them from other groups), and (n, K) which metrics were so judged."""
        adjusted = np.zeros((len(reps), 2), dtype=int)
        borrowed = np.zeros((len(reps), len(self.metrics)), dtype=bool)
        rows = np.flatnonzero((state.group_size[reps] < self.config.min_peer_group) & ~skip)
        if not len(rows):
            return adjusted, borrowed
        ids: dict[Any, int] = {}
        group = np.array([ids.setdefault(key, len(ids)) for key in state.pool_of])
        eligible = self._active & state.has_data
        window = slice(max(state.t + 1 - self.config.window_months, 0), state.t + 1)
        chosen = reps[rows]
        for m, metric in enumerate(self.metrics):
            if metric.kind not in _RAMP_COMPARABLE:
                continue
            valid = self._valid[m][:, window]
            k_month = np.where(valid, self._num[m][:, window], 0.0)
            n_month = np.where(valid, self._den[m][:, window], 0.0)
            pools = []
            for rep in chosen.tolist():
                if (rep, m) not in state.adjusted:
                    state.adjusted[rep, m] = adjusted_pool(
                        metric.model, state.num[:, m], state.den[:, m], k_month, n_month,
                        eligible, group, rep,
                    )  # fmt: skip
                pools.append(state.adjusted[rep, m])
            discount = level_discount(
                state.den[chosen, m], np.array([p.level_trials for p in pools])
            )
            self._compare(
                fig, m, rows, state.value[chosen, m], state.num[chosen, m] * discount,
                state.den[chosen, m] * discount, None, [p.fit for p in pools],
                np.arange(len(rows)), np.full(len(rows), -1), False,
            )  # fmt: skip
            for j, pool in enumerate(pools):
                if pool.fit is not None:
                    borrowed[rows[j], m] = True
                    counts = (len(pool.fit.k), pool.across)
                    adjusted[rows[j]] = np.maximum(adjusted[rows[j]], counts)
        return adjusted, borrowed

    def _comparable(
        self, state: _Month, reps: np.ndarray, cohort: np.ndarray, borrowed: np.ndarray
    ) -> np.ndarray:
        """(n, K) bool: which metrics each rep may be flagged on.

        In a peer group under `min_peer_group` reps, only the conversion rates judged against
        the level-adjusted org (`borrowed`): volumes, deal sizes and cycles of other groups work
        at another scale, and a handful of reps cannot set a natural spread; the report says how
        many peers are missing. While the window still holds the rep's first `ramp_months` of
        tenure, a rep with a tenure cohort (`cohort`) is compared with it on volumes and
        conversion; otherwise only conversion metrics are compared with tenured peers: volumes
        are still ramping.
        """
        ramp_ok = np.array([m.kind in _RAMP_COMPARABLE for m in self.metrics])
        cohort_ok = np.array([m.kind in _COHORT_COMPARABLE for m in self.metrics])
        small = (state.group_size[reps] < self.config.min_peer_group) & ~cohort
        ramping = np.array([self._in_ramp(int(i), state) for i in reps], dtype=bool) & ~cohort
        out = np.ones((len(reps), len(self.metrics)), dtype=bool)
        out[small] = borrowed[small]
        out[ramping[:, None] & ~ramp_ok[None, :]] = False
        out[cohort[:, None] & ~cohort_ok[None, :]] = False
        return out

    def _in_ramp(self, rep: int, state: _Month) -> bool:
        """Whether the window holds any of the rep's first `ramp_months` months of tenure."""
        tenure = self._tenure_month(rep, state.window[0])
        return tenure is not None and tenure <= self.config.ramp_months

    def _log_variance(self, state: _Month, reps: np.ndarray) -> np.ndarray:
        """(n, K) the count noise of each metric's log value: 1/k − 1/n for a rate between two
        counts (binomial), 1/k for counts and ratios (Poisson), with k at least 1."""
        num = np.maximum(state.num[reps], 1.0)
        den = np.maximum(state.den[reps], num)
        binomial = np.array([m.model == "beta_binomial" for m in self.metrics])
        return 1.0 / num - np.where(binomial, 1.0 / den, 0.0)

    def _driver_factor(
        self, value: np.ndarray, typical: np.ndarray, sign: np.ndarray
    ) -> np.ndarray:
        """(n, K): × this turns a metric's value into its own part, corrected for every driver
        (see _consequences); 1 for metrics without drivers or drivers without a value."""
        out = np.ones(value.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(sign > 0, typical / value, value / typical)  # > 1: a driver trails
        for j, metric in enumerate(self.metrics):
            drivers = [self._pos[d] for d in metric.drivers if d in self._pos]
            if drivers:
                known = np.isfinite(ratio[:, drivers])
                factor = np.prod(np.where(known, ratio[:, drivers], 1.0), axis=1)
                out[:, j] = factor if sign[j] > 0 else 1.0 / factor
        return out

    def _consequences(
        self,
        flagged: np.ndarray,
        value: np.ndarray,
        own: np.ndarray,
        variance: np.ndarray,
        typical: np.ndarray,
        line: np.ndarray,
        sign: np.ndarray,
    ) -> np.ndarray:
        """(n, K): for a flagged metric whose shortfall its drivers explain, the flagged driver
        that explains most, or -2 when no driver is flagged; -1 elsewhere. Updates `flagged`.

        A weak stage lowers every count downstream of it. A metric with drivers is judged by its
        own driver: its value is corrected for every driver (× typical ÷ value of each, the
        other way round when lower is better: a rep with a strong funnel above gets no credit for
        it). Raw values, not estimates: each metric is shrunk by its own amount, while the raw
        ratio is exactly the rep's own conversion (opportunities per demo, say), with the
        month's swings cancelled. Unless the corrected value is credibly
        (`OWN_DRIVER_CONFIDENCE`) materially behind — judged on a log scale with the count noise
        of its own count and of its drivers' — the shortfall is a consequence: of a flagged
        driver (shown as such, not as a second focus), or of several small shortfalls upstream,
        none material (then it is no flag at all).
        """
        z = float(special.ndtri(OWN_DRIVER_CONFIDENCE))
        out = np.full(flagged.shape, -1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(sign > 0, typical / value, value / typical)  # > 1: a driver trails
        for j, metric in enumerate(self.metrics):
            drivers = [self._pos[d] for d in metric.drivers if d in self._pos]
            if not drivers:
                continue
            known = np.isfinite(ratio[:, drivers])
            corrected = value[:, j] * own[:, j]  # its own part (_driver_factor)
            with np.errstate(divide="ignore", invalid="ignore"):
                behind = np.log(line[:, j] / corrected) * sign[j]  # > 0: still behind the line
                # The own part's noise: its count's and every driver's (for opportunities
                # worked the terms telescope to 1/opportunities + 1/demos).
                noise = np.sqrt(variance[:, j] + variance[:, drivers].sum(axis=1))
            explained = flagged[:, j] & ~(behind >= z * noise)
            cause = flagged[:, drivers] & known
            main = np.array(drivers)[np.argmax(np.where(cause, ratio[:, drivers], -np.inf), axis=1)]
            out[explained, j] = np.where(cause.any(axis=1), main, -2)[explained]
            flagged[explained & ~cause.any(axis=1), j] = False
        return out

    def _impact(
        self, state: _Month, reps: np.ndarray, current: np.ndarray, med: np.ndarray
    ) -> np.ndarray:
        """Extra monthly bookings if the rep moved from `current` (the estimates) to `med` (the
        peer median, or the top quartile for a stretch) on one metric, all else equal.

        Funnel metrics go through leads → connects → discovery calls → demos → wins × deal size,
        using the rep's own monthly volumes and downstream rates; win rate through decided deals
        × deal size; opportunities worked and sales cycle through sales velocity (the rep's own
        bookings scale with opportunities and with 1 / cycle). Other metrics have no bookings
        link: NaN.
        """
        value = state.value[reps]
        n = len(reps)
        impact = np.full((n, len(self.metrics)), np.nan)
        nan = np.full(n, np.nan)
        pos = self._pos

        def v(key: str) -> np.ndarray:
            return value[:, pos[key]] if key in pos else nan

        def m(key: str) -> np.ndarray:
            return med[:, pos[key]] if key in pos else nan

        def c(key: str) -> np.ndarray:
            return current[:, pos[key]] if key in pos else nan

        def per_month(key: str, part: np.ndarray) -> np.ndarray:
            if key not in pos:
                return nan
            months = state.count[reps, pos[key]]
            return np.where(months > 0, part[reps, pos[key]] / np.maximum(months, 1), np.nan)

        with np.errstate(divide="ignore", invalid="ignore"):
            for i, key in enumerate(_FUNNEL):
                if key not in pos:
                    continue
                downstream = np.ones(n)
                for later in _FUNNEL[i + 1 :]:
                    downstream = downstream * v(later)
                volume = per_month(key, state.den)  # 1 for monthly counts
                impact[:, pos[key]] = (m(key) - c(key)) * volume * downstream
            if "win_rate" in pos:
                decided = per_month("win_rate", state.den)
                impact[:, pos["win_rate"]] = (
                    (m("win_rate") - c("win_rate")) * decided * v("avg_deal_size")
                )
            # Sales velocity = opportunities × win rate × deal size ÷ cycle: the rep's own
            # bookings scale with opportunities and with 1 / cycle.
            own_bookings = per_month("avg_deal_size", state.num)
            if "opportunities_worked" in pos:
                ratio = m("opportunities_worked") / c("opportunities_worked") - 1.0
                impact[:, pos["opportunities_worked"]] = own_bookings * ratio
            if "sales_cycle_days" in pos:
                ratio = c("sales_cycle_days") / m("sales_cycle_days") - 1.0
                impact[:, pos["sales_cycle_days"]] = own_bookings * ratio
        outcome = np.array([metric.kind == "outcome" for metric in self.metrics])
        impact[:, outcome] = np.nan
        return np.where(np.isfinite(impact), impact, np.nan)

    def _focus(self, flagged: np.ndarray, impact: np.ndarray, cred: np.ndarray) -> list[list[int]]:
        """Per rep, the flagged coachable metrics, best first: those with an impact (largest
        first), then those without (most credible first); catalogue order breaks ties."""
        coachable = np.array([m.kind != "outcome" for m in self.metrics])
        candidate = flagged & coachable
        has_impact = np.isfinite(impact)
        group = np.where(candidate, np.where(has_impact, 0, 1), 2)
        score = np.where(has_impact, -impact, -np.nan_to_num(cred))
        order = np.arange(len(self.metrics))
        ranked = np.lexsort((np.broadcast_to(order, group.shape), score, group), axis=-1)
        ranked = ranked[:, : self.config.max_focus]
        keep = np.take_along_axis(candidate, ranked, axis=1)
        return [
            [int(i) for i, ok in zip(row, oks, strict=True) if ok]
            for row, oks in zip(ranked.tolist(), keep.tolist(), strict=True)
        ]

    def _previous_focus(self, state: _Month, reps: np.ndarray) -> dict[int, list[int]]:
        """The focus each rep had in the month before (computed the same way), when it had data."""
        number = state.window[-1] - 1
        if number not in self._data_months:
            return {}
        before = self._month(format_month(number))
        with_data = reps[before.has_data[reps]]
        if not len(with_data):
            return {}
        # Only the focus is needed: the month's full results if already there, else a lighter
        # pass (for every rep when several are asked, cached for the next request).
        results = before.results
        if results is None and len(reps) > 1:
            if before.focus_results is None:
                before.focus_results = self._evaluate(
                    before, np.flatnonzero(before.has_data), focus_only=True
                )
            results = before.focus_results
        if results is None:
            results = before.focus_results or self._evaluate(before, with_data, focus_only=True)
        return {int(i): results.focus[results.row(int(i))] for i in with_data}

    # ---------------------------------------------------------------- assembling a report

    def _table(self, state: _Month, results: _Results) -> dict[str, list[Any]]:
        """Every figure a report needs, per row of `results`, as JSON-ready Python lists."""
        if results.table is not None:
            return results.table
        reps = results.reps
        pos = self._pos
        value = state.value[reps]
        counted = state.count[reps] > 0
        nan = np.full(len(reps), np.nan)

        def column(source: np.ndarray, key: str) -> np.ndarray:
            return source[:, pos[key]] if key in pos else nan

        def monthly(key: str) -> np.ndarray:
            if key not in pos:
                return nan
            months = state.count[reps, pos[key]]
            return np.where(months > 0, state.den[reps, pos[key]] / np.maximum(months, 1), np.nan)

        quota = state.extras["quota"][reps]
        current = np.where(np.isfinite(results.estimate), results.estimate, value)
        with np.errstate(divide="ignore", invalid="ignore"):
            own = _needed(quota, lambda key: column(current, key))
            team = _needed(quota, lambda key: column(results.peer_median, key))
        actual = {
            "wins": monthly("avg_deal_size"),
            "opportunities": monthly("win_rate"),
            "demos": monthly("close_rate"),
            "discovery_calls": monthly("demo_rate"),
            "connects": monthly("discovery_rate"),
            "leads_prospected": monthly("connect_rate"),
            "pipeline_coverage": nan,
        }
        table: dict[str, list[Any]] = {
            "value": _json(value),
            "numerator": _json(np.where(counted, state.num[reps], np.nan)),
            "denominator": _json(np.where(counted, state.den[reps], np.nan)),
            "peer_median": _json(results.peer_median),
            "top_quartile": _json(results.top_quartile),
            "percentile": _json(results.percentile),
            "estimate": _json(results.estimate),
            "credibility": _json(results.credibility),
            "material_line": _json(results.material_line),
            "materiality": _json(results.materiality),
            "compared": results.comparable.tolist(),
            "consequence_of": [
                [self.metrics[d].key if d >= 0 else None for d in row]
                for row in results.consequence_of.tolist()
            ],
            "impact": _json(results.impact),
            "flagged": results.flagged.tolist(),
            "peer_count": results.peer_count.tolist(),
            "peer_size": results.peer_size.tolist(),
            "quota": _json(quota),
            "inherited_wins": state.extras["inherited_wins"][reps].tolist(),
            "inherited_revenue": state.extras["inherited_revenue"][reps].tolist(),
        }
        for name, figures in (("own", own), ("team", team), ("actual", actual)):
            columns = {field: _json(figures[field]) for field in _TARGET_FIELDS}
            table[name] = [
                {field: columns[field][j] for field in _TARGET_FIELDS} for j in range(len(reps))
            ]
        reach = self._reach(own, actual, column(results.top_quartile, "leads_prospected"),
                            column(results.top_quartile, "opportunities_worked"))  # fmt: skip
        table["out_of_reach"] = reach
        results.table = table
        return table

    @staticmethod
    def _reach(
        own: dict[str, np.ndarray],
        actual: dict[str, np.ndarray],
        top_leads: np.ndarray,
        top_opportunities: np.ndarray,
    ) -> list[list[str]]:
        """Per rep, the worked-back volumes beyond the peers' top quartile (out of reach): more
        activity alone cannot close that gap."""
        out: list[list[str]] = []
        with np.errstate(invalid="ignore"):
            leads = own["leads_prospected"] > np.fmax(top_leads, actual["leads_prospected"])
            opportunities = own["opportunities"] > top_opportunities
        for lead, opportunity in zip(leads.tolist(), opportunities.tolist(), strict=True):
            out.append(
                [name for name, hit in (("leads_prospected", lead), ("opportunities", opportunity))
                 if hit]
            )  # fmt: skip
        return out

    def _assemble(
        self,
        state: _Month,
        results: _Results,
        rep: int,
        previous_focus: list[int],
        today: date | None,
    ) -> GapReport:
        row = results.row(rep)
        table = self._table(state, results)
        metrics = [
            {
                **self._static[m],
                **{name: table[name][row][m] for name in _PER_METRIC},
            }
            for m in range(len(self.metrics))
        ]
        focus = results.focus[row]
        tenure = self._tenure_month(rep, state.window[-1])
        year, mon = divmod(state.window[-1], 12)
        day = today or date(year, mon + 1, calendar.monthrange(year, mon + 1)[1])
        start = self._starts[rep]
        ramping = start is not None and (day - start).days < self.config.ramp_days
        inherited = {
            "wins": table["inherited_wins"][row],
            "revenue": table["inherited_revenue"][row],
        }
        quota = table["quota"][row]
        targets = (
            None
            if quota is None
            else {
                "quota": quota,
                **{name: table[name][row] for name in ("own", "team", "actual")},
                **self._reach_note(table, row, metrics, focus),
            }
        )
        return GapReport.model_validate(
            {
                "rep": str(self._emails[rep]),
                "name": self._names[rep],
                "segment": self._segments[rep],
                "month": format_month(state.window[-1]),
                "window": [format_month(x) for x in state.window],
                "through": self._through.get(state.window[-1]),
                "peer_group": {
                    "segment": state.pool_of[rep][0],
                    "discipline": state.pool_of[rep][1],
                    "size": table["peer_size"][row],
                    "widened": False,
                    **self._basis(results, row),
                },
                "ramping": ramping,
                "tenure_month": tenure,
                "material_gap": self.config.material_gap,
                "metrics": metrics,
                "focus": [self.metrics[i].key for i in focus],
                "focus_note": self._focus_note(metrics, focus),
                "consequences": [
                    f"{m['label']} trails the peers as a consequence of "
                    f"{self.metrics[self._pos[m['consequence_of']]].label.lower()}: "
                    "coach that stage, not this count."
                    for m in metrics
                    if m["consequence_of"] is not None
                ],
                "stretch": self._stretch(results.stretch[row], metrics),
                "targets": targets,
                "trend": self._trend(state, table, row, rep, focus, previous_focus),
                "inherited": inherited,
                "warnings": self._warnings(state, results, row, rep, metrics, ramping, day, tenure),
            }
        )

    @staticmethod
    def _basis(results: _Results, row: int) -> dict[str, Any]:
        """The report's `peer_group` fields saying what the rep was judged against."""
        cohort = int(results.cohort_size[row])
        peers, across = (int(x) for x in results.adjusted[row])
        if cohort >= 0:
            return {"basis": "tenure_cohort", "cohort": cohort}
        if peers:
            basis = "levels_adjusted" if across else "within_small_group"
            return {"basis": basis, "adjusted_peers": peers}
        return {"basis": "group"}

    @property
    def _static(self) -> list[dict[str, Any]]:
        """The per-metric fields that come from the catalogue, computed once."""
        if not hasattr(self, "_static_fields"):
            self._static_fields = [
                {
                    "key": m.key,
                    "label": m.label,
                    "kind": m.kind,
                    "direction": m.direction,
                    "stage": m.stage,
                    "unit": m.unit,
                    "effort_or_skill": _EFFORT_OR_SKILL[m.kind],
                    "sentence": m.sentence,
                    "suggestions": list(m.suggestions),
                }
                for m in self.metrics
            ]
        return self._static_fields

    def _stretch(
        self, pick: tuple[int, float] | None, metrics: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        """The stretch of a rep without a focus: upside toward the top quartile on one metric."""
        if pick is None:
            return None
        m, upside = pick
        figures = metrics[m]
        return {
            "key": figures["key"],
            "label": figures["label"],
            "value": figures["value"],
            "estimate": figures["estimate"],
            "top_quartile": figures["top_quartile"],
            "upside": upside,
            "sentence": (
                f"Stretch goal: reaching the peers' top quartile on {figures['label'].lower()} "
                f"is worth about {upside:,.0f} a month in bookings."
            ),
        }

    def _reach_note(
        self, table: dict[str, list[Any]], row: int, metrics: list[dict[str, Any]], focus: list[int]
    ) -> dict[str, Any]:
        """Out-of-reach targets and the lever that would have to move instead: the first focus
        metric when it is a rate, else the funnel rate where the rep ranks lowest."""
        out = table["out_of_reach"][row]
        if not out:
            return {"out_of_reach": [], "lever": None, "note": None}
        rates = [self._pos[k] for k in _FUNNEL[1:] + ("win_rate",) if k in self._pos]
        chosen = [m for m in focus if m in rates]
        ranked = sorted(
            (m for m in rates if metrics[m]["percentile"] is not None),
            key=lambda m: metrics[m]["percentile"],
        )
        lever = (chosen or ranked or [None])[0]
        own = table["own"][row]
        need = own["leads_prospected"] if "leads_prospected" in out else own["opportunities"]
        what = "leads" if "leads_prospected" in out else "opportunities"
        label = "another lever" if lever is None else self.metrics[lever].label.lower()
        return {
            "out_of_reach": out,
            "lever": None if lever is None else self.metrics[lever].key,
            "note": (
                f"Quota at today's rates takes {need:,.0f} {what} a month, beyond what the "
                f"peers' top quartile does: {label} has to move too."
                if need is not None and math.isfinite(need)
                # A zero rate on the way (no wins yet, say): no volume makes quota.
                else f"Quota can't be reached at today's rates with more {what} alone: "
                f"{label} has to move too."
            ),
        }

    def _focus_note(self, metrics: list[dict[str, Any]], focus: list[int]) -> str | None:
        if focus:
            return None
        flagged = [m for m in metrics if m["flagged"] and m["kind"] != "outcome"]
        if any(m["consequence_of"] is None for m in flagged):
            labels = ", ".join(m["label"] for m in flagged)
            return (
                f"Behind the peers on {labels}, but results are at the top of the peers and it "
                "has no direct link to bookings: worth a conversation, not a month's focus."
            )
        if flagged:
            return (
                f"{', '.join(m['label'] for m in flagged)} trail the peers as a consequence of "
                "another stage: no separate focus this month."
            )
        below = [
            m["label"]
            for m in metrics
            if m["kind"] != "outcome"
            and m["value"] is not None
            and m["peer_median"] is not None
            and (m["value"] - m["peer_median"]) * (1 if m["direction"] == "higher" else -1) < 0
        ]
        if not below:
            return "At or above the peer median on every metric: no gap to coach this month."
        return (
            f"Below the peer median on {', '.join(below)}, but not credibly by "
            f"{self.config.material_gap:.0%} or more (noise and the natural spread between reps "
            "explain it): no material gap this month."
        )

    def _warnings(
        self,
        state: _Month,
        results: _Results,
        row: int,
        rep: int,
        metrics: list[dict[str, Any]],
        ramping: bool,
        day: date,
        tenure: int | None,
    ) -> list[str]:
        cfg = self.config
        warnings = []
        table = self._table(state, results)
        basis = self._basis(results, row)
        size = table["peer_size"][row]
        segment, discipline = state.pool_of[rep]
        group = " ".join(x for x in (segment, discipline) if x) or "the org"
        if segment is None and any(s is not None for s in self._segments):
            warnings.append(f"No segment on file; compared with all {size} other reps.")
        group_size = int(state.group_size[rep])
        if group_size < cfg.min_peer_group and basis["basis"] != "tenure_cohort":
            if basis["basis"] == "levels_adjusted":
                rates = (
                    f"conversion rates are compared with {basis['adjusted_peers']} reps across "
                    f"groups, each group's rates adjusted to the {group} level."
                )
            elif basis["basis"] == "within_small_group":
                rates = (
                    "conversion rates are compared within the group, its natural spread "
                    "estimated from these few reps: read the figures with care."
                )
            else:
                rates = "nothing is flagged."
            warnings.append(
                f"Only {group_size} reps in {group} ({cfg.min_peer_group - group_size} short of "
                f"the {cfg.min_peer_group} a benchmark needs): volumes, deal size and cycle are "
                "shown for reference, not flagged (other segments and disciplines work at "
                f"another scale); {rates}"
            )
        if self._in_ramp(rep, state) and tenure is not None:
            if basis["basis"] == "tenure_cohort":
                first = max(tenure - cfg.window_months + 1, 1)
                warnings.append(
                    f"Month {tenure} of ramp: compared with {basis['cohort']} reps of {group} "
                    f"in their own tenure months {first}–{tenure} (the data's history): "
                    "volumes and conversion; deal size, cycle and accounts are not judged yet."
                )
            else:
                warnings.append(
                    f"Month {tenure} of ramp: fewer than {cfg.min_peer_group} reps of {group} "
                    f"in the data reached month {tenure}, so volumes, deal size and cycle are "
                    "not compared with tenured peers; only material, credible conversion gaps "
                    "are flagged."
                )
        start = self._starts[rep]
        if ramping and start is not None:
            warnings.append(
                f"Ramping: started {start.isoformat()}, {(day - start).days} days before "
                f"{day.isoformat()}; compare with care."
            )
        wins, revenue = table["inherited_wins"][row], table["inherited_revenue"][row]
        if wins or revenue:
            warnings.append(
                f"Inherited deals (bluebirds) kept out of skill metrics: {wins:,.0f} wins, "
                f"{revenue:,.0f} in revenue in the window."
            )
        small, missing = [], []
        for metric, figures in zip(self.metrics, metrics, strict=True):
            if figures["value"] is None:
                missing.append(f"{metric.label} (no {metric.denominator_label or 'data'})")
            elif (
                metric.denominator is not None
                and metric.kind != "outcome"
                and figures["denominator"] < cfg.min_sample
            ):
                what = metric.denominator_label or "in the denominator"
                small.append(f"{metric.label} {figures['denominator']:,.0f} {what}")
        if small:
            warnings.append(
                "Small samples (estimates lean on the peers): " + "; ".join(small) + "."
            )
        if missing:
            warnings.append("Not computable in the window: " + "; ".join(missing) + ".")
        absent = [
            format_month(number)
            for number in state.window
            if not 0 <= number - self._first < self._span
            or not self._has_row[rep, number - self._first]
        ]
        if absent:
            warnings.append(f"No metrics for {', '.join(absent)} in the window.")
        partial = [(n, self._through[n]) for n in state.window if n in self._through]
        for number, through in partial:
            days = calendar.monthrange(through.year, through.month)[1]
            warnings.append(
                f"{format_month(number)} is month to date, through {through.isoformat()}: "
                f"its volumes count as {through.day} of {days} days (scaled to a full month), "
                "and it is not judged until the full month is imported."
            )
        return warnings

    def _trend(
        self,
        state: _Month,
        table: dict[str, list[Any]],
        row: int,
        rep: int,
        focus: list[int],
        previous_focus: list[int],
    ) -> dict[str, Any]:
        months = range(state.t - self.config.trend_months + 1, state.t + 1)
        series = [
            {
                "key": self.metrics[m].key,
                "values": [_num(self._monthly[m, rep, t]) if t >= 0 else None for t in months],
            }
            for m in focus
        ]
        follow_ups = []
        for m in previous_focus:
            before = _num(self._monthly[m, rep, state.t - 1])
            now = _num(self._monthly[m, rep, state.t])
            median = table["peer_median"][row][m]
            moved = None
            if before is not None and now is not None and median is not None:
                sign = 1.0 if self.metrics[m].direction == "higher" else -1.0
                # The gap is how far the value trails the median (negative once past it).
                moved = (median - now) * sign < (median - before) * sign
            follow_ups.append(
                {
                    "key": self.metrics[m].key,
                    "previous": before,
                    "current": now,
                    "peer_median": median,
                    "moved_toward_median": moved,
                }
            )
        return {
            "months": [format_month(self._first + t) for t in months],
            "series": series,
            "last_month_focus": follow_ups,
        }


_EFFORT_OR_SKILL: dict[str, str | None] = {
    "activity": "effort",
    "conversion": "skill",
    "value": "skill",
    "outcome": None,
}
_PER_METRIC = (
    "value",
    "numerator",
    "denominator",
    "peer_median",
    "top_quartile",
    "percentile",
    "peer_count",
    "estimate",
    "credibility",
    "material_line",
    "materiality",
    "compared",
    "flagged",
    "consequence_of",
    "impact",
)
_TARGET_FIELDS = (
    "wins",
    "opportunities",
    "demos",
    "discovery_calls",
    "connects",
    "leads_prospected",
    "pipeline_coverage",
)


_pause_lock = threading.Lock()
_pausers = 0
_was_enabled = True


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while thousands of reports are built.

    The reports hold no reference cycles, so the collector finds nothing, yet its repeated full
    passes over the growing heap of new objects cost more than building them (measured: 1.8 s
    instead of 0.6 s for 5,000 reports). Reference counting still frees memory meanwhile.
    """
    global _pausers, _was_enabled
    # Counted under a lock: overlapping callers in a threaded server must not leave it disabled.
    with _pause_lock:
        if _pausers == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pausers += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pausers -= 1
            if _pausers == 0 and _was_enabled:
                gc.enable()


def _json(values: np.ndarray) -> list[Any]:
    """An array as nested Python lists, NaN and infinities as None."""
    out = np.asarray(values, dtype=float).astype(object)
    out[~np.isfinite(np.asarray(values, dtype=float))] = None
    return out.tolist()


def _needed(quota: np.ndarray, rate: Any) -> dict[str, np.ndarray]:
    """Monthly volumes needed to make quota at the given rates (`rate(key)` → array by rep).

    Wins = Q / deal size; opportunities = wins / win rate (Q / (A·w)); then back up the funnel:
    demos = wins / close rate, discovery calls = demos / demo rate, connects = discovery calls /
    discovery rate, leads = connects / connect rate. Pipeline coverage = 1 / win rate.
    """
    wins = quota / rate("avg_deal_size")
    demos = wins / rate("close_rate")
    discovery = demos / rate("demo_rate")
    connects = discovery / rate("discovery_rate")
    return {
        "wins": wins,
        "opportunities": wins / rate("win_rate"),
        "demos": demos,
        "discovery_calls": discovery,
        "connects": connects,
        "leads_prospected": connects / rate("connect_rate"),
        "pipeline_coverage": 1.0 / rate("win_rate"),
    }
