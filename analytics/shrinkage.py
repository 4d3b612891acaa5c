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
from scipy import special, stats

from analytics.catalogue import ShrinkageModel

# Prior strength grid, relative to the peers' median n: from "almost no pooling" to "complete".
GRID = np.logspace(-3.0, 4.0, 15)
_EPS = 1e-9
# Grid points carrying less posterior weight than this are skipped (they cannot move a result).
_MIN_WEIGHT = 1e-9
# Prior weight of the broad component: the chance a rep is unlike their peers (see posterior).
BROAD_WEIGHT = 0.05
# Lower χ² quantile used for the noise level's upper confidence bound (see _upper).
NOISE_CONFIDENCE_LOW = 0.2


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
            x = k_month / np.where(used, n_month, 1.0)
            sq = np.where(used, n_month * (x - rate) ** 2, 0.0).sum(axis=1)
            total_df = df.sum()
            return float(sq.sum() / _upper(total_df)) if total_df > 0 else float("nan")
        p = np.clip(rate, 0.0, 1.0) if model == "beta_binomial" else rate
        expected = n_month * p
        variance = expected * (1.0 - p) if model == "beta_binomial" else expected
        contrib = np.where(used & (variance > 0), (k_month - expected) ** 2 / variance, 0.0)
    # A rep whose months are all 0% (or 100%) tells nothing about the spread: drop its df too.
    informative = np.isfinite(rate[:, 0]) & (variance > 0).any(axis=1)
    total_df = df[informative].sum()
    if total_df <= 0:
        return 1.0
    return max(1.0, float(contrib[informative].sum() / _upper(total_df)))


def _upper(df: float) -> float:
    """Divide a sum of squares by this instead of df for an upper confidence bound on the noise.

    A noise level estimated from few months is itself noisy; an underestimate would make peers
    look more different than they are and the rep's figures sharper than they are, which is how
    noise gets flagged. Taking the upper end of what the data allow costs little with many months
    of data (about 13% at 100 degrees of freedom) and protects small peer groups.
    """
    return float(stats.chi2.ppf(NOISE_CONFIDENCE_LOW, df))


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

    The prior is fitted to the peers only: a rep who is a member of the pool is taken out of it
    (their counts leave the centre, their own term leaves the likelihood). The rep's prior is that
    peer distribution, mixed with a small weight (`BROAD_WEIGHT`) of a broad one centred on the
    same value: a rep may simply be unlike their peers, and then their own numbers must speak for
    themselves instead of being shrunk back to the pack. Credibility is the posterior probability
    that the rep's true value is worse than the median true value of the peer distribution.
    NaN where a rep has no peers left.
    """
    k, n = _prepare(fit.model, k, n, fit.scale)
    member = is_member.astype(float)
    peers_k = fit.total_k - member * k
    peers_n = fit.total_n - member * n
    has_peers = (fit.members - is_member.astype(int) >= 2) & (peers_n > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = _clip_centre(fit.model, np.where(has_peers, peers_k / peers_n, fit.centre))
    kc, nc, cc = k[:, None], n[:, None], centre[:, None]
    strength = fit.strength[None, :]

    # p(E | peers) over the grid: the pool's likelihood without the rep's own term.
    own_in_pool = _log_like(fit.model, kc, nc, fit.centre, strength, fit.scale)
    p_grid = _normalise(fit.log_like[None, :] - member[:, None] * own_in_pool)
    p_grid[p_grid < _MIN_WEIGHT] = 0.0
    p_grid /= p_grid.sum(axis=1, keepdims=True)
    # The peers' typical true value: the fitted distribution's median, averaged over the grid.
    # One reference for every component keeps credibility monotone in the rep's own counts.
    medians = _prior_median(fit.model, cc, strength, p_grid > 0)
    peer_median = (p_grid * np.where(p_grid > 0, medians, 0.0)).sum(axis=1, keepdims=True)

    # Posterior weights of the components: prior weight × the rep's own marginal likelihood.
    broad = _broad_strength(fit.model, cc, fit.scale)
    log_w = np.concatenate(
        [
            np.log1p(-BROAD_WEIGHT)
            + np.log(np.where(p_grid > 0, p_grid, 1.0))
            + _masked_log_like(fit.model, kc, nc, cc, strength, fit.scale, p_grid > 0),
            np.log(BROAD_WEIGHT) + _log_like(fit.model, kc, nc, cc, broad, fit.scale),
        ],
        axis=1,
    )
    weight = _normalise(log_w)
    weight[weight < _MIN_WEIGHT] = 0.0
    weight /= weight.sum(axis=1, keepdims=True)
    mean, below = _posterior_terms(
        fit.model,
        kc,
        nc,
        cc,
        np.concatenate([np.broadcast_to(strength, p_grid.shape), broad], axis=1),
        fit.scale,
        np.broadcast_to(peer_median, weight.shape),
        weight > 0,
    )
    estimate = (weight * mean).sum(axis=1)
    p_below = (weight * below).sum(axis=1)
    credibility = np.clip(p_below if higher_is_better else 1.0 - p_below, 0.0, 1.0)
    bad = ~has_peers | ~(n > 0)
    return np.where(bad, np.nan, estimate), np.where(bad, np.nan, credibility)


def _normalise(log_w: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
    return w / w.sum(axis=1, keepdims=True)


def _masked_log_like(
    model: ShrinkageModel,
    k: np.ndarray,
    n: np.ndarray,
    centre: np.ndarray,
    strength: np.ndarray,
    scale: float,
    mask: np.ndarray,
) -> np.ndarray:
    """`_log_like` where `mask`, -inf elsewhere (grid points without weight cost nothing)."""
    out = np.full(mask.shape, -np.inf)
    parts = (np.broadcast_to(x, mask.shape)[mask] for x in (k, n, centre, strength))
    out[mask] = _log_like(model, *parts, scale)
    return out


def _broad_strength(model: ShrinkageModel, centre: np.ndarray, scale: float) -> np.ndarray:
    """Prior strength of the broad component: true values spread about as wide as the centre."""
    if model == "beta_binomial":
        return np.full_like(centre, 2.0)  # Beta(2μ, 2(1 − μ))
    if model == "gamma_poisson":
        return 1.0 / centre  # shape 1: exponential with the peers' mean
    return scale / np.maximum(centre * centre, _EPS)  # normal with sd = |centre|


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
    centre: float | np.ndarray,
    strength: np.ndarray,
    scale: float,
) -> np.ndarray:
    """Marginal log-likelihood of (k, n) under each prior (centre, strength).

    Exact up to terms that depend on neither the centre nor the strength, so components can be
    compared with each other.
    """
    c = _clip_centre(model, np.asarray(centre, float))
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


def _prior_median(
    model: ShrinkageModel, centre: np.ndarray, strength: np.ndarray, needed: np.ndarray
) -> np.ndarray:
    """Median of each prior (centre, strength); NaN where not `needed` (to skip costly calls)."""
    shape = needed.shape
    if model == "normal":
        return np.broadcast_to(centre, shape).astype(float)
    a = np.broadcast_to(centre * strength, shape)[needed]
    e = np.broadcast_to(strength, shape)[needed]
    out = np.full(shape, np.nan)
    if model == "beta_binomial":
        out[needed] = special.betaincinv(a, e - a, 0.5)
    else:
        out[needed] = special.gammaincinv(a, 0.5) / e
    return out


def _posterior_terms(
    model: ShrinkageModel,
    k: np.ndarray,
    n: np.ndarray,
    centre: np.ndarray,
    strength: np.ndarray,
    scale: float,
    reference: np.ndarray,
    needed: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per prior component: posterior mean, and P(true value < reference)."""
    shape = needed.shape
    if model == "normal":
        total = strength + n
        mean = (strength * centre + k) / total  # k is the amount: k / n is the rep's value
        with np.errstate(invalid="ignore"):
            below = special.ndtr((reference - mean) / np.sqrt(scale / total))
        return mean, np.where(needed, below, 0.0)
    a = centre * strength + k
    b = (1.0 - centre) * strength + n - k if model == "beta_binomial" else strength + n
    mean = np.broadcast_to(a / (a + b) if model == "beta_binomial" else a / b, shape)
    below = np.zeros(shape)
    # The costly incomplete-beta/gamma calls run only where a component carries weight.
    an, bn = np.broadcast_to(a, shape)[needed], np.broadcast_to(b, shape)[needed]
    ref = reference[needed]
    if model == "beta_binomial":
        below[needed] = special.betainc(an, bn, ref)
    else:
        below[needed] = special.gammainc(an, bn * ref)
    return mean, below
