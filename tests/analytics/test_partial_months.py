"""Month-to-date rows (`through`): never the default month, never counted as a whole month."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from analytics.catalogue import load_catalogue
from analytics.gaps import GapConfig, GapEngine, GapError
from analytics.simulate import simulate_org

CATALOGUE = load_catalogue()
THROUGH = date(2026, 11, 18)
SHARE = 18 / 30  # November 1-18
AMOUNTS = ("revenue", "inherited_revenue", "cycle_days")  # quota stays the whole month's


def org() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A simulated org through October, and a November so far that is October at 18/30 of every
    count: per full month, November is October again."""
    people, metrics, _ = simulate_org(40, 6, end_month="2026-10", seed=7)
    october = metrics[metrics["month"] == "2026-10"].copy()
    counts = [c for c in october.columns if c not in ("rep", "month", "quota")]
    october[counts] = october[counts] * SHARE
    october["month"] = "2026-11"
    october["through"] = THROUGH
    metrics = pd.concat([metrics.assign(through=None), october], ignore_index=True)
    return people, metrics


def test_the_default_month_is_the_latest_full_one() -> None:
    people, metrics = org()
    engine = GapEngine(metrics, people, CATALOGUE)
    assert engine.latest_month() == "2026-10"
    assert engine.through("2026-11") == THROUGH and engine.through("2026-10") is None
    report = engine.reports()[0]
    assert (report.month, report.through) == ("2026-10", None)
    assert not any("month to date" in w for w in report.warnings)


def test_when_the_latest_month_is_partial_the_default_is_the_month_before() -> None:
    people, metrics = org()
    october = metrics["month"] == "2026-10"
    metrics.loc[october, "through"] = date(2026, 10, 31)  # October's rows still month to date
    assert GapEngine(metrics, people, CATALOGUE).latest_month() == "2026-09"
    # Only month-to-date data at all: that month rather than nothing.
    november = metrics[metrics["month"] == "2026-11"]
    assert GapEngine(november, people, CATALOGUE).latest_month() == "2026-11"


def test_an_asked_partial_month_scales_volumes_and_leaves_rates() -> None:
    people, metrics = org()
    alone = GapEngine(metrics, people, CATALOGUE, GapConfig(window_months=1))
    rep = alone.reports("2026-10")[0].rep
    october = {m.key: m for m in alone.report(rep, "2026-10").metrics}
    report = alone.report(rep, "2026-11")
    november = {m.key: m for m in report.metrics}
    assert report.through == THROUGH
    assert report.model_dump(mode="json")["through"] == "2026-11-18"
    # Volumes per month: 18 days of counts over 18/30 of a month is October's month again.
    for key in ("leads_prospected", "opportunities_worked", "bookings"):
        assert november[key].value == pytest.approx(october[key].value)
        assert november[key].denominator == pytest.approx(SHARE)
    # Rates pool counts: both sides scaled alike, so unchanged; attainment against the quota's
    # share of the month.
    for key in ("connect_rate", "close_rate", "avg_deal_size", "attainment"):
        assert november[key].value == pytest.approx(october[key].value)
    assert november["connect_rate"].denominator == pytest.approx(
        october["connect_rate"].denominator * SHARE
    )
    assert any("2026-11 is month to date, through 2026-11-18" in w for w in report.warnings)


def test_a_window_counts_a_partial_month_as_the_part_it_covers() -> None:
    people, metrics = org()
    engine = GapEngine(metrics, people, CATALOGUE)  # three months: September to November
    rep = engine.reports("2026-10")[0].rep
    november = {m.key: m for m in engine.report(rep, "2026-11").metrics}
    mine = metrics[(metrics["rep"] == rep) & metrics["month"].isin(["2026-09", "2026-10"])]
    leads = mine["leads_prospected"].sum() + mine["leads_prospected"].iloc[-1] * SHARE
    assert november["leads_prospected"].denominator == pytest.approx(2 + SHARE)
    assert november["leads_prospected"].value == pytest.approx(leads / (2 + SHARE))


def test_a_through_outside_its_month_is_refused() -> None:
    people, metrics = org()
    metrics.loc[metrics.index[-1], "through"] = date(2026, 12, 1)
    with pytest.raises(GapError, match="through 2026-12-01 of .* is not in 2026-11"):
        GapEngine(metrics, people, CATALOGUE)


def test_a_through_that_is_no_date_is_refused() -> None:
    people, metrics = org()
    metrics["through"] = metrics["through"].astype(object)
    metrics.loc[metrics.index[-1], "through"] = "18/11/2026"
    with pytest.raises(GapError, match="through '18/11/2026' is not YYYY-MM-DD"):
        GapEngine(metrics, people, CATALOGUE)
