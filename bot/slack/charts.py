"""Team charts for `/coach gaps`: every peer's value as a bar, the rep's highlighted.

The method's "walk through the team charts together": no names on the other bars, so a chart
shows where the rep stands without showing who the others are.
"""

from __future__ import annotations

import io
from typing import Any

from bot.coaching.wording import format_value

BARS = 60  # up to this many reps, one bar each


def team_chart(metric: dict[str, Any], rep_value: float, peer_values: list[float]) -> bytes:
    """A PNG bar chart of the peers' values and the rep's, sorted, with the peer median."""
    # Imported on the first chart, not at start: matplotlib is ~20 MB of every replica and a
    # second of its start-up, for a button few people press.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    values = sorted([*peer_values, rep_value], reverse=metric["direction"] == "higher")
    rep_index = values.index(rep_value)
    # A Figure of its own, not pyplot's shared state: listeners draw in several threads at once.
    figure = Figure(figsize=(8, 3.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if len(values) <= BARS:
        colours = ["#c0c7d1"] * len(values)
        colours[rep_index] = "#d1453b"
        axes.bar(range(len(values)), values, color=colours)
    else:  # one filled shape, not thousands of bars (each a patch to draw), the rep's on top
        axes.fill_between(range(len(values)), values, step="mid", color="#c0c7d1", linewidth=0)
        axes.bar([rep_index], [rep_value], color="#d1453b", width=len(values) / 80)
    if metric.get("peer_median") is not None:
        median = metric["peer_median"]
        axes.axhline(median, color="#1d4e89", linestyle="--", linewidth=1)
        axes.text(
            len(values) - 0.5,
            median,
            f" median {format_value(metric, median)}",
            va="bottom",
            ha="right",
            color="#1d4e89",
        )
    axes.set_xticks([rep_index], ["this rep"])
    axes.set_title(f"{metric['label']}: this rep {format_value(metric, rep_value)}")
    axes.yaxis.set_major_formatter(lambda y, _: format_value(metric, y))
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
