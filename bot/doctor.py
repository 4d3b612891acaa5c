"""`coach doctor`: what an operator should fix before (or after) going live, checked one by one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine, func, select

from bot.cadence.schedule import shift_month
from bot.settings import Settings
from bot.slack_client import REQUIRED_SCOPES
from storage.db import current_revision, head_revision, is_reachable
from storage.models import MetricValue, Person


@dataclass(frozen=True)
class Check:
    """One check: what was looked at, whether it is fine, and what to do when it is not."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None


def run_checks(
    settings: Settings, db: Engine, client: WebClient | None, *, lookups: int = 50
) -> Iterator[Check]:
    """Every check, in the order an operator would fix them; stops where later ones can't run."""
    missing = [
        n for n in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET") if not getattr(settings, n.lower())
    ]
    yield Check(
        "configuration",
        not missing,
        "settings read" + (f"; {', '.join(missing)} not set" if missing else ""),
        "set them in the environment or .env (README, Configuration)" if missing else None,
    )
    if not is_reachable(db):
        yield Check(
            "database",
            False,
            f"cannot connect to {db.url.render_as_string()}",
            "check DATABASE_URL and that the server is up",
        )
        return
    revision, head = current_revision(db), head_revision()
    yield Check(
        "database",
        revision == head,
        f"reachable, schema at {revision or 'nothing'} (latest {head})",
        None if revision == head else "run `coach db upgrade`",
    )
    if revision != head:
        return
    ws = settings.coach_workspace
    with db.connect() as conn:
        people = conn.execute(
            select(Person.email, Person.slack_user_id).where(
                Person.workspace_id == ws, Person.active.is_(True)
            )
        ).all()
        latest = conn.scalar(
            select(func.max(MetricValue.month)).where(MetricValue.workspace_id == ws)
        )
    yield Check(
        "org chart",
        bool(people),
        f"{len(people):,} active people in workspace {ws!r}",
        None if people else "run `coach import org FILE` (or set COACH_WORKSPACE)",
    )
    last_month = shift_month(datetime.now(UTC).strftime("%Y-%m"), -1)
    yield Check(
        "metrics",
        latest is not None and latest >= last_month,
        f"latest month with numbers: {latest or 'none'}",
        None
        if latest is not None and latest >= last_month
        else f"import {last_month}'s numbers: `coach import metrics FILE`",
    )
    if client is None:
        return
    try:
        answer = client.auth_test()
    except SlackApiError as exc:
        yield Check(
            "slack token",
            False,
            f"auth.test answered {exc.response.get('error')}",
            "copy the Bot User OAuth Token (xoxb-…) into SLACK_BOT_TOKEN",
        )
        return
    except OSError as exc:
        yield Check(
            "slack",
            False,
            f"cannot reach {settings.slack_api_url}: {exc}",
            "check the network, a proxy, or SLACK_API_URL",
        )
        return
    granted = {s.strip() for s in (answer.headers.get("x-oauth-scopes") or "").split(",") if s}
    lacking = [s for s in REQUIRED_SCOPES if s not in granted]
    yield Check(
        "slack token",
        not lacking,
        f"bot {answer.get('user')} in {answer.get('team')}"
        + (f"; missing scopes: {', '.join(lacking)}" if lacking else "; all scopes granted"),
        "add the scopes from manifest.yml and reinstall the app" if lacking else None,
    )
    unlinked = [email for email, slack_id in people if not slack_id]
    unknown = []
    checked = 0
    for email in unlinked[:lookups]:
        try:
            client.users_lookupByEmail(email=email)
        except SlackApiError as exc:
            if exc.response.get("error") != "users_not_found":
                break  # rate-limited or refused: the rest stays unchecked, not "unknown"
            unknown.append(email)
        except OSError:
            break
        checked += 1
    unchecked = len(unlinked) - checked
    found = len(unlinked) - unchecked - len(unknown)
    shown = ", ".join(unknown[:10]) + (
        f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
    )
    yield Check(
        "people in slack",
        not unknown,
        f"{len(people) - len(unlinked):,} linked by Slack id, {found:,} found by email"
        + (f", {unchecked:,} not checked" if unchecked else "")
        + (f"; not in Slack: {shown}" if unknown else ""),
        "fix these emails in the org chart (they must be the ones people use in Slack)"
        if unknown
        else None,
    )
