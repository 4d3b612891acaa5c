"""Render gap reports for the terminal (the `coach gaps` and `coach demo` output)."""

from __future__ import annotations

import re
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from analytics.roi import Roi, RoiRow
from bot.coaching.months import through_label
from bot.coaching.wording import (
    format_bookings,
    format_count,
    format_lift,
    format_value,
    lift_sentence,
    metric_sentence,
    trend_line,
)
from bot.slack.blocks.mrkdwn import unescape


def gap_panel(report: dict[str, Any]) -> Panel:
    """One rep's gaps as a rich panel: focus metrics first, then every metric in a table."""
    metrics = {m["key"]: m for m in report["metrics"]}
    peer = report["peer_group"]
    segment = peer["segment"] or "all reps"
    header = Text()
    header.append(f"{report['name']}", style="bold")
    through = f" ({through_label(report['through'])})" if report.get("through") else ""
    header.append(f"  <{report['rep']}>  ·  {report['month']}{through}  ·  peers: {segment}, ")
    header.append(f"{peer['size']} reps" + (" (widened)" if peer["widened"] else ""))
    if report["ramping"]:
        header.append("  ·  ramping", style="yellow")

    parts: list[Any] = [header]
    if report["focus"]:
        for rank, key in enumerate(report["focus"], 1):
            parts.append(_focus_text(rank, metrics[key], trend_line(metrics[key], report["trend"])))
    else:
        note = report.get("focus_note") or "No material gap this month."
        parts.append(Text(note, "green"))
        if stretch := report.get("stretch"):
            parts.append(Text(stretch["sentence"], "cyan"))
    parts.extend(Text(f"↳ {c}", "dim") for c in report.get("consequences", []))
    if (targets := report.get("targets")) and targets.get("note"):
        parts.append(Text(f"Targets · {targets['note']}", "yellow"))

    table = Table(box=None, pad_edge=False, show_edge=False, header_style="dim")
    for column in ("metric", "rep", "of", "median", "top 25%", "pct", "shrunk", "P(worse)"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for m in report["metrics"]:
        style = "bold red" if m["key"] in report["focus"] else ("red" if m["flagged"] else "")
        table.add_row(
            m["label"],
            format_value(m, m["value"]),
            _counts(m),
            format_value(m, m["peer_median"]),
            format_value(m, m["top_quartile"]),
            "—" if m["percentile"] is None else f"{m['percentile']:.0f}",
            format_value(m, m["estimate"]),
            "—" if m["credibility"] is None else f"{m['credibility']:.2f}",
            style=style,
        )
    parts.append(table)
    parts.extend(Text(f"⚠ {w}", "yellow") for w in report["warnings"])
    return Panel(Group(*parts), expand=False)


def _focus_text(rank: int, metric: dict[str, Any], trend: str | None) -> Text:
    text = Text(f"{rank}. ", style="bold")
    text.append(metric_sentence(metric), style="bold red")
    kind = "skill" if metric["kind"] in ("conversion", "value") else "effort — ask why first"
    details = [kind]
    if metric.get("percentile") is not None:
        details.append(f"beats {metric['percentile']:.0f}% of peers")
    if metric.get("impact") is not None:
        details.append(f"≈ ${metric['impact']:,.0f}/month if at the median")
    text.append(f"\n   {_counts(metric)}  ·  " + "  ·  ".join(details), style="dim")
    if trend:
        text.append(f"\n   month by month: {trend}", style="dim")
    suggestions = metric.get("suggestions") or []
    if suggestions:
        text.append(f"\n   Try: {suggestions[0]}")
    return text


def _counts(metric: dict[str, Any]) -> str:
    if metric["denominator"] is None or metric["numerator"] is None:
        return ""
    if metric["kind"] in ("activity", "outcome") and metric["key"] != "attainment":
        return f"{metric['numerator']:,.0f} in {format_count(metric['denominator'])} mo"
    return f"{metric['numerator']:,.0f} / {metric['denominator']:,.0f}"


def render_blocks(blocks: list[dict[str, Any]]) -> Text:
    """Block Kit as a person would read it, roughly: headers bold, buttons in brackets, mrkdwn
    unescaped (plain_text fields are shown as they are)."""
    text = Text()
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            text.append(block["text"]["text"] + "\n", style="bold underline")
        elif kind == "section":
            text.append(_mrkdwn(block["text"]["text"]) + "\n")
            if "accessory" in block:
                text.append(f"  [{block['accessory']['text']['text']}]\n", style="cyan")
        elif kind == "context":
            parts = [e.get("text", "") for e in block.get("elements", [])]
            text.append(_mrkdwn(" ".join(parts)) + "\n", style="dim")
        elif kind == "actions":
            buttons = [f"[{e['text']['text']}]" for e in block.get("elements", [])]
            text.append("  ".join(buttons) + "\n", style="cyan")
        elif kind == "input":
            element = block["element"]
            initial = (
                element.get("initial_value")
                or element.get("initial_date")
                or ", ".join(o["text"]["text"] for o in element.get("initial_options", []))
                or ", ".join(o["text"]["text"] for o in element.get("options", []))
            )
            text.append(f"{block['label']['text']}: ", style="bold")
            text.append(f"{initial or '…'}\n")
        elif kind == "divider":
            text.append("─" * 40 + "\n", style="dim")
    return text


def render_mrkdwn(text: str) -> Text:
    """A message's mrkdwn `text` as Slack shows it, roughly (entities back to `&`, `<`, `>`)."""
    return Text(_mrkdwn(text))


# Slack's *bold* and _italic_ markers: at word edges only, so emails (first_last@…) and emoji
# codes (:heavy_minus_sign:) keep their underscores.
_EMPHASIS = re.compile(r"(?<![\w:])([*_])(?=\S)(.+?)(?<=\S)\1(?![\w:])")


def _mrkdwn(text: str) -> str:
    return unescape(_EMPHASIS.sub(r"\2", text))


def _reps(count: int) -> str:
    return f"{count} rep" if count == 1 else f"{count} reps"


def roi_table(roi: Roi, labels: dict[str, str]) -> Group:
    """`coach report roi`: the org's lift, then per metric and per manager."""
    org = roi.org
    head = Text()
    period = f"{roi.since or '—'} to {roi.until or '—'}"
    head.append(f"Coaching lift, plans {period}: ", style="bold")
    if org.lift is None:
        head.append("not enough coached plans yet")
    else:
        head.append(lift_sentence(org.lift, org.interval), style="bold")
    head.append(
        f"\n{org.coached:,} coached plan metrics ({_reps(roi.coached_reps)}) against what the "
        f"estimate at plan time expected; {org.controls:,} flagged but uncoached rep-metrics "
        f"({_reps(roi.control_reps)}) as the comparison group, weighed "
        f"{org.comparison_weight:.0%} · method: {roi.method}",
        style="dim",
    )
    # A dollar figure without its interval reads as a fact: shown only where the lift has one.
    if org.bookings is not None and org.interval is not None:
        head.append(f"\n≈ {format_bookings(org.bookings)} in bookings a month through the funnel")
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="dim")
    for column in ("", "coached", "controls", "lift", "90% interval", "bookings/month"):
        table.add_column(column, justify="left" if not column else "right")

    def add(name: str, row: RoiRow) -> None:
        interval = "—" if row.interval is None else " to ".join(map(format_lift, row.interval))
        bookings = "—" if row.interval is None else format_bookings(row.bookings)
        table.add_row(
            Text(name), str(row.coached), str(row.controls), format_lift(row.lift),
            interval, bookings,
        )  # fmt: skip

    for key, row in roi.by_metric.items():
        add(labels.get(key, key), row)
    if roi.by_manager:
        table.add_section()
        for manager, row in roi.by_manager.items():
            add(manager, row)
    return Group(head, table)
