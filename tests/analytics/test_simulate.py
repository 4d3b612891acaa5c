"""The synthetic org generator: formats, determinism, and the demo org's promises."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pandas as pd
import pytest

from analytics.catalogue import load_catalogue
from analytics.gaps import GapEngine
from analytics.simulate import demo_org, previous_month, simulate_org

CATALOGUE = load_catalogue()


def test_simulated_org_has_the_engine_formats() -> None:
    people, metrics, planted = simulate_org(60, 12, seed=3, planted=0.2, end_month="2026-06")
    assert {"email", "name", "role", "manager_email", "segment", "timezone", "start_date"} <= set(
        people.columns
    )
    reps = people[people["role"] == "rep"]
    assert len(reps) == 60 and reps["email"].is_unique
    assert set(reps["segment"]) == {"SMB", "Mid-Market", "Enterprise"}
    assert set(people["role"]) == {"rep", "manager", "director"}
    assert set(reps["manager_email"]) <= set(people.loc[people["role"] == "manager", "email"])
    assert list(metrics.columns[:2]) == ["rep", "month"]
    assert set(CATALOGUE.columns) <= set(metrics.columns)
    assert all(metrics[c].dtype == float for c in CATALOGUE.columns)
    assert not metrics.duplicated(["rep", "month"]).any()
    assert metrics["month"].max() == "2026-06" and metrics["month"].min() == "2025-07"
    assert (metrics["wins"] >= metrics["inherited_wins"]).all()
    assert (metrics["connects"] <= metrics["leads_prospected"]).all()
    assert len(planted) == 12 and set(planted) <= set(reps["email"])


def test_simulation_is_deterministic() -> None:
    first = simulate_org(30, 6, seed=5, planted=0.2, end_month="2026-06")
    again = simulate_org(30, 6, seed=5, planted=0.2, end_month="2026-06")
    other = simulate_org(30, 6, seed=6, planted=0.2, end_month="2026-06")
    pd.testing.assert_frame_equal(first[0], again[0])
    pd.testing.assert_frame_equal(first[1], again[1])
    assert first[2] == again[2]
    assert not first[1].equals(other[1])


def test_planting_by_email_and_errors() -> None:
    people, _, _ = simulate_org(10, 3, seed=1, end_month="2026-06")
    email = people.loc[0, "email"]
    _, metrics, planted = simulate_org(
        10, 3, seed=1, planted={email: "close_rate"}, end_month="2026-06"
    )
    assert planted == {email: "close_rate"}
    with pytest.raises(ValueError, match="cannot plant 'bookings'"):
        simulate_org(10, 3, seed=1, planted={email: "bookings"}, end_month="2026-06")
    with pytest.raises(ValueError, match="unknown rep"):
        simulate_org(10, 3, seed=1, planted={"x@example.com": "close_rate"}, end_month="2026-06")


def test_default_end_month_is_last_month() -> None:
    assert previous_month(date(2026, 1, 15)) == "2025-12"
    _, metrics, _ = simulate_org(5, 2, seed=1)
    assert metrics["month"].max() == previous_month()


def test_demo_org() -> None:
    people, metrics, planted = demo_org(end_month="2026-10")
    roles = people["role"].value_counts().to_dict()
    assert roles == {"rep": 24, "manager": 3, "director": 1}
    reps = people[people["role"] == "rep"]
    assert set(reps["segment"]) == {"SMB", "Mid-Market"}
    assert "priya.shah@example.com" in set(reps["email"])
    assert all(re.fullmatch(r"[a-z]+\.[a-z]+@example\.com", e) for e in people["email"])
    managers = set(people.loc[people["role"] == "manager", "email"])
    assert set(reps["manager_email"]) <= managers
    assert sorted(metrics["month"].unique())[0] == "2025-11"
    assert metrics["month"].max() == "2026-10"
    assert len(planted) >= 3
    month_end = date(2026, 10, 31)
    ramping = reps[reps["start_date"] > month_end - timedelta(days=90)]
    assert len(ramping) == 1
    assert (metrics.groupby("rep")["inherited_wins"].sum() > 0).sum() == 1
    pd.testing.assert_frame_equal(demo_org(end_month="2026-10")[1], metrics)

    engine = GapEngine(metrics, people, CATALOGUE)
    reports = {r.rep: r for r in engine.reports()}
    assert len(reports) == 24
    first = sum(reports[email].focus[:1] == [key] for email, key in planted.items())
    assert first >= len(planted) - 1
    assert any(r.ramping for r in reports.values())
    assert any(r.inherited.wins for r in reports.values())
    assert any(any(w.startswith("Small samples") for w in r.warnings) for r in reports.values())
    assert any(not r.focus for r in reports.values())  # not everyone gets a manufactured gap
