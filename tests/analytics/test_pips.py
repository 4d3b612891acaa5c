"""PIP verdicts: met on the pooled value, not met only when the shortfall is beyond noise."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.catalogue import load_catalogue
from analytics.pips import Pooled, per_week, pip_verdict, pooled

CATALOGUE = load_catalogue()
CLOSE = CATALOGUE.metric("close_rate")


def test_pooled_sums_counts_and_skips_months_without_them() -> None:
    months = [{"wins": 3, "demos": 10}, {"wins": 1, "demos": 30}, {"leads_prospected": 5}]
    figures = pooled(CLOSE, months, CATALOGUE.zero_if_missing)
    assert figures is not None and figures.value == 4 / 40  # never the mean of 30% and 3%
    assert pooled(CLOSE, [{"leads_prospected": 5}]) is None


def test_activity_is_per_month_and_per_week() -> None:
    leads = CATALOGUE.metric("leads_prospected")
    figures = pooled(leads, [{"leads_prospected": 400}, {"leads_prospected": 500}])
    assert figures is not None and figures.value == 450
    assert per_week(leads, 520) == pytest.approx(120)
    assert per_week(CLOSE, 0.25) == 0.25


def test_a_shortfall_fails_only_with_enough_data() -> None:
    few = pip_verdict(model="beta_binomial", direction="higher", figures=Pooled(2, 10), target=0.3)
    many = pip_verdict(
        model="beta_binomial", direction="higher", figures=Pooled(40, 200), target=0.3
    )
    assert few[0] == "not enough data"  # 20% of 10 demos vs 30%: could be noise
    assert many[0] == "not met"  # 20% of 200 demos vs 30%: it isn't
    assert pip_verdict(model="beta_binomial", direction="higher", figures=None, target=0.3) == (
        "not enough data",
        None,
    )


@settings(max_examples=50, deadline=None)
@given(
    k=st.integers(0, 200),
    extra=st.integers(0, 200),
    target=st.floats(0.01, 0.99),
    direction=st.sampled_from(["higher", "lower"]),
)
def test_met_exactly_when_the_value_reached_the_target(
    k: int, extra: int, target: float, direction: str
) -> None:
    n = k + extra
    figures = Pooled(k, n) if n else None
    verdict, p = pip_verdict(
        model="beta_binomial",
        direction=direction,  # type: ignore[arg-type]
        figures=figures,
        target=target,
    )
    if figures is None:
        assert verdict == "not enough data"
        return
    value = k / n
    reached = value >= target if direction == "higher" else value <= target
    assert (verdict == "met") == reached
    if verdict == "not met":
        assert p is not None and p <= 0.2
