"""Plans judged with the engine's figures (`judge_plan`), and what the verdicts say on simulated
coaching histories: with no coaching effect, improved and worse are rare and even."""

from __future__ import annotations

import functools
from collections import Counter
from datetime import date

import pandas as pd
import pytest

from analytics.catalogue import load_catalogue
from analytics.gaps import GapConfig, GapEngine
from analytics.outcomes import judge_plan, months_judged
from analytics.simulate import simulate_org
from analytics.simulate_coaching import simulate_coaching

CATALOGUE = load_catalogue()


@functools.cache
def org() -> tuple[pd.DataFrame, pd.DataFrame]:
    people, metrics, _ = simulate_org(40, 8, end_month="2026-10", seed=3, ramping_share=0.0)
    return people, metrics


def test_judged_on_the_estimate_before_and_the_reps_own_months_after() -> None:
    people, metrics = org()
    engine = GapEngine(metrics, people, CATALOGUE)
    alone = GapEngine(metrics, people, CATALOGUE, GapConfig(window_months=1))
    rep = engine.reports("2026-07")[0].rep
    for month, last in (("2026-08", "2026-10"), ("2026-09", "2026-10"), ("2026-10", "2026-10")):
        judged = judge_plan(engine, rep, month, "close_rate", 0.5)
        assert judged is not None and (judged.first, judged.last) == (month, last)
        before = next(
            m for m in engine.report(rep, _previous(month)).metrics if m.key == "close_rate"
        )
        assert judged.expectation is not None
        assert judged.expectation == before.estimate  # without coaching: the estimate then
        months = pd.period_range(month, last, freq="M").strftime("%Y-%m")
        single = [
            next(m for m in alone.report(rep, m).metrics if m.key == "close_rate") for m in months
        ]
        assert judged.numerator == pytest.approx(sum(m.numerator for m in single))
        assert judged.denominator == pytest.approx(sum(m.denominator for m in single))
        now = next(m for m in engine.report(rep, last).metrics if m.key == "close_rate")
        assert (judged.peer_median, judged.material_line) == (now.peer_median, now.material_line)
        assert judged.outcome.target_met is False  # nobody closes half their demos here
    # At most a window of months, from the plan's month on.
    early = judge_plan(engine, rep, "2026-05", "close_rate")
    assert early is not None and (early.first, early.last, early.months) == (
        "2026-05",
        "2026-07",
        3,
    )
    assert judge_plan(engine, rep, "2026-11", "close_rate") is None  # no data


def _previous(month: str) -> str:
    return (pd.Period(month, freq="M") - 1).strftime("%Y-%m")


def test_a_month_to_date_month_waits() -> None:
    people, metrics = org()
    november = metrics[metrics["month"] == "2026-10"].assign(month="2026-11")
    partial = pd.concat(
        [metrics.assign(through=None), november.assign(through=date(2026, 11, 12))],
        ignore_index=True,
    )
    engine = GapEngine(partial, people, CATALOGUE)
    assert months_judged(engine, "2026-11", 3) is None  # its own month is not full yet
    assert months_judged(engine, "2026-10", 3) == ("2026-10", "2026-10")  # stops before it
    assert months_judged(engine, "2026-09", 3) == ("2026-09", "2026-10")


def test_a_rep_ramping_when_planned_has_no_expectation() -> None:
    people, metrics = org()
    people = people.copy()
    rep = sorted(metrics["rep"])[0]
    people.loc[people["email"] == rep, "start_date"] = date(2026, 6, 20)  # tenure 2 in July
    engine = GapEngine(metrics, people, CATALOGUE)
    judged = judge_plan(engine, rep, "2026-08", "leads_prospected")
    assert judged is not None and judged.expectation is None
    assert judged.verdict in ("closed", "not enough data")  # never improved or worse


# ---------------------------------------------------------------------------------------------
# Measured on simulated coaching histories (benchmarks/bench_verdicts.py prints the full table)
# ---------------------------------------------------------------------------------------------

SMALL = {"reps": 30, "months": 8, "coached_months": 3, "weak_share": 0.5, "catalogue": CATALOGUE}


def verdicts(lift: float, seeds: range) -> Counter[str]:
    tally: Counter[str] = Counter()
    for seed in seeds:
        history = simulate_coaching(seed, lift=lift, **SMALL)  # type: ignore[arg-type]
        engine = GapEngine(history.metrics, history.people, CATALOGUE)
        for plan in history.plans:
            for key, target in zip(plan.focus, plan.targets, strict=True):
                judged = judge_plan(engine, plan.rep, plan.month, key, target)
                assert judged is not None  # every simulated plan has its month's numbers
                tally[judged.verdict] += 1
    return tally


def test_without_coaching_improved_and_worse_are_rare_and_even() -> None:
    # Six orgs, about 120 judged focus metrics; measured 5.1% improved, 6.0% worse.
    null = verdicts(0.0, range(6))
    total = sum(null.values())
    assert total >= 100
    improved, worse = null["improved"] / total, null["worse"] / total
    assert improved <= 0.15
    assert abs(improved - worse) <= 0.05
    # With a real effect (a quarter of the gap closed per month coached) the same judge sees it.
    lifted = verdicts(0.25, range(3))
    share = sum(lifted[v] for v in ("improved", "closed")) / sum(lifted.values())
    assert share >= 2 * (null["improved"] + null["closed"]) / total
    assert lifted["worse"] / sum(lifted.values()) <= worse
