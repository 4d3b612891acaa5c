"""Performance improvement plans over HTTP, against the local Slack stand-in: created (with and
without prior plans), acknowledged, checked in on their rhythm, judged at the end, extended and
ended; and seen by exactly the rep, their manager chain and admins.

One org for the module; each test works on its own rep (the module's tests may run on any
worker, in any order)."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from slack_sdk.models.blocks import Block
from sqlalchemy import select, update

from bot.cadence.jobs import Cadence
from bot.coaching.archive import lessons_for
from bot.coaching.services import VERSION_SECONDS
from bot.demo.standin import SlackStandIn, event_body
from storage.counts import put_counts
from storage.db import make_engine, session_scope, upgrade
from storage.models import Person, Pip, Workspace
from storage.plans import FocusInput, save_plan
from tests.bot.conftest import (
    ORG,
    REPS_OF_MARK,
    REPS_OF_MIA,
    Bot,
    make_cadence,
    metadata_keys,
    seed,
    serve_bot,
    wait_until,
)
from tests.bot.test_block_limits import check_view
from tests.bot.test_cadence_e2e import click
from tests.bot.test_calendar_e2e import keyed
from tests.bot.test_checkin_e2e import submit_view
from tests.in_process import Ran, run_coach

HOSTILE = '=HYPERLINK("https://evil.example") <!channel> & <@UDANA>'


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Bot, Cadence, str]]:
    """The small org, served over HTTP, on a coaching day in November 2026."""
    url = f"sqlite:///{tmp_path_factory.mktemp('pips') / 'coach.db'}"
    upgrade(url)
    engine = make_engine(url)
    seed(engine, ["2026-08", "2026-09", "2026-10"])
    directory = {email: slack_id for email, _, _, _, _, slack_id in ORG}
    directory.update({e: f"UREP{i}" for i, e in enumerate(REPS_OF_MARK + REPS_OF_MIA, 1)})
    directory["stranger@example.com"] = "USTRANGER"
    with (
        time_machine.travel("2026-11-02 09:30:00+00:00", tick=True),
        SlackStandIn(directory) as slack,
        serve_bot(engine, slack) as bot,
    ):
        yield bot, make_cadence(engine, slack), url
    engine.dispose()


@pytest.fixture
def bot(world: tuple[Bot, Cadence, str]) -> Bot:
    return world[0]


@pytest.fixture
def cadence(world: tuple[Bot, Cadence, str]) -> Cadence:
    return world[1]


def latest_view(bot: Bot, before: int) -> dict[str, Any]:
    [*_, update] = bot.slack.wait_for("views.update", count=before + 1)
    view = update.params["view"]
    view = json.loads(view) if isinstance(view, str) else view
    check_view(view)  # slack-sdk's models: Block Kit's limits hold
    return view


def open_pip(bot: Bot, viewer: str, rep: str) -> dict[str, Any]:
    """`/coach pip <@rep>` from `viewer`: the filled modal."""
    before = len(bot.slack.calls_to("views.update"))
    bot.command(f"pip <@{rep}>", viewer)
    return latest_view(bot, before)


def press(bot: Bot, viewer: str, action_id: str, value: str) -> dict[str, Any]:
    """A button that opens a modal: the filled modal."""
    before = len(bot.slack.calls_to("views.update"))
    click(bot, viewer, action_id, value)
    return latest_view(bot, before)


def values(
    goals: list[tuple[str, str, str]],
    *,
    tracking: tuple[tuple[str, str], ...] = (("leads_prospected", "100"),),
    commitments: str = "Join three calls a week and give feedback after each",
    start: str = "2026-11-02",
    end: str = "2027-01-01",
    discussed: bool = False,
) -> dict[str, Any]:
    state: dict[str, Any] = {}

    def select_(key: str | None) -> dict[str, Any]:
        return {"type": "static_select", "selected_option": {"value": key} if key else None}

    for i in range(3):
        key, target, days = goals[i] if i < len(goals) else (None, "", None)
        state[f"goal_metric_{i + 1}"] = {"value": select_(key)}
        state[f"goal_target_{i + 1}"] = {"value": {"type": "plain_text_input", "value": target}}
        state[f"goal_deadline_{i + 1}"] = {"value": select_(days)}
    for i in range(4):
        key, level = tracking[i] if i < len(tracking) else (None, "")
        state[f"track_metric_{i + 1}"] = {"value": select_(key)}
        state[f"track_level_{i + 1}"] = {"value": {"type": "plain_text_input", "value": level}}
    state["commitments"] = {"value": {"type": "plain_text_input", "value": commitments}}
    state["rhythm"] = {"value": {"type": "radio_buttons", "selected_option": {"value": "weekly"}}}
    state["start"] = {"value": {"type": "datepicker", "selected_date": start}}
    state["end"] = {"value": {"type": "datepicker", "selected_date": end}}
    chosen = [{"value": "yes"}] if discussed else []
    state["discussed"] = {"value": {"type": "checkboxes", "selected_options": chosen}}
    return state


def submit(
    bot: Bot, viewer: str, view: dict[str, Any], state: dict[str, Any], view_id: str = "V1"
) -> dict[str, Any] | None:
    """Submit a modal; its inline errors, or None when it was accepted."""
    status, body = submit_view(bot, viewer, {**view, "id": view_id}, state)
    assert status == 200
    return json.loads(body)["errors"] if body else None


def pip_of(bot: Bot, email: str) -> Pip | None:
    with session_scope(bot.engine) as session:
        rep = session.scalar(select(Person).where(Person.email == email))
        pip = session.scalar(select(Pip).where(Pip.rep_id == rep.id))  # type: ignore[union-attr]
        if pip is not None:
            _ = (pip.metrics, pip.checkins, pip.events)  # loaded before the session closes
            session.expunge_all()
        return pip


def create(bot: Bot, rep: str, email: str, goals: list[tuple[str, str, str]], **kw: Any) -> Pip:
    """A PIP made through the modal by the rep's manager; waits until both DMs are out."""
    manager = "UMARK" if email in REPS_OF_MARK else "UMIA"
    view = open_pip(bot, manager, rep)
    assert submit(bot, manager, view, values(goals, discussed=True, **kw)) is None
    wait_until(lambda: (p := pip_of(bot, email)) is not None and p.rep_dm_ts is not None)
    pip = pip_of(bot, email)
    assert pip is not None
    return pip


@pytest.fixture(scope="module")
def running(world: tuple[Bot, Cadence, str]) -> Pip:
    """Rep 1's PIP, made by Mark: one goal, one tracking metric, a hostile commitment."""
    return create(
        world[0],
        "UREP1",
        "rep1@example.com",
        [("close_rate", "20%", "60")],
        commitments=f"{HOSTILE}\nJoin three calls a week",
    )


def texts(bot: Bot, user: str) -> str:
    """Everything in `user`'s DM with the bot, blocks included."""
    return json.dumps(bot.slack.posted(user), ensure_ascii=False)


def test_without_prior_plans_the_manager_confirms_it_is_no_surprise(bot: Bot) -> None:
    view = open_pip(bot, "UMARK", "UREP3")
    assert view["callback_id"] == "pip_submit"
    shown = json.dumps(view)
    assert "Rep 3 had no coaching plan in the last 3 months" in shown
    goals = [("close_rate", "40%", "60")]
    errors = submit(bot, "UMARK", view, values(goals))
    assert errors is not None and "must never be a surprise" in errors["discussed"]
    assert pip_of(bot, "rep3@example.com") is None
    assert submit(bot, "UMARK", view, values(goals, discussed=True)) is None
    # The submit acks before it saves: the PIP lands just after the answer.
    wait_until(lambda: pip_of(bot, "rep3@example.com") is not None)
    pip = pip_of(bot, "rep3@example.com")
    assert pip is not None and pip.discussed and pip.rhythm_days == 7
    assert [(e.action, e.detail["discussed"]) for e in pip.events] == [("created", True)]
    # The rep gets it by DM with an Acknowledge button; the manager sees it isn't acknowledged.
    bot.slack.wait_for("chat.postMessage", count=2)
    assert "pip_ack" in texts(bot, "UREP3") and "pip_checkin_open" not in texts(bot, "UREP3")
    manager = texts(bot, "UMARK")
    assert "Not acknowledged by Rep 3 yet" in manager and "pip_checkin_open" in manager


def test_with_a_prior_plan_on_the_metric_no_confirmation_is_asked(bot: Bot) -> None:
    with session_scope(bot.engine) as session:
        ids = dict(session.execute(select(Person.email, Person.id)).all())
        save_plan(
            session,
            workspace_id="default",
            rep_id=ids["rep6@example.com"],
            author_id=ids["mia@example.com"],
            month="2026-10",
            focus=[FocusInput("close_rate", 0.2, 0.3, 0.3)],
            why="Closing",
            actions=["Record two demos"],
            checkin_dates=[],
        )
    view = open_pip(bot, "UMIA", "UREP6")
    assert "Coached in the last 3 months on: Close rate" in json.dumps(view)
    goal = view["blocks"][2]  # prefilled from the rep's gaps and history
    assert goal["block_id"] == "goal_metric_1" and goal["element"]["initial_option"]
    assert submit(bot, "UMIA", view, values([("close_rate", "45%", "30")])) is None
    wait_until(lambda: pip_of(bot, "rep6@example.com") is not None)  # saved just after the ack
    pip = pip_of(bot, "rep6@example.com")
    assert pip is not None and not pip.discussed


@pytest.mark.parametrize(
    ("goals", "extra", "block", "needle"),
    [
        ([("close_rate", "lots", "60")], {}, "goal_target_1", "isn't a number"),
        ([("close_rate", "5%", "60")], {}, "goal_target_1", "Aim past today"),
        ([("close_rate", "40%", "90")], {}, "goal_deadline_1", "after the PIP's end"),
        ([], {}, "goal_metric_1", "at least one goal"),
        ([("close_rate", "40%", "60")], {"commitments": " \n"}, "commitments", "commitments"),
        ([("close_rate", "40%", "60")], {"end": "2026-10-30"}, "end", "after the start"),
        (
            [("close_rate", "40%", "60")],
            {"tracking": (("leads_prospected", "1,5"),)},
            "track_level_1",
            "did you mean",
        ),
    ],
)
def test_bad_input_is_answered_inline(
    bot: Bot, goals: list[tuple[str, str, str]], extra: dict[str, Any], block: str, needle: str
) -> None:
    view = open_pip(bot, "UMARK", "UREP4")
    errors = submit(bot, "UMARK", view, values(goals, discussed=True, **extra))
    assert errors is not None and needle.lower() in errors[block].lower()
    assert pip_of(bot, "rep4@example.com") is None


def test_the_rep_acknowledges_and_the_manager_sees_when(bot: Bot, running: Pip) -> None:
    before = len(bot.slack.calls_to("response_url"))
    click(bot, "UMARK", "pip_ack", str(running.id))  # only the rep can
    [*_, refused] = bot.slack.wait_for("response_url", count=before + 1)
    assert "Only the rep" in refused.params["text"]
    click(bot, "UREP1", "pip_ack", str(running.id))
    wait_until(lambda: (p := pip_of(bot, "rep1@example.com")) is not None and p.acknowledged_at)
    bot.slack.wait_for("chat.update", count=2)
    pip = pip_of(bot, "rep1@example.com")
    assert pip is not None and [e.action for e in pip.events].count("acknowledged") == 1
    assert "Acknowledged by Rep 1 on Nov 2, 2026" in texts(bot, "UMARK")
    assert "pip_ack" not in texts(bot, "UREP1")


def test_check_ins_come_on_the_rhythm_and_log_commitments(
    bot: Bot, cadence: Cadence, running: Pip
) -> None:
    with time_machine.travel("2026-11-08 09:30:00+00:00", tick=False):
        assert sum(r.summary.sent for r in cadence.run("pips")) == 0  # not a check-in day
    with time_machine.travel("2026-11-09 09:30:00+00:00", tick=False):
        [first] = cadence.run("pips")
        [again] = cadence.run("pips")
    assert first.summary.sent >= 1 and again.summary.sent == 0  # exactly once
    assert metadata_keys(bot.slack).count(f"pip:{running.id}:checkin:2026-11-09") == 1
    due = next(
        m
        for m in bot.slack.posted("UMARK")
        if "check-in due today" in m["text"] and "Rep 1" in m["text"]
    )
    assert due["thread_ts"] == running.dm_ts  # in the PIP's thread
    refused = press(bot, "UREP2", "pip_checkin_open", str(running.id))
    assert "callback_id" not in refused
    view = press(bot, "UMARK", "pip_checkin_open", str(running.id))
    labels = json.dumps(view)
    assert "weekly level" in labels and "Join three calls a week" in labels
    state = {
        "date": {"value": {"type": "datepicker", "selected_date": "2026-11-09"}},
        "track_value_1": {"value": {"type": "plain_text_input", "value": "80"}},
        "kept": {"value": {"type": "checkboxes", "selected_options": [{"value": "0"}]}},
        "notes": {"value": {"type": "plain_text_input", "value": HOSTILE}},
    }
    assert submit(bot, "UMARK", view, state, view_id="VCHECK") is None
    assert submit(bot, "UMARK", view, state, view_id="VCHECK") is None  # a double click
    pip = pip_of(bot, "rep1@example.com")
    assert pip is not None and len(pip.checkins) == 1
    checkin = pip.checkins[0]
    assert (checkin.values, checkin.kept) == ({"leads_prospected": 80.0}, [HOSTILE])
    assert checkin.missed == ["Join three calls a week"]

    def checkin_replies() -> list[dict[str, Any]]:
        return [
            c.params
            for c in bot.slack.calls_to("chat.postMessage")
            if "Commitments kept: 1 of 2" in c.params.get("text", "")
        ]

    # The check-in is posted to both threads after the submission is acknowledged.
    wait_until(lambda: len(checkin_replies()) >= 2, timeout=15)
    replies = checkin_replies()
    assert {r["thread_ts"] for r in replies} == {running.dm_ts, running.rep_dm_ts}
    assert "<!channel>" not in replies[0]["text"] and "&lt;!channel&gt;" in replies[0]["text"]


def add_months(bot: Bot, email: str, months: dict[str, dict[str, float]]) -> None:
    with session_scope(bot.engine) as session:
        rep_id = session.scalar(select(Person.id).where(Person.email == email))
        assert rep_id is not None
        for month, counts in months.items():
            put_counts(session, "default", rep_id, month, counts)


def test_end_date_verdicts_then_extend_then_end(bot: Bot, cadence: Cadence) -> None:
    pip = create(
        bot,
        "UREP2",
        "rep2@example.com",
        [("close_rate", "50%", "60"), ("leads_prospected", "450", "60"), ("win_rate", "70%", "30")],
    )
    month = {"leads_prospected": 500, "connects": 150, "discovery_calls": 70, "demos": 30}
    add_months(bot, "rep2@example.com", {m: {**month, "wins": 5} for m in ("2026-11", "2026-12")})
    with time_machine.travel("2027-01-01 09:30:00+00:00", tick=False):
        [run] = cadence.run("pips")
    assert run.summary.failed == 0
    assert metadata_keys(bot.slack).count(f"pip:{pip.id}:end:2027-01-01") == 1
    end = next(m for m in bot.slack.posted("UMARK") if "Rep 2's PIP ends today" in m["text"])
    shown = json.dumps(end["blocks"])
    for block in json.loads(shown):
        Block.parse(block).validate_json()
    # 10 of 60 demos is credibly short of 50%; 500 leads a month met 450; no losses: can't tell.
    assert ":x: not met" in shown and ":white_check_mark: met" in shown
    assert "not enough data" in shown
    with time_machine.travel("2027-01-01 10:00:00+00:00", tick=True):
        view = press(bot, "UMARK", "pip_decide_open", str(pip.id))
        bad = {
            "decision": {
                "value": {"type": "radio_buttons", "selected_option": {"value": "extended"}}
            },
            "new_end": {"value": {"type": "datepicker", "selected_date": "2026-12-01"}},
        }
        errors = submit(bot, "UMARK", view, bad)
        assert errors is not None and "after the current one" in errors["new_end"]
        bad["new_end"]["value"]["selected_date"] = "2027-02-01"
        assert submit(bot, "UMARK", view, bad) is None
        extended = pip_of(bot, "rep2@example.com")
        assert extended is not None and extended.status == "active"
        assert str(extended.end_date) == "2027-02-01"
        assert [m.verdict for m in extended.metrics if m.role == "outcome"] == [
            "not met",
            "met",
            "not enough data",
        ]
        view = press(bot, "UMARK", "pip_decide_open", str(pip.id))
        end_it = {
            "decision": {"value": {"type": "radio_buttons", "selected_option": {"value": "ended"}}}
        }
        assert submit(bot, "UMARK", view, end_it) is None
        assert "no longer running" in json.dumps(
            press(bot, "UMARK", "pip_decide_open", str(pip.id))
        )
    ended = pip_of(bot, "rep2@example.com")
    assert ended is not None and ended.status == "ended"
    assert [e.action for e in ended.events] == [
        "created",
        "judged",
        "extended",
        "judged",
        "ended",
    ]
    assert ended.events[2].detail["old_end"] == "2027-01-01"


@pytest.mark.parametrize(
    ("viewer", "sees"),
    [
        ("UREP1", True),  # the rep
        ("UMARK", True),  # their manager
        ("UDANA", True),  # the skip-level director
        ("UALEX", True),  # an admin
        ("UREP2", False),  # a peer
        ("UMIA", False),  # another manager
        ("UDORA", False),  # another division's director
    ],
)
def test_every_role_sees_only_what_it_may(bot: Bot, running: Pip, viewer: str, sees: bool) -> None:
    view = open_pip(bot, viewer, "UREP1")
    shown = json.dumps(view)
    assert ("Performance improvement plan" in shown) is sees
    assert ("reps you coach" in shown) is not sees
    assert "callback_id" not in view  # a running PIP: nobody starts a second one


def test_a_stranger_is_told_to_get_set_up(bot: Bot, running: Pip) -> None:
    status, body = bot.command("pip <@UREP1>", "USTRANGER")
    assert status == 200 and "not set up in coach" in body and "improvement" not in body


def test_pips_stay_out_of_lessons_archive_team_views_and_digest(
    bot: Bot, cadence: Cadence, running: Pip
) -> None:
    before = len(bot.slack.calls_to("response_url"))
    bot.command("archive <@UREP1>", "UMARK")
    bot.command("team", "UMARK")
    answers = json.dumps([c.params for c in bot.slack.wait_for("response_url", count=before + 2)])
    bot.post(
        event_body({"type": "app_home_opened", "user": "UMARK", "tab": "home"}),
        {"Content-Type": "application/json"},
    )
    bot.slack.wait_for("views.publish")
    homes = json.dumps(bot.slack.home_tabs)
    for seen in (answers, homes):
        assert "improvement plan" not in seen.lower() and "Join three calls" not in seen
    with session_scope(bot.engine) as session:
        assert lessons_for(session, "default", ["close_rate"], 0, "2026-11", lambda *_: False) == {}
    cadence.run("day-two", month="2026-11")
    digest = texts(bot, "UDANA")
    assert "on a performance improvement plan" in digest  # a count per manager …
    assert "Join three calls" not in digest and "HYPERLINK" not in digest  # … nothing of it
    assert "improvement" not in texts(bot, "UDORA")


def test_export_for_hr(world: tuple[Bot, Cadence, str], running: Pip) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COACH_", "SLACK_"))}
    env.update({"DATABASE_URL": world[2], "COLUMNS": "200"})

    def export(*args: str) -> Ran:
        return run_coach("export", "pips", *args, env=env)

    out = export()
    assert out.returncode == 0, out.stderr
    rows = {r["rep_email"]: r for r in csv.DictReader(io.StringIO(out.stdout))}
    row = rows["rep1@example.com"]
    assert row["manager_email"] == "mark@example.com" and row["goal1_metric"] == "close_rate"
    assert row["goal1_target"] == "0.2" and row["goal1_deadline"] == "2027-01-01"
    assert row["commitments"].startswith("'=HYPERLINK")  # never run as a formula
    lines = [json.loads(line) for line in export("--format", "json").stdout.splitlines()]
    first = next(r for r in lines if r["rep_email"] == "rep1@example.com")
    assert first["commitments"][0] == HOSTILE  # JSON is exactly what is stored
    assert first["trail"][0]["action"] == "created"
    assert export("--since", "2026-12-01").stdout.count("\n") == 1  # the header only
    assert export("--since", "soon").returncode == 1


def test_coach_run_pips_by_hand(world: tuple[Bot, Cadence, str], running: Pip) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COACH_", "SLACK_"))}
    env.update({"DATABASE_URL": world[2], "COLUMNS": "200"})

    def run(*args: str) -> Ran:
        return run_coach("run", "pips", *args, env=env)

    dry = run("--day", "2026-11-16", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"pip:{running.id}:checkin:2026-11-16 (would send)" in dry.stdout
    wrong = run("--month", "2026-11")
    assert wrong.returncode == 1 and "pips takes --day" in wrong.stderr


def test_after_a_reorg_reminders_go_to_the_reps_current_manager(bot: Bot) -> None:
    pip = create(bot, "UREP5", "rep5@example.com", [("close_rate", "40%", "60")])
    with session_scope(bot.engine) as session:  # Rep 5 moves from Mark's team to Mia's
        mia = session.scalar(select(Person.id).where(Person.email == "mia@example.com"))
        session.execute(
            update(Person).where(Person.email == "rep5@example.com").values(manager_id=mia)
        )
        session.execute(update(Workspace).values(data_version=Workspace.data_version + 1))
    cadence = make_cadence(bot.engine, bot.slack)
    with time_machine.travel("2026-11-16 09:30:00+00:00", tick=False):
        cadence.run("pips")
        assert all(not r.batches for r in cadence.plan("pips"))  # exactly once
    key = f"pip:{pip.id}:checkin:2026-11-16"
    assert metadata_keys(bot.slack).count(key) == 1
    assert keyed(bot, "UMARK", f"pip:{pip.id}:checkin") == []
    [due] = keyed(bot, "UMIA", key)
    assert "set up by Mark Manager" in json.dumps(due["blocks"]) and not due.get("thread_ts")
    [moved] = keyed(bot, "UMARK", f"pip:{pip.id}:lead:")
    assert moved["thread_ts"] == pip.dm_ts and "now go to Mia Manager" in moved["text"]
    time.sleep(VERSION_SECONDS)  # the bot sees the new org chart
    assert "callback_id" in press(bot, "UMIA", "pip_checkin_open", str(pip.id))
    # Its author forgotten, the PIP's reminders still reach the rep's manager.
    with session_scope(bot.engine) as session:
        session.execute(update(Pip).where(Pip.id == pip.id).values(author_id=None))
    with time_machine.travel("2026-11-23 09:30:00+00:00", tick=False):
        cadence.run("pips")
    [due] = keyed(bot, "UMIA", f"pip:{pip.id}:checkin:2026-11-23")
    assert "set up by a previous manager" in json.dumps(due["blocks"])
    assert len(keyed(bot, "UMARK", f"pip:{pip.id}:lead:")) == 1


def test_a_valid_pip_is_acknowledged_before_the_slow_save(bot: Bot) -> None:
    view = open_pip(bot, "UMIA", "UREP7")
    # Another writer holds the database for 4 seconds: the save waits, Slack's 3 seconds don't.
    lock = sqlite3.connect(bot.engine.url.database or "", check_same_thread=False)
    lock.execute("BEGIN IMMEDIATE")
    threading.Timer(4.0, lock.rollback).start()
    started = time.monotonic()
    assert submit(bot, "UMIA", view, values([("close_rate", "40%", "60")], discussed=True)) is None
    assert time.monotonic() - started < 3.0
    wait_until(lambda: (p := pip_of(bot, "rep7@example.com")) is not None and p.rep_dm_ts, 15)
    lock.close()
