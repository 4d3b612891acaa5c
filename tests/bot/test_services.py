"""The per-process caches behind fast answers: fresh enough, and never a pile-up on the database."""

from __future__ import annotations

import threading

import pytest

from bot.coaching.services import Refreshed


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def shift(self, seconds: float) -> None:
        self.now += seconds


def test_refreshed_reads_when_due_and_serves_the_old_value_meanwhile() -> None:
    clock = Clock()
    values = Refreshed[str, int](seconds=1.0, clock=clock)
    assert values.get("w", lambda: 1) == 1
    assert values.get("w", lambda: 2) == 1  # not due yet
    clock.shift(1.5)
    started, release = threading.Event(), threading.Event()

    def slow() -> int:
        started.set()
        release.wait(5)
        return 3

    reader = threading.Thread(target=lambda: values.get("w", slow))
    reader.start()
    started.wait(5)
    # While one request reads afresh, the others get the value as it was, at once.
    assert values.get("w", lambda: pytest.fail("a second reader")) == 1
    release.set()
    reader.join()
    assert values.get("w", lambda: 4) == 3


def test_a_failed_read_is_tried_again_by_the_next_request() -> None:
    clock = Clock()
    values = Refreshed[str, int](seconds=1.0, clock=clock)
    values.get("w", lambda: 1)
    clock.shift(2)

    def down() -> int:
        raise ConnectionError("database away")

    with pytest.raises(ConnectionError):
        values.get("w", down)
    assert values.get("w", lambda: 5) == 5  # the next request tries again
