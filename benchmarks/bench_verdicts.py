"""Do the archive's verdicts tell coaching from luck? Verdicts on simulated coaching histories.

    .venv/bin/python benchmarks/bench_verdicts.py [--seeds 20] [--reps 50] [--months 12]

Each history (analytics.simulate_coaching): a realistic org whose last six months have plans on
the engine's focus, for 70% of the reps given one. With `lift` 0 the data hold no coaching effect
at all; with 0.25 each month coached closes a quarter of the rep's true gap to the typical value.
Every plan's focus metric is judged by `analytics.outcomes.judge_plan` (what the bot stores) and,
for comparison, by the rules before (the plan's month alone against the raw value the plan was
made on; closed when the window's shrunk estimate reached the peer median or the value met the
target). Prints the share of each verdict over all judged focus metrics, improved minus worse,
the range of the improved share across orgs, and "closed, weak": plans closed although the rep's
planted weakness is that very metric, a close the data did not earn when there is no effect.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.catalogue import Direction, load_catalogue  # noqa: E402
from analytics.gaps import GapConfig, GapEngine, GapError, format_month, parse_month  # noqa: E402
from analytics.outcomes import VERDICTS, judge_plan, p_better  # noqa: E402
from analytics.simulate_coaching import CoachedHistory, simulate_coaching  # noqa: E402

CATALOGUE = load_catalogue()
MODELS = {m.key: m for m in CATALOGUE.metrics}
LIFTS = (0.0, 0.25)


def before(
    window: GapEngine, alone: GapEngine, rep: str, month: str, key: str, target: float | None
) -> str:
    """The verdict by the rules before issue 15 (see the module docstring)."""
    spec = MODELS[key]
    try:
        then = next(m for m in window.report(rep, _previous(month)).metrics if m.key == key)
        now = next(m for m in window.report(rep, month).metrics if m.key == key)
        single = next(m for m in alone.report(rep, month).metrics if m.key == key)
    except (GapError, StopIteration):
        return "not enough data"
    if single.value is None or not single.denominator:
        return "not enough data"

    def at_least(value: float, than: float, direction: Direction) -> bool:
        return value >= than if direction == "higher" else value <= than

    if (
        now.estimate is not None
        and now.peer_median is not None
        and at_least(now.estimate, now.peer_median, spec.direction)
    ) or (
        target is not None and now.value is not None and at_least(now.value, target, spec.direction)
    ):
        return "closed"
    if then.value is None:
        return "no change"
    p = p_better(spec.model, spec.direction, single.numerator, single.denominator, then.value)  # type: ignore[arg-type]
    return "improved" if p >= 0.8 else "worse" if 1 - p >= 0.8 else "no change"


def _previous(month: str) -> str:
    return format_month(parse_month(month) - 1)


def judge_history(history: CoachedHistory) -> tuple[Counter[str], Counter[str], int]:
    """Verdicts now and before on every plan focus of one history, and the unearned closes."""
    window = GapEngine(history.metrics, history.people, CATALOGUE)
    alone = GapEngine(history.metrics, history.people, CATALOGUE, GapConfig(window_months=1))
    planted = dict(zip(history.truth["email"], history.truth["planted"], strict=True))
    now: Counter[str] = Counter()
    old: Counter[str] = Counter()
    unearned = 0
    for plan in history.plans:
        for key, target in zip(plan.focus, plan.targets, strict=True):
            judged = judge_plan(window, plan.rep, plan.month, key, target)
            if judged is None:
                continue
            now[judged.verdict] += 1
            unearned += judged.verdict == "closed" and planted.get(plan.rep) == key
            old[before(window, alone, plan.rep, plan.month, key, target)] += 1
    return now, old, unearned


def row(label: str, tally: Counter[str], per_org: list[float], unearned: int | None) -> list[str]:
    total = sum(tally.values()) or 1
    shares = [f"{tally[v] / total:.1%}" for v in VERDICTS]
    gap = (tally["improved"] - tally["worse"]) / total * 100
    spread = f"{min(per_org):.0%}–{max(per_org):.0%}" if per_org else "—"
    closes = "—" if unearned is None else str(unearned)
    return [label, str(sum(tally.values())), *shares, f"{gap:+.1f}", spread, closes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--months", type=int, default=12)
    args = parser.parse_args()
    header = ["rules, lift", "judged", *VERDICTS, "improved − worse (pts)", "improved per org"]
    header.append("closed, weak")
    rows = []
    start = time.perf_counter()
    for lift in LIFTS:
        now_total: Counter[str] = Counter()
        old_total: Counter[str] = Counter()
        now_orgs, old_orgs, unearned = [], [], 0
        for seed in range(args.seeds):
            history = simulate_coaching(
                seed, reps=args.reps, months=args.months, lift=lift, catalogue=CATALOGUE
            )
            now, old, closes = judge_history(history)
            now_total += now
            old_total += old
            unearned += closes
            for tally, orgs in ((now, now_orgs), (old, old_orgs)):
                if sum(tally.values()):
                    orgs.append(tally["improved"] / sum(tally.values()))
        rows.append(row(f"before, {lift:g}", old_total, old_orgs, None))
        rows.append(row(f"now, {lift:g}", now_total, now_orgs, unearned))
    print(f"{args.seeds} orgs of {args.reps} reps × {args.months} months per lift")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for cells in rows:
        print("| " + " | ".join(cells) + " |")
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
