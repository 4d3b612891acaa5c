"""Exactly-once claims for scheduled messages.

Every scheduled message has a key (workspace, recipient, kind, period, and the rep for thread
replies). A sender claims the key in the database before it sends and marks it sent after. The
unique (workspace_id, key) constraint decides between processes racing for the same key; a claim
whose process died is taken over after a timeout, by a compare-and-swap on `attempts`, so two
processes that both find it stale cannot both win.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Executable, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import Delivery

_DELIVERIES = Delivery.__table__
# Built once: a day one claims and marks ten thousand messages, and building a statement costs
# more CPU than running it. Claims insert with ON CONFLICT DO NOTHING, so a taken key answers
# with no row rather than an error to roll back.
_CLAIM: dict[str, Executable] = {
    name: dialect.insert(_DELIVERIES)
    .on_conflict_do_nothing(index_elements=["workspace_id", "key"])
    .returning(_DELIVERIES.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_FINISH = update(_DELIVERIES).where(
    _DELIVERIES.c.id == bindparam("delivery_id_"), _DELIVERIES.c.claimed_by == bindparam("owner_")
)

ClaimState = Literal["mine", "sent", "skipped", "busy"]


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a key.

    `mine`: this process now owns the key and must send (`stale` when it took over a claim left
    by a process that died, or a failed attempt: either may have posted before it stopped).
    `sent` / `skipped`: decided before. `busy`: another live process holds it.
    """

    state: ClaimState
    delivery_id: int
    stale: bool = False
    channel: str | None = None
    ts: str | None = None


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands timestamps back without a zone; everything stored is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def claim(
    session: Session | Connection,
    *,
    workspace_id: str,
    key: str,
    kind: str,
    period: str,
    owner: str,
    now: datetime,
    stale_after: timedelta,
    recipient_id: int | None = None,
    rep_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> Claim:
    """Claim `key` for `owner`; commits at once so other processes see the claim. `session`
    may be a connection (the sender's, in autocommit)."""
    values = {
        "workspace_id": workspace_id,
        "key": key,
        "kind": kind,
        "period": period,
        "recipient_id": recipient_id,
        "rep_id": rep_id,
        "status": "claimed",
        "claimed_by": owner,
        "claimed_at": now,
        "attempts": 1,
        "payload": payload,
    }
    dialect = session.dialect if isinstance(session, Connection) else session.get_bind().dialect
    statement = _CLAIM.get(dialect.name)
    try:
        if statement is None:  # another database: the unique key's error tells
            new_id = session.execute(insert(_DELIVERIES).returning(_DELIVERIES.c.id), values)
        else:
            new_id = session.execute(statement, values)
        mine = new_id.scalar()
        session.commit()
    except IntegrityError:
        session.rollback()
        mine = None
    if mine is not None:
        return Claim("mine", mine)
    existing = session.execute(
        select(
            Delivery.id,
            Delivery.status,
            Delivery.claimed_at,
            Delivery.attempts,
            Delivery.channel,
            Delivery.ts,
        ).where(Delivery.workspace_id == workspace_id, Delivery.key == key)
    ).first()
    assert existing is not None  # the conflict was this row; deliveries are never deleted
    if existing.status in ("sent", "skipped"):
        return Claim(existing.status, existing.id, channel=existing.channel, ts=existing.ts)  # type: ignore[arg-type]
    claimed_at = _aware(existing.claimed_at)
    live = existing.status == "claimed" and claimed_at is not None
    if live and now - claimed_at < stale_after:  # type: ignore[operator]
        return Claim("busy", existing.id)
    taken = session.execute(
        update(Delivery)
        .where(
            Delivery.id == existing.id,
            Delivery.status == existing.status,
            Delivery.attempts == existing.attempts,
        )
        .values(
            status="claimed",
            claimed_by=owner,
            claimed_at=now,
            attempts=existing.attempts + 1,
            error=None,
            payload=payload,
        )
    )
    session.commit()
    if taken.rowcount != 1:
        return Claim("busy", existing.id)
    return Claim("mine", existing.id, stale=True, channel=existing.channel, ts=existing.ts)


def _finish(session: Session | Connection, delivery_id: int, owner: str, **values: object) -> None:
    session.execute(_FINISH, {"delivery_id_": delivery_id, "owner_": owner, **values})
    session.commit()


def mark_sent(
    session: Session | Connection,
    delivery_id: int,
    owner: str,
    *,
    channel: str,
    ts: str,
    now: datetime,
) -> None:
    """Record that the claimed message went out, and where (thread replies find it there)."""
    _finish(session, delivery_id, owner, status="sent", channel=channel, ts=ts, sent_at=now)


def mark_failed(
    session: Session | Connection, delivery_id: int, owner: str, error: str, *, skip: bool
) -> None:
    """Record a failure: `skip` for a recipient who can't be reached (final for the period),
    otherwise `failed`, which the next run retries."""
    _finish(session, delivery_id, owner, status="skipped" if skip else "failed", error=error)


def delivered(session: Session, workspace_id: str, keys: list[str]) -> dict[str, Delivery]:
    """The deliveries recorded for `keys` (read only; for dry runs and thread parents)."""
    if not keys:
        return {}
    rows = session.scalars(
        select(Delivery).where(Delivery.workspace_id == workspace_id, Delivery.key.in_(keys))
    )
    return {row.key: row for row in rows}


def renew(session: Session, delivery_id: int, owner: str, now: datetime) -> None:
    """Keep a long job's claim live (a CRM sync runs for minutes): moves `claimed_at` to `now`
    while `owner` still holds it, so no other process takes it over as stale."""
    session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.claimed_by == owner,
            Delivery.status == "claimed",
        )
        .values(claimed_at=now)
    )
    session.commit()


def mark_done(session: Session, delivery_id: int, owner: str, now: datetime) -> None:
    """Record that a claimed job that posts nothing (a CRM sync) is done for its period."""
    _finish(session, delivery_id, owner, status="sent", sent_at=now)
