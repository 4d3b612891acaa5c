"""Gap engine, stage 3: from the estimates to advice.

`_evaluate` runs stage 2 for a set of reps, then decides: flagged = credible, material and
comparable; a shortfall its drivers explain is their consequence; impact in monthly bookings
ranks the focus; a rep without a focus gets a stretch; worked-back volumes beyond the peers'
top quartile are out of reach. Also last month's focus (for the trend) and the focus notes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special

from analytics.gap_estimates import GapEstimates, _Figures
from analytics.gap_window import _Month, _Results, format_month

_FUNNEL = (
    "leads_prospected",
    "connect_rate",
    "discovery_rate",
    "demo_rate",
    "close_rate",
    "avg_deal_size",
)
# A flag needs the gap credible (P(worse than the peers' typical value) ≥ flag_threshold) and
# material: P(worse by at least `material_gap`) ≥ this. Lower than the flag threshold because the
# second question is asked of a gap already known to be real. 0.7 balances the two advice goals
# on the tuning simulations, once opportunities are judged per demo: precision (≥ 85%) and clear
# weaknesses leading the focus (≥ 90%) (benchmarks/bench_advice.py, analytics/README.md).
MATERIAL_PROBABILITY = 0.7
# A metric with drivers is an independent weakness only if its own part (corrected for the
# drivers) is behind the material line with this confidence: otherwise it follows from upstream.
OWN_DRIVER_CONFIDENCE = 0.95
# Results (bookings, attainment) at or above this peer percentile: a shortfall on a metric with
# no bookings link is evidently not holding the rep back, and is no remedial focus.
TOP_RESULTS = 90.0


class GapAdvice(GapEstimates):
    """Flags, consequences, impact, focus and stretch, and the notes that explain them."""

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
        cfg = self.config
        fig = _Figures(*(np.full((n, k), np.nan) for _ in range(3)), np.zeros((n, k), dtype=int),
                       *(np.full((n, k), np.nan) for _ in range(4)))  # fmt: skip
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
        every = np.arange(n)
        for m in range(k):
            self._compare(
                fig, m, every, state.value[reps, m], state.num[reps, m], state.den[reps, m],
                [pool.sorted_values[m] for pool in pools], [pool.fits[m] for pool in pools],
                pool_of, gather([pool.position[m] for pool in pools]), focus_only,
            )  # fmt: skip
        cohort_size = self._against_cohorts(state, reps, fig, focus_only)
        adjusted, borrowed = self._against_adjusted(state, reps, fig, cohort_size >= 0)
        med, top, pct, peer_count = fig.median, fig.top, fig.percentile, fig.count
        est, cred, typical, material = fig.estimate, fig.credibility, fig.typical, fig.material

        value = state.value[reps]
        sign = np.array([1.0 if m.direction == "higher" else -1.0 for m in self.metrics])
        line = typical * (1.0 - cfg.material_gap * sign)
        worse = (value - med) * sign < 0  # strictly worse than the raw peer median
        comparable = self._comparable(state, reps, cohort_size >= 0, borrowed)
        flagged = (
            worse & (cred >= cfg.flag_threshold) & (material >= MATERIAL_PROBABILITY) & comparable
        )
        own = self._driver_factor(value, typical, sign)
        consequence = self._consequences(
            flagged, value, own, self._log_variance(state, reps), typical, line, sign
        )
        consequence[consequence == -2] = -1  # unflagged: nothing to show
        # A count that follows from its drivers is also judged by its own part (opportunities
        # per demo): credibly and materially behind the peers' own parts is a weakness of its
        # own, whatever its volume's month swings hide. Its credibility and materiality are then
        # the own part's. Against the group only (a tenure cohort judges volumes as they are).
        for j, (own_cred, own_material) in self._own_parts(
            state, reps, pools, pool_of, rows_of
        ).items():
            by_own = (
                worse[:, j]
                & comparable[:, j]
                & (cohort_size < 0)
                & (own_cred >= cfg.flag_threshold)
                & (own_material >= MATERIAL_PROBABILITY)
            )
            flagged[by_own, j] = True
            consequence[by_own, j] = -1
            cred[by_own, j], material[by_own, j] = own_cred[by_own], own_material[by_own]
        # Advice rests on the estimates: the raw value of a small sample would overstate a gap.
        current = np.where(np.isfinite(est), est, value)
        # A count with drivers is worth only its own part: the drivers' shortfall is theirs.
        impact = self._impact(state, reps, current * own, med)
        outcome = np.array([m.kind == "outcome" for m in self.metrics])
        # Results at the top of the peers: a leading indicator without a bookings link is
        # evidently not holding the rep back, so it is no remedial focus (the stretch remains).
        # Evidently: the results are also credibly above the peers' typical value (a lucky
        # quarter at the top is no evidence that nothing holds the rep back).
        ahead = 1.0 - np.nan_to_num(cred[:, outcome], nan=1.0) >= cfg.flag_threshold
        top_results = ((np.nan_to_num(pct[:, outcome], nan=0.0) >= TOP_RESULTS) & ahead).any(axis=1)
        linked = np.isfinite(impact)
        focus = self._focus(
            flagged & (consequence < 0) & ~(top_results[:, None] & ~linked), impact, cred
        )
        stretch: list[tuple[int, float] | None] = [None] * n
        if not focus_only:
            upside = self._impact(state, reps, current, top)
            upside = np.where(comparable & (upside > 0), upside, -np.inf)
            best = np.argmax(upside, axis=1)
            gain = upside[np.arange(n), best]
            stretch = [
                None if chosen or not math.isfinite(g) else (b, g)
                for chosen, b, g in zip(focus, best.tolist(), gain.tolist(), strict=True)
            ]
        return _Results(
            reps, med, top, pct, peer_count, peer_size, est, cred, line, material, comparable,
            flagged, consequence, impact, focus, stretch, cohort_size, adjusted,
        )  # fmt: skip

    def _driver_factor(
        self, value: np.ndarray, typical: np.ndarray, sign: np.ndarray
    ) -> np.ndarray:
        """(n, K): × this turns a metric's value into its own part, corrected for every driver
        (see _consequences); 1 for metrics without drivers or drivers without a value."""
        out = np.ones(value.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(sign > 0, typical / value, value / typical)  # > 1: a driver trails
        for j, metric in enumerate(self.metrics):
            drivers = [self._pos[d] for d in metric.drivers if d in self._pos]
            if drivers:
                known = np.isfinite(ratio[:, drivers])
                factor = np.prod(np.where(known, ratio[:, drivers], 1.0), axis=1)
                out[:, j] = factor if sign[j] > 0 else 1.0 / factor
        return out

    def _consequences(
        self,
        flagged: np.ndarray,
        value: np.ndarray,
        own: np.ndarray,
        variance: np.ndarray,
        typical: np.ndarray,
        line: np.ndarray,
        sign: np.ndarray,
    ) -> np.ndarray:
        """(n, K): for a flagged metric whose shortfall its drivers explain, the flagged driver
        that explains most, or -2 when no driver is flagged; -1 elsewhere. Updates `flagged`.

        A weak stage lowers every count downstream of it. A metric with drivers is judged by its
        own driver: its value is corrected for every driver (× typical ÷ value of each, the
        other way round when lower is better: a rep with a strong funnel above gets no credit for
        it). Raw values, not estimates: each metric is shrunk by its own amount, while the raw
        ratio is exactly the rep's own conversion (opportunities per demo, say), with the
        month's swings cancelled. Unless the corrected value is credibly
        (`OWN_DRIVER_CONFIDENCE`) materially behind — judged on a log scale with the count noise
        of its own count and of its drivers' — the shortfall is a consequence: of a flagged
        driver (shown as such, not as a second focus), or of several small shortfalls upstream,
        none material (then it is no flag at all).
        """
        z = float(special.ndtri(OWN_DRIVER_CONFIDENCE))
        out = np.full(flagged.shape, -1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(sign > 0, typical / value, value / typical)  # > 1: a driver trails
        for j, metric in enumerate(self.metrics):
            drivers = [self._pos[d] for d in metric.drivers if d in self._pos]
            if not drivers:
                continue
            known = np.isfinite(ratio[:, drivers])
            corrected = value[:, j] * own[:, j]  # its own part (_driver_factor)
            with np.errstate(divide="ignore", invalid="ignore"):
                behind = np.log(line[:, j] / corrected) * sign[j]  # > 0: still behind the line
                # The own part's noise: its count's and every driver's (for opportunities
                # worked the terms telescope to 1/opportunities + 1/demos). A driver counting
                # the same numerator (win rate for close rate: both count wins) shares that
                # noise, which cancels in the ratio: for close rate ÷ win rate, decided deals ÷
                # demos, 1/decided − 1/demos = |v_close − v_win|.
                total = variance[:, j].copy()
                for d in drivers:
                    shared = self.metrics[d].numerator_terms == metric.numerator_terms
                    own_noise = np.minimum(variance[:, j], variance[:, d]) if shared else 0.0
                    total += variance[:, d] - 2.0 * own_noise
                noise = np.sqrt(np.maximum(total, 0.0))
            explained = flagged[:, j] & ~(behind >= z * noise)
            cause = flagged[:, drivers] & known
            main = np.array(drivers)[np.argmax(np.where(cause, ratio[:, drivers], -np.inf), axis=1)]
            out[explained, j] = np.where(cause.any(axis=1), main, -2)[explained]
            flagged[explained & ~cause.any(axis=1), j] = False
        return out

    def _impact(
        self, state: _Month, reps: np.ndarray, current: np.ndarray, med: np.ndarray
    ) -> np.ndarray:
        """Extra monthly bookings if the rep moved from `current` (the estimates) to `med` (the
        peer median, or the top quartile for a stretch) on one metric, all else equal.

        Funnel metrics go through leads → connects → discovery calls → demos → wins × deal size,
        using the rep's own monthly volumes and downstream rates; win rate through decided deals
        × deal size; opportunities worked and sales cycle through sales velocity (the rep's own
        bookings scale with opportunities and with 1 / cycle). Other metrics have no bookings
        link: NaN.
        """
        value = state.value[reps]
        n = len(reps)
        impact = np.full((n, len(self.metrics)), np.nan)
        nan = np.full(n, np.nan)
        pos = self._pos

        def v(key: str) -> np.ndarray:
            return value[:, pos[key]] if key in pos else nan

        def m(key: str) -> np.ndarray:
            return med[:, pos[key]] if key in pos else nan

        def c(key: str) -> np.ndarray:
            return current[:, pos[key]] if key in pos else nan

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
                impact[:, pos[key]] = (m(key) - c(key)) * volume * downstream
            if "win_rate" in pos:
                decided = per_month("win_rate", state.den)
                impact[:, pos["win_rate"]] = (
                    (m("win_rate") - c("win_rate")) * decided * v("avg_deal_size")
                )
            # Sales velocity = opportunities × win rate × deal size ÷ cycle: the rep's own
            # bookings scale with opportunities and with 1 / cycle.
            own_bookings = per_month("avg_deal_size", state.num)
            if "opportunities_worked" in pos:
                ratio = m("opportunities_worked") / c("opportunities_worked") - 1.0
                impact[:, pos["opportunities_worked"]] = own_bookings * ratio
            if "sales_cycle_days" in pos:
                ratio = c("sales_cycle_days") / m("sales_cycle_days") - 1.0
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
        rows = np.searchsorted(results.reps, with_data).tolist()
        return {i: results.focus[row] for i, row in zip(with_data.tolist(), rows, strict=True)}

    # ---------------------------------------------------------------- stretch, reach, notes

    @staticmethod
    def _reach(
        own: dict[str, np.ndarray],
        actual: dict[str, np.ndarray],
        top_leads: np.ndarray,
        top_opportunities: np.ndarray,
    ) -> list[list[str]]:
        """Per rep, the worked-back volumes beyond the peers' top quartile (out of reach): more
        activity alone cannot close that gap."""
        out: list[list[str]] = []
        with np.errstate(invalid="ignore"):
            leads = own["leads_prospected"] > np.fmax(top_leads, actual["leads_prospected"])
            opportunities = own["opportunities"] > top_opportunities
        for lead, opportunity in zip(leads.tolist(), opportunities.tolist(), strict=True):
            out.append(
                [name for name, hit in (("leads_prospected", lead), ("opportunities", opportunity))
                 if hit]
            )  # fmt: skip
        return out

    def _stretch(
        self, pick: tuple[int, float] | None, metrics: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        """The stretch of a rep without a focus: upside toward the top quartile on one metric."""
        if pick is None:
            return None
        m, upside = pick
        figures = metrics[m]
        return {
            "key": figures["key"],
            "label": figures["label"],
            "value": figures["value"],
            "estimate": figures["estimate"],
            "top_quartile": figures["top_quartile"],
            "upside": upside,
            "sentence": (
                f"Stretch goal: reaching the peers' top quartile on {figures['label'].lower()} "
                f"is worth about {upside:,.0f} a month in bookings."
            ),
        }

    def _reach_note(
        self, table: dict[str, Any], row: int, metrics: list[dict[str, Any]], focus: list[int]
    ) -> dict[str, Any]:
        """Out-of-reach targets and the lever that would have to move instead: the first focus
        metric when it is a rate, else the funnel rate where the rep ranks lowest among those
        the rep is compared on (a small group's deal size, say, is another motion's)."""
        out = table["out_of_reach"][row]
        if not out:
            return {"out_of_reach": [], "lever": None, "note": None}
        rates = [self._pos[k] for k in _FUNNEL[1:] + ("win_rate",) if k in self._pos]
        chosen = [m for m in focus if m in rates]
        ranked = sorted(
            (m for m in rates if metrics[m]["percentile"] is not None and metrics[m]["compared"]),
            key=lambda m: metrics[m]["percentile"],
        )
        lever = (chosen or ranked or [None])[0]
        own = table["own"][row]
        need = own["leads_prospected"] if "leads_prospected" in out else own["opportunities"]
        what = "leads" if "leads_prospected" in out else "opportunities"
        label = "another lever" if lever is None else self.metrics[lever].label.lower()
        return {
            "out_of_reach": out,
            "lever": None if lever is None else self.metrics[lever].key,
            "note": (
                f"Quota at today's rates takes {need:,.0f} {what} a month, beyond what the "
                f"peers' top quartile does: {label} has to move too."
                if need is not None and math.isfinite(need)
                # A zero rate on the way (no wins yet, say): no volume makes quota.
                else f"Quota can't be reached at today's rates with more {what} alone: "
                f"{label} has to move too."
            ),
        }

    def _focus_note(self, metrics: list[dict[str, Any]], focus: list[int]) -> str | None:
        if focus:
            return None
        flagged = [m for m in metrics if m["flagged"] and m["kind"] != "outcome"]
        if any(m["consequence_of"] is None for m in flagged):
            labels = ", ".join(m["label"] for m in flagged)
            return (
                f"Behind the peers on {labels}, but results are at the top of the peers and it "
                "has no direct link to bookings: worth a conversation, not a month's focus."
            )
        if flagged:
            return (
                f"{', '.join(m['label'] for m in flagged)} trail the peers as a consequence of "
                "another stage: no separate focus this month."
            )
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
            f"Below the peer median on {', '.join(below)}, but not credibly by "
            f"{self.config.material_gap:.0%} or more (noise and the natural spread between reps "
            "explain it): no material gap this month."
        )
