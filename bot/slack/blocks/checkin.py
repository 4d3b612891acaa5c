"""Block Kit for the check-in modal (pure)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from bot.slack.blocks.mrkdwn import escape

CHECKIN_CALLBACK = "checkin_submit"
STATUSES = {"on_track": "On track", "at_risk": "At risk", "done": "Done"}


def _text(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def checkin_modal(
    *,
    plan_id: int,
    rep_name: str,
    metric_label: str,
    today: str,
    actions: list[str],
    current_value: str,
    example: str = "e.g. 24% or 12,000",
) -> dict[str, Any]:
    """Date, actions done, the metric's current value, status and notes."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*{escape(rep_name)}* — check-in on *{escape(metric_label)}*",
            },
        },
        {
            "type": "input",
            "block_id": "date",
            "label": _text("Date"),
            "element": {"type": "datepicker", "action_id": "value", "initial_date": today},
        },
    ]
    if actions:
        blocks.append(
            {
                "type": "input",
                "block_id": "done",
                "optional": True,
                "label": _text("Which planned actions were done?"),
                "element": {
                    "type": "checkboxes",
                    "action_id": "value",
                    "options": [
                        {"text": _text(a[:75]), "value": str(i)} for i, a in enumerate(actions[:10])
                    ],
                },
            }
        )
    value_element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "placeholder": _text(example[:150]),
    }
    if current_value:
        value_element["initial_value"] = current_value
    blocks += [
        {
            "type": "input",
            "block_id": "metric_value",
            "optional": True,
            "label": _text(f"{metric_label} now"[:2000]),
            "element": value_element,
        },
        {
            "type": "input",
            "block_id": "status",
            "label": _text("Status"),
            "element": {
                "type": "radio_buttons",
                "action_id": "value",
                "options": [{"text": _text(t), "value": v} for v, t in STATUSES.items()],
            },
        },
        {
            "type": "input",
            "block_id": "notes",
            "optional": True,
            "label": _text("Notes"),
            "element": {"type": "plain_text_input", "action_id": "value", "multiline": True},
        },
    ]
    return {
        "type": "modal",
        "callback_id": CHECKIN_CALLBACK,
        "title": _text("Check-in"),
        "submit": _text("Log check-in"),
        "close": _text("Cancel"),
        "private_metadata": json.dumps({"plan": plan_id}),
        "blocks": blocks,
    }


def checkin_reply(
    *, on_date: date, status: str, done: int, planned: int, value: str, author: str
) -> str:
    """The reply in the plan's thread when a check-in is logged (mrkdwn: the typed value and the
    author's name escaped)."""
    now = f"; now {escape(value)}" if value else ""
    return (
        f"Check-in {on_date}: *{STATUSES[status]}* — {done} of {planned} actions done{now} "
        f"(logged by {escape(author)})"
    )
