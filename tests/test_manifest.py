"""manifest.yml is a manifest Slack accepts, and asks for what the bot needs."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from bot.demo.standin import DEFAULT_SCOPES

ROOT = Path(__file__).resolve().parents[1]
# Slack's published manifest schemas live beside the repository, in ../shared/slack.
SCHEMAS = Path(
    os.environ.get("COACH_SLACK_SCHEMAS")
    or Path(__file__).resolve().parents[2] / "shared" / "slack"
)
REQUEST_URL = "https://coach.example.com/slack/events"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))


def schema_for(manifest: dict[str, Any]) -> Draft7Validator:
    """Slack's schema for the manifest's major version, or a skip saying where it was looked for."""
    major = manifest.get("_metadata", {}).get("major_version", 1)
    path = SCHEMAS / f"manifest.schema.{major}.0.0.json"
    if not path.is_file():
        pytest.skip(f"Slack's manifest schema {path} is absent (set COACH_SLACK_SCHEMAS)")
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def test_the_manifest_matches_slacks_schema(manifest: dict[str, Any]) -> None:
    errors = [
        f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in schema_for(manifest).iter_errors(manifest)
    ]
    assert errors == []
    # The schema spells this pattern `regex`, which JSON Schema does not know, so check it here.
    assert re.fullmatch(
        r"#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?", manifest["display_information"]["background_color"]
    )


def test_the_schema_check_catches_a_broken_manifest(manifest: dict[str, Any]) -> None:
    validator = schema_for(manifest)
    broken = {**manifest, "features": {**manifest["features"], "slash_command": []}}
    assert not validator.is_valid(broken)
    untitled = {**manifest, "display_information": {"name": "x" * 36}}
    assert not validator.is_valid(untitled)


def test_coach_command_escapes_users_and_channels(manifest: dict[str, Any]) -> None:
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/coach"
    assert command["should_escape"] is True
    assert command["url"] == REQUEST_URL
    assert command["usage_hint"]


def test_interactivity_events_and_app_home_point_at_the_app(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    assert settings["interactivity"] == {"is_enabled": True, "request_url": REQUEST_URL}
    assert settings["event_subscriptions"]["request_url"] == REQUEST_URL
    assert "app_home_opened" in settings["event_subscriptions"]["bot_events"]
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
    assert settings["socket_mode_enabled"] is False
    assert settings["token_rotation_enabled"] is False


def test_the_bot_asks_for_the_scopes_the_features_use(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    needed = ("commands", "chat:write", "im:write", "users:read", "users:read.email", "files:write")
    assert set(needed) <= set(scopes)
    # The Slack stand-in grants by default exactly what an install from this manifest gets.
    assert sorted(scopes) == sorted(DEFAULT_SCOPES)
    assert "user" not in manifest["oauth_config"]["scopes"]  # a bot, never a user's token
