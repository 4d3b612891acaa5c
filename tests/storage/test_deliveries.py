"""Exactly-once claims for scheduled messages, on SQLite and PostgreSQL.

A key is claimed once, a live claim keeps others out, a dead one is taken over (once, however
many processes race for it), and only the owner of a claim can finish it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from storage.deliveries import Claim, claim, delivered, mark_failed, mark_sent
from storage.models import Delivery, Workspace

WS = "default"
KEY = "day-one:2026-11:manager:1"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
STALE = timedelta(minutes=10)
THREADS = 8


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """A session factory on a database holding the `default` workspace (and a second, `T2`)."""
    factory = sessionmaker(engine)
    with factory() as s:
        s.add_all([Workspace(id=WS), Workspace(id="T2")])
        s.commit()
    return factory


def take(
    factory: sessionmaker[Session],
    owner: str,
    now: datetime = T0,
    *,
    key: str = KEY,
    workspace_id: str = WS,
) -> Claim:
    """`owner` claims `key` at `now`, in a session of its own."""
    with factory() as s:
        return claim(
            s,
            workspace_id=workspace_id,
            key=key,
            kind="day-one",
            period="2026-11",
            owner=owner,
            now=now,
            stale_after=STALE,
        )


def row(factory: sessionmaker[Session], key: str = KEY, workspace_id: str = WS) -> Delivery:
    """The delivery row for `key`, read afresh."""
    with factory() as s:
        found = s.scalar(
            select(Delivery).where(Delivery.workspace_id == workspace_id, Delivery.key == key)
        )
        assert found is not None
        s.expunge(found)
        return found


def finish(factory: sessionmaker[Session], action: Callable[[Session], None]) -> None:
    """Run a mark_* call in a session of its own."""
    with factory() as s:
        action(s)


def race(factory: sessionmaker[Session], now: datetime) -> list[Claim]:
    """THREADS owners, each with its own session, claim KEY at the same moment."""
    barrier = threading.Barrier(THREADS)

    def one(i: int) -> Claim:
        with factory() as s:
            barrier.wait(timeout=10)
            return claim(
                s,
                workspace_id=WS,
                key=KEY,
                kind="day-one",
                period="2026-11",
                owner=f"racer-{i}",
                now=now,
                stale_after=STALE,
            )

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(one, range(THREADS)))


def test_first_claim_is_mine_and_a_fresh_one_keeps_others_out(
    sessions: sessionmaker[Session],
) -> None:
    first = take(sessions, "a")
    assert (first.state, first.stale) == ("mine", False)
    again = take(sessions, "b", T0 + STALE - timedelta(seconds=1))
    assert (again.state, again.delivery_id) == ("busy", first.delivery_id)
    stored = row(sessions)
    assert (stored.status, stored.claimed_by, stored.attempts) == ("claimed", "a", 1)
    assert (stored.kind, stored.period) == ("day-one", "2026-11")


def test_sent_is_final_and_says_where(sessions: sessionmaker[Session]) -> None:
    first = take(sessions, "a")
    finish(
        sessions,
        lambda s: mark_sent(s, first.delivery_id, "a", channel="D1", ts="1.2", now=T0),
    )
    for owner, later in (("a", T0), ("b", T0 + timedelta(days=40))):
        got = take(sessions, owner, later)
        assert (got.state, got.delivery_id, got.channel, got.ts) == (
            "sent",
            first.delivery_id,
            "D1",
            "1.2",
        )
    stored = row(sessions)
    assert (stored.status, stored.attempts, stored.claimed_by) == ("sent", 1, "a")


def test_skipped_is_final(sessions: sessionmaker[Session]) -> None:
    first = take(sessions, "a")
    finish(sessions, lambda s: mark_failed(s, first.delivery_id, "a", "user_not_found", skip=True))
    for owner, later in (("a", T0), ("b", T0 + STALE * 10)):
        assert take(sessions, owner, later).state == "skipped"
    stored = row(sessions)
    assert (stored.status, stored.error, stored.attempts) == ("skipped", "user_not_found", 1)


def test_a_failure_is_retried_by_the_next_claim(sessions: sessionmaker[Session]) -> None:
    first = take(sessions, "a")
    finish(sessions, lambda s: mark_failed(s, first.delivery_id, "a", "ratelimited", skip=False))
    assert row(sessions).status == "failed"
    retry = take(sessions, "b", T0 + timedelta(seconds=1))
    assert (retry.state, retry.stale, retry.delivery_id) == ("mine", True, first.delivery_id)
    stored = row(sessions)
    assert (stored.status, stored.claimed_by, stored.attempts, stored.error) == (
        "claimed",
        "b",
        2,
        None,
    )
    # the retry is a live claim like any other
    assert take(sessions, "c", T0 + timedelta(seconds=2)).state == "busy"


def test_a_stale_claim_is_taken_over_and_the_old_owner_cannot_finish_it(
    sessions: sessionmaker[Session],
) -> None:
    first = take(sessions, "dead")
    assert take(sessions, "b", T0 + STALE - timedelta(microseconds=1)).state == "busy"
    later = T0 + STALE
    over = take(sessions, "new", later)
    assert (over.state, over.stale, over.delivery_id) == ("mine", True, first.delivery_id)

    finish(
        sessions,
        lambda s: mark_sent(s, first.delivery_id, "dead", channel="D9", ts="9.9", now=later),
    )
    finish(sessions, lambda s: mark_failed(s, first.delivery_id, "dead", "late", skip=True))
    stored = row(sessions)
    assert (stored.status, stored.claimed_by, stored.attempts) == ("claimed", "new", 2)
    assert (stored.channel, stored.ts, stored.error) == (None, None, None)
    assert stored.claimed_at is not None
    claimed_at = stored.claimed_at
    if claimed_at.tzinfo is None:  # SQLite hands timestamps back without a zone
        claimed_at = claimed_at.replace(tzinfo=UTC)
    assert claimed_at == later

    finish(
        sessions,
        lambda s: mark_sent(s, first.delivery_id, "new", channel="D1", ts="1.1", now=later),
    )
    got = take(sessions, "dead", later)
    assert (got.state, got.channel, got.ts) == ("sent", "D1", "1.1")


def test_keys_are_per_workspace(sessions: sessionmaker[Session]) -> None:
    here = take(sessions, "a")
    there = take(sessions, "b", workspace_id="T2")
    assert (here.state, there.state) == ("mine", "mine")
    assert here.delivery_id != there.delivery_id
    finish(sessions, lambda s: mark_sent(s, there.delivery_id, "b", channel="D2", ts="2", now=T0))
    assert take(sessions, "c").state == "busy"
    assert take(sessions, "c", workspace_id="T2").state == "sent"
    assert row(sessions).claimed_by == "a"
    assert row(sessions, workspace_id="T2").status == "sent"


def test_racing_claims_leave_exactly_one_owner(sessions: sessionmaker[Session]) -> None:
    claims = race(sessions, T0)
    assert sorted(c.state for c in claims) == ["busy"] * (THREADS - 1) + ["mine"]
    [winner] = [i for i, c in enumerate(claims) if c.state == "mine"]
    assert not claims[winner].stale
    assert len({c.delivery_id for c in claims}) == 1
    stored = row(sessions)
    assert (stored.claimed_by, stored.attempts) == (f"racer-{winner}", 1)


def test_racing_takeovers_of_a_stale_claim_leave_exactly_one_owner(
    sessions: sessionmaker[Session],
) -> None:
    take(sessions, "dead")
    claims = race(sessions, T0 + STALE + timedelta(seconds=1))
    assert sorted(c.state for c in claims) == ["busy"] * (THREADS - 1) + ["mine"]
    [winner] = [i for i, c in enumerate(claims) if c.state == "mine"]
    assert claims[winner].stale
    stored = row(sessions)
    assert (stored.status, stored.claimed_by, stored.attempts) == (
        "claimed",
        f"racer-{winner}",
        2,
    )


def test_racing_retries_of_a_failure_leave_exactly_one_owner(
    sessions: sessionmaker[Session],
) -> None:
    first = take(sessions, "a")
    finish(sessions, lambda s: mark_failed(s, first.delivery_id, "a", "timeout", skip=False))
    claims = race(sessions, T0 + timedelta(seconds=1))
    assert sorted(c.state for c in claims) == ["busy"] * (THREADS - 1) + ["mine"]
    [winner] = [c for c in claims if c.state == "mine"]
    assert winner.stale  # a failed attempt may have posted: look before resending
    assert row(sessions).attempts == 2


def test_delivered_reads_only_the_keys_asked_for(sessions: sessionmaker[Session]) -> None:
    a = take(sessions, "o", key="k-a")
    take(sessions, "o", key="k-b")
    take(sessions, "o", key="k-c", workspace_id="T2")
    finish(sessions, lambda s: mark_sent(s, a.delivery_id, "o", channel="D1", ts="1.5", now=T0))
    with sessions() as s:
        assert delivered(s, WS, []) == {}
        got = delivered(s, WS, ["k-a", "k-c", "k-missing"])
        assert sorted(got) == ["k-a"]
        assert (got["k-a"].status, got["k-a"].channel, got["k-a"].ts) == ("sent", "D1", "1.5")
        both = delivered(s, WS, ["k-a", "k-b"])
        assert {k: r.status for k, r in both.items()} == {"k-a": "sent", "k-b": "claimed"}
        assert sorted(delivered(s, "T2", ["k-a", "k-b", "k-c"])) == ["k-c"]
