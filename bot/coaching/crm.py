"""What coach does with a CRM's records: the counts after a sync, and the deals going sideways."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from analytics.catalogue import load_catalogue
from analytics.crm_mapping import CrmMapping, load_mapping
from analytics.crm_metrics import flags_by_owner, in_review_order
from analytics.models import DealFlag
from bot.coaching.archive import months_to_judge, update_outcomes
from bot.settings import Settings
from storage.crm import (
    CrmApplyResult,
    apply_crm,
    connected_sources,
    current_crm,
    load_frames,
)
from storage.db import session_scope
from storage.models import CrmOwner


def crm_mapping(settings: Settings) -> CrmMapping:
    """The mapping in force: the defaults, with COACH_CRM_MAPPING_FILE's sections over them.
    Raises CrmMappingError (one line) for a file that can't be used."""
    return load_mapping(settings.coach_crm_mapping_file)


@dataclass(frozen=True)
class SyncApplied:
    """The counts a sync changed, and how many plan focus metrics were judged again."""

    result: CrmApplyResult
    judged: int


def after_sync(
    engine: Engine,
    settings: Settings,
    workspace_id: str,
    source: str,
    today: date | None = None,
) -> SyncApplied:
    """After a successful sync: derive and write the counts (`storage.crm.apply_crm`, the month
    to date through `today`, the workspace's date by default), then judge the plans the
    changed months reach, as after an import. Warm processes reload on the data version."""
    zone = ZoneInfo(settings.coach_timezone)
    today = today or datetime.now(zone).date()
    result = apply_crm(engine, workspace_id, source, crm_mapping(settings), today, zone)
    judged = 0
    months = months_to_judge(engine, workspace_id, result.months, settings.coach_window_months)
    if months:
        catalogue = load_catalogue(settings.coach_metrics_file)
        judged = update_outcomes(engine, workspace_id, catalogue, settings.gap_config(), months)
    return SyncApplied(result=result, judged=judged)


@dataclass(frozen=True)
class Pipeline:
    """A rep's open deals going sideways, from the CRM they are in (None: no CRM connected)."""

    source: str | None
    flags: list[DealFlag]
    untouched_days: int


def pipeline(
    engine: Engine, settings: Settings, workspace_id: str, email: str, now: datetime
) -> Pipeline:
    """The rep's open deals that are untouched or stuck at `now`, longest in their stage first."""
    mapping = crm_mapping(settings)
    with session_scope(engine) as session:
        return sideways(session, mapping, workspace_id, email, now)


def sideways(
    session: Session, mapping: CrmMapping, workspace_id: str, email: str, now: datetime
) -> Pipeline:
    """`pipeline` within a session the caller holds."""
    return sideways_of(session, mapping, workspace_id, [email], now)[email.strip().lower()]


def sideways_of(
    session: Session, mapping: CrmMapping, workspace_id: str, emails: Iterable[str], now: datetime
) -> dict[str, Pipeline]:
    """`sideways` for several reps at the same moment (by lower-case email): each CRM's records
    are read and judged once, not once a rep (a weekly 1:1 prep's tick holds many reps). Deals
    come from the CRM the workspace takes its counts from: after a switch, the old CRM's
    records are frozen, and a rep's deals there are no review of today's pipeline."""
    wanted = {email.strip().lower() for email in emails}
    days = mapping.hygiene.untouched_days
    current = current_crm(session, workspace_id)
    sources = [current[0]] if current else connected_sources(session, workspace_id)
    found: dict[str, Pipeline] = {}
    for source in sources:
        lowered = func.lower(CrmOwner.email)
        owners = dict(
            session.execute(
                select(CrmOwner.crm_id, lowered).where(
                    CrmOwner.workspace_id == workspace_id,
                    CrmOwner.source == source,
                    lowered.in_(sorted(wanted - found.keys())),
                )
            ).all()
        )
        if not owners:
            continue
        frames = load_frames(session, workspace_id, source, touches_of=set(owners))
        flags = flags_by_owner(frames, mapping.source(source), mapping.hygiene, set(owners), now)
        for rep in set(owners.values()):
            theirs = [f for owner, of in owners.items() if of == rep for f in flags.get(owner, [])]
            found[rep] = Pipeline(source, in_review_order(theirs), days)
    none = Pipeline(sources[0] if sources else None, [], days)
    return {rep: found.get(rep, none) for rep in wanted}
