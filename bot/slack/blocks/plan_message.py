"""The DM both manager and rep get when a plan is saved (pure)."""

from __future__ import annotations

from typing import Any

from bot.coaching.wording import format_value


def plan_message(
    *, rep_name: str, author_name: str, month_label: str, plan: dict[str, Any], labels: dict
) -> tuple[str, list[dict[str, Any]]]:
    """(fallback text, blocks) for a saved plan: what skill, why, how, targets, check-ins."""
    focus_lines = []
    for f in plan["focus"]:
        metric = {"key": f["metric_key"], "kind": f.get("kind", "conversion"), **f}
        median = format_value(metric, f["peer_median"])
        focus_lines.append(
            f"• *{labels.get(f['metric_key'], f['metric_key'])}*: "
            f"{format_value(metric, f['baseline'])} now → target "
            f"{format_value(metric, f['target'])} (team median {median})"
        )
    actions = "\n".join(f"• {a}" for a in plan["actions"])
    dates = ", ".join(plan["checkin_dates"]) or "—"
    text = f"{rep_name}'s coaching plan for {month_label}"
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": text[:150]}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": ("*What skill*\n" + "\n".join(focus_lines))[:3000]},
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Why*\n{plan['why']}"[:3000]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*How*\n{actions}"[:3000]}},
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"Check-ins: {dates} · agreed with {author_name}"[:3000]}
            ],
        },
    ]
    return text, blocks
