"""Reports are assembled without validating them again (`gap_report._trusted`): each must be
exactly what validation would build, and own everything it holds."""

from __future__ import annotations

import pytest

from analytics.catalogue import load_catalogue
from analytics.gaps import GapEngine
from analytics.models import GapReport
from analytics.simulate import realistic_org


@pytest.fixture(scope="module")
def engine() -> GapEngine:
    people, metrics, _ = realistic_org("SMB", n_reps=40, seed=2)
    return GapEngine(metrics, people, load_catalogue())


def test_reports_are_what_validation_builds(engine: GapEngine) -> None:
    reports = engine.reports()
    # Every part of the contract is exercised: stretch, out-of-reach targets, last month's
    # focus, consequences, and each basis with its optional fields.
    assert any(r.stretch for r in reports)
    assert any(r.targets and r.targets.out_of_reach for r in reports)
    assert any(r.trend.last_month_focus for r in reports)
    assert any(r.consequences for r in reports)
    assert {r.peer_group.basis for r in reports} >= {"group", "tenure_cohort", "levels_adjusted"}
    for report in reports:
        validated = GapReport.model_validate(report.model_dump())
        assert report.model_dump_json() == validated.model_dump_json()
        # repr shows each value's type (3 for 3.0 in a float field) and the fields' order.
        assert repr(report) == repr(validated)
        assert report.model_fields_set == validated.model_fields_set
        # Set as validating the engine's dict set them: the optional basis fields only if given.
        given = {"segment", "discipline", "size", "widened", "basis"} | _OPTIONAL[
            report.peer_group.basis
        ]
        assert report.peer_group.model_fields_set == given


_OPTIONAL = {
    "group": set(),
    "tenure_cohort": {"cohort"},
    "levels_adjusted": {"adjusted_peers"},
    "within_small_group": {"adjusted_peers"},
}


def test_each_report_owns_its_parts(engine: GapEngine) -> None:
    rep = next(r for r in engine.reports() if r.targets and r.targets.out_of_reach).rep
    first, second = engine.report(rep), engine.report(rep)
    before = second.model_dump_json()
    fields_before = second.peer_group.model_fields_set.copy()
    assert first.targets is not None
    for metric in first.metrics:
        metric.suggestions.append("changed")
    first.targets.out_of_reach.append("changed")
    first.targets.own.wins = -1.0
    first.window.append("changed")
    first.peer_group.cohort = 1
    assert second.model_dump_json() == before
    assert second.peer_group.model_fields_set == fields_before
    assert second.model_dump_json(exclude_unset=True) == engine.report(rep).model_dump_json(
        exclude_unset=True
    )
    assert engine.report(rep).model_dump_json() == before
