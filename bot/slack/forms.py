"""Modal submissions, parsed once at the boundary (by the middleware) into typed form data.

What the app wrote into `private_metadata` and what the modal's inputs hold are checked here
with pydantic; a submission that doesn't fit — metadata that isn't the app's JSON, a date that
doesn't exist, an option without a value — is answered inline, never with a 500. Listeners
read `context["form"]` and only judge what the values mean.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
)
from slack_bolt import BoltResponse

from bot.slack.blocks.cadence import REFLECTION_CALLBACK
from bot.slack.blocks.checkin import CHECKIN_CALLBACK
from bot.slack.blocks.pip import PIP_CALLBACK, PIP_CHECKIN_CALLBACK, PIP_DECISION_CALLBACK
from bot.slack.blocks.plan import PLAN_CALLBACK, message_modal
from bot.slack.blocks.prep import SCHEDULE_CALLBACK, SETTINGS_CALLBACK, TOPICS_CALLBACK

OUT_OF_DATE = "This form is out of date: close it and open it again."
# Per kind of input, what to say when Slack's state for it can't be read.
UNREADABLE = {
    "selected_date": "Pick a day from the calendar.",
    "selected_option": "Choose one of the options.",
    "selected_options": "Choose from the options.",
}
UNREADABLE_TEXT = "This answer can't be read: enter it again."


def _iso_day(value: object) -> object:
    """A date picker's 'YYYY-MM-DD' as a day; nothing else (pydantic alone would also take a
    number of seconds). An impossible day (2026-13-01) raises, as a validation error."""
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise ValueError("not a YYYY-MM-DD day")
    return date.fromisoformat(value)


Month = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
Day = Annotated[date | None, BeforeValidator(_iso_day)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True)


class PlanMeta(_Strict):
    """What the plan modal carries: the rep (by email) and the month it plans."""

    rep: str
    month: Month


class CheckinMeta(_Strict):
    """What the check-in modal carries: the plan it logs against."""

    plan: Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]  # a database id: larger overflows it


class PipMeta(_Strict):
    """What the PIP modal carries: the rep (by email)."""

    rep: str


class PipRef(_Strict):
    """What a PIP's check-in and decision modals carry: the PIP."""

    pip: Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]


class ReflectionMeta(_Strict):
    """What the reflection modal carries: the month of the 1:1 it prepares."""

    month: Month


class TopicsMeta(_Strict):
    """What the rep's topics modal carries: the day of the 1:1 (the manager's calendar)."""

    day: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]


DbId = Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]


class ScheduleMeta(_Strict):
    """What the weekly 1:1s modal carries: the reps it lists, in order."""

    reps: Annotated[list[DbId], Field(max_length=100)]


class SettingsMeta(_Strict):
    """The workspace settings modal carries nothing: the workspace is the actor's."""


META: dict[str, type[_Strict]] = {
    PLAN_CALLBACK: PlanMeta,
    CHECKIN_CALLBACK: CheckinMeta,
    REFLECTION_CALLBACK: ReflectionMeta,
    PIP_CALLBACK: PipMeta,
    PIP_CHECKIN_CALLBACK: PipRef,
    PIP_DECISION_CALLBACK: PipRef,
    TOPICS_CALLBACK: TopicsMeta,
    SCHEDULE_CALLBACK: ScheduleMeta,
    SETTINGS_CALLBACK: SettingsMeta,
}


class _Option(BaseModel):
    value: str


class _Entry(BaseModel):
    """One input's state, whatever its element (text, date picker, radio buttons, checkboxes)."""

    model_config = ConfigDict(extra="ignore")

    value: str | None = None
    selected_date: Day = None
    selected_option: _Option | None = None
    selected_options: list[_Option] = Field(default_factory=list)


class Values(BaseModel):
    """A modal's inputs by block id; every input's action id is `value`. A block that wasn't
    sent reads as empty: the listener's own checks ask for what's required."""

    blocks: dict[str, dict[str, _Entry]]

    def _entry(self, block: str) -> _Entry:
        return self.blocks.get(block, {}).get("value") or _Entry()

    def text(self, block: str) -> str:
        """A text input's value, stripped ('' when empty)."""
        return (self._entry(block).value or "").strip()

    def day(self, block: str) -> date | None:
        """A date picker's day."""
        return self._entry(block).selected_date

    def option(self, block: str) -> str | None:
        """A radio button's chosen value."""
        chosen = self._entry(block).selected_option
        return chosen.value if chosen else None

    def options(self, block: str) -> list[str]:
        """Checkboxes' or a multi-select's chosen values."""
        return [o.value for o in self._entry(block).selected_options]


@dataclass(frozen=True)
class Form:
    """A modal submission the app can read: its metadata is one of `META`'s models."""

    view_id: str
    meta: Any
    values: Values


def parse_submission(view: dict[str, Any]) -> Form | dict[str, str]:
    """The form in a view_submission's `view`, or errors by block id ('' for the whole form)."""
    model = META[view["callback_id"]]
    try:
        meta = model.model_validate(json.loads(view.get("private_metadata") or "null"))
    # Not JSON (or nested past the parser's depth), or not the app's (ValidationError is a
    # ValueError).
    except (ValueError, RecursionError):
        return {"": OUT_OF_DATE}
    try:
        values = Values.model_validate({"blocks": (view.get("state") or {}).get("values")})
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            where = [str(part) for part in error["loc"][1:]]  # [block, action, field, …]
            if not where:  # no values at all
                errors[""] = OUT_OF_DATE
                continue
            field = where[2] if len(where) > 2 else ""
            errors.setdefault(where[0], UNREADABLE.get(field, UNREADABLE_TEXT))
        return errors
    return Form(view_id=str(view.get("id") or ""), meta=meta, values=values)


def submission_callback(body: dict[str, Any]) -> str | None:
    """The callback id of a view submission the app parses, else None."""
    view = body.get("view")
    if body.get("type") != "view_submission" or not isinstance(view, dict):
        return None
    callback = view.get("callback_id")
    return callback if isinstance(callback, str) and callback in META else None


def modal_errors(view: Any, errors: dict[str, str], title: str = "Not saved") -> BoltResponse:
    """Answer a submission with inline errors; one for the whole form ('') goes on the view's
    first input. Without any input to put it on, the modal is replaced by the message."""
    blocks = view.get("blocks") if isinstance(view, dict) else None
    inputs = [
        b["block_id"]
        for b in (blocks if isinstance(blocks, list) else [])
        if isinstance(b, dict) and b.get("type") == "input" and isinstance(b.get("block_id"), str)
    ]
    if "" in errors and not inputs:
        answer: dict[str, Any] = {
            "response_action": "update",
            "view": message_modal(title, errors[""]),
        }
    else:
        placed = {(block or inputs[0]): text[:150] for block, text in errors.items()}
        answer = {"response_action": "errors", "errors": placed}
    return BoltResponse(
        status=200,
        body=json.dumps(answer),
        headers={"content-type": "application/json;charset=utf-8"},
    )
