"""Gap engine, stage 4: one rep's report assembled from the month's results.

`_table` gathers a month's results (with the worked-back targets) into columns that give a row
as JSON-ready values; `_assemble` builds a rep's `GapReport` from it, with the peer-group basis,
warnings and trend.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel

from analytics.gap_advice import GapAdvice
from analytics.gap_window import _Month, _Results, format_month
from analytics.models import (
    FocusFollowUp,
    GapReport,
    Inherited,
    MetricGap,
    PeerGroup,
    Stretch,
    Targets,
    TargetSet,
    Trend,
    TrendSeries,
)


class GapAssembly(GapAdvice):
    """The report of one rep and month, from the results of stage 3."""

    # ---------------------------------------------------------------- assembling a report

    def _table(self, state: _Month, results: _Results) -> dict[str, Any]:
        """Every figure a report needs, per row of `results`: `table[name][row]` is a row's
        JSON-ready Python value(s). Kept as arrays and converted a row at a time, as reports
        ask: every row's figures as Python floats in lists held ~35 MB of a warm replica at
        5,000 reps, for the same conversion work (each report converts its own row once)."""
        if results.table is not None:
            return results.table
        reps = results.reps
        pos = self._pos
        value = state.value[reps]
        counted = state.count[reps] > 0
        nan = np.full(len(reps), np.nan)

        def column(source: np.ndarray, key: str) -> np.ndarray:
            return source[:, pos[key]] if key in pos else nan

        def monthly(key: str) -> np.ndarray:
            if key not in pos:
                return nan
            months = state.count[reps, pos[key]]
            return np.where(months > 0, state.den[reps, pos[key]] / np.maximum(months, 1), np.nan)

        quota = state.extras["quota"][reps]
        current = np.where(np.isfinite(results.estimate), results.estimate, value)
        with np.errstate(divide="ignore", invalid="ignore"):
            own = _needed(quota, lambda key: column(current, key))
            team = _needed(quota, lambda key: column(results.peer_median, key))
        actual = {
            "wins": monthly("avg_deal_size"),
            "opportunities": monthly("win_rate"),
            "demos": monthly("close_rate"),
            "discovery_calls": monthly("demo_rate"),
            "connects": monthly("discovery_rate"),
            "leads_prospected": monthly("connect_rate"),
            "pipeline_coverage": nan,
        }
        keys = [m.key for m in self.metrics]
        as_json, as_python = _json, _python

        def consequence(row: np.ndarray) -> list[str | None]:
            return [keys[d] if d >= 0 else None for d in row.tolist()]

        table: dict[str, Any] = {
            "value": _Column(value, as_json),
            "numerator": _Column(np.where(counted, state.num[reps], np.nan), as_json),
            "denominator": _Column(np.where(counted, state.den[reps], np.nan), as_json),
            "peer_median": _Column(results.peer_median, as_json),
            "top_quartile": _Column(results.top_quartile, as_json),
            "percentile": _Column(results.percentile, as_json),
            "estimate": _Column(results.estimate, as_json),
            "credibility": _Column(results.credibility, as_json),
            "material_line": _Column(results.material_line, as_json),
            "materiality": _Column(results.materiality, as_json),
            "compared": _Column(results.comparable, as_python),
            "consequence_of": _Column(results.consequence_of, consequence),
            "impact": _Column(results.impact, as_json),
            "flagged": _Column(results.flagged, as_python),
            "peer_count": _Column(results.peer_count, as_python),
            "peer_size": _Column(results.peer_size, as_python),
            "quota": _Column(quota, _num),
            "inherited_wins": _Column(state.extras["inherited_wins"][reps], as_python),
            "inherited_revenue": _Column(state.extras["inherited_revenue"][reps], as_python),
        }
        for name, figures in (("own", own), ("team", team), ("actual", actual)):
            volumes = np.column_stack([figures[field] for field in _TARGET_FIELDS])
            table[name] = _Column(volumes, _volumes)
        reach = self._reach(own, actual, column(results.top_quartile, "leads_prospected"),
                            column(results.top_quartile, "opportunities_worked"))  # fmt: skip
        table["out_of_reach"] = reach
        results.table = table
        return table

    def _assemble(
        self,
        state: _Month,
        results: _Results,
        rep: int,
        previous_focus: list[int],
        today: date | None,
    ) -> GapReport:
        row = results.row(rep)
        table = self._table(state, results)
        # One row of each per-metric column, then one dict per metric: a copy of its template
        # (MetricGap's fields in order) with the figures filled in.
        columns = zip(*(table[name][row] for name in _PER_METRIC), strict=True)
        metrics = []
        for (template, ideas), figures in zip(self._static, columns, strict=True):
            one = template.copy()
            one.update(zip(_PER_METRIC, figures, strict=True))
            one["suggestions"] = [*ideas]
            metrics.append(one)
        focus = results.focus[row]
        tenure = self._tenure_month(rep, state.window[-1])
        year, mon = divmod(state.window[-1], 12)
        day = today or date(year, mon + 1, calendar.monthrange(year, mon + 1)[1])
        start = self._starts[rep]
        ramping = start is not None and (day - start).days < self.config.ramp_days
        inherited = {
            "wins": table["inherited_wins"][row],
            "revenue": table["inherited_revenue"][row],
        }
        quota = table["quota"][row]
        targets = None
        if quota is not None:
            volumes = {name: _trusted(TargetSet, table[name][row]) for name in _VOLUMES}
            reach = self._reach_note(table, row, metrics, focus)
            reach["out_of_reach"] = [*reach["out_of_reach"]]
            targets = _trusted(Targets, {"quota": quota, **volumes, **reach})
        stretch = self._stretch(results.stretch[row], metrics)
        trend = self._trend(state, table, row, rep, focus, previous_focus)
        basis = self._basis(results, row)
        return _trusted(
            GapReport,
            {
                "rep": str(self._emails[rep]),
                "name": self._names[rep],
                "segment": self._segments[rep],
                "month": format_month(state.window[-1]),
                "window": [format_month(x) for x in state.window],
                "through": self._through.get(state.window[-1]),
                "peer_group": _trusted(
                    PeerGroup,
                    {
                        "segment": state.pool_of[rep][0],
                        "discipline": state.pool_of[rep][1],
                        "size": table["peer_size"][row],
                        "widened": False,
                        "basis": basis["basis"],
                        "cohort": basis.get("cohort"),
                        "adjusted_peers": basis.get("adjusted_peers"),
                    },
                    given=_PEER_GROUP_GIVEN | basis.keys(),
                ),
                "ramping": ramping,
                "tenure_month": tenure,
                "material_gap": self.config.material_gap,
                "metrics": _trusted_all(MetricGap, metrics),
                "focus": [self.metrics[i].key for i in focus],
                "focus_note": self._focus_note(metrics, focus),
                "consequences": [
                    f"{m['label']} trails the peers as a consequence of "
                    f"{self.metrics[self._pos[m['consequence_of']]].label.lower()}: "
                    "coach that stage, not this count."
                    for m in metrics
                    if m["consequence_of"] is not None
                ],
                "stretch": None if stretch is None else _trusted(Stretch, stretch),
                "targets": targets,
                "trend": _trusted(
                    Trend,
                    {
                        "months": trend["months"],
                        "series": [_trusted(TrendSeries, x) for x in trend["series"]],
                        "last_month_focus": [
                            _trusted(FocusFollowUp, x) for x in trend["last_month_focus"]
                        ],
                    },
                ),
                "inherited": _trusted(Inherited, inherited),
                "warnings": self._warnings(
                    state, results, row, rep, metrics, basis, ramping, day, tenure
                ),
            },
        )

    @staticmethod
    def _basis(results: _Results, row: int) -> dict[str, Any]:
        """The report's `peer_group` fields saying what the rep was judged against."""
        cohort = int(results.cohort_size[row])
        peers, across = (int(x) for x in results.adjusted[row])
        if cohort >= 0:
            return {"basis": "tenure_cohort", "cohort": cohort}
        if peers:
            basis = "levels_adjusted" if across else "within_small_group"
            return {"basis": basis, "adjusted_peers": peers}
        return {"basis": "group"}

    @property
    def _static(self) -> list[tuple[dict[str, Any], tuple[str, ...]]]:
        """Per metric, computed once: a template of its MetricGap fields in field order, those
        from the catalogue filled in (the figures None), and its suggestions."""
        if not hasattr(self, "_static_fields"):
            self._static_fields = [
                (
                    {
                        "key": m.key,
                        "label": m.label,
                        "kind": m.kind,
                        "direction": m.direction,
                        "stage": m.stage,
                        "unit": m.unit,
                        "effort_or_skill": _EFFORT_OR_SKILL[m.kind],
                        **dict.fromkeys(_PER_METRIC),
                        "sentence": m.sentence,
                        "suggestions": None,
                    },
                    tuple(m.suggestions),
                )
                for m in self.metrics
            ]
        return self._static_fields

    def _warnings(
        self,
        state: _Month,
        results: _Results,
        row: int,
        rep: int,
        metrics: list[dict[str, Any]],
        basis: dict[str, Any],
        ramping: bool,
        day: date,
        tenure: int | None,
    ) -> list[str]:
        cfg = self.config
        warnings = []
        table = self._table(state, results)
        size = table["peer_size"][row]
        segment, discipline = state.pool_of[rep]
        group = " ".join(x for x in (segment, discipline) if x) or "the org"
        if segment is None and any(s is not None for s in self._segments):
            warnings.append(f"No segment on file; compared with all {size} other reps.")
        group_size = int(state.group_size[rep])
        if group_size < cfg.min_peer_group and basis["basis"] != "tenure_cohort":
            if basis["basis"] == "levels_adjusted":
                rates = (
                    f"conversion rates are compared with {basis['adjusted_peers']} reps across "
                    f"groups, each group's rates adjusted to the {group} level."
                )
            elif basis["basis"] == "within_small_group":
                rates = (
                    "conversion rates are compared within the group, its natural spread "
                    "estimated from these few reps: read the figures with care."
                )
            else:
                rates = "nothing is flagged."
            warnings.append(
                f"Only {group_size} reps in {group} ({cfg.min_peer_group - group_size} short of "
                f"the {cfg.min_peer_group} a benchmark needs): volumes, deal size and cycle are "
                "shown for reference, not flagged (other segments and disciplines work at "
                f"another scale); {rates}"
            )
        if self._in_ramp(rep, state) and tenure is not None:
            if basis["basis"] == "tenure_cohort":
                first = max(tenure - cfg.window_months + 1, 1)
                warnings.append(
                    f"Month {tenure} of ramp: compared with {basis['cohort']} reps of {group} "
                    f"in their own tenure months {first}–{tenure} (the data's history): "
                    "volumes and conversion; deal size, cycle and accounts are not judged yet."
                )
            else:
                warnings.append(
                    f"Month {tenure} of ramp: fewer than {cfg.min_peer_group} reps of {group} "
                    f"in the data reached month {tenure}, so volumes, deal size and cycle are "
                    "not compared with tenured peers; only material, credible conversion gaps "
                    "are flagged."
                )
        start = self._starts[rep]
        if ramping and start is not None:
            warnings.append(
                f"Ramping: started {start.isoformat()}, {(day - start).days} days before "
                f"{day.isoformat()}; compare with care."
            )
        wins, revenue = table["inherited_wins"][row], table["inherited_revenue"][row]
        if wins or revenue:
            warnings.append(
                f"Inherited deals (bluebirds) kept out of skill metrics: {wins:,.0f} wins, "
                f"{revenue:,.0f} in revenue in the window."
            )
        small, missing = [], []
        for metric, figures in zip(self.metrics, metrics, strict=True):
            if figures["value"] is None:
                missing.append(f"{metric.label} (no {metric.denominator_label or 'data'})")
            elif (
                metric.denominator is not None
                and metric.kind != "outcome"
                and figures["denominator"] < cfg.min_sample
            ):
                what = metric.denominator_label or "in the denominator"
                small.append(f"{metric.label} {figures['denominator']:,.0f} {what}")
        if small:
            warnings.append(
                "Small samples (estimates lean on the peers): " + "; ".join(small) + "."
            )
        if missing:
            warnings.append("Not computable in the window: " + "; ".join(missing) + ".")
        absent = [
            format_month(number)
            for number in state.window
            if not 0 <= number - self._first < self._span
            or not self._has_row[rep, number - self._first]
        ]
        if absent:
            warnings.append(f"No metrics for {', '.join(absent)} in the window.")
        partial = [(n, self._through[n]) for n in state.window if n in self._through]
        for number, through in partial:
            days = calendar.monthrange(through.year, through.month)[1]
            warnings.append(
                f"{format_month(number)} is month to date, through {through.isoformat()}: "
                f"its volumes count as {through.day} of {days} days (scaled to a full month), "
                "and it is not judged until the full month is imported."
            )
        return warnings

    def _trend(
        self,
        state: _Month,
        table: dict[str, Any],
        row: int,
        rep: int,
        focus: list[int],
        previous_focus: list[int],
    ) -> dict[str, Any]:
        months = range(state.t - self.config.trend_months + 1, state.t + 1)
        series = [
            {
                "key": self.metrics[m].key,
                "values": [_num(self._month_value(m, rep, t)) if t >= 0 else None for t in months],
            }
            for m in focus
        ]
        follow_ups = []
        for m in previous_focus:
            before = _num(self._month_value(m, rep, state.t - 1))
            now = _num(self._month_value(m, rep, state.t))
            median = table["peer_median"][row][m]
            moved = None
            if before is not None and now is not None and median is not None:
                sign = 1.0 if self.metrics[m].direction == "higher" else -1.0
                # The gap is how far the value trails the median (negative once past it).
                moved = (median - now) * sign < (median - before) * sign
            follow_ups.append(
                {
                    "key": self.metrics[m].key,
                    "previous": before,
                    "current": now,
                    "peer_median": median,
                    "moved_toward_median": moved,
                }
            )
        return {
            "months": [format_month(self._first + t) for t in months],
            "series": series,
            "last_month_focus": follow_ups,
        }


_EFFORT_OR_SKILL: dict[str, str | None] = {
    "activity": "effort",
    "conversion": "skill",
    "value": "skill",
    "outcome": None,
}
_PER_METRIC = (
    "value",
    "numerator",
    "denominator",
    "peer_median",
    "top_quartile",
    "percentile",
    "peer_count",
    "estimate",
    "credibility",
    "material_line",
    "materiality",
    "compared",
    "flagged",
    "consequence_of",
    "impact",
)
_TARGET_FIELDS = (
    "wins",
    "opportunities",
    "demos",
    "discovery_calls",
    "connects",
    "leads_prospected",
    "pipeline_coverage",
)


_VOLUMES = ("own", "team", "actual")
_PEER_GROUP_GIVEN = frozenset(("segment", "discipline", "size", "widened"))
_Model = TypeVar("_Model", bound=BaseModel)


def _trusted(
    model: type[_Model], values: dict[str, Any], given: Iterable[str] | None = None
) -> _Model:
    """A `model` holding `values` (every field, in field order) without validating them again.

    For the engine's own output only: its inputs were validated where they came in (the
    imports, GapConfig), and `_assemble` builds each value with the type validation would give
    (floats and None from `_json`/`_num`, ints and bools from `tolist`), which the tests check
    by a round trip through `model_validate` on simulated orgs. Validating some 100,000 nested
    objects again took a fifth of `reports()`; `model_construct` is slower still (it loops over
    the fields in Python), so this sets what it sets. `given`: the fields set (default: all).

    With every field set, the instances of a model share one set of them: pydantic only adds a
    field's name to it (on assignment: already there) and copies it (`model_copy`), so sharing
    changes nothing, and spares some 20 objects per report to create, collect and free.
    """
    instance = _trusted_all(model, [values])[0]
    if given is not None:
        _set(instance, "__pydantic_fields_set__", set(given))
    return instance


def _trusted_all(model: type[_Model], values: list[dict[str, Any]]) -> list[_Model]:
    """`_trusted` of each of `values` (every field set), in one call."""
    fields = _ALL_FIELDS.get(model) or _ALL_FIELDS.setdefault(model, set(model.model_fields))
    out = []
    for one in values:
        instance = _new(model)
        _set(instance, "__dict__", one)
        _set(instance, "__pydantic_fields_set__", fields)
        _set(instance, "__pydantic_extra__", None)
        _set(instance, "__pydantic_private__", None)
        out.append(instance)
    return out


# BaseModel's own __setattr__ validates names; these are what model_construct calls.
_new, _set = object.__new__, object.__setattr__
_ALL_FIELDS: dict[type[BaseModel], set[str]] = {}


def _num(x: Any) -> float | None:
    """A float for JSON: None for NaN, infinities and None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


class _Column:
    """One figure for every row of a month's results; `column[row]` is the row's value(s)
    converted by `convert` (a fresh object each time: each report owns what it holds)."""

    __slots__ = ("_convert", "_values")

    def __init__(self, values: np.ndarray, convert: Callable[[Any], Any]) -> None:
        self._values, self._convert = values, convert

    def __getitem__(self, row: int) -> Any:
        return self._convert(self._values[row])


def _python(values: Any) -> Any:
    """Array elements (or one) as Python ints, floats and bools, as `tolist` makes them."""
    return values.tolist()


def _volumes(row: np.ndarray) -> dict[str, float | None]:
    """A row of worked-back monthly volumes as a TargetSet's fields."""
    return dict(zip(_TARGET_FIELDS, _json(row), strict=True))


def _json(values: np.ndarray) -> list[Any]:
    """An array as nested Python lists, NaN and infinities as None."""
    out = np.asarray(values, dtype=float).astype(object)
    out[~np.isfinite(np.asarray(values, dtype=float))] = None
    return out.tolist()


def _needed(quota: np.ndarray, rate: Any) -> dict[str, np.ndarray]:
    """Monthly volumes needed to make quota at the given rates (`rate(key)` → array by rep).

    Wins = Q / deal size; opportunities = wins / win rate (Q / (A·w)); then back up the funnel:
    demos = wins / close rate, discovery calls = demos / demo rate, connects = discovery calls /
    discovery rate, leads = connects / connect rate. Pipeline coverage = 1 / win rate.
    """
    wins = quota / rate("avg_deal_size")
    demos = wins / rate("close_rate")
    discovery = demos / rate("demo_rate")
    connects = discovery / rate("discovery_rate")
    return {
        "wins": wins,
        "opportunities": wins / rate("win_rate"),
        "demos": demos,
        "discovery_calls": discovery,
        "connects": connects,
        "leads_prospected": connects / rate("connect_rate"),
        "pipeline_coverage": 1.0 / rate("win_rate"),
    }
