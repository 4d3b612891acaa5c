"""APScheduler drives the cadence by ticking; the database decides who sends.

APScheduler 3.x cannot share one job store between processes, so nothing about the cadence lives
in it: every process ticks an in-memory scheduler, each tick asks what is due in each person's
local time, and the exactly-once claims in the database decide which process sends. One replica
or five behave the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Protocol

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger


class Ticking(Protocol):
    """A cadence (one workspace's, or every workspace's) that sends what is due on `tick`."""

    def tick(self) -> object: ...


def cadence_scheduler(
    cadence: Ticking, tick_seconds: int, *, blocking: bool, also: Mapping[str, Ticking] = {}
) -> BaseScheduler:
    """A scheduler that ticks the cadence every `tick_seconds`, first right at start (so a
    process that was down catches up at once); not started yet. `also` are other daily jobs
    ticked alike, each in its own job (the CRM sync, by name): a sync that takes minutes holds
    up no cadence message."""
    scheduler: BaseScheduler = (
        BlockingScheduler(timezone=UTC) if blocking else BackgroundScheduler(timezone=UTC)
    )
    for name, ticking in {"cadence": cadence, **also}.items():
        scheduler.add_job(
            ticking.tick,
            IntervalTrigger(seconds=tick_seconds, timezone=UTC),
            id=f"{name}-tick",
            max_instances=1,  # a slow tick is never overlapped by the next one
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )
    return scheduler
