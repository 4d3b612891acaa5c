"""Does the coaching ROI find a real effect, and only a real one? Simulated coaching histories.

    .venv/bin/python benchmarks/bench_roi.py [--orgs 20]

Each history (analytics.simulate_coaching): 12 months of a realistic org, plans in the last 6 on
the gap engine's focus of the month before, for reps a manager coaches (70% of the reps ever
given a focus; the others are the comparison group). "No effect": coaching changes nothing.
"Lift": every month coached closes a quarter of the rep's gap to the segment's typical value on
the coached metric. Two org shapes:

* coached: 130 + 5 reps, three in four with a material weakness, so that about 50 reps are
  coached over the 6 months (the issue's "50 coached reps × 6 months");
* typical: 50 + 5 reps, one in eight with a material weakness (the realistic org's default): a
  dozen or fewer reps are coached, and many orgs have no comparison group at all.

Prints, over `--orgs` seeds per row: coached reps and plan metrics, comparison reps, the true
lift (the simulation's own, on the coached metrics), the estimate, how often the 90% interval
covers 0 and excludes it, how often the estimate is within ±10 points of the true lift, the
mean absolute error and interval width, and the seconds per org (engine and ROI).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.catalogue import load_catalogue  # noqa: E402
from analytics.gaps import GapEngine  # noqa: E402
from analytics.roi import CoachedPlan, coaching_roi  # noqa: E402
from analytics.simulate_coaching import simulate_coaching  # noqa: E402

CATALOGUE = load_catalogue()
SHAPES = {"coached": {"reps": 130, "weak_share": 0.75}, "typical": {"reps": 50, "weak_share": 0.12}}
LIFTS = {"no effect": 0.0, "lift 25%/month": 0.25}


def measure(shape: str, lift: float, orgs: int) -> dict[str, float]:
    """One row of the table: averages and shares over `orgs` seeded histories."""
    rows = []
    for seed in range(orgs):
        history = simulate_coaching(seed, lift=lift, catalogue=CATALOGUE, **SHAPES[shape])
        start = time.perf_counter()
        engine = GapEngine(history.metrics, history.people, CATALOGUE)
        plans = [CoachedPlan(p.month, p.rep, p.focus) for p in history.plans]
        managers = dict(zip(history.people["email"], history.people["manager_email"], strict=True))
        roi = coaching_roi(engine, plans, managers)
        rows.append((roi, history.true_lift or 0.0, time.perf_counter() - start))
    judged = [(r, truth) for r, truth, _ in rows if r.org.interval is not None]

    def share(test: list[bool]) -> float:
        return sum(test) / len(test) if test else float("nan")

    return {
        "coached reps": statistics.mean(r.coached_reps for r, _, _ in rows),
        "coached plan metrics": statistics.mean(r.org.coached for r, _, _ in rows),
        "comparison reps": statistics.mean(r.control_reps for r, _, _ in rows),
        "orgs with an interval": len(judged) / orgs,
        "true lift": statistics.mean(t for _, t, _ in rows),
        "estimate": statistics.mean(r.org.lift for r, _ in judged) if judged else float("nan"),
        "interval covers 0": share(
            [r.org.interval[0] <= 0 <= r.org.interval[1] for r, _ in judged]
        ),  # type: ignore[index]
        "interval excludes 0 (above)": share([r.org.interval[0] > 0 for r, _ in judged]),  # type: ignore[index]
        "estimate within ±10 points": share([abs(r.org.lift - t) <= 0.10 for r, t in judged]),  # type: ignore[operator]
        "mean absolute error": statistics.mean(abs(r.org.lift - t) for r, t in judged)  # type: ignore[operator]
        if judged
        else float("nan"),
        "mean interval width": statistics.mean(
            r.org.interval[1] - r.org.interval[0]  # type: ignore[index]
            for r, _ in judged
        )
        if judged
        else float("nan"),
        "seconds per org": statistics.mean(s for _, _, s in rows),
    }


def cell(measure: str, value: float) -> str:
    if value != value:  # NaN: nothing to average
        return "—"
    if measure in ("coached reps", "coached plan metrics", "comparison reps"):
        return f"{value:.0f}"
    if measure == "seconds per org":
        return f"{value:.1f}"
    if measure in ("true lift", "estimate"):
        return f"{value:+.1%}"
    if measure in ("mean absolute error", "mean interval width"):
        return f"{value * 100:.1f} pts"
    return f"{value:.0%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=20, help="seeded histories per row")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="org shapes to run")
    args = parser.parse_args()
    columns = [
        (shape, name, lift) for shape in args.shapes.split(",") for name, lift in LIFTS.items()
    ]
    results = [measure(shape, lift, args.orgs) for shape, _, lift in columns]
    print(f"{args.orgs} histories per column, 12 months, plans in the last 6\n")
    print(f"| measure | {' | '.join(f'{shape}: {name}' for shape, name, _ in columns)} |")
    print(f"|---|{'---|' * len(columns)}")
    for measure_name in results[0]:
        cells = " | ".join(cell(measure_name, r[measure_name]) for r in results)
        print(f"| {measure_name} | {cells} |")


if __name__ == "__main__":
    main()
