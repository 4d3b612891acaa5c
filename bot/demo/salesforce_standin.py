"""A local stand-in for the Salesforce REST API, written from Salesforce's published reference.

The tests (and anyone trying `coach sync salesforce` without an org) point the connector at it
with SALESFORCE_BASE_URL; nothing in the running bot imports it. It answers:

- `POST /services/oauth2/token`: the OAuth 2.0 JWT bearer flow. The assertion is checked as
  Salesforce checks it (RS256 signature by the connected app's certificate, `iss` its consumer
  key, `sub` a known username, `aud` the login host, `exp` in the future); errors are
  `{"error": "invalid_grant", "error_description": …}` with HTTP 400.
- `GET /services/data/vXX.X/query?q=SOQL` and `queryAll` (deleted and archived rows too), with
  pages of `page_size` records (Salesforce: up to 2,000), `done`, `totalSize` and a
  `nextRecordsUrl` (`/services/data/vXX.X/query/01g…-2000`) read with `GET`. The SOQL is parsed
  (`bot.demo.soql`): unknown objects answer INVALID_TYPE, unknown fields INVALID_FIELD, anything
  outside the subset MALFORMED_QUERY, all HTTP 400.
- `GET /services/data/vXX.X/sobjects/Object/deleted/?start=…&end=…`: `deletedRecords`,
  `earliestDateAvailable`, `latestDateCovered`.

Every answer carries `Sforce-Limit-Info: api-usage=used/limit`; past the limit calls answer 403
REQUEST_LIMIT_EXCEEDED. A revoked or unknown token answers 401 INVALID_SESSION_ID; `deny(obj)`
hides an object from the integration user (INVALID_TYPE, as Salesforce answers), `hide(obj,
field)` one field (INVALID_FIELD). `fail(...)` makes chosen calls fail (after letting `after`
through, for a sync that dies midway); `hold(...)` holds one back, for a sync killed midway.
Errors are Salesforce's JSON array `[{"message": …, "errorCode": …}]`. Every call is recorded
in `.calls`.

`python -m bot.demo.salesforce_standin [demo/org.csv]` serves an org seeded from an org chart
(`seed_org`) and prints the settings that reach it.

    with SalesforceStandIn() as sf:
        rep = sf.add_user("Priya Shah", "priya@example.com")
        opp = sf.add_opportunity("Acme renewal", owner=rep, stage="Prospecting", at=t0)
        sf.set_stage(opp, "Closed Won", at=t1)
        ...  # sync with SALESFORCE_BASE_URL=sf.url, SALESFORCE_ACCESS_TOKEN=sf.token
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import json
import random
import re
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

from bot.demo import soql
from bot.demo.local_server import LocalServer, StandInServer

API_VERSION = "59.0"
INSTANCE_URL = "https://coach-test.my.salesforce.com"
DEFAULT_PAGE_SIZE = 2000
# Key prefixes of the standard objects' ids (the first three characters of every id).
PREFIXES = {
    "User": "005",
    "Opportunity": "006",
    "OpportunityHistory": "008",
    "OpportunityFieldHistory": "017",
    "Task": "00T",
    "Event": "00U",
}
# Field types of the fields the stand-in knows, per object (a subset of each object's fields).
FIELDS: dict[str, dict[str, str]] = {
    "User": {
        "Id": "id",
        "Name": "string",
        "FirstName": "string",
        "LastName": "string",
        "Email": "string",
        "Username": "string",
        "ManagerId": "reference",
        "IsActive": "boolean",
        "UserType": "picklist",
        "CreatedDate": "datetime",
        "LastModifiedDate": "datetime",
        "SystemModstamp": "datetime",
    },
    "Opportunity": {
        "Id": "id",
        "Name": "string",
        "OwnerId": "reference",
        "AccountId": "reference",
        "StageName": "picklist",
        "Amount": "double",
        "Probability": "double",
        "CloseDate": "date",
        "IsClosed": "boolean",
        "IsWon": "boolean",
        "IsDeleted": "boolean",
        "CreatedDate": "datetime",
        "LastModifiedDate": "datetime",
        "SystemModstamp": "datetime",
    },
    "OpportunityHistory": {
        "Id": "id",
        "OpportunityId": "reference",
        "StageName": "picklist",
        "Amount": "double",
        "CloseDate": "date",
        "Probability": "double",
        "IsDeleted": "boolean",
        "CreatedById": "reference",
        "CreatedDate": "datetime",
        "SystemModstamp": "datetime",
    },
    "OpportunityFieldHistory": {
        "Id": "id",
        "OpportunityId": "reference",
        "Field": "picklist",
        "DataType": "picklist",
        "OldValue": "anyType",
        "NewValue": "anyType",
        "IsDeleted": "boolean",
        "CreatedById": "reference",
        "CreatedDate": "datetime",
    },
    "Task": {
        "Id": "id",
        "OwnerId": "reference",
        "WhatId": "reference",
        "WhoId": "reference",
        "Subject": "string",
        "TaskSubtype": "picklist",
        "CallDisposition": "string",
        "CallType": "picklist",
        "Status": "picklist",
        "IsClosed": "boolean",
        "ActivityDate": "date",
        "CompletedDateTime": "datetime",
        "IsDeleted": "boolean",
        "IsArchived": "boolean",
        "CreatedDate": "datetime",
        "LastModifiedDate": "datetime",
        "SystemModstamp": "datetime",
    },
    "Event": {
        "Id": "id",
        "OwnerId": "reference",
        "WhatId": "reference",
        "WhoId": "reference",
        "Subject": "string",
        "EventSubtype": "picklist",
        "StartDateTime": "datetime",
        "EndDateTime": "datetime",
        "ActivityDateTime": "datetime",
        "ActivityDate": "date",
        "IsChild": "boolean",
        "IsDeleted": "boolean",
        "IsArchived": "boolean",
        "CreatedDate": "datetime",
        "LastModifiedDate": "datetime",
        "SystemModstamp": "datetime",
    },
}
# Salesforce's standard opportunity stages: (API name, closed, won).
STANDARD_STAGES = {
    "Prospecting": (False, False),
    "Qualification": (False, False),
    "Needs Analysis": (False, False),
    "Value Proposition": (False, False),
    "Id. Decision Makers": (False, False),
    "Perception Analysis": (False, False),
    "Proposal/Price Quote": (False, False),
    "Negotiation/Review": (False, False),
    "Closed Won": (True, True),
    "Closed Lost": (True, False),
}

Record = dict[str, Any]


@dataclass(frozen=True)
class Call:
    """One request: its kind ('token', 'query', 'queryAll', 'query_more', 'deleted'), path,
    SOQL (for a query_more, the query it continues), HTTP status, Salesforce error code (None
    when it succeeded) and how many records it returned."""

    kind: str
    path: str
    soql: str | None
    status: int
    error_code: str | None
    records: int = 0


@dataclass
class _Fault:
    kind: str | None
    status: int
    error_code: str
    message: str
    after: int
    remaining: int | None
    when: Callable[[str | None], bool] | None

    def take(self, kind: str, soql_text: str | None) -> bool:
        if self.kind is not None and self.kind != kind:
            return False
        if self.when is not None and not self.when(soql_text):
            return False
        if self.after > 0:
            self.after -= 1
            return False
        if self.remaining == 0:
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True


@dataclass
class _App:
    consumer_key: str
    public_key: str
    approved: set[str] = field(default_factory=set)


class _Refusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def sf_datetime(value: datetime) -> str:
    """A date-time as the REST API writes it: 2013-05-07T22:07:19.000+0000 (UTC)."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


class _Handler(BaseHTTPRequestHandler):
    server: StandInServer

    def do_GET(self) -> None:
        self.server.standin._serve(self, "GET")

    def do_POST(self) -> None:
        self.server.standin._serve(self, "POST")

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet; `.calls` is the log."""


class SalesforceStandIn(LocalServer):
    """The Salesforce REST API on 127.0.0.1 and an ephemeral port; see the module docstring.

    `token` is a valid access token from the start (the "instance URL + access token" set-up);
    `add_app` registers a connected app for the JWT bearer flow. `page_size` is how many records
    a query page holds. `api_limit` is the org's daily request allowance.
    """

    service = "Salesforce"
    handler = _Handler

    def __init__(
        self,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        api_limit: int = 100_000,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__()
        self.page_size = page_size
        self.api_limit = api_limit
        self.api_used = 0
        self.now = now or (lambda: datetime.now(UTC))
        self.token = "00Dstandin!" + secrets.token_urlsafe(24)
        self._tokens = {self.token}
        self._apps: dict[str, _App] = {}
        self._usernames: dict[str, str] = {}  # username → user id
        self.records: dict[str, dict[str, Record]] = {name: {} for name in FIELDS}
        self._delete_log: dict[str, list[tuple[str, datetime]]] = {name: [] for name in FIELDS}
        self._purged_before: dict[str, datetime] = {}
        self._denied: set[str] = set()
        self._hidden: set[tuple[str, str]] = set()
        self._locators: dict[str, tuple[list[Record], soql.Query, str]] = {}  # rows, query, SOQL
        self._faults: list[_Fault] = []
        self._holds: list[list[Any]] = []  # [kind, calls still let through, release event]
        self.held = threading.Event()
        self._calls: list[Call] = []
        self._ids = itertools.count(1)
        self._lock = threading.RLock()

    # -- life cycle --------------------------------------------------------------------------------

    def _on_stop(self) -> None:
        with self._lock:  # held calls are answered first
            for _, _, release in self._holds:
                release.set()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, for SALESFORCE_BASE_URL."""
        return self.origin

    # -- the org's data ----------------------------------------------------------------------------

    def _new_id(self, sobject: str) -> str:
        return f"{PREFIXES[sobject]}D0000{next(self._ids):07d}AAA"

    def _stamp(self, at: datetime | None) -> datetime:
        at = at or self.now()
        if at.tzinfo is None:
            raise ValueError("stand-in timestamps carry a time zone")
        # Salesforce keeps date-times to the second in what the API returns.
        return at.astimezone(UTC).replace(microsecond=0)

    def _insert(self, sobject: str, values: Record, at: datetime | None) -> str:
        stamp = self._stamp(at)
        record = {name: None for name in FIELDS[sobject]}
        record.update(values)
        record["Id"] = record.get("Id") or self._new_id(sobject)
        for name in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
            if name in FIELDS[sobject] and name not in values:
                record[name] = stamp
        for flag in ("IsDeleted", "IsArchived", "IsChild"):
            if flag in FIELDS[sobject] and record[flag] is None:
                record[flag] = False
        with self._lock:
            self.records[sobject][record["Id"]] = record
        return record["Id"]

    def _touch(self, sobject: str, record_id: str, changes: Record, at: datetime | None) -> None:
        stamp = self._stamp(at)
        with self._lock:
            record = self.records[sobject][record_id]
            record.update(changes)
            if "LastModifiedDate" in record:
                record["LastModifiedDate"] = stamp
            if "SystemModstamp" in record:
                record["SystemModstamp"] = stamp

    def add_user(
        self,
        name: str,
        email: str | None,
        *,
        manager: str | None = None,
        active: bool = True,
        user_type: str = "Standard",
        at: datetime | None = None,
    ) -> str:
        """A user (Email None: one the sync cannot map to a person); returns its id."""
        first, _, last = name.partition(" ")
        username = (email or f"{first.lower()}@standin.invalid") + ".coach"
        user_id = self._insert(
            "User",
            {
                "Name": name,
                "FirstName": first,
                "LastName": last or first,
                "Email": email,
                "Username": username,
                "ManagerId": manager,
                "IsActive": active,
                "UserType": user_type,
            },
            at,
        )
        self._usernames[username] = user_id
        return user_id

    def update_user(self, user_id: str, *, at: datetime | None = None, **changes: Any) -> None:
        """Change a user's fields (Email, Name, ManagerId, IsActive …)."""
        self._touch("User", user_id, changes, at)

    def add_opportunity(
        self,
        name: str,
        *,
        owner: str,
        stage: str = "Prospecting",
        amount: float | None = None,
        close_date: date | None = None,
        at: datetime | None = None,
    ) -> str:
        """An opportunity created at `at` in `stage`, with its first OpportunityHistory row."""
        closed, won = STANDARD_STAGES.get(stage, (False, False))
        opp = self._insert(
            "Opportunity",
            {
                "Name": name,
                "OwnerId": owner,
                "StageName": stage,
                "Amount": amount,
                "CloseDate": close_date,
                "IsClosed": closed,
                "IsWon": won,
            },
            at,
        )
        self._history(opp, at, owner)
        return opp

    def _history(self, opp: str, at: datetime | None, by: str | None) -> None:
        record = self.records["Opportunity"][opp]
        self._insert(
            "OpportunityHistory",
            {
                "OpportunityId": opp,
                "StageName": record["StageName"],
                "Amount": record["Amount"],
                "CloseDate": record["CloseDate"],
                "CreatedById": by,
            },
            at,
        )

    def set_stage(
        self,
        opp: str,
        stage: str,
        *,
        at: datetime | None = None,
        closed: bool | None = None,
        won: bool | None = None,
    ) -> None:
        """Move an opportunity to `stage` (closed/won from the standard stages unless given)."""
        standard = STANDARD_STAGES.get(stage, (False, False))
        changes = {
            "StageName": stage,
            "IsClosed": standard[0] if closed is None else closed,
            "IsWon": standard[1] if won is None else won,
        }
        self._touch("Opportunity", opp, changes, at)
        self._history(opp, at, self.records["Opportunity"][opp]["OwnerId"])

    def update_opportunity(self, opp: str, *, at: datetime | None = None, **changes: Any) -> None:
        """Change an opportunity's fields; Amount and CloseDate changes add a history row, as in
        Salesforce (StageName goes through `set_stage`, OwnerId through `set_owner`)."""
        if {"StageName", "OwnerId"} & changes.keys():
            raise ValueError("use set_stage / set_owner, which write the history rows")
        self._touch("Opportunity", opp, changes, at)
        if {"Amount", "CloseDate", "Probability"} & changes.keys():
            self._history(opp, at, self.records["Opportunity"][opp]["OwnerId"])

    def set_owner(self, opp: str, owner: str, *, at: datetime | None = None) -> None:
        """Give an opportunity to another user. With field history tracking on Owner, Salesforce
        writes two OpportunityFieldHistory rows for a lookup: the user ids and their names."""
        old = self.records["Opportunity"][opp]["OwnerId"]
        self._touch("Opportunity", opp, {"OwnerId": owner}, at)
        names = self.records["User"]
        for data_type, before, after in (
            ("EntityId", old, owner),
            ("Text", names[old]["Name"] if old in names else None, names[owner]["Name"]),
        ):
            self._insert(
                "OpportunityFieldHistory",
                {
                    "OpportunityId": opp,
                    "Field": "Owner",
                    "DataType": data_type,
                    "OldValue": before,
                    "NewValue": after,
                },
                at,
            )

    def add_task(
        self,
        *,
        owner: str,
        subtype: str = "Call",
        what: str | None = None,
        disposition: str | None = None,
        status: str = "Completed",
        completed: datetime | None = None,
        activity_date: date | None = None,
        at: datetime | None = None,
    ) -> str:
        """A task: a logged call (TaskSubtype 'Call', CallDisposition its result), an email
        ('Email') or a to-do ('Task'); `what` the opportunity it is on."""
        closed = status == "Completed"
        when = completed if completed is not None else (self._stamp(at) if closed else None)
        return self._insert(
            "Task",
            {
                "OwnerId": owner,
                "WhatId": what,
                "Subject": subtype,
                "TaskSubtype": subtype,
                "CallDisposition": disposition,
                "CallType": "Outbound" if subtype == "Call" else None,
                "Status": status,
                "IsClosed": closed,
                "ActivityDate": activity_date or (when.date() if when else None),
                "CompletedDateTime": when,
            },
            at,
        )

    def update_task(self, task: str, *, at: datetime | None = None, **changes: Any) -> None:
        """Change a task's fields (Status with IsClosed, CallDisposition …)."""
        self._touch("Task", task, changes, at)

    def add_event(
        self,
        *,
        owner: str,
        start: datetime,
        what: str | None = None,
        child: bool = False,
        at: datetime | None = None,
    ) -> str:
        """A meeting starting at `start`; `child` marks an invitee's copy of a group event."""
        start = self._stamp(start)
        return self._insert(
            "Event",
            {
                "OwnerId": owner,
                "WhatId": what,
                "Subject": "Meeting",
                "EventSubtype": "Event",
                "StartDateTime": start,
                "EndDateTime": start,
                "ActivityDateTime": start,
                "ActivityDate": start.date(),
                "IsChild": child,
            },
            at,
        )

    def delete(self, sobject: str, record_id: str, *, at: datetime | None = None) -> None:
        """Move a record to the recycle bin: IsDeleted, a new SystemModstamp, the delete log."""
        stamp = self._stamp(at)
        self._touch(sobject, record_id, {"IsDeleted": True}, stamp)
        with self._lock:
            self._delete_log[sobject].append((record_id, stamp))

    def purge(self, sobject: str, before: datetime) -> None:
        """Empty the recycle bin of records deleted before `before` (Salesforce does so after 15
        days): they vanish from queryAll and the delete log."""
        with self._lock:
            gone = {rid for rid, stamp in self._delete_log[sobject] if stamp < before}
            for rid in gone:
                self.records[sobject].pop(rid, None)
            self._delete_log[sobject] = [
                entry for entry in self._delete_log[sobject] if entry[0] not in gone
            ]
            self._purged_before[sobject] = before

    # -- access and faults -------------------------------------------------------------------------

    def revoke(self) -> None:
        """Revoke every access token (a user or admin did it, or the session timed out)."""
        with self._lock:
            self._tokens.clear()

    def add_app(self, consumer_key: str, public_key_pem: str, *, approve: Iterable[str]) -> None:
        """A connected app with a certificate for the JWT bearer flow; `approve` lists the
        usernames pre-authorised for it (admin-approved users)."""
        with self._lock:
            self._apps[consumer_key] = _App(consumer_key, public_key_pem, set(approve))

    def username_of(self, user_id: str) -> str:
        """The login name of a user made with `add_user`."""
        return self.records["User"][user_id]["Username"]

    def deny(self, sobject: str) -> None:
        """The integration user may not read `sobject` (no object permission)."""
        self._denied.add(sobject)

    def hide(self, sobject: str, field_name: str) -> None:
        """The integration user may not see `field_name` (field-level security)."""
        self._hidden.add((sobject, field_name))

    def fail(
        self,
        kind: str | None = None,
        *,
        status: int = 500,
        error_code: str = "UNKNOWN_EXCEPTION",
        message: str = "An unexpected error occurred. Please include this ErrorId if you "
        "contact support: 1234567890-12345 (-1234567890)",
        after: int = 0,
        times: int | None = 1,
        when: Callable[[str | None], bool] | None = None,
    ) -> None:
        """Fail `times` calls of `kind` (any kind when None) after letting `after` through;
        `when(soql)` picks calls by their query."""
        with self._lock:
            self._faults.append(_Fault(kind, status, error_code, message, after, times, when))

    def hold(self, kind: str, *, after: int = 0) -> threading.Event:
        """Hold the answer to the call of `kind` after `after` such calls until the returned
        event is set (or the stand-in stops): a sync stuck there can be killed. `held` is set
        once a call is being held."""
        release = threading.Event()
        with self._lock:
            self._holds.append([kind, after, release])
        return release

    # -- reading -----------------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Every call so far, in order (a copy)."""
        with self._lock:
            return list(self._calls)

    def clear_calls(self) -> None:
        """Forget the calls so far (to count an incremental sync's own)."""
        with self._lock:
            self._calls.clear()

    # -- serving -----------------------------------------------------------------------------------

    def _serve(self, request: _Handler, method: str) -> None:
        split = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        params = {key: values[-1] for key, values in parse_qs(split.query).items()}
        path = split.path.rstrip("/")
        soql_text = params.get("q")
        self._wait_if_held(path)
        kind = "unknown"
        status, payload, count = 404, [{"message": "not found", "errorCode": "NOT_FOUND"}], 0
        headers: dict[str, str] = {}
        with self._lock:
            try:
                if path == "/services/oauth2/token" and method == "POST":
                    kind = "token"
                    self._check_fault(kind, None)
                    form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
                    status, payload = self._token(form)
                else:
                    parts = path.split("/")
                    if parts[:3] != ["", "services", "data"] or len(parts) < 5:
                        raise _Refusal(404, "NOT_FOUND", "The requested resource does not exist")
                    version = re.fullmatch(r"v(\d+)\.0", parts[3])
                    if version is None or not 31 <= int(version.group(1)) <= 66:
                        raise _Refusal(404, "NOT_FOUND", "The requested resource does not exist")
                    rest = parts[4:]
                    kind = {"query": "query", "queryAll": "queryAll"}.get(rest[0], rest[0])
                    if rest[0] == "query" and len(rest) == 2:
                        kind = "query_more"
                    if rest[0] == "sobjects" and len(rest) == 3 and rest[2] == "deleted":
                        kind = "deleted"
                    self._authorise(request.headers.get("Authorization", ""))
                    self._check_fault(kind, soql_text)
                    if kind in ("query", "queryAll") and len(rest) == 1:
                        payload = self._query(soql_text or "", parts[3], all_rows=kind != "query")
                    elif kind == "query_more":
                        payload, soql_text = self._query_more(rest[1], parts[3])
                    elif kind == "deleted":
                        payload = self._deleted(rest[1], params)
                    else:
                        raise _Refusal(404, "NOT_FOUND", "The requested resource does not exist")
                    status = 200
                    count = len(payload.get("records", payload.get("deletedRecords", [])))
                    headers["Sforce-Limit-Info"] = f"api-usage={self.api_used}/{self.api_limit}"
            except _Refusal as refusal:
                status = refusal.status
                if kind == "token":
                    payload = {"error": refusal.code, "error_description": refusal.message}
                else:
                    payload = [{"message": refusal.message, "errorCode": refusal.code}]
                    headers["Sforce-Limit-Info"] = f"api-usage={self.api_used}/{self.api_limit}"
            error = None
            if status >= 300:
                error = (
                    payload.get("error")
                    if isinstance(payload, dict)
                    else payload[0].get("errorCode")
                )
            self._calls.append(Call(kind, path, soql_text, status, error, count))
        data = json.dumps(payload).encode()
        with contextlib.suppress(ConnectionError):
            request.send_response(status)
            request.send_header("Content-Type", "application/json;charset=UTF-8")
            request.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                request.send_header(name, value)
            request.end_headers()
            request.wfile.write(data)

    def _wait_if_held(self, path: str) -> None:
        kind = "query_more" if "/query/" in path else path.rstrip("/").rsplit("/", 1)[-1]
        release = None
        with self._lock:
            for hold in self._holds:
                if hold[0] == kind and not hold[2].is_set():
                    if hold[1] == 0:
                        release = hold[2]
                        break
                    hold[1] -= 1
        if release is not None:
            self.held.set()
            release.wait(30)

    def _check_fault(self, kind: str, soql_text: str | None) -> None:
        fault = next((f for f in self._faults if f.take(kind, soql_text)), None)
        if fault is not None:
            raise _Refusal(fault.status, fault.error_code, fault.message)

    def _authorise(self, header: str) -> None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or token not in self._tokens:
            raise _Refusal(401, "INVALID_SESSION_ID", "Session expired or invalid")
        self.api_used += 1
        if self.api_used > self.api_limit:
            raise _Refusal(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            raise _Refusal(400, "unsupported_grant_type", "grant type not supported")
        assertion = form.get("assertion", "")
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _Refusal(400, "invalid_grant", "invalid assertion") from None
        app = self._apps.get(str(claims.get("iss")))
        if app is None:
            raise _Refusal(400, "invalid_client_id", "client identifier invalid")
        try:
            jwt.decode(
                assertion,
                app.public_key,
                algorithms=["RS256"],
                audience=["https://login.salesforce.com", "https://test.salesforce.com"],
                options={"require": ["exp", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise _Refusal(400, "invalid_grant", "expired authorization code") from None
        except jwt.PyJWTError:
            raise _Refusal(400, "invalid_grant", "invalid assertion") from None
        username = str(claims.get("sub"))
        if username not in self._usernames:
            raise _Refusal(400, "invalid_grant", "user hasn't approved this consumer")
        if username not in app.approved:
            raise _Refusal(400, "invalid_grant", "user hasn't approved this consumer")
        token = "00Dstandin!" + secrets.token_urlsafe(24)
        self._tokens.add(token)
        return 200, {
            "access_token": token,
            "scope": "api",
            "instance_url": INSTANCE_URL,
            "id": f"https://login.salesforce.com/id/00Dstandin/{self._usernames[username]}",
            "token_type": "Bearer",
        }

    def _fields_of(self, sobject: str) -> dict[str, str]:
        if sobject not in FIELDS or sobject in self._denied:
            raise soql.SoqlError(
                f"sObject type '{sobject}' is not supported. If you are attempting to use a "
                "custom object, be sure to append the '__c' after the entity name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
                code="INVALID_TYPE",
            )
        return {
            name: kind
            for name, kind in FIELDS[sobject].items()
            if (sobject, name) not in self._hidden
        }

    def _query(self, text: str, version: str, *, all_rows: bool) -> dict[str, Any]:
        try:
            query = soql.parse(text, self._fields_of)
        except soql.SoqlError as exc:
            raise _Refusal(400, exc.code, str(exc)) from None
        table = self.records[query.sobject].values()
        rows = [
            record
            for record in table
            if (all_rows or not (record.get("IsDeleted") or record.get("IsArchived")))
            and query.where(record)
        ]
        for name, descending in reversed(query.order_by):
            # Salesforce sorts nulls first ascending, last descending.
            rows.sort(key=lambda r, n=name: (r[n] is not None, r[n] or 0), reverse=descending)
        if query.limit is not None:
            rows = rows[: query.limit]
        rows = [dict(row) for row in rows]  # the cursor's rows as they were when it was opened
        return self._page(rows, query, 0, version, text)

    def _shape(self, sobject: str, fields: tuple[str, ...], row: Record, version: str) -> Record:
        shaped: Record = {
            "attributes": {
                "type": sobject,
                "url": f"/services/data/{version}/sobjects/{sobject}/{row['Id']}",
            }
        }
        for name in fields:
            value = row.get(name)
            if isinstance(value, datetime):
                value = sf_datetime(value)
            elif isinstance(value, date):
                value = value.isoformat()
            shaped[name] = value
        return shaped

    def _page(
        self, rows: list[Record], query: soql.Query, offset: int, version: str, text: str
    ) -> dict[str, Any]:
        """One batch, shaped when asked for (as a cursor reads its rows), with what follows."""
        end = offset + self.page_size
        page: dict[str, Any] = {"totalSize": len(rows), "done": end >= len(rows)}
        if end < len(rows):
            locator = f"01gD0000000{next(self._ids):07d}"
            self._locators[locator] = (rows, query, text)
            page["nextRecordsUrl"] = f"/services/data/{version}/query/{locator}-{end}"
        page["records"] = [
            self._shape(query.sobject, query.fields, row, version) for row in rows[offset:end]
        ]
        return page

    def _query_more(self, identifier: str, version: str) -> tuple[dict[str, Any], str]:
        locator, _, offset = identifier.rpartition("-")
        if locator not in self._locators or not offset.isdigit():
            raise _Refusal(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        rows, query, text = self._locators[locator]
        return self._page(rows, query, int(offset), version, text), text

    def _deleted(self, sobject: str, params: dict[str, str]) -> dict[str, Any]:
        try:
            self._fields_of(sobject)
        except soql.SoqlError as exc:
            raise _Refusal(404, "NOT_FOUND", str(exc)) from None
        try:
            start = datetime.fromisoformat(params["start"])
            end = datetime.fromisoformat(params["end"])
        except (KeyError, ValueError):
            raise _Refusal(400, "INVALID_REPLICATION_DATE", "start and end are required") from None
        if start.tzinfo is None or end.tzinfo is None or end <= start:
            raise _Refusal(400, "INVALID_REPLICATION_DATE", "start must be before end")
        # The API ignores seconds: the window is whole minutes.
        start, end = start.replace(second=0), end.replace(second=0)
        found = [
            {"id": rid, "deletedDate": sf_datetime(stamp)}
            for rid, stamp in self._delete_log[sobject]
            if start <= stamp < end
        ]
        earliest = self._purged_before.get(sobject, start)
        return {
            "deletedRecords": found,
            "earliestDateAvailable": sf_datetime(earliest),
            "latestDateCovered": sf_datetime(end),
        }


# Where a demo deal can go next from each open stage: the funnel, with some skipping and losses.
_DEMO_PATH = [
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Proposal/Price Quote",
    "Negotiation/Review",
]
_DEMO_CALL_RESULTS = ["Connected", "Left voicemail", "No answer", "Connected", "Wrong number"]


def seed_org(
    sf: SalesforceStandIn, org_csv: Path, *, today: date, months: int = 3, seed: int = 7
) -> int:
    """Fill the stand-in from an org chart CSV (`coach demo` writes one): a Salesforce user per
    person (managers as ManagerId), and for each rep `months` months of opportunities moving
    through the standard stages, calls with their results and meetings. Returns the deals made."""
    rng = random.Random(seed)
    with org_csv.open(newline="", encoding="utf-8") as handle:
        people = list(csv.DictReader(handle))
    start = datetime(today.year, today.month, 1, 9, tzinfo=UTC)
    for _ in range(months):
        start = (start - timedelta(days=1)).replace(day=1)
    ids: dict[str, str] = {}
    pending = list(people)
    while pending:  # managers before their reports, so ManagerId points at a made user
        person = pending.pop(0)
        manager = (person.get("manager_email") or "").strip()
        if manager and manager not in ids and any(p["email"] == manager for p in pending):
            pending.append(person)
            continue
        ids[person["email"]] = sf.add_user(
            person.get("name") or person["email"],
            person["email"],
            manager=ids.get(manager),
            at=start,
        )
    now = datetime.combine(today, datetime.min.time(), UTC)
    span = (now - start).total_seconds()
    made = 0
    for person in people:
        if (person.get("role") or "").strip() != "rep":
            continue
        owner = ids[person["email"]]
        skill = rng.uniform(0.35, 0.75)
        for n in range(rng.randint(6, 6 * months)):
            created = start + timedelta(seconds=rng.uniform(0, span * 0.8))
            amount = float(rng.choice([5, 8, 12, 20, 35, 50]) * 1000)
            opp = sf.add_opportunity(
                f"{person.get('name') or 'Deal'} #{n + 1}", owner=owner, amount=amount, at=created
            )
            made += 1
            when = created
            for stage in _DEMO_PATH[1:]:
                when += timedelta(days=rng.uniform(2, 12))
                if when >= now:
                    break
                if rng.random() > skill:
                    if rng.random() < 0.5:
                        sf.set_stage(opp, "Closed Lost", at=when)
                    break
                if rng.random() < 0.15:
                    continue  # a stage skipped
                sf.set_stage(opp, stage, at=when)
                if stage in ("Qualification", "Value Proposition"):  # a meeting on the deal
                    sf.add_event(owner=owner, what=opp, start=when, at=when - timedelta(days=2))
            else:
                when += timedelta(days=rng.uniform(1, 10))
                if when < now:
                    sf.set_stage(opp, "Closed Won", at=when)
        for _ in range(rng.randint(15, 30) * months):
            called = start + timedelta(seconds=rng.uniform(0, span))
            sf.add_task(owner=owner, disposition=rng.choice(_DEMO_CALL_RESULTS), at=called)
    return made


def main(argv: list[str] | None = None) -> None:
    """`python -m bot.demo.salesforce_standin [ORG_CSV]`: serve an org seeded for the people of
    an org chart (`coach demo` writes demo/org.csv) until Ctrl-C, printing the settings that
    reach it."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument(
        "org", nargs="?", type=Path, default=Path("demo/org.csv"), help="Org chart CSV."
    )
    parser.add_argument("--months", type=int, default=3)
    args = parser.parse_args(argv)
    with SalesforceStandIn() as sf:
        deals = seed_org(sf, args.org, today=datetime.now(UTC).date(), months=args.months)
        print(f"# a Salesforce stand-in with {deals} opportunities; in another shell:")
        print(f"export SALESFORCE_INSTANCE_URL={INSTANCE_URL}")
        print(f"export SALESFORCE_ACCESS_TOKEN='{sf.token}'")
        print(f"export SALESFORCE_BASE_URL={sf.url}")
        print("coach sync salesforce   # Ctrl-C here stops the stand-in", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
