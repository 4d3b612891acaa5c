"""Did coaching work? The lift on coached metrics over what was expected without coaching.

A *run* is a rep coached on one metric: plans on it no more than `HORIZON` months apart. The
expectation without coaching is the gap engine's shrunk estimate in the report the run's first
plan was made on (the window ending the month before): it already discounts the luck that put
the rep behind. The run is judged on its months, from its first plan to `HORIZON - 1` months after
its last (within the period): observed counts against the counts that estimate expects, as a log
ratio (signed so that better is positive).

Reps whose report before a month had the metric as a focus and who had no plan that month are a
*comparison group* (control runs, judged the same way, up to the month before any plan of theirs):
their log ratio is what regression to the mean, ramp-up and the season give with no coaching.
The lift is exp(mean coached log ratio - control log ratio of the same metric) - 1, the control
figure of a metric pulled toward all controls' in proportion to how few it has (difference in
differences). Without controls, the lift is against the expectation alone (`method`).

The 90% interval comes from a cluster bootstrap: reps are drawn with replacement (a rep brings
all their runs, coached and control), everything recomputed, the 5th and 95th percentiles kept.
The lift in bookings: for a run whose metric has a bookings link, the engine's impact (extra
monthly bookings at the peer median, from the estimate) times the lift over the relative lift
that would reach the median — the engine's bookings links are linear in that relative change.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

from analytics.catalogue import Metric
from analytics.gaps import GapEngine, GapError, format_month, parse_month
from analytics.models import GapReport

__all__ = [
    "HORIZON",
    "CoachedPlan",
    "JudgedRuns",
    "Roi",
    "RoiRow",
    "Run",
    "coaching_roi",
    "estimate_roi",
    "judge_runs",
]

# Months a plan's effect is judged over when no plan on the metric follows: the plan's month and
# the two after it. Plans on a metric at most this far apart form one run with one expectation.
HORIZON = 3
CONFIDENCE = 0.9
# Controls of a metric count this many times less than the org's controls as a whole: a metric
# with 5 controls gets half its own figure and half the org-wide one.
CONTROL_PRIOR = 5.0
# Fewer coached reps than this in a row: no interval (a bootstrap over 1 or 2 reps says nothing).
MIN_REPS = 3
RESAMPLES = 2000
# How far, typically, the expectation at plan time may be off for flagged reps left alone, as a
# log ratio (±10%): the prior against which the comparison group's figure is weighed.
BIAS_SD = 0.1
# How much true effects differ between runs, as a variance of the log ratio (about ±30%): added
# to each run's count noise, so that a run on thousands of calls doesn't outweigh all others.
EFFECT_SPREAD = 0.1
# A plan made in a rep's first months is not judged: a new rep's volumes and rates climb without
# any coaching, and the estimate at plan time cannot say by how much.
RAMP_MONTHS = 6


@dataclass(frozen=True)
class CoachedPlan:
    """A plan: made in `month` (YYYY-MM) for `rep` on the metrics `focus`."""

    month: str
    rep: str
    focus: tuple[str, ...]


@dataclass(frozen=True)
class RoiRow:
    """The lift of a set of coached runs (the org's, a metric's or a manager's)."""

    coached: int  # plan focus metrics judged
    controls: int  # control rep-metrics used
    lift: float | None
    interval: tuple[float, float] | None
    bookings: float | None
    comparison_weight: float = 0.0  # how much the controls' figure counted (0 to 1)

    def as_json(self) -> dict[str, Any]:
        """The row's fields as the JSON contract names them."""
        return {
            "coached": self.coached,
            "controls": self.controls,
            "lift": self.lift,
            "interval": list(self.interval) if self.interval else None,
            "bookings": self.bookings,
            "comparison_weight": self.comparison_weight,
        }


@dataclass(frozen=True)
class Roi:
    """The coaching ROI of a period: for the org, per metric and per manager."""

    since: str | None
    until: str | None
    method: str  # "difference in differences", "against expectation" or "none"
    org: RoiRow
    by_metric: dict[str, RoiRow] = field(default_factory=dict)
    by_manager: dict[str, RoiRow] = field(default_factory=dict)
    coached_reps: int = 0
    control_reps: int = 0

    def as_json(self) -> dict[str, Any]:
        """`coach report roi --json`: one object."""
        return {
            "since": self.since,
            "until": self.until,
            "method": self.method,
            **self.org.as_json(),
            "coached_reps": self.coached_reps,
            "control_reps": self.control_reps,
            "by_metric": [{"key": k, **row.as_json()} for k, row in self.by_metric.items()],
            "by_manager": [
                {"manager_email": m, **row.as_json()} for m, row in self.by_manager.items()
            ],
        }


@dataclass
class Run:
    """A rep coached on one metric (or, for a control, flagged on it and left alone) from
    `start` to `last` (month numbers), and how it went against the expectation."""

    rep: str
    metric: str
    start: int  # month number of the first plan (or control month)
    last: int  # month number of the last one
    plans: int = 1
    log_ratio: float = math.nan
    weight: float = 0.0  # 1 / the log ratio's variance (count noise and a spread of effects)
    bookings_per_lift: float = math.nan  # extra monthly bookings per unit of relative lift


@dataclass(frozen=True)
class JudgedRuns:
    """The coached and control runs of a period, each judged (see the module docstring)."""

    since: str | None
    until: str | None
    coached: list[Run]
    controls: list[Run]


def coaching_roi(
    engine: GapEngine,
    plans: Iterable[CoachedPlan],
    managers: Mapping[str, str | None],
    since: str | None = None,
    until: str | None = None,
    reps: Collection[str] | None = None,
    resamples: int = RESAMPLES,
) -> Roi:
    """The lift of the coaching runs that start in `since`..`until` (months, inclusive):
    `estimate_roi` of `judge_runs` (see both)."""
    runs = judge_runs(engine, plans, since, until)
    return estimate_roi(runs, managers, reps, resamples)


def judge_runs(
    engine: GapEngine,
    plans: Iterable[CoachedPlan],
    since: str | None = None,
    until: str | None = None,
) -> JudgedRuns:
    """The runs that start in `since`..`until` (months, inclusive), coached and control, each
    with its log ratio against the expectation at plan time.

    `engine` is the gap engine on the workspace's data: the rep's own counts after the plan are
    its pooled counts (`GapWindow.counts`), as the expectation's were. `since` defaults to the
    first plan's month, `until` to the engine's latest full month. Runs on metrics the engine
    does not compute are left out.
    """
    plans = [p for p in plans if p.focus]
    latest = parse_month(engine.latest_month()) if _has_data(engine) else None
    end = min(parse_month(until), latest) if until and latest is not None else latest
    start = (
        parse_month(since) if since else min((parse_month(p.month) for p in plans), default=None)
    )
    label_since = format_month(start) if start is not None else since
    label_until = format_month(end) if end is not None else until
    if start is None or end is None or start > end:
        return JudgedRuns(label_since, label_until, [], [])
    known = {m.key: m for m in engine.metrics}
    reports = _Reports(engine)
    planned: dict[tuple[str, int], set[str]] = defaultdict(set)
    for p in plans:
        planned[(p.rep.strip().lower(), parse_month(p.month))].update(p.focus)
    coached = _runs(
        {(rep, key, month) for (rep, month), keys in planned.items() for key in keys},
        start,
        end,
    )
    control_months = set()
    for month in range(start, end + 1):
        for report in reports.month(month - 1):
            if (report.rep, month) in planned:
                continue
            for key in report.focus:
                # A rep coached on the metric lately still carries the plan's effect: no control.
                if not any(
                    key in planned.get((report.rep, month - b), ()) for b in range(1, HORIZON)
                ):
                    control_months.add((report.rep, key, month))
    controls = _runs(control_months, start, end)
    plan_months = defaultdict(list)
    for rep, month in planned:
        plan_months[rep].append(month)
    for run in coached:
        if run.metric in known:
            _judge(run, engine, reports, end, known[run.metric])
    for run in controls:
        later = [m for m in plan_months.get(run.rep, []) if m > run.start]
        stop = min(later) - 1 if later else end
        _judge(run, engine, reports, min(end, stop), known[run.metric])
    return JudgedRuns(
        label_since,
        label_until,
        [r for r in coached if math.isfinite(r.log_ratio)],
        [r for r in controls if math.isfinite(r.log_ratio)],
    )


def estimate_roi(
    runs: JudgedRuns,
    managers: Mapping[str, str | None],
    reps: Collection[str] | None = None,
    resamples: int = RESAMPLES,
) -> Roi:
    """The lift of judged runs for the org, per metric and per manager (`managers` maps a rep's
    email to their manager's), with cluster-bootstrap intervals. `reps` (emails) limits the
    runs, coached and control, to those reps (a director's division). Deterministic."""
    scope = None if reps is None else {r.strip().lower() for r in reps}
    coached = [r for r in runs.coached if _within(r, scope)]
    controls = [r for r in runs.controls if _within(r, scope)]
    return _estimate(coached, controls, managers, runs.since, runs.until, resamples)


def _within(run: Run, scope: set[str] | None) -> bool:
    return scope is None or run.rep in scope


def _has_data(engine: GapEngine) -> bool:
    try:
        engine.latest_month()
    except GapError:
        return False
    return True


def _runs(months: set[tuple[str, str, int]], start: int, end: int) -> list[Run]:
    """Runs of (rep, metric, month) no more than HORIZON months apart, starting in start..end."""
    by_pair: dict[tuple[str, str], list[int]] = defaultdict(list)
    for rep, key, month in months:
        if month <= end:  # a plan after the period is none of its business
            by_pair[(rep, key)].append(month)
    runs = []
    for (rep, key), found in sorted(by_pair.items()):
        current: Run | None = None
        for month in sorted(found):
            if current is not None and month - current.last <= HORIZON:
                current.last, current.plans = month, current.plans + 1
                continue
            current = Run(rep, key, month, month)
            runs.append(current)
    return [r for r in runs if start <= r.start <= end]


class _Reports:
    """The engine's reports per month number, computed once each ({rep: report})."""

    def __init__(self, engine: GapEngine) -> None:
        self.engine = engine
        self._cache: dict[int, dict[str, GapReport]] = {}

    def month(self, number: int) -> list[GapReport]:
        return list(self._of(number).values())

    def get(self, rep: str, number: int) -> GapReport | None:
        return self._of(number).get(rep)

    def _of(self, number: int) -> dict[str, GapReport]:
        if number not in self._cache:
            try:
                found = self.engine.reports(format_month(number))
            except GapError:  # a month without data: no report, no expectation
                found = []
            self._cache[number] = {r.rep: r for r in found}
        return self._cache[number]


def _judge(
    run: Run,
    engine: GapEngine,
    reports: _Reports,
    end: int,
    metric: Metric,
) -> None:
    """Fill the run's log ratio (observed ÷ expected counts) and bookings per unit of lift."""
    report = reports.get(run.rep, run.start - 1)
    figures = next((m for m in report.metrics if m.key == run.metric), None) if report else None
    if figures is None or figures.estimate is None or figures.estimate <= 0:
        return
    if report.ramping or (report.tenure_month is not None and report.tenure_month < RAMP_MONTHS):
        return
    last = min(run.last + HORIZON - 1, end)
    observed, exposure = engine.counts(
        run.rep, run.metric, format_month(run.start), format_month(last)
    )
    if exposure <= 0:
        return
    expected = figures.estimate * exposure
    if observed < 0 or expected <= 0:
        return
    sign = 1.0 if metric.direction == "higher" else -1.0
    # Half a count on both sides: a month with none of them stays finite.
    run.log_ratio = sign * math.log((observed + 0.5) / (expected + 0.5))
    noise = _log_variance(metric, observed, exposure)
    noise += _log_variance(metric, figures.numerator or 0.0, figures.denominator or 0.0)
    run.weight = 1.0 / (noise + EFFECT_SPREAD)
    median = figures.peer_median
    if figures.impact is not None and median is not None and median > 0:
        to_median = (median / figures.estimate if sign > 0 else figures.estimate / median) - 1.0
        if to_median > 0:
            run.bookings_per_lift = figures.impact / to_median


def _log_variance(metric: Metric, num: float, den: float) -> float:
    """The count noise of a metric's log value on these counts: 1/k - 1/n for a rate between
    two counts, 1/k for a count, and 1/n for an average of n things (deal sizes, cycles: a
    coefficient of variation of about 1), each with at least 1."""
    if metric.model == "beta_binomial":
        return 1.0 / max(num, 1.0) - 1.0 / max(den, num, 1.0)
    if metric.model == "gamma_poisson":
        return 1.0 / max(num, 1.0)
    return 1.0 / max(den, 1.0)


def _estimate(
    coached: list[Run],
    controls: list[Run],
    managers: Mapping[str, str | None],
    since: str | None,
    until: str | None,
    resamples: int,
) -> Roi:
    """The rows' lifts, with cluster-bootstrap intervals over reps."""
    reps = sorted({r.rep for r in coached} | {r.rep for r in controls})
    rep_index = {rep: i for i, rep in enumerate(reps)}
    keys = sorted({r.metric for r in coached} | {r.metric for r in controls})
    key_index = {key: i for i, key in enumerate(keys)}
    c_rep = np.array([rep_index[r.rep] for r in coached], dtype=int)
    c_key = np.array([key_index[r.metric] for r in coached], dtype=int)
    c_log = np.array([r.log_ratio for r in coached])
    c_weight = np.array([r.weight for r in coached])
    k_rep = np.array([rep_index[r.rep] for r in controls], dtype=int)
    k_key = np.array([key_index[r.metric] for r in controls], dtype=int)
    k_log = np.array([r.log_ratio for r in controls])
    k_weight = np.array([r.weight for r in controls])
    rng = np.random.default_rng(0)
    weights = np.vstack(
        [np.ones(len(reps)), rng.multinomial(len(reps), np.full(len(reps), 1 / max(len(reps), 1)),
                                             size=resamples)]
    ) if reps else np.ones((1, 0))  # fmt: skip
    adjust = _control_adjustment(weights, k_rep, k_key, k_log, k_weight, len(keys))  # (B+1, K)
    unit_weight = weights[:, c_rep] * c_weight[None, :]

    def row(members: np.ndarray) -> RoiRow:
        runs = [coached[i] for i in np.flatnonzero(members)]
        used = controls if members.all() else _controls_for(runs, controls)
        if not runs:
            return RoiRow(0, len(used), None, None, None)
        w = unit_weight[:, members]
        with np.errstate(invalid="ignore", divide="ignore"):
            total = w.sum(axis=1)
            observed = (w * c_log[members]).sum(axis=1) / total  # coached vs expectation
            comparison = (w * adjust[:, c_key[members]]).sum(axis=1) / total  # the controls'
        lift, interval, trust = _combine(
            observed, comparison, len({r.rep for r in runs}), len({c.rep for c in used})
        )
        per_lift = [r.bookings_per_lift for r in runs if math.isfinite(r.bookings_per_lift)]
        bookings = float(sum(per_lift) * lift) if per_lift and lift is not None else None
        return RoiRow(
            coached=sum(r.plans for r in runs),
            controls=len(used),
            lift=lift,
            interval=interval,
            bookings=bookings,
            comparison_weight=trust,
        )

    everyone = np.ones(len(coached), dtype=bool)
    by_metric = {key: row(c_key == key_index[key]) for key in sorted({r.metric for r in coached})}
    manager_of = np.array([managers.get(r.rep) or "" for r in coached], dtype=object)
    by_manager = {
        manager: row(manager_of == manager)
        for manager in sorted({m for m in manager_of.tolist() if m})
    }
    org = row(everyone)
    return Roi(
        since=since,
        until=until,
        method=_method(org),
        org=org,
        by_metric=by_metric,
        by_manager=by_manager,
        coached_reps=len({r.rep for r in coached}),
        control_reps=len({r.rep for r in controls}),
    )


def _method(org: RoiRow) -> str:
    """How the org's lift was reached: against the comparison group too, or only against the
    expectation at plan time (no comparison group, or one of a single rep)."""
    if org.lift is None:
        return "none"
    return "difference in differences" if org.comparison_weight > 0 else "against expectation"


def _combine(
    observed: np.ndarray, comparison: np.ndarray, coached_reps: int, control_reps: int
) -> tuple[float | None, tuple[float, float] | None, float]:
    """(lift, interval, weight of the comparison group) from the bootstrap draws (row 0: the
    data) of the coached runs' mean log ratio and of their controls' figure.

    The controls' figure estimates how far the expectation at plan time is off for reps left
    alone (regression to the mean the estimate didn't discount, ramp, season). It is trusted in
    proportion to its precision against a prior that the expectation is off by about BIAS_SD:
    weight = BIAS_SD² / (BIAS_SD² + its variance). The interval carries both the bootstrap's
    spread and what remains unknown about that offset (all of BIAS_SD without controls).
    """
    point = observed[0]
    if not math.isfinite(point):
        return None, None, 0.0
    prior = BIAS_SD**2
    usable = np.isfinite(observed[1:]) & np.isfinite(comparison[1:])
    variance = (
        float(np.var(comparison[1:][usable], ddof=1)) * control_reps / (control_reps - 1)
        if control_reps >= 2 and usable.sum() > 2
        else math.inf
    )
    trust = prior / (prior + variance)
    unknown = prior if math.isinf(variance) else trust * (1 - trust) * variance
    estimate = point - trust * comparison[0]
    lift = float(np.expm1(estimate))
    if coached_reps < MIN_REPS or usable.sum() < len(usable) // 2:
        return lift, None, trust
    # Few reps make a bootstrap too sure of itself: its spread is corrected for the number n
    # of coached reps (× √(n/(n−1)), as for a mean) and widened by Student's t with the smaller
    # group's reps less one as degrees of freedom (Welch's cautious choice).
    draws = observed[1:][usable] - trust * comparison[1:][usable]
    n = coached_reps
    spread = float(np.var(draws, ddof=1)) * n / (n - 1)
    df = min(n, control_reps) - 1 if trust > 0 else n - 1
    half = float(special.stdtrit(df, 0.5 + CONFIDENCE / 2)) * math.sqrt(spread + unknown)
    return lift, (float(np.expm1(estimate - half)), float(np.expm1(estimate + half))), trust


def _controls_for(runs: list[Run], controls: list[Run]) -> list[Run]:
    """The controls on the metrics of `runs`."""
    keys = {r.metric for r in runs}
    return [c for c in controls if c.metric in keys]


def _control_adjustment(
    weights: np.ndarray,
    rep: np.ndarray,
    key: np.ndarray,
    log: np.ndarray,
    precision: np.ndarray,
    n_keys: int,
) -> np.ndarray:
    """(draws, metrics): each metric's control log ratio, pulled toward all controls' by
    CONTROL_PRIOR, per weighting of the reps (row 0: the data as it is). 0 without controls;
    NaN in a draw that drew no control rep while the data has some."""
    if not len(log):
        return np.zeros((weights.shape[0], n_keys))
    w = weights[:, rep] * precision[None, :]  # (B, controls)
    total = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        overall = (w * log).sum(axis=1) / total
    onehot = np.zeros((len(log), n_keys))
    onehot[np.arange(len(log)), key] = 1.0
    sums, counts = (w * log) @ onehot, (weights[:, rep] > 0) @ onehot
    share = counts / (counts + CONTROL_PRIOR)
    with np.errstate(invalid="ignore", divide="ignore"):
        own = sums / (w @ onehot)
    return np.where(counts > 0, share * own + (1 - share) * overall[:, None], overall[:, None])
