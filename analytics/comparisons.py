"""Fair comparisons where a rep's own peer group cannot set the benchmark alone.

Two cases (analytics/README.md, "Against whom"):

* A peer group under `min_peer_group` reps: its level is its own, but a handful of reps cannot
  say how far apart reps naturally are. Conversion rates borrow that spread from the whole org
  after each group's rates are brought to the small group's level (`adjusted_pool`); volumes,
  deal sizes and cycles of another motion are never borrowed.
* A ramping rep: compared with what reps did in the same tenure months, from the org's whole
  history (`tenure_windows` finds those windows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.catalogue import ShrinkageModel
from analytics.shrinkage import PoolFit, fit_pool


@dataclass(frozen=True)
class Adjusted:
    """One rep's level-adjusted pool for one conversion metric."""

    fit: PoolFit | None  # None with fewer than two usable peers
    across: int  # peers from other groups in it
    level_trials: float  # the denominator behind the rep's group level (the rep left out)


def adjusted_pool(
    model: ShrinkageModel,
    k: np.ndarray,
    n: np.ndarray,
    k_month: np.ndarray,
    n_month: np.ndarray,
    eligible: np.ndarray,
    group: np.ndarray,
    rep: int,
) -> Adjusted:
    """The peers of `rep` on one rate: every eligible rep of the org (pooled counts k, n; monthly
    counts (R, months)), each with their rate scaled by (the rep's group level ÷ their own
    group's level).

    A level is a group's pooled rate, the rep left out: the rep's own group is compared as it
    is (factor 1). A member's own counts are part of its group's level, which pulls relative
    values slightly toward 1 in small groups (a narrower spread: the cautious side, since a
    narrow spread shrinks the rep harder toward the level). Members alone in their group (a
    relative value of exactly 1) are left out. Month-to-month noise is each member's own, so
    monthly counts are not scaled.
    """
    use = eligible & (n > 0)
    use[rep] = False
    groups = int(group.max()) + 1 if len(group) else 0
    total_k = np.bincount(group[use], weights=k[use], minlength=groups)
    total_n = np.bincount(group[use], weights=n[use], minlength=groups)
    members = np.bincount(group[use], minlength=groups)
    own = group[rep]
    with np.errstate(divide="ignore", invalid="ignore"):
        target = total_k[own] / total_n[own]
        level = total_k[group] / total_n[group]
    ok = use & (members[group] >= 2) & np.isfinite(level) & (level > 0)
    if not (np.isfinite(target) and target > 0) or ok.sum() < 2:
        return Adjusted(None, 0, float(total_n[own]))
    factor = target / level[ok]
    fit = fit_pool(model, k[ok] * factor, n[ok], k_month[ok], n_month[ok])
    return Adjusted(fit, int((ok & (group != own)).sum()), float(total_n[own]))


def level_discount(n: np.ndarray, level_trials: np.ndarray) -> np.ndarray:
    """The factor on a rep's counts that adds the uncertainty of their group's level to theirs.

    A rate relative to a level estimated from N trials has (roughly) the variance of 1/n + 1/N
    in units of one trial: the rep's counts weigh as n·N/(n + N) trials.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(level_trials > 0, level_trials / (n + level_trials), 0.0)


def tenure_windows(
    start: np.ndarray, tenure: int, last: int, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Reps (indices among `start`) whose tenure month `tenure` lies within month indices
    [0, last], and the month indices of their window ending then (J, window; -1 before the data).

    `start` holds each rep's start month index (tenure month 1) on the same axis, or a value
    below -10**6 when unknown.
    """
    end = start + tenure - 1
    reps = np.flatnonzero((end >= 0) & (end <= last) & (start > -(10**6)))
    months = end[reps, None] - np.arange(window - 1, -1, -1)[None, :]
    return reps, np.where(months >= 0, months, -1)


def detrended(k_month: np.ndarray, n_month: np.ndarray) -> np.ndarray:
    """Monthly counts (J, months) of a tenure cohort with the ramp curve taken out: each column
    divided by that tenure month's level relative to the cohort's overall level.

    Month-to-month noise is measured within each rep's months; a ramp (30% of full volume in
    month 1, 55% in month 2...) would otherwise count as noise and blur every comparison.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        level = k_month.sum(axis=0) / n_month.sum(axis=0)
        relative = level / (k_month.sum() / n_month.sum())
    relative = np.where(np.isfinite(relative) & (relative > 0), relative, 1.0)
    return k_month / relative[None, :]
