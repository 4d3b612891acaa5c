"""Properties that must hold for any org (hypothesis)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from analytics.catalogue import load_catalogue
from analytics.gaps import GapEngine
from analytics.peers import peer_figures

CATALOGUE = load_catalogue()
MONTHS = ["2026-01", "2026-02", "2026-03", "2026-04"]
WINDOW = MONTHS[1:]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def orgs(draw: st.DrawFn, missing: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """8–12 SMB reps and 0–3 Enterprise reps (then widened), four months of funnel counts."""
    smb = draw(st.integers(8, 12))
    ent = draw(st.integers(0, 3))
    people, rows = [], []
    for i in range(smb + ent):
        email = f"rep{i:02d}@example.com"
        people.append(
            {
                "email": email,
                "name": f"Rep {i}",
                "role": "rep",
                "segment": "SMB" if i < smb else "Ent",
                "start_date": None,
                "active": draw(st.booleans()) if i == 0 else True,
            }
        )
        deal = draw(st.sampled_from([800.0, 1000.0, 2500.0]))
        for month in MONTHS:
            if missing and draw(st.integers(0, 9)) == 0:
                continue  # a month not reported
            demos = draw(st.integers(0, 25))
            wins = draw(st.integers(0, demos + 1))  # one more than demos: messy data happens
            inherited = draw(st.integers(0, 1)) if wins else 0
            row = {
                "rep": email,
                "month": month,
                "leads_prospected": float(draw(st.integers(0, 400))),
                "connects": float(draw(st.integers(0, 100))),
                "discovery_calls": float(draw(st.integers(0, 40))),
                "demos": float(demos),
                "wins": float(wins),
                "inherited_wins": float(inherited),
                "losses": float(draw(st.integers(0, 15))),
                "revenue": deal * wins,
                "inherited_revenue": deal * inherited,
                "quota": draw(st.sampled_from([0.0, 20000.0])),
                "cycle_days": 30.0 * wins,
            }
            if missing:
                for column in ("connects", "losses", "cycle_days", "quota"):
                    if draw(st.integers(0, 5)) == 0:
                        row[column] = math.nan
            rows.append(row)
    assume(rows)
    return pd.DataFrame(people), pd.DataFrame(rows)


def dumps(engine: GapEngine) -> dict[str, dict]:
    return {r.rep: r.model_dump(mode="json") for r in engine.reports()}


@SETTINGS
@given(orgs(), st.randoms(use_true_random=False))
def test_reordering_reps_or_rows_changes_nothing(org, rnd) -> None:
    people, metrics = org
    before = dumps(GapEngine(metrics, people, CATALOGUE))
    people = people.sample(frac=1.0, random_state=rnd.randint(0, 10**6))
    metrics = metrics.sample(frac=1.0, random_state=rnd.randint(0, 10**6))
    metrics = metrics[list(reversed(metrics.columns))]
    assert dumps(GapEngine(metrics, people, CATALOGUE)) == before


@SETTINGS
@given(orgs(), st.data())
def test_more_wins_never_make_a_close_rate_gap_bigger(org, data) -> None:
    people, metrics = org
    rep = data.draw(st.sampled_from(sorted(metrics["rep"].unique())))
    rows = metrics.index[(metrics["rep"] == rep) & metrics["month"].isin(WINDOW)]
    if rows.empty:
        return
    row = data.draw(st.sampled_from(list(rows)))
    before = GapEngine(metrics, people, CATALOGUE).report(rep).model_dump(mode="json")
    more = metrics.copy()
    more.loc[row, "wins"] += data.draw(st.integers(1, 3))
    after = GapEngine(more, people, CATALOGUE).report(rep).model_dump(mode="json")
    old = next(m for m in before["metrics"] if m["key"] == "close_rate")
    new = next(m for m in after["metrics"] if m["key"] == "close_rate")
    assert new["peer_median"] == old["peer_median"]  # the peers did not change
    if old["credibility"] is not None and new["credibility"] is not None:
        assert new["credibility"] <= old["credibility"] + 1e-9
    assert not (new["flagged"] and not old["flagged"])


@SETTINGS
@given(orgs(missing=True))
def test_at_or_above_the_median_is_never_flagged(org) -> None:
    people, metrics = org
    for report in dumps(GapEngine(metrics, people, CATALOGUE)).values():
        for m in report["metrics"]:
            if m["value"] is None or m["peer_median"] is None:
                assert not m["flagged"]
            elif (m["value"] - m["peer_median"]) * (1 if m["direction"] == "higher" else -1) >= 0:
                assert not m["flagged"], (report["rep"], m["key"])
        assert set(report["focus"]) <= {m["key"] for m in report["metrics"] if m["flagged"]}


@SETTINGS
@given(orgs(missing=True))
def test_pooling_equals_summing_and_json_is_clean(org) -> None:
    people, metrics = org
    window = metrics[metrics["month"].isin(WINDOW)].copy()
    zero = window[["inherited_wins", "inherited_revenue"]].fillna(0)
    window["own_wins"] = window["wins"] - zero["inherited_wins"]
    window["decided"] = window["own_wins"] + window["losses"]
    for rep, report in dumps(GapEngine(metrics, people, CATALOGUE)).items():
        json.dumps(report, allow_nan=False)
        mine = window[window["rep"] == rep]
        figures = {m["key"]: m for m in report["metrics"]}
        for key, top, bottom in (
            ("close_rate", "own_wins", "demos"),
            ("win_rate", "own_wins", "decided"),
            ("connect_rate", "connects", "leads_prospected"),
        ):
            both = mine[mine[top].notna() & mine[bottom].notna()]
            expected_num, expected_den = both[top].sum(), both[bottom].sum()
            m = figures[key]
            if both.empty:
                assert m["numerator"] is None and m["value"] is None
                continue
            assert m["numerator"] == expected_num and m["denominator"] == expected_den
            if expected_den > 0:
                assert m["value"] == expected_num / expected_den
            else:
                assert m["value"] is None


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(st.integers(0, 6).map(lambda x: x / 4), min_size=0, max_size=12),
        min_size=1,
        max_size=4,
    ),
    st.data(),
)
def test_peer_figures_without_the_rep_match_numpy(pools, data) -> None:
    pools = [np.sort(np.array(p, dtype=float)) for p in pools]
    pool_of, values, member, rests = [], [], [], []
    for p, pool in enumerate(pools):
        for _ in range(3):
            inside = bool(len(pool)) and data.draw(st.booleans())
            if inside:
                own = data.draw(st.integers(0, len(pool) - 1))
                value, rest = pool[own], np.delete(pool, own)
            else:
                value = data.draw(st.sampled_from([np.nan, *[x / 4 for x in range(7)]]))
                rest = pool
            pool_of.append(p)
            values.append(value)
            member.append(inside)
            rests.append(rest)
    for higher in (True, False):
        got = peer_figures(pools, np.array(pool_of), np.array(values), np.array(member), higher)
        for i, rest in enumerate(rests):
            assert got.count[i] == len(rest)
            if not len(rest):
                assert np.isnan(got.median[i]) and np.isnan(got.percentile[i])
                continue
            assert got.median[i] == np.quantile(rest, 0.5)
            assert got.top_quartile[i] == np.quantile(rest, 0.75 if higher else 0.25)
            value = values[i]
            if np.isnan(value):
                assert np.isnan(got.percentile[i])
                continue
            worse = (rest < value).sum() if higher else (rest > value).sum()
            assert got.percentile[i] == 100 * (worse + 0.5 * (rest == value).sum()) / len(rest)
