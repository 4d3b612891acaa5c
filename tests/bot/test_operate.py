"""Operating coach: `coach doctor` says what to fix; `coach forget` deletes a person's data."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import time_machine
import yaml
from sqlalchemy import Engine, func, select

from bot.cli.doctor import run_checks
from bot.demo.standin import DEFAULT_SCOPES, SlackStandIn
from bot.settings import Settings
from bot.slack.client import REQUIRED_SCOPES
from storage.db import make_engine, session_scope
from storage.forget import forget_person
from storage.models import CheckIn, Delivery, MetricMonth, Person, Plan, Reflection, Workspace
from storage.plans import FocusInput, add_checkin, save_plan, save_reflection
from tests.bot.conftest import seed
from tests.in_process import run_coach

MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yml"


def test_doctor_knows_the_scopes_the_manifest_asks_for() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert set(REQUIRED_SCOPES) == set(manifest["oauth_config"]["scopes"]["bot"])
    assert set(REQUIRED_SCOPES) == set(DEFAULT_SCOPES)


def checks(engine: Engine, slack: SlackStandIn) -> dict[str, tuple[bool, str, str | None]]:
    settings = Settings(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET="s",
        SLACK_API_URL=slack.url,
        DATABASE_URL=str(engine.url),
    )
    with time_machine.travel("2026-11-10 12:00:00+00:00"):
        found = run_checks(settings, engine)
        return {c.name: (c.ok, c.detail, c.fix) for c in found}


def test_doctor_all_good(sqlite_engine: Engine, slack: SlackStandIn) -> None:
    seed(sqlite_engine, ["2026-08", "2026-09", "2026-10"])
    found = checks(sqlite_engine, slack)
    assert all(ok for ok, _, _ in found.values()), found
    assert found["people in slack"][1] == "14 linked by Slack id, 1 found by email"
    assert "all scopes granted" in found["slack token"][1]


def test_doctor_says_what_to_fix(sqlite_engine: Engine) -> None:
    seed(sqlite_engine, ["2026-08", "2026-09"])
    with SlackStandIn({"dana@example.com": "UDANA"}, scopes=["commands", "chat:write"]) as slack:
        found = checks(sqlite_engine, slack)
    assert found["metrics"] == (
        False,
        "latest month with numbers: 2026-09",
        "import 2026-10's numbers: `coach import metrics FILE`",
    )
    ok, detail, fix = found["slack token"]
    assert not ok and "missing scopes: im:write, im:history" in detail and "reinstall" in fix  # type: ignore[operator]
    ok, detail, fix = found["people in slack"]
    assert ok and detail.endswith(
        "1 not checked"
    )  # no users:read.email: unknown, not "not in Slack"


def test_doctor_on_an_empty_database_exits_1_and_says_migrate(sqlite_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COACH_", "SLACK_"))}
    result = run_coach("doctor", env={**env, "DATABASE_URL": sqlite_url})
    assert result.returncode == 1
    assert "SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET not set" in result.stdout
    assert "fix: run `coach db upgrade`" in result.stdout


def history(engine: Engine) -> dict[str, int]:
    seed(engine, ["2026-09", "2026-10"])
    with session_scope(engine) as session:
        ids = dict(session.execute(select(Person.email, Person.id)).all())
        # Rep 1's own plan with their check-in, and a check-in Rep 1 logged on Rep 2's plan.
        for rep, notes in (("rep1@example.com", "n"), ("rep2@example.com", "peer help")):
            plan, _ = save_plan(
                session,
                workspace_id="default",
                rep_id=ids[rep],
                author_id=ids["mark@example.com"],
                month="2026-10",
                focus=[FocusInput("close_rate", 0.1, 0.3, 0.2)],
                why="w",
                actions=["a"],
                checkin_dates=[date(2026, 10, 9)],
            )
            add_checkin(
                session,
                plan=plan,
                author_id=ids["rep1@example.com"],
                on_date=date(2026, 10, 9),
                done_actions=[],
                metric_value=None,
                status="on_track",
                notes=notes,
                request_key=None,
            )
        save_reflection(
            session,
            workspace_id="default",
            rep_id=ids["rep1@example.com"],
            month="2026-10",
            how_it_went="x",
            went_well="y",
            improve="z",
        )
        session.add(
            Delivery(
                workspace_id="default",
                key="k",
                kind="reflection",
                period="2026-10",
                rep_id=ids["rep1@example.com"],
                status="sent",
                attempts=1,
            )
        )
    return ids


def test_forget_deletes_personal_data_and_keeps_an_anonymous_row(sqlite_engine: Engine) -> None:
    ids = history(sqlite_engine)
    with session_scope(sqlite_engine) as session:
        before = session.get(Workspace, "default").data_version  # type: ignore[union-attr]
        counts = forget_person(session, "default", "REP1@example.com")
    assert counts == {
        "plans": 1,
        "reflections": 1,
        "metric values": 16,
        "scheduled messages": 1,
        "PIPs": 0,
    }
    with session_scope(sqlite_engine) as session:
        person = session.get(Person, ids["rep1@example.com"])
        assert person is not None and not person.active
        assert (person.name, person.email, person.slack_user_id) == (
            "Former colleague",
            f"forgotten-{person.id}@invalid",
            None,
        )
        for model, column in (
            (Plan, Plan.rep_id),
            (Reflection, Reflection.rep_id),
            (MetricMonth, MetricMonth.person_id),
        ):
            assert (
                session.scalar(select(func.count()).select_from(model).where(column == person.id))
                == 0
            )
        # The check-in they logged on a colleague's plan stays, now anonymous.
        assert (
            session.scalar(select(CheckIn.notes).where(CheckIn.author_id == person.id))
            == "peer help"
        )
        assert session.get(Workspace, "default").data_version == before + 1  # type: ignore[union-attr]
        assert session.scalar(select(func.count()).select_from(Plan)) == 1
    with session_scope(sqlite_engine) as session:
        assert forget_person(session, "default", "nobody@example.com") is None


def test_forget_asks_first(migrated_sqlite_url: str) -> None:
    sqlite_url = migrated_sqlite_url
    engine = make_engine(sqlite_url)
    history(engine)
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COACH_", "SLACK_"))}
    env.update({"DATABASE_URL": sqlite_url, "COLUMNS": "200"})
    declined = run_coach("forget", "rep1@example.com", env=env, input="n\n")
    assert declined.returncode == 1 and "nothing deleted" in declined.stderr
    done = run_coach("forget", "rep1@example.com", "--yes", env=env)
    assert done.returncode == 0, done.stderr
    assert "deleted 1 plans, 1 reflections, 16 metric values, 1" in done.stdout
    unknown = run_coach("forget", "rep1@example.com", "--yes", env=env)
    assert unknown.returncode == 1 and "nobody in the org chart has that email" in unknown.stderr


def test_forget_on_postgresql(migrated_pg_url: str) -> None:
    url = migrated_pg_url
    engine = make_engine(url)
    history(engine)
    with session_scope(engine) as session:
        assert forget_person(session, "default", "rep1@example.com") is not None
    engine.dispose()


def test_doctor_tells_rate_limits_from_unknown_people(
    sqlite_engine: Engine, slack: SlackStandIn
) -> None:
    seed(sqlite_engine, ["2026-08", "2026-09", "2026-10"])
    slack.fail("users.lookupByEmail", error="ratelimited")
    ok, detail, _ = checks(sqlite_engine, slack)["people in slack"]
    assert ok and detail == "14 linked by Slack id, 0 found by email, 1 not checked"


def test_doctor_names_people_slack_does_not_know(sqlite_engine: Engine) -> None:
    seed(sqlite_engine, ["2026-08", "2026-09", "2026-10"])
    with SlackStandIn({"dana@example.com": "UDANA"}) as slack:
        ok, detail, fix = checks(sqlite_engine, slack)["people in slack"]
    assert not ok and detail.endswith("not in Slack: rep10@example.com")
    assert fix is not None and "emails in the org chart" in fix
