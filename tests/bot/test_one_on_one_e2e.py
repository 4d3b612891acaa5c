"""The weekly 1:1 end to end, over HTTP against the Slack stand-in, with a frozen clock: 1:1
times set from App Home, the rep's topics, the manager's prep before each 1:1 in their own
time, time off and holidays, and the workspace's settings changed by an admin."""

from __future__ import annotations

import json
from datetime import date, time
from typing import Any

import time_machine
from sqlalchemy import select

from bot.cadence.jobs import Cadence
from bot.demo.standin import TEAM_ID, new_trigger_id
from storage.counts import put_counts
from storage.db import session_scope
from storage.models import OneOnOneTopics, PartialMonth, Person, WorkspaceSettings
from tests.bot.conftest import Bot, blocks_text, make_cadence, metadata_keys
from tests.bot.test_cadence_e2e import click, make_plan, person_id
from tests.bot.test_calendar_e2e import keyed, set_person
from tests.bot.test_team_home_e2e import home_of

# Tuesday, December 8, 2026, 14:00 in Berlin (13:00 UTC): Rep 1's weekly 1:1 with Mark.
BERLIN = "Europe/Berlin"


def view_of(call_params: dict[str, Any]) -> dict[str, Any]:
    view = call_params["view"]
    return json.loads(view) if isinstance(view, str) else view


def submit(bot: Bot, user: str, view: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """Submit `view` as `user` with text inputs `values`; Slack's answer (JSON, or {})."""
    state = {b: {"value": {"type": "plain_text_input", "value": v}} for b, v in values.items()}
    status, body = bot.interact(
        {
            "type": "view_submission",
            "team": {"id": TEAM_ID, "domain": "coach-test"},
            "user": {"id": user, "team_id": TEAM_ID},
            "api_app_id": "A0C0ACH01",
            "trigger_id": new_trigger_id(),
            "view": {
                "id": "V1",
                "type": "modal",
                "callback_id": view["callback_id"],
                "private_metadata": view["private_metadata"],
                "blocks": view["blocks"],
                "state": {"values": state},
            },
        }
    )
    assert status == 200
    return json.loads(body) if body else {}


def weekly(bot: Bot, email: str, weekday: int, at: str) -> None:
    set_person(bot, email, one_on_one_weekday=weekday, one_on_one_time=time.fromisoformat(at))


def december_so_far(bot: Bot, email: str, demos: float, wins: float) -> None:
    """Month-to-date counts of December through Monday the 7th."""
    rep = person_id(bot, email)
    with session_scope(bot.engine) as session:
        put_counts(
            session,
            "default",
            rep,
            "2026-12",
            {"demos": demos, "wins": wins, "losses": 2.0, "discovery_calls": 20.0},
        )
        session.add(
            PartialMonth(
                workspace_id="default", person_id=rep, month="2026-12", through=date(2026, 12, 7)
            )
        )


def ticks(cadence: Cadence, *moments: str) -> int:
    """Tick at each UTC moment; the messages sent."""
    sent = 0
    for moment in moments:
        with time_machine.travel(f"{moment}+00:00", tick=False):
            sent += sum(r.summary.sent for r in cadence.tick() if r.job == "one-on-one")
    return sent


def test_prep_goes_thirty_minutes_before_with_the_reps_topics_and_numbers(
    bot: Bot, cadence: Cadence
) -> None:
    set_person(bot, "mark@example.com", timezone=BERLIN)
    set_person(bot, "rep1@example.com", timezone=BERLIN)
    weekly(bot, "rep1@example.com", 1, "14:00")
    make_plan(bot, "rep1@example.com", "2026-12", "close_rate", 0.1, 0.33, 0.2)
    december_so_far(bot, "rep1@example.com", demos=20, wins=3)
    # Monday the 7th, 09:30 in Berlin: Rep 1 is asked for topics (and nobody else).
    assert ticks(cadence, "2026-12-07 08:30:00", "2026-12-07 08:35:00") == 1
    [prompt] = keyed(bot, "UREP1", "topics:2026-12-08")
    assert "Tuesday, December 8, 14:00" in prompt["text"]
    click(bot, "UREP1", "topics_open", "2026-12-08")
    [opened] = bot.slack.wait_for("views.open")
    modal = view_of(opened.params)
    assert modal["callback_id"] == "topics_submit"
    answer = submit(bot, "UREP1", modal, {"topics": "Acme <!channel> renewal\n- My Q1 territory"})
    assert answer["response_action"] == "update"
    with session_scope(bot.engine) as session:
        assert session.scalar(select(OneOnOneTopics.topics)).startswith("Acme")
    # 13:29 in Berlin: not yet; 13:30: the prep, once however often the scheduler ticks.
    assert ticks(cadence, "2026-12-08 12:29:00") == 0
    assert ticks(cadence, "2026-12-08 12:30:00", "2026-12-08 12:35:00", "2026-12-08 12:59:00") == 1
    assert ticks(cadence, "2026-12-08 13:00:00") == 0  # the 1:1 has started: nothing more
    [prep] = keyed(bot, "UMARK", "one-on-one:2026-12-08:manager:")
    text = blocks_text(prep)
    assert prep["text"] == "1:1 prep: Rep 1, Tuesday, December 8, 14:00"
    assert "*This 1:1 is a success if* you agree the one thing Rep 1 does this week" in text
    assert "Acme &lt;!channel&gt; renewal" in text and "My Q1 territory" in text
    # 3 wins of 5 decided deals … the catalogue's close rate on December so far, vs the target.
    assert "(through Monday, December 7)" in text and "month to date" in text
    assert "target needs 20%" in text
    assert "Last check-in:* none logged yet" in text
    assert "no CRM connected" in text
    assert "Record 2 demos" in text  # next steps: the plan's actions not done yet
    # The Log check-in button opens the check-in modal, prefilled for Rep 1.
    with time_machine.travel("2026-12-08 12:35:00+00:00", tick=True):
        click(bot, "UMARK", "checkin_open", "rep1@example.com")
        [*_, filled] = bot.slack.wait_for("views.update")
    assert view_of(filled.params)["callback_id"] == "checkin_submit"
    assert "Rep 1" in json.dumps(view_of(filled.params))
    keys = [k for k in metadata_keys(bot.slack) if k.startswith(("one-on-one", "topics"))]
    assert len(keys) == len(set(keys)) == 2
    # Rep 1 changes the topics after the prep went out: Mark gets them as a reply under it.
    [sent] = [
        c
        for c in bot.slack.calls_to("chat.postMessage")
        if c.params.get("metadata", {}).get("event_payload", {}).get("key", "").startswith("one-")
    ]
    posts = len(bot.slack.calls_to("chat.postMessage"))
    click(bot, "UREP1", "topics_open", "2026-12-08")
    [*_, reopened] = bot.slack.wait_for("views.open", count=3)
    again = view_of(reopened.params)
    assert "My Q1 territory" in json.dumps(again)  # prefilled with what was saved
    answer = submit(bot, "UREP1", again, {"topics": "Acme renewal\nPricing <!here> & terms"})
    assert "already went out" in json.dumps(answer)
    [*_, late] = bot.slack.wait_for("chat.postMessage", count=posts + 1)
    assert late.params["thread_ts"] == sent.response["ts"]
    assert late.params["channel"] == sent.response["channel"]
    assert "Rep added topics after this prep went out" in late.params["text"]
    assert "Pricing &lt;!here&gt; &amp; terms" in blocks_text(late.params)


def test_a_slack_vacation_status_defers_a_1_1_prep(bot: Bot, cadence: Cadence) -> None:
    set_person(bot, "mark@example.com", timezone=BERLIN)
    weekly(bot, "rep1@example.com", 1, "14:00")
    weekly(bot, "rep2@example.com", 1, "16:00")
    # Mark's "Vacationing" status clears at noon UTC on Wednesday the 9th: after 09:00 in
    # Berlin, so he is out that day too and back on Thursday the 10th.
    bot.slack.set_status("UMARK", ":palm_tree:", "Vacationing", expiration=1796817600)
    ticks(cadence, "2026-12-08 12:35:00", "2026-12-08 14:35:00")
    ticks(cadence, "2026-12-09 08:30:00", "2026-12-09 13:00:00")
    assert keyed(bot, "UMARK", "one-on-one") == []
    # Thursday, 09:00 in Berlin: both of Tuesday's preps, once, saying why they are late.
    ticks(cadence, "2026-12-10 07:59:00")
    assert keyed(bot, "UMARK", "one-on-one") == []
    ticks(cadence, "2026-12-10 08:00:00", "2026-12-10 08:05:00", "2026-12-10 15:00:00")
    preps = keyed(bot, "UMARK", "one-on-one:2026-12-08")
    assert len(preps) == 2
    assert all("fell while you were away" in blocks_text(p) for p in preps)
    # Rep 2 (in UTC) was asked about the 1:1 in their own time; Mark's vacation holds back
    # only his own messages.
    [prompt] = keyed(bot, "UREP2", "topics:2026-12-08")
    assert "is Tuesday, December 8, 15:00:" in prompt["text"]
    # The next week's come as usual, on time.
    ticks(cadence, "2026-12-15 12:30:00", "2026-12-15 14:30:00")
    assert len(keyed(bot, "UMARK", "one-on-one:2026-12-15")) == 2
    keys = metadata_keys(bot.slack)
    assert len(keys) == len(set(keys))


def test_no_prep_on_a_public_holiday_and_an_away_rep_gets_no_prompt(
    bot: Bot, cadence: Cadence
) -> None:
    set_person(bot, "mark@example.com", timezone=BERLIN, country="DE")
    weekly(bot, "rep1@example.com", 4, "10:00")  # Fridays: December 25 is Christmas
    weekly(bot, "rep2@example.com", 3, "10:00")  # Thursdays
    set_person(bot, "rep2@example.com", away_until=date(2026, 12, 24))
    sent = ticks(cadence, "2026-12-23 08:30:00", "2026-12-24 08:35:00", "2026-12-25 08:35:00")
    assert sent == 1
    assert keyed(bot, "UREP1", "topics") == [] and keyed(bot, "UREP2", "topics") == []
    [prep] = keyed(bot, "UMARK", "one-on-one")
    assert "one-on-one:2026-12-24" in json.dumps(prep["metadata"])
    assert "Rep 2 is away until Thursday, December 24: move or skip this 1:1" in blocks_text(prep)


def test_managers_set_1_1_times_from_app_home_with_inline_errors(bot: Bot) -> None:
    set_person(bot, "mark@example.com", timezone=BERLIN)
    click(bot, "UMARK", "one_on_one_open", "open")
    [*_, filled] = bot.slack.wait_for("views.update")
    modal = view_of(filled.params)
    assert modal["callback_id"] == "one_on_one_submit"
    assert "Europe/Berlin" in json.dumps(modal) and "30 minutes before" in json.dumps(modal)
    ids = json.loads(modal["private_metadata"])["reps"]
    assert len(ids) == 5
    answer = submit(
        bot, "UMARK", modal, {f"rep_{ids[0]}": "Tue 14:00", f"rep_{ids[1]}": "Tuesday at 2"}
    )
    assert answer == {
        "response_action": "errors",
        "errors": {
            f"rep_{ids[1]}": "'Tuesday at 2' is not a weekday and a 24-hour time, e.g. Tue 14:00"
        },
    }
    with session_scope(bot.engine) as session:
        assert session.scalar(select(Person.one_on_one_weekday).where(Person.id == ids[0])) is None
    assert (
        submit(bot, "UMARK", modal, {f"rep_{ids[0]}": "tue 14:00", f"rep_{ids[1]}": "Fri 9:30"})
        == {}
    )
    with session_scope(bot.engine) as session:
        slots = {
            p.id: (p.one_on_one_weekday, p.one_on_one_time)
            for p in session.scalars(select(Person).where(Person.id.in_(ids[:3])))
        }
    assert slots == {ids[0]: (1, time(14)), ids[1]: (4, time(9, 30)), ids[2]: (None, None)}
    [*_, home] = bot.slack.wait_for("views.publish")
    assert "*2 of 5* reps scheduled" in json.dumps(view_of(home.params))
    # Someone else's reps are not theirs to schedule.
    assert "rep_" in json.dumps(submit(bot, "UMIA", modal, {f"rep_{ids[0]}": "Mon 10:00"}))


def test_admins_change_the_workspace_settings_and_the_cadence_follows(bot: Bot) -> None:
    set_person(bot, "mark@example.com", timezone="UTC")
    click(bot, "UMARK", "settings_open", "open")
    [refused] = bot.slack.wait_for("views.open")
    assert "Only coach's admins" in json.dumps(view_of(refused.params))
    click(bot, "UALEX", "settings_open", "open")
    [_, opened] = bot.slack.wait_for("views.open", count=2)
    modal = view_of(opened.params)
    assert modal["callback_id"] == "settings_submit"
    answer = submit(
        bot,
        "UALEX",
        modal,
        {"send_time": "25:00", "reminder_day": "4", "escalation_day": "3", "country": "Germany"},
    )
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {"send_time", "escalation_day", "country"}
    with session_scope(bot.engine) as session:
        assert session.scalar(select(WorkspaceSettings)) is None
    good = {"daily_channel": "c0progress", "one_on_one_lead": "45", "country": "de"}
    assert submit(bot, "UALEX", modal, good) == {}
    with session_scope(bot.engine) as session:
        stored = session.get(WorkspaceSettings, "default")
        assert stored is not None
        assert (stored.daily_channel, stored.one_on_one_lead, stored.country) == (
            "C0PROGRESS",
            45,
            "DE",
        )
        assert stored.send_time is None  # empty: the default
    # No COACH_DAILY_CHANNEL in the environment: the workspace's own channel gets the post,
    # and the 1:1 prep comes 45 minutes before.
    cadence = make_cadence(bot.engine, bot.slack)
    with time_machine.travel("2026-12-08 09:30:00+00:00", tick=False):
        daily = [r for r in cadence.tick() if r.job == "daily"]
    assert [(r.period, r.summary.sent) for r in daily] == [("2026-12-08", 1)]
    assert bot.slack.posted("C0PROGRESS")
    weekly(bot, "rep1@example.com", 1, "14:00")
    ticks(cadence, "2026-12-08 13:14:00")
    assert keyed(bot, "UMARK", "one-on-one") == [] and keyed(bot, "UREP1", "topics")
    ticks(cadence, "2026-12-08 13:15:00")
    assert len(keyed(bot, "UMARK", "one-on-one")) == 1


def test_a_reps_home_shows_their_next_one_on_one_in_their_own_time(bot: Bot) -> None:
    """The slot is a time in the manager's calendar; the rep sees it in their own zone, or
    with the zone named when the org chart doesn't give theirs."""
    set_person(bot, "mark@example.com", timezone=BERLIN)
    set_person(bot, "rep1@example.com", timezone="America/New_York")
    weekly(bot, "rep1@example.com", 1, "16:00")  # Tuesdays at 16:00 in Berlin
    weekly(bot, "rep2@example.com", 1, "16:00")
    weekly(bot, "rep3@example.com", 1, "16:00")
    bot.slack.add_user("UREP3", "rep3@example.com", tz="Asia/Tokyo")  # Slack's profile only
    # Tuesday Dec 1, 16:30 in Berlin: this week's has just begun, so the next is the 8th.
    with time_machine.travel("2026-12-01 15:30:00+00:00", tick=False):
        ny = json.dumps(home_of(bot, "UREP1"))
        unknown = json.dumps(home_of(bot, "UREP2"))
        tokyo = json.dumps(home_of(bot, "UREP3"))
        other = json.dumps(home_of(bot, "UREP4"))
    assert "Your weekly 1:1 with *Mark Manager*: next on *Tue 8 Dec at 10:00* (your time)" in ny
    assert "next on *Tue 8 Dec at 16:00* (CET)" in unknown
    assert "next on *Wed 9 Dec at 00:00* (your time)" in tokyo
    assert "weekly 1:1" not in other


def test_topics_saved_while_the_prep_is_on_its_way_reach_the_manager_on_their_own(
    bot: Bot,
) -> None:
    """13:31 in Berlin: the 14:00 1:1's prep is due, made but not yet recorded as sent (a
    paced run, a busy tick). Topics saved now would miss it: they go to Mark directly."""
    set_person(bot, "mark@example.com", timezone=BERLIN)
    set_person(bot, "rep1@example.com", timezone=BERLIN)
    weekly(bot, "rep1@example.com", 1, "14:00")
    with time_machine.travel("2026-12-08 12:31:00+00:00", tick=True):
        click(bot, "UREP1", "topics_open", "2026-12-08")
        [opened] = bot.slack.wait_for("views.open")
        answer = submit(bot, "UREP1", view_of(opened.params), {"topics": "Acme & <!here>"})
        assert "on its way" in json.dumps(answer)
        [own] = bot.slack.wait_for("chat.postMessage")
    assert own.params["channel"] == "UMARK" and not own.params.get("thread_ts")
    assert own.params["text"] == (
        "Rep added topics for your 1:1 on Tuesday, December 8, after its prep was made"
    )
    assert "Acme &amp; &lt;!here&gt;" in blocks_text(own.params)
