"""Block Kit for a rep's coaching archive, month by month (pure)."""

from __future__ import annotations

from typing import Any

from bot.plans import month_label
from storage.models import Plan


def archive_blocks(
    rep_name: str, plans: list[Plan], labels: dict[str, str]
) -> list[dict[str, Any]]:
    """One section per month: what skill, why, how, target, check-ins."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{rep_name} — archive"[:150]}}
    ]
    if not plans:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "No plans yet."}})
    for plan in plans[:45]:
        focus = ", ".join(labels.get(f.metric_key, f.metric_key) for f in plan.focus) or "—"
        actions = "; ".join(plan.actions) or "—"
        last = plan.checkins[-1] if plan.checkins else None
        checkins = "no check-ins"
        if last:
            status = last.status.replace("_", " ")
            checkins = f"{len(plan.checkins)} check-in(s), last {last.on_date}: {status}"
        title = f"*{month_label(plan.month)} — {focus}*"
        text = f"{title}\n_Why:_ {plan.why}\n_How:_ {actions}\n{checkins}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}})
    return blocks
