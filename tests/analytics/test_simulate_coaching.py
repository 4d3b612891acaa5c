"""The coaching-history simulator: deterministic, no effect without a lift, a real one with."""

from __future__ import annotations

import functools

import numpy as np

from analytics.catalogue import load_catalogue
from analytics.gaps import GapEngine
from analytics.simulate import realistic_org
from analytics.simulate_coaching import CoachedHistory, simulate_coaching

CATALOGUE = load_catalogue()
SMALL = {"reps": 30, "months": 8, "coached_months": 3, "weak_share": 0.5, "catalogue": CATALOGUE}


@functools.cache
def history(seed: int, lift: float) -> CoachedHistory:
    return simulate_coaching(seed, lift=lift, **SMALL)  # type: ignore[arg-type]


def test_deterministic_per_seed() -> None:
    again = simulate_coaching(4, lift=0.25, **SMALL)  # type: ignore[arg-type]
    first = history(4, 0.25)
    assert again.metrics.equals(first.metrics)
    assert again.plans == first.plans and again.controls == first.controls
    assert again.true_lift == first.true_lift
    assert not history(5, 0.25).metrics.equals(first.metrics)


def test_plans_and_controls_follow_the_report_before() -> None:
    past = history(4, 0.0)
    assert past.plans and past.controls
    assert {p.month for p in past.plans} <= {"2026-04", "2026-05", "2026-06"}
    # The reps coached and the reps left alone are apart, and each plan's focus is what the
    # engine reports for the month before on the same data.
    assert not {p.rep for p in past.plans} & {c.rep for c in past.controls}
    engine = GapEngine(past.metrics, past.people, CATALOGUE)
    focus = {r.rep: r.focus for r in engine.reports("2026-04")}
    may = [p for p in past.plans if p.month == "2026-05"]
    assert may and all(list(p.focus) == focus[p.rep] for p in may)
    for plan in past.plans:
        assert len(plan.targets) == len(plan.focus)
        assert all(t is None or t > 0 for t in plan.targets)


def test_no_lift_changes_nothing() -> None:
    past = history(4, 0.0)
    _, metrics, _ = realistic_org("SMB", 30, 4, 8, "2026-06", weak_share=0.5, small_segment=5)
    assert past.metrics.equals(metrics)
    assert past.true_lift == 0.0


def test_lift_raises_coached_true_values_only() -> None:
    past, coached = history(4, 0.0), history(4, 0.25)
    assert coached.true_lift is not None and coached.true_lift > 0.05
    # The first coached month is planned on the same data, whatever the lift.
    first = [p for p in past.plans if p.month == "2026-04"]
    assert first == [p for p in coached.plans if p.month == "2026-04"]
    changed = coached.metrics.compare(past.metrics).index
    reps = set(coached.metrics.loc[changed, "rep"])
    assert reps and reps <= coached.coached_reps
    assert set(coached.metrics.loc[changed, "month"]) <= {"2026-04", "2026-05", "2026-06"}
    # Over the coached months (the June window), coached metrics read better than without.
    before = GapEngine(past.metrics, past.people, CATALOGUE)
    after = GapEngine(coached.metrics, coached.people, CATALOGUE)
    moves = []
    for rep, key in {(p.rep, key) for p in coached.plans for key in p.focus}:
        was = next(m for m in before.report(rep, "2026-06").metrics if m.key == key)
        now = next(m for m in after.report(rep, "2026-06").metrics if m.key == key)
        if was.value and now.value:
            sign = 1.0 if was.direction == "higher" else -1.0
            moves.append(sign * np.log(now.value / was.value))
    assert len(moves) >= 5 and np.mean(moves) > 0.05
