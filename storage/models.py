"""SQLAlchemy 2 models: every row belongs to a workspace (a Slack team id)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    Time,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES = ("rep", "manager", "director", "admin")


def utcnow() -> datetime:
    """The current time in UTC (timezone-aware); the only clock storage uses."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Workspace(Base):
    """A Slack workspace (team). Single-workspace installs use one row, `default`."""

    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    # Bumped by every import, so warm processes know when to reload the data they serve.
    data_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Person(Base):
    """One person of the org chart. Never deleted by an import: marked inactive instead."""

    __tablename__ = "people"
    __table_args__ = (UniqueConstraint("workspace_id", "email"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    segment: Mapped[str | None] = mapped_column(String(100))
    # SDR, AE, AM, ...: peers are the same segment and discipline (None: one discipline).
    discipline: Mapped[str | None] = mapped_column(String(100))
    slack_user_id: Mapped[str | None] = mapped_column(String(32), index=True)
    timezone: Mapped[str | None] = mapped_column(String(64))
    # Whose working days and public holidays the cadence keeps ("DE", "US-CA"); None: the default.
    country: Mapped[str | None] = mapped_column(String(32))
    start_date: Mapped[date | None] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Muted from App Home: no reminders or escalations; day one and day two still come.
    mute_reminders: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # `/coach away until`: the last day away, in the person's own calendar (None: here).
    away_until: Mapped[date | None] = mapped_column(Date)
    # A rep's weekly 1:1 with their manager: weekday (0 is Monday) and time, in the manager's
    # time zone; the manager gets its prep a little before (None: no weekly 1:1).
    one_on_one_weekday: Mapped[int | None] = mapped_column(Integer)
    one_on_one_time: Mapped[time | None] = mapped_column(Time)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    manager: Mapped[Person | None] = relationship(remote_side=[id])


class MetricName(Base):
    """A count column of a workspace and its slot: where its value sits in each stored month.

    Slots are handed out as a workspace's files first name a column, and never reused."""

    __tablename__ = "metric_names"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(64))


class MetricMonth(Base):
    """One rep's counts for one month: `counts` holds a little-endian float64 per slot of
    metric_names (NaN: no value; slots past its end have none). See storage/counts.py.

    One row per rep-month rather than per value: a 5,000-rep, 24-month org is 120,000 rows
    instead of 1.92 million, so reading, importing and checking foreign keys touch 16× fewer
    rows, and a read is a concatenation of blobs that numpy views as a matrix. On SQLite the
    table has no rowid: the natural key is the only B-tree.

    No foreign keys: PostgreSQL checks them row by row, two lookups per row, and that was most
    of a big import's time. Imports write only person ids they have just looked up in the
    workspace's org chart, in the same transaction; people and workspaces are never deleted
    (`coach forget` anonymises a person and deletes their rows here).
    """

    __tablename__ = "metric_months"
    __table_args__ = {"sqlite_with_rowid": False}

    workspace_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    counts: Mapped[bytes] = mapped_column(LargeBinary)


class PartialMonth(Base):
    """A rep-month whose counts run only through `through` (month-to-date rows for the daily
    post). A full month has no row here: most months are full, so metric_months keeps one shape
    and a full re-import clears the mark by deleting one row per rep-month."""

    __tablename__ = "partial_months"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    through: Mapped[date] = mapped_column(Date)


class Deferral(Base):
    """A cadence message held back while its recipient was away: it goes on a working day they
    are back, within its month (a PIP's, any day after); its exactly-once key still decides that
    it goes once."""

    __tablename__ = "deferrals"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    job: Mapped[str] = mapped_column(String(16), primary_key=True)
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    # The last day away as known when it was (last) held back.
    until: Mapped[date] = mapped_column(Date)
    deferred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OneOnOneTopics(Base):
    """What a rep wants to talk about in one weekly 1:1 (the meeting's day, the manager's
    calendar): shown in their manager's prep."""

    __tablename__ = "one_on_one_topics"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    rep_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    meeting_day: Mapped[date] = mapped_column(Date, primary_key=True)
    topics: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class WorkspaceSettings(Base):
    """A workspace's cadence settings, changed by its admins from App Home; an empty one
    (None) falls back to the environment's default."""

    __tablename__ = "workspace_settings"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    daily_channel: Mapped[str | None] = mapped_column(String(32))
    send_time: Mapped[str | None] = mapped_column(String(5))
    reminder_day: Mapped[int | None] = mapped_column(Integer)
    escalation_day: Mapped[int | None] = mapped_column(Integer)
    one_on_one_lead: Mapped[int | None] = mapped_column(Integer)  # minutes before the 1:1
    country: Mapped[str | None] = mapped_column(String(32))
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Plan(Base):
    """A rep's monthly coaching plan: what skill, why, how. One per rep and month."""

    __tablename__ = "plans"
    __table_args__ = (UniqueConstraint("workspace_id", "rep_id", "month"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    rep_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    month: Mapped[str] = mapped_column(String(7))
    why: Mapped[str] = mapped_column(Text, default="")
    actions: Mapped[list[str]] = mapped_column(JSON, default=list)
    checkin_dates: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The manager's DM announcing the plan: check-ins are threaded under it.
    dm_channel: Mapped[str | None] = mapped_column(String(32))
    dm_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    focus: Mapped[list[PlanFocus]] = relationship(
        back_populates="plan", cascade="all, delete-orphan", order_by="PlanFocus.position"
    )
    checkins: Mapped[list[CheckIn]] = relationship(
        back_populates="plan", cascade="all, delete-orphan", order_by="CheckIn.on_date"
    )


class PlanFocus(Base):
    """One focus metric of a plan, with the baseline figures it was chosen on."""

    __tablename__ = "plan_focus"
    __table_args__ = (UniqueConstraint("plan_id", "metric_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    metric_key: Mapped[str] = mapped_column(String(64))
    baseline: Mapped[float | None] = mapped_column(Float)
    peer_median: Mapped[float | None] = mapped_column(Float)
    target: Mapped[float | None] = mapped_column(Float)

    plan: Mapped[Plan] = relationship(back_populates="focus")


class CheckIn(Base):
    """A progress check-in on a plan."""

    __tablename__ = "checkins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    on_date: Mapped[date] = mapped_column(Date)
    done_actions: Mapped[list[str]] = mapped_column(JSON, default=list)
    metric_value: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    notes: Mapped[str] = mapped_column(Text, default="")
    # Slack may deliver the same submission twice; the client's key makes that a no-op.
    request_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    plan: Mapped[Plan] = relationship(back_populates="checkins")


class Reflection(Base):
    """A rep's own look back before the day-one 1:1."""

    __tablename__ = "reflections"
    __table_args__ = (UniqueConstraint("workspace_id", "rep_id", "month"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    rep_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    month: Mapped[str] = mapped_column(String(7))
    how_it_went: Mapped[str] = mapped_column(Text, default="")
    went_well: Mapped[str] = mapped_column(Text, default="")
    improve: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Delivery(Base):
    """One scheduled message: claimed before it is sent, marked sent after (exactly once)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("workspace_id", "key"),
        Index("ix_deliveries_status_claimed", "status", "claimed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    key: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(16))
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    rep_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    status: Mapped[str] = mapped_column(String(16), default="claimed")
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    channel: Mapped[str | None] = mapped_column(String(32))
    ts: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class PlanOutcome(Base):
    """What became of one focus metric of a plan, judged on the rep's data from the plan's
    month on (`judged_from` to `judged_to`) against the expectation without coaching.

    One row per plan focus: a re-import of those months recomputes it in place. `value`,
    `numerator` and `denominator` are the rep's over the months judged; `estimate`,
    `peer_median_now` and `material_line` are the engine's on the window ending `judged_to`.
    """

    __tablename__ = "plan_outcomes"
    __table_args__ = (
        Index("ix_plan_outcomes_workspace_id_metric_key", "workspace_id", "metric_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    focus_id: Mapped[int] = mapped_column(
        ForeignKey("plan_focus.id", ondelete="CASCADE"), unique=True
    )
    metric_key: Mapped[str] = mapped_column(String(64))
    month: Mapped[str] = mapped_column(String(7))
    baseline: Mapped[float | None] = mapped_column(Float)
    value: Mapped[float | None] = mapped_column(Float)
    estimate: Mapped[float | None] = mapped_column(Float)
    numerator: Mapped[float | None] = mapped_column(Float)
    denominator: Mapped[float | None] = mapped_column(Float)
    peer_median_then: Mapped[float | None] = mapped_column(Float)
    peer_median_now: Mapped[float | None] = mapped_column(Float)
    target: Mapped[float | None] = mapped_column(Float)
    verdict: Mapped[str] = mapped_column(String(16))
    p_better: Mapped[float | None] = mapped_column(Float)
    expectation: Mapped[float | None] = mapped_column(Float)
    material_line: Mapped[float | None] = mapped_column(Float)
    judged_from: Mapped[str | None] = mapped_column(String(7))
    judged_to: Mapped[str | None] = mapped_column(String(7))
    target_met: Mapped[bool | None] = mapped_column(Boolean)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Pip(Base):
    """A performance improvement plan: goals on metrics with deadlines, interim tracking
    metrics, the manager's commitments and a rhythm of check-ins. Seen only by the rep, their
    manager chain and admins; never part of the archive's lessons or team-wide views."""

    __tablename__ = "pips"
    # One running PIP per rep, even when two submissions race (two replicas, or two managers).
    __table_args__ = (
        Index(
            "uq_pips_one_active",
            "workspace_id",
            "rep_id",
            unique=True,
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    rep_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    rhythm_days: Mapped[int] = mapped_column(Integer)
    commitments: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The author confirmed the issues were discussed before (no plan on them in 3 months).
    discussed: Mapped[bool] = mapped_column(Boolean, default=False)
    # active while running; completed, extended (then active again) or ended by the decision.
    status: Mapped[str] = mapped_column(String(16), default="active")
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The DMs announcing it, to the author and to the rep: check-ins are threaded under both.
    dm_channel: Mapped[str | None] = mapped_column(String(32))
    dm_ts: Mapped[str | None] = mapped_column(String(32))
    rep_dm_channel: Mapped[str | None] = mapped_column(String(32))
    rep_dm_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    metrics: Mapped[list[PipMetric]] = relationship(
        back_populates="pip", cascade="all, delete-orphan", order_by="PipMetric.position"
    )
    checkins: Mapped[list[PipCheckIn]] = relationship(
        back_populates="pip", cascade="all, delete-orphan", order_by="PipCheckIn.on_date"
    )
    events: Mapped[list[PipEvent]] = relationship(
        back_populates="pip", cascade="all, delete-orphan", order_by="PipEvent.id"
    )


class PipMetric(Base):
    """An outcome metric (today's value → target by a deadline, judged at the end) or an
    interim tracking metric (a weekly level), of one PIP."""

    __tablename__ = "pip_metrics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pip_id: Mapped[int] = mapped_column(ForeignKey("pips.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # outcome | tracking
    position: Mapped[int] = mapped_column(Integer, default=0)
    metric_key: Mapped[str] = mapped_column(String(64))
    baseline: Mapped[float | None] = mapped_column(Float)
    target: Mapped[float] = mapped_column(Float)  # the outcome's target, or the weekly level
    deadline: Mapped[date | None] = mapped_column(Date)  # outcomes only
    verdict: Mapped[str | None] = mapped_column(String(16))  # met, not met, not enough data
    value: Mapped[float | None] = mapped_column(Float)  # what the verdict was judged on
    p_reached: Mapped[float | None] = mapped_column(Float)

    pip: Mapped[Pip] = relationship(back_populates="metrics")


class PipCheckIn(Base):
    """An interim check-in on a PIP: tracking metrics' latest values, commitments kept/missed."""

    __tablename__ = "pip_checkins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    pip_id: Mapped[int] = mapped_column(ForeignKey("pips.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    on_date: Mapped[date] = mapped_column(Date)
    values: Mapped[dict[str, float | None]] = mapped_column(JSON, default=dict)
    kept: Mapped[list[str]] = mapped_column(JSON, default=list)
    missed: Mapped[list[str]] = mapped_column(JSON, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")
    # Slack may deliver the same submission twice; the client's key makes that a no-op.
    request_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    pip: Mapped[Pip] = relationship(back_populates="checkins")


class PipEvent(Base):
    """The PIP's audit trail: who created, changed, acknowledged, checked in or decided, when."""

    __tablename__ = "pip_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    pip_id: Mapped[int] = mapped_column(ForeignKey("pips.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    pip: Mapped[Pip] = relationship(back_populates="events")


# CRM records (issue 16): kept as the CRM has them, keyed by (workspace, source, CRM id), so a
# sync is incremental and a changed mapping recomputes the monthly counts without refetching.


class CrmOwner(Base):
    """A CRM user who can own deals. Deleted in the CRM: kept, inactive (their history counts)."""

    __tablename__ = "crm_owners"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    crm_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    manager_crm_id: Mapped[str | None] = mapped_column(String(64))
    team: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    modified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CrmDeal(Base):
    """A deal or opportunity as it stands now; its histories are in the two tables below."""

    __tablename__ = "crm_deals"
    __table_args__ = (Index("ix_crm_deals_owner", "workspace_id", "source", "owner_crm_id"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    crm_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    owner_crm_id: Mapped[str | None] = mapped_column(String(64))
    pipeline: Mapped[str | None] = mapped_column(String(100))
    stage: Mapped[str] = mapped_column(String(100))
    amount: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    close_date: Mapped[date | None] = mapped_column(Date)
    url: Mapped[str | None] = mapped_column(Text)
    modified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CrmStageChange(Base):
    """The deal entered `stage` at `entered_at`; `position` orders a deal's whole history, which
    each sync of the deal replaces."""

    __tablename__ = "crm_stage_changes"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    deal_crm_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    stage: Mapped[str] = mapped_column(String(100))
    entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CrmOwnerChange(Base):
    """The deal's owner became `owner_crm_id` at `changed_at` (whole history, like stages)."""

    __tablename__ = "crm_owner_changes"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    deal_crm_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_crm_id: Mapped[str | None] = mapped_column(String(64))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CrmActivity(Base):
    """A logged call, meeting, email or task; the deals it is about are in crm_activity_deals."""

    __tablename__ = "crm_activities"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    crm_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    owner_crm_id: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(100))
    modified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CrmActivityDeal(Base):
    """An activity is about a deal (the last touch of a deal is looked up from here)."""

    __tablename__ = "crm_activity_deals"
    __table_args__ = (Index("ix_crm_activity_deals_deal", "workspace_id", "source", "deal_crm_id"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    activity_crm_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    deal_crm_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class CrmCursor(Base):
    """Where the next incremental sync of one object starts (opaque to storage)."""

    __tablename__ = "crm_cursors"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    object: Mapped[str] = mapped_column(String(16), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CrmSyncRun(Base):
    """One sync, for `coach doctor`: running until it ends ok or failed (with one line why).
    A run still `running` that no process carries on was killed; the next sync resumes it."""

    __tablename__ = "crm_sync_runs"
    __table_args__ = (Index("ix_crm_sync_runs_workspace", "workspace_id", "source", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    source: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="running")
    error: Mapped[str | None] = mapped_column(Text)
    # Records written per object, and deletions: {"deals": 120, "deleted": 3, ...}.
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)


class CrmProblem(Base):
    """A record that doesn't map (an owner with no email, a stage not in the mapping), one line
    each, kept with the run that met it."""

    __tablename__ = "crm_problems"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    source: Mapped[str] = mapped_column(String(16))
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("crm_sync_runs.id", ondelete="CASCADE"), index=True
    )
    line: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CrmMonth(Base):
    """A month whose CRM-derived counts come from `source` (the CRM wins over a CSV for them);
    `through` is the sync date while the month is still running."""

    __tablename__ = "crm_months"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    through: Mapped[date | None] = mapped_column(Date)
    synced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
