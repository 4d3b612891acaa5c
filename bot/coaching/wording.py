"""How a manager says a metric: values with their units, and the one-line gap sentence."""

from __future__ import annotations

import calendar
from functools import partial
from typing import Any

from bot.coaching.months import parse_month

# Units by metric key for the default catalogue; a catalogue metric may carry its own `unit`.
_UNITS = {
    "avg_deal_size": "currency",
    "bookings": "currency",
    "sales_cycle_days": "days",
    "contacts_per_account": "ratio",
    "follow_up_ratio": "ratio",
}


def unit_of(metric: dict[str, Any]) -> str:
    """`percent`, `currency`, `days`, `ratio` or `count`."""
    if metric.get("unit"):
        return str(metric["unit"])
    if metric["key"] in _UNITS:
        return _UNITS[metric["key"]]
    if metric["kind"] == "conversion" or metric["key"] == "attainment":
        return "percent"
    return "count" if metric["kind"] in ("activity", "outcome") else "ratio"


def format_value(metric: dict[str, Any], value: float | None) -> str:
    """A value as a manager reads it: 18%, $12,400, 41 days, 2.3, 1,250."""
    if value is None:
        return "—"
    unit = unit_of(metric)
    if unit == "percent":
        return f"{value:.0%}"
    if unit == "currency":
        return f"${value:,.0f}"
    if unit == "days":
        return f"{value:,.0f} days"
    if unit == "ratio":
        return f"{value:.2f}"
    return f"{value:,.0f}"


def format_count(value: float) -> str:
    """A pooled count or a number of months: whole as 1,234; a fraction (a month-to-date month
    counts as the share of the month it covers) to one decimal, as 2.6."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def metric_sentence(metric: dict[str, Any]) -> str:
    """'Closes 18% of demos — team median 26%, top quartile 32%'."""
    value = format_value(metric, metric["value"])
    template = metric.get("sentence") or f"{metric['label']}: {{value}}"
    lead = template.format(value=value)
    return (
        f"{lead} — team median {format_value(metric, metric['peer_median'])}, "
        f"top quartile {format_value(metric, metric['top_quartile'])}"
    )


def trend_line(metric: dict[str, Any], trend: dict[str, Any]) -> str | None:
    """The metric's month-by-month values, oldest first ("22% → 19% → 18%"), if it has a trend."""
    for series in trend.get("series", []):
        if series["key"] == metric["key"]:
            return " → ".join(format_value(metric, value) for value in series["values"])
    return None


def format_lift(lift: float | None) -> str:
    """A relative lift as a manager reads it: +12%, −4%, — when unknown."""
    if lift is None:
        return "—"
    if round(lift * 100) == 0:
        return "0%"
    return f"{lift:+.0%}".replace("-", "−")


def lift_sentence(lift: float | None, interval: list[float] | tuple[float, float] | None) -> str:
    """'+12% (90% interval −3% to +27%)', or the lift alone when there is no interval."""
    if interval is None:
        return format_lift(lift)
    low, high = interval
    return f"{format_lift(lift)} (90% interval {format_lift(low)} to {format_lift(high)})"


def format_bookings(amount: float | None) -> str:
    """Extra bookings as a manager reads them: +$12,400, −$960, — when unknown."""
    if amount is None:
        return "—"
    return f"{'−' if amount < 0 else '+'}${abs(amount):,.0f}"


def months_span(first: str, last: str) -> str:
    """The months a verdict was judged on, as people say them: 'Oct 2026', 'Oct – Dec 2026',
    'Dec 2026 – Feb 2027'."""
    (y1, m1), (y2, m2) = (parse_month(first), parse_month(last))
    start = f"{calendar.month_abbr[m1]} {y1}"
    if (y1, m1) == (y2, m2):
        return start
    end = f"{calendar.month_abbr[m2]} {y2}"
    return f"{calendar.month_abbr[m1]} – {end}" if y1 == y2 else f"{start} – {end}"


def judged_text(metric: dict[str, Any], focus: dict[str, Any]) -> str:
    """What a verdict was judged on, in plain text (the caller escapes it for mrkdwn): the
    months, the rep's value over them, the expectation without coaching, the peers' median,
    the target and whether it was met — '24% in Oct – Nov 2026; expected 20% without
    coaching; peers' median 26%; target 25%, met'."""
    fmt = partial(format_value, metric)
    months = months_span(focus["judged_from"], focus["judged_to"])
    value = focus.get("value")
    parts = [f"{fmt(value)} in {months}" if value is not None else f"no numbers in {months}"]
    if focus.get("expectation") is not None:
        parts.append(f"expected {fmt(focus['expectation'])} without coaching")
    if focus.get("peer_median_now") is not None:
        parts.append(f"peers' median {fmt(focus['peer_median_now'])}")
    if focus.get("target") is not None:
        met = {True: ", met", False: ", not met"}.get(focus.get("target_met"), "")  # type: ignore[arg-type]
        parts.append(f"target {fmt(focus['target'])}{met}")
    return "; ".join(parts)
