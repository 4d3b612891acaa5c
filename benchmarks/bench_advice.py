"""How trustworthy is the advice? The gap engine on realistic simulated orgs.

    .venv/bin/python benchmarks/bench_advice.py [--orgs 16] [--reps 60]

Each org (analytics.simulate.realistic_org): one segment at SMB or Mid-Market volumes with
natural skill spread, material weaknesses, top performers, ramping reps and new hires, plus a
5-rep Enterprise segment at another scale. Prints, per volume level, over `--orgs` seeds:

* precision: share of focus metrics that are a true material weakness (the planted metric,
  judged by its own driver: opportunities worked only when the rep's own opportunities per demo
  is weak, not when a weak stage upstream lowers them);
* recall: planted weaknesses that lead the focus; "clear" = a drop of at least 40% on a metric
  the window can resolve (CLEAR), by at least 4 standard errors of every noise the simulator
  puts in the window's figure: count noise, and for volumes the busy and quiet months (SWING)
  too, and for opportunities worked the noise of the demos they follow from (a 40-45% volume
  drop is about 3 such errors: not clear, and the engine rightly hesitates). The earlier
  definition, count noise only, is kept as a row for comparison;
* reps with no material weakness given a focus (ramping and top performers included);
* scale artefacts: Enterprise reps told about volumes, deal size or cycle;
* the small group's planted weakness (the first Enterprise rep's connect rate, SMALL_DROP worse:
  found only through conversion rates compared across groups, adjusted to the Enterprise
  level), and the other Enterprise reps given a focus;
* ramping reps compared with their tenure cohort; ramping reps told to add volume against
  tenured peers (must be 0); the planted ramping rep who prospects RAMP_LAG fewer leads than
  their cohort, found; the other ramping reps told to add volume;
* top performers with a remedial focus;
* worked-back lead targets over 3x the rep's monthly leads (the lagging ramping rep aside: their
  leads are planted at half their cohort's): offered as a target (not marked out of reach: must
  be 0), marked out of reach (the report names the lever that has to move instead), and the
  plan modal's prefilled volume targets over 3x (must be 0);
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
from bot.coaching.plans import reachable_target  # noqa: E402

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
SMALL_PLANT, SMALL_DROP, RAMP_LAG = "connect_rate", 0.5, 0.5
SWING = 0.2  # coefficient of variation of a rep's monthly volume in the simulator


def resolvable(report: dict[str, Any], key: str, drop: float, swings: bool = True) -> bool:
    """Whether the window resolves the drop: at least 4 standard errors of its noise. Count noise
    (binomial for rates, Poisson for counts and ratios); with `swings` (the definition of
    "clear"), volumes also carry the simulator's busy and quiet months (SWING per month), and
    opportunities worked, drawn from the rep's demos, the noise of those demos. Rates carry
    neither: the simulator's conversions are binomial given the counts."""
    metrics = {m["key"]: m for m in report["metrics"]}
    metric = metrics[key]
    typical, den = metric["peer_median"], metric["denominator"]
    if not typical or not den:
        return False
    if key in VOLUME:  # den: months; value: per month
        relative = 1 / (typical * den)
        if swings:
            relative += SWING**2 / den
            if key == "opportunities_worked":
                relative += 1 / max(metrics["close_rate"]["denominator"] or 1.0, 1.0)
        se = typical * relative**0.5
    elif metric["unit"] == "percent":
        se = (typical * (1 - typical) / den) ** 0.5
    else:
        se = (typical / den) ** 0.5
    return typical * drop >= 4 * se


def evaluate(
    level: str, orgs: int, reps: int, config: GapConfig, first_seed: int = 0
) -> dict[str, Any]:
    """Counts over `orgs` seeded orgs at `level`'s volumes (seeds first_seed, first_seed + 1…)."""
    c: dict[str, int] = dict.fromkeys(
        (
            "focus",
            "focus_true",
            "planted",
            "planted_lead",
            "clear",
            "clear_lead",
            "clear_counts",
            "clear_counts_lead",
            "clean",
            "clean_focus",
            "small",
            "scale",
            "ramping",
            "ramp_volume",
            "ramp_cohort",
            "lag",
            "lag_found",
            "ramp_cohort_volume",
            "small_planted",
            "small_found",
            "small_other_focus",
            "top",
            "top_focus",
            "targets",
            "targets_3x",
            "targets_3x_out",
            "prefills",
            "prefills_3x",
            "no_focus",
            "stretch",
            "stretch_with_focus",
        ),
        0,
    )
    for seed in range(first_seed, first_seed + orgs):
        people, metrics, truth = realistic_org(
            level,
            n_reps=reps,
            seed=seed,
            end_month=MONTH,
            small_plant=SMALL_PLANT,
            small_drop=SMALL_DROP,
            ramp_lag=RAMP_LAG,
        )
        engine = GapEngine(metrics, people, CATALOGUE, config)
        by_email = truth.set_index("email")
        for report in engine.reports(MONTH):
            r = report.model_dump(mode="json")
            shown = {m["key"]: m for m in r["metrics"]}
            t = by_email.loc[r["rep"]]
            focus = r["focus"]
            planted = t["planted"] if isinstance(t["planted"], str) else None
            c["focus"] += len(focus)
            c["focus_true"] += sum(key == planted for key in focus)
            special = t["segment"] == "Enterprise" or t["kind"] == "ramping"
            if planted is not None and special:
                lead = bool(focus) and focus[0] == planted
                name = "small" if t["segment"] == "Enterprise" else "lag"
                c[f"{name}_planted" if name == "small" else name] += 1
                c[f"{name}_found"] += lead
            elif planted is not None:
                c["planted"] += 1
                c["planted_lead"] += bool(focus) and focus[0] == planted
                big = t["drop"] >= 0.4 and planted in CLEAR
                for name, swings in (("clear", True), ("clear_counts", False)):
                    if big and resolvable(r, planted, t["drop"], swings=swings):
                        c[name] += 1
                        c[f"{name}_lead"] += bool(focus) and focus[0] == planted
            else:
                c["clean"] += 1
                c["clean_focus"] += bool(focus)
            if t["segment"] == "Enterprise":
                c["small"] += 1
                c["scale"] += any(key in SCALE_DEPENDENT for key in focus)
                c["small_other_focus"] += planted is None and bool(focus)
            if t["kind"] == "ramping":
                volume = any(key in VOLUME for key in focus)
                cohort = r["peer_group"]["basis"] == "tenure_cohort"
                c["ramping"] += 1
                c["ramp_cohort"] += cohort
                c["ramp_volume"] += volume and not cohort
                c["ramp_cohort_volume"] += volume and cohort and planted is None
            if t["kind"] == "top":
                c["top"] += 1
                c["top_focus"] += bool(focus)
            targets = r.get("targets")
            lagging = t["kind"] == "ramping" and planted is not None  # volume planted at half
            if not lagging and (
                targets
                and targets["own"]["leads_prospected"]
                and targets["actual"]["leads_prospected"]
            ):
                own, actual = targets["own"], targets["actual"]
                over = own["leads_prospected"] > 3 * actual["leads_prospected"]
                out = "leads_prospected" in targets["out_of_reach"]
                c["targets"] += 1
                c["targets_3x"] += over and not out
                c["targets_3x_out"] += over and out
            for key in focus if not lagging else ():
                if key in VOLUME and shown[key]["value"]:
                    step = reachable_target(report, shown[key])
                    c["prefills"] += 1
                    c["prefills_3x"] += step is not None and step > 3 * shown[key]["value"]
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
    (
        "recall, clear by count noise only (old definition)",
        lambda c: share(c["clear_counts_lead"], c["clear_counts"]),
    ),
    ("recall, all planted leading focus", lambda c: share(c["planted_lead"], c["planted"])),
    ("no material weakness, given a focus", lambda c: share(c["clean_focus"], c["clean"])),
    ("scale artefacts (Enterprise reps)", lambda c: share(c["scale"], c["small"])),
    (
        "small-group weakness leading the focus",
        lambda c: share(c["small_found"], c["small_planted"]),
    ),
    ("other small-group reps given a focus", lambda c: share(c["small_other_focus"], c["small"])),
    (
        "ramping reps compared with their tenure cohort",
        lambda c: share(c["ramp_cohort"], c["ramping"]),
    ),
    (
        "ramping reps told to add volume vs tenured peers",
        lambda c: share(c["ramp_volume"], c["ramping"]),
    ),
    ("ramping rep lagging their cohort found", lambda c: share(c["lag_found"], c["lag"])),
    (
        "other ramping reps told to add volume",
        lambda c: share(c["ramp_cohort_volume"], c["ramping"]),
    ),
    ("top performers with a remedial focus", lambda c: share(c["top_focus"], c["top"])),
    (
        "lead targets over 3x today's volume, offered",
        lambda c: share(c["targets_3x"], c["targets"]),
    ),
    (
        "lead figures over 3x, marked out of reach",
        lambda c: share(c["targets_3x_out"], c["targets"]),
    ),
    (
        "prefilled volume targets over 3x today's",
        lambda c: share(c["prefills_3x"], c["prefills"]),
    ),
    ("reps without a focus given a stretch", lambda c: share(c["stretch"], c["no_focus"])),
    ("stretch next to a focus", lambda c: str(c["stretch_with_focus"])),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=16, help="seeded orgs per volume level")
    parser.add_argument("--seed", type=int, default=0, help="first seed (e.g. 200: held out)")
    parser.add_argument("--reps", type=int, default=60, help="reps in the main segment")
    parser.add_argument("--gap", type=float, help="material gap (default: GapConfig's)")
    args = parser.parse_args()
    config = GapConfig() if args.gap is None else GapConfig(material_gap=args.gap)
    results = {level: evaluate(level, args.orgs, args.reps, config, args.seed) for level in LEVELS}
    print(
        f"{args.orgs} orgs per level (seeds {args.seed}-{args.seed + args.orgs - 1}), "
        f"{args.reps} + 5 reps each, month {MONTH}, "
        f"material gap {config.material_gap:.0%}\n"
    )
    print(f"| measure | {' | '.join(LEVELS)} |")
    print(f"|---|{'---|' * len(LEVELS)}")
    for label, cell in ROWS:
        print(f"| {label} | {' | '.join(cell(results[level]) for level in LEVELS)} |")


if __name__ == "__main__":
    main()
