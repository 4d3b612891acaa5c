"""What became of a coaching plan's focus metric, and which actions close which gaps (pure).

A metric is coached *because* it looked low, and part of any low is luck: next month is expected
to be better with no coaching at all (regression to the mean). So a plan is judged against what
the rep was expected to do without coaching — the engine's shrunk estimate on the report the plan
was made on (the window ending the month before the plan's month), which already discounts luck
— not against the raw value that got the metric chosen. The evidence is the rep's own counts from
the plan's month on (never the months the estimate was made from), up to `window_months` of them
as they arrive:

- `closed`: the rep is credibly no longer materially behind the peers — the rule that flags a gap,
  turned around: P(true value better than the material line, the peers' typical value
  `material_gap` worse) ≥ `VERDICT_CONFIDENCE`, on the rep's own counts alone (no pull toward the
  peers, so a lack of data never closes a gap);
- `improved` / `worse`: the rep's true value over those months is credibly (≥ VERDICT_CONFIDENCE)
  better / worse than the expectation, counting the expectation's own uncertainty;
- `no change`: neither, though those months would have shown a move the size of a material gap;
- `not enough data`: no counts in those months, no expectation to judge against, or too few
  counts to tell a material move from noise.

A target is reported as met or not (`target_met`, the value over the months judged), but never
closes a plan by itself. A plan made while the rep ramped (the report's window held one of their
first `ramp_months` tenure months) has no expectation — their numbers grow with tenure whatever
the coaching — so it can close, or have not enough data, never improve or worsen.

The months judged run from the plan's month to `window_months` later, as far as full months are
in (a month to date waits), so a plan is judged again as each month arrives and settles on the
same number of months the gap was found on. The figures shown beside a verdict are those judged:
the months, the rep's value over them, the expectation, and the peers' median and material line
on the window ending the last month judged.

"Credibly" uses the metric's own noise model on the rep's counts (k of n): a Jeffreys posterior
for rates (beta for conversions, gamma for counts per month) on counts divided by the peers'
month-to-month dispersion φ the engine measured (quasi-likelihood, as the engine does), and, for
amounts per unit (deal size, cycle days), a normal approximation with the peers' per-unit variance
(or a coefficient of variation of 1 per unit when the engine has none). The expectation's
uncertainty is the spread of the engine's posterior at plan time, read off the probabilities it
reports (credibility, materiality) as a normal approximation.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special

from analytics.catalogue import Direction, ShrinkageModel
from analytics.gaps import GapEngine, GapError, format_month, parse_month
from analytics.models import GapReport, MetricGap

Verdict = Literal["closed", "improved", "no change", "worse", "not enough data"]
VERDICTS: tuple[Verdict, ...] = ("closed", "improved", "no change", "worse", "not enough data")
# A verdict is a claim about one rep: with no coaching effect, about 1 plan in 10 reads improved
# and 1 in 10 worse by chance at this confidence (the flag threshold's 0.8 would make it 1 in 5).
VERDICT_CONFIDENCE = 0.9
SUCCESS: tuple[Verdict, ...] = ("closed", "improved")  # what lessons are learnt from

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(24)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


@dataclass(frozen=True)
class Outcome:
    """A focus metric's verdict, the probability behind `improved` / `worse`, and the target."""

    verdict: Verdict
    p_better: float | None  # P(true value over the months judged is better than expected)
    target_met: bool | None = None  # the value over the months judged meets the target


def p_better(
    model: ShrinkageModel,
    direction: Direction,
    k: float,
    n: float,
    baseline: float,
    scale: float | None = None,
) -> float:
    """Probability that the true value behind k of n is better than `baseline`.

    `scale` is the engine's noise level: the dispersion φ for the count models (counts are
    divided by it), the per-unit variance for `normal`; None: pure count noise (φ = 1), and a
    coefficient of variation of 1 per unit for `normal`.
    """
    if model == "beta_binomial":
        phi = max(scale or 1.0, 1.0)
        b = min(max(baseline, 0.0), 1.0)
        k = min(max(k, 0.0), n)
        above = 1.0 - float(special.betainc(k / phi + 0.5, (n - k) / phi + 0.5, b))
    elif model == "gamma_poisson":
        phi = max(scale or 1.0, 1.0)
        above = float(special.gammaincc(max(k, 0.0) / phi + 0.5, max(baseline, 0.0) * n / phi))
    else:
        mean = k / n
        spread = _normal_spread(mean, n, scale) or 1e-12
        above = 0.5 * math.erfc((baseline - mean) / (spread * math.sqrt(2)))
    return above if direction == "higher" else 1.0 - above


def _normal_spread(mean: float, n: float, scale: float | None) -> float:
    """The standard error of an amount per unit over n units."""
    return math.sqrt(scale / n) if scale else abs(mean) / math.sqrt(n)


def posterior_sd(model: ShrinkageModel, k: float, n: float, scale: float | None = None) -> float:
    """The standard deviation of the posterior behind `p_better` (same model, same noise)."""
    if model == "beta_binomial":
        phi = max(scale or 1.0, 1.0)
        k = min(max(k, 0.0), n)
        a, b = k / phi + 0.5, (n - k) / phi + 0.5
        return math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1.0)))
    if model == "gamma_poisson":
        phi = max(scale or 1.0, 1.0)
        return math.sqrt(max(k, 0.0) / phi + 0.5) / (n / phi)
    return _normal_spread(k / n, n, scale)


def p_better_than_uncertain(
    model: ShrinkageModel,
    direction: Direction,
    k: float,
    n: float,
    expectation: float,
    spread: float,
    scale: float | None = None,
) -> float:
    """`p_better` against an expectation that is itself uncertain (normal, sd `spread`):
    averaged over it by Gauss–Hermite quadrature."""
    if spread <= 0:
        return p_better(model, direction, k, n, expectation, scale)
    return float(
        sum(
            w * p_better(model, direction, k, n, expectation + spread * z, scale)
            for z, w in zip(_NODES, _WEIGHTS, strict=True)
        )
    )


def _at_least(direction: Direction, value: float, than: float) -> bool:
    return value >= than if direction == "higher" else value <= than


def material_line(direction: Direction, typical: float, material_gap: float) -> float:
    """The line a flag is tested against: the peers' typical true value, `material_gap` worse."""
    return typical * (1.0 - material_gap if direction == "higher" else 1.0 + material_gap)


def judge(
    *,
    model: ShrinkageModel,
    direction: Direction,
    numerator: float | None,
    denominator: float | None,
    expectation: float | None,
    expectation_sd: float = 0.0,
    typical: float | None,
    material_gap: float,
    target: float | None = None,
    scale: float | None = None,
    confidence: float = VERDICT_CONFIDENCE,
) -> Outcome:
    """The verdict on one focus metric from the rep's counts since the plan (see the module
    docstring). `typical` is the peers' typical true value; `scale` the engine's noise level."""
    if numerator is None or not denominator or denominator <= 0:
        return Outcome("not enough data", None)
    k, n = float(numerator), float(denominator)
    value = k / n
    met = None if target is None else _at_least(direction, value, target)
    p = (
        None
        if expectation is None
        else round(
            p_better_than_uncertain(model, direction, k, n, expectation, expectation_sd, scale), 4
        )
    )
    if typical is not None:
        line = material_line(direction, typical, material_gap)
        if p_better(model, direction, k, n, line, scale) >= confidence:
            return Outcome("closed", p, met)
    if p is None:
        return Outcome("not enough data", None, met)
    if p >= confidence:
        return Outcome("improved", p, met)
    if 1.0 - p >= confidence:
        return Outcome("worse", p, met)
    # Could these months have shown a move the size of a material gap? If not, they can't decide.
    size = material_gap * abs(typical if typical is not None else expectation or 0.0)
    noise = math.hypot(expectation_sd, posterior_sd(model, k, n, scale))
    if size <= 0 or size < float(special.ndtri(confidence)) * noise:
        return Outcome("not enough data", p, met)
    return Outcome("no change", p, met)


def expectation_spread(metric: MetricGap, material_gap: float) -> float:
    """The sd of the engine's posterior for `metric`, read off the probabilities it reports:
    credibility = P(true value worse than the typical value) and materiality = P(worse than the
    material line), each Φ((reference − estimate) / sd) under a normal approximation. The better
    conditioned of the two (nearest ½, not within 0.02 of it nor of 0 or 1) is used; 0 when
    neither tells (only the new months' noise then counts)."""
    estimate = metric.estimate
    if estimate is None or metric.material_line is None:
        return 0.0
    sign = 1.0 if metric.direction == "higher" else -1.0
    line = metric.material_line
    typical = line / (1.0 - material_gap * sign) if material_gap * sign != 1.0 else None
    candidates = [(line, metric.materiality), (typical, metric.credibility)]
    best = 0.0
    nearest = 1.0
    for reference, worse in candidates:
        if reference is None or worse is None or not 0.001 < worse < 0.999:
            continue
        if abs(worse - 0.5) < 0.02:
            continue
        # P(worse) = P(sign·(true − reference) < 0) = Φ(sign·(reference − estimate) / sd).
        z = float(special.ndtri(worse))
        sd = sign * (reference - estimate) / z
        if sd > 0 and abs(worse - 0.5) < nearest:
            best, nearest = sd, abs(worse - 0.5)
    return best


@dataclass(frozen=True)
class Judgement:
    """A plan's focus metric judged, with every figure the verdict rests on."""

    outcome: Outcome
    first: str  # the months judged, the plan's month first
    last: str
    value: float | None  # the rep's value over those months
    numerator: float | None
    denominator: float | None
    expectation: float | None  # without coaching: the engine's estimate the month before
    peer_median: float | None  # the peers' median on the window ending the last month judged
    material_line: float | None
    estimate: float | None  # the engine's estimate on that window (for reference)

    @property
    def verdict(self) -> Verdict:
        """The outcome's verdict."""
        return self.outcome.verdict

    @property
    def months(self) -> int:
        """How many months were judged."""
        return parse_month(self.last) - parse_month(self.first) + 1


def months_judged(engine: GapEngine, month: str, window: int) -> tuple[str, str] | None:
    """The months a plan of `month` is judged on: from its month, up to `window` of them, as
    far as full months have been imported (a month to date waits); None while there are none."""
    try:
        latest = parse_month(engine.latest_month())
    except GapError:
        return None
    first = parse_month(month)
    last = min(first + window - 1, latest)
    while last >= first and engine.through(format_month(last)) is not None:
        last -= 1
    if last < first:
        return None
    return format_month(first), format_month(last)


def judge_plan(
    engine: GapEngine,
    email: str,
    month: str,
    key: str,
    target: float | None = None,
    confidence: float = VERDICT_CONFIDENCE,
) -> Judgement | None:
    """Judge a plan of `month` for the rep `email` on metric `key` (of the engine's catalogue;
    KeyError if unknown) with the engine's figures: the expectation from the report the plan was
    made on (the window ending the month before), the rep's own counts from the plan's month on,
    the peers on the window ending the last month judged. None while none of the plan's months
    are in (see `months_judged`)."""
    spec = engine.catalogue.metric(key)
    window = engine.config.window_months
    span = months_judged(engine, month, window)
    if span is None:
        return None
    first, last = span
    then_report = _report(engine, email, format_month(parse_month(month) - 1))
    then = _metric_of(then_report, key)
    now_report = _report(engine, email, last)
    now = _metric_of(now_report, key)
    material_gap = now_report.material_gap if now_report else engine.config.material_gap
    k, n = engine.counts(email, key, first, last)
    try:
        scale = engine.noise_scale(email, last, key)
    except GapError:  # no rep at all has numbers that month
        scale = None
    typical = None
    if now is not None and now.material_line is not None:
        sign = 1.0 if spec.direction == "higher" else -1.0
        typical = now.material_line / (1.0 - material_gap * sign)
    expectation = then.estimate if then is not None and not _ramping(then_report, engine) else None
    outcome = judge(
        model=spec.model,
        direction=spec.direction,
        numerator=k,
        denominator=n,
        expectation=expectation,
        expectation_sd=expectation_spread(then, material_gap) if then is not None else 0.0,
        typical=typical,
        material_gap=material_gap,
        target=target,
        scale=scale,
        confidence=confidence,
    )
    return Judgement(
        outcome=outcome,
        first=first,
        last=last,
        value=k / n if n else None,
        numerator=k if n else None,
        denominator=n if n else None,
        expectation=expectation,
        peer_median=now.peer_median if now else None,
        material_line=now.material_line if now else None,
        estimate=now.estimate if now else None,
    )


def _ramping(report: GapReport | None, engine: GapEngine) -> bool:
    """The plan was made while the rep ramped (the report's window held one of their first
    `ramp_months` tenure months): their volumes and rates grow with tenure whatever the coaching,
    so the estimate then is no expectation for the months after."""
    if report is None or report.tenure_month is None:
        return False
    first = report.tenure_month - engine.config.window_months + 1
    return first <= engine.config.ramp_months


def _report(engine: GapEngine, email: str, month: str) -> GapReport | None:
    try:
        return engine.report(email, month)
    except GapError:
        return None


def _metric_of(report: GapReport | None, key: str) -> MetricGap | None:
    if report is None:
        return None
    return next((m for m in report.metrics if m.key == key), None)


@dataclass(frozen=True)
class ActionRecord:
    """One action of one plan on a metric, and how that plan ended."""

    action: str
    verdict: str


@dataclass(frozen=True)
class WorkedAction:
    """An action as the org has used it on one gap: how often a plan with it closed the gap or
    credibly improved on it, of how many judged."""

    action: str
    closed: int
    improved: int
    used: int

    @property
    def rate(self) -> float:
        """Successes (closed or improved) ÷ used."""
        return (self.closed + self.improved) / self.used


def _normal(action: str) -> str:
    return " ".join(action.lower().split()).strip(" .,;:!?•-")


def what_worked(records: Iterable[ActionRecord], limit: int = 3) -> list[WorkedAction]:
    """Actions of at least one plan that closed or credibly improved the gap, most successful
    first: by success rate, then by successes, then by text. Actions differing only in case,
    spacing or trailing punctuation count as one (shown as first written)."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    shown: dict[str, str] = {}
    for record in records:
        key = _normal(record.action)
        if not key:
            continue
        shown.setdefault(key, record.action.strip())
        counts[key]["used"] += 1
        counts[key][record.verdict] += 1
    ranked = [
        WorkedAction(shown[k], c["closed"], c["improved"], c["used"])
        for k, c in counts.items()
        if c["closed"] + c["improved"]
    ]
    ranked.sort(key=lambda w: (-w.rate, -(w.closed + w.improved), w.action.lower()))
    return ranked[:limit]


def persistent(history: list[tuple[str, list[str], set[str]]], at_least: int = 3) -> dict[str, int]:
    """Metrics coached `at_least` months in a row without closing, up to the latest plan.

    `history` is the rep's judged plans oldest first, each as (month YYYY-MM, focus metric keys,
    keys it closed). A metric's run ends when a plan closes it or leaves it out, or a month goes
    by without a plan; the result maps each metric whose latest run is long enough to its length.
    """
    runs: dict[str, int] = {}
    previous: int | None = None
    for month, focus, closed in history:
        number = parse_month(month)
        if previous is not None and number != previous + 1:
            runs = {}
        previous = number
        runs = {key: runs.get(key, 0) + 1 for key in focus if key not in closed}
    return {key: n for key, n in runs.items() if n >= at_least}
