"""Focus ranking, trend, the empty-focus message, and every error a caller can hit."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest

from analytics.catalogue import load_catalogue
from analytics.gaps import GapConfig, GapEngine, GapError

MONTHS = [f"2026-0{m}" for m in range(1, 7)]
CATALOGUE = load_catalogue()


def people(n: int, **extra: dict) -> pd.DataFrame:
    rows = [
        {
            "email": f"rep{i:02d}@example.com",
            "name": f"Rep {i}",
            "role": "rep",
            "segment": "SMB",
            "start_date": date(2020, 1, 1),
            "active": True,
        }
        for i in range(n)
    ]
    rows.append({"email": "boss@example.com", "name": "Boss", "role": "manager", "active": True})
    return pd.DataFrame(rows)


def funnel(rep: str, month: str, **override: float) -> dict:
    """A steady rep: 400 leads → 100 connects → 40 discovery calls → 20 demos → 6 wins."""
    row = {
        "rep": rep,
        "month": month,
        "leads_prospected": 400.0,
        "connects": 100.0,
        "discovery_calls": 40.0,
        "demos": 20.0,
        "wins": 6.0,
        "losses": 8.0,
        "revenue": 60000.0,
        "quota": 60000.0,
        "opportunities_worked": 30.0,
    }
    row.update(override)
    return row


def org(
    subject: dict[str, list[dict[str, float]]], n: int = 12, config: GapConfig | None = None
) -> GapEngine:
    rows = []
    for i in range(n):
        rep = f"rep{i:02d}@example.com"
        for t, month in enumerate(MONTHS):
            override = subject.get(rep, [{}] * len(MONTHS))[t]
            # Peers vary a little so the peer figures are not degenerate.
            jitter = {"connects": 100.0 + (i % 3) - 1} if rep not in subject else {}
            rows.append(funnel(rep, month, **{**jitter, **override}))
    return GapEngine(pd.DataFrame(rows), people(n), CATALOGUE, config)


def test_focus_ranks_by_impact_and_labels_effort() -> None:
    weak = "rep00@example.com"
    # Close rate 2/20 instead of 6/20 (4 wins lost a month: 15 of 20 demos never reach a
    # decision, the win rate of those that do is the peers'), and 300 leads instead of 400
    # (a quarter of the funnel, i.e. 1.5 wins).
    subject = {
        weak: [{"wins": 2.0, "losses": 3.0, "revenue": 20000.0, "leads_prospected": 300.0}] * 6
    }
    engine = org(subject)
    report = engine.report(weak).model_dump(mode="json")
    metrics = {m["key"]: m for m in report["metrics"]}
    assert metrics["close_rate"]["flagged"] and metrics["leads_prospected"]["flagged"]
    assert report["focus"] == ["close_rate", "leads_prospected"]
    assert metrics["close_rate"]["impact"] > metrics["leads_prospected"]["impact"] > 0
    assert metrics["leads_prospected"]["effort_or_skill"] == "effort"
    assert metrics["close_rate"]["effort_or_skill"] == "skill"
    assert not metrics["bookings"]["flagged"] or "bookings" not in report["focus"]
    assert report["focus_note"] is None

    assert org(subject, config=GapConfig(max_focus=1)).report(weak).focus == ["close_rate"]


def test_a_win_rate_weakness_fills_one_slot_not_two() -> None:
    """Close rate = decided share × win rate: losing decided deals lowers both. The close rate's
    shortfall is shown as the win rate's consequence, not as a second focus."""
    weak = "rep00@example.com"
    # As many decided deals as the peers (14 of 20 demos), but 2 won instead of 6.
    engine = org({weak: [{"wins": 2.0, "losses": 12.0, "revenue": 20000.0}] * 6})
    report = engine.report(weak).model_dump(mode="json")
    metrics = {m["key"]: m for m in report["metrics"]}
    assert report["focus"] == ["win_rate"]
    assert metrics["close_rate"]["consequence_of"] == "win_rate"
    assert any(c.startswith("Close rate trails") for c in report["consequences"])


def test_outcomes_are_never_the_focus() -> None:
    weak = "rep00@example.com"
    # Only revenue differs: a tenth of the deal size.
    engine = org({weak: [{"revenue": 6000.0}] * 6})
    report = engine.report(weak)
    flagged = {m.key for m in report.metrics if m.flagged}
    assert {"bookings", "attainment"} <= flagged
    assert report.focus == ["avg_deal_size"]


def test_at_or_above_the_median_everywhere_says_so() -> None:
    engine = org({"rep00@example.com": [{}] * 6})  # exactly the peers' middle
    report = engine.report("rep00@example.com")
    assert report.focus == []
    assert report.focus_note is not None and report.focus_note.startswith("At or above")
    assert all(not m.flagged for m in report.metrics)
    assert report.trend.series == []


def test_trend_and_last_month_focus() -> None:
    weak = "rep00@example.com"
    # 1 win of 20 demos for five months, then 3 of 20 in June (peers: 6 of 20); most demos
    # never reach a decision (the win rate of those that do is the peers').
    months = [{"wins": 1.0, "losses": 1.0, "revenue": 10000.0}] * 5 + [
        {"wins": 3.0, "losses": 3.0, "revenue": 30000.0}
    ]
    engine = org({weak: months})
    report = engine.report(weak).model_dump(mode="json")
    assert report["focus"][0] == "close_rate"
    trend = report["trend"]
    assert trend["months"] == MONTHS
    series = {s["key"]: s["values"] for s in trend["series"]}
    assert series["close_rate"] == pytest.approx([0.05] * 5 + [0.15])
    follow_up = {f["key"]: f for f in trend["last_month_focus"]}
    close = follow_up["close_rate"]
    assert (close["previous"], close["current"], close["peer_median"]) == (0.05, 0.15, 0.3)
    assert close["moved_toward_median"] is True
    # May's focus is computed the same way as the June report's.
    assert engine.report(weak, "2026-05").focus[0] == "close_rate"
    # The first month has no previous month.
    assert engine.report(weak, "2026-01").trend.last_month_focus == []
    assert engine.report(weak, "2026-01").trend.months[0] == "2025-08"


def test_reports_and_report_agree_on_a_cold_engine() -> None:
    weak = "rep00@example.com"
    months = [{"wins": 3.0, "revenue": 30000.0}] * 6
    cold = org({weak: months}).report(weak).model_dump()
    warm_engine = org({weak: months})
    warm = {r.rep: r.model_dump() for r in warm_engine.reports()}
    assert warm[weak] == cold


@pytest.fixture(scope="module")
def engine() -> GapEngine:
    rows = [funnel(f"rep{i:02d}@example.com", m) for i in range(10) for m in MONTHS]
    rows.append(funnel("rep10@example.com", "2025-01"))  # long gone
    rows.append(funnel("boss@example.com", "2026-06"))
    return GapEngine(pd.DataFrame(rows), people(11), CATALOGUE)


@pytest.mark.parametrize(
    ("email", "month", "message"),
    [
        ("nobody@example.com", None, "nobody@example.com: not a rep in the org chart"),
        ("boss@example.com", None, "boss@example.com: not a rep in the org chart"),
        ("rep01@example.com", "2026-13", "month must be YYYY-MM, got '2026-13'"),
        ("rep01@example.com", "June", "month must be YYYY-MM, got 'June'"),
        (
            "rep01@example.com",
            "2026-09",
            "no metrics for 2026-09 (data covers 2025-01 to 2026-06)",
        ),
        (
            "rep01@example.com",
            "2025-06",
            "no metrics for 2025-06 (data covers 2025-01 to 2026-06)",
        ),
        ("rep10@example.com", None, "rep10@example.com: no metrics in 2026-04 to 2026-06"),
    ],
)
def test_errors_are_clear(engine: GapEngine, email: str, month: str | None, message: str) -> None:
    with pytest.raises(GapError) as info:
        engine.report(email, month)
    assert str(info.value) == message


def test_emails_are_matched_case_insensitively(engine: GapEngine) -> None:
    assert engine.report(" Rep01@Example.com ").rep == "rep01@example.com"


def test_reports_skip_reps_without_data(engine: GapEngine) -> None:
    assert "rep10@example.com" not in {r.rep for r in engine.reports()}
    with pytest.raises(GapError, match="no metrics for 2027-01"):
        engine.reports("2027-01")


def test_no_metrics_at_all() -> None:
    empty = GapEngine(pd.DataFrame(columns=["rep", "month"]), people(3), CATALOGUE)
    with pytest.raises(GapError, match="no metrics loaded"):
        empty.latest_month()
    with pytest.raises(GapError, match="no metrics loaded"):
        empty.report("rep00@example.com")


def test_bad_input_frames() -> None:
    rows = pd.DataFrame([funnel("rep00@example.com", "2026-01")] * 2)
    with pytest.raises(GapError, match="two rows for rep00@example.com in 2026-01"):
        GapEngine(rows, people(2), CATALOGUE)
    with pytest.raises(GapError, match="month must be YYYY-MM"):
        GapEngine(pd.DataFrame([funnel("rep00@example.com", "2026-1")]), people(2), CATALOGUE)
    with pytest.raises(GapError, match="people: missing column 'role'"):
        GapEngine(rows.iloc[:1], people(2).drop(columns="role"), CATALOGUE)
    with pytest.raises(GapError, match="metrics: missing column 'month'"):
        GapEngine(rows.drop(columns="month"), people(2), CATALOGUE)


def test_a_lone_rep_gets_figures_without_peers() -> None:
    engine = GapEngine(pd.DataFrame([funnel("rep00@example.com", "2026-01")]), people(1), CATALOGUE)
    report = engine.report("rep00@example.com")
    assert report.peer_group.size == 0 and report.focus == []
    assert any(w.startswith("Only 1 reps in SMB (7 short of the 8") for w in report.warnings)
    document = report.model_dump(mode="json")
    close = {m["key"]: m for m in document["metrics"]}["close_rate"]
    assert close["value"] == 0.3 and close["peer_median"] is None and close["estimate"] is None
    json.dumps(document, allow_nan=False)


@pytest.mark.parametrize(("revenue", "excused"), [(62000.0, False), (120000.0, True)])
def test_top_results_excuse_an_unlinked_gap_only_when_credible(
    revenue: float, excused: bool
) -> None:
    """Engaging half the contacts per account has no direct link to bookings: for a rep whose
    results are credibly at the top of the peers it is no month's focus. A rep who is merely
    first this quarter by a little (the peers' months swing by 15,000) still gets it."""
    weak = "rep00@example.com"
    rows = []
    for i in range(12):
        rep = f"rep{i:02d}@example.com"
        for t, month in enumerate(MONTHS):
            # Peers' bookings swing month to month; every peer's three months add to 180,000.
            booked = revenue if rep == weak else 60000.0 + 15000.0 * ((i + t) % 3 - 1)
            rows.append(
                funnel(
                    rep,
                    month,
                    revenue=booked,
                    accounts_active=40.0,
                    contacts_engaged=30.0 if rep == weak else 60.0 + (i % 3) - 1,
                )  # fmt: skip
            )
    report = GapEngine(pd.DataFrame(rows), people(12), CATALOGUE).report(weak)
    metrics = {m.key: m for m in report.metrics}
    assert metrics["contacts_per_account"].flagged
    assert metrics["bookings"].percentile == 100
    assert report.focus == ([] if excused else ["contacts_per_account"])
    assert (report.focus_note is not None and "top of the peers" in report.focus_note) == excused
