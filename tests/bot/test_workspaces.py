"""Many workspaces: installed through Bolt's OAuth flow, and never seeing each other's data.

Two workspaces hold the same people (same emails) under different Slack ids and different
numbers: Acme's rep1 closes badly, Bravo's rep2 does. Everything goes over HTTP to the served
app and through the stand-in's Web API, whose answers depend on the token's team.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from email.message import Message

import pytest
import time_machine
from sqlalchemy import Engine, func, select

from bot.cadence.workspaces import EveryWorkspace
from bot.coaching.services import Services
from bot.demo.standin import SlackStandIn, event_body
from bot.settings import ConfigError, Settings
from bot.slack.installs import SignedStateStore, installed_workspaces
from storage.db import session_scope
from storage.models import Person, WorkspaceSettings
from tests.bot.conftest import (
    ORG,
    REPS_OF_MARK,
    REPS_OF_MIA,
    SECRET,
    Bot,
    blocks_text,
    seed,
    serve_bot,
    wait_until,
)
from tests.in_process import run_coach

ACME, BRAVO = "TACME0001", "TBRAVO001"
OAUTH = {
    "SLACK_BOT_TOKEN": None,
    "SLACK_CLIENT_ID": "1111.2222",
    "SLACK_CLIENT_SECRET": "app-client-secret",
    "SLACK_STATE_SECRET": "state-secret-for-tests",
}
MONTHS = ["2026-08", "2026-09", "2026-10"]


def people_of(slack: SlackStandIn, team: str, tag: str) -> None:
    """The whole small org in a Slack team, with ids U<tag>…: same emails, other ids."""
    for email, _, _, _, _, slack_id in ORG:
        slack.add_user(f"U{tag}{slack_id[1:]}", email, team=team)
    for i, email in enumerate(REPS_OF_MARK + REPS_OF_MIA, 1):
        slack.add_user(f"U{tag}REP{i}", email, team=team)


def fetch(url: str, cookie: str | None = None) -> tuple[int, str, Message]:
    """GET `url` as a browser would (no redirects followed)."""
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), exc.headers


def install(bot: Bot, team: str, name: str, installer: str) -> tuple[int, str]:
    """An admin of `team` installs coach: the install page, Slack's consent, the redirect."""
    status, page, headers = fetch(bot.url + "/slack/install")
    assert status == 200 and "slack.com/oauth/v2/authorize" in page
    cookie = headers["Set-Cookie"].split(";")[0]
    state = re.search(r"state=([^&\"]+)", page).group(1)  # type: ignore[union-attr]
    assert cookie == f"slack-app-oauth-state={state}"
    code = bot.slack.add_team(team, name, installer=installer)
    status, page, _ = fetch(f"{bot.url}/slack/oauth_redirect?code={code}&state={state}", cookie)
    return status, page


@pytest.fixture
def two(engine: Engine) -> Iterator[Bot]:
    """The bot in multi-workspace mode with Acme and Bravo installed and seeded."""
    with SlackStandIn() as slack, serve_bot(engine, slack, **OAUTH) as bot:
        for team, name, tag in ((ACME, "Acme", "A"), (BRAVO, "Bravo", "B")):
            status, page = install(bot, team, name, f"U{tag}ALEX")
            assert status == 200, page
            people_of(slack, team, tag)
        seed(engine, MONTHS, workspace=ACME, team="A", weak=1)
        seed(engine, MONTHS, workspace=BRAVO, team="B", weak=2)
        yield bot


def settings_for(bot: Bot, **env: str) -> Settings:
    values = {
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": bot.slack.url,
        "DATABASE_URL": str(bot.engine.url),
        "COACH_SEND_RATE": "0",
        **{k: v for k, v in OAUTH.items() if v is not None},
        **env,
    }
    return Settings(**values)


def gaps_text(bot: Bot, team: str, viewer: str, rep: str, replies: int) -> str:
    bot.command(f"gaps <@{rep}|rep>", viewer, team_id=team)
    return blocks_text(bot.replies(replies)[-1])


def test_each_workspace_sees_only_its_own_data(two: Bot) -> None:
    bot, slack = two, two.slack
    acme_rep1 = gaps_text(bot, ACME, "UAMARK", "UAREP1", 1)
    bravo_rep1 = gaps_text(bot, BRAVO, "UBMARK", "UBREP1", 2)
    bravo_rep2 = gaps_text(bot, BRAVO, "UBMARK", "UBREP2", 3)
    # Same email, other numbers: Acme's rep1 has the planted close-rate gap, Bravo's doesn't.
    assert "Closes 10% of demos" in acme_rep1
    assert "No material gap this month" in bravo_rep1
    assert "Closes 10% of demos" in bravo_rep2
    # Team charts: drawn from the workspace's own peers, uploaded with its own token.
    for team, viewer, rep, count in ((ACME, "UAMARK", "rep1", 4), (BRAVO, "UBMARK", "rep2", 5)):
        bot.interact(
            {
                "type": "block_actions",
                "team": {"id": team},
                "user": {"id": viewer, "team_id": team},
                "api_app_id": "A0C0ACH01",
                "trigger_id": "1.2.3",
                "response_url": slack.response_url(),
                "actions": [
                    {"action_id": "chart_show", "value": f"{rep}@example.com", "type": "button"}
                ],
            }
        )
        assert "in your DM" in bot.replies(count)[-1]["text"]
    # Every Web API call was made with its own workspace's token…
    tokens = {c.token for c in slack.calls if c.token}
    assert {slack.team_of(t) for t in tokens} == {ACME, BRAVO}
    opened = slack.calls_to("conversations.open")
    assert [c.params["users"] for c in opened] == ["UAMARK", "UBMARK"]
    for call in opened:
        assert call.response["ok"]  # type: ignore[index]
        assert slack.team_of(call.token) == (ACME if call.params["users"] == "UAMARK" else BRAVO)
    # …and Bolt learnt each bot's ids once, not on every request.
    assert len(slack.calls_to("auth.test")) == 2 * 2  # once at install, once when first used


def test_no_crossing_between_workspaces(two: Bot) -> None:
    bot = two
    # An Acme manager naming a Bravo person: not someone coach knows in Acme.
    crossed = gaps_text(bot, ACME, "UAMARK", "UBREP1", 1)
    assert "Rep 1" not in crossed
    # A Bravo person's id sent as if from Acme: Acme's Slack doesn't know them.
    status, body = bot.command("me", "UBREP3", team_id=ACME)
    assert status == 200 and "not set up in coach" in json.loads(body)["text"]
    # A workspace that never installed coach: Bolt asks to install before any listener runs.
    status, _ = bot.command("me", "UAREP3", team_id="TNOBODY01")
    assert status == 200 and "reinstall coach" in bot.replies(2)[-1]["text"]
    with bot.engine.connect() as conn:
        bound = conn.execute(
            select(Person.workspace_id, func.count())
            .where(Person.slack_user_id.like("UB%"))
            .group_by(Person.workspace_id)
        ).all()
    assert [ws for ws, _ in bound] in ([BRAVO], [])


def test_cadence_runs_each_workspace_with_its_own_token(two: Bot) -> None:
    bot, slack = two, two.slack
    services = Services(settings_for(bot), bot.engine)
    every = EveryWorkspace(services, bot.engine, backoff=0.01)
    assert sorted(c.workspace_id for c in every.cadences()) == [ACME, BRAVO]
    runs = every.run("day-one", month="2026-11")
    assert {ws for ws, _ in runs} == {ACME, BRAVO}
    assert all(run.summary.failed == 0 for _, run in runs)
    posts = slack.calls_to("chat.postMessage")
    assert posts
    for post in posts:
        team = slack.team_of(post.token)
        assert post.response["ok"] and post.response["message"]["team"] == team  # type: ignore[index]
        # …to a person of that workspace (a DM opened with that workspace's token).
        assert str(post.response["channel"]).startswith("D")  # type: ignore[index]
    per_team = {t: sum(slack.team_of(p.token) == t for p in posts) for t in (ACME, BRAVO)}
    assert per_team[ACME] == per_team[BRAVO] > 0  # the same org shape in both
    # The same keys in both workspaces, each claimed in its own: a second run sends nothing.
    again = every.run("day-one", month="2026-11")
    assert sum(run.summary.sent for _, run in again) == 0


def test_the_command_lines_workspace_narrows_coach_run_not_the_scheduler(two: Bot) -> None:
    services = Services(settings_for(two, COACH_WORKSPACE=ACME), two.engine)
    scheduler = EveryWorkspace(services, two.engine)
    run = EveryWorkspace(services, two.engine, only_set=True)
    assert sorted(c.workspace_id for c in scheduler.cadences()) == [ACME, BRAVO]
    assert [c.workspace_id for c in run.cadences()] == [ACME]


def test_uninstall_stops_the_cadence_for_that_workspace(two: Bot) -> None:
    bot = two
    status, _ = bot.post(
        event_body({"type": "app_uninstalled"}, team_id=BRAVO),
        headers={"Content-Type": "application/json"},
    )
    assert status == 200
    settings = settings_for(bot)
    # Bolt runs event listeners after the ack: the tokens go a moment after the 200.
    wait_until(lambda: [w.id for w in installed_workspaces(settings, bot.engine)] == [ACME])


def test_forged_or_replayed_states_install_nothing(engine: Engine) -> None:
    with SlackStandIn() as slack, serve_bot(engine, slack, **OAUTH) as bot:
        _, page, headers = fetch(bot.url + "/slack/install")
        state = re.search(r"state=([^&\"]+)", page).group(1)  # type: ignore[union-attr]
        cookie = headers["Set-Cookie"].split(";")[0]
        code = slack.add_team(ACME, "Acme", installer="UAALEX")
        forged = state.rsplit(".", 1)[0] + "." + "0" * 64
        status, _, _ = fetch(
            f"{bot.url}/slack/oauth_redirect?code={code}&state={forged}",
            f"slack-app-oauth-state={forged}",
        )
        assert status >= 400
        status, _, _ = fetch(f"{bot.url}/slack/oauth_redirect?code={code}&state={state}")
        assert status >= 400  # no cookie: another browser than the one that started
        assert slack.calls_to("oauth.v2.access") == []
        status, _, _ = fetch(f"{bot.url}/slack/oauth_redirect?code={code}&state={state}", cookie)
        assert status == 200
        code = slack.add_team(ACME, "Acme", installer="UAALEX")
        status, _, _ = fetch(f"{bot.url}/slack/oauth_redirect?code={code}&state={state}", cookie)
        assert status >= 400  # a state is good once
        settings = settings_for(bot)
        assert [w.name for w in installed_workspaces(settings, engine)] == ["Acme"]


def test_state_signature_is_checked_before_the_database(engine: Engine) -> None:
    store = SignedStateStore("secret", engine)
    other = SignedStateStore("another deployment's secret", engine)
    state = store.issue()
    assert not other.consume(state)
    assert not store.consume(state.rsplit(".", 1)[0] + ".é")  # whatever a browser sends
    assert store.consume(state)
    assert not store.consume(state)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SLACK_CLIENT_ID": "1"}, "SLACK_CLIENT_SECRET, SLACK_STATE_SECRET: multi-workspace"),
        ({**OAUTH, "SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_BOT_TOKEN: unset it"),
        ({**OAUTH, "SLACK_BOT_TOKEN": None, "COACH_DAILY_CHANNEL": "C1"}, "COACH_DAILY_CHANNEL"),
    ],
)
def test_install_mode_settings_are_checked(env: dict[str, str | None], message: str) -> None:
    from bot.settings import load_settings

    clean = {k: v for k, v in env.items() if v is not None}
    with pytest.MonkeyPatch.context() as patch:
        for name in ("SLACK_BOT_TOKEN", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"):
            patch.delenv(name, raising=False)
        for name, value in clean.items():
            patch.setenv(name, value)
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_settings()


def test_command_line_needs_the_workspace_named(two: Bot, tmp_path) -> None:  # noqa: ANN001
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": str(two.engine.url.render_as_string(hide_password=False)),
        **{k: v for k, v in OAUTH.items() if v is not None},
    }
    csv = tmp_path / "org.csv"
    csv.write_text("email,name,role,manager_email\nnew@example.com,New Rep,rep,\n")
    refused = run_coach("import", "org", str(csv), env=env)
    assert refused.returncode == 2
    assert "COACH_WORKSPACE is not set" in refused.stderr
    listed = run_coach("workspaces", env=env)
    assert listed.returncode == 0, listed.stderr
    assert f"{ACME} Acme: 15 active people, installed {datetime.now():%Y-%m-%d}" in listed.stdout
    assert f"{BRAVO} Bravo: 15 active people" in listed.stdout
    exported = run_coach(
        "export", "plans", "--format", "json", env={**env, "COACH_WORKSPACE": BRAVO}
    )
    assert exported.returncode == 0, exported.stderr


def test_each_workspace_posts_its_daily_progress_to_its_own_channel(two: Bot) -> None:
    # No COACH_DAILY_CHANNEL (it can't be set in this mode): each admin set their own.
    with session_scope(two.engine) as session:
        session.add(WorkspaceSettings(workspace_id=ACME, daily_channel="CACMEDAILY"))
        session.add(WorkspaceSettings(workspace_id=BRAVO, daily_channel="CBRAVODAILY"))
    every = EveryWorkspace(Services(settings_for(two), two.engine), two.engine, backoff=0.01)
    with time_machine.travel("2026-12-08 09:30:00+00:00", tick=False):
        runs = [r for r in every.tick() if r.job == "daily"]
        assert sum(r.summary.sent for r in every.tick() if r.job == "daily") == 0  # once a day
    assert [(r.period, r.summary.sent) for r in runs] == [("2026-12-08", 1), ("2026-12-08", 1)]
    posts = two.slack.calls_to("chat.postMessage")
    assert {(p.params["channel"], two.slack.team_of(p.token)) for p in posts} == {
        ("CACMEDAILY", ACME),
        ("CBRAVODAILY", BRAVO),
    }
