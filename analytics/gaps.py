"""The gap engine: for a rep and a month, the 1–2 metrics where they credibly trail their peers.

Inputs (the storage layer produces these):

* `metrics` — wide DataFrame, one row per (rep, month): `rep` (email), `month` ("YYYY-MM"), then
  any catalogue count columns as floats (NaN = not reported). Columns the catalogue does not know
  are ignored; a metric whose columns are absent is not computed (`zero_if_missing` columns such as
  `inherited_wins` count as 0 when absent).
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

from analytics.catalogue import Catalogue, Metric
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
_ALL = None  # the pool key of "all reps"


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
    pool_of: list[str | None]  # (R,) each rep's pool key
    widened: np.ndarray  # (R,)
    segment_size: np.ndarray  # (R,) the rep's segment incl. the rep (0 without segment)
    pools: dict[str | None, _Pool] = field(default_factory=dict)
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
    flagged: np.ndarray
    impact: np.ndarray
    focus: list[list[int]]  # metric positions, best first
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
        present = [c for c in self.catalogue.columns if c in frame.columns]
        raw: dict[str, np.ndarray] = {}
        for column in present:
            grid = np.full((reps, span), np.nan)
            grid[rows, cols] = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
            raw[column] = grid
        has_row = np.zeros((reps, span), dtype=bool)
        for grid in raw.values():
            has_row |= np.isfinite(grid)
        self._raw = raw
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
            bottom = (
                np.ones((reps, span)) if terms is None else self._linear(terms, zero, top.shape)
            )
            ok = np.isfinite(top) & np.isfinite(bottom)
            valid[i], num[i], den[i] = ok, np.where(ok, top, 0.0), np.where(ok, bottom, 0.0)
        self._num, self._den, self._valid = num, den, valid
        with np.errstate(divide="ignore", invalid="ignore"):
            self._monthly = np.where(valid & (den > 0), num / den, np.nan)  # single-month values

        def cumulative(a: np.ndarray) -> np.ndarray:
            c = np.cumsum(a, axis=-1, dtype=float)
            return np.concatenate([np.zeros(c.shape[:-1] + (1,)), c], axis=-1)

        self._cum_num, self._cum_den = cumulative(num), cumulative(den)
        self._cum_valid, self._cum_rows = cumulative(valid), cumulative(has_row)
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
        """The latest month with data, as YYYY-MM."""
        if not self._data_months:
            raise GapError("no metrics loaded: import monthly metrics first")
        return format_month(max(self._data_months))

    def report(self, email: str, month: str | None = None, today: date | None = None) -> GapReport:
        """One rep's gaps for `month` (default: the latest month with data).

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
        """Evaluate every rep for `month` (default: the latest with data) once, with the month
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
        sizes: dict[str | None, int] = {}
        for seg in np.array(self._segments, dtype=object)[eligible]:
            sizes[seg] = sizes.get(seg, 0) + 1
        pool_of: list[str | None] = []
        widened = np.zeros(len(self._segments), dtype=bool)
        segment_size = np.zeros(len(self._segments), dtype=int)
        for i, seg in enumerate(self._segments):
            if seg is None:
                pool_of.append(_ALL)
                continue
            # The group *including* the rep decides whether to widen.
            size = sizes.get(seg, 0) - int(eligible[i]) + 1
            segment_size[i] = size
            widened[i] = size < self.config.min_peer_group
            pool_of.append(_ALL if widened[i] else seg)
        number = self._first + t
        window = list(range(number - self.config.window_months + 1, number + 1))
        return _Month(
            t, window, num, den, count, value, has_data, extras, pool_of, widened, segment_size
        )

    def _pool(self, state: _Month, key: str | None) -> _Pool:
        if key in state.pools:
            return state.pools[key]
        members = self._active & state.has_data
        if key is not _ALL:
            members = members & (np.array(self._segments, dtype=object) == key)
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
        med, top, pct, est, cred = (np.full((n, k), np.nan) for _ in range(5))
        peer_count = np.zeros((n, k), dtype=int)
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
        for m, metric in enumerate(self.metrics):
            higher = metric.direction == "higher"
            values = state.value[reps, m]
            position = gather([pool.position[m] for pool in pools])
            figures = peer_figures(
                [pool.sorted_values[m] for pool in pools], pool_of, values, position >= 0, higher
            )
            med[:, m], top[:, m], pct[:, m] = (
                figures.median,
                figures.top_quartile,
                figures.percentile,
            )
            peer_count[:, m] = figures.count
            # Pools with fewer than two members have no fit: their reps get no estimate.
            fitted = [p for p, pool in enumerate(pools) if pool.fits[m] is not None]
            fit_of = np.full(len(pools), -1)
            fit_of[fitted] = np.arange(len(fitted))
            ok = (state.den[reps, m] > 0) & (fit_of[pool_of] >= 0)
            if focus_only:
                ok &= (values - figures.median) * (1 if higher else -1) < 0
            if not ok.any():
                continue
            est[ok, m], cred[ok, m] = posterior(
                [pools[p].fits[m] for p in fitted],
                fit_of[pool_of[ok]],
                state.num[reps[ok], m],
                state.den[reps[ok], m],
                position[ok],
                higher,
            )

        value = state.value[reps]
        sign = np.array([1.0 if m.direction == "higher" else -1.0 for m in self.metrics])
        worse = (value - med) * sign < 0  # strictly worse than the raw peer median
        flagged = worse & (cred >= self.config.flag_threshold)
        impact = self._impact(state, reps, value, med)
        focus = self._focus(flagged, impact, cred)
        return _Results(
            reps, med, top, pct, peer_count, peer_size, est, cred, flagged, impact, focus
        )

    def _impact(
        self, state: _Month, reps: np.ndarray, value: np.ndarray, med: np.ndarray
    ) -> np.ndarray:
        """Extra monthly bookings if the rep moved to the peer median on one metric, all else equal.

        Funnel metrics go through leads → connects → discovery calls → demos → wins × deal size,
        using the rep's own monthly volumes; win rate through decided deals × deal size;
        opportunities worked and sales cycle through sales velocity (the rep's own bookings scale
        with opportunities and with 1 / cycle). Other metrics have no bookings link: NaN.
        """
        n = len(reps)
        impact = np.full((n, len(self.metrics)), np.nan)
        nan = np.full(n, np.nan)
        pos = self._pos

        def v(key: str) -> np.ndarray:
            return value[:, pos[key]] if key in pos else nan

        def m(key: str) -> np.ndarray:
            return med[:, pos[key]] if key in pos else nan

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
                impact[:, pos[key]] = (m(key) - v(key)) * volume * downstream
            if "win_rate" in pos:
                decided = per_month("win_rate", state.den)
                impact[:, pos["win_rate"]] = (
                    (m("win_rate") - v("win_rate")) * decided * v("avg_deal_size")
                )
            # Sales velocity = opportunities × win rate × deal size ÷ cycle: the rep's own
            # bookings scale with opportunities and with 1 / cycle.
            own_bookings = per_month("avg_deal_size", state.num)
            if "opportunities_worked" in pos:
                ratio = m("opportunities_worked") / v("opportunities_worked") - 1.0
                impact[:, pos["opportunities_worked"]] = own_bookings * ratio
            if "sales_cycle_days" in pos:
                ratio = v("sales_cycle_days") / m("sales_cycle_days") - 1.0
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
        with np.errstate(divide="ignore", invalid="ignore"):
            own = _needed(quota, lambda key: column(value, key))
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
        results.table = table
        return table

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
            else {"quota": quota, **{name: table[name][row] for name in ("own", "team", "actual")}}
        )
        return GapReport.model_validate(
            {
                "rep": str(self._emails[rep]),
                "name": self._names[rep],
                "segment": self._segments[rep],
                "month": format_month(state.window[-1]),
                "window": [format_month(x) for x in state.window],
                "peer_group": {
                    "segment": state.pool_of[rep],
                    "size": table["peer_size"][row],
                    "widened": bool(state.widened[rep]),
                },
                "ramping": ramping,
                "metrics": metrics,
                "focus": [self.metrics[i].key for i in focus],
                "focus_note": self._focus_note(metrics, focus),
                "targets": targets,
                "trend": self._trend(state, table, row, rep, focus, previous_focus),
                "inherited": inherited,
                "warnings": self._warnings(state, table, row, rep, metrics, ramping, day),
            }
        )

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

    def _focus_note(self, metrics: list[dict[str, Any]], focus: list[int]) -> str | None:
        if focus:
            return None
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
            f"Below the peer median on {', '.join(below)}, but not by more than noise "
            "explains: no credible gap this month."
        )

    def _warnings(
        self,
        state: _Month,
        table: dict[str, list[Any]],
        row: int,
        rep: int,
        metrics: list[dict[str, Any]],
        ramping: bool,
        day: date,
    ) -> list[str]:
        cfg = self.config
        warnings = []
        size = table["peer_size"][row]
        segment = self._segments[rep]
        if state.widened[rep]:
            warnings.append(
                f"Only {state.segment_size[rep]} reps in {segment} (fewer than "
                f"{cfg.min_peer_group}); compared with all {size} other reps."
            )
        elif segment is None and any(s is not None for s in self._segments):
            warnings.append(f"No segment on file; compared with all {size} other reps.")
        if size + 1 < cfg.min_peer_group:
            warnings.append(f"Only {size} peers with data: peer figures are rough.")
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
    "flagged",
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
