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
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.catalogue import load_catalogue  # noqa: E402
from analytics.gaps import GapConfig, GapEngine  # noqa: E402
from analytics.simulate import NORMS, PLANTABLE, SCALE_DEPENDENT, realistic_org  # noqa: E402
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
# How realistic_org makes reps (its defaults), for the evidence a window holds (`evidence`):
# natural skill log-normal with sd SPREAD cut at 2 sd, a plant DROPS worse; a month's volume is
# Poisson around the rep's level times a Gamma(SHAPE, 1/SHAPE) swing (CV 1/√SHAPE = SWING); a
# deal's days to close are Gamma(DAYS_SHAPE) around the rep's cycle.
SPREAD, DROPS, SHAPE, DAYS_SHAPE = 0.06, (0.3, 0.5), 25, 4.0
EVIDENT = 0.9  # "clear": the window's counts leave at least this probability of the plant
BAYES_LINE = 0.5  # the Bayes flagger (--bayes) flags what is more likely a plant than not
_TRUE = {  # metric -> the simulator's true parameter behind it
    "leads_prospected": "leads",
    "connect_rate": "connect",
    "discovery_rate": "discovery",
    "demo_rate": "demo",
    "follow_up_ratio": "follow_up",
    "contacts_per_account": "contacts_per_account",
    "win_rate": "win",
    "sales_cycle_days": "cycle",
}
_GRID = 41


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


def evidence(report: dict[str, Any], key: str, level: str, prior: float) -> float | None:
    """How clearly the window shows a plant on `key`: P(the rep's true value is a planted
    weakness | the window's counts), knowing exactly how the simulator makes reps: natural
    skill (±2·SPREAD around the segment's level, for a rep neither top nor ramping), plants
    (DROPS worse, uniform), their share `prior` per metric, and every noise (binomial steps,
    Poisson counts, the month swings of volumes, gamma days to close). Opportunities worked
    are judged by their own driver, opportunities per demo given the demos; close rate is
    decided deals per demo times the win rate (natural spread of both). None for deal size and
    results, and without counts."""
    metrics = {m["key"]: m for m in report["metrics"]}
    num, den = metrics[key]["numerator"], metrics[key]["denominator"]
    norms = NORMS[level]
    spread = SPREAD
    if key == "opportunities_worked":
        typical = norms.opportunities / (norms.leads * norms.connect * norms.discovery * norms.demo)
        den = metrics["close_rate"]["denominator"]  # given the demos
    elif key == "close_rate":
        typical, spread = norms.decide * norms.win, SPREAD * math.sqrt(2)
    elif key in _TRUE:
        typical = getattr(norms, _TRUE[key])
    else:
        return None
    if num is None or not den:
        return None
    k, n = float(num), float(den)

    def log_like(theta: float) -> float:
        if key == "sales_cycle_days":  # k days over n deals: Gamma(DAYS_SHAPE·n, θ/DAYS_SHAPE)
            a = DAYS_SHAPE * n
            return a * math.log(a / theta) - a * k / (n * theta)
        if metrics[key]["unit"] == "percent":
            return round(k) * math.log(theta) + (round(n) - round(k)) * math.log1p(-theta)
        if key == "leads_prospected":  # k over n months: negative binomial, shape SHAPE·n
            r = SHAPE * n
            return k * math.log(n * theta / (r + n * theta)) + r * math.log(r / (r + n * theta))
        return k * math.log(n * theta) - n * theta  # Poisson, given the denominator

    worse = 1.0 if key == "sales_cycle_days" else -1.0
    natural = [2 * spread * (2 * i / (_GRID - 1) - 1) for i in range(_GRID)]
    weights = [math.exp(-0.5 * (e / spread) ** 2) for e in natural]
    low, high = DROPS
    drops = [low + (high - low) * i / (_GRID - 1) for i in range(_GRID)]
    nat = [log_like(typical * math.exp(e)) for e in natural]
    plant = [log_like(typical * (1 + worse * d)) for d in drops]
    top = max(*nat, *plant)
    p_nat = sum(w * math.exp(x - top) for w, x in zip(weights, nat, strict=True)) / sum(weights)
    p_plant = sum(math.exp(x - top) for x in plant) / len(plant)
    return prior * p_plant / (prior * p_plant + (1 - prior) * p_nat)


def evaluate(
    level: str, orgs: int, reps: int, config: GapConfig, first_seed: int = 0, bayes: bool = False
) -> dict[str, Any]:
    """Counts over `orgs` seeded orgs at `level`'s volumes (seeds first_seed, first_seed + 1…).

    With `bayes`, also the Bayes flagger on the main segment's tenured reps: the up to two
    metrics whose `evidence` of a plant is at least BAYES_LINE, most evident first — the best any
    rule could do knowing the simulator's truth — next to the engine's focus on the same reps."""
    c: dict[str, int] = dict.fromkeys(
        (
            "focus",
            "focus_true",
            "planted",
            "planted_lead",
            "clear",
            "clear_lead",
            "clear_swings",
            "clear_swings_lead",
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
            "main_focus",
            "main_focus_true",
            "bayes_focus",
            "bayes_focus_true",
            "bayes_clear_lead",
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
        # The share of plants per metric among the main segment's reps that may have one.
        main = truth[(truth["segment"] == level) & truth["kind"].isin(["natural", "weak"])]
        prior = (main["kind"] == "weak").mean() / len(PLANTABLE)
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
                lead = bool(focus) and focus[0] == planted
                for name, swings in (("clear_swings", True), ("clear_counts", False)):
                    if big and resolvable(r, planted, t["drop"], swings=swings):
                        c[name] += 1
                        c[f"{name}_lead"] += lead
                clear = big and (evidence(r, planted, level, prior) or 0.0) >= EVIDENT
                c["clear"] += clear
                c["clear_lead"] += clear and lead
            else:
                c["clean"] += 1
                c["clean_focus"] += bool(focus)
            if bayes and t["segment"] == level and t["kind"] in ("natural", "weak"):
                c["main_focus"] += len(focus)
                c["main_focus_true"] += planted in focus
                odds = {key: evidence(r, key, level, prior) or 0.0 for key in PLANTABLE}
                chosen = sorted((k for k, p in odds.items() if p >= BAYES_LINE), key=odds.get)
                chosen = chosen[::-1][:2]
                c["bayes_focus"] += len(chosen)
                c["bayes_focus_true"] += planted in chosen
                c["bayes_clear_lead"] += (
                    planted is not None
                    and t["drop"] >= 0.4
                    and planted in CLEAR
                    and odds[planted] >= EVIDENT
                    and chosen[:1] == [planted]
                )
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
        "recall, clear by 4 SE of all noise (previous definition)",
        lambda c: share(c["clear_swings_lead"], c["clear_swings"]),
    ),
    (
        "recall, clear by 4 SE of count noise (first definition)",
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
BAYES_ROWS: list[tuple[str, Callable[[dict[str, int]], str]]] = [
    (
        "engine precision, main segment (neither top nor ramping)",
        lambda c: share(c["main_focus_true"], c["main_focus"]),
    ),
    ("Bayes flagger precision", lambda c: share(c["bayes_focus_true"], c["bayes_focus"])),
    ("Bayes flagger, clear weaknesses leading", lambda c: share(c["bayes_clear_lead"], c["clear"])),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=16, help="seeded orgs per volume level")
    parser.add_argument("--seed", type=int, default=0, help="first seed (e.g. 200: held out)")
    parser.add_argument("--reps", type=int, default=60, help="reps in the main segment")
    parser.add_argument("--gap", type=float, help="material gap (default: GapConfig's)")
    parser.add_argument(
        "--bayes", action="store_true", help="add the Bayes flagger that knows the truth"
    )
    args = parser.parse_args()
    config = GapConfig() if args.gap is None else GapConfig(material_gap=args.gap)
    results = {
        level: evaluate(level, args.orgs, args.reps, config, args.seed, args.bayes)
        for level in LEVELS
    }
    print(
        f"{args.orgs} orgs per level (seeds {args.seed}-{args.seed + args.orgs - 1}), "
        f"{args.reps} + 5 reps each, month {MONTH}, "
        f"material gap {config.material_gap:.0%}\n"
    )
    print(f"| measure | {' | '.join(LEVELS)} |")
    print(f"|---|{'---|' * len(LEVELS)}")
    for label, cell in ROWS + (BAYES_ROWS if args.bayes else []):
        print(f"| {label} | {' | '.join(cell(results[level]) for level in LEVELS)} |")


if __name__ == "__main__":
    main()
