"""Hostile names and texts through every message the bot sends, over HTTP with the stand-in:
nothing typed by a person (or loaded from a CSV or a custom catalogue) reaches Slack's mrkdwn
unescaped, and plain_text fields show it as typed."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy import Engine, select

from bot.demo.standin import Call, SlackStandIn, event_body
from storage.csv_import import import_org
from storage.db import session_scope
from storage.models import Person, Pip
from storage.plans import FocusInput, save_plan
from tests.bot.conftest import (
    ORG,
    REPS_OF_MARK,
    REPS_OF_MIA,
    Bot,
    make_cadence,
    seed,
    serve_bot,
)
from tests.bot.mrkdwn_leaks import leaks, rendered
from tests.bot.test_cadence_e2e import click
from tests.bot.test_checkin_e2e import checkin_state, submit_view
from tests.bot.test_pip_e2e import values as pip_values
from tests.bot.test_plan_e2e import state, submit

NAMES = {
    "mark@example.com": "<!here> Mark",
    "mia@example.com": "<!channel> Mia & Co",
    "dana@example.com": "<!subteam^S0ATTACK> Dana",
    "rep1@example.com": "<https://evil.example|open your numbers> Ann",
    "rep2@example.com": "<!everyone> Ben",
    "rep3@example.com": "&lt;!here&gt; Di & Ed",
    "rep6@example.com": "<mailto:x@evil.example|mail> Cy",
}
NO_DATA = ("rep11@example.com", "<@U0ATTACK|boss> Flo")  # a rep without a single number
SEGMENT = "<!here> SMB & Mid"  # rep1's alone: its peers are widened, and the warning names it
WHY = "<!channel> because <@U0ATTACK> said so & R&amp;D agreed"
HOW = "<https://evil.example|open your numbers> daily\n<!everyone> call the buyer"
REFLECTION = {
    "how_it_went": "<!here> slow start & <#C0GENERAL>",
    "went_well": "<@U0ATTACK> helped",
    "improve": "<https://evil.example|open your numbers>",
}
COMMITMENTS = ["<!channel> join 3 calls & <@U0ATTACK>", "<https://evil.example|review> calls"]
PIP_NOTE = "<!here> decided & <#C0GENERAL>"
OCTOBER = ("<!everyone> October: demos stall", ["<mailto:x@evil.example|mail> the buyer"])
CATALOGUE = """\
mode: extend
metrics:
  - key: close_rate
    label: "<!here> Close rate & more"
    sentence: "<https://evil.example|Closes> {value} of demos"
    suggestions:
      - "<mailto:x@evil.example|mail> your buyer & <!channel>"
"""
HOSTILE = [
    *NAMES.values(),
    NO_DATA[1],
    SEGMENT,
    WHY,
    *HOW.split("\n"),
    *REFLECTION.values(),
    OCTOBER[0],
    *OCTOBER[1],
    *COMMITMENTS,
    PIP_NOTE,
    "<!here> Close rate & more",
    "<https://evil.example|Closes>",
    "<mailto:x@evil.example|mail> your buyer & <!channel>",
]


def quiet(slack: SlackStandIn, calm: float = 0.4, timeout: float = 15.0) -> list[Call]:
    """Wait until the bot has stopped calling Slack (work after an ack runs later)."""
    deadline = time.monotonic() + timeout
    count, since = len(slack.calls), time.monotonic()
    while time.monotonic() - since < calm:
        assert time.monotonic() < deadline, "the bot kept calling Slack"
        time.sleep(0.05)
        if len(slack.calls) != count:
            count, since = len(slack.calls), time.monotonic()
    return slack.calls


def _id(session: Any, email: str) -> int:
    found = session.scalar(select(Person.id).where(Person.email == email))
    assert found is not None
    return found


def hostile_org(engine: Engine, folder: Path) -> None:
    """The test org re-imported from a CSV (as `coach import org` does) with hostile names, a
    hostile segment and a rep without numbers; and October plans an attacker typed."""
    seed(engine, ["2026-08", "2026-09", "2026-10"])
    rows = [
        (email, NAMES.get(email, name), role, manager or "", "", slack_id or "")
        for email, name, role, manager, _, slack_id in ORG
    ]
    for i, email in enumerate(REPS_OF_MARK + REPS_OF_MIA, 1):
        manager = "mark@example.com" if i <= 5 else "mia@example.com"
        segment = SEGMENT if i == 1 else ""
        slack_id = f"UREP{i}" if i < 10 else ""
        rows.append((email, NAMES.get(email, f"Rep {i}"), "rep", manager, segment, slack_id))
    rows.append((NO_DATA[0], NO_DATA[1], "rep", "mark@example.com", "", ""))
    org = folder / "org.csv"
    with org.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["email", "name", "role", "manager_email", "segment", "slack_user_id"])
        writer.writerows(rows)
    with session_scope(engine) as session:
        import_org(session, "default", org)
    with session_scope(engine) as session:
        for rep, manager in (("rep1", "mark"), ("rep6", "mia")):
            save_plan(
                session,
                workspace_id="default",
                rep_id=_id(session, f"{rep}@example.com"),
                author_id=_id(session, f"{manager}@example.com"),
                month="2026-10",
                focus=[FocusInput("close_rate", 0.1, 0.33, 0.2)],
                why=OCTOBER[0],
                actions=list(OCTOBER[1]),
                checkin_dates=[date(2026, 10, 10)],
            )


@pytest.fixture
def hostile(sqlite_engine: Engine, slack: SlackStandIn, tmp_path: Path) -> Iterator[Bot]:
    """The bot on the hostile org, with a custom catalogue whose close rate is hostile too."""
    catalogue = tmp_path / "metrics.yaml"
    catalogue.write_text(CATALOGUE)
    hostile_org(sqlite_engine, tmp_path)
    with (
        time_machine.travel("2026-11-02 09:30:00+00:00", tick=True),
        serve_bot(sqlite_engine, slack, COACH_METRICS_FILE=str(catalogue)) as served,
    ):
        yield served


def _view(call: Call) -> dict[str, Any]:
    view = call.params["view"]
    return json.loads(view) if isinstance(view, str) else view


def _last_view(bot: Bot, method: str, callback: str) -> dict[str, Any]:
    views = [_view(c) for c in bot.slack.calls_to(method)]
    return next(v for v in reversed(views) if v.get("callback_id") == callback)


def _opened(bot: Bot, method: str, callback: str, do: Any) -> dict[str, Any]:
    """Do something that opens a modal (`method`: views.open, or views.update once it is
    filled) and return the modal."""
    before = len(bot.slack.calls_to(method))
    do()
    bot.slack.wait_for(method, count=before + 1)
    return _last_view(bot, method, callback)


def test_hostile_input_never_reaches_slack_unescaped(hostile: Bot, tmp_path: Path) -> None:
    bot, slack = hostile, hostile.slack
    answers: list[tuple[str, dict[str, Any]]] = []  # modal answers given in the HTTP response
    steps: dict[str, tuple[int, int]] = {}

    def step(name: str, *actions: Any, expect: dict[str, int] | None = None) -> None:
        """Run `actions`, wait for the calls they make (`expect`: how many of each method), and
        remember which calls were theirs."""
        start = len(slack.calls)
        before = {method: len(slack.calls_to(method)) for method in expect or {}}
        for action in actions:
            action()
        for method, count in (expect or {}).items():
            slack.wait_for(method, count=before[method] + count, timeout=30)
        steps[name] = (start, len(quiet(slack)))

    def answer(status_body: tuple[int, str]) -> None:
        status, body = status_body
        assert status == 200
        if body:
            answers.append(("view_submission", json.loads(body)))

    cadence = make_cadence(
        bot.engine,
        slack,
        COACH_METRICS_FILE=str(tmp_path / "metrics.yaml"),
        COACH_DAILY_CHANNEL="C0PROGRESS",
    )
    step("day one: parents, replies, invitations", lambda: cadence.run("day-one", month="2026-11"))

    def reflect() -> None:
        modal = _opened(
            bot,
            "views.open",
            "reflection_submit",
            lambda: click(bot, "UREP1", "reflection_open", "2026-11"),
        )
        values = {
            q: {"value": {"type": "plain_text_input", "value": v}} for q, v in REFLECTION.items()
        }
        answer(submit_view(bot, "UREP1", modal, values))
        click(bot, "UREP1", "reflection_open", "2026-11")  # prefilled with what was typed

    step("reflection modal", reflect, expect={"views.open": 2})

    def plan() -> None:
        modal = _opened(
            bot, "views.update", "plan_submit", lambda: bot.command("plan <@UREP1|rep1>", "UMARK")
        )
        answer(submit(bot, "UMARK", modal, state(["close_rate"], ["25%"], why=WHY, how=HOW)))

    step(
        "plan modal (the rep's reflection), plan DMs, homes",
        plan,
        expect={"chat.postMessage": 2, "views.publish": 2},
    )

    def checkin() -> None:
        modal = _opened(
            bot,
            "views.update",
            "checkin_submit",
            lambda: bot.command("checkin <@UREP1|rep1>", "UMARK"),
        )
        modal = {**modal, "id": "VHOSTILE"}
        values = checkin_state()
        values["notes"]["value"]["value"] = "<!here> notes & <@U0ATTACK>"
        answer(submit_view(bot, "UMARK", modal, values))

    step(
        "check-in modal and its thread reply",
        checkin,
        expect={"chat.postMessage": 1, "views.publish": 2},
    )

    def pip_create() -> None:
        modal = _opened(
            bot, "views.update", "pip_submit", lambda: bot.command("pip <@UREP1|rep1>", "UMARK")
        )
        goals = [("close_rate", "30%", "60")]
        answer(submit(bot, "UMARK", modal, pip_values(goals, commitments="\n".join(COMMITMENTS))))

    step("PIP modal and DMs", pip_create, expect={"chat.postMessage": 2})
    with session_scope(bot.engine) as session:
        pip_id = str(session.scalar(select(Pip.id)))
    step(
        "PIP acknowledged",
        lambda: click(bot, "UREP1", "pip_ack", pip_id),
        expect={"chat.update": 2},
    )
    step("PIP check-in due", lambda: cadence.run("pips", month="2026-11-09"))

    def pip_checkin() -> None:
        modal = _opened(
            bot,
            "views.update",
            "pip_checkin_submit",
            lambda: click(bot, "UMARK", "pip_checkin_open", pip_id),
        )
        values = {
            "date": {"value": {"type": "datepicker", "selected_date": "2026-11-09"}},
            "kept": {"value": {"type": "checkboxes", "selected_options": [{"value": "1"}]}},
            "notes": {"value": {"type": "plain_text_input", "value": PIP_NOTE}},
        }
        answer(submit_view(bot, "UMARK", {**modal, "id": "VPIP"}, values))

    step("PIP check-in modal and its thread replies", pip_checkin, expect={"chat.postMessage": 2})
    step("PIP end", lambda: cadence.run("pips", month="2027-01-01"))

    def pip_decide() -> None:
        modal = _opened(
            bot,
            "views.update",
            "pip_decision_submit",
            lambda: click(bot, "UMARK", "pip_decide_open", pip_id),
        )
        values = {
            "decision": {"value": {"type": "radio_buttons", "selected_option": {"value": "ended"}}},
            "note": {"value": {"type": "plain_text_input", "value": PIP_NOTE}},
        }
        answer(submit_view(bot, "UMARK", {**modal, "id": "VEND"}, values))

    step("PIP decision", pip_decide, expect={"chat.postMessage": 2})
    step(
        "/coach pip of the rep",
        lambda: bot.command("pip <@UREP1|rep1>", "UREP1"),
        expect={"views.update": 1},
    )
    step(
        "check-in modal without a plan",
        lambda: bot.command("checkin <@UREP2|rep2>", "UMARK"),
        expect={"views.update": 1},
    )
    for name, text, user in [
        ("gaps", "gaps <@UREP1|rep1>", "UMARK"),
        ("gaps without numbers", f"gaps {NO_DATA[0]}", "UMARK"),
        ("me", "me", "UREP1"),
        ("team", "team", "UMARK"),
        ("team of a division", "team", "UDANA"),
        ("archive", "archive <@UREP6|rep6>", "UMIA"),
        ("help", "help", "UMARK"),
    ]:
        step(
            f"/coach {name}",
            lambda text=text, user=user: bot.command(text, user),
            expect={"response_url": 1},
        )
    step(
        "team chart",
        lambda: click(bot, "UMARK", "chart_show", "rep1@example.com"),
        expect={"response_url": 1},
    )
    step(
        "keep last month's focus: refusals",
        lambda: click(bot, "UMARK", "plan_keep", "rep1@example.com|2026-11"),
        lambda: click(bot, "UMARK", "plan_keep", "rep2@example.com|2026-11"),
        expect={"response_url": 2},
    )
    step(
        "keep last month's focus: kept, DMs",
        lambda: click(bot, "UMIA", "plan_keep", "rep6@example.com|2026-11"),
        expect={"response_url": 1, "chat.postMessage": 2, "views.publish": 2},
    )
    for user in ("UMARK", "UREP1", "UDANA"):
        body = event_body({"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home"})
        step(
            f"App Home of {user}",
            lambda body=body: bot.post(body, headers={"Content-Type": "application/json"}),
            expect={"views.publish": 1},
        )
    step("day two", lambda: cadence.run("day-two", month="2026-11"))
    step("daily post", lambda: cadence.run("daily", month="2026-10-15"))

    calls = quiet(slack)
    found = [leak for call in calls for leak in leaks(call.method, call.params, HOSTILE)]
    found += [leak for method, params in answers for leak in leaks(method, params, HOSTILE)]
    assert found == []
    # Nor is a bare "@here" typed into a name turned into a ping: Slack links names only on request.
    assert not [c for c in calls if c.params.get("link_names") or c.params.get("parse") == "full"]

    # Not vacuous: hostile text reached each step, escaped, and stayed as typed in plain_text.
    def shown(start: int, end: int) -> list[tuple[str, str]]:
        return [t for c in calls[start:end] for t in rendered(c.method, c.params)]

    for name, (start, end) in steps.items():
        texts = shown(start, end)
        assert texts, f"{name}: nothing sent"
        if name not in ("/coach help", "reflection modal"):  # these show nothing typed in mrkdwn
            assert any(k == "mrkdwn" and "&lt;" in t for k, t in texts), name
    plain = [t for k, t in shown(0, len(calls)) if k == "plain_text"]
    assert any(NAMES["rep1@example.com"] in t for t in plain)  # e.g. the plan DM's header
    reflection = _last_view(bot, "views.open", "reflection_submit")
    initial = [b["element"].get("initial_value") for b in reflection["blocks"] if "element" in b]
    assert initial == list(REFLECTION.values())  # inputs are prefilled as typed
    posted = {c.params["channel"] for c in calls if c.method == "chat.postMessage"}
    assert "C0PROGRESS" in posted and "UDANA" in posted  # the daily post and the digest went
