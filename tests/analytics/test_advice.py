"""Advice a sales leader would trust, on realistic simulated orgs (issue 14).

Orgs from `realistic_org`: natural skill spread, material weaknesses, top performers, ramping
reps, new hires and a 5-rep Enterprise segment at another scale; the first Enterprise rep has a
50% connect-rate weakness and the first ramping rep prospects half what their tenure cohort did. The same measures as
benchmarks/bench_advice.py, on fixed seeds, with margins below the measured figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from analytics.catalogue import load_catalogue
from analytics.gaps import GapConfig, GapEngine
from analytics.simulate import NORMS, demo_org, realistic_org

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.bench_advice import evaluate, evidence  # noqa: E402

CATALOGUE = load_catalogue()


@pytest.fixture(scope="module", params=["SMB", "Mid-Market"])
def counts(request: pytest.FixtureRequest) -> dict[str, int]:
    return evaluate(request.param, 16, 60, GapConfig())


def test_focus_metrics_are_real_material_weaknesses(counts: dict[str, int]) -> None:
    # Measured on these 16 orgs: SMB 97% (69/71), Mid-Market 91% (53/58); on seeds 100-115
    # 95% and 88%, on the held-out seeds see analytics/README.md.
    assert counts["focus"] >= 50
    assert counts["focus_true"] >= 0.85 * counts["focus"], counts


def test_clear_weaknesses_lead_the_focus(counts: dict[str, int]) -> None:
    # "Clear": a 40%+ plant the window's counts show at 90%+ probability, knowing how the
    # simulator makes reps (bench_advice.evidence). Measured: 24/24 and 18/19. By 4 standard
    # errors of every noise (the previous definition): 21/22 and 17/18; of count noise only:
    # 24/27 and 20/22. Seeds are fixed: the figures cannot flake.
    assert counts["clear"] >= 15
    assert counts["clear_lead"] >= 0.9 * counts["clear"], counts
    assert counts["clear_swings_lead"] >= 0.9 * counts["clear_swings"], counts
    assert counts["clear_counts_lead"] >= 0.85 * counts["clear_counts"], counts


def test_evidence_asks_what_the_window_shows() -> None:
    """The benchmark's "clear": a 40% connect-rate drop on 600 leads is evident, the same rate
    on 60 leads or the segment's own rate is not; opportunities are judged per demo; a long
    cycle on a few deals is weak evidence, on many strong."""

    def report(key: str, num: float, den: float, unit: str | None, demos: float = 50) -> dict:
        metrics = [{"key": key, "numerator": num, "denominator": den, "unit": unit}]
        return {"metrics": [*metrics, {"key": "close_rate", "denominator": demos}]}

    def shows(key: str, num: float, den: float, unit: str | None = None) -> float | None:
        return evidence(report(key, num, den, unit), key, "Mid-Market", 0.0125)

    # Mid-Market: connect rate 20%; 20 opportunities from 10.6 demos a month; a 60-day cycle.
    assert shows("connect_rate", 72, 600, "percent") > 0.99
    assert shows("connect_rate", 7, 60, "percent") < 0.5
    assert shows("connect_rate", 120, 600, "percent") < 1e-3
    norms = NORMS["Mid-Market"]
    per_demo = norms.opportunities / (norms.leads * norms.connect * norms.discovery * norms.demo)
    assert shows("opportunities_worked", round(0.55 * per_demo * 50), 3) > 0.9
    assert shows("opportunities_worked", round(0.95 * per_demo * 50), 3) < 0.01
    assert shows("sales_cycle_days", 3 * 90, 3, "days") < 0.5  # 1.5x the cycle, 3 deals
    assert shows("sales_cycle_days", 30 * 90, 30, "days") > 0.9  # the same on 30 deals
    assert shows("avg_deal_size", 1e5, 3) is None


def test_no_manufactured_weakness(counts: dict[str, int]) -> None:
    assert counts["clean_focus"] <= 0.02 * counts["clean"], counts  # measured 0.2%, 0.6%
    assert counts["top_focus"] == 0
    assert counts["scale"] == 0
    assert counts["ramp_volume"] == 0  # never volume against tenured peers
    assert counts["ramp_cohort_volume"] == 0  # nor against the cohort, unless planted
    assert counts["small_other_focus"] <= 1


def test_no_target_beyond_reach_is_offered(counts: dict[str, int]) -> None:
    """A worked-back volume over 3x today's is never offered as a target: it is marked out of
    reach (with the lever that has to move instead), and the plan's prefilled step stays within
    the peers' top quartile."""
    assert counts["targets"] >= 900 and counts["prefills"] >= 5
    assert counts["targets_3x"] == 0
    assert counts["prefills_3x"] == 0
    assert counts["targets_3x_out"] <= 0.005 * counts["targets"], counts  # measured 2 and 0


def test_small_group_weakness_found_through_adjusted_rates(counts: dict[str, int]) -> None:
    # Measured: SMB 7/16, Mid-Market 2/16 (an Enterprise rep of a Mid-Market org has ~130
    # leads a quarter: a 50% connect-rate gap is 13 connects instead of 26).
    assert counts["small_planted"] == 16
    assert counts["small_found"] >= 2, counts


def test_ramping_reps_against_their_tenure_cohort(counts: dict[str, int]) -> None:
    # Measured: every ramping rep has a cohort of 8+; the lagging one found 14/15 and 10/15.
    assert counts["ramp_cohort"] >= 0.9 * counts["ramping"], counts
    assert counts["lag"] >= 12
    assert counts["lag_found"] >= 0.6 * counts["lag"], counts


def test_reps_without_focus_get_a_stretch_and_never_both(counts: dict[str, int]) -> None:
    assert counts["stretch_with_focus"] == 0
    # Enterprise reps (too few peers) have nothing comparable, so no stretch either.
    assert counts["stretch"] >= 0.85 * counts["no_focus"], counts


def test_consequence_not_second_focus() -> None:
    """A weak demo rate lowers opportunities worked: shown as its consequence, not a focus."""
    people, metrics, truth = realistic_org("SMB", seed=5, plant=("demo_rate", "connect_rate"))
    engine = GapEngine(metrics, people, CATALOGUE)
    consequences = 0
    for email in truth.loc[truth["planted"].notna(), "email"]:
        report = engine.report(email, "2026-06")
        assert "opportunities_worked" not in report.focus
        opportunities = next(m for m in report.metrics if m.key == "opportunities_worked")
        if opportunities.consequence_of is not None:
            consequences += 1
            assert opportunities.consequence_of in report.focus
            assert any(c.startswith("Opportunities worked") for c in report.consequences)
    assert consequences >= 1


def test_small_segment_and_ramping_reps() -> None:
    people, metrics, truth = realistic_org("SMB", seed=2, small_plant="connect_rate", ramp_lag=0.5)
    engine = GapEngine(metrics, people, CATALOGUE)
    kinds = truth.set_index("email")
    cohorts = 0
    for report in engine.reports("2026-06"):
        row = kinds.loc[report.rep]
        if row["segment"] == "Enterprise":
            compared = {m.kind for m in report.metrics if m.compared}
            assert compared == {"conversion"}
            assert report.peer_group.basis == "levels_adjusted"
            assert report.peer_group.adjusted_peers > 60
            assert any(
                "short of the 8" in w and "adjusted to the Enterprise level" in w
                for w in report.warnings
            )
            assert report.focus == (["connect_rate"] if row["kind"] == "weak" else [])
        if row["kind"] == "ramping":
            assert report.tenure_month == row["tenure_month"]
            assert any(
                w.startswith(f"Month {report.tenure_month} of ramp") for w in report.warnings
            )
            assert report.peer_group.basis == "tenure_cohort"
            assert report.peer_group.cohort >= 8
            cohorts += 1
            values = [m for m in report.metrics if m.kind == "value"]
            assert not any(m.compared or m.flagged for m in values)
            lagging = isinstance(row["planted"], str)
            assert ("leads_prospected" in report.focus) == lagging
    assert cohorts >= 2


def test_ramping_rep_without_a_cohort_is_judged_on_conversion_only() -> None:
    people, metrics, truth = realistic_org("SMB", seed=2, new_hire_share=0.0)
    engine = GapEngine(metrics, people, CATALOGUE)
    for email in truth.loc[truth["kind"] == "ramping", "email"]:
        report = engine.report(email, "2026-06")
        assert report.peer_group.basis == "group" and report.peer_group.cohort is None
        assert any("fewer than 8 reps of SMB in the data reached" in w for w in report.warnings)
        assert {m.kind for m in report.metrics if m.compared} == {"conversion"}


def test_one_group_org_under_8_compares_rates_within_itself() -> None:
    found = planted = false = 0
    for seed in range(10):
        people, metrics, truth = realistic_org(
            "SMB", n_reps=6, small_segment=0, seed=seed, weak_share=0.17,
            plant=("connect_rate", "discovery_rate", "demo_rate"),
        )  # fmt: skip
        kinds = truth.set_index("email")
        for report in GapEngine(metrics, people, CATALOGUE).reports("2026-06"):
            key = kinds.loc[report.rep, "planted"]
            if report.peer_group.basis == "tenure_cohort":
                continue
            assert report.peer_group.basis == "within_small_group"
            assert {m.kind for m in report.metrics if m.compared} == {"conversion"}
            assert any("compared within the group" in w for w in report.warnings)
            if isinstance(key, str):
                planted += 1
                found += report.focus[:1] == [key]
            else:
                false += bool(report.focus)
    # Measured: 8 of 10 planted 30-50% weaknesses lead the focus, no other rep gets one.
    assert planted == 10 and found >= 7 and false == 0


def test_out_of_reach_targets_name_another_lever() -> None:
    people, metrics, truth = realistic_org("SMB", seed=1, plant=("connect_rate",))
    engine = GapEngine(metrics, people, CATALOGUE)
    seen = 0
    for report in engine.reports("2026-06"):
        targets = report.targets
        if targets is None or not targets.out_of_reach:
            continue
        seen += 1
        assert targets.lever is not None and targets.note is not None
        leads = next(m for m in report.metrics if m.key == "leads_prospected")
        assert targets.own.leads_prospected > leads.top_quartile or (
            "opportunities" in targets.out_of_reach
        )
    assert seen >= 1


def test_demo_org_finds_the_planted_and_stretches_the_rest() -> None:
    people, metrics, planted = demo_org(end_month="2026-10")
    reports = GapEngine(metrics, people, CATALOGUE).reports("2026-10")
    by_email = {r.rep: r for r in reports}
    for email, key in planted.items():
        assert by_email[email].focus[:1] == [key]
    hana = by_email["hana.kim@example.com"]  # 200% of quota, top of her team
    assert hana.focus == [] and hana.stretch is not None
    without = [r for r in reports if not r.focus]
    assert len(without) >= 14
    assert all(r.stretch is not None for r in without)
    assert all(r.stretch is None for r in reports if r.focus)


def test_plan_prefill_is_a_reachable_step() -> None:
    from bot.coaching.numbers import parse_typed
    from bot.coaching.plans import prefill, reachable_target

    people, metrics, truth = realistic_org("SMB", seed=3, plant=("leads_prospected",))
    engine = GapEngine(metrics, people, CATALOGUE)
    checked = 0
    for email in truth.loc[truth["planted"].notna(), "email"]:
        report = engine.report(email, "2026-06")
        if report.focus[:1] != ["leads_prospected"]:
            continue
        leads = next(m for m in report.metrics if m.key == "leads_prospected")
        target = reachable_target(report, leads.model_dump(mode="json"))
        needed = report.targets.own.leads_prospected
        assert target <= leads.top_quartile
        assert target == pytest.approx(
            min(leads.peer_median, needed, key=lambda x: abs(x - leads.value))
            if needed > leads.value
            else leads.peer_median
        )
        typed = prefill(report)["targets"][0]  # as the manager's locale writes it
        assert parse_typed(typed, "count") == pytest.approx(target, abs=0.05)
        checked += 1
    assert checked >= 3


def test_peers_are_the_same_segment_and_discipline() -> None:
    people, metrics, truth = realistic_org("SMB", seed=4, weak_share=0.0)
    smb = truth.loc[(truth["segment"] == "SMB") & (truth["kind"] == "natural"), "email"].tolist()
    sdrs = set(smb[: len(smb) // 2])
    people["discipline"] = [("SDR" if e in sdrs else "AE") if r == "rep" else None
                            for e, r in zip(people["email"], people["role"], strict=True)]  # fmt: skip
    # SDRs prospect three times as much: a different motion, not a skill gap of the AEs.
    metrics.loc[metrics["rep"].isin(sdrs), "leads_prospected"] *= 3
    engine = GapEngine(metrics, people, CATALOGUE)
    for report in engine.reports("2026-06"):
        if report.segment != "SMB":
            continue
        discipline = "SDR" if report.rep in sdrs else "AE"
        assert report.peer_group.discipline == discipline
        assert "leads_prospected" not in report.focus
    ae = next(e for e in smb if e not in sdrs)
    all_smb = int((truth["segment"] == "SMB").sum())
    assert engine.report(ae, "2026-06").peer_group.size == all_smb - len(sdrs) - 1


def test_an_unreachable_quota_is_said_in_words_not_as_infinity() -> None:
    """A rate of zero on the way makes the worked-back volume infinite (None in the JSON): the
    note says no volume makes quota instead of failing to print the number."""
    people, metrics, truth = realistic_org("SMB", seed=3)
    engine = GapEngine(metrics, people, CATALOGUE)
    rep = truth.loc[truth["kind"] == "natural", "email"].iloc[0]
    shown = [m.model_dump(mode="json") for m in engine.report(rep, "2026-06").metrics]
    table = {"out_of_reach": [["leads_prospected"]], "own": [{"leads_prospected": None}]}
    note = engine._reach_note(table, 0, shown, [])["note"]
    assert note.startswith("Quota can't be reached at today's rates with more leads alone")


def test_the_lever_is_a_metric_the_rep_is_compared_on() -> None:
    """An Enterprise rep's quota out of reach: the lever named is one of the rates compared
    across groups, never the small group's deal size (another motion's)."""
    people, metrics, truth = realistic_org("SMB", seed=10, small_plant="connect_rate")
    engine = GapEngine(metrics, people, CATALOGUE)
    enterprise = 0
    for report in engine.reports("2026-06"):
        if report.targets is None or not report.targets.out_of_reach:
            continue
        lever = next(m for m in report.metrics if m.key == report.targets.lever)
        assert lever.compared, (report.rep, lever.key)
        enterprise += report.segment == "Enterprise"
    assert enterprise >= 1
