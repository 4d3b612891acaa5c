"""`coach doctor`: what an operator should fix before (or after) going live, checked one by one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine, func, select

from bot.coaching.months import shift_month
from bot.settings import Settings
from bot.slack.client import REQUIRED_SCOPES, make_web_client
from bot.slack.installs import Workspace, workspaces_for
from storage.db import current_revision, head_revision, is_reachable
from storage.models import MetricMonth, Person


@dataclass(frozen=True)
class Check:
    """One check: what was looked at, whether it is fine, and what to do when it is not."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None


def run_checks(
    settings: Settings,
    db: Engine,
    connect: Callable[[Workspace], WebClient | None] | None = None,
    *,
    lookups: int = 50,
) -> Iterator[Check]:
    """Every check, in the order an operator would fix them; stops where later ones can't run.

    The org chart, the numbers and Slack are checked for each workspace served (in
    multi-workspace mode, each installation, or COACH_WORKSPACE alone when set); `connect`
    makes a workspace's Web API client (by default from its token; None skips Slack).
    """
    # Multi-workspace mode has its three OAuth settings, or the settings wouldn't have loaded.
    needed = ("SLACK_BOT_TOKEN",) * (not settings.multi_workspace) + ("SLACK_SIGNING_SECRET",)
    missing = [n for n in needed if not getattr(settings, n.lower())]
    mode = "many workspaces (OAuth installs)" if settings.multi_workspace else "one workspace"
    yield Check(
        "configuration",
        not missing,
        f"settings read, {mode}" + (f"; {', '.join(missing)} not set" if missing else ""),
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
    served = workspaces_for(settings, db)
    if settings.multi_workspace:
        names = ", ".join(f"{w.id} ({w.name})" for w in served)
        yield Check(
            "installations",
            bool(served),
            f"{len(served)} workspace(s): {names}" if served else "no installation to check",
            None if served else "open https://YOUR-HOST/slack/install as a workspace admin",
        )
    if connect is None:

        def connect(workspace: Workspace) -> WebClient | None:
            return make_web_client(settings, workspace.token) if workspace.token else None

    for workspace in served:
        yield from _workspace_checks(settings, db, workspace, connect(workspace), lookups)
    yield from crm_checks(settings, db)


# What to do about a failed CRM check, by the kind of failure (the line itself says what failed).
_CRM_FIXES = {
    "auth": "renew the token and set it (README, CRM set-up)",
    "scope": "grant the scopes named (README, CRM set-up), then renew the token",
    "rate_limit": "nothing: the next sync resumes where this one stopped",
    "api": "check the CRM's status and the base URL setting, then `coach sync {source}`",
    "config": "set the CRM's settings (README, CRM set-up)",
}
# A daily sync older than this has missed a day.
_STALE = timedelta(hours=36)


def crm_checks(settings: Settings, db: Engine, *, now: datetime | None = None) -> Iterator[Check]:
    """For each CRM configured: does its token work with the scopes a sync needs, how did the
    last sync go, and which records don't map."""
    from bot.crm.base import CrmError
    from bot.crm.sync import configured_sources, connector_for
    from bot.settings import ConfigError
    from storage.crm import CrmStore, current_crm
    from storage.db import session_scope

    sources = configured_sources(settings)
    if not sources:
        return
    try:
        workspace = settings.workspace()
    except ConfigError as exc:
        yield Check("crm", False, str(exc), "a CRM's numbers are for one workspace: set it")
        return
    now = now or datetime.now(UTC)
    store = CrmStore(db, workspace)
    for source in sources:
        try:
            connector_for(source, settings).check()
            yield Check(source, True, "the token works and has every scope a sync needs")
        except CrmError as exc:
            yield Check(source, False, exc.line, _CRM_FIXES[exc.kind].format(source=source))
        yield from _last_sync(settings, store, source, now)
    with session_scope(db) as session:
        current = current_crm(session, workspace)
    if current is not None:
        yield _one_crm(sources, *current)


def _one_crm(configured: list[str], source: str, first: str, last: str) -> Check:
    """Which CRM the counts come from; another one set up too is refused at every sync."""
    others = [other for other in configured if other != source]
    detail = f"the counts come from {source} ({first} to {last})"
    if not others:
        return Check("crm", True, detail)
    other = others[0]
    return Check(
        "crm",
        False,
        f"{detail}; {other} is set up too, and its syncs are refused (one CRM at a time)",
        f"unset {other}'s settings, or `coach sync {other} --switch` to move to it",
    )


def _last_sync(settings: Settings, store: object, source: str, now: datetime) -> Iterator[Check]:
    name, again = f"{source} sync", f"run `coach sync {source}`"
    last = store.last_run(source)  # type: ignore[attr-defined]
    if last is None:
        yield Check(name, False, "never synced", again)
        return
    when = f"{last.started_at:%Y-%m-%d %H:%M} UTC"
    if last.status == "running":
        killed = now - last.started_at > timedelta(seconds=settings.coach_claim_timeout)
        state = "never finished" if killed else "is still running"
        yield Check(
            name,
            not killed,
            f"the sync started {when} {state}",
            f"{again}: it resumes where that one stopped" if killed else None,
        )
    elif last.status == "failed":
        good = store.last_run(source, ok_only=True)  # type: ignore[attr-defined]
        kept = f"; the counts are from {good.started_at:%Y-%m-%d}" if good else ""
        yield Check(name, False, f"the sync of {when} failed: {last.error}{kept}", again)
    else:
        counts = ", ".join(
            f"{n:,} {what.replace('_', ' ')}" for what, n in sorted(last.counts.items()) if n
        )
        stale = settings.coach_sync_time is not None and now - last.started_at > _STALE
        yield Check(
            name,
            not stale,
            f"last sync {when}" + (f": {counts}" if counts else ""),
            "the daily sync (COACH_SYNC_TIME) has not run: is a scheduler running?"
            if stale
            else None,
        )
    if last.problem_count:
        shown = "; ".join(last.problems[:3])
        more = last.problem_count - min(3, len(last.problems))
        yield Check(
            f"{source} records",
            False,
            f"{last.problem_count:,} don't map: {shown}" + (f" and {more:,} more" if more else ""),
            "map them in the CRM mapping file, or fix them in the CRM",
        )


def _workspace_checks(
    settings: Settings, db: Engine, workspace: Workspace, client: WebClient | None, lookups: int
) -> Iterator[Check]:
    """One workspace's org chart, numbers, token and people."""
    ws = workspace.id
    where = f" [{ws}]" if settings.multi_workspace else ""
    with db.connect() as conn:
        people = conn.execute(
            select(Person.email, Person.slack_user_id).where(
                Person.workspace_id == ws, Person.active.is_(True)
            )
        ).all()
        latest = conn.scalar(
            select(func.max(MetricMonth.month)).where(MetricMonth.workspace_id == ws)
        )
    how = "COACH_WORKSPACE=" + ws + " " if settings.multi_workspace else ""
    yield Check(
        "org chart" + where,
        bool(people),
        f"{len(people):,} active people in workspace {ws!r}",
        None if people else f"run `{how}coach import org FILE` (or set COACH_WORKSPACE)",
    )
    last_month = shift_month(datetime.now(UTC).strftime("%Y-%m"), -1)
    yield Check(
        "metrics" + where,
        latest is not None and latest >= last_month,
        f"latest month with numbers: {latest or 'none'}",
        None
        if latest is not None and latest >= last_month
        else f"import {last_month}'s numbers: `{how}coach import metrics FILE`",
    )
    if client is None:
        return
    try:
        answer = client.auth_test()
    except SlackApiError as exc:
        yield Check(
            "slack token" + where,
            False,
            f"auth.test answered {exc.response.get('error')}",
            "reinstall coach into the workspace (/slack/install)"
            if settings.multi_workspace
            else "copy the Bot User OAuth Token (xoxb-…) into SLACK_BOT_TOKEN",
        )
        return
    except OSError as exc:
        yield Check(
            "slack" + where,
            False,
            f"cannot reach {settings.slack_api_url}: {exc}",
            "check the network, a proxy, or SLACK_API_URL",
        )
        return
    granted = {s.strip() for s in (answer.headers.get("x-oauth-scopes") or "").split(",") if s}
    lacking = [s for s in REQUIRED_SCOPES if s not in granted]
    yield Check(
        "slack token" + where,
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
        "people in slack" + where,
        not unknown,
        f"{len(people) - len(unlinked):,} linked by Slack id, {found:,} found by email"
        + (f", {unchecked:,} not checked" if unchecked else "")
        + (f"; not in Slack: {shown}" if unknown else ""),
        "fix these emails in the org chart (they must be the ones people use in Slack)"
        if unknown
        else None,
    )
