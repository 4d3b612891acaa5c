"""`coach report roi` in the terminal: no dollar figure without the interval that qualifies it."""

from __future__ import annotations

from rich.console import Console

from analytics.roi import Roi, RoiRow
from bot.cli.terminal import roi_table


def shown(roi: Roi) -> str:
    console = Console(width=120, record=True)
    console.print(roi_table(roi, {"connect_rate": "Connect rate", "demo_rate": "Demo rate"}))
    return console.export_text()


def test_bookings_are_shown_only_beside_an_interval() -> None:
    roi = Roi(
        since="2026-08",
        until="2026-10",
        method="against expectation",
        org=RoiRow(coached=1, controls=0, lift=0.0037, interval=None, bookings=53.0),
        by_metric={
            "connect_rate": RoiRow(3, 0, 0.12, (0.02, 0.25), 2_600.0),
            "demo_rate": RoiRow(1, 0, 0.0037, None, 53.0),
        },
        coached_reps=1,
    )
    text = shown(roi)
    assert "+$2,600" in text  # with its interval
    assert "$53" not in text and "bookings a month" not in text
    with_interval = Roi(
        since=None,
        until=None,
        method="against expectation",
        org=RoiRow(9, 0, 0.1, (0.01, 0.2), 4_000.0),
        coached_reps=9,
    )
    assert "≈ +$4,000 in bookings a month" in shown(with_interval)
