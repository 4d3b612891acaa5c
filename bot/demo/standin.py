"""A local stand-in for Slack: its Web API on a local port, and the requests Slack sends the app.

The tests and `coach demo` both play against it; nothing in the running bot imports it.

Point SLACK_API_URL at `SlackStandIn.url` and every Web API call the bot makes lands here: it is
recorded in `.calls` and answered the way Slack answers (same shapes, same error codes, Block Kit
limits enforced), or failed on purpose with `.fail(...)`:

    with SlackStandIn(directory={"priya.shah@example.com": "U024BE7LH"}) as slack:
        slack.fail("chat.postMessage", status=429, retry_after=1, times=1)
        ...  # run the bot with SLACK_API_URL=slack.url
        [post] = slack.wait_for("chat.postMessage")
        assert post.params["channel"] == "U024BE7LH"

`.slow(...)` carries a call out but holds its answer back, as when Slack has posted a message
and the bot dies before hearing so.

Several workspaces: `add_team` makes another team and returns a one-time OAuth code, which
`oauth.v2.access` exchanges for that team's own bot token. A call is answered as the team of its
token (any token not issued that way belongs to the default team): people, DMs, `auth.test`.

The other direction: `slash_command_body`, `interaction_body` and `event_body` build request bodies
exactly as Slack sends them, and `sign_slack_request` signs them with the app's signing secret.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo

from bot.demo.local_server import LocalServer, StandInServer
from bot.slack.client import REQUIRED_SCOPES

TEAM_ID = "T0C0ACH01"
TEAM_DOMAIN = "coach-test"
APP_ID = "A0C0ACH01"
BOT_USER_ID = "U0C0ACHBT"
BOT_ID = "B0C0ACH01"
# A token with every scope manifest.yml asks for.
DEFAULT_SCOPES = REQUIRED_SCOPES
# Method names under which calls that are not Web API methods are recorded.
UPLOAD = "upload"  # the file bytes POSTed to an upload_url from files.getUploadURLExternal
RESPONSE_URL = "response_url"  # a POST to a response_url made by `response_url()`

# The scope each method needs; methods not listed need none. Reading history needs the scope of
# the kind of conversation read (see _HISTORY_SCOPES).
_NEEDED_SCOPES = {
    "chat.postEphemeral": "chat:write",
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "conversations.open": "im:write",
    "files.completeUploadExternal": "files:write",
    "files.getUploadURLExternal": "files:write",
    "users.info": "users:read",
    "users.profile.get": "users.profile:read",
    "users.lookupByEmail": "users:read.email",
}
_HISTORY_METHODS = ("conversations.history", "conversations.replies")
# By a conversation id's first letter: DMs, public channels, private channels and group DMs.
_HISTORY_SCOPES = {"D": "im:history", "C": "channels:history", "G": "groups:history"}
# Arguments a form-encoded call sends as JSON strings.
_JSON_ARGUMENTS = ("attachments", "blocks", "files", "metadata", "view")
# Block Kit limits: the characters of a text object, and the items of a list, per element type.
_TEXT_LIMITS = {
    "header": {"text": 150},
    "section": {"text": 3000},
    "input": {"label": 2000, "hint": 2000},
    "button": {"text": 75},
}
_ITEM_LIMITS = {
    "section": {"fields": 10},
    "context": {"elements": 10},
    "actions": {"elements": 25},
    "checkboxes": {"options": 10},
    "radio_buttons": {"options": 10},
    "overflow": {"options": 5},
    "static_select": {"options": 100},
    "multi_static_select": {"options": 100},
}
MESSAGE_MAX_BLOCKS = 50
VIEW_MAX_BLOCKS = 100
MESSAGE_MAX_CHARS = 40_000

Params = dict[str, Any]


@dataclass(frozen=True)
class Call:
    """One request the stand-in received and what it answered.

    `headers` have lower-case names. `response` is the JSON body sent back (text for uploads and
    response URLs, None when an injected fault dropped the connection). `path` is the URL path
    it came to and `at` when it arrived (`time.time()`), for latency measurements.
    """

    method: str
    params: Params
    headers: dict[str, str]
    status: int
    response: dict[str, Any] | str | None
    fault: bool = False
    path: str = ""
    at: float = field(default_factory=time.time)

    @property
    def token(self) -> str | None:
        """The token the call was made with, from the Authorization header or a form field."""
        return _token_of(self.headers, self.params)


@dataclass
class _Rule:
    """Which calls a fault or a delay is for: the next `remaining` (None: all) matching `when`."""

    method: str
    remaining: int | None
    when: Callable[[Params], bool] | None

    def take(self, method: str, params: Params) -> bool:
        """Whether it applies to this call; if so, the call is counted off."""
        if self.method != method or self.remaining == 0:
            return False
        if self.when is not None and not self.when(params):
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True


@dataclass
class _Fault(_Rule):
    status: int
    error: str | None
    retry_after: int | None
    disconnect: bool


@dataclass
class _Slow(_Rule):
    seconds: float


@dataclass
class _User:
    id: str
    email: str
    name: str
    tz: str | None
    team: str = TEAM_ID
    locale: str = "en-US"
    # The custom status: emoji, text, and when it clears (Unix seconds; 0: never).
    status: tuple[str, str, int] = ("", "", 0)


@dataclass
class _Team:
    id: str
    name: str
    domain: str


class _SlackError(Exception):
    """Answered as Slack's `{"ok": false, "error": ...}`, with any extra fields."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.body: dict[str, Any] = {"ok": False, "error": error, **extra}


def _invalid_arguments(messages: list[str]) -> _SlackError:
    return _SlackError(
        "invalid_arguments", response_metadata={"messages": [f"[ERROR] {m}" for m in messages]}
    )


class _Handler(BaseHTTPRequestHandler):
    server: StandInServer

    def do_POST(self) -> None:
        self.server.standin._serve(self)

    def do_GET(self) -> None:
        """Slack takes Web API calls as GET too; slack_sdk reads history that way."""
        self.server.standin._serve(self)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet; `.calls` is the log."""


class SlackStandIn(LocalServer):
    """Slack's Web API on 127.0.0.1 and an ephemeral port; see the module docstring.

    `directory` maps email → user id (more detail with `add_user`). `scopes` are the scopes the
    bot token was granted: a method needing another answers `missing_scope`. With `token` set,
    any other token answers `invalid_auth`; without, any token is accepted (none: `not_authed`).
    `messages` ((channel, ts) → message), `views` (id → view), `home_tabs` (user id → view) and
    `files` (id → file, with its uploaded `content`) hold what the bot has made.
    """

    service = "Slack"
    handler = _Handler

    def __init__(
        self,
        directory: Mapping[str, str] | None = None,
        *,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        token: str | None = None,
        client_id: str = "1111.2222",
        client_secret: str = "app-client-secret",
    ) -> None:
        super().__init__()
        self.scopes = set(scopes)
        self.client_id, self.client_secret = client_id, client_secret
        self._teams = {TEAM_ID: _Team(TEAM_ID, "Coach Test", TEAM_DOMAIN)}
        self._codes: dict[str, tuple[str, str]] = {}  # OAuth code → (team id, installer id)
        self._bot_tokens: dict[str, str] = {}  # bot token → team id, issued by oauth.v2.access
        self._caller = TEAM_ID  # the team of the call being answered (under the lock)
        self._caller_token = ""  # and the token it came with
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.home_tabs: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self._token = token
        self._users: dict[str, _User] = {}
        self._ims: dict[tuple[str, ...], str] = {}
        self._used_triggers: set[str] = set()
        self._calls: list[Call] = []
        self._faults: list[_Fault] = []
        self._slows: list[_Slow] = []
        # Set to answer the calls `slow` holds back; stop() sets it for good, release() for now.
        self._released = threading.Event()
        # One condition guards all state: handlers run on server threads, tests read and wait.
        self._lock = threading.Condition()
        self._ids = itertools.count(1)
        self._ts_base = int(time.time()) * 1_000_000
        # Where `apps.connections.open` sends a Socket Mode client (a local WebSocket URL).
        self.socket_url: str | None = None
        self._methods: dict[str, Callable[[Params], dict[str, Any]]] = {
            "apps.connections.open": self._apps_connections_open,
            "auth.test": self._auth_test,
            "chat.getPermalink": self._chat_get_permalink,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "conversations.history": self._conversations_history,
            "conversations.open": self._conversations_open,
            "conversations.replies": self._conversations_replies,
            "files.completeUploadExternal": self._files_complete_upload_external,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "users.info": self._users_info,
            "users.profile.get": self._users_profile_get,
            "users.lookupByEmail": self._users_lookup_by_email,
            "views.open": self._views_open,
            "views.publish": self._views_publish,
            "views.push": self._views_open,  # the same rules: a fresh trigger and a modal
            "views.update": self._views_update,
        }
        for email, user_id in (directory or {}).items():
            self.add_user(user_id, email)

    # -- life cycle --------------------------------------------------------------------------------

    def _on_start(self) -> None:
        self._released = threading.Event()

    def _on_stop(self) -> None:
        self._released.set()  # calls held back by `slow` are answered at once

    @property
    def base(self) -> str:
        """`http://127.0.0.1:PORT`, the stand-in's origin."""
        return self.origin

    @property
    def url(self) -> str:
        """The Web API base URL, for SLACK_API_URL: `http://127.0.0.1:PORT/api/`."""
        return f"{self.base}/api/"

    # -- set-up ------------------------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        email: str,
        *,
        name: str | None = None,
        tz: str | None = None,
        team: str = TEAM_ID,
        locale: str = "en-US",
    ) -> None:
        """Put a person in a workspace (the default team unless `team`); `tz` (IANA) is their
        Slack profile's time zone, `locale` their Slack language ('de-DE')."""
        with self._lock:
            if team not in self._teams:
                raise KeyError(f"no team {team}: add_team first")
            self._users[user_id] = _User(
                user_id, email, name or email.split("@")[0], tz, team, locale
            )

    def set_status(self, user_id: str, emoji: str, text: str, expiration: int = 0) -> None:
        """Set a person's custom status, as they would in Slack (`expiration`: Unix seconds when
        it clears, 0 for never); `users.profile.get` shows it until then."""
        with self._lock:
            self._users[user_id].status = (emoji, text, expiration)

    def add_team(self, team_id: str, name: str, *, installer: str) -> str:
        """Make a workspace (if new) whose admin `installer` approves an install; returns the
        one-time code Slack would hand the app's redirect URL."""
        with self._lock:
            self._teams.setdefault(team_id, _Team(team_id, name, name.lower().replace(" ", "-")))
            code = secrets.token_hex(8)
            self._codes[code] = (team_id, installer)
            return code

    def team_of(self, token: str | None) -> str:
        """The team a token acts in."""
        with self._lock:
            return self._bot_tokens.get(token or "", TEAM_ID)

    def fail(
        self,
        method: str,
        *,
        status: int = 200,
        error: str | None = None,
        retry_after: int | None = None,
        times: int | None = None,
        when: Callable[[Params], bool] | None = None,
        disconnect: bool = False,
    ) -> None:
        """Make the next `times` calls of `method` (all of them when None) fail.

        The failure is an HTTP `status` (429 answers `ratelimited` with Retry-After, 1 s unless
        `retry_after` says otherwise; 5xx answers `internal_error`), a Slack `error` with HTTP
        200 (`user_not_found`, `account_inactive` …), or `disconnect`: the connection is closed
        with no answer. `when(params)` limits it to matching calls. Faults are tried in the order
        they were added; a faulted call is recorded with `fault=True` and not carried out.
        """
        if status == 200 and error is None and not disconnect:
            raise ValueError("a fault needs an HTTP status, a Slack error or disconnect=True")
        if status == 429 and retry_after is None:
            retry_after = 1  # Slack always says when to come back
        fault = _Fault(method, times, when, status, error, retry_after, disconnect)
        with self._lock:
            self._faults.append(fault)

    def slow(
        self,
        method: str,
        seconds: float,
        *,
        when: Callable[[Params], bool] | None = None,
        times: int | None = None,
    ) -> None:
        """Hold back the answer to the next `times` calls of `method` (all when None) `seconds`.

        Unlike `fail`, the call is carried out and recorded at once: a message is posted before
        the client hears so, and a client killed or timed out meanwhile never does. `when` and
        `times` work as for `fail`; a faulted call is answered at once and does not count.
        `release()` or `stop()` answers held-back calls straight away.
        """
        with self._lock:
            self._slows.append(_Slow(method, times, when, seconds))

    def release(self) -> None:
        """Answer every call `slow` is holding back now; later calls are held back as before."""
        with self._lock:
            self._released.set()
            self._released = threading.Event()

    def response_url(self) -> str:
        """A fresh response_url on the stand-in, for slash command and interaction bodies."""
        return f"{self.base}/commands/{TEAM_ID}/{next(self._ids)}/{secrets.token_hex(12)}"

    # -- reading -----------------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Every call so far, in order (a copy)."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        """The calls of one method (or UPLOAD / RESPONSE_URL), in order."""
        with self._lock:
            return [call for call in self._calls if call.method == method]

    def posted(self, channel: str | None = None) -> list[dict[str, Any]]:
        """The messages posted (copies), oldest first; only one conversation's with `channel`.

        A user id stands for the bot's DM with them: what that person received (none if no DM).
        """
        with self._lock:
            if channel is None:
                messages = self.messages.values()
            else:
                dm = self._ims.get((channel,), channel) if channel[:1] in ("U", "W") else channel
                messages = [m for (c, _), m in self.messages.items() if c == dm]
            return [dict(m) for m in sorted(messages, key=lambda m: float(m["ts"]))]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Wait until `method` has been called `count` times (work after an ack runs later)."""
        with self._lock:
            if self._lock.wait_for(lambda: len(self.calls_to(method)) >= count, timeout):
                return self.calls_to(method)
            seen = [call.method for call in self._calls]
        raise AssertionError(f"waited {timeout}s for {count} {method} call(s); calls: {seen}")

    # -- serving -----------------------------------------------------------------------------------

    def _serve(self, request: _Handler) -> None:
        split = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in request.headers.items()}
        kind, _, rest = split.path.lstrip("/").partition("/")
        with self._lock:
            if kind == "api":
                method = rest
                params = _parse_params(raw, headers.get("content-type", ""), split.query)
            elif kind == "upload":
                method, params = UPLOAD, {"file_id": rest, "content": raw}
            elif kind == "commands":
                method, params = RESPONSE_URL, json.loads(raw or b"{}")
            else:
                request.send_error(404)
                return
            fault = next((f for f in self._faults if f.take(method, params or {})), None)
            if fault is not None:
                status, body, reply_headers = self._fault_reply(fault)
            elif kind == "api":
                status, body, reply_headers = self._api(method, params, headers)
            elif kind == "upload":
                status, body, reply_headers = *self._upload(rest, raw), {}
            else:
                status, body, reply_headers = *self._respond(params), {}
            faulted = fault is not None
            self._calls.append(
                Call(method, params or {}, headers, status, body, faulted, split.path)
            )
            slows = [] if fault else self._slows  # a faulted call is answered at once
            slow = next((s for s in slows if s.take(method, params or {})), None)
            released = self._released
            self._lock.notify_all()
        if body is None:
            return  # a dropped connection: close it without a word
        if slow is not None:
            released.wait(slow.seconds)
        data = json.dumps(body).encode() if isinstance(body, dict) else body.encode()
        # A client that gave up or died while the answer was held back is not worth a traceback.
        with contextlib.suppress(ConnectionError):
            request.send_response(status)
            content_type = "application/json" if isinstance(body, dict) else "text/plain"
            request.send_header("Content-Type", f"{content_type}; charset=utf-8")
            request.send_header("Content-Length", str(len(data)))
            for name, value in reply_headers.items():
                request.send_header(name, value)
            request.end_headers()
            request.wfile.write(data)

    def _fault_reply(self, fault: _Fault) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        if fault.disconnect:
            return 0, None, {}
        error = fault.error or ("ratelimited" if fault.status == 429 else "internal_error")
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        return fault.status, {"ok": False, "error": error}, headers

    def _api(
        self, method: str, params: Params | None, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        reply_headers = {"x-oauth-scopes": ",".join(sorted(self.scopes))}
        needed = _NEEDED_SCOPES.get(method)
        if method in _HISTORY_METHODS and params:
            channel = str(params.get("channel") or "")
            needed = _HISTORY_SCOPES.get("D" if channel[:1] in ("U", "W") else channel[:1])
        if needed:
            reply_headers["x-accepted-oauth-scopes"] = needed
        try:
            if params is None:
                raise _SlackError("invalid_json")
            if method == "oauth.v2.access":  # the app's own credentials, not a token
                return 200, {"ok": True, **self._oauth_v2_access(params, headers)}, {}
            token = _token_of(headers, params)
            handler = self._methods.get(method)
            if handler is None:
                raise _SlackError("unknown_method")
            if not token:
                raise _SlackError("not_authed")
            issued = self._bot_tokens.get(token)
            if issued is None and self._token is not None and token != self._token:
                raise _SlackError("invalid_auth")
            self._caller = issued or TEAM_ID
            self._caller_token = token
            if needed and needed not in self.scopes:
                provided = ",".join(sorted(self.scopes))
                raise _SlackError("missing_scope", needed=needed, provided=provided)
            return 200, {"ok": True, **handler(params)}, reply_headers
        except _SlackError as exc:
            return 200, exc.body, reply_headers

    def _upload(self, file_id: str, content: bytes) -> tuple[int, str]:
        file = self.files.get(file_id)
        if file is None:
            return 404, "Not Found"
        file["content"] = content
        return 200, f"OK - {len(content)}"

    def _respond(self, payload: Params) -> tuple[int, str]:
        # A response_url answers like an incoming webhook: HTTP 400 and the error as text.
        if payload.get("delete_original"):
            return 200, "ok"
        try:
            _check_message(payload)
        except _SlackError as exc:
            return 400, exc.body["error"]
        return 200, "ok"

    # -- Web API methods ---------------------------------------------------------------------------

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08X}"

    def _next_ts(self) -> str:
        value = self._ts_base + next(self._ids)
        return f"{value // 1_000_000}.{value % 1_000_000:06d}"

    def _user(self, user_id: Any, error: str = "user_not_found") -> _User:
        user = self._users.get(str(user_id or ""))
        if user is None or user.team != self._caller:  # other workspaces' people are unknown
            raise _SlackError(error)
        return user

    def _im(self, user_ids: tuple[str, ...]) -> tuple[str, bool]:
        """The DM (or group DM) channel with these users, and whether it was already open."""
        key = tuple(sorted(user_ids))
        if key in self._ims:
            return self._ims[key], True
        self._ims[key] = self._next_id("D" if len(key) == 1 else "G")
        return self._ims[key], False

    def _channel(self, channel: Any) -> str:
        """A conversation id; a user id stands for the bot's DM with that person, as in Slack."""
        channel = str(channel or "")
        if channel[:1] in ("U", "W"):
            return self._im((self._user(channel, "channel_not_found").id,))[0]
        if not channel:
            raise _SlackError("channel_not_found")
        return channel

    def _user_object(self, user: _User) -> dict[str, Any]:
        profile = {"email": user.email, "real_name": user.name, "display_name": user.name}
        result: dict[str, Any] = {
            "id": user.id,
            "team_id": user.team,
            "name": user.name,
            "real_name": user.name,
            "deleted": False,
            "is_bot": False,
            "profile": profile,
        }
        if user.tz:
            offset = datetime.now(ZoneInfo(user.tz)).utcoffset()
            result["tz"] = user.tz
            result["tz_offset"] = int(offset.total_seconds()) if offset else 0
        return result

    def _apps_connections_open(self, params: Params) -> dict[str, Any]:
        # Socket Mode's WebSocket URL, asked for with the app-level token only.
        if not self._caller_token.startswith("xapp-"):
            raise _SlackError("not_allowed_token_type")
        if self.socket_url is None:
            raise _SlackError("invalid_auth")
        return {"url": self.socket_url}

    def _auth_test(self, params: Params) -> dict[str, Any]:
        team = self._teams[self._caller]
        return {
            "url": f"https://{team.domain}.slack.com/",
            "team": team.name,
            "user": "coach",
            "team_id": team.id,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _users_lookup_by_email(self, params: Params) -> dict[str, Any]:
        email = str(params.get("email", "")).lower()
        for user in self._users.values():
            if user.email.lower() == email and user.team == self._caller:
                return {"user": self._user_object(user)}
        raise _SlackError("users_not_found")

    def _oauth_v2_access(self, params: Params, headers: Mapping[str, str]) -> dict[str, Any]:
        """Exchange a one-time code for its team's bot token; the app authenticates with its
        client id and secret (HTTP Basic, as slack_sdk sends them, or form fields)."""
        client_id, secret = params.get("client_id"), params.get("client_secret")
        auth = headers.get("authorization", "")
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        if client_id != self.client_id:
            raise _SlackError("invalid_client_id")
        if secret != self.client_secret:
            raise _SlackError("bad_client_secret")
        grant = self._codes.pop(str(params.get("code") or ""), None)
        if grant is None:
            raise _SlackError("invalid_code")
        team = self._teams[grant[0]]
        token = f"xoxb-{team.id}-{secrets.token_hex(6)}"
        self._bot_tokens[token] = team.id
        return {
            "app_id": APP_ID,
            "authed_user": {"id": grant[1]},
            "scope": ",".join(sorted(self.scopes)),
            "token_type": "bot",
            "access_token": token,
            "bot_user_id": BOT_USER_ID,
            "team": {"id": team.id, "name": team.name},
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def _users_info(self, params: Params) -> dict[str, Any]:
        user = self._user(params.get("user"))
        result = self._user_object(user)
        if str(params.get("include_locale")).lower() in ("true", "1"):  # as Slack: only if asked
            result["locale"] = user.locale
        return {"user": result}

    def _users_profile_get(self, params: Params) -> dict[str, Any]:
        """A person's profile with their custom status; an expired status reads as none."""
        user = self._user(params.get("user"))
        emoji, text, expiration = user.status
        if expiration and expiration <= time.time():
            emoji, text, expiration = "", "", 0
        return {
            "profile": {
                "real_name": user.name,
                "display_name": user.name,
                "email": user.email,
                "status_emoji": emoji,
                "status_text": text,
                "status_expiration": expiration,
            }
        }

    def _conversations_open(self, params: Params) -> dict[str, Any]:
        if params.get("channel"):
            return {"channel": {"id": params["channel"]}}
        users = params.get("users") or ""
        ids = users if isinstance(users, list) else str(users).split(",")
        if not any(ids):
            raise _invalid_arguments(["missing required field: users"])
        channel, already_open = self._im(tuple(self._user(u.strip()).id for u in ids))
        extra = {"no_op": True, "already_open": True} if already_open else {}
        return {**extra, "channel": {"id": channel}}

    def _message(self, params: Params, ts: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": self._caller,
            "ts": ts,
            "text": params.get("text") or "",
        }
        for name in ("blocks", "attachments", "thread_ts", "metadata"):
            if params.get(name):
                message[name] = params[name]
        if message.get("thread_ts") and _flag(params.get("reply_broadcast")):
            message["subtype"] = "thread_broadcast"  # a reply also shown in the conversation
        if isinstance(message.get("metadata"), str):  # JSON-string metadata in a JSON body
            try:
                message["metadata"] = json.loads(message["metadata"])
            except ValueError:
                raise _SlackError("invalid_metadata_format") from None
        if "metadata" in message and not isinstance(message["metadata"], dict):
            raise _SlackError("invalid_metadata_format")
        return message

    def _chat_post_message(self, params: Params) -> dict[str, Any]:
        channel = self._channel(params.get("channel"))
        _check_message(params)
        ts = self._next_ts()
        message = self._message(params, ts)
        self.messages[(channel, ts)] = message
        return {"channel": channel, "ts": ts, "message": message}

    def _timeline(self, channel: str) -> list[dict[str, Any]]:
        """A conversation's messages, replies included, oldest first."""
        messages = [m for (c, _), m in self.messages.items() if c == channel]
        return sorted(messages, key=lambda m: float(m["ts"]))

    def _shown(
        self, message: dict[str, Any], timeline: list[dict[str, Any]], params: Params
    ) -> dict[str, Any]:
        """A message as history and replies show it: metadata on request, a parent's replies."""
        shown = dict(message)
        if not _flag(params.get("include_all_metadata")):
            shown.pop("metadata", None)
        ts = message["ts"]
        replies = [m for m in timeline if m.get("thread_ts") == ts and m["ts"] != ts]
        if replies:
            users = sorted({m["user"] for m in replies})
            shown.update(
                thread_ts=ts,
                reply_count=len(replies),
                reply_users=users,
                reply_users_count=len(users),
                latest_reply=replies[-1]["ts"],
            )
        return shown

    def _conversations_history(self, params: Params) -> dict[str, Any]:
        timeline = self._timeline(self._channel(params.get("channel")))
        oldest, latest = float(params.get("oldest") or 0), float(params.get("latest") or "inf")
        inclusive = _flag(params.get("inclusive"))

        def listed(message: dict[str, Any]) -> bool:
            ts = float(message["ts"])
            within = oldest <= ts <= latest if inclusive else oldest < ts < latest
            top = message.get("thread_ts", message["ts"]) == message["ts"]
            return within and (top or message.get("subtype") == "thread_broadcast")

        newest_first = [self._shown(m, timeline, params) for m in reversed(timeline) if listed(m)]
        return _page(newest_first, params)

    def _conversations_replies(self, params: Params) -> dict[str, Any]:
        channel = self._channel(params.get("channel"))
        ts = str(params.get("ts") or "")
        if not ts:
            raise _invalid_arguments(["missing required field: ts"])
        if (channel, ts) not in self.messages:
            raise _SlackError("thread_not_found")
        timeline = self._timeline(channel)
        thread = [self.messages[(channel, ts)]]
        thread += [m for m in timeline if m.get("thread_ts") == ts and m["ts"] != ts]
        return _page([self._shown(m, timeline, params) for m in thread], params)

    def _chat_post_ephemeral(self, params: Params) -> dict[str, Any]:
        self._channel(params.get("channel"))
        if not params.get("user"):
            raise _invalid_arguments(["missing required field: user"])
        _check_message(params)
        return {"message_ts": self._next_ts()}

    def _chat_update(self, params: Params) -> dict[str, Any]:
        channel = self._channel(params.get("channel"))
        key = (channel, str(params.get("ts", "")))
        if key not in self.messages:
            raise _SlackError("message_not_found")
        _check_message(params)
        message = {**self.messages[key], **self._message(params, key[1])}
        self.messages[key] = message
        return {"channel": channel, "ts": key[1], "text": message["text"], "message": message}

    def _chat_get_permalink(self, params: Params) -> dict[str, Any]:
        channel = self._channel(params.get("channel"))
        ts = str(params.get("message_ts", ""))
        if (channel, ts) not in self.messages:
            raise _SlackError("message_not_found")
        domain = self._teams[self._caller].domain
        link = f"https://{domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"channel": channel, "permalink": link}

    def _exchange_trigger(self, params: Params) -> None:
        trigger = params.get("trigger_id") or params.get("interactivity_pointer")
        if not trigger:
            raise _invalid_arguments(["invalid `trigger_id`"])
        if trigger in self._used_triggers:
            raise _SlackError("exchanged_trigger_id")
        self._used_triggers.add(trigger)

    def _store_view(self, view: dict[str, Any], view_id: str | None = None) -> dict[str, Any]:
        view_id = view_id or self._next_id("V")
        stored = {
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            **view,
            "id": view_id,
            "team_id": self._caller,
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
        }
        self.views[view_id] = stored
        return stored

    def _views_open(self, params: Params) -> dict[str, Any]:
        view = _checked_view(params.get("view"), ("modal",))
        self._exchange_trigger(params)
        return {"view": self._store_view(view)}

    def _views_update(self, params: Params) -> dict[str, Any]:
        view = _checked_view(params.get("view"), ("modal", "home"))
        view_id = params.get("view_id")
        if not view_id and params.get("external_id"):
            matches = [
                v["id"] for v in self.views.values() if v["external_id"] == params["external_id"]
            ]
            view_id = matches[0] if matches else None
        if view_id not in self.views:
            raise _SlackError("not_found")
        if params.get("hash") and params["hash"] != self.views[view_id]["hash"]:
            raise _SlackError("hash_conflict")
        return {"view": self._store_view(view, view_id)}

    def _views_publish(self, params: Params) -> dict[str, Any]:
        view = _checked_view(params.get("view"), ("home",))
        user_id = params.get("user_id")
        if not user_id:
            raise _invalid_arguments(["missing required field: user_id"])
        current = self.home_tabs.get(user_id)
        if params.get("hash") and current and params["hash"] != current["hash"]:
            raise _SlackError("hash_conflict")
        stored = self._store_view(view, current["id"] if current else None)
        self.home_tabs[user_id] = stored
        return {"view": stored}

    def _files_get_upload_url_external(self, params: Params) -> dict[str, Any]:
        missing = [name for name in ("filename", "length") if not params.get(name)]
        if missing:
            raise _invalid_arguments([f"missing required field: {name}" for name in missing])
        file_id = self._next_id("F")
        self.files[file_id] = {
            "id": file_id,
            "name": params["filename"],
            "length": int(params["length"]),
            "content": None,
            "title": params["filename"],
            "channels": [],
            "thread_ts": None,
        }
        return {"upload_url": f"{self.base}/upload/{file_id}", "file_id": file_id}

    def _files_complete_upload_external(self, params: Params) -> dict[str, Any]:
        entries = params.get("files")
        if not isinstance(entries, list) or not entries:
            raise _invalid_arguments(["missing required field: files"])
        channels = [params["channel_id"]] if params.get("channel_id") else []
        channels += [c for c in str(params.get("channels") or "").split(",") if c]
        channels = [self._channel(channel) for channel in channels]
        completed = []
        for entry in entries:
            file = self.files.get(entry.get("id", ""))
            if file is None or file["content"] is None:
                raise _SlackError("file_not_found")
            file.update(
                title=entry.get("title") or file["name"],
                channels=channels,
                thread_ts=params.get("thread_ts"),
            )
            completed.append(
                {
                    "id": file["id"],
                    "name": file["name"],
                    "title": file["title"],
                    "size": len(file["content"]),
                    "channels": channels,
                }
            )
        return {"files": completed}


# -- parsing, and Block Kit checks in Slack's own wording ------------------------------------------


def _parse_params(raw: bytes, content_type: str, query: str) -> Params | None:
    """A call's arguments from its query string and body; None when a JSON body is not JSON."""
    params: Params = dict(parse_qsl(query, keep_blank_values=True))
    if content_type.startswith("application/json"):
        try:
            params.update(json.loads(raw or b"{}"))
        except ValueError:
            return None
        return params
    params.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    # Decode JSON-string arguments so tests read the same shape whichever way a call was sent.
    for name in _JSON_ARGUMENTS:
        value = params.get(name)
        if isinstance(value, str) and value[:1] in ("[", "{"):
            # Bad JSON stays text: the method's own checks refuse it, as Slack would.
            with contextlib.suppress(ValueError):
                params[name] = json.loads(value)
    return params


def _flag(value: Any) -> bool:
    """A boolean argument: True, or "true"/"1" as a form or query string sends it."""
    return str(value).lower() in ("true", "1")


def _page(messages: list[dict[str, Any]], params: Params) -> dict[str, Any]:
    """`limit` (default 100) of `messages` from `cursor` on, with Slack's cursor to the rest."""
    start = 0
    if params.get("cursor"):
        try:
            ts = base64.b64decode(params["cursor"], validate=True).decode().removeprefix("next_ts:")
            start = next(i for i, m in enumerate(messages) if m["ts"] == ts)
        except (ValueError, StopIteration):
            raise _SlackError("invalid_cursor") from None
    end = start + int(params.get("limit") or 100)
    more = end < len(messages)
    cursor = base64.b64encode(f"next_ts:{messages[end]['ts']}".encode()).decode() if more else ""
    return {
        "messages": messages[start:end],
        "has_more": more,
        "response_metadata": {"next_cursor": cursor},
    }


def _token_of(headers: Mapping[str, str], params: Params) -> str | None:
    """The bearer token in the Authorization header (lower-case names), else a `token` field."""
    auth = headers.get("authorization", "")
    return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else params.get("token")


def _too_long(value: Any, limit: int, pointer: str) -> list[str]:
    if len(str(value)) > limit:
        return [f"must be less than {limit + 1} characters [json-pointer:{pointer}]"]
    return []


def _element_errors(element: Any, pointer: str) -> list[str]:
    if not isinstance(element, dict) or "type" not in element:
        return [f"missing required field: type [json-pointer:{pointer}]"]
    kind = element["type"]
    errors = _too_long(element.get("block_id", ""), 255, f"{pointer}/block_id")
    for name, limit in _TEXT_LIMITS.get(kind, {}).items():
        text = element.get(name)
        if isinstance(text, dict):
            errors += _too_long(text.get("text", ""), limit, f"{pointer}/{name}/text")
    for name, limit in _ITEM_LIMITS.get(kind, {}).items():
        if len(element.get(name) or ()) > limit:
            errors.append(f"no more than {limit} items allowed [json-pointer:{pointer}/{name}]")
    for name in ("accessory", "element"):
        if name in element:
            errors += _element_errors(element[name], f"{pointer}/{name}")
    if kind in ("actions", "context"):
        for i, child in enumerate(element.get("elements") or ()):
            errors += _element_errors(child, f"{pointer}/elements/{i}")
    return errors


def _blocks_errors(blocks: Any, pointer: str, max_blocks: int) -> list[str]:
    if not isinstance(blocks, list):
        return [f"must be an array [json-pointer:{pointer}]"]
    errors = []
    if len(blocks) > max_blocks:
        errors.append(f"no more than {max_blocks} items allowed [json-pointer:{pointer}]")
    for i, block in enumerate(blocks):
        errors += _element_errors(block, f"{pointer}/{i}")
    return errors


def _check_message(params: Params) -> None:
    """Refuse a message Slack would refuse: no content, too long, or blocks out of bounds."""
    text, blocks = params.get("text"), params.get("blocks")
    if not text and not blocks and not params.get("attachments"):
        raise _SlackError("no_text")
    if text and len(str(text)) > MESSAGE_MAX_CHARS:
        raise _SlackError("msg_too_long")
    if blocks:
        if not isinstance(blocks, list):
            raise _SlackError("invalid_blocks_format")
        errors = _blocks_errors(blocks, "/blocks", MESSAGE_MAX_BLOCKS)
        if errors:
            messages = [f"[ERROR] {error}" for error in errors]
            raise _SlackError(
                "invalid_blocks", errors=errors, response_metadata={"messages": messages}
            )


def _checked_view(view: Any, kinds: tuple[str, ...]) -> dict[str, Any]:
    """The view, or `invalid_arguments` listing what Slack would say is wrong with it."""
    if not isinstance(view, dict):
        raise _invalid_arguments(["failed to parse view [json-pointer:/view]"])
    errors = [
        f"missing required field: {name} [json-pointer:/view]"
        for name in ("type", "blocks")
        if name not in view
    ]
    kind = view.get("type")
    if kind is not None and kind not in kinds:
        errors.append(f"must be one of {', '.join(kinds)} [json-pointer:/view/type]")
    if kind == "modal":
        if "title" not in view:
            errors.append("missing required field: title [json-pointer:/view]")
        for name in ("title", "submit", "close"):
            if isinstance(view.get(name), dict):
                errors += _too_long(view[name].get("text", ""), 24, f"/view/{name}/text")
        if "submit" not in view and isinstance(view.get("blocks"), list):
            errors += [
                f"must define `submit` to use an `input` block in modals "
                f"[json-pointer:/view/blocks/{i}/input]"
                for i, block in enumerate(view["blocks"])
                if isinstance(block, dict) and block.get("type") == "input"
            ]
    errors += _too_long(view.get("private_metadata", ""), 3000, "/view/private_metadata")
    errors += _too_long(view.get("callback_id", ""), 255, "/view/callback_id")
    if "blocks" in view:
        errors += _blocks_errors(view["blocks"], "/view/blocks", VIEW_MAX_BLOCKS)
    if errors:
        raise _invalid_arguments(errors)
    return view


# -- what Slack sends the app ----------------------------------------------------------------------


def sign_slack_request(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The X-Slack-Request-Timestamp and X-Slack-Signature headers Slack would send with `body`.

    The signature is `v0=` + hex HMAC-SHA256, keyed with the signing secret, of `v0:{ts}:{body}`.
    """
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest.hexdigest()}"}


def new_trigger_id() -> str:
    """A trigger id shaped like Slack's; each is good for one views.open."""
    return f"{int(time.time())}.{secrets.randbelow(10**9)}.{secrets.token_hex(16)}"


def slash_command_body(
    text: str,
    *,
    user_id: str,
    response_url: str,
    user_name: str = "someone",
    command: str = "/coach",
    channel_id: str = "C0C0ACH01",
    channel_name: str = "sales",
    trigger_id: str | None = None,
    team_id: str = TEAM_ID,
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = APP_ID,
    token: str = "verification-token",
) -> bytes:
    """A slash command's form-encoded body, fields in the order Slack sends them.

    With `should_escape` on, Slack has already turned mentions in `text` into `<@U123|name>`;
    pass `text` that way. In a DM, `channel_id` is a D… id and `channel_name` "directmessage".
    `response_url` has no default so that no test answers Slack itself: pass the stand-in's
    `response_url()`.
    """
    fields = {
        "token": token,  # the deprecated verification token; Bolt ignores it
        "team_id": team_id,
        "team_domain": team_domain,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or new_trigger_id(),
    }
    return urlencode(fields).encode()


def interaction_body(payload: Mapping[str, Any]) -> bytes:
    """An interactivity request's body: `payload=` and the URL-encoded JSON payload."""
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


def event_body(event: Mapping[str, Any], *, team_id: str = TEAM_ID) -> bytes:
    """An Events API delivery (`event_callback`) wrapping `event`, as JSON."""
    envelope = {
        "token": "verification-token",
        "team_id": team_id,
        "api_app_id": APP_ID,
        "event": dict(event),
        "type": "event_callback",
        "event_id": f"Ev{secrets.token_hex(5).upper()}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "team_id": team_id,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
    }
    return json.dumps(envelope, separators=(",", ":")).encode()
