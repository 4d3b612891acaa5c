"""Block Kit for a rep's gap summary (pure: report in, blocks out)."""

from __future__ import annotations

from typing import Any

from bot.coaching.months import month_label, through_label
from bot.coaching.wording import format_count, format_value, metric_sentence, trend_line
from bot.slack.blocks.mrkdwn import escape
from bot.slack.blocks.pipeline import hygiene_text

MAX_SECTION = 3000


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:MAX_SECTION]}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:MAX_SECTION]}]}


def lessons_text(lessons: dict[str, Any], label: str) -> str | None:
    """What has worked for this gap in the org (actions of plans that closed it or credibly
    improved on it, with how often), and who overcame it lately and is past it now (names only),
    as mrkdwn: the actions, names and `label` are escaped here."""
    parts = []
    if lessons.get("worked"):
        tried = "; ".join(
            f"“{escape(w['action'][:140])}” ({worked_count(w)})" for w in lessons["worked"]
        )
        parts.append(f":seedling: What has worked for {escape(label)} here: {tried}")
    if lessons.get("overcame"):
        who = ", ".join(
            f"{escape(o['name'])} ({o['verdict']} it, {month_label(o['month'])})"
            for o in lessons["overcame"]
        )
        parts.append(f":handshake: Overcame this gap lately: {who} — a peer worth a coffee.")
    return "\n".join(parts) or None


def worked_count(worked: dict[str, Any]) -> str:
    """'closed it 3 of 7 times', 'closed it 2 and improved it 1 of 7 times', 'improved it 1 of
    4 times': of the plans with this action judged with data."""
    done = [f"{word} it {worked[word]}" for word in ("closed", "improved") if worked.get(word)]
    return f"{' and '.join(done)} of {worked['used']} times"


def gap_blocks(
    report: dict[str, Any],
    lessons: dict[str, dict[str, Any]] | None = None,
    *,
    chart: bool = False,
) -> list[dict[str, Any]]:
    """The `/coach gaps` answer: focus metrics in a manager's words, then peers and warnings;
    under each focus metric, what has worked for it in this org (`lessons`, by metric key).
    With `chart` (a coach is asking) and a focus, a button draws the peers' spread."""
    metrics = {m["key"]: m for m in report["metrics"]}
    peer = report["peer_group"]
    segment = escape(peer["segment"] or "all reps")
    widened = " (widened)" if peer["widened"] else ""
    through = f" ({escape(through_label(report['through']))})" if report.get("through") else ""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{report['name']}"[:150]}},
        _context(
            f"{report['month']}{through} · window {report['window'][0]} – "
            f"{report['window'][-1]} · "
            f"peers: {segment}, {peer['size']} reps{widened}"
            + (" · ramping" if report["ramping"] else "")
        ),
    ]
    if not report["focus"]:
        blocks.append(
            _section(
                ":white_check_mark: No material gap this month: at or above the peers, or "
                "behind by less than noise and the natural spread between reps explain."
            )
        )
        if stretch := report.get("stretch"):
            m = metrics[stretch["key"]]
            blocks.append(
                _section(
                    f":dart: *{escape(stretch['sentence'])}*\n{escape(metric_sentence(m))}; "
                    f"the top quartile: {escape(format_value(m, stretch['top_quartile']))}."
                )
            )
    for rank, key in enumerate(report["focus"], 1):
        m = metrics[key]
        kind = "skill" if m["kind"] in ("conversion", "value") else "effort — ask why first"
        lines = [f"*{rank}. {escape(metric_sentence(m))}*"]
        facts = [kind]
        if m.get("numerator") is not None and m.get("denominator") is not None:
            facts.append(f"{m['numerator']:,.0f} of {format_count(m['denominator'])}")
        if m.get("percentile") is not None:
            facts.append(f"beats {m['percentile']:.0f}% of peers")
        if m.get("impact") is not None:
            facts.append(f"≈ ${m['impact']:,.0f}/month at the median")
        lines.append(" · ".join(facts))
        if trend := trend_line(m, report["trend"]):
            lines.append(f"Month by month: {trend}")
        if m.get("suggestions"):
            lines.append(f":bulb: {escape(m['suggestions'][0])}")
        blocks.append(_section("\n".join(lines)))
        if lessons and key in lessons and (text := lessons_text(lessons[key], m["label"])):
            blocks.append(_context(text))
    for consequence in report.get("consequences", []):
        blocks.append(_context(f":link: {escape(consequence)}"))
    for warning in report["warnings"]:
        blocks.append(_context(f":warning: {escape(warning)}"))
    if hygiene := hygiene_text(report["metrics"]):  # a CRM is connected
        blocks.append(_section(hygiene))
    blocks.append(
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "plan_open",
                    "text": {"type": "plain_text", "text": "Create plan"},
                    "style": "primary",
                    "value": report["rep"],
                },
                {
                    "type": "button",
                    "action_id": "archive_show",
                    "text": {"type": "plain_text", "text": "Archive"},
                    "value": report["rep"],
                },
            ]
            + (
                [
                    {
                        "type": "button",
                        "action_id": "chart_show",
                        "text": {"type": "plain_text", "text": "Team chart"},
                        "value": report["rep"],
                    }
                ]
                if chart and report["focus"]
                else []
            ),
        }
    )
    return blocks
