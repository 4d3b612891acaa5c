"""Gap engine, stage 1: the data loaded once, each month's window pooled, the peer pools.

`GapWindow` indexes the org chart and the monthly counts (formats in `analytics.gaps`) into
(metric, rep, month) arrays with cumulative sums, so any month's window is O(1); `_month` pools a
window for every rep and `_pool` fits a peer group on it. The dataclasses here are the state the
later stages (`gap_estimates`, `gap_advice`, `gap_report`) fill in and read.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from analytics.catalogue import Catalogue, Metric
from analytics.comparisons import Adjusted
from analytics.models import GapConfig
from analytics.shrinkage import PoolFit, fit_pool

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


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


def _each_distinct(column: pd.Series, function: Callable[[Any], Any]) -> pd.Series:
    """`column.map(function)`, calling it once per distinct value: 120,000 rows of metrics have
    a few thousand reps and a few dozen months."""
    codes, uniques = pd.factorize(column, use_na_sentinel=False)
    mapped = np.empty(len(uniques), dtype=object)
    mapped[:] = [function(x) for x in uniques]
    return pd.Series(mapped[codes], index=column.index)


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


def _linear(
    columns: dict[str, np.ndarray],
    terms: dict[str, float],
    zero: set[str],
    shape: tuple[int, int],
) -> np.ndarray:
    """A linear combination of count grids (a metric's numerator or denominator)."""
    total = np.zeros(shape)
    for column, coef in terms.items():
        values = columns.get(column)
        if values is None:
            continue  # an absent zero-if-missing column
        total = total + coef * (np.nan_to_num(values) if column in zero else values)
    return total


class _Grids:
    """Per metric, a reps × months grid of float64 values (a numerator or a denominator),
    indexed as the (metric, rep, month) array it stands for.

    A grid whose values all survive the round trip through float32 (whole counts below 2**24,
    as funnel counts are) is kept as float32: these are a warm engine's largest arrays. Every
    read hands back float64 copies of what it selects, so sums and ratios are computed on
    exactly the values, and in exactly the dtype, they were before.
    """

    def __init__(self, grids: list[np.ndarray], shape: tuple[int, int]) -> None:
        self._shape = shape
        self._grids = [_compact(grid) for grid in grids]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, tuple) and key[0] is Ellipsis:  # [..., months]: every metric
            if not self._grids:
                return np.zeros((0, *self._shape))[key]
            return np.stack([grid[:, key[1]].astype(np.float64) for grid in self._grids])
        if isinstance(key, tuple):  # [metric, rep, month]
            return np.float64(self._grids[key[0]][key[1:]])
        return _Grid(self._grids[key])


class _Grid:
    """One metric's grid of `_Grids`: whatever is selected, as float64."""

    __slots__ = ("_values",)

    def __init__(self, values: np.ndarray) -> None:
        self._values = values

    def __getitem__(self, key: Any) -> np.ndarray:
        return self._values[key].astype(np.float64)


def _compact(grid: np.ndarray) -> np.ndarray:
    """`grid` as float32 when every value converts back exactly, else as it is."""
    narrow = grid.astype(np.float32, copy=False)
    return narrow if np.array_equal(narrow, grid) else grid


@dataclass
class _Pool:
    """One peer pool in one month: its members, sorted values and fits per metric."""

    members: np.ndarray  # (R,) active reps with data in the window (and in the segment)
    member_of: list[np.ndarray]  # per metric: members with a value for it, (R,) bool
    position: list[np.ndarray]  # per metric: each rep's index among those members, or -1
    sorted_values: list[np.ndarray]
    fits: list[PoolFit | None]
    # Per count metric with a unit driver (GapWindow._unit_of): the fit of its own part (e.g.
    # opportunities per demo) and each rep's index among the members that have one, or -1.
    own_fits: dict[int, PoolFit | None] = field(default_factory=dict)
    own_position: dict[int, np.ndarray] = field(default_factory=dict)


@dataclass
class _Cohort:
    """Reps' windows ending in one tenure month, from the data's history, for one peer group."""

    reps: np.ndarray  # (J,) rep indices, one observation each
    position: list[np.ndarray]  # per metric: each rep's index among those with a value, or -1
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
    comparable: np.ndarray  # (n, K) bool: may be flagged (see GapEstimates._comparable)
    flagged: np.ndarray
    consequence_of: np.ndarray  # (n, K) the flagged driver explaining the shortfall, or -1
    impact: np.ndarray
    focus: list[list[int]]  # metric positions, best first
    stretch: list[tuple[int, float] | None]  # (metric, monthly upside) for reps without focus
    cohort_size: np.ndarray  # (n,) ramp cohort observations compared with, -1 when none
    adjusted: np.ndarray  # (n, 2): reps in the level-adjusted pool, of them from other groups
    table: dict[str, Any] | None = None  # the same by row as Python values, for assembling reports

    def row(self, rep: int) -> int:
        """The row of rep index `rep` (which must be among `reps`)."""
        return int(np.searchsorted(self.reps, rep))


class GapWindow:
    """The loaded data and each month's pooled window and peer pools (set up by GapEngine)."""

    catalogue: Catalogue
    config: GapConfig
    _months: dict[int, _Month]

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
        # Start months as numbers (year * 12 + month - 1), for tenure over many reps at once.
        self._has_start = np.array([s is not None for s in self._starts], dtype=bool)
        self._start_month = np.array(
            [0 if s is None else s.year * 12 + s.month - 1 for s in self._starts], dtype=int
        )
        active = frame["active"] if "active" in frame else pd.Series(True, index=frame.index)
        self._active = active.fillna(True).astype(bool).to_numpy()

    def _load_metrics(self, metrics: pd.DataFrame) -> None:
        missing = {"rep", "month"} - set(metrics.columns)
        if missing:
            raise GapError(f"metrics: missing column {sorted(missing)[0]!r}")
        frame = metrics.copy()
        frame["rep"] = _each_distinct(frame["rep"], lambda x: str(x).strip().lower())
        frame = frame[frame["rep"].isin(self._index)]  # managers' rows, unknown people: ignored
        months = _each_distinct(frame["month"], parse_month).to_numpy(dtype=int)
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
        # so far with the quota's share of the days covered. Needed only here: the grids (a
        # reps × months array per column, 16 MB at 5,000 reps × 24 months) are not kept.
        columns = {**raw, "quota": raw["quota"] * exposure} if "quota" in raw else raw
        self._has_row = has_row
        self._span = span

        # Metrics whose columns are all in the data (zero-if-missing columns may be absent).
        zero = set(self.catalogue.zero_if_missing)
        self.metrics: list[Metric] = [
            m for m in self.catalogue.metrics if all(c in raw or c in zero for c in m.columns)
        ]
        self._pos = {m.key: i for i, m in enumerate(self.metrics)}
        self._unit_of = self._unit_drivers()
        k = len(self.metrics)
        num: list[np.ndarray] = []
        den: list[np.ndarray] = []
        valid = np.zeros((k, reps, span), dtype=bool)
        for i, metric in enumerate(self.metrics):
            top = _linear(columns, metric.numerator_terms, zero, (reps, span))
            terms = metric.denominator_terms
            # A monthly count's denominator is the months it covers: less than 1 for a partial one.
            bottom = exposure if terms is None else _linear(columns, terms, zero, top.shape)
            ok = np.isfinite(top) & np.isfinite(bottom)
            valid[i] = ok
            # Narrowed as they are made: the float64 grids of every metric at once would raise
            # the load's peak memory.
            num.append(_compact(np.where(ok, top, 0.0)))
            den.append(_compact(np.where(ok, bottom, 0.0)))
        # Window sums are taken from these when a month is first asked for (a few months per
        # engine), not from cumulative copies of them kept for every month.
        self._num, self._den = _Grids(num, (reps, span)), _Grids(den, (reps, span))
        self._valid = valid
        # Months counted by exposure, so figures per month (volumes, worked-back targets) treat a
        # month-to-date row as the part of a month it is.
        self._exposure = exposure
        # Single columns summed over a window: quota (reported, positive months) and bluebirds.
        quota = raw.get("quota", np.full((reps, span), np.nan))
        quota_ok = np.isfinite(quota) & (quota > 0)
        self._extra = {
            "quota": np.where(quota_ok, quota, 0.0),
            "quota_months": quota_ok,
            **{
                c: np.nan_to_num(raw[c]) if c in raw else np.zeros((reps, span))
                for c in ("inherited_wins", "inherited_revenue")
            },
        }
        self._data_months = {self._first + t for t in np.flatnonzero(has_row.any(axis=0))}

    def _unit_drivers(self) -> dict[int, int]:
        """Count metrics that follow from a funnel of drivers -> the driver rate whose numerator
        counts the units they follow from (opportunities worked -> demo rate: demos). Such a
        count's own part is the count per unit, free of the upstream stages and of the busy
        and quiet months that move both."""
        out = {}
        for j, metric in enumerate(self.metrics):
            rates = [self._pos[d] for d in metric.drivers if d in self._pos]
            rates = [d for d in rates if self.metrics[d].denominator_terms is not None]
            if metric.denominator_terms is not None or not rates:
                continue
            feeding = [self.metrics[d].denominator_terms for d in rates]
            last = [d for d in rates if self.metrics[d].numerator_terms not in feeding]
            if len(last) == 1:
                out[j] = last[0]
        return out

    def _month_value(self, m: int, rep: int, t: int) -> float:
        """Metric `m` of one rep-month alone (NaN without one): computed when asked, since a
        reps × months array per metric would be kept for the few a report shows."""
        if not self._valid[m, rep, t] or self._den[m, rep, t] <= 0:
            return float("nan")
        return float(self._num[m, rep, t] / self._den[m, rep, t])

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

    # ---------------------------------------------------------------- the month axis

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
        """The month-to-month noise level measured on `key` in the rep's peer group for the
        window ending `month`: the dispersion φ of the count models, the per-unit variance of
        `normal`; None without a fit (fewer than two peers, unknown rep or metric)."""
        rep = int(self._index.get_indexer([str(email).strip().lower()])[0])
        m = self._pos.get(key)
        if rep < 0 or m is None:
            return None
        state = self._month(month)
        fit = self._pool(state, state.pool_of[rep]).fits[m]
        return None if fit is None else float(fit.scale)

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

    def _window(self, t: int) -> slice:
        """The months of the window ending at t."""
        return slice(max(t + 1 - self.config.window_months, 0), t + 1)

    def _window_sum(self, values: np.ndarray, t: int) -> np.ndarray:
        """Sum over the window ending at t (last axis: months)."""
        return values[..., self._window(t)].sum(axis=-1, dtype=float)

    # ---------------------------------------------------------------- peer groups and pools

    def _pool_window(self, t: int) -> _Month:
        num = self._window_sum(self._num, t).T
        den = self._window_sum(self._den, t).T
        window = self._window(t)
        count = np.where(self._valid[..., window], self._exposure[:, window], 0.0).sum(-1).T
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(den > 0, num / den, np.nan)
            quota = self._window_sum(self._extra["quota"], t) / self._window_sum(
                self._extra["quota_months"], t
            )
        extras = {
            "quota": quota,
            "inherited_wins": self._window_sum(self._extra["inherited_wins"], t),
            "inherited_revenue": self._window_sum(self._extra["inherited_revenue"], t),
        }
        has_data = self._window_sum(self._has_row, t) > 0
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
            where = np.full(len(has), -1, dtype=np.int32)  # kept per pool: int32 is plenty
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
        for j, d in self._unit_of.items():
            has = member_of[j] & (state.num[:, d] > 0)
            where = np.full(len(has), -1, dtype=np.int32)  # kept per pool: int32 is plenty
            where[has] = np.arange(int(has.sum()))
            both = self._valid[j][has, window] & self._valid[d][has, window]
            pool.own_position[j] = where
            pool.own_fits[j] = fit_pool(
                "gamma_poisson",
                state.num[has, j],
                state.num[has, d],
                np.where(both, self._num[j][has, window], 0.0),
                np.where(both, self._num[d][has, window], 0.0),
            )
        state.pools[key] = pool
        return pool
