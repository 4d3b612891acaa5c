"""Which workspaces coach serves, and with which bot token.

One workspace: the one SLACK_BOT_TOKEN belongs to, its data under COACH_WORKSPACE. Many
(SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, SLACK_STATE_SECRET set): every workspace that installed
the app through Bolt's OAuth flow, its data under its Slack team id. Installations and OAuth
states live in slack-sdk's SQLAlchemy stores, in tables the Alembic migrations create.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import Engine, func, select

from bot.settings import Settings

# An install link is good for ten minutes, as Bolt's state cookie.
STATE_SECONDS = 600


@dataclass(frozen=True)
class Workspace:
    """A workspace coach serves: its id in coach's tables, its name, its bot token."""

    id: str
    name: str | None
    token: str | None
    installed_at: datetime | None = None

    def __repr__(self) -> str:  # never print a token into a log or a traceback
        return f"Workspace(id={self.id!r}, name={self.name!r})"


class SignedStateStore(SQLAlchemyOAuthStateStore):
    """slack-sdk's state store, with each state signed by SLACK_STATE_SECRET.

    The table keeps a state single-use and short-lived; the signature means only this app could
    have issued it, so a forged or another deployment's state is refused before the database is
    asked, and a copy of the table alone can't complete an install.
    """

    def __init__(self, secret: str, engine: Engine) -> None:
        super().__init__(expiration_seconds=STATE_SECONDS, engine=engine)
        self._secret = secret.encode()

    def _sign(self, nonce: str) -> str:
        return hmac.new(self._secret, nonce.encode(), hashlib.sha256).hexdigest()

    def issue(self, *args: object, **kwargs: object) -> str:
        """A new state: a stored nonce and its signature."""
        nonce = super().issue(*args, **kwargs)
        return f"{nonce}.{self._sign(nonce)}"

    def consume(self, state: str) -> bool:
        """Whether `state` was signed here and is still unused (it is used up now)."""
        nonce, _, signature = state.rpartition(".")
        # Bytes: compare_digest refuses non-ASCII text, and a state is whatever a browser sent.
        if not nonce or not hmac.compare_digest(signature.encode(), self._sign(nonce).encode()):
            return False
        return super().consume(nonce)


def installation_store(settings: Settings, engine: Engine) -> SQLAlchemyInstallationStore:
    """slack-sdk's installation store on coach's database (tables from migration 0003)."""
    assert settings.slack_client_id is not None
    return SQLAlchemyInstallationStore(client_id=settings.slack_client_id, engine=engine)


def state_store(settings: Settings, engine: Engine) -> SignedStateStore:
    """The OAuth state store on coach's database, signing with SLACK_STATE_SECRET."""
    assert settings.slack_state_secret is not None
    return SignedStateStore(settings.slack_state_secret, engine)


def installed_workspaces(settings: Settings, engine: Engine) -> list[Workspace]:
    """Every workspace served now: the configured one, or each installation's latest bot."""
    if not settings.multi_workspace:
        return [Workspace(settings.coach_workspace, None, settings.slack_bot_token)]
    store = installation_store(settings, engine)
    bots = store.bots
    with engine.connect() as conn:
        teams = conn.execute(
            select(bots.c.enterprise_id, bots.c.team_id)
            .where(bots.c.client_id == store.client_id, bots.c.team_id.is_not(None))
            .group_by(bots.c.enterprise_id, bots.c.team_id)
            .order_by(func.min(bots.c.installed_at))
        ).all()
    found = []
    for enterprise, team in teams:  # a workspace of an Enterprise Grid has both
        bot = store.find_bot(enterprise_id=enterprise, team_id=team)
        if bot is not None and bot.bot_token:
            installed = datetime.fromtimestamp(bot.installed_at, UTC)
            found.append(Workspace(team, bot.team_name, bot.bot_token, installed))
    return found


def workspaces_for(settings: Settings, engine: Engine) -> list[Workspace]:
    """The workspaces a cadence run or `coach doctor` covers: all served, or, in
    multi-workspace mode, only COACH_WORKSPACE when it is set."""
    served = installed_workspaces(settings, engine)
    if settings.multi_workspace and "coach_workspace" in settings.model_fields_set:
        return [w for w in served if w.id == settings.coach_workspace]
    return served
