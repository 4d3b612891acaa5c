"""Peer figures with the rep left out, vectorised over every rep of every peer pool at once.

Each rep is compared with their pool *minus themselves*. Rather than re-sorting a pool per rep,
each pool is sorted once and each rep's own position is skipped when indexing, which gives exactly
numpy's default ("linear") quantiles of the pool without the rep.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PeerFigures:
    """Per rep: peer median, top quartile, percentile (NaN when not computable), peer count."""

    median: np.ndarray
    top_quartile: np.ndarray
    percentile: np.ndarray
    count: np.ndarray


def peer_figures(
    pools: list[np.ndarray],
    pool_of: np.ndarray,
    values: np.ndarray,
    is_member: np.ndarray,
    higher_is_better: bool,
) -> PeerFigures:
    """Figures of each rep against their pool without themselves.

    `pools` are the pools' sorted values; rep i belongs to `pools[pool_of[i]]` and, when
    `is_member[i]`, its own `values[i]` is one of them and is left out. The top quartile is the
    75th percentile (25th when lower is better). Percentile = share of peers the rep beats, a tie
    counting half, so a pool of identical values puts everyone at 50.
    """
    sizes = np.array([len(p) for p in pools], dtype=int)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
    flat = np.concatenate(pools) if len(pools) else np.zeros(0)
    member = is_member.astype(int)
    size = sizes[pool_of] - member
    offset = offsets[pool_of]

    # Count the pool's values below / up to each rep's value with one sorted search over all
    # pools: values become exact integer ranks, keyed by pool.
    finite = np.isfinite(values)
    levels = np.unique(np.concatenate([flat, values[finite]]))
    width = len(levels) + 1
    keys = np.repeat(np.arange(len(pools)), sizes) * width + np.searchsorted(levels, flat)
    query = pool_of * width + np.searchsorted(levels, np.where(finite, values, 0.0))
    less = np.searchsorted(keys, query, side="left") - offset
    less_or_equal = np.searchsorted(keys, query, side="right") - offset

    def quantile(q: float) -> np.ndarray:
        h = q * (size - 1)
        lo = np.floor(h).astype(int)
        hi = np.minimum(lo + 1, size - 1)
        t = h - lo

        def at(j: np.ndarray) -> np.ndarray:
            j = np.maximum(j, 0)
            j = j + (is_member & (j >= less))  # skip the rep's own entry
            index = np.clip(offset + j, 0, max(len(flat) - 1, 0))
            return flat[index] if len(flat) else np.full(len(j), np.nan)

        a, b = at(lo), at(hi)
        diff = b - a
        # numpy's own lerp, so results match np.quantile to the last bit
        result = np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)
        return np.where(size > 0, result, np.nan)

    equal = less_or_equal - less - member
    worse = less if higher_is_better else sizes[pool_of] - less_or_equal
    with np.errstate(divide="ignore", invalid="ignore"):
        share = 100.0 * (worse + 0.5 * equal) / size
    return PeerFigures(
        median=quantile(0.5),
        top_quartile=quantile(0.75 if higher_is_better else 0.25),
        percentile=np.where((size > 0) & finite, share, np.nan),
        count=size,
    )
