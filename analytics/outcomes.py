"""What became of a coaching plan's focus metric, and which actions close which gaps (pure).

A plan is judged on the month it was for: the rep's figures for the window ending that month
against the figures the plan was made on (the baseline) and the peers' median now.

- `closed`: the rep's shrunk estimate reached the peer median, or the raw value met the target;
- `improved`: credibly better than the baseline (probability ≥ the flag threshold), not closed;
- `worse`: credibly worse than the baseline;
- `no change`: neither, at this much data;
- `not enough data`: no figure for the rep that month.

"Credibly" uses the metric's own noise model on the rep's counts (k of n): a Jeffreys posterior
for rates (beta for conversions, gamma for counts per month) and, for amounts per unit (deal
size, cycle days), a normal approximation with a coefficient of variation of 1 per unit — deal
sizes and cycle lengths vary about as much as they are large, so a handful of deals proves little.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from scipy import special

from analytics.catalogue import Direction, ShrinkageModel
from analytics.gaps import parse_month

Verdict = Literal["closed", "improved", "no change", "worse", "not enough data"]
VERDICTS: tuple[Verdict, ...] = ("closed", "improved", "no change", "worse", "not enough data")


@dataclass(frozen=True)
class Outcome:
    """A focus metric's verdict and the probability behind `improved` / `worse`."""

    verdict: Verdict
    p_better: float | None  # P(the rep's true value now is better than the baseline)


def p_better(
    model: ShrinkageModel, direction: Direction, k: float, n: float, baseline: float
) -> float:
    """Probability that the true value behind k of n is better than `baseline`."""
    if model == "beta_binomial":
        b = min(max(baseline, 0.0), 1.0)
        above = 1.0 - float(special.betainc(k + 0.5, max(n - k, 0.0) + 0.5, b))
    elif model == "gamma_poisson":
        above = float(special.gammaincc(k + 0.5, max(baseline, 0.0) * n))
    else:
        mean = k / n
        spread = abs(mean) / math.sqrt(n) or 1e-12
        above = 0.5 * math.erfc((baseline - mean) / (spread * math.sqrt(2)))
    return above if direction == "higher" else 1.0 - above


def _at_least(direction: Direction, value: float, than: float) -> bool:
    return value >= than if direction == "higher" else value <= than


def judge(
    *,
    model: ShrinkageModel,
    direction: Direction,
    baseline: float | None,
    value: float | None,
    estimate: float | None,
    numerator: float | None,
    denominator: float | None,
    peer_median: float | None,
    target: float | None,
    threshold: float = 0.8,
) -> Outcome:
    """The verdict on one focus metric (see the module docstring)."""
    if value is None or not denominator or numerator is None:
        return Outcome("not enough data", None)
    reached = estimate is not None and peer_median is not None
    p = None if baseline is None else _p(model, direction, numerator, denominator, baseline)
    if (reached and _at_least(direction, estimate, peer_median)) or (  # type: ignore[arg-type]
        target is not None and _at_least(direction, value, target)
    ):
        return Outcome("closed", p)
    if p is None:
        return Outcome("no change", None)
    if p >= threshold:
        return Outcome("improved", p)
    if 1.0 - p >= threshold:
        return Outcome("worse", p)
    return Outcome("no change", p)


def _p(model: ShrinkageModel, direction: Direction, k: float, n: float, baseline: float) -> float:
    return round(p_better(model, direction, k, n, baseline), 4)


@dataclass(frozen=True)
class ActionRecord:
    """One action of one plan on a metric, and whether that plan closed the gap."""

    action: str
    closed: bool


@dataclass(frozen=True)
class WorkedAction:
    """An action as the org has used it on one gap: how often it was part of a closing plan."""

    action: str
    closed: int
    used: int

    @property
    def rate(self) -> float:
        """Closed ÷ used."""
        return self.closed / self.used


def _normal(action: str) -> str:
    return " ".join(action.lower().split()).strip(" .,;:!?•-")


def what_worked(records: Iterable[ActionRecord], limit: int = 3) -> list[WorkedAction]:
    """Actions that were part of at least one closing plan, most successful first: by closure
    rate, then by how often they closed, then by text. Actions differing only in case, spacing
    or trailing punctuation count as one (shown as first written)."""
    closed: dict[str, int] = defaultdict(int)
    used: dict[str, int] = defaultdict(int)
    shown: dict[str, str] = {}
    for record in records:
        key = _normal(record.action)
        if not key:
            continue
        shown.setdefault(key, record.action.strip())
        used[key] += 1
        closed[key] += record.closed
    ranked = [WorkedAction(shown[k], closed[k], used[k]) for k in used if closed[k]]
    ranked.sort(key=lambda w: (-w.rate, -w.closed, w.action.lower()))
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
