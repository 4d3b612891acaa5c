"""The Bolt app: configured once, with every listener module registering itself on it."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy import Engine

from bot import listeners
from bot.middleware import install_middleware
from bot.services import Services
from bot.settings import Settings
from bot.slack_client import make_web_client


def create_app(
    settings: Settings,
    engine: Engine,
    client: WebClient | None = None,
    services: Services | None = None,
) -> App:
    """A Bolt app on `engine`, calling Slack through one configured WebClient."""
    settings.require("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
    app = App(
        signing_secret=settings.slack_signing_secret,
        client=client or make_web_client(settings),
        # Bolt's start-up auth.test would make constructing the app depend on Slack being up.
        token_verification_enabled=False,
    )
    services = services or Services(settings, engine)

    def workspace_for(team_id: str | None) -> str:
        # Single-workspace mode: every request belongs to the configured workspace.
        return settings.coach_workspace

    install_middleware(app, workspace_for, services)
    listeners.register(app)
    return app
