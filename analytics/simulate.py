"""Synthetic sales orgs for tests, benchmarks and `coach demo`.

Each rep gets true funnel rates drawn around their segment's norms (SMB: many small deals;
Enterprise: few large ones), and each month's counts are drawn from them: leads (Poisson, with
month-to-month swings) → connects → discovery calls → demos → decided deals → wins (binomial
steps), deal sizes (log-normal), days to close (gamma). A planted weakness sets one true value
35–45% worse than the segment norm. Everything is deterministic given the seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from analytics.gaps import format_month, parse_month


@dataclass(frozen=True)
class SegmentNorms:
    """Typical monthly volumes and true rates of a segment's reps."""

    leads: float
    connect: float
    discovery: float
    demo: float
    decide: float  # share of demos that reach a decision in the month
    win: float  # share of decided deals won
    deal: float  # average deal size
    cycle: float  # average days to close
    follow_up: float  # follow-up meetings per first meeting
    accounts: float
    contacts_per_account: float
    opportunities: float
    timezones: tuple[str, ...]

    def quota(self) -> float:
        """A monthly quota a typical rep makes about 95% of."""
        bookings = (
            self.leads * self.connect * self.discovery * self.demo * self.decide * self.win
        ) * self.deal
        return float(round(bookings * 1.05, -3))


NORMS: dict[str, SegmentNorms] = {
    "SMB": SegmentNorms(
        400, 0.22, 0.35, 0.55, 0.80, 0.38, 6_000, 25, 1.2, 40, 1.5, 30,
        ("America/Chicago", "America/New_York", "America/Denver"),
    ),
    "Mid-Market": SegmentNorms(
        220, 0.20, 0.40, 0.60, 0.75, 0.37, 25_000, 60, 1.6, 25, 2.5, 20,
        ("America/New_York", "Europe/London", "America/Los_Angeles"),
    ),
    "Enterprise": SegmentNorms(
        90, 0.18, 0.45, 0.60, 0.70, 0.36, 120_000, 120, 2.5, 12, 4.0, 10,
        ("Europe/London", "Europe/Berlin", "America/New_York"),
    ),
}  # fmt: skip
_SHARES = {"SMB": 0.45, "Mid-Market": 0.35, "Enterprise": 0.20}

# Which true parameter a planted weakness on each metric moves (and which way is worse).
_PLANT = {
    "leads_prospected": "leads",
    "connect_rate": "connect",
    "discovery_rate": "discovery",
    "demo_rate": "demo",
    "close_rate": "decide",
    "win_rate": "win",
    "avg_deal_size": "deal",
    "sales_cycle_days": "cycle",
    "follow_up_ratio": "follow_up",
    "contacts_per_account": "contacts_per_account",
    "opportunities_worked": "opportunities",
}
PLANTABLE = tuple(_PLANT)

_FIRST = [
    "Priya",
    "Liam",
    "Sofia",
    "Mateo",
    "Aisha",
    "Noah",
    "Chen",
    "Olivia",
    "Kwame",
    "Emma",
    "Diego",
    "Hana",
    "Lucas",
    "Fatima",
    "Ethan",
    "Mei",
    "Omar",
    "Grace",
    "Ravi",
    "Chloe",
    "Jonas",
    "Amara",
    "Leo",
    "Ingrid",
    "Samuel",
    "Yuki",
    "Daniel",
    "Zara",
    "Felix",
    "Nora",
    "Isaac",
    "Lena",
    "Marco",
    "Ana",
    "Victor",
    "Elif",
    "Hugo",
    "Maya",
    "Tariq",
    "Julia",
    "Andre",
    "Sara",
    "Kofi",
    "Lucia",
    "Arjun",
    "Clara",
    "Ben",
    "Alina",
    "Oscar",
    "Rosa",
]
_LAST = [
    "Shah",
    "Nguyen",
    "Garcia",
    "Okafor",
    "Kim",
    "Novak",
    "Rossi",
    "Cohen",
    "Mensah",
    "Larsen",
    "Silva",
    "Tanaka",
    "Schmidt",
    "Haddad",
    "Patel",
    "Murphy",
    "Kowalski",
    "Dubois",
    "Ito",
    "Fischer",
    "Alvarez",
    "Berg",
    "Costa",
    "Moreau",
    "Ahmed",
    "Lindqvist",
    "Park",
    "Reyes",
    "Byrne",
    "Horvat",
    "Jansen",
    "Sato",
    "Weber",
    "Quinn",
    "Duarte",
    "Walsh",
    "Ivanova",
    "Brennan",
    "Farouk",
    "Osei",
    "Lopez",
    "Hansen",
    "Bianchi",
    "Yilmaz",
    "Kaur",
    "Mbeki",
    "Nakamura",
    "Petrov",
    "Owens",
    "Castro",
]


@dataclass(frozen=True)
class _Rep:
    email: str
    name: str
    segment: str | None
    manager: str
    start: date
    active: bool = True
    volume: float = 1.0  # scales activity volumes (low-volume reps, part-timers)
    planted: str | None = None
    drop: float = 0.0
    bluebird: bool = False
    last_month: int | None = None  # a rep who left stops reporting after this month


def previous_month(today: date | None = None) -> str:
    """The month before `today` (default: the real today), as YYYY-MM."""
    first = (today or date.today()).replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def _names(count: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """Unique (name, email) pairs; a repeated name gets a number in its email."""
    used: dict[str, int] = {}
    out = []
    for _ in range(count):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        base = f"{first}.{last}".lower()
        used[base] = used.get(base, 0) + 1
        suffix = "" if used[base] == 1 else str(used[base])
        out.append((f"{first} {last}", f"{base}{suffix}@example.com"))
    return out


def simulate_org(
    n_reps: int,
    n_months: int,
    segments: Sequence[str] | None = ("SMB", "Mid-Market", "Enterprise"),
    seed: int = 0,
    planted: Mapping[str, str] | float = 0.0,
    planted_metrics: Sequence[str] = PLANTABLE,
    end_month: str | None = None,
    rate_spread: float = 0.12,
    volume: float = 1.0,
    low_volume_share: float = 0.1,
    bluebird_share: float = 0.05,
    ramping_share: float = 0.03,
    inactive_share: float = 0.02,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """A synthetic org: (people, metrics, planted) in the gap engine's input formats.

    `planted` is either a share of reps (each gets one weakness drawn from `planted_metrics`) or a
    {email: metric key} map (emails are deterministic given the seed). `rate_spread` is the
    log-normal spread of true rates and volumes between reps (0: everyone has the segment's
    norms). `volume` scales every rep's activity (small values give small samples). The returned
    `planted` map is {email: metric key}. `end_month` defaults to the month before today.
    """
    rng = np.random.default_rng(seed)
    end = parse_month(end_month or previous_month())
    seg_names = list(segments) if segments else [None]
    weights = np.array([_SHARES.get(s or "", 1.0) for s in seg_names])
    chosen = rng.choice(len(seg_names), size=n_reps, p=weights / weights.sum())
    people_names = _names(n_reps, rng)
    end_day = _month_end(end)
    reps: list[_Rep] = []
    for i, (name, email) in enumerate(people_names):
        segment = seg_names[chosen[i]]
        ramping = rng.random() < ramping_share
        start = (
            end_day - timedelta(days=int(rng.integers(20, 85)))
            if ramping
            else end_day - timedelta(days=int(rng.integers(400, 2500)))
        )
        left = (
            end - int(rng.integers(1, max(n_months // 2, 2)))
            if not ramping and rng.random() < inactive_share
            else None
        )
        low = rng.random() < low_volume_share
        reps.append(
            _Rep(
                email=email,
                name=name,
                segment=segment,
                manager="",
                start=start,
                active=left is None,
                volume=volume * (rng.uniform(0.25, 0.45) if low else 1.0) * (0.5 if ramping else 1),
                bluebird=rng.random() < bluebird_share,
                last_month=left,
            )
        )
    eligible = [i for i, r in enumerate(reps) if r.active and r.start < end_day - timedelta(95)]
    if isinstance(planted, Mapping):
        where = {r.email: i for i, r in enumerate(reps)}
        unknown = set(planted) - set(where)
        if unknown:
            raise ValueError(f"planted: unknown rep {sorted(unknown)[0]}")
        picks = {where[e]: key for e, key in planted.items()}
    else:
        count = round(planted * n_reps)
        order = rng.permutation(eligible)[:count]
        picks = {int(i): str(rng.choice(list(planted_metrics))) for i in order}
    for i, key in picks.items():
        if key not in _PLANT:
            raise ValueError(f"planted: cannot plant {key!r}; choose from {', '.join(_PLANT)}")
        reps[i] = replace(reps[i], planted=key, drop=float(rng.uniform(0.35, 0.45)))
    reps = _assign_managers(reps)
    people = _people_frame(reps, rng)
    metrics = _metrics_frame(reps, end, n_months, rate_spread, rng)
    return people, metrics, {r.email: r.planted for r in reps if r.planted}


def demo_org(
    seed: int = 7, end_month: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """The `coach demo` org: 1 director, 3 managers, 24 reps in SMB and Mid-Market, 12 months.

    Four reps have a real planted weakness, three work small volumes, one is ramping and one
    has inherited (bluebird) deals. Returns (people, metrics, planted {email: metric key});
    `end_month` defaults to the month before today.
    """
    rng = np.random.default_rng(seed)
    end = parse_month(end_month or previous_month())
    end_day = _month_end(end)
    smb = [
        "Priya Shah",
        "Liam Okafor",
        "Sofia Garcia",
        "Mateo Rossi",
        "Aisha Haddad",
        "Noah Larsen",
        "Mei Tanaka",
        "Kwame Mensah",
        "Emma Novak",
        "Diego Alvarez",
        "Hana Kim",
        "Lucas Berg",
        "Fatima Ahmed",
        "Ethan Murphy",
    ]
    mid = [
        "Olivia Cohen",
        "Ravi Patel",
        "Grace Byrne",
        "Jonas Weber",
        "Amara Osei",
        "Leo Moreau",
        "Ingrid Hansen",
        "Samuel Reyes",
        "Yuki Sato",
        "Zara Quinn",
    ]
    special: dict[str, dict[str, object]] = {
        "Priya Shah": {"planted": "discovery_rate", "drop": 0.42},
        "Mateo Rossi": {"planted": "connect_rate", "drop": 0.40},
        "Mei Tanaka": {"volume": 0.3},
        "Diego Alvarez": {"bluebird": True},
        "Lucas Berg": {"start": end_day - timedelta(days=55), "volume": 0.5},
        "Ravi Patel": {"planted": "demo_rate", "drop": 0.45},
        "Jonas Weber": {"planted": "follow_up_ratio", "drop": 0.40},
        "Leo Moreau": {"volume": 0.35},
        "Yuki Sato": {"volume": 0.3},
    }
    managers = ("Marcus Bell", "Hannah Okafor", "Tom Lindqvist")
    reps = []
    for segment, names, manager_names in (
        ("SMB", smb, managers[:2]),
        ("Mid-Market", mid, managers[2:]),
    ):
        for j, name in enumerate(names):
            manager = manager_names[j * len(manager_names) // len(names)]
            start = end_day - timedelta(days=int(rng.integers(400, 2200)))
            rep = _Rep(
                email=_email(name), name=name, segment=segment, manager=_email(manager),
                start=start,
            )  # fmt: skip
            reps.append(replace(rep, **special.get(name, {})))  # type: ignore[arg-type]
    director = "Elena Marquez"
    people = _people_frame(reps, rng)
    leaders = pd.DataFrame(
        [
            {
                "email": _email(director),
                "name": director,
                "role": "director",
                "manager_email": None,
                "segment": None,
                "timezone": "America/New_York",
                "start_date": end_day - timedelta(days=3000),
                "active": True,
            },
            *(
                {
                    "email": _email(m),
                    "name": m,
                    "role": "manager",
                    "manager_email": _email(director),
                    "segment": None,
                    "timezone": "America/Chicago",
                    "start_date": end_day - timedelta(days=1500 + 200 * i),
                    "active": True,
                }
                for i, m in enumerate(managers)
            ),
        ]
    )
    people = pd.concat([leaders, people], ignore_index=True)
    metrics = _metrics_frame(reps, end, 12, 0.12, rng)
    return people, metrics, {r.email: r.planted for r in reps if r.planted}


# A new rep's share of full volume and of full conversion in tenure months 1, 2, 3, 4 (month 5
# on: fully ramped). Volume takes longest: a territory and a pipeline are built over months.
RAMP_VOLUME = (0.3, 0.55, 0.8, 0.95)
RAMP_RATES = (0.85, 0.92, 0.97, 1.0)
# The parameters a realistic org's reps vary on, and the metric whose own driver each one is.
_TRUE_RATES = ("connect", "discovery", "demo", "decide", "win")
_OPPORTUNITIES_PER_DEMO = "opportunities_per_demo"
_REALISTIC_PLANT = {**_PLANT, "opportunities_worked": _OPPORTUNITIES_PER_DEMO}
SCALE_DEPENDENT = ("leads_prospected", "opportunities_worked", "avg_deal_size", "sales_cycle_days")


def realistic_org(*args: Any, **kwargs: Any) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """An org as real teams look, to measure the advice (benchmarks/bench_advice.py): the
    (people, metrics, truth) of `realistic_parts` with the same arguments."""
    org = realistic_parts(*args, **kwargs)
    return org.people, org.frame(org.counts), org.truth


@dataclass
class RealisticOrg:
    """A realistic org's people, truth and true values, and its baseline counts; `draw` draws
    one rep-month's counts again from other true values (analytics.simulate_coaching)."""

    people: pd.DataFrame
    truth: pd.DataFrame
    reps: list[_Rep]
    months: np.ndarray  # month numbers, oldest first
    end: int
    values: dict[str, np.ndarray]  # true parameter -> (reps,) value
    levels: dict[str, np.ndarray]  # true parameter -> (reps,) the segment's typical value
    counts: dict[str, np.ndarray]  # column -> (reps, months)
    ramp_volume: np.ndarray
    ramp_rates: np.ndarray
    accounts: np.ndarray
    quota: np.ndarray

    def draw(
        self, values: Mapping[str, np.ndarray], rep: int, t: int, stream: np.random.Generator
    ) -> dict[str, float]:
        """Rep `rep`'s counts in month column `t`, drawn from `values` ((reps,) per parameter)."""
        one = {a: v[rep : rep + 1] for a, v in values.items()}
        counts = _draw_realistic(
            one,
            self.ramp_volume[rep : rep + 1, t : t + 1],
            self.ramp_rates[rep : rep + 1, t : t + 1],
            self.accounts[rep : rep + 1, t : t + 1],
            self.quota[rep : rep + 1, t : t + 1],
            stream,
        )
        return {key: float(value[0, 0]) for key, value in counts.items()}

    def frame(self, counts: Mapping[str, np.ndarray]) -> pd.DataFrame:
        """The metrics DataFrame of `counts` (column -> (reps, months))."""
        zeros = np.zeros((len(self.reps), len(self.months)))
        return _frame(self.reps, self.months, dict(counts), self.values["cycle"], zeros, zeros,
                      self.end)  # fmt: skip


def _draw_realistic(
    true_of: Mapping[str, np.ndarray],
    ramp_volume: np.ndarray,
    ramp_rates: np.ndarray,
    accounts: np.ndarray,
    quota: np.ndarray,
    stream: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Counts per (rep, month) from per-rep true values and per (rep, month) ramp factors."""
    p = {a: np.minimum(true_of[a][:, None] * ramp_rates, 0.95) for a in _TRUE_RATES}
    leads = true_of["leads"][:, None] * ramp_volume
    return _draw_counts(
        p, leads, true_of["deal"], true_of["cycle"], true_of["follow_up"],
        true_of["contacts_per_account"], accounts, quota, ramp_volume.shape, stream,
        opportunities_per_demo=true_of[_OPPORTUNITIES_PER_DEMO][:, None],
    )  # fmt: skip


def realistic_parts(
    level: str = "SMB",
    n_reps: int = 60,
    seed: int = 0,
    n_months: int = 24,
    end_month: str = "2026-06",
    spread: float = 0.06,
    weak_share: float = 0.12,
    top_share: float = 0.07,
    ramping_share: float = 0.08,
    new_hire_share: float = 0.2,
    small_segment: int = 5,
    plant: Sequence[str] = PLANTABLE,
    small_plant: str | None = None,
    small_drop: float = 0.5,
    ramp_lag: float | None = None,
) -> RealisticOrg:
    """A realistic org with its true values and ramp factors (`realistic_org` gives its frames).

    `n_reps` reps in one segment at `level`'s volumes, plus `small_segment` Enterprise reps at
    another scale (5x fewer leads, 4x the deal size, 3x the cycle). True skill varies about ±10%
    around the segment's level (log-normal, sd `spread`, cut at 2 sd); `weak_share` of the
    tenured reps have one material weakness (30-50% worse on one metric's own driver);
    `top_share` are top performers (15-25% better on every stage); `ramping_share` are in their
    2nd or 3rd month, and `new_hire_share` started within the data, so the org's history shows
    ramp curves (RAMP_VOLUME, RAMP_RATES; quotas ramp with volume). Opportunities worked follow
    from the demos the funnel produces. Its `truth` has one row per rep with `email`,
    `segment`, `kind` (natural, weak, top, ramping), `planted` (metric key or None), `drop` and
    `tenure_month` at the end month.

    `small_plant` gives the first Enterprise rep a material weakness on that metric
    (`small_drop` worse); `ramp_lag` makes the first ramping rep prospect that share fewer
    leads than their tenure cohort (planted `leads_prospected`, kind still `ramping`). Their
    counts are drawn from a separate stream, so the rest of the org is the same as without them.
    """
    rng = np.random.default_rng(seed)
    end = parse_month(end_month)
    base = NORMS[level]
    small = replace(base, leads=base.leads / 5, deal=base.deal * 4, cycle=base.cycle * 3)
    n = n_reps + small_segment
    segment = [level] * n_reps + ["Enterprise"] * small_segment
    norms = [base] * n_reps + [small] * small_segment
    draw = rng.random(n)
    kind = np.where(
        draw < ramping_share,
        "ramping",
        np.where(draw < ramping_share + top_share, "top", "natural"),
    )
    kind[n_reps:] = "natural"
    starts = np.where(
        kind == "ramping",
        end - rng.integers(1, 3, n),
        np.where(rng.random(n) < new_hire_share, end - rng.integers(5, n_months, n), end - 60),
    )
    main_natural = np.flatnonzero((kind == "natural") & (np.arange(n) < n_reps))
    weak = rng.permutation(main_natural)[: round(weak_share * n_reps)]
    kind[weak] = "weak"
    planted = {int(i): str(rng.choice(list(plant))) for i in weak}
    drops = {i: float(rng.uniform(0.3, 0.5)) for i in planted}
    lagging = [int(i) for i in np.flatnonzero(kind == "ramping")[: 1 if ramp_lag else 0]]
    special = lagging + ([n_reps] if small_plant is not None and small_segment else [])
    unplanted: dict[str, np.ndarray] = {}
    levels: dict[str, np.ndarray] = {}

    def true(attr: str) -> np.ndarray:
        level_of = np.array(
            [
                nm.opportunities / (nm.leads * nm.connect * nm.discovery * nm.demo)
                if attr == _OPPORTUNITIES_PER_DEMO
                else getattr(nm, attr)
                for nm in norms
            ]
        )
        levels[attr] = level_of
        noise = np.clip(rng.normal(0.0, spread, n), -2 * spread, 2 * spread)
        value = level_of * np.exp(noise)
        better = rng.uniform(1.15, 1.25, n)
        top = kind == "top"
        value[top] = value[top] * (1 / better[top] if attr == "cycle" else better[top])
        for i, key in planted.items():
            if _REALISTIC_PLANT[key] == attr:
                value[i] = level_of[i] * (1 + drops[i] if attr == "cycle" else 1 - drops[i])
        unplanted[attr] = value.copy()
        if n_reps in special and _REALISTIC_PLANT[str(small_plant)] == attr:
            worse = 1 + small_drop if attr == "cycle" else 1 - small_drop
            value[n_reps] = level_of[n_reps] * worse
        return value

    months = np.arange(end - n_months + 1, end + 1)
    tenure = months[None, :] - starts[:, None] + 1  # 1 in the start month
    step = np.clip(tenure, 1, len(RAMP_VOLUME) + 1) - 1
    ramp_volume = np.append(RAMP_VOLUME, 1.0)[step]
    ramp_rates = np.append(RAMP_RATES, 1.0)[step]
    order = (*_TRUE_RATES, "leads", "deal", "cycle", "follow_up", "contacts_per_account")
    values = {a: true(a) for a in (*order, _OPPORTUNITIES_PER_DEMO)}
    accounts = np.array([nm.accounts for nm in norms])[:, None] * np.sqrt(ramp_volume)
    quota = np.array([nm.quota() for nm in norms])[:, None] * ramp_volume

    # The org as without the special plants, from the main stream; then their rows redrawn.
    counts = _draw_realistic(unplanted, ramp_volume, ramp_rates, accounts, quota, rng)
    if special:
        values["leads"][lagging] *= 1.0 - (ramp_lag or 0.0)
        own = _draw_realistic(
            values, ramp_volume, ramp_rates, accounts, quota, np.random.default_rng([seed, 1])
        )
        rows = np.isin(np.arange(n), special)[:, None]
        counts = {key: np.where(rows, own[key], value) for key, value in counts.items()}
    for i in special:
        small = i not in lagging
        kind[i] = "weak" if small else kind[i]
        planted[i] = str(small_plant) if small else "leads_prospected"
        drops[i] = small_drop if small else float(ramp_lag or 0.0)
    names = _names(n, rng)
    reps = [
        _Rep(
            email=email,
            name=name,
            segment=segment[i],
            manager="",
            start=_month_end(int(starts[i]) - 1) + timedelta(days=1),
        )
        for i, (name, email) in enumerate(names)
    ]
    reps = _assign_managers(reps)
    people = _people_frame(reps, rng)
    truth = pd.DataFrame(
        {
            "email": [r.email for r in reps],
            "segment": segment,
            "kind": kind,
            "planted": [planted.get(i) for i in range(n)],
            "drop": [drops.get(i, 0.0) for i in range(n)],
            "tenure_month": end - starts + 1,
        }
    )
    return RealisticOrg(
        people, truth, reps, months, end, values, levels, counts, ramp_volume, ramp_rates,
        accounts, quota,
    )  # fmt: skip


def _email(name: str) -> str:
    return name.lower().replace(" ", ".") + "@example.com"


def _month_end(month: int) -> date:
    year, index = divmod(month + 1, 12)
    return date(year, index + 1, 1) - timedelta(days=1)


def _assign_managers(reps: list[_Rep]) -> list[_Rep]:
    """About eight reps per manager, within a segment."""
    order = sorted(range(len(reps)), key=lambda i: (reps[i].segment or "", reps[i].email))
    out = list(reps)
    for position, i in enumerate(order):
        out[i] = replace(reps[i], manager=f"manager{position // 8 + 1}@example.com")
    return out


def _people_frame(reps: list[_Rep], rng: np.random.Generator) -> pd.DataFrame:
    """Reps, plus managers and directors (about six managers each) when the managers are made up."""
    rows = [
        {
            "email": r.email,
            "name": r.name,
            "role": "rep",
            "manager_email": r.manager,
            "segment": r.segment,
            "timezone": str(rng.choice(NORMS.get(r.segment or "", NORMS["Mid-Market"]).timezones)),
            "start_date": r.start,
            "active": r.active,
        }
        for r in reps
    ]
    invented = sorted({r.manager for r in reps if r.manager.startswith("manager")})
    for j, manager in enumerate(invented):
        director = f"director{j // 6 + 1}@example.com"
        rows.append(_leader(manager, f"Manager {j + 1}", "manager", director))
        if j % 6 == 0:
            rows.append(_leader(director, f"Director {j // 6 + 1}", "director", None))
    return pd.DataFrame(rows)


def _leader(email: str, name: str, role: str, manager: str | None) -> dict[str, object]:
    return {
        "email": email,
        "name": name,
        "role": role,
        "manager_email": manager,
        "segment": None,
        "timezone": "America/New_York",
        "start_date": date(2018, 1, 8),
        "active": True,
    }


def _metrics_frame(
    reps: list[_Rep], end: int, n_months: int, spread: float, rng: np.random.Generator
) -> pd.DataFrame:
    """Monthly counts for every rep: vectorised over (rep, month)."""
    n = len(reps)
    months = np.arange(end - n_months + 1, end + 1)
    norms = [NORMS.get(r.segment or "", NORMS["Mid-Market"]) for r in reps]

    def true(attr: str, sd: float, cap: float | None = None) -> np.ndarray:
        base = np.array([getattr(nm, attr) for nm in norms])
        value = base * np.exp(rng.normal(0.0, sd, n)) if sd > 0 else base.copy()
        for i, r in enumerate(reps):
            if r.planted and _PLANT[r.planted] == attr:
                # Worse than the segment norm: lower, except days to close (higher).
                value[i] = base[i] * (1 + r.drop) if attr == "cycle" else base[i] * (1 - r.drop)
        return np.minimum(value, cap) if cap else value

    vol = np.array([r.volume for r in reps])[:, None]
    p = {a: true(a, spread, 0.95) for a in ("connect", "discovery", "demo", "decide", "win")}
    lam = {a: true(a, spread * 1.5) for a in ("leads", "opportunities")}
    deal, cycle = true("deal", spread), true("cycle", spread)
    follow_up, cpa = true("follow_up", spread), true("contacts_per_account", spread)
    accounts = np.array([nm.accounts for nm in norms]) * np.exp(rng.normal(0, spread, n))
    counts = _draw_counts(
        {a: v[:, None] for a, v in p.items()},
        lam["leads"][:, None] * vol,
        deal,
        cycle,
        follow_up,
        cpa,
        accounts[:, None] * np.sqrt(vol),
        np.array([nm.quota() for nm in norms])[:, None],
        (n, len(months)),
        rng,
        opportunities=lam["opportunities"][:, None] * vol,
    )
    inherited_wins = np.zeros((n, len(months)))
    inherited_revenue = np.zeros((n, len(months)))
    for i, r in enumerate(reps):
        if r.bluebird:
            t = len(months) - 1 - int(rng.integers(0, 3))
            count = int(rng.integers(1, 3))
            inherited_wins[i, t] = count
            inherited_revenue[i, t] = round(float(deal[i]) * 3 * count, -2)
    return _frame(reps, months, counts, cycle, inherited_wins, inherited_revenue, end)


def _draw_counts(
    p: Mapping[str, np.ndarray],
    leads: np.ndarray,
    deal: np.ndarray,
    cycle: np.ndarray,
    follow_up: np.ndarray,
    cpa: np.ndarray,
    accounts: np.ndarray,
    quota: np.ndarray,
    shape: tuple[int, int],
    rng: np.random.Generator,
    opportunities: np.ndarray | None = None,
    opportunities_per_demo: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """One month's counts per (rep, month) from the true values (arrays broadcastable to shape).

    Opportunities worked are either drawn from their own rate (`opportunities`) or follow from
    the demos the rep's funnel produces (`opportunities_per_demo`): then every weak upstream
    stage lowers them too, as in a real pipeline.
    """
    swing = rng.gamma(25.0, 1 / 25.0, shape)  # busy and quiet months (CV 20%)
    leads = rng.poisson(leads * swing)
    connects = rng.binomial(leads, p["connect"])
    discovery = rng.binomial(connects, p["discovery"])
    demos = rng.binomial(discovery, p["demo"])
    decided = rng.binomial(demos, p["decide"])
    wins = rng.binomial(decided, p["win"])
    # Log-normal deal sizes (σ = 0.6) with the rep's mean; a month's revenue sums its deals.
    sigma = 0.6
    mu = np.log(deal) - sigma**2 / 2
    flat = np.repeat(np.broadcast_to(mu[:, None], shape).ravel(), wins.ravel())
    sizes = np.exp(rng.normal(flat, sigma))
    bounds = np.concatenate([[0], np.cumsum(wins.ravel())])
    revenue = (np.add.reduceat(np.append(sizes, 0.0), bounds[:-1]) * (wins.ravel() > 0)).reshape(
        shape
    )
    cycle_days = rng.gamma(4.0 * np.maximum(wins, 1e-9), cycle[:, None] / 4.0) * (wins > 0)
    follow_ups = rng.poisson(discovery * follow_up[:, None])
    active_accounts = rng.poisson(np.broadcast_to(accounts, shape))
    contacts = rng.poisson(active_accounts * cpa[:, None])
    if opportunities_per_demo is None:
        opportunities = rng.poisson(np.broadcast_to(opportunities * swing, shape))
    else:  # the demos already carry the month's swing
        opportunities = rng.poisson(np.broadcast_to(demos * opportunities_per_demo, shape))
    return {
        "leads_prospected": leads,
        "connects": connects,
        "discovery_calls": discovery,
        "demos": demos,
        "wins": wins,
        "losses": decided - wins,
        "revenue": revenue,
        "quota": np.broadcast_to(quota, shape),
        "initial_meetings": discovery,
        "follow_up_meetings": follow_ups,
        "contacts_engaged": contacts,
        "accounts_active": active_accounts,
        "opportunities_worked": opportunities,
        "cycle_days": cycle_days,
    }


def _frame(
    reps: Sequence[_Rep],
    months: np.ndarray,
    counts: dict[str, np.ndarray],
    cycle: np.ndarray,
    inherited_wins: np.ndarray,
    inherited_revenue: np.ndarray,
    end: int,
) -> pd.DataFrame:
    """The metrics DataFrame: bluebirds added to wins, revenue and cycle days; rows kept from
    each rep's start month until they left."""
    n = len(reps)
    counts = dict(counts)
    counts["wins"] = counts["wins"] + inherited_wins
    counts["revenue"] = np.round(counts["revenue"] + inherited_revenue, 0)
    counts["cycle_days"] = np.round(counts["cycle_days"] + inherited_wins * cycle[:, None], 0)
    counts["inherited_wins"] = inherited_wins
    counts["inherited_revenue"] = inherited_revenue
    frame = pd.DataFrame(
        {
            "rep": np.repeat([r.email for r in reps], len(months)),
            "month": np.tile([format_month(int(m)) for m in months], n),
            **{
                column: np.asarray(values, dtype=float).ravel() for column, values in counts.items()
            },
        }
    )
    # Reps report from their start month, and until they left.
    start = np.repeat([parse_month(r.start.strftime("%Y-%m")) for r in reps], len(months))
    stop = np.repeat([r.last_month if r.last_month is not None else end for r in reps], len(months))
    month_number = np.tile(months, n)
    keep = (month_number >= start) & (month_number <= stop)
    frame = frame[keep].reset_index(drop=True)
    return frame


__all__ = [
    "NORMS",
    "PLANTABLE",
    "RAMP_RATES",
    "RAMP_VOLUME",
    "SCALE_DEPENDENT",
    "demo_org",
    "previous_month",
    "RealisticOrg",
    "realistic_org",
    "realistic_parts",
    "simulate_org",
]
