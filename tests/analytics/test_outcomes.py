"""Outcomes of coaching plans: p_better, the verdicts, what worked, persistent gaps."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from analytics.outcomes import (
    VERDICTS,
    ActionRecord,
    Outcome,
    WorkedAction,
    judge,
    p_better,
    what_worked,
)
from analytics.outcomes import persistent as persistent_by_month

MODELS = ("beta_binomial", "gamma_poisson", "normal")
DIRECTIONS = ("higher", "lower")
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def jeffreys_beta(k: float, n: float, b: float) -> float:
    return float(stats.beta(k + 0.5, n - k + 0.5).sf(b))


def jeffreys_gamma(k: float, n: float, b: float) -> float:
    return float(stats.gamma(k + 0.5, scale=1 / n).sf(b))


def normal_cv1(k: float, n: float, b: float) -> float:
    mean = k / n
    return float(stats.norm(mean, mean / math.sqrt(n)).sf(b))


# ---------------------------------------------------------------------------------------------
# p_better: hand-checkable values
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "k", "n", "baseline"),
    [
        ("beta_binomial", 50, 100, 0.5),  # symmetric posterior around the baseline
        ("normal", 10_000, 4, 2_500.0),  # mean 2,500 = baseline
        ("normal", 90, 3, 30.0),  # 30 cycle days a deal = baseline
    ],
)
def test_at_the_baseline_it_is_a_coin_flip(model, k, n, baseline) -> None:
    assert p_better(model, "higher", k, n, baseline) == pytest.approx(0.5, abs=1e-12)
    assert p_better(model, "lower", k, n, baseline) == pytest.approx(0.5, abs=1e-12)


def test_gamma_at_the_baseline_rate_is_a_little_over_half() -> None:
    # Gamma(10.5, scale 1/2): mean 5.25, median just under it, above the baseline of 5.
    p = p_better("gamma_poisson", "higher", 10, 2, 5.0)
    assert 0.5 < p < 0.6
    assert p == pytest.approx(jeffreys_gamma(10, 2, 5.0), abs=1e-12)


def test_thirty_of_a_hundred_is_credibly_above_eighteen_percent() -> None:
    p = p_better("beta_binomial", "higher", 30, 100, 0.18)
    assert 0.99 < p < 1.0
    assert p == pytest.approx(jeffreys_beta(30, 100, 0.18), abs=1e-12)
    assert p_better("beta_binomial", "lower", 30, 100, 0.18) < 0.01


def test_ten_of_a_hundred_is_credibly_below_eighteen_percent() -> None:
    assert p_better("beta_binomial", "higher", 10, 100, 0.18) < 0.02
    assert p_better("beta_binomial", "lower", 10, 100, 0.18) > 0.98


def test_a_handful_of_deals_proves_little_under_the_normal_model() -> None:
    # 4 deals averaging 2,500 against a 2,000 baseline: sd of the mean 2,500/2 = 1,250,
    # z = 500/1,250 = 0.4, Φ(0.4) ≈ 0.6554.
    p = p_better("normal", "higher", 10_000, 4, 2_000.0)
    assert p == pytest.approx(0.6554, abs=1e-4)
    # 100 deals at the same average: sd 250, z = 2, Φ(2) ≈ 0.9772.
    assert p_better("normal", "higher", 250_000, 100, 2_000.0) == pytest.approx(0.9772, abs=1e-4)


def test_normal_with_a_zero_mean() -> None:
    assert p_better("normal", "higher", 0, 4, 2_000.0) == 0.0
    assert p_better("normal", "lower", 0, 4, 2_000.0) == 1.0
    assert p_better("normal", "higher", 0, 4, 0.0) == 0.5


@pytest.mark.parametrize(
    ("k", "n", "baseline"),
    [(0, 1, 0.1), (1, 10, 0.1), (3, 20, 0.3), (30, 100, 0.18), (97, 100, 0.9), (5, 5, 0.5)],
)
def test_beta_binomial_matches_scipy(k, n, baseline) -> None:
    expected = jeffreys_beta(k, n, baseline)
    assert p_better("beta_binomial", "higher", k, n, baseline) == pytest.approx(expected, abs=1e-9)
    assert p_better("beta_binomial", "lower", k, n, baseline) == pytest.approx(
        1 - expected, abs=1e-9
    )


@pytest.mark.parametrize(
    ("k", "n", "baseline"),
    [(0, 3, 1.0), (12, 3, 3.0), (12, 3, 5.0), (40, 3, 10.0), (7, 1, 2.0), (100, 12, 8.0)],
)
def test_gamma_poisson_matches_scipy(k, n, baseline) -> None:
    expected = jeffreys_gamma(k, n, baseline)
    assert p_better("gamma_poisson", "higher", k, n, baseline) == pytest.approx(expected, abs=1e-9)
    assert p_better("gamma_poisson", "lower", k, n, baseline) == pytest.approx(
        1 - expected, abs=1e-9
    )


@pytest.mark.parametrize(
    ("k", "n", "baseline"),
    [(10_000, 4, 2_000.0), (10_000, 4, 3_000.0), (450, 10, 30.0), (90, 3, 45.0)],
)
def test_normal_matches_scipy(k, n, baseline) -> None:
    expected = normal_cv1(k, n, baseline)
    assert p_better("normal", "higher", k, n, baseline) == pytest.approx(expected, abs=1e-9)
    assert p_better("normal", "lower", k, n, baseline) == pytest.approx(1 - expected, abs=1e-9)


def test_beta_binomial_clamps_baselines_outside_zero_to_one() -> None:
    assert p_better("beta_binomial", "higher", 3, 10, -0.2) == pytest.approx(1.0)
    assert p_better("beta_binomial", "higher", 3, 10, 1.7) == pytest.approx(0.0)
    # More wins than demos (messy data) still gives a probability.
    assert 0.0 <= p_better("beta_binomial", "higher", 11, 10, 0.5) <= 1.0


# ---------------------------------------------------------------------------------------------
# p_better: properties
# ---------------------------------------------------------------------------------------------


@st.composite
def evidence(draw: st.DrawFn, model: str | None = None) -> tuple[str, int, int, float]:
    """(model, k, n, baseline) in each model's natural range."""
    model = model or draw(st.sampled_from(MODELS))
    n = draw(st.integers(1, 500))
    if model == "beta_binomial":
        k = draw(st.integers(0, n))
        baseline = draw(st.floats(0.0, 1.0))
    elif model == "gamma_poisson":
        k = draw(st.integers(0, 20 * n))
        baseline = draw(st.floats(0.0, 30.0))
    else:
        k = draw(st.integers(0, 5_000 * n))
        baseline = draw(st.floats(0.0, 6_000.0))
    return model, k, n, baseline


@SETTINGS
@given(evidence(), st.sampled_from(DIRECTIONS))
def test_p_better_is_a_probability(case, direction) -> None:
    model, k, n, baseline = case
    p = p_better(model, direction, k, n, baseline)
    assert 0.0 <= p <= 1.0


@SETTINGS
@given(evidence())
def test_lower_is_one_minus_higher(case) -> None:
    model, k, n, baseline = case
    higher = p_better(model, "higher", k, n, baseline)
    assert p_better(model, "lower", k, n, baseline) == pytest.approx(1.0 - higher, abs=1e-12)


@SETTINGS
@given(evidence(), st.floats(0.0, 1.0))
def test_a_higher_baseline_is_harder_to_beat(case, fraction) -> None:
    model, k, n, baseline = case
    bigger = baseline + fraction * (1.0 if model == "beta_binomial" else baseline + 1.0)
    assert p_better(model, "higher", k, n, bigger) <= p_better(model, "higher", k, n, baseline) + (
        1e-12
    )
    assert p_better(model, "lower", k, n, bigger) >= p_better(model, "lower", k, n, baseline) - (
        1e-12
    )


def _rate_vs_baseline(draw: st.DrawFn, model: str) -> tuple[int, int, float]:
    """k of n and a baseline at least 25% (relatively) away from k/n.

    Right next to the baseline the Jeffreys half-counts dominate and more data can nudge the
    probability the "wrong" way by a hair (e.g. 1 of 9 vs 0.1), so the property needs a gap.
    """
    n = draw(st.integers(1, 200))
    if model == "beta_binomial":
        k = draw(st.integers(0, n))
        baseline = draw(st.floats(0.001, 0.999))
        room = min(baseline, 1.0 - baseline)
    elif model == "gamma_poisson":
        k = draw(st.integers(0, 20 * n))
        baseline = draw(st.floats(0.01, 30.0))
        room = baseline
    else:
        k = draw(st.integers(1, 5_000 * n))
        baseline = draw(st.floats(1.0, 6_000.0))
        room = baseline
    assume(abs(k / n - baseline) >= 0.25 * room)
    return k, n, baseline


@SETTINGS
@given(st.sampled_from(MODELS), st.data())
def test_more_data_at_the_same_rate_moves_towards_the_rates_side(model, data) -> None:
    k, n, baseline = _rate_vs_baseline(data.draw, model)
    for direction in DIRECTIONS:
        before = p_better(model, direction, k, n, baseline)
        after = p_better(model, direction, 2 * k, 2 * n, baseline)
        better = (k / n > baseline) == (direction == "higher")
        if better:
            assert after >= before - 1e-12, (direction, before, after)
        else:
            assert after <= before + 1e-12, (direction, before, after)


@pytest.mark.parametrize("model", MODELS)
def test_lots_of_data_far_from_the_baseline_is_near_certain(model) -> None:
    baseline = {"beta_binomial": 0.2, "gamma_poisson": 5.0, "normal": 2_000.0}[model]
    n = 400
    up, down = round(1.5 * baseline * n), round(0.5 * baseline * n)
    assert p_better(model, "higher", up, n, baseline) > 0.99
    assert p_better(model, "lower", up, n, baseline) < 0.01
    assert p_better(model, "higher", down, n, baseline) < 0.01
    assert p_better(model, "lower", down, n, baseline) > 0.99


# ---------------------------------------------------------------------------------------------
# judge
# ---------------------------------------------------------------------------------------------

# A conversion rate, higher is better: 30 of 100 against a baseline of 0.18 (p ≈ 0.998).
RATE = {
    "model": "beta_binomial",
    "direction": "higher",
    "baseline": 0.18,
    "value": 0.30,
    "estimate": 0.28,
    "numerator": 30,
    "denominator": 100,
    "peer_median": 0.35,
    "target": None,
}
# Cycle days, lower is better: 3 deals, 150 days in all (50 a deal) against a baseline of 40.
CYCLE = {
    "model": "normal",
    "direction": "lower",
    "baseline": 40.0,
    "value": 50.0,
    "estimate": 45.0,
    "numerator": 150.0,
    "denominator": 3.0,
    "peer_median": 30.0,
    "target": None,
}


def test_closed_when_the_estimate_reaches_the_peer_median_higher() -> None:
    outcome = judge(**{**RATE, "estimate": 0.35})
    assert outcome.verdict == "closed"
    assert outcome.p_better == round(jeffreys_beta(30, 100, 0.18), 4)
    assert judge(**{**RATE, "estimate": 0.4}).verdict == "closed"
    assert judge(**{**RATE, "estimate": 0.3499}).verdict == "improved"


def test_closed_when_the_estimate_reaches_the_peer_median_lower() -> None:
    assert judge(**{**CYCLE, "estimate": 30.0}).verdict == "closed"
    assert judge(**{**CYCLE, "estimate": 25.0}).verdict == "closed"
    assert judge(**{**CYCLE, "estimate": 30.01}).verdict != "closed"


def test_closed_even_when_credibly_worse() -> None:
    # 10 of 100 is credibly below 0.18, but the estimate sits at the peers' median.
    outcome = judge(**{**RATE, "numerator": 10, "value": 0.1, "estimate": 0.35})
    assert outcome.verdict == "closed"
    assert outcome.p_better is not None and outcome.p_better < 0.05


def test_closed_by_the_target_while_the_estimate_is_below_the_median() -> None:
    assert judge(**{**RATE, "target": 0.30}).verdict == "closed"  # value 0.30 meets 0.30
    assert judge(**{**RATE, "target": 0.25}).verdict == "closed"
    assert judge(**{**RATE, "target": 0.31}).verdict == "improved"
    # Lower is better: 50 days meets a target of 50 or 60, not one of 45.
    assert judge(**{**CYCLE, "target": 50.0}).verdict == "closed"
    assert judge(**{**CYCLE, "target": 60.0}).verdict == "closed"
    assert judge(**{**CYCLE, "target": 45.0}).verdict != "closed"


def test_closed_by_target_without_estimate_or_median() -> None:
    outcome = judge(**{**RATE, "estimate": None, "peer_median": None, "target": 0.2})
    assert outcome.verdict == "closed"
    assert judge(**{**RATE, "estimate": None, "target": None}).verdict == "improved"
    assert judge(**{**RATE, "peer_median": None, "estimate": 0.9}).verdict == "improved"


def test_improved() -> None:
    outcome = judge(**RATE)
    assert outcome == Outcome("improved", round(jeffreys_beta(30, 100, 0.18), 4))


def test_improved_when_lower_is_better() -> None:
    # 300 deals at 20 days against a baseline of 40: sd of the mean 20/√300 ≈ 1.15.
    outcome = judge(
        **{**CYCLE, "numerator": 6_000.0, "denominator": 300.0, "value": 20.0, "estimate": 31.0}
    )
    assert outcome.verdict == "improved"
    assert outcome.p_better == 1.0


def test_worse() -> None:
    outcome = judge(**{**RATE, "numerator": 10, "value": 0.10, "estimate": 0.15})
    assert outcome.verdict == "worse"
    assert outcome.p_better == round(jeffreys_beta(10, 100, 0.18), 4)
    assert 1.0 - outcome.p_better >= 0.8


def test_worse_when_lower_is_better() -> None:
    # 300 deals at 60 days against a baseline of 40.
    outcome = judge(**{**CYCLE, "numerator": 18_000.0, "denominator": 300.0, "value": 60.0})
    assert outcome.verdict == "worse"
    assert outcome.p_better == 0.0


def test_no_change_on_little_data() -> None:
    # 1 of 4 against 0.18: the posterior is wide.
    outcome = judge(**{**RATE, "numerator": 1, "denominator": 4, "value": 0.25})
    assert outcome.verdict == "no change"
    assert 0.2 < outcome.p_better < 0.8
    # 3 deals at 50 days against 40 (the CYCLE case): sd of the mean ≈ 28.9.
    outcome = judge(**CYCLE)
    assert outcome.verdict == "no change"
    assert outcome.p_better == round(1 - normal_cv1(150.0, 3.0, 40.0), 4)


@pytest.mark.parametrize(
    "missing",
    [
        {"value": None},
        {"denominator": 0},
        {"denominator": 0.0},
        {"denominator": None},
        {"numerator": None},
        {"value": None, "estimate": 0.9, "target": 0.1},  # nothing to close with either
    ],
)
def test_not_enough_data(missing) -> None:
    assert judge(**{**RATE, **missing}) == Outcome("not enough data", None)
    assert judge(**{**CYCLE, **missing}) == Outcome("not enough data", None)


def test_the_threshold_is_respected() -> None:
    # A baseline that 30 of 100 beats with probability 0.85.
    baseline = float(stats.beta(30.5, 70.5).isf(0.85))
    case = {**RATE, "baseline": baseline}
    assert judge(**case).p_better == pytest.approx(0.85, abs=1e-4)
    assert judge(**case, threshold=0.8).verdict == "improved"
    assert judge(**case, threshold=0.85).verdict == "improved"  # ≥, not >
    assert judge(**case, threshold=0.9).verdict == "no change"
    # ... and the mirror image: beaten with probability 0.15 is worse at 0.8, not at 0.9.
    baseline = float(stats.beta(30.5, 70.5).isf(0.15))
    case = {**RATE, "baseline": baseline}
    assert judge(**case).p_better == pytest.approx(0.15, abs=1e-4)
    assert judge(**case, threshold=0.8).verdict == "worse"
    assert judge(**case, threshold=0.9).verdict == "no change"


def test_threshold_is_the_default_of_point_eight() -> None:
    baseline = float(stats.beta(30.5, 70.5).isf(0.81))
    assert judge(**{**RATE, "baseline": baseline}).verdict == "improved"
    baseline = float(stats.beta(30.5, 70.5).isf(0.79))
    assert judge(**{**RATE, "baseline": baseline}).verdict == "no change"


def test_no_baseline_is_no_change_unless_closed() -> None:
    assert judge(**{**RATE, "baseline": None}) == Outcome("no change", None)
    assert judge(**{**RATE, "baseline": None, "numerator": 1, "value": 0.01}) == Outcome(
        "no change", None
    )
    assert judge(**{**RATE, "baseline": None, "estimate": 0.35}) == Outcome("closed", None)
    assert judge(**{**RATE, "baseline": None, "target": 0.3}) == Outcome("closed", None)
    assert judge(**{**CYCLE, "baseline": None}) == Outcome("no change", None)


def test_p_better_is_rounded_to_four_places() -> None:
    raw = jeffreys_beta(30, 100, 0.27)
    assert round(raw, 4) != raw
    outcome = judge(**{**RATE, "baseline": 0.27})
    assert outcome.p_better == round(raw, 4)


@st.composite
def judgements(draw: st.DrawFn) -> dict:
    """Any judge() call, missing pieces included."""
    model, k, n, baseline = draw(evidence())
    scale = 1.0 if model == "beta_binomial" else max(k / n, 1.0) * 2
    figure = st.floats(0.0, scale)
    return {
        "model": model,
        "direction": draw(st.sampled_from(DIRECTIONS)),
        "baseline": draw(st.none() | st.just(baseline)),
        "value": draw(st.none() | st.just(k / n) | figure),
        "estimate": draw(st.none() | figure),
        "numerator": draw(st.none() | st.just(k)),
        "denominator": draw(st.sampled_from([None, 0, n, n])),
        "peer_median": draw(st.none() | figure),
        "target": draw(st.none() | figure),
        "threshold": draw(st.floats(0.55, 0.99)),
    }


def _at_least(direction: str, value: float, than: float) -> bool:
    return value >= than if direction == "higher" else value <= than


@SETTINGS
@given(judgements())
def test_judge_keeps_to_its_rules(case) -> None:
    outcome = judge(**case)
    assert outcome.verdict in VERDICTS
    has_data = (
        case["value"] is not None and bool(case["denominator"]) and case["numerator"] is not None
    )
    if not has_data:
        assert outcome == Outcome("not enough data", None)
        return
    direction = case["direction"]
    reached = (
        case["estimate"] is not None
        and case["peer_median"] is not None
        and _at_least(direction, case["estimate"], case["peer_median"])
    )
    met = case["target"] is not None and _at_least(direction, case["value"], case["target"])
    assert (outcome.verdict == "closed") == (reached or met)
    if case["baseline"] is None:
        assert outcome.p_better is None
        assert outcome.verdict in ("closed", "no change")
        return
    p = outcome.p_better
    assert p is not None and 0.0 <= p <= 1.0 and round(p, 4) == p
    expected = p_better(
        case["model"], direction, case["numerator"], case["denominator"], case["baseline"]
    )
    assert p == round(expected, 4)
    threshold = case["threshold"]
    if outcome.verdict == "improved":
        assert p >= threshold
    elif outcome.verdict == "worse":
        assert 1.0 - p >= threshold and p < threshold
    elif outcome.verdict == "no change":
        assert p < threshold and 1.0 - p < threshold


@SETTINGS
@given(evidence(), st.sampled_from(DIRECTIONS), st.floats(0.55, 0.99))
def test_flipping_the_direction_swaps_improved_and_worse(case, direction, threshold) -> None:
    model, k, n, baseline = case
    common = {
        "model": model,
        "baseline": baseline,
        "value": k / n,
        "estimate": None,  # nothing closes
        "numerator": k,
        "denominator": n,
        "peer_median": None,
        "target": None,
        "threshold": threshold,
    }
    first = judge(direction=direction, **common)
    p = first.p_better
    assert p is not None
    assume(abs(p - threshold) > 1e-3 and abs(1 - p - threshold) > 1e-3)
    other = "lower" if direction == "higher" else "higher"
    flipped = judge(direction=other, **common)
    swap = {"improved": "worse", "worse": "improved", "no change": "no change"}
    assert flipped.verdict == swap[first.verdict]
    assert flipped.p_better == pytest.approx(1 - p, abs=1.5e-4)


# ---------------------------------------------------------------------------------------------
# what_worked
# ---------------------------------------------------------------------------------------------


def records(*rows: tuple[str, int, int]) -> list[ActionRecord]:
    """(action, closed, not closed) → that many records."""
    out = []
    for action, closed, open_ in rows:
        out += [ActionRecord(action, True)] * closed + [ActionRecord(action, False)] * open_
    return out


def test_ranked_by_rate_then_closed_count_then_text() -> None:
    worked = what_worked(
        records(
            ("Role-play objections", 1, 1),  # 1/2
            ("Shadow a top rep", 3, 0),  # 3/3
            ("Ask for referrals", 1, 0),  # 1/1
            ("Book demos on the call", 2, 2),  # 2/4
            ("Cold call at 8am", 1, 3),  # 1/4
            ("Add a next step", 1, 0),  # 1/1, sorts before "Ask …"
        ),
        limit=10,
    )
    assert worked == [
        WorkedAction("Shadow a top rep", 3, 3),
        WorkedAction("Add a next step", 1, 1),
        WorkedAction("Ask for referrals", 1, 1),
        WorkedAction("Book demos on the call", 2, 4),
        WorkedAction("Role-play objections", 1, 2),
        WorkedAction("Cold call at 8am", 1, 4),
    ]
    assert [w.rate for w in worked] == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25]


def test_text_tie_break_ignores_case() -> None:
    worked = what_worked(records(("b second", 1, 0), ("A first", 1, 0), ("c third", 1, 0)))
    assert [w.action for w in worked] == ["A first", "b second", "c third"]


def test_actions_that_never_closed_are_left_out() -> None:
    worked = what_worked(records(("Never closes", 0, 5), ("Closes once", 1, 9)))
    assert worked == [WorkedAction("Closes once", 1, 10)]
    assert what_worked(records(("Never closes", 0, 5))) == []
    assert what_worked([]) == []


def test_variants_merge_and_show_as_first_written() -> None:
    worked = what_worked(
        [
            ActionRecord("  Shadow a top rep.", True),
            ActionRecord("shadow  a TOP rep", False),
            ActionRecord("Shadow a top rep;", True),
            ActionRecord("- shadow a top rep", True),
            ActionRecord("• Shadow a top rep ...", False),
            ActionRecord("Shadow\ta top\nrep", True),
        ]
    )
    assert worked == [WorkedAction("Shadow a top rep.", 4, 6)]


def test_empty_actions_are_ignored() -> None:
    worked = what_worked(
        [
            ActionRecord("", True),
            ActionRecord("   ", True),
            ActionRecord(" . - ;", True),
            ActionRecord("Call back", True),
        ]
    )
    assert worked == [WorkedAction("Call back", 1, 1)]


def test_limit_is_respected() -> None:
    many = records(*[(f"Action {i}", 1, i) for i in range(6)])
    assert [w.action for w in what_worked(many)] == ["Action 0", "Action 1", "Action 2"]
    assert len(what_worked(many, limit=5)) == 5
    assert len(what_worked(many, limit=50)) == 6
    assert what_worked(many, limit=0) == []


def test_accepts_any_iterable() -> None:
    worked = what_worked(iter(records(("Call back", 2, 1))))
    assert worked == [WorkedAction("Call back", 2, 3)]


def test_trailing_punctuation_before_a_newline_merges() -> None:
    worked = what_worked([ActionRecord("Call back", True), ActionRecord("Call back.\n", True)])
    assert worked == [WorkedAction("Call back", 2, 2)]
    variants = ["Call them", "Call them!", "Call them,", "Call them:", "Call them?\t"]
    assert what_worked(ActionRecord(v, True) for v in variants) == [WorkedAction("Call them", 5, 5)]


ACTION_WORDS = st.sampled_from(["call", "Call", "back", "demo", "Demo", "refer", ".", ";", "-"])


@SETTINGS
@given(
    st.lists(
        st.builds(
            ActionRecord,
            st.lists(ACTION_WORDS, max_size=3).map(" ".join),
            st.booleans(),
        ),
        max_size=30,
    ),
    st.integers(0, 8),
)
def test_what_worked_properties(recs, limit) -> None:
    worked = what_worked(recs, limit=limit)
    assert len(worked) <= limit
    for w in worked:
        assert 1 <= w.closed <= w.used
        assert w.action == w.action.strip() and w.action
    rates = [w.rate for w in worked]
    assert all(a >= b for a, b in zip(rates, rates[1:], strict=False))
    assert sum(w.used for w in worked) <= len(recs)
    assert sum(w.closed for w in worked) <= sum(r.closed for r in recs)
    keys = [" ".join(w.action.lower().strip(" .;•-").split()) for w in worked]
    assert len(set(keys)) == len(keys)  # merged variants show once


# ---------------------------------------------------------------------------------------------
# persistent
# ---------------------------------------------------------------------------------------------


def persistent(history: list[tuple[list[str], set[str]]], at_least: int = 3) -> dict[str, int]:
    """`persistent` over plans in consecutive months from January 2025."""
    dated = [(f"{2025 + i // 12}-{i % 12 + 1:02d}", f, c) for i, (f, c) in enumerate(history)]
    return persistent_by_month(dated, at_least=at_least)


def test_a_month_without_a_plan_breaks_the_run() -> None:
    assert (
        persistent_by_month(
            [
                ("2026-01", ["close_rate"], set()),
                ("2026-02", ["close_rate"], set()),
                ("2026-09", ["close_rate"], set()),
            ]
        )
        == {}
    )
    across_new_year = [(m, ["close_rate"], set()) for m in ("2025-11", "2025-12", "2026-01")]
    assert persistent_by_month(across_new_year) == {"close_rate": 3}


def test_empty_history() -> None:
    assert persistent([]) == {}
    assert persistent([], at_least=0) == {}


def test_a_run_of_three_open_plans_is_reported() -> None:
    history = [(["close_rate"], set())] * 3
    assert persistent(history) == {"close_rate": 3}
    assert persistent(history[:2]) == {}
    assert persistent(history[:2], at_least=2) == {"close_rate": 2}
    assert persistent(history * 2) == {"close_rate": 6}


def test_a_close_resets_the_run() -> None:
    history = [
        (["close_rate"], set()),
        (["close_rate"], set()),
        (["close_rate"], {"close_rate"}),  # closed
        (["close_rate"], set()),
        (["close_rate"], set()),
    ]
    assert persistent(history) == {}
    assert persistent(history, at_least=2) == {"close_rate": 2}
    assert persistent([*history, (["close_rate"], set())]) == {"close_rate": 3}
    assert persistent([*history, (["close_rate"], {"close_rate"})], at_least=1) == {}


def test_leaving_the_metric_out_resets_the_run() -> None:
    history = [
        (["close_rate"], set()),
        (["close_rate"], set()),
        (["close_rate"], set()),
        (["deal_size"], set()),  # close_rate left out
        (["close_rate"], set()),
    ]
    assert persistent(history) == {}
    assert persistent(history, at_least=1) == {"close_rate": 1}
    assert persistent(history[:3]) == {"close_rate": 3}
    # An empty plan breaks every run.
    assert persistent([*history[:3], ([], set())], at_least=1) == {}


def test_two_metrics_are_tracked_independently() -> None:
    history = [
        (["close_rate", "deal_size"], set()),
        (["close_rate", "deal_size"], {"deal_size"}),
        (["close_rate", "deal_size"], set()),
        (["close_rate", "deal_size"], set()),
        (["close_rate", "cycle_days"], set()),
    ]
    assert persistent(history) == {"close_rate": 5}
    assert persistent(history, at_least=1) == {"close_rate": 5, "cycle_days": 1}
    history = [
        (["close_rate", "deal_size"], set()),
        (["close_rate", "deal_size"], set()),
        (["close_rate", "deal_size"], set()),
        (["close_rate", "deal_size"], set()),
    ]
    assert persistent(history) == {"close_rate": 4, "deal_size": 4}
    assert persistent([*history, (["close_rate", "deal_size"], {"close_rate"})]) == {"deal_size": 5}


def test_closing_a_metric_that_was_not_in_focus_changes_nothing() -> None:
    history = [(["close_rate"], {"deal_size"})] * 3
    assert persistent(history) == {"close_rate": 3}


METRIC_KEYS = st.sampled_from(["close_rate", "deal_size", "cycle_days"])


@SETTINGS
@given(
    st.lists(
        st.tuples(st.lists(METRIC_KEYS, unique=True, max_size=3), st.sets(METRIC_KEYS)),
        max_size=12,
    ),
    st.integers(1, 5),
)
def test_persistent_counts_the_trailing_run(history, at_least) -> None:
    result = persistent(history, at_least=at_least)
    for key in ("close_rate", "deal_size", "cycle_days"):
        run = 0
        for focus, closed in reversed(history):
            if key not in focus or key in closed:
                break
            run += 1
        if run >= at_least:
            assert result[key] == run
        else:
            assert key not in result
