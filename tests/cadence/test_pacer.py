"""The pacer keeps fan-out under Slack's posting limits without slowing a run more than needed."""

from __future__ import annotations

import time

from bot.cadence.sender import Pacer


def elapsed(pacer: Pacer, channels: list[str]) -> float:
    start = time.monotonic()
    for channel in channels:
        pacer.wait(channel)
    return time.monotonic() - start


def test_no_rate_means_no_waiting() -> None:
    assert elapsed(Pacer(0), ["D1"] * 200) < 0.2


def test_the_overall_rate_is_kept_across_conversations() -> None:
    # 21 messages at 40/s: the first goes at once, the other 20 a fortieth of a second apart.
    assert 0.45 < elapsed(Pacer(40), [f"D{i}" for i in range(21)]) < 1.5


def test_one_conversation_gets_a_short_burst_then_one_message_a_second() -> None:
    pacer = Pacer(1000, per_channel=10, burst=3)  # ten a second, so the test stays quick
    assert elapsed(pacer, ["D1"] * 3) < 0.2  # the burst
    assert 0.25 < elapsed(pacer, ["D1"] * 3) < 1.0  # then paced to the per-conversation rate
