"""Block Kit for a rep's coaching archive, month by month, with each plan's outcome (pure)."""

from __future__ import annotations

from typing import Any

from bot.coaching.months import month_label
from bot.coaching.wording import format_value, judged_text
from bot.slack.blocks.mrkdwn import escape

VERDICT_ICONS = {
    "closed": ":white_check_mark:",
    "improved": ":chart_with_upwards_trend:",
    "no change": ":heavy_minus_sign:",
    "worse": ":chart_with_downwards_trend:",
    "not enough data": ":grey_question:",
}


def outcome_text(focus: dict[str, Any], metric: dict[str, Any], label: str) -> str:
    """'Close rate: 24% in Oct – Nov 2026; expected 20% without coaching; peers' median 26%;
    target 25%, met — improved', as mrkdwn (everything from data escaped): beside the verdict,
    exactly what it was judged on. Before the first month is in: the target and a wait."""
    verdict = focus.get("verdict")
    if not verdict or not focus.get("judged_from"):
        target = focus.get("target")
        aim = f" (target {format_value(metric, target)})" if target is not None else ""
        return f"{escape(label)}{escape(aim)} — _judged once the month's data is in_"
    judged = escape(judged_text(metric, focus))
    return f"{escape(label)}: {judged} — {VERDICT_ICONS[verdict]} *{verdict}*"


def archive_blocks(
    rep_name: str, view: dict[str, Any], metrics: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """One section per month: what skill and how it ended, why, how, check-ins; deficiencies
    coached three months or more without closing first. `metrics` are catalogue entries by key
    (label, kind, unit) for wording."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{rep_name} — archive"[:150]}}
    ]
    stuck = [
        f":warning: *{escape(metrics.get(key, {}).get('label', key))}* coached {months} months "
        "in a row without closing"
        for key, months in sorted(view["persistent"].items())
    ]
    if stuck:
        advice = "Time to change the approach, or pair with a peer who closed it."
        text = "\n".join([*stuck, advice])
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}})
    if not view["plans"]:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "No plans yet."}})
    for plan in view["plans"][:40]:
        lines = [f"*{month_label(plan['month'])}*"]
        for f in plan["focus"]:
            metric = metrics.get(f["metric"], {"key": f["metric"], "kind": "conversion"})
            lines.append("• " + outcome_text(f, metric, metric.get("label", f["metric"])))
        lines.append(f"_Why:_ {escape(plan['why'])}")
        lines.append(f"_How:_ {escape('; '.join(plan['actions'])) or '—'}")
        lines.append(f"Check-ins: {', '.join(plan['checkins']) or 'none'}")
        text = "\n".join(lines)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}})
    return blocks
