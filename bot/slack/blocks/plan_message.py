"""A saved plan in Slack: the DM both manager and rep get, and the summary under gaps (pure).

Names, labels and the plan's why and how come in raw and are escaped where they enter mrkdwn.
"""

from __future__ import annotations

from typing import Any

from bot.coaching.months import month_label as label_of_month
from bot.coaching.wording import format_value
from bot.slack.blocks.mrkdwn import escape


def plan_message(
    *, rep_name: str, author_name: str, month_label: str, plan: dict[str, Any], labels: dict
) -> tuple[str, list[dict[str, Any]]]:
    """(fallback text, blocks) for a saved plan: what skill, why, how, targets, check-ins."""
    focus_lines = []
    for f in plan["focus"]:
        metric = {"key": f["metric_key"], "kind": f.get("kind", "conversion"), **f}
        median = format_value(metric, f["peer_median"])
        focus_lines.append(
            f"• *{escape(labels.get(f['metric_key'], f['metric_key']))}*: "
            f"{format_value(metric, f['baseline'])} now → target "
            f"{format_value(metric, f['target'])} (team median {median})"
        )
    actions = "\n".join(f"• {escape(a)}" for a in plan["actions"])
    dates = ", ".join(plan["checkin_dates"]) or "—"
    title = f"{rep_name}'s coaching plan for {month_label}"
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": ("*What skill*\n" + "\n".join(focus_lines))[:3000]},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*Why*\n{escape(plan['why'])}"[:3000]},
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*How*\n{actions}"[:3000]}},
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"Check-ins: {dates} · agreed with {escape(author_name)}"[:3000],
                }
            ],
        },
    ]
    return escape(title), blocks


def plan_summary(plan: Any, labels: dict[str, str]) -> str:
    """A plan in a few mrkdwn lines: what skill, why, how, and the check-ins so far."""
    focus = ", ".join(labels.get(f.metric_key, f.metric_key) for f in plan.focus)
    actions = "\n".join(f"• {escape(a)}" for a in plan.actions)
    checkins = ", ".join(f"{c.on_date} {c.status.replace('_', ' ')}" for c in plan.checkins)
    return (
        f"*Plan for {label_of_month(plan.month)}: {escape(focus)}*\n_Why:_ {escape(plan.why)}\n"
        f"{actions}\nCheck-ins: {checkins or 'none yet'} (planned {', '.join(plan.checkin_dates)})"
    )
