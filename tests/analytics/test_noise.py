"""Noise: simulated orgs where the truth is known.

* Everyone has the same true rates and samples are small: almost nobody may be flagged.
* Planted weaknesses of realistic size (true value 35–45% worse than the segment norm) at
  SMB / Mid-Market volumes: most flagged, and usually the first focus.
* Shrunk estimates predict the next months better than the raw values.
"""

from __future__ import annotations

import numpy as np
import pytest

from analytics.catalogue import load_catalogue, parse_linear
from analytics.gaps import GapEngine
from analytics.simulate import simulate_org

CATALOGUE = load_catalogue()
QUIET = {"bluebird_share": 0.0, "ramping_share": 0.0, "inactive_share": 0.0}


@pytest.mark.parametrize(
    "org",
    [
        # Small samples: a quarter of normal volume (an SMB rep has ~13 demos in the window).
        *({"n_reps": 120, "segments": ("SMB", "Mid-Market"), "volume": 0.25, "seed": s}
          for s in range(4)),
        {"n_reps": 60, "segments": None, "volume": 1.0, "seed": 9},
        {"n_reps": 200, "segments": ("SMB", "Mid-Market", "Enterprise"), "volume": 0.5, "seed": 11},
    ],
)  # fmt: skip
def test_same_true_rates_are_rarely_flagged(org: dict) -> None:
    people, metrics, _ = simulate_org(
        n_months=6, rate_spread=0.0, low_volume_share=0.0, end_month="2026-06", **QUIET, **org
    )
    reports = GapEngine(metrics, people, CATALOGUE).reports()
    flagged = [r.rep for r in reports if any(m.flagged for m in r.metrics)]
    assert len(flagged) <= 0.05 * len(reports), (len(flagged), len(reports))


HIGH_VOLUME = (
    "leads_prospected",
    "connect_rate",
    "discovery_rate",
    "demo_rate",
    "opportunities_worked",
    "follow_up_ratio",
    "contacts_per_account",
)
# Metrics without a bookings link rank after those with one, so they are first only when alone.
WITH_IMPACT = HIGH_VOLUME[:5]


def test_planted_weaknesses_are_flagged_and_first() -> None:
    planted_total = flagged = first = linked = 0
    for seed in (300, 301, 302):
        people, metrics, planted = simulate_org(
            120,
            6,
            segments=("SMB", "Mid-Market"),
            seed=seed,
            planted=0.25,
            planted_metrics=HIGH_VOLUME,
            low_volume_share=0.0,
            end_month="2026-06",
        )
        engine = GapEngine(metrics, people, CATALOGUE)
        for email, key in planted.items():
            report = engine.report(email)
            planted_total += 1
            flagged += next(m for m in report.metrics if m.key == key).flagged
            if key in WITH_IMPACT:
                linked += 1
                first += report.focus[:1] == [key]
    assert planted_total >= 80
    # Measured: 80% flagged, 77% first. Every flag must now be material (credibly 20% behind the
    # peers' typical value), and this org's natural spread is wide (12% log-normal, so a 35%
    # plant can sit only 25% behind the peers): the mildest plants are not always provable. The
    # realistic-org test (test_advice.py) holds precision and recall on clear weaknesses.
    assert flagged >= 0.7 * planted_total, (flagged, planted_total)
    assert first >= 0.65 * linked, (first, linked)


def test_shrunk_estimates_predict_held_out_months_better() -> None:
    shrunk: dict[str, float] = {}
    raw: dict[str, float] = {}
    for seed in (0, 1):
        people, metrics, _ = simulate_org(200, 6, seed=seed, volume=0.3, end_month="2026-06")
        reports = GapEngine(metrics, people, CATALOGUE).reports("2026-03")  # Jan–Mar window
        later = metrics[metrics["month"] >= "2026-04"].groupby("rep").sum(numeric_only=True)
        for report in reports:
            if report.rep not in later.index:
                continue
            counts = later.loc[report.rep]
            for m in report.metrics:
                if m.value is None or m.estimate is None:
                    continue
                metric = CATALOGUE.metric(m.key)
                top = sum(c * counts[col] for col, c in parse_linear(metric.numerator).items())
                bottom = (
                    sum(c * counts[col] for col, c in parse_linear(metric.denominator).items())
                    if metric.denominator
                    else 3.0  # monthly counts: the three held-out months
                )
                if bottom <= 0:
                    continue
                truth = top / bottom
                shrunk[m.key] = shrunk.get(m.key, 0.0) + (m.estimate - truth) ** 2
                raw[m.key] = raw.get(m.key, 0.0) + (m.value - truth) ** 2
    ratios = {key: shrunk[key] / raw[key] for key in raw}
    assert len(ratios) == len(CATALOGUE.metrics)
    assert all(r < 1.0 for r in ratios.values()), ratios
    assert np.mean(list(ratios.values())) < 0.85, ratios
