"""The Bolt app: configured once, with every listener module registering itself on it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from sqlalchemy import Engine

from bot.coaching.services import Services
from bot.logs import fields
from bot.settings import Settings
from bot.slack import listeners
from bot.slack.client import REQUIRED_SCOPES, make_web_client
from bot.slack.installs import installation_store, state_store
from bot.slack.listeners.commands import SUBCOMMANDS
from bot.slack.middleware import install_middleware

log = logging.getLogger(__name__)
LISTENER_THREADS = 8
NO_INSTALLATION = (
    "coach can't find its installation for this workspace right now. Try again in a minute; "
    "if it keeps happening, ask your Slack admin to reinstall coach."
)


class CoachApp(App):
    """Bolt's App, logging one line per request: what was asked and how long the answer took
    (in both HTTP and Socket Mode, which both dispatch here)."""

    workspace_for: Callable[[str | None], str]
    signing_secret: str  # the HTTP server checks signatures before Bolt parses a body

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        """Handle a request as Bolt does, then log it."""
        start = time.perf_counter()
        outcome = "error"
        try:
            response = super().dispatch(req)
            outcome = "ok" if response.status < 400 else str(response.status)
            return response
        finally:
            kind, name = request_name(req.body)
            log.info(
                "request",
                extra=fields(
                    workspace=self.workspace_for(req.context.team_id),
                    kind=kind,
                    name=name,
                    ms=round((time.perf_counter() - start) * 1000, 1),
                    outcome=outcome,
                ),
            )


def request_name(body: dict[str, Any]) -> tuple[str, str | None]:
    """What a request asks, for the log: (kind, name) — a subcommand, an action or view id, an
    event type. Nothing a user typed beyond the subcommand."""
    if body.get("command"):
        word = (str(body.get("text") or "help").split() or ["help"])[0].lower()
        return "command", word if word in SUBCOMMANDS else "other"
    if body.get("type") == "block_actions":
        return "action", (body.get("actions") or [{}])[0].get("action_id")
    if body.get("type") in ("view_submission", "view_closed"):
        return "view", (body.get("view") or {}).get("callback_id")
    if body.get("event"):
        return "event", body["event"].get("type")
    return str(body.get("type") or "other"), None


def _listener_pool() -> ThreadPoolExecutor:
    """Bolt's listener threads. A listener acks at once, then mostly waits on Slack
    (response_url, views.update): a few more than Bolt's 5 keep a slow Slack from leaving no
    thread to ack with; many more only make the answers fight over the interpreter (measured:
    24 threads doubled the time to the answer under load)."""
    return ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="listener")


def create_app(
    settings: Settings,
    engine: Engine,
    client: WebClient | None = None,
    services: Services | None = None,
) -> CoachApp:
    """A Bolt app on `engine`, calling Slack through one configured WebClient.

    With a bot token it serves one workspace. In multi-workspace mode it serves every workspace
    that installed it: Bolt's OAuth flow on /slack/install and /slack/oauth_redirect stores each
    installation, each request is authorised with its own workspace's bot token, and its data
    is the rows under its team id.
    """
    settings.require("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
    client = client or make_web_client(settings)
    if settings.multi_workspace:
        oauth = OAuthSettings(
            client_id=settings.slack_client_id,
            client_secret=settings.slack_client_secret,
            scopes=list(REQUIRED_SCOPES),
            installation_store=installation_store(settings, engine),
            state_store=state_store(settings, engine),
            installation_store_bot_only=True,  # coach acts as its bot only
        )
        # Bolt would call auth.test on every request to learn the bot's ids; the installation
        # is still looked up each time (an uninstall takes effect at once), only that is cached.
        oauth.authorize.cache_enabled = True
        app = CoachApp(
            signing_secret=settings.slack_signing_secret,
            client=client,  # per request, Bolt copies its base URL and retries with the token
            oauth_settings=oauth,
            listener_executor=_listener_pool(),
            # Bolt says this when it finds no installation, and also when its look-up failed
            # (it swallows the error, e.g. the database being away): the wording covers both.
            user_facing_authorize_error_message=NO_INSTALLATION,
        )
        # An uninstall deletes the workspace's tokens, so the cadence stops writing to it.
        app.enable_token_revocation_listeners()
    else:
        app = CoachApp(
            signing_secret=settings.slack_signing_secret,
            client=client,
            # Bolt's start-up auth.test would make constructing the app depend on Slack being up.
            token_verification_enabled=False,
            listener_executor=_listener_pool(),
        )
    services = services or Services(settings, engine)

    def workspace_for(team_id: str | None) -> str:
        # Many workspaces: a workspace's rows are keyed by its team id; Bolt has already refused
        # teams without an installation. One workspace: everything is the configured one.
        if settings.multi_workspace:
            return team_id or ""
        return settings.coach_workspace

    app.workspace_for = workspace_for
    app.signing_secret = settings.slack_signing_secret or ""  # required above
    install_middleware(app, workspace_for, services)
    listeners.register(app)
    return app
