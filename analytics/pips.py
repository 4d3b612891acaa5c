"""A PIP's outcome metrics judged at its end (pure).

Each outcome metric is judged on the rep's counts pooled over the full months from the PIP's
start to the metric's deadline, with the same noise model as plan verdicts (`p_better`):

- `met`: the pooled value reached the target;
- `not met`: it didn't, and the rep's true value is credibly short of the target (probability
  at least the flag threshold): the shortfall is not measurement noise;
- `not enough data`: no numbers in those months, or too few to tell a miss from noise.

A PIP can cost someone their job, so a miss counts only when the data says so: noise never
fails a rep.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from analytics.catalogue import Direction, Metric, ShrinkageModel
from analytics.outcomes import p_better

PipVerdict = Literal["met", "not met", "not enough data"]
PIP_VERDICTS: tuple[PipVerdict, ...] = ("met", "not met", "not enough data")
WEEKS_PER_MONTH = 52 / 12


@dataclass(frozen=True)
class Pooled:
    """A metric over some months: k of n (a count over months, for an activity) and k / n."""

    numerator: float
    denominator: float

    @property
    def value(self) -> float | None:
        """k / n, or None without a denominator."""
        return self.numerator / self.denominator if self.denominator else None


def pooled(
    metric: Metric, months: Iterable[Mapping[str, float]], zero_if_missing: Iterable[str] = ()
) -> Pooled | None:
    """The metric over the months whose counts it can be computed from (sums, never an average
    of monthly rates); an activity's denominator is the number of months. Columns in
    `zero_if_missing` (the catalogue's bluebirds) count as 0 when absent. None without any."""
    numerator_terms, denominator_terms = metric.numerator_terms, metric.denominator_terms
    defaults = dict.fromkeys(zero_if_missing, 0.0)
    k = n = 0.0
    used = 0
    for given in months:
        counts = {**defaults, **given}
        if not set(metric.columns) <= set(counts):
            continue  # a month without the columns says nothing about this metric
        k += sum(c * counts[col] for col, c in numerator_terms.items())
        n += (
            1.0
            if denominator_terms is None
            else sum(c * counts[col] for col, c in denominator_terms.items())
        )
        used += 1
    if not used or n <= 0:
        return None
    return Pooled(k, n)


def per_week(metric: Metric, value: float | None) -> float | None:
    """A monthly figure as a weekly level: volumes per month become per week, rates stay."""
    if value is None or metric.kind != "activity":
        return value
    return value / WEEKS_PER_MONTH


def _reached(direction: Direction, value: float, target: float) -> bool:
    return value >= target if direction == "higher" else value <= target


def pip_verdict(
    *,
    model: ShrinkageModel,
    direction: Direction,
    figures: Pooled | None,
    target: float,
    threshold: float = 0.8,
) -> tuple[PipVerdict, float | None]:
    """The verdict on one outcome metric, and P(the rep's true value reached the target)."""
    value = figures.value if figures is not None else None
    if figures is None or value is None:
        return "not enough data", None
    p = round(p_better(model, direction, figures.numerator, figures.denominator, target), 4)
    if _reached(direction, value, target):
        return "met", p
    if 1.0 - p >= threshold:
        return "not met", p
    return "not enough data", p
