"""Day one against the stand-in: each manager's thread, each rep's invitation, exactly once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import time_machine

from bot.cadence.jobs import Cadence
from tests.bot.conftest import Bot, blocks_text, metadata_keys


@pytest.fixture(autouse=True)
def november_first() -> Iterator[None]:
    """9:30 UTC on November 1st, 2026: data runs through October."""
    with time_machine.travel("2026-11-01 09:30:00+00:00", tick=True):
        yield


def test_day_one_sends_a_thread_per_manager_and_an_invitation_per_rep(
    bot: Bot, cadence: Cadence
) -> None:
    [run] = cadence.run("day-one", month="2026-11")
    # 2 managers × (1 parent + 5 replies) + 10 reps' invitations
    assert (run.summary.sent, run.summary.failed, run.summary.skipped) == (22, 0, 0)
    keys = Counter(metadata_keys(bot.slack))
    assert len(keys) == 22 and set(keys.values()) == {1}
    posts = bot.slack.calls_to("chat.postMessage")
    mark = [p.params for p in posts if p.params["channel"] == "UMARK"]
    assert len(mark) == 1  # the parent goes to the user id; replies go to its DM channel
    parent = mark[0]
    assert parent["text"] == "November 1:1s — 5 reps, 5 with no plan last month"
    thread = [p.params for p in posts if p.params.get("thread_ts")]
    assert len(thread) == 10
    rep1 = next(p for p in thread if "Rep 1:" in p["text"])
    text = blocks_text(rep1)
    assert "*Close rate*: Closes 10% of demos — team median 33%" in text
    assert "Create plan" in text and "Keep last month" not in text  # no plan last month
    invites = [p.params for p in posts if p.params["text"].startswith("Your November 1:1")]
    assert len(invites) == 10
    # rep10 had no Slack id: found by email and remembered
    assert any(
        c.params.get("email") == "rep10@example.com"
        for c in bot.slack.calls_to("users.lookupByEmail")
    )


def test_a_second_run_sends_nothing(bot: Bot, cadence: Cadence) -> None:
    cadence.run("day-one", month="2026-11")
    before = len(bot.slack.calls_to("chat.postMessage"))
    [run] = cadence.run("day-one", month="2026-11")
    assert (run.summary.sent, run.summary.already) == (0, 22)
    assert len(bot.slack.calls_to("chat.postMessage")) == before
    assert run.line() == "day-one 2026-11: 0 sent, 22 already sent, 0 skipped, 0 failed"


def test_slack_failures_skip_or_fail_one_person_and_the_rest_goes_on(
    bot: Bot, cadence: Cadence
) -> None:
    bot.slack.fail(
        "chat.postMessage", error="user_not_found", when=lambda p: p.get("channel") == "UREP3"
    )
    bot.slack.fail(
        "chat.postMessage", error="account_inactive", when=lambda p: p.get("channel") == "UMIA"
    )
    bot.slack.fail("chat.postMessage", status=429, retry_after=0, times=2)
    bot.slack.fail("chat.postMessage", status=500, when=lambda p: p.get("channel") == "UREP4")
    [run] = cadence.run("day-one", month="2026-11")
    # Mia's thread (6) and rep3's invitation skipped; rep4's invitation failed after retries.
    assert (run.summary.sent, run.summary.skipped, run.summary.failed) == (14, 7, 1)
    assert any("rep4@example.com" in p and "failed" in p for p in run.summary.problems)
    assert any("mia@example.com" in p and "account_inactive" in p for p in run.summary.problems)
    # A rerun retries only the failure; the skipped stay skipped for the month.
    bot.slack._faults.clear()
    [again] = cadence.run("day-one", month="2026-11")
    assert (again.summary.sent, again.summary.skipped, again.summary.already) == (1, 7, 14)


def test_an_answer_lost_in_a_timeout_is_found_in_slack_not_sent_again(
    bot: Bot, cadence: Cadence
) -> None:
    assert cadence.client is not None
    cadence.client.timeout = 1  # Slack posts rep4's invitation but the answer never arrives
    bot.slack.slow("chat.postMessage", 3, when=lambda p: p.get("channel") == "UREP4", times=1)
    [run] = cadence.run("day-one", month="2026-11")
    assert (run.summary.sent, run.summary.failed) == (22, 0)
    keys = Counter(metadata_keys(bot.slack))
    assert len(keys) == 22 and set(keys.values()) == {1}
    assert bot.slack.calls_to("conversations.history")  # it looked before it would resend


def test_someone_slack_does_not_know_is_skipped_once_for_the_month(
    bot: Bot, cadence: Cadence
) -> None:
    bot.slack.fail("users.lookupByEmail", error="users_not_found")  # rep10 is not in Slack
    with time_machine.travel("2026-11-01 09:05:00+00:00", tick=False):
        [run] = cadence.tick()
    assert (run.summary.sent, run.summary.skipped) == (21, 1)
    assert any("rep10@example.com: no Slack account" in p for p in run.summary.problems)
    lookups = len(bot.slack.calls_to("users.lookupByEmail"))
    with time_machine.travel("2026-11-01 09:10:00+00:00", tick=False):
        [again] = cadence.tick()
    assert (again.summary.sent, again.summary.already, again.summary.skipped) == (0, 21, 1)
    # Settled: no second look-up for the invitation, nothing rebuilt or claimed.
    assert len(bot.slack.calls_to("users.lookupByEmail")) <= lookups + 1


def test_a_person_found_by_email_gets_day_one_at_nine_in_their_slack_zone(
    bot: Bot, cadence: Cadence
) -> None:
    bot.slack.add_user("UREP10", "rep10@example.com", tz="Asia/Tokyo")  # not in the org chart
    with time_machine.travel("2026-11-01 00:10:00+00:00", tick=False):  # 09:10 in Tokyo
        [run] = cadence.tick()
    assert run.summary.sent == 1
    [post] = bot.slack.calls_to("chat.postMessage")
    assert post.params["channel"] == "UREP10"
