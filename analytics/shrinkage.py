"""Empirical-Bayes shrinkage of a rep's pooled value toward their peer group.

Three models share one shape. Each rep has pooled counts (k, n): successes over trials for
`beta_binomial`, events over exposure for `gamma_poisson`, amount over units for `normal`. The
peers' true values are modelled as a distribution centred on the peers' pooled value, whose spread
is expressed as a prior strength E (in units of n: the prior counts as much as E trials). E is not
plugged in from a single estimate: it is averaged over a log-spaced grid, weighted by how well each
E explains the peers' counts (a flat prior over log E). With few or homogeneous peers the data
cannot rule out "everyone is alike", so that grid keeps a good deal of weight on strong pooling;
that is what keeps noise from being flagged. A small broad component lets a rep who is clearly
unlike their peers be judged on their own numbers.

Month-to-month swings beyond pure count noise are measured on the peers (Pearson dispersion within
each rep's months for the count models; the pooled within-rep variance for `normal`) and widen every
rep's uncertainty accordingly (quasi-likelihood), so a volatile metric is not over-trusted.

Everything fitted to "the peers" leaves the rep out. It is vectorised over reps; a `PoolFit` holds
one peer pool's counts and whole-pool fit for one metric and month.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

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
# Up to this many members, each rep's peer fit is recomputed without them (exact leave-one-out);
# beyond it the rep's own share of the pool's noise level and spread is negligible.
EXACT_LIMIT = 25


@dataclass(frozen=True)
class PoolFit:
    """A peer pool's counts for one metric and month, and the fit of the whole pool."""

    model: ShrinkageModel
    k: np.ndarray  # members' pooled counts (J,), clipped to their range, not yet scaled
    n: np.ndarray
    noise_sum: np.ndarray  # members' month-to-month noise: Pearson χ², or Σ n·(x − x̄)² (normal)
    noise_df: np.ndarray  # its degrees of freedom per member
    # The whole pool's fit: used as is for reps outside the pool.
    centre: float
    scale: float  # dispersion φ (count models) or per-unit variance σ² (normal)
    strength: np.ndarray  # the grid of prior strengths E, (G,)
    log_like: np.ndarray  # Σ over members of each one's marginal log-likelihood, (G,)


def fit_pool(
    model: ShrinkageModel,
    k: np.ndarray,
    n: np.ndarray,
    k_month: np.ndarray,
    n_month: np.ndarray,
) -> PoolFit | None:
    """Fit the peer distribution to the members' pooled counts (k, n > 0) and monthly counts
    (shape (J, months)). None with fewer than two members: there is nothing to shrink toward."""
    if len(k) < 2:
        return None
    k, n = _clip(model, np.asarray(k, float), np.asarray(n, float))
    noise_sum, noise_df = _noise(model, k_month, n_month)
    centre, scale, strength, log_like = _fit(
        model,
        k[None, :],
        n[None, :],
        noise_sum[None, :],
        noise_df[None, :],
        np.ones((1, len(k)), dtype=bool),
    )
    return PoolFit(model, k, n, noise_sum, noise_df, centre[0], scale[0], strength[0], log_like[0])


def posterior(
    fits: list[PoolFit],
    pool_of: np.ndarray,
    k: np.ndarray,
    n: np.ndarray,
    member_index: np.ndarray,
    higher_is_better: bool,
    gap: float = 0.0,
    material_from: float = np.inf,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shrunk estimate, credibility, the peers' typical value and materiality for reps with
    pooled counts (k, n > 0).

    Rep i is compared with the pool `fits[pool_of[i]]` (all fits are of one metric);
    `member_index[i]` is its position among that pool's members, or -1 when it is not one. The
    prior is fitted to the peers only: a member is left out of the fit (noise level, centre and
    spread), exactly for pools up to EXACT_LIMIT members; above that, only their counts and
    likelihood term are taken out (their share of the noise level is then small). The rep's
    prior is that peer distribution mixed with a small weight (`BROAD_WEIGHT`) of a broad one
    centred on the same value: a rep may simply be unlike their peers, and then their own
    numbers must speak for themselves instead of being shrunk back to the pack. Credibility is
    the posterior probability that the rep's true value is worse than the median true value of
    the peers. The typical value is that median (the noise-free counterpart of the peer median).
    Materiality is the probability that the rep's true value is worse than the typical value by
    at least the relative `gap` (below typical × (1 − gap), or above typical × (1 + gap) when
    lower is better); it is computed only where credibility ≥ `material_from` (a gap cannot be
    material unless it is credible), NaN elsewhere. NaN where a rep has fewer than two peers.
    """
    model = fits[0].model
    k, n = _clip(model, np.asarray(k, float), np.asarray(n, float))
    sizes = np.array([len(f.k) for f in fits])
    members = sizes[pool_of]
    centre = np.array([f.centre for f in fits])[pool_of]
    scale = np.array([f.scale for f in fits])[pool_of]
    strength = np.stack([f.strength for f in fits])[pool_of]
    log_peers = np.stack([f.log_like for f in fits])[pool_of]
    inside = member_index >= 0
    exact = inside & (members <= EXACT_LIMIT)
    if exact.any():
        centre[exact], scale[exact], strength[exact], log_peers[exact] = _fit_without(
            fits, pool_of[exact], member_index[exact]
        )
    shortcut = inside & ~exact
    if shortcut.any():
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        own = offsets[pool_of[shortcut]] + member_index[shortcut]
        own_k = np.concatenate([f.k for f in fits])[own]
        own_n = np.concatenate([f.n for f in fits])[own]
        ks, ns = _scaled(model, own_k, own_n, scale[shortcut])
        log_peers[shortcut] -= _log_like(
            model,
            ks[:, None],
            ns[:, None],
            centre[shortcut, None],
            strength[shortcut],
            scale[shortcut, None],
        )
        totals_k = np.array([f.k.sum() for f in fits])[pool_of[shortcut]]
        totals_n = np.array([f.n.sum() for f in fits])[pool_of[shortcut]]
        centre[shortcut] = (totals_k - own_k) / (totals_n - own_n)
    has_peers = (members - inside.astype(int) >= 2) & np.isfinite(centre) & (n > 0)
    centre = _clip_centre(model, np.where(has_peers, centre, 0.5))
    scale = np.where(has_peers, scale, 1.0)
    log_peers = np.where(has_peers[:, None], log_peers, 0.0)
    strength = np.where(has_peers[:, None], strength, 1.0)
    ks, ns = _scaled(model, k, np.where(n > 0, n, 1.0), scale)
    kc, nc, cc, sc = ks[:, None], ns[:, None], centre[:, None], scale[:, None]

    # p(E | peers) over the grid, and the peers' typical true value: the fitted distribution's
    # median, averaged over the grid. One reference for every component of the rep's posterior
    # keeps credibility monotone in the rep's own counts.
    p_grid = _normalise(log_peers)
    p_grid[p_grid < _MIN_WEIGHT] = 0.0
    p_grid /= p_grid.sum(axis=1, keepdims=True)
    medians = _prior_median(model, cc, strength, p_grid > 0)
    peer_median = (p_grid * np.where(p_grid > 0, medians, 0.0)).sum(axis=1, keepdims=True)

    # Posterior weights of the components: prior weight × the rep's own marginal likelihood.
    broad = _broad_strength(model, cc, sc)
    log_w = np.concatenate(
        [
            np.log1p(-BROAD_WEIGHT)
            + np.log(np.where(p_grid > 0, p_grid, 1.0))
            + _masked_log_like(model, kc, nc, cc, strength, sc, p_grid > 0),
            np.log(BROAD_WEIGHT) + _log_like(model, kc, nc, cc, broad, sc),
        ],
        axis=1,
    )
    weight = _normalise(log_w)
    weight[weight < _MIN_WEIGHT] = 0.0
    weight /= weight.sum(axis=1, keepdims=True)
    mean, below = _posterior_terms(
        model,
        kc,
        nc,
        cc,
        np.concatenate([strength, broad], axis=1),
        sc,
        np.broadcast_to(peer_median, weight.shape),
        weight > 0,
    )
    estimate = (weight * mean).sum(axis=1)
    p_below = (weight * below).sum(axis=1)
    credibility = np.where(
        has_peers, np.clip(p_below if higher_is_better else 1.0 - p_below, 0.0, 1.0), np.nan
    )
    material = np.full(len(k), np.nan)
    rows = np.flatnonzero(credibility >= material_from)
    if len(rows):
        # The same posterior, asked about a line `gap` worse than the typical value.
        line = peer_median[rows] * (1.0 - gap if higher_is_better else 1.0 + gap)
        _, below_line = _posterior_terms(
            model,
            kc[rows],
            nc[rows],
            cc[rows],
            np.concatenate([strength[rows], broad[rows]], axis=1),
            sc[rows],
            np.broadcast_to(line, weight[rows].shape),
            weight[rows] > 0,
        )
        p_line = (weight[rows] * below_line).sum(axis=1)
        material[rows] = np.clip(p_line if higher_is_better else 1.0 - p_line, 0.0, 1.0)
    typical = np.where(has_peers, peer_median[:, 0], np.nan)
    return np.where(has_peers, estimate, np.nan), credibility, typical, material


def _fit_without(
    fits: list[PoolFit], pool_of: np.ndarray, member_index: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact leave-one-out fits: each row's pool refitted without that member.

    The small pools' members are laid out in a padded (pools × largest pool) block so all rows
    are fitted in one vectorised pass.
    """
    width = max(len(fits[p].k) for p in np.unique(pool_of))
    block = {name: np.zeros((len(fits), width)) for name in ("k", "n", "noise_sum", "noise_df")}
    present = np.zeros((len(fits), width), dtype=bool)
    for p in np.unique(pool_of):
        size = len(fits[p].k)
        for name, values in block.items():
            values[p, :size] = getattr(fits[p], name)
        present[p, :size] = True
    mask = present[pool_of] & (np.arange(width)[None, :] != member_index[:, None])
    k, n, noise_sum, noise_df = (
        block[name][pool_of] for name in ("k", "n", "noise_sum", "noise_df")
    )
    return _fit(fits[0].model, k, n, noise_sum, noise_df, mask)


def _noise(
    model: ShrinkageModel, k_month: np.ndarray, n_month: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each member's month-to-month noise around their own pooled value, and its df.

    Count models: the Pearson χ² of the rep's months (a rep whose months are all 0% or 100% says
    nothing about noise and counts for nothing). `normal`: Σ n·(x − x̄)², the within-rep sum of
    squares of one unit (e.g. of one deal).
    """
    used = n_month > 0
    k_month = np.where(used, k_month, 0.0)
    n_month = np.where(used, n_month, 0.0)
    k, n = k_month.sum(axis=1), n_month.sum(axis=1)
    df = np.maximum(used.sum(axis=1) - 1, 0).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n > 0, k / n, np.nan)[:, None]
        if model == "normal":
            x = k_month / np.where(used, n_month, 1.0)
            return np.where(used, n_month * (x - rate) ** 2, 0.0).sum(axis=1), df
        p = np.clip(rate, 0.0, 1.0) if model == "beta_binomial" else rate
        expected = n_month * p
        variance = expected * (1.0 - p) if model == "beta_binomial" else expected
        terms = np.where(used & (variance > 0), (k_month - expected) ** 2 / variance, 0.0)
    informative = (used & (variance > 0)).any(axis=1)
    return np.where(informative, terms.sum(axis=1), 0.0), np.where(informative, df, 0.0)


def _upper(df: np.ndarray) -> np.ndarray:
    """Divide a sum of squares by this instead of df for an upper confidence bound on the noise.

    A noise level estimated from few months is itself noisy; an underestimate would make peers
    look more different than they are and the rep's figures sharper than they are, which is how
    noise gets flagged. Taking the upper end of what the data allow costs little with many months
    of data (about 13% at 100 degrees of freedom) and protects small peer groups.
    """
    return special.chdtri(df, 1.0 - NOISE_CONFIDENCE_LOW)  # the χ²(df) quantile, fast


def _fit(
    model: ShrinkageModel,
    k: np.ndarray,
    n: np.ndarray,
    noise_sum: np.ndarray,
    noise_df: np.ndarray,
    mask: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fit the peer distribution once per row: row r's peers are the entries where `mask[r]`.

    All inputs are (rows, J). Returns per row: centre (pooled value), scale (φ or σ²), the
    strength grid (scaled to the peers' median n), and the peers' summed marginal log-likelihood
    over that grid.
    """
    w = mask.astype(float)
    count = w.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = (w * k).sum(axis=1) / (w * n).sum(axis=1)
        total, df = (w * noise_sum).sum(axis=1), (w * noise_df).sum(axis=1)
        noise = np.where(df > 0, total / _upper(np.maximum(df, 1.0)), np.nan)
        if model == "normal":
            # No peer has two months: count all the spread between peers as noise (cautious).
            value = np.where(mask, k / np.where(mask, n, 1.0), 0.0)
            spread = (w * n * (value - centre[:, None]) ** 2).sum(axis=1) / (count - 1)
            scale = np.where(df > 0, noise, spread)
            scale = np.maximum(scale, _EPS * np.maximum(centre * centre, 1.0))
        else:
            scale = np.where(df > 0, np.maximum(noise, 1.0), 1.0)
    ks, ns = _scaled(model, k, n, scale[:, None])
    # The median of each row's peers: sort with the others pushed to the end.
    ordered = np.sort(np.where(mask, ns, np.inf), axis=1)
    last = np.maximum(count.astype(int) - 1, 0)
    median = (
        np.take_along_axis(ordered, (last // 2)[:, None], axis=1)[:, 0]
        + np.take_along_axis(ordered, ((last + 1) // 2)[:, None], axis=1)[:, 0]
    ) / 2
    strength = GRID[None, :] * median[:, None]
    terms = _log_like(
        model,
        ks[:, :, None],
        np.where(mask, ns, 1.0)[:, :, None],
        centre[:, None, None],
        strength[:, None, :],
        scale[:, None, None],
    )
    log_like = np.where(mask[:, :, None], terms, 0.0).sum(axis=1)
    return centre, scale, strength, log_like


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
    scale: np.ndarray | float,
    mask: np.ndarray,
) -> np.ndarray:
    """`_log_like` where `mask`, -inf elsewhere (grid points without weight cost nothing)."""
    out = np.full(mask.shape, -np.inf)
    k, n, centre, strength, scale = (
        np.broadcast_to(x, mask.shape)[mask] for x in (k, n, centre, strength, scale)
    )
    out[mask] = _log_like(model, k, n, centre, strength, scale)
    return out


def _broad_strength(model: ShrinkageModel, centre: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Prior strength of the broad component: true values spread about as wide as the centre."""
    if model == "beta_binomial":
        return np.full_like(centre, 2.0)  # Beta(2μ, 2(1 − μ))
    if model == "gamma_poisson":
        return 1.0 / centre  # shape 1: exponential with the peers' mean
    return scale / np.maximum(centre * centre, _EPS)  # normal with sd = |centre|


def _clip(model: ShrinkageModel, k: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts as the model can take them.

    Bad data (wins above demos, negative net wins) must not break the model; the raw value
    shown to the manager is left as it is.
    """
    if model == "beta_binomial":
        return np.clip(k, 0.0, n), n
    return (np.maximum(k, 0.0), n) if model == "gamma_poisson" else (k, n)


def _scaled(
    model: ShrinkageModel, k: np.ndarray, n: np.ndarray, scale: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """Count models: counts divided by the dispersion φ (quasi-likelihood); `normal`: as is."""
    return (k, n) if model == "normal" else (k / scale, n / scale)


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
    scale: np.ndarray | float,
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
    scale: np.ndarray | float,
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
