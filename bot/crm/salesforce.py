"""Salesforce: users, opportunities with their stage and owner history, tasks and events.

Talks to the REST API through `simple-salesforce`, with an access token for an instance URL or
the OAuth 2.0 JWT bearer flow (a connected app, its certificate, a pre-authorised user). Each
object is walked with SOQL ordered by `SystemModstamp, Id` and paged with `nextRecordsUrl`; the
cursor after a page is the last row's (SystemModstamp, Id), so a sync resumes after the last page
it wrote. `queryAll` brings the deleted rows too (IsDeleted), which become deletions.

What is read (the permissions the integration user needs are in the README):

- User (`UserType = 'Standard'`): Name, Email, ManagerId, IsActive.
- Opportunity: Name, OwnerId, StageName, Amount, CloseDate, IsClosed, CreatedDate.
- OpportunityHistory: the stage history (a row per change of stage, amount, probability or
  close date; consecutive rows in the same stage are one stay).
- OpportunityFieldHistory, Field = 'Owner': owner changes (needs field history tracking on
  Opportunity Owner; without it each deal keeps its current owner from its creation).
- Task: TaskSubtype (Call, Email, ListEmail, Task), CallDisposition, CompletedDateTime, WhatId;
  only completed tasks count. Event: StartDateTime, WhatId; invitees' copies (IsChild) are
  skipped so a group meeting counts once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import requests
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError

from bot.crm.base import CrmError
from storage.crm_records import (
    CrmActivity,
    CrmDeal,
    CrmDeletion,
    CrmObject,
    CrmOwner,
    CrmOwnerChange,
    CrmPage,
    CrmStageChange,
    Source,
)

if TYPE_CHECKING:
    from bot.settings import Settings

API_VERSION = "59.0"
# Seconds to wait for one answer (a page of 2,000 rows comes in well under that).
TIMEOUT = 60.0
# Ids per IN (…) list: an 18-character id quoted, URL-encoded and comma-separated takes 28
# bytes, so 400 keep a query's URL near 11 KB, inside the 16 KB Salesforce takes in a GET.
IN_CHUNK = 400
_USER_ID = re.compile(r"005[0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?")
_OPPORTUNITY_PREFIX = "006"

# The SOQL of each walk: fields read, extra filter, whether deleted rows come too (queryAll).
_WALKS: dict[str, tuple[tuple[str, ...], str | None, bool]] = {
    "User": (
        ("Id", "Name", "Email", "ManagerId", "IsActive", "SystemModstamp"),
        "UserType = 'Standard'",
        False,
    ),
    "Opportunity": (
        (
            "Id",
            "Name",
            "OwnerId",
            "StageName",
            "Amount",
            "CloseDate",
            "IsClosed",
            "IsDeleted",
            "CreatedDate",
            "SystemModstamp",
        ),
        None,
        True,
    ),
    "Task": (
        (
            "Id",
            "OwnerId",
            "WhatId",
            "TaskSubtype",
            "CallDisposition",
            "IsClosed",
            "ActivityDate",
            "CompletedDateTime",
            "IsDeleted",
            "CreatedDate",
            "SystemModstamp",
        ),
        None,
        True,
    ),
    "Event": (
        (
            "Id",
            "OwnerId",
            "WhatId",
            "StartDateTime",
            "ActivityDate",
            "IsChild",
            "IsDeleted",
            "CreatedDate",
            "SystemModstamp",
        ),
        None,
        True,
    ),
}
_STAGE_HISTORY = ("OpportunityHistory", ("Id", "OpportunityId", "StageName", "CreatedDate"))
_OWNER_HISTORY = (
    "OpportunityFieldHistory",
    ("Id", "OpportunityId", "OldValue", "NewValue", "CreatedDate"),
)
_STREAMS: dict[str, tuple[str, ...]] = {
    "owners": ("User",),
    "deals": ("Opportunity",),
    "activities": ("Task", "Event"),
}


class SalesforceConfig(BaseModel):
    """How to reach one Salesforce org, from the SALESFORCE_* settings (`bot.settings`)."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    # An access token for an instance: simplest, but it ends with the session (hours).
    instance_url: str | None = Field(None, alias="SALESFORCE_INSTANCE_URL")
    access_token: SecretStr | None = Field(None, alias="SALESFORCE_ACCESS_TOKEN")
    # Or the JWT bearer flow: renews itself, for a scheduled sync.
    username: str | None = Field(None, alias="SALESFORCE_USERNAME")
    consumer_key: str | None = Field(None, alias="SALESFORCE_CONSUMER_KEY")
    private_key_file: Path | None = Field(None, alias="SALESFORCE_PRIVATE_KEY_FILE")
    # login (production), test (sandbox) or a My Domain such as acme.my
    domain: str = Field("login", alias="SALESFORCE_DOMAIN")
    api_version: str = Field(API_VERSION, alias="SALESFORCE_API_VERSION")
    # Send every call here instead (a local stand-in, a recording proxy); hosts are kept in links.
    base_url: str | None = Field(None, alias="SALESFORCE_BASE_URL")
    # Stop a sync once the org's daily API usage passes this share, leaving the rest to others.
    max_api_share: float = Field(0.9, gt=0, le=1, alias="SALESFORCE_MAX_API_SHARE")

    @field_validator("instance_url", "base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/") if value else value

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not re.fullmatch(r"\d{2,3}\.0", value.removeprefix("v")):
            raise ValueError(f"{value!r} is not an API version such as {API_VERSION}")
        return value.removeprefix("v")

    @field_validator("private_key_file")
    @classmethod
    def _key_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @model_validator(mode="after")
    def _one_way_in(self) -> SalesforceConfig:
        token = self.instance_url is not None or self.access_token is not None
        jwt_parts = (self.username, self.consumer_key, self.private_key_file)
        bearer = any(part is not None for part in jwt_parts)
        if token and bearer:
            raise ValueError(
                "set either SALESFORCE_INSTANCE_URL with SALESFORCE_ACCESS_TOKEN, or "
                "SALESFORCE_USERNAME, SALESFORCE_CONSUMER_KEY and SALESFORCE_PRIVATE_KEY_FILE "
                "(JWT bearer flow), not both"
            )
        if token and (self.instance_url is None or self.access_token is None):
            missing = "INSTANCE_URL" if self.instance_url is None else "ACCESS_TOKEN"
            raise ValueError(
                f"SALESFORCE_{missing} is not set (the token and its instance go together)"
            )
        if bearer and not all(part is not None for part in jwt_parts):
            names = (
                "SALESFORCE_USERNAME",
                "SALESFORCE_CONSUMER_KEY",
                "SALESFORCE_PRIVATE_KEY_FILE",
            )
            missing = ", ".join(n for n, p in zip(names, jwt_parts, strict=True) if p is None)
            raise ValueError(f"{missing}: the JWT bearer flow needs all three")
        if not token and not bearer:
            raise ValueError(
                "Salesforce is not configured: set SALESFORCE_INSTANCE_URL and "
                "SALESFORCE_ACCESS_TOKEN, or SALESFORCE_USERNAME, SALESFORCE_CONSUMER_KEY and "
                "SALESFORCE_PRIVATE_KEY_FILE (README, Salesforce set-up)"
            )
        return self

    @classmethod
    def load(cls, **values: Any) -> SalesforceConfig:
        """Validate SALESFORCE_* values (unset ones left out); `CrmError('config', …)` naming the
        variable if one is wrong."""
        try:
            return cls(**{name: value for name, value in values.items() if value is not None})
        except ValidationError as exc:
            error = exc.errors()[0]
            where = str(error["loc"][0]) if error["loc"] else ""
            field_info = cls.model_fields.get(where)
            # The location is the alias (the variable's name) when the value came by it.
            name = field_info.alias or "" if field_info else where
            message = str(error["msg"]).removeprefix("Value error, ")
            raise CrmError("config", f"{name}: {message}" if name else message) from None

    @classmethod
    def from_settings(cls, settings: Settings) -> SalesforceConfig:
        """The SALESFORCE_* settings, checked."""
        return cls.load(
            **{
                info.alias: getattr(settings, f"salesforce_{name}")
                for name, info in cls.model_fields.items()
                if info.alias
            }
        )


class _Redirect(HTTPAdapter):
    """Sends each request to `base` with its path and query: SALESFORCE_BASE_URL. The JWT login
    (login.salesforce.com) and the instance's own URLs land on the same place."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self._base = urlsplit(base)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        parts = urlsplit(request.url or "")
        request.url = urlunsplit(
            (self._base.scheme, self._base.netloc, parts.path, parts.query, "")
        )
        return super().send(request, **kwargs)


def _one_line(text: object, limit: int = 240) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _error_of(exc: SalesforceError) -> tuple[str, str]:
    """(errorCode, message) of a REST API error body: [{"message": …, "errorCode": …}]."""
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", "")), _one_line(content[0].get("message", ""))
    return "", _one_line(content if isinstance(content, str) else "")


def _parse_datetime(value: str | None) -> datetime | None:
    if value is None:
        return None
    # 2013-05-07T22:07:19.000+0000, as the REST API writes date-times (fromisoformat, much
    # faster than strptime on 200,000 rows, wants the offset as +00:00).
    if len(value) > 5 and value[-5] in "+-" and value[-3] != ":":
        value = f"{value[:-2]}:{value[-2:]}"
    return datetime.fromisoformat(value).astimezone(UTC)


def _required_datetime(value: str | None) -> datetime:
    parsed = _parse_datetime(value)
    if parsed is None:
        raise CrmError("api", "Salesforce returned a record without a required date-time")
    return parsed


def _parse_date(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _soql_datetime(value: datetime) -> str:
    # SOQL date-time literals are to the second; the cursor's Id settles rows in that second.
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _soql_list(ids: Sequence[str]) -> str:
    return ", ".join("'" + i.replace("\\", "\\\\").replace("'", "\\'") + "'" for i in ids)


class SalesforceConnector:
    """One Salesforce org; see the module docstring."""

    source: Source = "salesforce"

    def __init__(self, config: SalesforceConfig, session: requests.Session | None = None):
        self.config = config
        self._session = session or requests.Session()
        if config.base_url:
            redirect = _Redirect(config.base_url)
            self._session.mount("https://", redirect)
            self._session.mount("http://", redirect)
        self._sf: Salesforce | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SalesforceConnector:
        """The connector the settings configure (`CrmError('config', …)` if they can't)."""
        return cls(SalesforceConfig.from_settings(settings))

    # -- the client and its failures ---------------------------------------------------------------

    @property
    def _client(self) -> Salesforce:
        if self._sf is None:
            settings = self.config
            with self._calling("logging in"):
                if settings.access_token is not None:
                    self._sf = Salesforce(
                        instance_url=settings.instance_url,
                        session_id=settings.access_token.get_secret_value(),
                        version=settings.api_version,
                        session=self._session,
                    )
                else:
                    self._sf = Salesforce(
                        username=settings.username,
                        consumer_key=settings.consumer_key,
                        privatekey_file=str(settings.private_key_file),
                        domain=settings.domain,
                        version=settings.api_version,
                        session=self._session,
                    )
        return self._sf

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        """Turn what simple-salesforce and requests raise into one-line `CrmError`s."""
        try:
            yield
        except SalesforceAuthenticationFailed as exc:
            raise CrmError(
                "auth",
                f"Salesforce refused the JWT login ({exc.code}: {_one_line(exc.auth_message)}): "
                "check SALESFORCE_USERNAME, SALESFORCE_CONSUMER_KEY, the certificate uploaded to "
                "the connected app, and that the user is pre-authorised for it",
            ) from None
        except SalesforceError as exc:
            raise self._failure(exc, what) from None
        except requests.RequestException as exc:
            host = urlsplit(getattr(exc.request, "url", "") or "").netloc or "Salesforce"
            raise CrmError(
                "api", f"Salesforce: no answer from {host} while {what} ({type(exc).__name__})"
            ) from None

    def _failure(self, exc: SalesforceError, what: str) -> CrmError:
        code, message = _error_of(exc)
        detail = f"{code}: {message}" if code else message or f"HTTP {exc.status}"
        if exc.status == 401:
            return CrmError(
                "auth",
                f"Salesforce: the access token is expired or revoked ({detail}); set a fresh "
                "SALESFORCE_ACCESS_TOKEN, or use the JWT bearer flow, which renews itself",
            )
        if exc.status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
            return CrmError(
                "rate_limit",
                f"Salesforce: the org's daily API request limit is used up{self._usage()} "
                "(REQUEST_LIMIT_EXCEEDED); requests free up over 24 hours",
            )
        if exc.status == 403 or code in ("INVALID_TYPE", "INVALID_FIELD", "INSUFFICIENT_ACCESS"):
            return CrmError(
                "scope",
                f"Salesforce refused {what} ({detail}): the integration user needs API Enabled "
                "and read access to User, Opportunity (with its history), Task and Event",
            )
        if exc.status == 404:
            return CrmError(
                "config",
                f"Salesforce: nothing at {urlsplit(exc.url).path} ({detail}): check "
                "SALESFORCE_INSTANCE_URL and SALESFORCE_API_VERSION",
            )
        return CrmError("api", f"Salesforce answered HTTP {exc.status} while {what} ({detail})")

    def _usage(self) -> str:
        usage = self._sf.api_usage.get("api-usage") if self._sf is not None else None
        return f" ({usage.used}/{usage.total} requests today)" if usage else ""

    def _mind_the_limit(self) -> None:
        """Stop before the org's daily allowance runs dry for its other integrations."""
        usage = self._client.api_usage.get("api-usage")
        if usage and usage.total and usage.used >= usage.total * self.config.max_api_share:
            raise CrmError(
                "rate_limit",
                f"Salesforce: the org has used {usage.used}/{usage.total} API requests today, "
                f"past SALESFORCE_MAX_API_SHARE ({self.config.max_api_share:g}), so the sync "
                "stopped there",
            )

    # -- the Connector protocol --------------------------------------------------------------------

    def check(self) -> None:
        """Read one row of each object with the fields a sync reads; a missing permission on any
        of them fails with one line naming them all."""
        refused: list[str] = []
        probes = [(name, fields) for name, (fields, _, _) in _WALKS.items()]
        probes += [_STAGE_HISTORY, _OWNER_HISTORY]
        for sobject, fields in probes:
            try:
                with self._calling(f"reading {sobject}"):
                    self._client.query(
                        f"SELECT {', '.join(fields)} FROM {sobject} LIMIT 1",
                        timeout=TIMEOUT,
                    )
            except CrmError as error:
                if error.kind != "scope":
                    raise
                refused.append(sobject)
        if refused:
            raise CrmError(
                "scope",
                f"Salesforce: the integration user can't read {', '.join(refused)} (object or "
                "field permissions); give it API Enabled and read access to User, Opportunity, "
                "OpportunityHistory, OpportunityFieldHistory, Task and Event",
            )

    def pages(self, obj: CrmObject, cursor: str | None) -> Iterator[tuple[CrmPage, str | None]]:
        """Yield each page of `obj` changed since `cursor` with the cursor after it."""
        if obj not in _STREAMS:
            raise ValueError(f"no such CRM object: {obj}")
        state = _load_cursor(cursor)
        for sobject in _STREAMS[obj]:
            for rows, last in self._walk(sobject, state.get(sobject)):
                page = self._page(sobject, rows)
                state[sobject] = last
                yield page, json.dumps(state, sort_keys=True)

    # -- walking -----------------------------------------------------------------------------------

    def _walk(
        self, sobject: str, after: list[str] | None
    ) -> Iterator[tuple[list[dict[str, Any]], list[str]]]:
        """Pages of rows changed after `after` ([SystemModstamp, Id]), oldest first."""
        fields, extra, deleted_too = _WALKS[sobject]
        filters = [extra] if extra else []
        since = _parse_datetime(after[0]) if after else None
        if since is not None and after is not None:
            # Rows in the cursor's own second come after it by Id (the ORDER BY's tie-break).
            stamp, last_id = _soql_datetime(since), _soql_list([after[1]])
            filters.append(
                f"(SystemModstamp > {stamp} OR (SystemModstamp = {stamp} AND Id > {last_id}))"
            )
        where = f" WHERE {' AND '.join(filters)}" if filters else ""
        soql = f"SELECT {', '.join(fields)} FROM {sobject}{where} ORDER BY SystemModstamp, Id"
        what = f"reading {sobject}"
        self._mind_the_limit()
        with self._calling(what):
            result = self._client.query(soql, include_deleted=deleted_too, timeout=TIMEOUT)
        while True:
            rows = [
                row
                for row in result["records"]
                if after is None or self._after(row, since, after[1])
            ]
            if rows:
                yield rows, [rows[-1]["SystemModstamp"], rows[-1]["Id"]]
            if result["done"]:
                return
            self._mind_the_limit()  # between pages, so what was fetched is written first
            with self._calling(what):
                result = self._client.query_more(
                    result["nextRecordsUrl"], identifier_is_url=True, timeout=TIMEOUT
                )

    @staticmethod
    def _after(row: dict[str, Any], since: datetime | None, last_id: str) -> bool:
        stamp = _required_datetime(row["SystemModstamp"])
        return since is None or stamp > since or (stamp == since and row["Id"] > last_id)

    def _children(
        self, sobject: str, fields: tuple[str, ...], ids: list[str], extra: str = ""
    ) -> dict[str, list[dict[str, Any]]]:
        """Rows of a history object for these opportunities, by opportunity, oldest first."""
        found: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        for start in range(0, len(ids), IN_CHUNK):
            chunk = ids[start : start + IN_CHUNK]
            soql = (
                f"SELECT {', '.join(fields)} FROM {sobject} WHERE {extra}"
                f"OpportunityId IN ({_soql_list(chunk)}) ORDER BY OpportunityId, CreatedDate, Id"
            )
            with self._calling(f"reading {sobject}"):
                for row in self._client.query_all_iter(soql, timeout=TIMEOUT):
                    found[row["OpportunityId"]].append(row)
        return found

    # -- mapping -----------------------------------------------------------------------------------

    def _page(self, sobject: str, rows: list[dict[str, Any]]) -> CrmPage:
        if sobject == "User":
            return CrmPage(owners=[self._owner(row) for row in rows])
        if sobject == "Opportunity":
            return self._deals(rows)
        page = CrmPage()
        for row in rows:
            record = self._task(row) if sobject == "Task" else self._event(row)
            if isinstance(record, CrmActivity):
                page.activities.append(record)
            elif record is not None:
                page.deletions.append(record)
        return page

    @staticmethod
    def _owner(row: dict[str, Any]) -> CrmOwner:
        # Without an email the owner maps to nobody; the derivation reports it as a problem.
        email = (row.get("Email") or "").strip() or None
        return CrmOwner(
            crm_id=row["Id"],
            email=email,
            name=row.get("Name") or row["Id"],
            manager_crm_id=row.get("ManagerId"),
            active=bool(row.get("IsActive")),
            modified_at=_required_datetime(row["SystemModstamp"]),
        )

    def _deals(self, rows: list[dict[str, Any]]) -> CrmPage:
        page = CrmPage()
        live = [row for row in rows if not row.get("IsDeleted")]
        page.deletions = [
            CrmDeletion(object="deals", crm_id=row["Id"]) for row in rows if row.get("IsDeleted")
        ]
        ids = [row["Id"] for row in live]
        stages = self._children(*_STAGE_HISTORY, ids)
        owners = self._children(*_OWNER_HISTORY, ids, extra="Field = 'Owner' AND ")
        instance = self._client.sf_instance
        for row in live:
            created = _required_datetime(row["CreatedDate"])
            changes = _stage_changes(row, created, stages[row["Id"]])
            closed_at = None
            if row.get("IsClosed"):
                entered = [c.entered_at for c in changes if c.stage == row["StageName"]]
                closed_at = entered[-1] if entered else None
            page.deals.append(
                CrmDeal(
                    crm_id=row["Id"],
                    name=row.get("Name") or row["Id"],
                    owner_crm_id=row.get("OwnerId"),
                    stage=row["StageName"],
                    amount=row.get("Amount"),
                    created_at=created,
                    closed_at=closed_at,
                    close_date=_parse_date(row.get("CloseDate")),
                    url=f"https://{instance}/lightning/r/Opportunity/{row['Id']}/view",
                    modified_at=_required_datetime(row["SystemModstamp"]),
                )
            )
            page.stage_changes.extend(changes)
            page.owner_changes.extend(_owner_changes(row, created, owners[row["Id"]]))
        return page

    def _task(self, row: dict[str, Any]) -> CrmActivity | CrmDeletion | None:
        # An open to-do is not an activity yet; one reopened since the last sync must leave.
        if row.get("IsDeleted") or not row.get("IsClosed"):
            return CrmDeletion(object="activities", crm_id=row["Id"])
        subtype = row.get("TaskSubtype")
        kind = {"Call": "call", "Email": "email", "ListEmail": "email"}.get(subtype or "", "task")
        occurred = _parse_datetime(row.get("CompletedDateTime"))
        if occurred is None and row.get("ActivityDate"):
            occurred = datetime.combine(date.fromisoformat(row["ActivityDate"]), time(), UTC)
        return CrmActivity(
            crm_id=row["Id"],
            kind=kind,
            owner_crm_id=_user_or_none(row.get("OwnerId")),
            occurred_at=occurred or _required_datetime(row["CreatedDate"]),
            deal_crm_ids=_deal_ids(row.get("WhatId")),
            outcome=row.get("CallDisposition") if kind == "call" else None,
            modified_at=_required_datetime(row["SystemModstamp"]),
        )

    def _event(self, row: dict[str, Any]) -> CrmActivity | CrmDeletion | None:
        if row.get("IsDeleted"):
            return CrmDeletion(object="activities", crm_id=row["Id"])
        if row.get("IsChild"):
            return None  # an invitee's copy: the organiser's event counts
        start = _parse_datetime(row.get("StartDateTime"))
        if start is None and row.get("ActivityDate"):
            start = datetime.combine(date.fromisoformat(row["ActivityDate"]), time(), UTC)
        return CrmActivity(
            crm_id=row["Id"],
            kind="meeting",
            owner_crm_id=_user_or_none(row.get("OwnerId")),
            occurred_at=start or _required_datetime(row["CreatedDate"]),
            deal_crm_ids=_deal_ids(row.get("WhatId")),
            modified_at=_required_datetime(row["SystemModstamp"]),
        )


def _load_cursor(cursor: str | None) -> dict[str, list[str]]:
    if cursor is None:
        return {}
    try:
        state = json.loads(cursor)
    except ValueError:
        state = None
    if not isinstance(state, dict) or not all(
        isinstance(v, list) and len(v) == 2 for v in state.values()
    ):
        raise CrmError("config", f"Salesforce: unreadable sync cursor {cursor[:60]!r}")
    return state


def _stage_changes(
    row: dict[str, Any], created: datetime, history: list[dict[str, Any]]
) -> list[CrmStageChange]:
    """A stay per run of OpportunityHistory rows in one stage (amount or date edits add rows)."""
    changes: list[CrmStageChange] = []
    for entry in history:
        if changes and changes[-1].stage == entry["StageName"]:
            continue
        changes.append(
            CrmStageChange(
                deal_crm_id=row["Id"],
                stage=entry["StageName"],
                entered_at=_required_datetime(entry["CreatedDate"]),
            )
        )
    if not changes:  # no history kept: the deal has been where it is since it was created
        changes.append(
            CrmStageChange(deal_crm_id=row["Id"], stage=row["StageName"], entered_at=created)
        )
    return changes


def _owner_changes(
    row: dict[str, Any], created: datetime, history: list[dict[str, Any]]
) -> list[CrmOwnerChange]:
    """The first owner from creation, then each change. A lookup's history has a row of ids and
    a row of names; the ids are the ones that look like user ids."""
    moves = [
        entry
        for entry in history
        if isinstance(entry.get("NewValue"), str) and _USER_ID.fullmatch(entry["NewValue"])
    ]
    first = moves[0].get("OldValue") if moves else row.get("OwnerId")
    changes = [CrmOwnerChange(deal_crm_id=row["Id"], owner_crm_id=first, changed_at=created)]
    changes += [
        CrmOwnerChange(
            deal_crm_id=row["Id"],
            owner_crm_id=entry["NewValue"],
            changed_at=_required_datetime(entry["CreatedDate"]),
        )
        for entry in moves
    ]
    return changes


def _user_or_none(owner_id: str | None) -> str | None:
    # A queue or group can own some records; only users are people coach knows.
    return owner_id if owner_id and _USER_ID.fullmatch(owner_id) else None


def _deal_ids(what_id: str | None) -> tuple[str, ...]:
    return (what_id,) if what_id and what_id.startswith(_OPPORTUNITY_PREFIX) else ()
