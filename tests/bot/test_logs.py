"""Operators' logs: one JSON line per request and per job run, with no secrets or figures."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import time_machine
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from sqlalchemy import Engine

from bot.cadence.jobs import Cadence
from bot.logs import JsonFormatter, configure_logging
from bot.settings import Settings
from bot.slack.app import create_app
from tests.bot.conftest import SECRET, Bot, wait_until


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)  # setLevel, not the attribute: loggers cache their levels
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_line_per_request_without_what_was_typed(bot: Bot, json_logs: io.StringIO) -> None:
    bot.command("gaps rep1@example.com", "UMARK")
    bot.replies()
    # The answer can come back before the server thread has written its line.
    wait_until(lambda: any(x["msg"] == "request" for x in lines(json_logs)))
    [line] = [x for x in lines(json_logs) if x["msg"] == "request"]
    assert line["workspace"] == "default" and line["kind"] == "command" and line["name"] == "gaps"
    assert line["outcome"] == "ok" and line["ms"] > 0 and line["level"] == "info"
    text = json_logs.getvalue()
    assert "rep1@example.com" not in text and SECRET not in text and "xoxb" not in text


def test_one_line_per_job_run(bot: Bot, cadence: Cadence, json_logs: io.StringIO) -> None:
    with time_machine.travel("2026-11-01 09:30:00+00:00", tick=True):
        cadence.run("day-one", month="2026-11")
    [line] = [x for x in lines(json_logs) if x["msg"] == "job run"]
    assert (line["job"], line["period"], line["sent"], line["failed"]) == (
        "day-one",
        "2026-11",
        22,
        0,
    )
    assert line["workspace"] == "default" and line["ms"] > 0
    assert "xoxb" not in json_logs.getvalue() and "Closes" not in json_logs.getvalue()


def test_configure_logging_picks_the_format(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("json")
        logging.getLogger("coach.test").warning("hello", extra={"fields": {"job": "daily"}})
        assert json.loads(capsys.readouterr().err.splitlines()[-1])["job"] == "daily"
        configure_logging("text")
        logging.getLogger("coach.test").warning("hello", extra={"fields": {"job": "daily"}})
        assert capsys.readouterr().err.strip().endswith("coach.test: hello job=daily")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_a_command_that_is_no_subcommand_is_logged_as_other(
    bot: Bot, json_logs: io.StringIO
) -> None:
    bot.command("priya@example.com", "UMARK")  # typed without a subcommand
    bot.replies()
    wait_until(lambda: any(x["msg"] == "request" for x in lines(json_logs)))
    [line] = [x for x in lines(json_logs) if x["msg"] == "request"]
    assert line["name"] == "other" and "priya" not in json_logs.getvalue()


def test_starting_the_app_logs_no_warning_about_the_token(
    sqlite_engine: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bolt reads SLACK_BOT_TOKEN itself and warns that the client wins: coach's client is made
    from that token, so an operator would read a warning about nothing on every start."""

    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("text")
        settings = Settings(
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_SIGNING_SECRET=SECRET,
            DATABASE_URL=str(sqlite_engine.url),
        )
        create_app(settings, sqlite_engine)
        logging.getLogger("slack_bolt.App").warning("something else")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    err = capsys.readouterr().err
    assert warning_client_prioritized_and_token_skipped() not in err
    assert "something else" in err  # Bolt's other warnings still show
