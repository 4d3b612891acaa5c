"""The gap engine's configuration and output models (the JSON contract of `coach gaps --json`).

Every number is a plain float or None: the engine turns NaN and infinities into None before it
builds these models, so `model_dump(mode="json")` never holds NaN or Infinity.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from analytics.catalogue import Direction, Kind, Unit

Number = float | None


class GapConfig(BaseModel):
    """How gaps are computed; the defaults are the method's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_months: int = Field(3, ge=1, le=24, description="Months pooled, ending at the month.")
    min_peer_group: int = Field(8, ge=2, description="Smallest segment (rep included) to use.")
    flag_threshold: float = Field(0.8, gt=0.5, lt=1.0, description="Credibility needed to flag.")
    material_gap: float = Field(
        0.2,
        ge=0.0,
        lt=1.0,
        description="Relative shortfall behind the peers' typical true value that is worth a "
        "month of coaching; a flag needs this gap, not just any gap, to be credible.",
    )
    max_focus: int = Field(2, ge=1, le=2, description="Focus metrics per rep and month.")
    ramp_days: int = Field(90, ge=0, description="Reps newer than this are marked ramping.")
    ramp_months: int = Field(
        3,
        ge=0,
        le=24,
        description="Tenure months a rep ramps in: while the window holds one of them, only "
        "conversion metrics are compared with tenured peers.",
    )
    trend_months: int = Field(6, ge=2, le=36, description="Months shown in the trend.")
    min_sample: int = Field(20, ge=1, description="Denominators below this get a warning.")


class PeerGroup(BaseModel):
    """Whom the rep was compared with."""

    segment: str | None = Field(description="The peers' segment; None when all reps are peers.")
    discipline: str | None = Field(None, description="The peers' discipline (SDR, AE, ...).")
    size: int = Field(description="Peers with data in the window, the rep not counted.")
    widened: bool = Field(
        description="Always False: the peer group is never widened to other segments or "
        "disciplines (a small group's conversion rates may be judged against the org's rates "
        "adjusted to its level: see basis; kept for the JSON contract)."
    )
    basis: Literal["group", "tenure_cohort", "levels_adjusted", "within_small_group"] = Field(
        "group",
        description="What the rep was judged against: the group; for a ramping rep, reps in "
        "the same tenure months (`cohort`); for a group under min_peer_group, conversion rates "
        "against the org with each group's rates adjusted to this group's level "
        "(`adjusted_peers`), or within the group when it is the only one.",
    )
    cohort: int | None = Field(
        None, description="Rep-observations in the rep's tenure months compared with, if any."
    )
    adjusted_peers: int | None = Field(
        None, description="Reps (all groups) in the level-adjusted comparison of a small group."
    )


class MetricGap(BaseModel):
    """One metric for one rep: raw value, peer figures, shrunk estimate and the verdict."""

    key: str
    label: str
    kind: Kind
    direction: Direction
    stage: str | None
    unit: Unit | None
    effort_or_skill: Literal["effort", "skill"] | None
    value: Number
    numerator: Number
    denominator: Number
    peer_median: Number
    top_quartile: Number
    percentile: Number
    peer_count: int
    estimate: Number
    credibility: Number
    material_line: Number = Field(
        None, description="The peers' typical true value, `material_gap` worse: the line tested."
    )
    materiality: Number = Field(
        None, description="P(the rep's true value is worse than material_line)."
    )
    compared: bool = Field(
        True, description="False when the metric cannot be flagged (why: warnings)."
    )
    flagged: bool
    consequence_of: str | None = Field(
        None, description="The flagged upstream metric that explains this shortfall."
    )
    impact: Number
    sentence: str | None
    suggestions: list[str]


class TargetSet(BaseModel):
    """Monthly volumes: needed to make quota (own or team rates), or the rep's actual ones."""

    wins: Number
    opportunities: Number
    demos: Number
    discovery_calls: Number
    connects: Number
    leads_prospected: Number
    pipeline_coverage: Number


class Targets(BaseModel):
    """Quota worked backwards through the funnel, at the rep's own (shrunk) rates and at the peer
    medians, next to the rep's actual volumes."""

    quota: float = Field(description="Average monthly quota over the window.")
    own: TargetSet
    team: TargetSet
    actual: TargetSet
    out_of_reach: list[str] = Field(
        default_factory=list,
        description="Fields of `own` beyond what the peers' top quartile achieves.",
    )
    lever: str | None = Field(None, description="The metric that would have to move instead.")
    note: str | None = None


class Stretch(BaseModel):
    """For a rep without a material gap: the metric with the biggest upside toward the top
    quartile. A stretch goal, not a weakness."""

    key: str
    label: str
    value: Number
    estimate: Number
    top_quartile: Number
    upside: float = Field(description="Extra monthly bookings at the top quartile, all else equal.")
    sentence: str


class TrendSeries(BaseModel):
    """One focus metric's single-month raw values, one per month of `Trend.months`."""

    key: str
    values: list[Number]


class FocusFollowUp(BaseModel):
    """Did last month's focus metric move toward the peer median?"""

    key: str
    previous: Number = Field(description="The rep's raw value in the previous month alone.")
    current: Number = Field(description="The rep's raw value in this month alone.")
    peer_median: Number = Field(description="This month's peer median (window-pooled).")
    moved_toward_median: bool | None


class Trend(BaseModel):
    """The focus metrics month by month, and how last month's focus went."""

    months: list[str]
    series: list[TrendSeries]
    last_month_focus: list[FocusFollowUp]


class Inherited(BaseModel):
    """Bluebirds in the window: handed-down deals kept out of the skill metrics."""

    wins: float
    revenue: float


class GapReport(BaseModel):
    """One rep's peer-relative gaps for one month."""

    rep: str
    name: str
    segment: str | None
    month: str
    window: list[str]
    through: date | None = Field(
        None,
        description="The last day the month's rows cover when it is month to date (its volumes "
        "are scaled by the days covered); None for a full month.",
    )
    peer_group: PeerGroup
    ramping: bool
    tenure_month: int | None = Field(None, description="1 in the start month; None if unknown.")
    material_gap: float = Field(0.2, description="The relative gap a flag must credibly exceed.")
    metrics: list[MetricGap]
    focus: list[str]
    focus_note: str | None
    consequences: list[str] = Field(
        default_factory=list,
        description="Shortfalls shown as the consequence of a focus metric, one sentence each.",
    )
    stretch: Stretch | None = None
    targets: Targets | None
    trend: Trend
    inherited: Inherited
    warnings: list[str]


class DealFlag(BaseModel):
    """An open CRM deal going sideways: untouched, stuck, or both (the 1:1's pipeline review)."""

    model_config = ConfigDict(frozen=True)

    crm_id: str
    name: str
    url: str | None = None
    stage: str = Field(description="The stage's label from the mapping file.")
    amount: Number = None
    days_in_stage: int
    days_since_touch: int | None = Field(None, description="None: never touched.")
    reasons: list[Literal["untouched", "stuck"]]
