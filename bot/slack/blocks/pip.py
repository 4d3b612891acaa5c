"""Block Kit for performance improvement plans (pure: data in, Block Kit out).

The modal to create one, its DM (with the rep's Acknowledge button), the check-in modal and its
reply in the PIP's thread, the cadence's reminders and end-of-PIP verdicts, and the decision
modal. Everything from data is escaped where it enters mrkdwn.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from bot.coaching.pips import DEADLINES, MAX_COMMITMENTS, MAX_GOALS, MAX_TRACKING, RHYTHMS
from bot.coaching.wording import format_value
from bot.slack.blocks.mrkdwn import escape

PIP_CALLBACK = "pip_submit"
PIP_CHECKIN_CALLBACK = "pip_checkin_submit"
PIP_DECISION_CALLBACK = "pip_decision_submit"
DECISION_LABELS = {
    "completed": "Completed: the goals are met",
    "extended": "Extended: a new end date",
    "ended": "Ended",
}
VERDICT_MARKS = {"met": ":white_check_mark: met", "not met": ":x: not met"}
Blocks = list[dict[str, Any]]
OPTION_TEXT = 75  # Slack's limit on an option's text


def _text(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}


def _input(block_id: str, label: str, element: dict[str, Any], optional: bool) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "label": _text(label[:2000]),
        "element": element,
        "optional": optional,
    }


def _text_input(initial: str | None, placeholder: str, multiline: bool = False) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": multiline,
        "placeholder": _text(placeholder[:150]),
    }
    if initial:
        element["initial_value"] = initial[:3000]
    return element


def _option(text: str, value: str) -> dict[str, Any]:
    # Slack takes 75 characters; a cut one ends with "…" so it doesn't read as whole.
    shown = text if len(text) <= OPTION_TEXT else text[: OPTION_TEXT - 1].rstrip() + "…"
    return {"text": _text(shown), "value": value}


def _select(options: list[dict[str, Any]], initial: str | None, placeholder: str) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": "value",
        "placeholder": _text(placeholder),
        "options": options[:100],
    }
    chosen = next((o for o in options[:100] if o["value"] == initial), None)
    if chosen is not None:
        element["initial_option"] = chosen
    return element


def _day(value: date | datetime | None) -> str:
    return f"{value:%b %-d, %Y}" if value else "—"


def _level(metric: dict[str, Any], value: float | None) -> str:
    text = format_value(metric, value)
    return f"{text} a week" if metric.get("kind") == "activity" else text


def pip_modal(
    *,
    rep_name: str,
    rep_email: str,
    options: list[dict[str, Any]],
    prefill: dict[str, Any],
    recent_labels: list[str],
    example: str,
) -> dict[str, Any]:
    """The PIP modal, prefilled from the rep's gaps and coaching history. `options` are metric
    dicts with today's value; `recent_labels` the metrics the rep's plans of the last three
    months coached (none: the modal says a PIP would come as a surprise)."""
    name = escape(rep_name)
    blocks: Blocks = [
        _section(
            f"*Performance improvement plan for {name}.* Goals on specific metrics, each from "
            "today's value to a target by a deadline; interim tracking metrics with weekly "
            "levels; your own commitments; a rhythm of check-ins. Only "
            f"{name}, their manager chain and admins will see it."
        )
    ]
    if recent_labels:
        coached = ", ".join(escape(label) for label in recent_labels)
        blocks.append(_context(f"Coached in the last 3 months on: {coached}."))
    else:
        blocks.append(
            _section(
                f":warning: *{name} had no coaching plan in the last 3 months.* A PIP should "
                "never come as a surprise: tick the box at the end only if you have discussed "
                "these issues with them before."
            )
        )
    metric_options = [
        _option(f"{o['label']} — today {format_value(o, o.get('value'))}", o["key"])
        for o in options
    ]
    goals = prefill.get("goals", [])
    for i in range(MAX_GOALS):
        goal = goals[i] if i < len(goals) else {}
        n, optional = i + 1, i > 0
        blocks.append(
            _input(
                f"goal_metric_{n}",
                f"Goal {n}: metric",
                _select(metric_options, goal.get("key"), "A specific metric"),
                optional,
            )
        )
        blocks.append(
            _input(
                f"goal_target_{n}",
                f"Goal {n}: target",
                _text_input(goal.get("target"), example),
                optional,
            )
        )
        deadlines = [_option(f"{d} days", str(d)) for d in DEADLINES]
        blocks.append(
            _input(
                f"goal_deadline_{n}",
                f"Goal {n}: deadline",
                _select(deadlines, "60" if goal else None, "30, 60 or 90 days"),
                optional,
            )
        )
    tracking = prefill.get("tracking", [])
    for i in range(MAX_TRACKING):
        track = tracking[i] if i < len(tracking) else {}
        n = i + 1
        blocks.append(
            _input(
                f"track_metric_{n}",
                f"Tracking metric {n}",
                _select(metric_options, track.get("key"), "An interim metric"),
                True,
            )
        )
        blocks.append(
            _input(
                f"track_level_{n}",
                f"Tracking metric {n}: weekly level (volumes per week)",
                _text_input(track.get("level"), example),
                True,
            )
        )
    blocks.append(
        _input(
            "commitments",
            "Your commitments (one per line)",
            _text_input(None, "e.g. Join three calls a week and give feedback after each", True),
            False,
        )
    )
    rhythm = {
        "type": "radio_buttons",
        "action_id": "value",
        "options": [_option(f"Check in every {d} days", key) for key, d in RHYTHMS.items()],
    }
    rhythm["initial_option"] = rhythm["options"][0]
    blocks.append(_input("rhythm", "Check-in rhythm", rhythm, False))
    for block, label in (("start", "Starts"), ("end", "Ends")):
        picker = {"type": "datepicker", "action_id": "value", "initial_date": prefill[block]}
        blocks.append(_input(block, label, picker, False))
    discussed = {
        "type": "checkboxes",
        "action_id": "value",
        "options": [_option(f"I have discussed these issues with {rep_name} before", "yes")],
    }
    blocks.append(_input("discussed", "Not a surprise", discussed, True))
    return {
        "type": "modal",
        "callback_id": PIP_CALLBACK,
        "title": _text("Improvement plan"),
        "submit": _text("Save and send"),
        "close": _text("Cancel"),
        "private_metadata": json.dumps({"rep": rep_email}),
        "blocks": blocks,
    }


def pip_blocks(rep_name: str, author_name: str, pip: dict[str, Any]) -> Blocks:
    """A PIP's content: goals, tracking metrics, commitments, rhythm and dates."""
    goals = "\n".join(
        f"• *{escape(g['metric']['label'])}*: {format_value(g['metric'], g['baseline'])} → "
        f"{format_value(g['metric'], g['target'])} by {_day(g['deadline'])}"
        + (f" — {VERDICT_MARKS.get(g['verdict'], g['verdict'])}" if g.get("verdict") else "")
        for g in pip["goals"]
    )
    blocks: Blocks = [
        {"type": "header", "text": _text(f"Performance improvement plan — {rep_name}"[:150])},
        _section(f"*Goals*\n{goals}"),
    ]
    if pip["tracking"]:
        lines = "\n".join(
            f"• {escape(t['metric']['label'])}: {_level(t['metric'], t['level'])}"
            for t in pip["tracking"]
        )
        blocks.append(_section(f"*Tracking metrics (weekly levels)*\n{lines}"))
    commitments = "\n".join(f"• {escape(c)}" for c in pip["commitments"])
    blocks.append(_section(f"*{escape(author_name)}'s commitments*\n{commitments}"))
    blocks.append(
        _context(
            f"{_day(pip['start'])} to {_day(pip['end'])} · a check-in every "
            f"{pip['rhythm_days']} days · {pip['status']}"
        )
    )
    return blocks


def _acknowledgement(rep_name: str, pip: dict[str, Any]) -> dict[str, Any]:
    acknowledged = pip.get("acknowledged_at")
    if acknowledged is None:
        return _context(f"Not acknowledged by {escape(rep_name)} yet.")
    return _context(
        f":white_check_mark: Acknowledged by {escape(rep_name)} on {_day(acknowledged)}."
    )


def pip_message(
    rep_name: str, author_name: str, pip: dict[str, Any], for_rep: bool
) -> tuple[str, Blocks]:
    """The PIP's DM: to the rep with an Acknowledge button (until they do); to the manager with
    whether and when the rep acknowledged it, and (while it runs) buttons to log a check-in or
    record the decision."""
    text = f"Performance improvement plan for {escape(rep_name)}"
    blocks = pip_blocks(rep_name, author_name, pip)
    buttons = []
    if for_rep and pip.get("acknowledged_at") is None:
        buttons.append(_element("pip_ack", "Acknowledge", pip["id"], primary=True))
    else:
        blocks.append(_acknowledgement(rep_name, pip))
    if not for_rep and pip["status"] == "active":
        buttons.append(_element("pip_checkin_open", "Log check-in", pip["id"]))
        buttons.append(_element("pip_decide_open", "Record decision", pip["id"]))
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return text, blocks


def _element(action_id: str, label: str, pip_id: int, primary: bool = False) -> dict[str, Any]:
    button = {"type": "button", "action_id": action_id, "text": _text(label), "value": str(pip_id)}
    return {**button, "style": "primary"} if primary else button


def _button(action_id: str, label: str, pip_id: int) -> dict[str, Any]:
    return {"type": "actions", "elements": [_element(action_id, label, pip_id)]}


def pip_checkin_due(
    rep_name: str, pip_id: int, day: date, note: str | None = None
) -> tuple[str, Blocks]:
    """The cadence's reminder in the PIP's thread: a check-in is due today; `note` says why it
    comes to someone other than the PIP's author."""
    text = f"PIP check-in due today ({_day(day)}) with {escape(rep_name)}"
    blocks = [_section(text + "."), _button("pip_checkin_open", "Log check-in", pip_id)]
    return text, blocks + ([_context(escape(note))] if note else [])


def pip_lead_moved(rep_name: str, lead_name: str) -> tuple[str, Blocks]:
    """The note in the PIP's thread when its reminders go to someone else now."""
    text = (
        f"{escape(rep_name)}'s PIP reminders now go to {escape(lead_name)}, "
        "their manager, who may log its check-ins and decision."
    )
    return text, [_section(text)]


def verdict_lines(goals: list[dict[str, Any]]) -> str:
    """One line per outcome metric: target, value over the PIP and the verdict."""
    return "\n".join(
        f"• *{escape(g['metric']['label'])}*: target {format_value(g['metric'], g['target'])}, "
        f"over the PIP {format_value(g['metric'], g['value'])} — "
        f"{VERDICT_MARKS.get(g['verdict'], g['verdict'])}"
        for g in goals
    )


def pip_end_due(
    rep_name: str,
    pip_id: int,
    end: date,
    goals: list[dict[str, Any]],
    today: date | None = None,
    note: str | None = None,
) -> tuple[str, Blocks]:
    """The cadence's end-of-PIP message in its thread: each goal judged, and the decision to
    record; sent on `today`, after an end date off work or while the author was away, it says
    the PIP ended. `note` says why it comes to someone other than the PIP's author."""
    when = "ends today" if today is None or today == end else "ended"
    text = f"{escape(rep_name)}'s PIP {when} ({_day(end)})"
    return text, [
        _section(
            f"*{text}.* Judged on the full months so far, with the same noise rules as plans:"
        ),
        _section(verdict_lines(goals) or "No goals."),
        _context("Not enough data is never a failure: it means the numbers can't tell yet."),
        _button("pip_decide_open", "Record decision", pip_id),
        *([_context(escape(note))] if note else []),
    ]


def pip_checkin_modal(
    *,
    pip_id: int,
    rep_name: str,
    today: str,
    tracking: list[dict[str, Any]],
    commitments: list[str],
) -> dict[str, Any]:
    """The check-in modal: each tracking metric's latest value (per week, prefilled, editable)
    against its weekly level, and the commitments to tick as kept (unticked: missed)."""
    blocks: Blocks = [
        _section(f"*PIP check-in with {escape(rep_name)}*"),
        _input(
            "date",
            "Day of the check-in",
            {"type": "datepicker", "action_id": "value", "initial_date": today},
            False,
        ),
    ]
    for i, track in enumerate(tracking[:MAX_TRACKING], 1):
        label = f"{track['label']} — weekly level {track['level_text']}"
        blocks.append(
            _input(
                f"track_value_{i}", label, _text_input(track["latest_text"], "Latest value"), True
            )
        )
    if commitments:
        kept = {
            "type": "checkboxes",
            "action_id": "value",
            "options": [_option(c, str(i)) for i, c in enumerate(commitments[:MAX_COMMITMENTS])],
        }
        blocks.append(_input("kept", "Your commitments kept (unticked: missed)", kept, True))
    blocks.append(_input("notes", "Notes", _text_input(None, "What was discussed", True), True))
    return {
        "type": "modal",
        "callback_id": PIP_CHECKIN_CALLBACK,
        "title": _text("PIP check-in"),
        "submit": _text("Save"),
        "close": _text("Cancel"),
        "private_metadata": json.dumps({"pip": pip_id}),
        "blocks": blocks,
    }


def pip_checkin_reply(
    *,
    on_date: date,
    author: str,
    rows: list[tuple[dict[str, Any], float | None, float]],
    kept: list[str],
    missed: list[str],
    notes: str,
) -> str:
    """A check-in in the PIP's thread: tracking metrics against their levels, commitments."""
    lines = [f"*Check-in {_day(on_date)}* by {escape(author)}"]
    for metric, value, level in rows:
        higher = metric.get("direction", "higher") == "higher"
        held = None if value is None else (value >= level if higher else value <= level)
        mark = "" if held is None else (" :white_check_mark:" if held else " :x:")
        figures = f"{_level(metric, value)} (level {_level(metric, level)})"
        lines.append(f"• {escape(metric['label'])}: {figures}{mark}")
    total = len(kept) + len(missed)
    if total:
        lines.append(f"Commitments kept: {len(kept)} of {total}")
        lines += [f"  :white_check_mark: {escape(c)}" for c in kept]
        lines += [f"  :x: {escape(c)}" for c in missed]
    if notes:
        lines.append(f"_Notes:_ {escape(notes)}")
    return "\n".join(lines)[:3000]


def pip_decision_modal(
    *, pip_id: int, rep_name: str, end: date, goals: list[dict[str, Any]]
) -> dict[str, Any]:
    """The decision at the end: completed, extended with a new end date, or ended."""
    decision = {
        "type": "radio_buttons",
        "action_id": "value",
        "options": [_option(label, key) for key, label in DECISION_LABELS.items()],
    }
    return {
        "type": "modal",
        "callback_id": PIP_DECISION_CALLBACK,
        "title": _text("PIP decision"),
        "submit": _text("Record"),
        "close": _text("Cancel"),
        "private_metadata": json.dumps({"pip": pip_id}),
        "blocks": [
            _section(f"*{escape(rep_name)}'s PIP*, ending {_day(end)}:\n{verdict_lines(goals)}"),
            _input("decision", "Decision", decision, False),
            _input(
                "new_end",
                "New end date (if extended)",
                {"type": "datepicker", "action_id": "value"},
                True,
            ),
            _input("note", "Note for the record", _text_input(None, "Why", True), True),
        ],
    }


def pip_decided(rep_name: str, author: str, decision: str, end: date) -> str:
    """The decision, in the PIP's thread."""
    if decision == "extended":
        return f"{escape(author)} extended {escape(rep_name)}'s PIP to {_day(end)}."
    return f"{escape(author)} recorded {escape(rep_name)}'s PIP as *{decision}*."


def pip_status(rep_name: str, author_name: str, pip: dict[str, Any]) -> Blocks:
    """A PIP as `/coach pip` shows it to those who may see it: its content, acknowledgement and
    check-ins."""
    blocks = [*pip_blocks(rep_name, author_name, pip), _acknowledgement(rep_name, pip)]
    checkins = pip["checkins"]
    if checkins:
        lines = ", ".join(
            f"{_day(c['on'])} ({c['kept']} kept, {c['missed']} missed)" for c in checkins[-10:]
        )
        blocks.append(_context(f"Check-ins: {lines}"))
    else:
        blocks.append(_context("No check-ins yet."))
    return blocks


def pip_status_modal(rep_name: str, author_name: str, pip: dict[str, Any]) -> dict[str, Any]:
    """`pip_status` in a modal (what `/coach pip` opens on a rep with a PIP)."""
    return {
        "type": "modal",
        "title": _text("Improvement plan"),
        "close": _text("Close"),
        "blocks": pip_status(rep_name, author_name, pip),
    }
