"""Block Kit for the plan modal (pure: data in, view out)."""

from __future__ import annotations

import json
from typing import Any

from bot.coaching.wording import format_value
from bot.slack.blocks.gaps import lessons_text
from bot.slack.blocks.mrkdwn import escape
from storage.plans import MAX_FOCUS, MAX_TEXT

PLAN_CALLBACK = "plan_submit"


def _text(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def loading_modal(title: str) -> dict[str, Any]:
    """Opened at once on the trigger (it expires in 3 s); filled by views.update afterwards."""
    return {
        "type": "modal",
        "title": _text(title[:24]),
        "close": _text("Cancel"),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": ":hourglass: Loading…"}}],
    }


def message_modal(title: str, text: str) -> dict[str, Any]:
    """A modal that only says something (e.g. a refusal or 'no data yet'). `text` is taken as
    plain words (a name or an error in it stays literal); backticks and asterisks still format."""
    return {
        "type": "modal",
        "title": _text(title[:24]),
        "close": _text("Close"),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": escape(text)[:3000]}}],
    }


def _input(block_id: str, label: str, element: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "label": _text(label[:2000]),
        "element": element,
        **extra,
    }


def _text_input(multiline: bool, initial: str | None, placeholder: str) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": multiline,
        "max_length": MAX_TEXT,  # what a plan imported from CSV may hold too
        "placeholder": _text(placeholder[:150]),
    }
    if initial:
        element["initial_value"] = initial[:MAX_TEXT]
    return element


def plan_modal(
    *,
    rep_name: str,
    rep_email: str,
    month: str,
    month_label: str,
    options: list[dict[str, Any]],
    chosen: list[str],
    why: str,
    actions: list[str],
    targets: list[str],
    checkin_dates: list[str],
    reflection: dict[str, str] | None,
    example: str = "e.g. 26% or 12,000",
    lessons: dict[str, dict[str, Any]] | None = None,
    hygiene: str | None = None,
) -> dict[str, Any]:
    """The plan modal, prefilled. `options` are metric dicts (key, label, value, peer_median…).
    Values come in raw: escaped where they enter mrkdwn, as they are in plain_text fields.
    `hygiene` is the rep's pipeline hygiene as mrkdwn (`pipeline.hygiene_text`), when a CRM is
    connected: the numbers a 1:1 reviews before choosing the skill."""
    by_key = {o["key"]: o for o in options}
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*{escape(rep_name)}* — plan for {month_label}: *what* skill, *why*, "
                "and *how*.",
            },
        }
    ]
    if reflection:
        text = "\n".join(
            f"*{label}* {escape(reflection[key])}"
            for key, label in (
                ("how_it_went", "How it went:"),
                ("went_well", "What went well:"),
                ("improve", "What I'd improve:"),
            )
            if reflection.get(key)
        )
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"_Rep's reflection_\n{text}"[:3000]}],
            }
        )

    if hygiene:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": hygiene[:3000]}]})
    for key in chosen:
        if lessons and key in lessons and key in by_key:
            text = lessons_text(lessons[key], by_key[key]["label"])
            if text:
                blocks.append(
                    {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}
                )

    def option(o: dict[str, Any]) -> dict[str, Any]:
        figures = (
            f"{format_value(o, o.get('value'))} vs median {format_value(o, o.get('peer_median'))}"
        )
        return {"text": _text(f"{o['label']} — {figures}"[:75]), "value": o["key"]}

    select: dict[str, Any] = {
        "type": "multi_static_select",
        "action_id": "value",
        "max_selected_items": MAX_FOCUS,
        "placeholder": _text("One or two skills"),
        "options": [option(o) for o in options[:100]],
    }
    initial = [option(by_key[k]) for k in chosen if k in by_key]
    if initial:
        select["initial_options"] = initial
    blocks.append(_input("focus", "Focus metric(s) — at most two", select))
    blocks.append(_input("why", "Why this skill?", _text_input(True, why, "Why this one, now")))
    blocks.append(
        _input(
            "how",
            "How: concrete, schedulable actions (one per line)",
            _text_input(True, "\n".join(actions), "e.g. Record 2 discovery calls; review together"),
        )
    )
    for i in range(MAX_FOCUS):
        label = f"Target for focus metric {i + 1}" + (" (if two)" if i else "")
        blocks.append(
            _input(
                f"target_{i + 1}",
                label,
                _text_input(False, targets[i] if i < len(targets) else None, example),
                optional=i > 0,
            )
        )
    for i in range(2):
        picker: dict[str, Any] = {"type": "datepicker", "action_id": "value"}
        if i < len(checkin_dates):
            picker["initial_date"] = checkin_dates[i]
        blocks.append(_input(f"checkin_{i + 1}", f"Check-in {i + 1}", picker, optional=i > 0))
    return {
        "type": "modal",
        "callback_id": PLAN_CALLBACK,
        "title": _text("Coaching plan"),
        "submit": _text("Save plan"),
        "close": _text("Cancel"),
        "private_metadata": json.dumps({"rep": rep_email, "month": month}),
        "blocks": blocks,
    }
