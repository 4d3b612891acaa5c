"""How trustworthy is the advice? The gap engine on realistic simulated orgs.

    .venv/bin/python benchmarks/bench_advice.py [--orgs 16] [--reps 60]

Each org (analytics.simulate.realistic_org): one segment at SMB or Mid-Market volumes with
natural skill spread, material weaknesses, top performers, ramping reps and new hires, plus a
5-rep Enterprise segment at another scale. Prints, per volume level, over `--orgs` seeds:

* precision: share of focus metrics that are a true material weakness (the planted metric,
  judged by its own driver: opportunities worked only when the rep's own opportunities per demo
  is weak, not when a weak stage upstream lowers them);
* recall: planted weaknesses that lead the focus; "clear" = a drop of at least 40% on a metric
  the window's samples can resolve (CLEAR), by at least 4 standard errors of its counts;
* reps with no material weakness given a focus (ramping and top performers included);
* scale artefacts: Enterprise reps told about volumes, deal size or cycle;
* ramping reps told to add volume (leads or opportunities);
* top performers with a remedial focus;
* worked-back lead targets over 3x the rep's monthly leads;
* reps with a stretch, and the stretch shown to a rep with a focus (should be 0).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.catalogue import load_catalogue  # noqa: E402
from analytics.gaps import GapConfig, GapEngine  # noqa: E402
from analytics.simulate import SCALE_DEPENDENT, realistic_org  # noqa: E402

CATALOGUE = load_catalogue()
LEVELS = ("SMB", "Mid-Market")
MONTH = "2026-06"
# Metrics on which a 40% weakness is resolvable from three months of one rep's counts at these
# volumes (analytics/README.md, "What it can and cannot see"): the rest rest on a few deals.
CLEAR = (
    "leads_prospected",
    "connect_rate",
    "discovery_rate",
    "demo_rate",
    "follow_up_ratio",
    "contacts_per_account",
    "opportunities_worked",
)
VOLUME = ("leads_prospected", "opportunities_worked")


def resolvable(report: dict[str, Any], key: str, drop: float) -> bool:
    """Whether the window's counts resolve the drop: at least 4 standard errors of pure count
    noise (binomial for rates, Poisson for counts and ratios), month-to-month swings aside."""
    metric = next(m for m in report["metrics"] if m["key"] == key)
    typical, den = metric["peer_median"], metric["denominator"]
    if not typical or not den:
        return False
    if key == "leads_prospected" or key == "opportunities_worked":
        se = (typical / (3 * den)) ** 0.5 if den else 0.0  # den: months; value: per month
    elif metric["unit"] == "percent":
        se = (typical * (1 - typical) / den) ** 0.5
    else:
        se = (typical / den) ** 0.5
    return typical * drop >= 4 * se


def evaluate(level: str, orgs: int, reps: int, config: GapConfig) -> dict[str, Any]:
    """Counts over `orgs` seeded orgs at `level`'s volumes."""
    c: dict[str, int] = dict.fromkeys(
        (
            "focus",
            "focus_true",
            "planted",
            "planted_lead",
            "clear",
            "clear_lead",
            "clean",
            "clean_focus",
            "small",
            "scale",
            "ramping",
            "ramp_volume",
            "top",
            "top_focus",
            "targets",
            "targets_3x",
            "no_focus",
            "stretch",
            "stretch_with_focus",
        ),
        0,
    )
    for seed in range(orgs):
        people, metrics, truth = realistic_org(level, n_reps=reps, seed=seed, end_month=MONTH)
        engine = GapEngine(metrics, people, CATALOGUE, config)
        by_email = truth.set_index("email")
        for report in engine.reports(MONTH):
            r = report.model_dump(mode="json")
            t = by_email.loc[r["rep"]]
            focus = r["focus"]
            planted = t["planted"] if isinstance(t["planted"], str) else None
            c["focus"] += len(focus)
            c["focus_true"] += sum(key == planted for key in focus)
            if planted is not None:
                c["planted"] += 1
                c["planted_lead"] += bool(focus) and focus[0] == planted
                if t["drop"] >= 0.4 and planted in CLEAR and resolvable(r, planted, t["drop"]):
                    c["clear"] += 1
                    c["clear_lead"] += bool(focus) and focus[0] == planted
            else:
                c["clean"] += 1
                c["clean_focus"] += bool(focus)
            if t["segment"] == "Enterprise":
                c["small"] += 1
                c["scale"] += any(key in SCALE_DEPENDENT for key in focus)
            if t["kind"] == "ramping":
                c["ramping"] += 1
                c["ramp_volume"] += any(key in VOLUME for key in focus)
            if t["kind"] == "top":
                c["top"] += 1
                c["top_focus"] += bool(focus)
            targets = r.get("targets")
            if (
                targets
                and targets["own"]["leads_prospected"]
                and targets["actual"]["leads_prospected"]
            ):
                c["targets"] += 1
                c["targets_3x"] += (
                    targets["own"]["leads_prospected"] > 3 * targets["actual"]["leads_prospected"]
                )
            stretch = r.get("stretch")
            c["no_focus"] += not focus
            c["stretch"] += bool(stretch)
            c["stretch_with_focus"] += bool(stretch) and bool(focus)
    return c


def share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}% ({part}/{whole})" if whole else "n/a"


ROWS: list[tuple[str, Callable[[dict[str, int]], str]]] = [
    ("precision (focus metrics that are real)", lambda c: share(c["focus_true"], c["focus"])),
    ("recall, clear weaknesses leading focus", lambda c: share(c["clear_lead"], c["clear"])),
    ("recall, all planted leading focus", lambda c: share(c["planted_lead"], c["planted"])),
    ("no material weakness, given a focus", lambda c: share(c["clean_focus"], c["clean"])),
    ("scale artefacts (Enterprise reps)", lambda c: share(c["scale"], c["small"])),
    ("ramping reps told to add volume", lambda c: share(c["ramp_volume"], c["ramping"])),
    ("top performers with a remedial focus", lambda c: share(c["top_focus"], c["top"])),
    ("lead targets over 3x today's volume", lambda c: share(c["targets_3x"], c["targets"])),
    ("reps without a focus given a stretch", lambda c: share(c["stretch"], c["no_focus"])),
    ("stretch next to a focus", lambda c: str(c["stretch_with_focus"])),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=16, help="seeded orgs per volume level")
    parser.add_argument("--reps", type=int, default=60, help="reps in the main segment")
    parser.add_argument("--gap", type=float, help="material gap (default: GapConfig's)")
    args = parser.parse_args()
    config = GapConfig() if args.gap is None else GapConfig(material_gap=args.gap)
    results = {level: evaluate(level, args.orgs, args.reps, config) for level in LEVELS}
    print(
        f"{args.orgs} orgs per level, {args.reps} + 5 reps each, month {MONTH}, "
        f"material gap {config.material_gap:.0%}\n"
    )
    print(f"| measure | {' | '.join(LEVELS)} |")
    print(f"|---|{'---|' * len(LEVELS)}")
    for label, cell in ROWS:
        print(f"| {label} | {' | '.join(cell(results[level]) for level in LEVELS)} |")


if __name__ == "__main__":
    main()
