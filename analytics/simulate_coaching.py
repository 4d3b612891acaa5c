"""Coaching histories with a known effect, to measure verdicts and the coaching ROI.

An org from `analytics.simulate.realistic_parts` is generated as usual for all its months. The
last `coached_months` are then replayed month by month: the gap engine runs on the data so far
(the months before), and every rep with a focus in that report is either coached on it (a plan
in the month, on the focus metrics) or left alone (a control). A rep is coached or not as a
whole, decided once with probability `coach_share` when first given a focus: managers coach a
rep or they don't, and a month-by-month coin would make controls of reps coached the month
before.

With `lift`, each month a rep is coached on a metric moves their TRUE value of it toward the
segment's typical value by `lift` of the remaining gap (0.25: a quarter of the gap closed per
month coached; the effect stays). The metric's own driver in the simulation moves (opportunities
per demo for opportunities worked, decided share of demos for close rate), and that rep-month's
counts are drawn again from the new true values, through the funnel as `realistic_org` draws
them, from a stream of its own. Every other rep-month keeps the org's counts: with `lift=0` the
metrics are exactly `realistic_org`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics.catalogue import Catalogue, load_catalogue
from analytics.gaps import GapEngine, format_month
from analytics.simulate import _REALISTIC_PLANT, realistic_parts

__all__ = ["CoachedHistory", "Control", "SimulatedPlan", "simulate_coaching"]


@dataclass(frozen=True)
class SimulatedPlan:
    """A coaching plan: made in `month` (YYYY-MM) for `rep` on the report of the month before;
    `targets[i]` is the target set on `focus[i]` (the peer median, or None)."""

    month: str
    rep: str
    focus: tuple[str, ...]
    targets: tuple[float | None, ...]


@dataclass(frozen=True)
class Control:
    """A rep flagged with `metric` as a focus in the report before `month`, given no plan."""

    month: str
    rep: str
    metric: str


@dataclass(frozen=True)
class CoachedHistory:
    """A simulated coaching history: the engine's inputs, the plans, the controls and the truth.

    `true_lift` is the realised relative lift on coached metrics: per coached (rep, metric),
    the true value with coaching over the true value without (inverted where lower is better),
    averaged over the months from its first plan to the last month; the geometric mean over
    coached rep-metrics, minus 1 (None without plans). `truth` is realistic_org's per-rep truth.
    """

    people: pd.DataFrame
    metrics: pd.DataFrame
    plans: list[SimulatedPlan]
    controls: list[Control]
    true_lift: float | None
    truth: pd.DataFrame
    coached_reps: frozenset[str] = field(default_factory=frozenset)


def simulate_coaching(
    seed: int,
    *,
    reps: int = 50,
    months: int = 12,
    coached_months: int = 6,
    lift: float = 0.0,
    coach_share: float = 0.7,
    target_share: float = 0.5,
    level: str = "SMB",
    end_month: str = "2026-06",
    weak_share: float = 0.12,
    small_segment: int = 5,
    catalogue: Catalogue | None = None,
) -> CoachedHistory:
    """A coaching history of `months` months whose last `coached_months` have plans.

    `reps` reps at `level` (plus `small_segment` Enterprise reps), `weak_share` of them with a
    material weakness (see realistic_org). Each plan's focus metric gets the report's peer
    median as its target with probability `target_share`. Deterministic given the seed.
    """
    if not 0 < coached_months < months:
        raise ValueError("coached_months: between 1 and months - 1")
    if not 0.0 <= lift < 1.0:
        raise ValueError("lift: a share of the gap, from 0 up to 1")
    catalogue = catalogue or load_catalogue()
    org = realistic_parts(
        level, reps, seed, months, end_month, weak_share=weak_share, small_segment=small_segment
    )
    emails = [r.email for r in org.reps]
    row_of = {email: i for i, email in enumerate(emails)}
    counts = {key: np.array(value, dtype=float) for key, value in org.counts.items()}
    baseline = {attr: value.copy() for attr, value in org.values.items()}
    current = {attr: value.copy() for attr, value in org.values.items()}
    # Who is coached, and which targets are set, is drawn per rep (and month) from streams of
    # their own: the same reps are coached whatever the lift, so histories compare across lifts.
    coached = {
        email: bool(np.random.default_rng([seed, 3, i]).random() < coach_share)
        for i, email in enumerate(emails)
    }
    given: set[str] = set()
    plans: list[SimulatedPlan] = []
    controls: list[Control] = []
    # Per coached (rep, metric): the true-value ratio (coached ÷ uncoached) of each month on.
    ratios: dict[tuple[int, str], list[float]] = {}
    n_months = len(org.months)
    for t in range(n_months - coached_months, n_months):
        month = format_month(int(org.months[t]))
        so_far = org.frame(counts)
        so_far = so_far[so_far["month"] < month]
        engine = GapEngine(so_far, org.people, catalogue)
        for report in engine.reports(format_month(int(org.months[t - 1]))):
            if not report.focus:
                continue
            given.add(report.rep)
            if not coached[report.rep]:
                controls.extend(Control(month, report.rep, key) for key in report.focus)
                continue
            i = row_of[report.rep]
            medians = {m.key: m.peer_median for m in report.metrics}
            draws = np.random.default_rng([seed, 4, i, t]).random(len(report.focus))
            targets = tuple(
                medians.get(key) if u < target_share else None
                for key, u in zip(report.focus, draws.tolist(), strict=True)
            )
            plans.append(SimulatedPlan(month, report.rep, tuple(report.focus), targets))
            for key in report.focus:
                ratios.setdefault((i, key), [])
                if lift > 0:
                    _coach(current, org.levels, i, _REALISTIC_PLANT[key], lift)
        changed = [
            i for i in range(len(emails)) if any(current[a][i] != baseline[a][i] for a in current)
        ]
        for i in changed:
            drawn = org.draw(current, i, t, np.random.default_rng([seed, 2, i, t]))
            for key, value in drawn.items():
                counts[key][i, t] = value
        for (i, key), series in ratios.items():
            attr = _REALISTIC_PLANT[key]
            ratio = current[attr][i] / baseline[attr][i]
            series.append(1.0 / ratio if attr == "cycle" else ratio)
    true_lift = (
        float(np.exp(np.mean([np.log(np.mean(series)) for series in ratios.values()])) - 1.0)
        if ratios
        else None
    )
    return CoachedHistory(
        people=org.people,
        metrics=org.frame(counts),
        plans=plans,
        controls=controls,
        true_lift=true_lift,
        truth=org.truth,
        coached_reps=frozenset(email for email in given if coached[email]),
    )


def _coach(
    values: dict[str, np.ndarray], levels: dict[str, np.ndarray], rep: int, attr: str, lift: float
) -> None:
    """One month of coaching: `lift` of the gap to the typical value closed (none if better)."""
    gap = levels[attr][rep] - values[attr][rep]
    worse = gap > 0 if attr != "cycle" else gap < 0
    if worse:
        values[attr][rep] += lift * gap
