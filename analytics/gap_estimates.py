"""Gap engine, stage 2: each rep's figures and posterior against the right comparison.

The peer group's sorted values give the median, top quartile and percentile (`analytics.peers`);
the shrinkage posterior gives the estimate, credibility and materiality (`analytics.shrinkage`).
Ramping reps are compared with their tenure cohort, reps of small groups with level-adjusted
rates across the org (`analytics.comparisons`); `_comparable` says what each rep may be flagged on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from analytics.comparisons import adjusted_pool, detrended, level_discount, tenure_windows
from analytics.gap_window import GapWindow, _Cohort, _Month
from analytics.peers import peer_figures
from analytics.shrinkage import PoolFit, fit_pool, posterior

# Catalogue kinds a ramping rep is compared on with tenured peers: conversion only (volumes,
# deal sizes and cycles of a rep building a territory are not yet theirs to coach).
_RAMP_COMPARABLE = ("conversion",)
# Against reps in the same tenure months, volumes too; a ramping rep's first few deals (size,
# cycle) and accounts are still too few and too inherited to judge, even against a cohort.
_COHORT_COMPARABLE = ("activity", "conversion", "outcome")


@dataclass
class _Figures:
    """(n, K) peer figures and posterior results being filled in by GapAdvice._evaluate."""

    median: np.ndarray
    top: np.ndarray
    percentile: np.ndarray
    count: np.ndarray
    estimate: np.ndarray
    credibility: np.ndarray
    typical: np.ndarray
    material: np.ndarray


class GapEstimates(GapWindow):
    """Peer figures and posteriors: against the group, a tenure cohort or adjusted levels."""

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

    def _own_parts(
        self,
        state: _Month,
        reps: np.ndarray,
        pools: list[Any],
        pool_of: np.ndarray,
        rows_of: list[np.ndarray],
    ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Per count metric with a unit driver (`_unit_of`): each rep's credibility and
        materiality of its own part (the count per unit, e.g. opportunities per demo) against
        the peers' own parts in its pool; NaN without units or a fit."""
        cfg = self.config
        out = {}
        for j, d in self._unit_of.items():
            cred, material = np.full(len(reps), np.nan), np.full(len(reps), np.nan)
            fits = [pool.own_fits[j] for pool in pools]
            position = np.empty(len(reps), dtype=int)
            for rows, pool in zip(rows_of, pools, strict=True):
                position[rows] = pool.own_position[j][reps[rows]]
            k, n = state.num[reps, j], state.num[reps, d]
            fitted = [p for p, fit in enumerate(fits) if fit is not None]
            fit_of = np.full(len(fits), -1)
            fit_of[fitted] = np.arange(len(fitted))
            ok = (n > 0) & (state.den[reps, j] > 0) & (fit_of[pool_of] >= 0)
            if ok.any():
                _, cred[ok], _, material[ok] = posterior(
                    [fits[p] for p in fitted],  # type: ignore[misc]
                    fit_of[pool_of[ok]],
                    k[ok],
                    n[ok],
                    position[ok],
                    self.metrics[j].direction == "higher",
                    gap=cfg.material_gap,
                    material_from=cfg.flag_threshold,
                )
            out[j] = (cred, material)
        return out

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
        for row in np.flatnonzero(self._ramping_in_window(state, reps)).tolist():
            rep = int(reps[row])
            tenure = state.window[-1] - int(self._start_month[rep]) + 1
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
        # Positions are int32 (reps number far fewer than 2³¹), and one read-only "none" array
        # serves every metric not compared by cohort: a warm engine keeps a dozen cohorts.
        nowhere = np.full(len(self._emails), -1, dtype=np.int32)
        for m, metric in enumerate(self.metrics):
            if metric.kind not in _COHORT_COMPARABLE:
                position.append(nowhere)
                sorted_values.append(np.zeros(0))
                fits.append(None)
                continue
            valid = self._valid[m][rows, index] & used
            k_month = np.where(valid, self._num[m][rows, index], 0.0)
            n_month = np.where(valid, self._den[m][rows, index], 0.0)
            k, n = k_month.sum(axis=1), n_month.sum(axis=1)
            has = n > 0
            where = np.full(len(self._emails), -1, dtype=np.int32)
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
        ramping = self._ramping_in_window(state, reps) & ~cohort
        out = np.ones((len(reps), len(self.metrics)), dtype=bool)
        out[small] = borrowed[small]
        out[ramping[:, None] & ~ramp_ok[None, :]] = False
        out[cohort[:, None] & ~cohort_ok[None, :]] = False
        return out

    def _in_ramp(self, rep: int, state: _Month) -> bool:
        """Whether the window holds any of the rep's first `ramp_months` months of tenure."""
        tenure = self._tenure_month(rep, state.window[0])
        return tenure is not None and tenure <= self.config.ramp_months

    def _ramping_in_window(self, state: _Month, reps: np.ndarray) -> np.ndarray:
        """(n,) bool: `_in_ramp` of each of `reps`, at once."""
        tenure = state.window[0] - self._start_month[reps] + 1
        return self._has_start[reps] & (tenure <= self.config.ramp_months)

    def _log_variance(self, state: _Month, reps: np.ndarray) -> np.ndarray:
        """(n, K) the count noise of each metric's log value: 1/k − 1/n for a rate between two
        counts (binomial), 1/k for counts and ratios (Poisson), with k at least 1."""
        num = np.maximum(state.num[reps], 1.0)
        den = np.maximum(state.den[reps], num)
        binomial = np.array([m.model == "beta_binomial" for m in self.metrics])
        return 1.0 / num - np.where(binomial, 1.0 / den, 0.0)
