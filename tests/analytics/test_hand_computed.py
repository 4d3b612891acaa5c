"""A small org whose every figure was worked out by hand (in the comments)."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from analytics.catalogue import load_catalogue
from analytics.gaps import GapConfig, GapEngine
from analytics.models import GapReport

MONTHS = ("2026-01", "2026-02", "2026-03")

# Per rep, per month of the window: (demos, wins, inherited_wins). Every rep loses 2 deals a
# month, books 1,000 per own win (+ inherited revenue), closes each win in 30 days (d: 10) and
# has a 10,000 quota.
CLOSES: dict[str, list[tuple[int, int, int] | None]] = {
    "a": [(10, 2, 0), (10, 3, 0), (10, 1, 0)],  # 6/30 = 0.2 (the subject)
    "b": [(10, 3, 0), (10, 5, 2), (10, 2, 0)],  # (10 - 2)/30 = 0.2667: a bluebird
    "c": [(10, 3, 0)] * 3,  # 9/30 = 0.3
    "d": [(10, 4, 0)] * 3,  # 12/30 = 0.4
    "e": [(10, 1, 0)] * 3,  # 3/30 = 0.1
    "f": [(0, 0, 0)] * 3,  # no demos: no close rate
    "g": [(10, 5, 0)] * 3,  # 15/30 = 0.5
    "h": [(10, 3, 0), (10, 3, 0), None],  # 6/20 = 0.3, nothing reported in March
    "i": [(10, 10, 0)] * 3,  # 1.0, but inactive: never a peer
    "x": [(5, 1, 0)] * 3,  # Ent: 3/15 = 0.2
    "y": [(5, 2, 0)] * 3,  # Ent: 6/15 = 0.4
    "z": [(5, 0, 0)] * 3,  # Ent: 0/15 = 0
    "n": [(10, 6, 0)] * 3,  # no segment: 18/30 = 0.6
    "boss": [(10, 10, 0)] * 3,  # a manager's row: ignored
}
SEGMENTS = {**dict.fromkeys("abcdefghi", "SMB"), **dict.fromkeys("xyz", "Ent"), "n": None}


def email(who: str) -> str:
    return f"{who}@example.com"


def org() -> tuple[pd.DataFrame, pd.DataFrame]:
    people = pd.DataFrame(
        [
            {
                "email": email(who),
                "name": who.upper(),
                "role": "manager" if who == "boss" else "rep",
                "segment": SEGMENTS.get(who),
                "start_date": date(2026, 2, 1) if who == "e" else date(2020, 1, 1),
                "active": who != "i",
            }
            for who in CLOSES
        ]
    )
    rows = [
        # Before the window: must not be pooled into a's March window.
        {"rep": email("a"), "month": "2025-12", "demos": 100.0, "wins": 100.0, "losses": 0.0}
    ]
    for who, months in CLOSES.items():
        for month, cell in zip(MONTHS, months, strict=True):
            if cell is None:
                continue
            demos, wins, inherited = cell
            rows.append(
                {
                    "rep": email(who),
                    "month": month,
                    "demos": float(demos),
                    "wins": float(wins),
                    "inherited_wins": float(inherited),
                    "losses": 2.0,
                    "revenue": 1000.0 * (wins - inherited) + 2500.0 * inherited,
                    "inherited_revenue": 2500.0 * inherited,
                    "quota": 10000.0,
                    "cycle_days": (10.0 if who == "d" else 30.0) * wins,
                }
            )
    return people, pd.DataFrame(rows)


@pytest.fixture(scope="module")
def engine() -> GapEngine:
    people, metrics = org()
    return GapEngine(metrics, people, load_catalogue(), GapConfig())


def by_key(report: GapReport) -> dict[str, dict]:
    return {m["key"]: m for m in report.model_dump(mode="json")["metrics"]}


def test_only_metrics_with_columns_are_computed(engine: GapEngine) -> None:
    keys = [m["key"] for m in engine.report(email("a")).model_dump(mode="json")["metrics"]]
    assert keys == [
        "close_rate",
        "win_rate",
        "avg_deal_size",
        "sales_cycle_days",
        "bookings",
        "attainment",
    ]


def test_latest_month_and_window(engine: GapEngine) -> None:
    assert engine.latest_month() == "2026-03"
    report = engine.report(email("a"))
    assert report.month == "2026-03"
    assert report.window == ["2026-01", "2026-02", "2026-03"]


def test_subject_figures(engine: GapEngine) -> None:
    report = engine.report(email("a"))
    assert report.peer_group.model_dump() == {
        "segment": "SMB",
        "discipline": None,
        "size": 7,
        "widened": False,
        "basis": "group",
        "cohort": None,
        "adjusted_peers": None,
    }
    close = by_key(report)["close_rate"]
    # Pooled over the window only (December's 100/100 is outside): 6 / 30.
    assert (close["numerator"], close["denominator"], close["value"]) == (6, 30, 0.2)
    # Peers b..h minus f (no demos), inactive i left out:
    # [0.1, 0.2667, 0.3, 0.3, 0.4, 0.5] → median 0.3; 75th: 0.3 + 0.75 · (0.4 − 0.3).
    assert close["peer_count"] == 6
    assert close["peer_median"] == pytest.approx(0.3)
    assert close["top_quartile"] == pytest.approx(0.375)
    assert close["percentile"] == pytest.approx(100 / 6)  # beats e only
    # Impact: (0.3 − the shrunk estimate of its own part) × 10 demos a month × 1,000 a deal.
    # Close rate = decided share × win rate, and the win rate is its driver: the own part is the
    # estimate × the peers' typical win rate ÷ the rep's (6 of 12). Here the shortfall is all
    # the win rate's, so the close rate's own part is worth nothing more.
    win = by_key(report)["win_rate"]
    typical_win = win["material_line"] / (1 - GapConfig().material_gap)
    own = close["estimate"] * typical_win / 0.5
    assert close["impact"] == pytest.approx((0.3 - own) * 10 * 1000.0)
    assert close["impact"] < 0 < win["impact"]
    assert close["effort_or_skill"] == "skill"
    assert close["sentence"] == "Closes {value} of demos"

    assert (win["numerator"], win["denominator"]) == (6, 12)
    # Peers: b 8/14, c 9/15, d 12/18, e 3/9, f 0/6, g 15/21, h 6/10 (f counts: 6 decided deals)
    assert win["peer_count"] == 7
    assert win["peer_median"] == pytest.approx(0.6)
    assert win["top_quartile"] == pytest.approx(
        np.quantile([0, 3 / 9, 8 / 14, 0.6, 0.6, 2 / 3, 15 / 21], 0.75)
    )
    assert win["percentile"] == pytest.approx(100 * 2 / 7)  # beats e and f

    cycle = by_key(report)["sales_cycle_days"]  # lower is better
    assert cycle["value"] == 30
    # Peers: b, c, e, g, h at 30 days, d at 10: median 30, top quartile (25th) 30.
    assert (cycle["peer_median"], cycle["top_quartile"]) == (30, 30)
    assert cycle["percentile"] == pytest.approx(100 * 2.5 / 6)  # ties count half

    bookings = by_key(report)["bookings"]  # a monthly average of what was reported
    assert (bookings["numerator"], bookings["denominator"], bookings["value"]) == (6000, 3, 2000)
    assert bookings["impact"] is None and bookings["effort_or_skill"] is None
    attainment = by_key(report)["attainment"]
    assert attainment["value"] == pytest.approx(6000 / 30000)


def test_ties_count_half(engine: GapEngine) -> None:
    close = by_key(engine.report(email("c")))["close_rate"]
    # Peers a .2, b .2667, d .4, e .1, g .5, h .3: beats 3, ties h.
    assert close["percentile"] == pytest.approx(100 * 3.5 / 6)
    assert close["peer_median"] == pytest.approx((8 / 30 + 0.3) / 2)
    low_cycle = by_key(engine.report(email("d")))["sales_cycle_days"]
    assert low_cycle["value"] == 10 and low_cycle["percentile"] == 100


def test_bluebirds_are_deducted_and_shown(engine: GapEngine) -> None:
    report = engine.report(email("b"))
    metrics = by_key(report)
    assert (metrics["close_rate"]["numerator"], metrics["close_rate"]["denominator"]) == (8, 30)
    assert (metrics["win_rate"]["numerator"], metrics["win_rate"]["denominator"]) == (8, 14)
    # (revenue − inherited revenue) / (wins − inherited wins) = 8,000 / 8
    assert metrics["avg_deal_size"]["value"] == 1000
    assert metrics["bookings"]["numerator"] == 13000  # outcomes keep the bluebirds
    assert report.inherited.model_dump() == {"wins": 2, "revenue": 5000}
    assert any("bluebirds" in w and "2 wins" in w for w in report.warnings)


def test_zero_denominator_gives_nulls_not_a_crash(engine: GapEngine) -> None:
    report = engine.report(email("f"))
    close = by_key(report)["close_rate"]
    for field in ("value", "numerator", "percentile", "estimate", "credibility", "impact"):
        assert close[field] is None or (field == "numerator" and close[field] == 0), field
    assert close["denominator"] == 0 and close["flagged"] is False
    assert close["peer_median"] is not None  # the peers still have one
    assert any("Close rate (no demos)" in w for w in report.warnings)
    json.dumps(report.model_dump(mode="json"), allow_nan=False)


def test_small_segment_borrows_only_level_adjusted_rates(engine: GapEngine) -> None:
    report = engine.report(email("x"))
    # Ent has 3 reps including x (< 8): its figures are its own; volumes, deal size and cycle
    # are never compared with another segment's (another scale); conversion rates are judged
    # against every rep, each group's rates brought to the Ent level (y, z and 8 SMB reps).
    assert report.peer_group.model_dump() == {
        "segment": "Ent",
        "discipline": None,
        "size": 2,
        "widened": False,
        "basis": "levels_adjusted",
        "cohort": None,
        "adjusted_peers": 10,
    }
    assert report.segment == "Ent"
    assert any(
        w.startswith("Only 3 reps in Ent (5 short of the 8 a benchmark needs)")
        and "compared with 10 reps across groups, each group's rates adjusted to the Ent level" in w
        for w in report.warnings
    )
    compared = {m.key for m in report.metrics if m.compared}
    assert compared == {"close_rate", "win_rate"}
    assert report.focus == []  # 20% against a 20% median: no gap
    close = by_key(report)["close_rate"]
    assert close["peer_count"] == 2  # y .4, z 0
    assert close["peer_median"] == pytest.approx(0.2)


def test_rep_without_segment_compares_with_everyone(engine: GapEngine) -> None:
    report = engine.report(email("n"))
    assert report.peer_group.model_dump() == {
        "segment": None,
        "discipline": None,
        "size": 11,
        "widened": False,
        "basis": "group",
        "cohort": None,
        "adjusted_peers": None,
    }
    assert "No segment on file; compared with all 11 other reps." in report.warnings


def test_ramping_and_missing_months(engine: GapEngine) -> None:
    ramping = engine.report(email("e"))  # started 2026-02-01: 58 days before 2026-03-31
    assert ramping.ramping
    assert any(w.startswith("Ramping: started 2026-02-01, 58 days") for w in ramping.warnings)
    assert not engine.report(email("e"), today=date(2026, 6, 1)).ramping
    gap = engine.report(email("h"))
    assert "No metrics for 2026-03 in the window." in gap.warnings
    assert by_key(gap)["bookings"]["denominator"] == 2


def test_targets_worked_backwards(engine: GapEngine) -> None:
    report = engine.report(email("a")).model_dump(mode="json")
    targets = report["targets"]
    assert targets["quota"] == 10000
    # Own: at the shrunk estimates (raw: deal 1,000, win rate 0.5, close rate 0.2), so that a
    # small sample does not ask for an absurd volume.
    est = {m["key"]: m["estimate"] for m in report["metrics"]}
    wins = 10000 / est["avg_deal_size"]
    assert targets["own"] == pytest.approx(
        {
            "wins": wins,
            "opportunities": wins / est["win_rate"],
            "demos": wins / est["close_rate"],
            "discovery_calls": None,  # no demo rate in this data
            "connects": None,
            "leads_prospected": None,
            "pipeline_coverage": 1 / est["win_rate"],
        }
    )
    assert targets["own"]["demos"] < 50  # the raw close rate 0.2 would ask for 50
    # Team: medians deal 1,000, win rate 0.6, close rate 0.3.
    team = targets["team"]
    assert team["wins"] == pytest.approx(10)
    assert team["opportunities"] == pytest.approx(10 / 0.6)
    assert team["demos"] == pytest.approx(10 / 0.3)
    assert team["pipeline_coverage"] == pytest.approx(1 / 0.6)
    assert targets["actual"]["wins"] == 2 and targets["actual"]["demos"] == 10
    assert targets["actual"]["opportunities"] == 4


def test_reports_cover_active_reps_only(engine: GapEngine) -> None:
    reports = engine.reports()
    assert [r.rep for r in reports] == sorted(email(w) for w in CLOSES if w not in ("i", "boss"))
    for report in reports:
        single = engine.report(report.rep)
        assert single.model_dump() == report.model_dump()
    assert engine.report(email("i")).peer_group.size == 8  # an inactive rep can still be looked up


def test_shrinkage_pulls_toward_the_peers(engine: GapEngine) -> None:
    a = by_key(engine.report(email("a")))["close_rate"]
    # The peers' pooled close rate: (8 + 9 + 12 + 3 + 0 + 15 + 6) / (30·5 + 0 + 20) = 53 / 170.
    assert 0.2 < a["estimate"] < 53 / 170
    assert 0.5 < a["credibility"] < 1
    g = by_key(engine.report(email("g")))["close_rate"]  # 0.5, the best: unlikely to be worse
    assert g["estimate"] < 0.5 and g["credibility"] < 0.2 and not g["flagged"]
    for report in engine.reports():
        for m in by_key(report).values():
            assert m["credibility"] is None or 0 <= m["credibility"] <= 1


def test_json_contract(engine: GapEngine) -> None:
    document = engine.report(email("a")).model_dump(mode="json")
    assert set(document) >= {
        "rep",
        "name",
        "month",
        "window",
        "peer_group",
        "ramping",
        "metrics",
        "focus",
        "targets",
        "trend",
        "warnings",
    }
    assert set(document["metrics"][0]) >= {
        "key",
        "label",
        "kind",
        "direction",
        "value",
        "numerator",
        "denominator",
        "peer_median",
        "top_quartile",
        "percentile",
        "estimate",
        "credibility",
        "flagged",
        "impact",
    }
    assert document["trend"]["months"] == [
        "2025-10",
        "2025-11",
        "2025-12",
        "2026-01",
        "2026-02",
        "2026-03",
    ]
    json.dumps(document, allow_nan=False)
