"""Block Kit for the weekly 1:1: the manager's prep, the rep's prompt and topics modal, the
App Home's schedule and settings modals (pure: data in, dict out; typed text escaped)."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Any

from analytics.models import DealFlag
from bot.coaching.prep import MAX_TOPICS_CHARS, FocusProgress, LastCheckIn, Prep
from bot.coaching.wording import format_value
from bot.slack.blocks.cadence import _button, _context, _header, _section
from bot.slack.blocks.mrkdwn import escape

Blocks = list[dict[str, Any]]
TOPICS_CALLBACK = "topics_submit"
SCHEDULE_CALLBACK = "one_on_one_submit"
SETTINGS_CALLBACK = "settings_submit"
MAX_BLOCKS = 50
MAX_TEXT = 3000
# A modal takes 100 blocks: one input per rep, and a line above them.
SCHEDULE_REPS = 98
DEALS_PER_SECTION = 12
_SAFE_URL = re.compile(r"^https://[^\s<>|]+$")
STATUS = {"on_track": "on track", "at_risk": "at risk", "done": "done"}


def _text(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def meeting_label(meeting: datetime) -> str:
    """'Tuesday, December 8, 14:00'."""
    return f"{meeting:%A, %B} {meeting.day}, {meeting:%H:%M}"


def _day_label(day: date) -> str:
    return f"{day:%A, %B} {day.day}"


def _success_line(prep: Prep) -> str:
    first = escape(prep.rep_name)
    if not prep.planned or not prep.focus:
        return (
            f"*This 1:1 is a success if* {first} leaves with a plan for the month: one skill, "
            "why that one, and how you will work on it together."
        )
    f = prep.focus[0]
    goal = f" toward {format_value(f.metric, f.target)}" if f.target is not None else ""
    return (
        f"*This 1:1 is a success if* you agree the one thing {first} does this week to move "
        f"*{escape(f.label)}*{goal}, and when you will check it."
    )


def _progress(f: FocusProgress) -> str:
    """'Close rate 22% month to date (9 of 41) — the target needs 24%: behind'."""
    label = escape(f.label)
    if f.value is None:
        return f"{label}: no numbers for this month yet"
    now = format_value(f.metric, f.value)
    raw = ""
    if f.metric.get("kind") == "conversion" and f.denominator is not None:
        raw = f" ({f.numerator:,.0f} of {f.denominator:,.0f})"
    if f.needed is None:
        return f"{label} {now} month to date{raw} (no target set)"
    pace = ":white_check_mark: on pace" if f.on_pace else ":warning: behind"
    if f.metric.get("kind") == "activity" and f.target is not None:
        need = (
            f"{format_value(f.metric, f.needed)} by now for "
            f"{format_value(f.metric, f.target)} this month"
        )
    else:
        need = format_value(f.metric, f.needed)
    return f"{label} {now} month to date{raw} — the target needs {need}: {pace}"


def _checkin(last: LastCheckIn | None) -> str:
    if last is None:
        return "*Last check-in:* none logged yet."
    notes = f" — “{escape(last.notes[:300])}”" if last.notes else ""
    return (
        f"*Last check-in:* {_day_label(last.on_date)}, {STATUS.get(last.status, last.status)}, "
        f"{last.done} of {last.planned} actions done{notes}"
    )


def _deal(flag: DealFlag) -> str:
    name = escape(flag.name[:120])
    if flag.url and _SAFE_URL.match(flag.url):
        name = f"<{flag.url}|{name}>"
    amount = f", ${flag.amount:,.0f}" if flag.amount is not None else ""
    touched = (
        "never touched"
        if flag.days_since_touch is None
        else f"last touch {flag.days_since_touch} days ago"
    )
    return (
        f"• {name} — {escape(flag.stage[:60])}{amount} · {flag.days_in_stage} days in stage · "
        f"{touched}"
    )


def _pipeline(prep: Prep, room: int) -> Blocks:
    """The pipeline review: the rep's untouched and stuck deals in at most `room` blocks."""
    if not prep.crm:
        return [
            _section(
                "*Pipeline review:* no CRM connected — walk the open deals together: which are "
                "untouched, which are stuck, what moves each one this week."
            )
        ]
    if not prep.flags:
        return [_section("*Pipeline review:* no untouched or stuck deals :tada:")]
    untouched = sum("untouched" in f.reasons for f in prep.flags)
    stuck = sum("stuck" in f.reasons for f in prep.flags)
    blocks = [
        _section(
            f"*Pipeline review:* {len(prep.flags)} deals going sideways — "
            f"{untouched} untouched, {stuck} stuck"
        )
    ]
    lines = [_deal(f) for f in prep.flags]
    shown = 0
    while shown < len(lines) and len(blocks) < room - 1:
        chunk: list[str] = []
        while shown < len(lines) and len(chunk) < DEALS_PER_SECTION:
            if len("\n".join([*chunk, lines[shown]])) > MAX_TEXT:
                break
            chunk.append(lines[shown])
            shown += 1
        if not chunk:  # one line longer than a section: cut it
            chunk, shown = [lines[shown][:MAX_TEXT]], shown + 1
        blocks.append(_section("\n".join(chunk)))
    if shown < len(lines):
        more = f"…and {len(lines) - shown} more: `/coach pipeline` lists them all."
        blocks.append(_context(more))
    return blocks


def _fit(lines: list[str], room: int) -> list[str]:
    """As many of `lines` as fit in `room` characters, then how many were left out."""
    kept: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > room - 40:
            kept.append(f"   ◦ …and {len(lines) - len(kept)} more")
            break
        kept.append(line)
        used += len(line) + 1
    return kept


def one_on_one_prep(prep: Prep) -> tuple[str, Blocks]:
    """The manager's DM before a weekly 1:1 with one rep: the success line, the agenda (the
    rep's topics, the focus metric's progress, the pipeline review, next steps), the numbers
    behind it, and a Log check-in button (the check-in modal, prefilled)."""
    when = meeting_label(prep.meeting)
    text = f"1:1 prep: {escape(prep.rep_name)}, {when}"
    blocks: Blocks = [_header(f"1:1 with {prep.rep_name} — {when}")]
    if prep.held_back:
        blocks.append(
            _context(
                ":palm_tree: This 1:1 fell while you were away: its prep, for when you meet again."
            )
        )
    if prep.rep_away_until is not None:
        blocks.append(
            _context(
                f":palm_tree: {escape(prep.rep_name)} is away until "
                f"{_day_label(prep.rep_away_until)}: move or skip this 1:1."
            )
        )
    blocks.append(_section(_success_line(prep)))
    first = escape(prep.rep_name)
    focus = (
        f"2. *{escape(prep.focus[0].label)}* this month against its target"
        if prep.focus
        else "2. This month's focus: no plan yet — agree one (the plan modal)"
    )
    head = f"*Agenda*\n1. {first}'s topics"
    tail = f"{focus}\n3. Pipeline review\n4. Next steps"
    # The rep's topics and the plan's open actions share what the section has left.
    room = MAX_TEXT - len(head) - len(tail) - 60
    topics = _fit([f"   ◦ {escape(t[:300])}" for t in prep.topics], room * 2 // 3)
    if not prep.topics:
        topics = [f"   ◦ none added yet ({first} was asked)"]
    steps = _fit([f"   ◦ {escape(s[:200])}" for s in prep.next_steps], room // 3)
    agenda = "\n".join([head, *topics, tail + (":" if steps else " — who does what by next week")])
    if steps:
        agenda += "\n" + "\n".join(steps)
    blocks.append(_section(agenda))
    if prep.focus:
        through = (
            f" (through {_day_label(prep.through)})" if prep.through is not None else " (none yet)"
        )
        lines = "\n".join(f"• {_progress(f)}" for f in prep.focus)
        blocks.append(_section(f"*The numbers*{through}\n{lines}"))
    blocks.append(_section(_checkin(prep.last_checkin)))
    # Room left under Slack's 50 blocks for the pipeline, with the buttons after it.
    blocks += _pipeline(prep, MAX_BLOCKS - len(blocks) - 1)
    actions = [_button("checkin_open", "Log check-in", prep.rep_email, primary=prep.planned)]
    if not prep.planned:
        actions = [_button("plan_open", "Create plan", f"{prep.rep_email}|{prep.month}", True)]
    blocks.append({"type": "actions", "elements": actions})
    return text, blocks


def topics_prompt(
    rep_name: str, manager_name: str, meeting: datetime, day: date
) -> tuple[str, Blocks]:
    """The rep's DM before their weekly 1:1 (`meeting` in the rep's own time; `day`, the 1:1's
    day in the manager's calendar, keys the topics): add topics to the agenda."""
    when = meeting_label(meeting)
    text = f"Your 1:1 with {escape(manager_name)} is {when}: anything to add to the agenda?"
    return text, [
        _section(
            f"Hi {escape(rep_name.split()[0])} — your 1:1 with {escape(manager_name)} is "
            f"*{when}* ({meeting.tzname()}). What do you want to talk about? Your topics go "
            "first on the agenda your manager prepares."
        ),
        {
            "type": "actions",
            "elements": [_button("topics_open", "Add my topics", day.isoformat(), primary=True)],
        },
    ]


def late_topics(rep_name: str, topics: list[str], day: date | None = None) -> tuple[str, Blocks]:
    """Topics the rep added (or changed) after their 1:1's prep was made: a reply under the
    prep, or, with the 1:1's `day`, a message of its own (the prep was still on its way)."""
    first = escape(rep_name.split()[0] if rep_name.split() else rep_name)
    lines = _fit([f"◦ {escape(t[:300])}" for t in topics], MAX_TEXT - 200)
    text = f"{first} added topics after this prep went out"
    if day is not None:
        when = f"{day:%A, %B} {day.day}"
        text = f"{first} added topics for your 1:1 on {when}, after its prep was made"
    body = f"*{text}:*\n" + ("\n".join(lines) if lines else "none now (cleared)")
    return text, [_section(body)]


def topics_modal(day: date, manager_name: str, existing: list[str]) -> dict[str, Any]:
    """The rep's topics for their 1:1 on `day`, one a line, prefilled with earlier ones."""
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": True,
        "max_length": MAX_TOPICS_CHARS,
        "placeholder": _text("One topic a line: a deal you're stuck on, a question, an idea…"),
    }
    if existing:
        element["initial_value"] = "\n".join(existing)[:MAX_TOPICS_CHARS]
    return {
        "type": "modal",
        "callback_id": TOPICS_CALLBACK,
        "private_metadata": json.dumps({"day": day.isoformat()}),
        "title": _text("Your 1:1 topics"),
        "submit": _text("Save"),
        "close": _text("Cancel"),
        "blocks": [
            _context(f"For your 1:1 with {escape(manager_name)} on {_day_label(day)}."),
            {
                "type": "input",
                "block_id": "topics",
                "label": _text("What do you want to talk about?"),
                "element": element,
            },
        ],
    }


def schedule_modal(
    reps: list[tuple[int, str, str | None]], zone: str, lead: int, more: int = 0
) -> dict[str, Any]:
    """The manager's weekly 1:1s: one field per rep (id, name, 'Tue 14:00' or None), in the
    manager's time zone; `more` reps beyond the modal's room are set by the org CSV."""
    blocks: Blocks = [
        _context(
            f"Weekday and time of each weekly 1:1, in your time zone ({escape(zone)}), e.g. "
            f"Tue 14:00; leave it empty for none. You get each rep's prep {lead} minutes before."
            + (f" {more} more reps: set theirs in the org CSV's one_on_one column." if more else "")
        )
    ]
    for rep_id, name, slot in reps[:SCHEDULE_REPS]:
        element: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": "value",
            "max_length": 20,
            "placeholder": _text("e.g. Tue 14:00"),
        }
        if slot:
            element["initial_value"] = slot
        blocks.append(
            {
                "type": "input",
                "block_id": f"rep_{rep_id}",
                "optional": True,
                "label": _text(name[:2000]),
                "element": element,
            }
        )
    return {
        "type": "modal",
        "callback_id": SCHEDULE_CALLBACK,
        "private_metadata": json.dumps({"reps": [r for r, _, _ in reps[:SCHEDULE_REPS]]}),
        "title": _text("Weekly 1:1s"),
        "submit": _text("Save"),
        "close": _text("Cancel"),
        "blocks": blocks,
    }


SETTING_LABELS = {
    "daily_channel": ("Daily progress channel (id)", "e.g. C024BE91L"),
    "send_time": ("Send time (local to each person)", "HH:MM"),
    "reminder_day": ("Reminder on working day", "2 to 15"),
    "escalation_day": ("Escalation on working day", "3 to 20"),
    "one_on_one_lead": ("1:1 prep, minutes before", "5 to 240"),
    "country": ("Default country (holidays)", "e.g. DE, US-CA"),
}


def settings_modal(stored: dict[str, str], defaults: dict[str, str]) -> dict[str, Any]:
    """The admins' workspace settings: each field prefilled with the workspace's own value;
    an empty one uses the default (shown as the hint)."""
    blocks: Blocks = [
        _context("Empty fields use coach's defaults (its environment), shown under each field.")
    ]
    for field, (label, example) in SETTING_LABELS.items():
        element: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": "value",
            "max_length": 40,
            "placeholder": _text(example),
        }
        if stored.get(field):
            element["initial_value"] = stored[field]
        blocks.append(
            {
                "type": "input",
                "block_id": field,
                "optional": True,
                "label": _text(label),
                "hint": _text(f"Default: {defaults.get(field) or 'none'}"[:2000]),
                "element": element,
            }
        )
    return {
        "type": "modal",
        "callback_id": SETTINGS_CALLBACK,
        "private_metadata": json.dumps({}),
        "title": _text("Workspace settings"),
        "submit": _text("Save"),
        "close": _text("Cancel"),
        "blocks": blocks,
    }


def rep_one_on_one(manager: str, meeting: datetime, yours: bool) -> dict[str, Any]:
    """A rep's App Home line about their weekly 1:1: `meeting` in the rep's own time zone
    (`yours`), else in the manager's, named."""
    when = f"{meeting:%a} {meeting.day} {meeting:%b} at {meeting:%H:%M}"
    zone = "your time" if yours else f"{meeting:%Z}"
    return _context(
        f"Your weekly 1:1 with *{escape(manager)}*: next on *{when}* ({zone}). On the "
        "working day before, you'll be asked what you want to talk about."
    )


def schedule_home(scheduled: int, reps: int, lead: int) -> dict[str, Any]:
    """App Home's line about a manager's weekly 1:1s, with the button to set them."""
    return {
        "type": "section",
        "block_id": "one_on_ones",
        "text": {
            "type": "mrkdwn",
            "text": (
                f"Weekly 1:1s: *{scheduled} of {reps}* reps scheduled · you get each prep "
                f"{lead} minutes before."
            ),
        },
        "accessory": _button("one_on_one_open", "Set 1:1 times", "open"),
    }


def settings_home(summary: str) -> dict[str, Any]:
    """App Home's line for admins: the workspace's settings, with the button to change them
    (`summary` is mrkdwn the app wrote)."""
    return {
        "type": "section",
        "block_id": "workspace_settings",
        "text": {"type": "mrkdwn", "text": f"Workspace settings: {summary}"[:MAX_TEXT]},
        "accessory": _button("settings_open", "Change settings", "open"),
    }
