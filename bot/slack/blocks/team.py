"""Block Kit for the team overview: a compact message and the App Home (pure)."""

from __future__ import annotations

from typing import Any

from bot.coaching.team import TeamRow
from bot.slack.blocks.mrkdwn import escape

MESSAGE_LINES_PER_SECTION = 12
MAX_MESSAGE_BLOCKS = 50
MAX_HOME_BLOCKS = 100
HOME_REPS_WITH_BUTTONS = 45  # 2 blocks each stays under the home tab's 100 blocks


def _line(row: TeamRow) -> str:
    """One rep as mrkdwn: name and the catalogue's labels escaped."""
    if row.planned:
        status = f":white_check_mark: plan: {escape(', '.join(row.plan_focus)) or '—'}"
    else:
        status = ":warning: no plan"
    focus = escape(", ".join(row.focus)) or "no credible gap"
    checkin = f" · last check-in {row.last_checkin}" if row.last_checkin else ""
    return f"*{escape(row.name)}* — focus: {focus} · {status}{checkin}"


def team_blocks(rows: list[TeamRow], month_label: str) -> list[dict[str, Any]]:
    """`/coach team`: one line per rep, packed into sections so 40+ reps fit one message."""
    missing = sum(not r.planned for r in rows)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Team — {month_label}"[:150]}},
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"{len(rows)} reps · {missing} without a plan"}
            ],
        },
    ]
    if not rows:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "No reps to show."}})
    # No-plan reps first: they are what the day-two review will ask about.
    ordered = sorted(rows, key=lambda r: (r.planned, r.name))
    room = (MAX_MESSAGE_BLOCKS - len(blocks) - 1) * MESSAGE_LINES_PER_SECTION
    shown, hidden = ordered[:room], ordered[room:]
    for start in range(0, len(shown), MESSAGE_LINES_PER_SECTION):
        chunk = shown[start : start + MESSAGE_LINES_PER_SECTION]
        text = "\n".join(_line(r) for r in chunk)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}})
    if hidden:
        more = f"… and {len(hidden)} more reps (all planned): ask for one with `/coach gaps @rep`."
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    return blocks


def _button(row: TeamRow) -> dict[str, Any]:
    if row.planned:
        return {
            "type": "button",
            "action_id": "checkin_open",
            "text": {"type": "plain_text", "text": "Log check-in"},
            "value": row.email,
        }
    return {
        "type": "button",
        "action_id": "plan_open",
        "style": "primary",
        "text": {"type": "plain_text", "text": "Create plan"},
        "value": row.email,
    }


def reminders_toggle(muted: bool) -> dict[str, Any]:
    """App Home's switch for the cadence's reminders and escalations (not the monthly plan)."""
    say = "muted" if muted else "on"
    return {
        "type": "section",
        "block_id": "reminders",
        "text": {
            "type": "mrkdwn",
            "text": f"Reminders about reps without a plan: *{say}* (day one and two still come).",
        },
        "accessory": {
            "type": "button",
            "action_id": "reminders_mute",
            "text": {
                "type": "plain_text",
                "text": "Unmute reminders" if muted else "Mute reminders",
            },
            "value": "unmute" if muted else "mute",
        },
    }


def manager_home(
    rows: list[TeamRow],
    month_label: str,
    muted: bool = False,
    extra: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The App Home of a manager or director: each rep with a Create plan / Log check-in button,
    the switch for their reminders, and `extra` lines under it (weekly 1:1s, settings)."""
    blocks = team_blocks([], month_label)[:1]
    missing = sum(not r.planned for r in rows)
    blocks.append(
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"{len(rows)} reps · {missing} without a plan"}
            ],
        }
    )
    blocks.append(reminders_toggle(muted))
    blocks += extra or []
    ordered = sorted(rows, key=lambda r: (r.planned, r.name))
    for row in ordered[:HOME_REPS_WITH_BUTTONS]:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _line(row)[:3000]},
                "accessory": _button(row),
            }
        )
    rest = ordered[HOME_REPS_WITH_BUTTONS:]
    # Summarised rather than cut off: the remaining reps as compact lines, then a count.
    room = (MAX_HOME_BLOCKS - len(blocks) - 1) * MESSAGE_LINES_PER_SECTION
    for start in range(0, min(len(rest), room), MESSAGE_LINES_PER_SECTION):
        text = "\n".join(
            _line(r) for r in rest[start : min(start + MESSAGE_LINES_PER_SECTION, room)]
        )
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}})
    if len(rest) > room:
        more = f"… and {len(rest) - room} more reps: `/coach gaps @rep` shows any one of them."
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    return {"type": "home", "blocks": blocks}


def rep_home(
    gap: list[dict[str, Any]], plan_text: str | None, one_on_one: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A rep's App Home: their weekly 1:1 when it is set (`prep.rep_one_on_one`), their own
    gaps and plan (`plan_text` is mrkdwn: `plan_summary`'s)."""
    blocks = [one_on_one] if one_on_one else []
    blocks += [b for b in gap if b.get("type") != "actions"]
    blocks.append({"type": "divider"})
    blocks.append(
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": (
                    plan_text
                    or "No plan for this month yet: your manager will set it up "
                    "with you in your 1:1."
                )[:3000],
            },
        }
    )
    return {"type": "home", "blocks": blocks[:100]}
