"""Peer figures with the rep left out, vectorised over every rep of a peer pool.

Each rep is compared with the pool *minus themselves*. Rather than re-sorting the pool per rep,
the pool is sorted once and each rep's own position is skipped when indexing, which gives exactly
numpy's default ("linear") quantiles of the pool without the rep.
"""

from __future__ import annotations

import numpy as np


def quantile_without(
    sorted_values: np.ndarray, own_index: np.ndarray, is_member: np.ndarray, q: float
) -> np.ndarray:
    """Linear-interpolated q-quantile of `sorted_values` without each rep's own entry.

    `own_index[i]` is the position of rep i's value in `sorted_values` (any position among equal
    values will do); it is skipped when `is_member[i]`. NaN where no peer is left.
    """
    size = len(sorted_values) - is_member.astype(int)
    h = q * (size - 1)
    lo = np.floor(h).astype(int)
    hi = np.minimum(lo + 1, size - 1)
    t = h - lo

    def at(j: np.ndarray) -> np.ndarray:
        j = np.clip(j + (is_member & (j >= own_index)), 0, max(len(sorted_values) - 1, 0))
        return sorted_values[j] if len(sorted_values) else np.full(j.shape, np.nan)

    a, b = at(np.maximum(lo, 0)), at(np.maximum(hi, 0))
    diff = b - a
    # numpy's own lerp, so results match np.quantile to the last bit
    result = np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)
    return np.where(size > 0, result, np.nan)


def percentile_without(
    sorted_values: np.ndarray, values: np.ndarray, is_member: np.ndarray, higher_is_better: bool
) -> np.ndarray:
    """Share of peers (0–100) the rep beats; a tie with a peer counts as half a win.

    Ties count half so that a pool of identical values puts everyone at 50, not 0 or 100.
    NaN when the rep has no value or no peer is left.
    """
    member = is_member.astype(int)
    size = len(sorted_values) - member
    less = np.searchsorted(sorted_values, values, side="left")
    less_or_equal = np.searchsorted(sorted_values, values, side="right")
    equal = less_or_equal - less - member
    worse = less if higher_is_better else len(sorted_values) - less_or_equal
    with np.errstate(divide="ignore", invalid="ignore"):
        share = 100.0 * (worse + 0.5 * equal) / size
    return np.where((size > 0) & np.isfinite(values), share, np.nan)
