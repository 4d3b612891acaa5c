"""Empirical-Bayes shrinkage of a rep's pooled value toward their peer group.

Three models share one shape. Each rep has pooled counts (k, n): successes over trials for
`beta_binomial`, events over exposure for `gamma_poisson`, amount over units for `normal`. The
peers' true values are modelled as a distribution centred on the peers' pooled value, whose spread
is expressed as a prior strength E (in units of n: the prior counts as much as E trials). E is not
plugged in from a single estimate: it is averaged over a log-spaced grid, weighted by how well each
E explains the peers' counts (a flat prior over log E). With few or homogeneous peers the data
cannot rule out "everyone is alike", so that grid keeps a good deal of weight on strong pooling;
that is what keeps noise from being flagged.

Month-to-month swings beyond pure count noise are measured on the peers (Pearson dispersion within
each rep's months for the count models; the pooled within-rep variance for `normal`) and widen every
rep's uncertainty accordingly (quasi-likelihood), so a volatile metric is not over-trusted.

Everything is vectorised over reps; a `PoolFit` is computed once per (peer pool, month, metric).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from analytics.catalogue import ShrinkageModel

# Prior strength grid, relative to the peers' median n: from "almost no pooling" to "complete".
GRID = np.logspace(-3.0, 4.0, 29)
_EPS = 1e-9
# Grid points carrying less posterior weight than this are skipped (they cannot move a result).
_MIN_WEIGHT = 1e-9


@dataclass(frozen=True)
class PoolFit:
    """The fitted peer distribution of one metric in one peer pool and month."""

    model: ShrinkageModel
    total_k: float  # Σ k over the pool's members (scaled by the dispersion)
    total_n: float  # Σ n over the pool's members (scaled by the dispersion)
    members: int
    centre: float  # the pool's pooled value, where `log_like` was evaluated
    strength: np.ndarray  # the grid of prior strengths E, shape (G,)
    log_like: np.ndarray  # Σ over members of each member's marginal log-likelihood, shape (G,)
    scale: float  # dispersion φ (count models) or per-unit variance σ² (normal)


def dispersion(model: ShrinkageModel, k_month: np.ndarray, n_month: np.ndarray) -> float:
    """Month-to-month noise of the members, from their monthly counts (shape (J, months)).

    Count models: Pearson χ² of each rep's months around the rep's own pooled value over its
    degrees of freedom (never below 1: we widen, never sharpen). `normal`: the pooled within-rep
    variance of one unit (e.g. of one deal), or NaN when no rep has two months with data.
    """
    used = n_month > 0
    k_month = np.where(used, k_month, 0.0)
    n_month = np.where(used, n_month, 0.0)
    k, n = k_month.sum(axis=1), n_month.sum(axis=1)
    df = np.maximum(used.sum(axis=1) - 1, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n > 0, k / n, np.nan)[:, None]
        if model == "normal":
            x = np.where(used, k_month / np.where(used, n_month, 1.0), rate)
            sq = (n_month * (x - rate) ** 2).sum(axis=1)
            total_df = df.sum()
            return float(sq.sum() / total_df) if total_df > 0 else float("nan")
        p = np.clip(rate, 0.0, 1.0) if model == "beta_binomial" else rate
        expected = n_month * p
        variance = expected * (1.0 - p) if model == "beta_binomial" else expected
        contrib = np.where(used & (variance > 0), (k_month - expected) ** 2 / variance, 0.0)
    # A rep whose months are all 0% (or 100%) tells nothing about the spread: drop its df too.
    informative = np.isfinite(rate[:, 0]) & (variance > 0).any(axis=1)
    total_df = df[informative].sum()
    if total_df <= 0:
        return 1.0
    return max(1.0, float(contrib[informative].sum() / total_df))


def fit_pool(
    model: ShrinkageModel,
    k: np.ndarray,
    n: np.ndarray,
    k_month: np.ndarray,
    n_month: np.ndarray,
) -> PoolFit | None:
    """Fit the peer distribution to the members' pooled counts (k, n > 0) and monthly counts.

    Returns None when there are fewer than two members: there is nothing to shrink toward.
    """
    if len(k) < 2:
        return None
    scale = dispersion(model, k_month, n_month)
    k, n = _prepare(model, k, n, scale)
    centre = float(k.sum() / n.sum())
    if model == "normal":
        if not np.isfinite(scale):
            # No rep has two months: count all the spread between reps as noise (the cautious end).
            scale = float((n * (k / n - centre) ** 2).sum() / (len(k) - 1))
        scale = max(scale, _EPS * max(centre * centre, 1.0))
    strength = GRID * float(np.median(n))
    log_like = _log_like(model, k[:, None], n[:, None], centre, strength, scale).sum(axis=0)
    return PoolFit(model, float(k.sum()), float(n.sum()), len(k), centre, strength, log_like, scale)


def posterior(
    fit: PoolFit,
    k: np.ndarray,
    n: np.ndarray,
    is_member: np.ndarray,
    higher_is_better: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Shrunk estimate and credibility for reps with pooled counts (k, n > 0).

    A rep who is a member of the pool is first taken out of it (their counts leave the centre and
    their own term leaves the likelihood), so the prior is fitted to the peers only. Credibility is
    the posterior probability that the rep's true value is worse than the median true value of
    the peer distribution. Returns NaN where a rep has no peers left.
    """
    k, n = _prepare(fit.model, k, n, fit.scale)
    member = is_member.astype(float)
    peers_k = fit.total_k - member * k
    peers_n = fit.total_n - member * n
    has_peers = (fit.members - is_member.astype(int) >= 2) & (peers_n > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = _clip_centre(fit.model, np.where(has_peers, peers_k / peers_n, fit.centre))
    strength = fit.strength[None, :]
    own = _log_like(fit.model, k[:, None], n[:, None], fit.centre, strength, fit.scale)
    log_w = fit.log_like[None, :] - member[:, None] * own
    log_w -= log_w.max(axis=1, keepdims=True)
    weight = np.exp(log_w)
    weight /= weight.sum(axis=1, keepdims=True)
    weight[weight < _MIN_WEIGHT] = 0.0

    kc, nc, cc = k[:, None], n[:, None], centre[:, None]
    mean, below = _posterior_terms(fit.model, kc, nc, cc, strength, fit.scale, weight > 0)
    estimate = (weight * mean).sum(axis=1)
    p_below = (weight * below).sum(axis=1)
    credibility = np.clip(p_below if higher_is_better else 1.0 - p_below, 0.0, 1.0)
    bad = ~has_peers | ~(n > 0)
    return np.where(bad, np.nan, estimate), np.where(bad, np.nan, credibility)


def _prepare(
    model: ShrinkageModel, k: np.ndarray, n: np.ndarray, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Counts as the model uses them: clipped to their range and divided by the dispersion."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    if model == "normal":
        return k, n
    # Bad data (wins above demos, negative net wins) must not break the model; the raw value
    # shown to the manager is left as it is.
    k = np.clip(k, 0.0, n) if model == "beta_binomial" else np.maximum(k, 0.0)
    return k / scale, n / scale


def _clip_centre(model: ShrinkageModel, centre: np.ndarray) -> np.ndarray:
    if model == "beta_binomial":
        return np.clip(centre, 1e-6, 1.0 - 1e-6)
    if model == "gamma_poisson":
        return np.maximum(centre, 1e-9)
    return centre


def _log_like(
    model: ShrinkageModel,
    k: np.ndarray,
    n: np.ndarray,
    centre: float,
    strength: np.ndarray,
    scale: float,
) -> np.ndarray:
    """Marginal log-likelihood of (k, n) under each prior strength, up to terms free of E."""
    c = float(_clip_centre(model, np.array(centre)))
    if model == "beta_binomial":
        a, b = c * strength, (1.0 - c) * strength
        return special.betaln(k + a, n - k + b) - special.betaln(a, b)
    if model == "gamma_poisson":
        a = c * strength
        return (
            special.gammaln(k + a)
            - special.gammaln(a)
            + a * np.log(strength / (strength + n))
            - k * np.log(strength + n)
        )
    variance = scale * (1.0 / n + 1.0 / strength)
    return -0.5 * np.log(variance) - (k / n - c) ** 2 / (2.0 * variance)


def _posterior_terms(
    model: ShrinkageModel,
    k: np.ndarray,
    n: np.ndarray,
    centre: np.ndarray,
    strength: np.ndarray,
    scale: float,
    needed: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per grid point: posterior mean, and P(true value < median of the prior)."""
    shape = np.broadcast_shapes(k.shape, strength.shape)
    if model == "normal":
        total = strength + n
        mean = (strength * centre + k) / total  # k is the amount: k / n is the rep's value
        below = special.ndtr((centre - mean) / np.sqrt(scale / total))
        return np.broadcast_to(mean, shape), np.broadcast_to(below, shape)
    a0 = np.broadcast_to(centre * strength, shape)
    b0 = np.broadcast_to((1.0 - centre) * strength if model == "beta_binomial" else strength, shape)
    a = a0 + k
    b = b0 + (n - k if model == "beta_binomial" else n)
    mean = a / (a + b) if model == "beta_binomial" else a / b
    below = np.zeros(shape)
    # The costly incomplete-beta/gamma calls run only where the grid point carries weight.
    a0n, b0n, an, bn = a0[needed], b0[needed], a[needed], b[needed]
    if model == "beta_binomial":
        median = special.betaincinv(a0n, b0n, 0.5)
        below[needed] = special.betainc(an, bn, median)
    else:
        median = special.gammaincinv(a0n, 0.5) / b0n
        below[needed] = special.gammainc(an, bn * median)
    return mean, below
