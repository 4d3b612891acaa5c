"""Per-workspace settings: what a workspace's admins changed from App Home, over the
environment's defaults."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time

from sqlalchemy.orm import Session

from analytics.workdays import parse_country
from bot.settings import Settings
from storage.models import WorkspaceSettings

# Field (the modal's block id and the table's column) → the setting it overrides.
FIELDS = {
    "daily_channel": "coach_daily_channel",
    "send_time": "coach_send_time",
    "reminder_day": "coach_reminder_day",
    "escalation_day": "coach_escalation_day",
    "one_on_one_lead": "coach_one_on_one_lead",
    "country": "coach_country",
}
_CLOCK = re.compile(r"^([0-9]{1,2}):([0-9]{2})$")
_CHANNEL = re.compile(r"^[CG][A-Z0-9]{2,31}$")


@dataclass(frozen=True)
class Checked:
    """A settings form read: the values to store (None: the default) and inline errors."""

    values: dict[str, str | int | None]
    errors: dict[str, str]


def effective(base: Settings, row: WorkspaceSettings | None) -> Settings:
    """`base` (the environment's settings) with a workspace's own values over it."""
    if row is None:
        return base
    update = {
        setting: getattr(row, column)
        for column, setting in FIELDS.items()
        if getattr(row, column) is not None
    }
    return base.model_copy(update=update) if update else base


def load(session: Session, base: Settings, workspace_id: str) -> Settings:
    """The settings `workspace_id` runs on now."""
    return effective(base, session.get(WorkspaceSettings, workspace_id))


def _day(text: str, low: int, high: int) -> int:
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValueError(f"A working day of the month from {low} to {high}.")
    return int(text)


def check(form: dict[str, str], base: Settings) -> Checked:
    """Read the App Home settings form ({field: text}); an empty field means the default
    (`base`). Errors are one line per field, as Slack shows them under the input."""
    values: dict[str, str | int | None] = {}
    errors: dict[str, str] = {}
    raw = {name: form.get(name, "").strip() for name in FIELDS}
    if raw["daily_channel"]:
        channel = raw["daily_channel"].upper()
        if _CHANNEL.match(channel):
            values["daily_channel"] = channel
        else:
            errors["daily_channel"] = "A channel id, like C024BE91L (in the channel's details)."
    if raw["send_time"]:
        clock = _CLOCK.match(raw["send_time"])
        if clock and int(clock[1]) < 24 and int(clock[2]) < 60:
            values["send_time"] = time(int(clock[1]), int(clock[2])).strftime("%H:%M")
        else:
            errors["send_time"] = "A time of day, HH:MM (e.g. 09:00)."
    for name, (low, high) in {"reminder_day": (2, 15), "escalation_day": (3, 20)}.items():
        if raw[name]:
            try:
                values[name] = _day(raw[name], low, high)
            except ValueError as exc:
                errors[name] = str(exc)
    if raw["one_on_one_lead"]:
        lead = raw["one_on_one_lead"]
        if lead.isdigit() and 5 <= int(lead) <= 240:
            values["one_on_one_lead"] = int(lead)
        else:
            errors["one_on_one_lead"] = "Minutes before the 1:1, from 5 to 240."
    if raw["country"]:
        try:
            values["country"] = parse_country(raw["country"])
        except ValueError as exc:
            errors["country"] = str(exc)
    reminder = values.get("reminder_day", base.coach_reminder_day)
    escalation = values.get("escalation_day", base.coach_escalation_day)
    if (
        "reminder_day" not in errors
        and "escalation_day" not in errors
        and int(escalation or 0) <= int(reminder or 0)
    ):
        errors["escalation_day"] = (
            f"After the reminder's working day {reminder}: the director hears later."
        )
    return Checked({name: values.get(name) for name in FIELDS}, errors)


def save(session: Session, workspace_id: str, values: dict[str, str | int | None], by: int) -> None:
    """Store a workspace's settings (None: back to the default); the caller commits."""
    row = session.get(WorkspaceSettings, workspace_id)
    if row is None:
        row = WorkspaceSettings(workspace_id=workspace_id)
        session.add(row)
    for name in FIELDS:
        setattr(row, name, values.get(name))
    row.updated_by = by
