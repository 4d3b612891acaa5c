"""HubSpot: owners, deals with their stage and owner history, and calls, meetings and emails.

Through HubSpot's official client (`hubspot-api-client`), one object at a time:

- owners: `GET /crm/v3/owners`, active and archived (deactivated users), every sync (they are
  few and have no modified-date filter);
- deals: `POST /crm/v3/objects/deals/search` on `hs_lastmodifieddate`, oldest change first, then
  `POST /crm/v3/objects/deals/batch/read` with `propertiesWithHistory` (dealstage, owner) for the
  deals found, 50 at a time (HubSpot's limit with histories); merged-away deals from the
  survivors' `hs_merged_object_ids`; deleted deals from `GET /crm/v3/objects/deals?archived=true`;
- activities: the same search over calls, meetings and emails, their deals from
  `POST /crm/v4/associations/{type}/deals/batch/read`.

The cursor of deals and of each activity type is the last `hs_lastmodifieddate` seen, with the
ids seen at exactly that millisecond (the next search starts there, inclusive, and skips them),
and the latest `archivedAt` seen. A search pages through at most 10,000 results: before the cap
it starts a new search from the cursor. It looks no later than a minute ago: HubSpot's search
index takes a moment to show a change, and a record indexed late must not fall behind a cursor
that has moved past it.

Bodies are read as JSON (`_preload_content=False`): the client's generated models cost more
than the rest of a 200,000-activity sync put together.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.crm.base import CrmError
from storage.crm_records import (
    ActivityKind,
    CrmActivity,
    CrmDeal,
    CrmDeletion,
    CrmObject,
    CrmOwner,
    CrmOwnerChange,
    CrmPage,
    CrmStageChange,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.hubapi.com"
# What the private app needs, with what each is for (README, HubSpot set-up).
REQUIRED_SCOPES = {
    "crm.objects.owners.read": "owners: who the reps are",
    "crm.objects.deals.read": "deals and their stage history",
    "crm.objects.contacts.read": "calls and meetings",
    "sales-email-read": "logged emails",
}
SEARCH_CAP = 10_000  # results one search query can page through
SEARCH_PAGE = 200  # HubSpot's most per search page
HISTORY_BATCH = 50  # batch reads asking for property histories
SETTLE = timedelta(minutes=1)  # how far behind now a search looks (index latency)
ACTIVITY_TYPES: dict[str, ActivityKind] = {
    "calls": "call",
    "meetings": "meeting",
    "emails": "email",
}
_DEAL_PROPERTIES = [
    "dealname",
    "amount",
    "deal_currency_code",
    "dealstage",
    "pipeline",
    "hubspot_owner_id",
    "createdate",
    "closedate",
    "hs_is_closed",
    "hs_lastmodifieddate",
    "hs_merged_object_ids",
]
_ACTIVITY_PROPERTIES = {
    "calls": ["hs_timestamp", "hubspot_owner_id", "hs_call_disposition", "hs_lastmodifieddate"],
    "meetings": ["hs_timestamp", "hubspot_owner_id", "hs_meeting_outcome", "hs_lastmodifieddate"],
    "emails": ["hs_timestamp", "hubspot_owner_id", "hs_lastmodifieddate"],
}
_OUTCOME_PROPERTY = {"calls": "hs_call_disposition", "meetings": "hs_meeting_outcome"}
# 429s waited out per call before giving up; 5xx and lost connections retried per call.
RATE_LIMIT_WAITS = 5
SERVER_RETRIES = 2


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ms(at: datetime) -> int:
    """Milliseconds since the epoch, exactly (floats would be off by one now and then)."""
    return (at - _EPOCH) // timedelta(milliseconds=1)


@dataclass
class _Walk:
    """Where one object type's walk stands: the cursor's part for it."""

    since: int | None = None  # ms: the latest hs_lastmodifieddate seen
    seen: set[str] = field(default_factory=set)  # ids seen at exactly `since`
    archived: int | None = None  # ms: the latest archivedAt seen

    @classmethod
    def load(cls, data: dict[str, Any] | None) -> _Walk:
        data = data or {}
        return cls(data.get("since"), set(data.get("seen") or []), data.get("archived"))

    def dump(self) -> dict[str, Any]:
        return {"since": self.since, "seen": sorted(self.seen), "archived": self.archived}

    def saw(self, record_id: str, modified: int) -> bool:
        """Note a search result; False when an earlier page or sync already took it."""
        if self.since is not None and modified < self.since:
            return True  # out of order: take it, the cursor stays
        if modified == self.since:
            if record_id in self.seen:
                return False
            self.seen.add(record_id)
            return True
        self.since, self.seen = modified, {record_id}
        return True


class HubSpotConnector:
    """One HubSpot account, through a private app's access token (see REQUIRED_SCOPES).

    `base_url` points elsewhere for tests and sandboxes; `sleep` and `now` are injected by tests.
    """

    source = "hubspot"

    def __init__(
        self,
        token: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        page_size: int = SEARCH_PAGE,
        search_cap: int = SEARCH_CAP,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        from hubspot import Client

        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.search_cap = search_cap
        self.sleep, self.now = sleep, now
        self._client = Client.create(access_token=token, host=self.base_url)
        crm = self._client.crm
        # Each attribute of the client's discovery builds a new API client: build them once.
        self._owners = crm.owners.owners_api
        self._apis = {
            "deals": (crm.deals.search_api, crm.deals.batch_api, crm.deals.basic_api),
            "calls": (
                crm.objects.calls.search_api,
                crm.objects.calls.batch_api,
                crm.objects.calls.basic_api,
            ),
            "meetings": (
                crm.objects.meetings.search_api,
                crm.objects.meetings.batch_api,
                crm.objects.meetings.basic_api,
            ),
            "emails": (
                crm.objects.emails.search_api,
                crm.objects.emails.batch_api,
                crm.objects.emails.basic_api,
            ),
        }
        self._associations = crm.associations.v4.batch_api
        self._record_url: str | None = None

    # -- the Connector protocol --------------------------------------------------------------------

    def check(self) -> None:
        """One small read of each object a sync walks: a bad token fails on the first, missing
        scopes are gathered from all and named together."""
        missing: list[str] = []
        reads: list[tuple[str, Callable[[], Any]]] = [
            ("owners", lambda: self._owners.get_page(limit=1, _preload_content=False)),
        ]
        for obj in ("deals", *ACTIVITY_TYPES):
            search = self._apis[obj][0]
            reads.append(
                (
                    obj,
                    lambda s=search: s.do_search(
                        public_object_search_request={"limit": 1, "properties": ["hs_object_id"]},
                        _preload_content=False,
                    ),
                )
            )
        for what, read in reads:
            try:
                self._call(f"read {what}", read)
            except _ScopeError as exc:
                missing += [s for s in exc.scopes if s not in missing]
        if missing:
            raise _ScopeError(missing)

    def pages(self, obj: CrmObject, cursor: str | None) -> Iterator[tuple[CrmPage, str | None]]:
        """Pages of `obj` changed since `cursor` (see the module docstring for how)."""
        if obj == "owners":
            yield from self._owner_pages()
        elif obj == "deals":
            yield from self._deal_pages(cursor)
        else:
            yield from self._activity_pages(cursor)

    # -- owners ------------------------------------------------------------------------------------

    def _owner_pages(self) -> Iterator[tuple[CrmPage, str | None]]:
        for archived in (False, True):
            after: str | None = None
            while True:
                answer = self._call(
                    "list owners",
                    lambda a=after, arc=archived: self._owners.get_page(
                        limit=100, after=a, archived=arc, _preload_content=False
                    ),
                )
                owners = [self._owner(o, archived) for o in answer.get("results") or []]
                yield CrmPage(owners=owners), None  # owners are read whole every sync
                after = _next_after(answer)
                if after is None:
                    break

    @staticmethod
    def _owner(data: dict[str, Any], archived: bool) -> CrmOwner:
        name = " ".join(p for p in (data.get("firstName"), data.get("lastName")) if p).strip()
        teams = data.get("teams") or []
        primary = next((t for t in teams if t.get("primary")), teams[0] if teams else None)
        return CrmOwner(
            crm_id=str(data["id"]),
            email=(data.get("email") or None),
            name=name or data.get("email") or f"owner {data['id']}",
            team=primary.get("name") if primary else None,
            active=not (archived or data.get("archived")),
            modified_at=_time(data.get("updatedAt")) or datetime.now(UTC),
        )

    # -- deals -------------------------------------------------------------------------------------

    def _deal_pages(self, cursor: str | None) -> Iterator[tuple[CrmPage, str | None]]:
        walk = _Walk.load(json.loads(cursor) if cursor else None)
        for fresh in self._search(
            "deals", walk, ["hs_lastmodifieddate"]
        ):  # each yield: the ids a page brought that no earlier page or sync did
            page = CrmPage()
            for start in range(0, len(fresh), HISTORY_BATCH):
                ids = [r["id"] for r in fresh[start : start + HISTORY_BATCH]]
                for deal in self._read_deals(ids):
                    self._add_deal(page, deal)
            yield page, json.dumps(walk.dump())
        yield from self._archived("deals", walk, lambda w: json.dumps(w.dump()))

    def _read_deals(self, ids: list[str]) -> list[dict[str, Any]]:
        batch = self._apis["deals"][1]
        body = {
            "inputs": [{"id": i} for i in ids],
            "properties": _DEAL_PROPERTIES,
            "propertiesWithHistory": ["dealstage", "hubspot_owner_id"],
        }
        answer = self._call(
            "read deals",
            lambda: batch.read(
                batch_read_input_simple_public_object_id=body,
                archived=False,
                _preload_content=False,
            ),
        )
        return answer.get("results") or []  # a deal deleted since the search is left out

    def _add_deal(self, page: CrmPage, data: dict[str, Any]) -> None:
        props = data.get("properties") or {}
        history = data.get("propertiesWithHistory") or {}
        deal_id = str(data["id"])
        stages = sorted(
            (
                CrmStageChange(
                    deal_crm_id=deal_id, stage=v["value"], entered_at=_time(v["timestamp"])
                )  # type: ignore[arg-type]
                for v in history.get("dealstage") or []
                if v.get("value")
            ),
            key=lambda c: c.entered_at,
        )
        owners = sorted(
            (
                CrmOwnerChange(
                    deal_crm_id=deal_id,
                    owner_crm_id=v.get("value") or None,
                    changed_at=_time(v["timestamp"]),  # type: ignore[arg-type]
                )
                for v in history.get("hubspot_owner_id") or []
            ),
            key=lambda c: c.changed_at,
        )
        stage = props.get("dealstage") or ""
        closed_at = None
        if props.get("hs_is_closed") == "true":
            # When it entered the stage it stands in (HubSpot's closedate can be typed over).
            entered = [c.entered_at for c in stages if c.stage == stage]
            closed_at = entered[-1] if entered else _time(props.get("closedate"))
        close = _time(props.get("closedate"))
        amount = props.get("amount")
        created = _time(props.get("createdate")) or _time(data.get("createdAt"))
        page.deals.append(
            CrmDeal(
                crm_id=deal_id,
                name=props.get("dealname") or f"deal {deal_id}",
                owner_crm_id=props.get("hubspot_owner_id") or None,
                pipeline=props.get("pipeline") or None,
                stage=stage,
                amount=float(amount) if amount not in (None, "") else None,
                currency=props.get("deal_currency_code") or None,
                created_at=created,  # type: ignore[arg-type]
                closed_at=closed_at,
                close_date=None if closed_at or close is None else close.date(),
                url=self._url_of(deal_id),
                modified_at=_time(props.get("hs_lastmodifieddate")) or _time(data.get("updatedAt")),  # type: ignore[arg-type]
            )
        )
        page.stage_changes.extend(stages)
        page.owner_changes.extend(owners)
        for merged in (props.get("hs_merged_object_ids") or "").split(";"):
            if merged.strip():
                page.deletions.append(
                    CrmDeletion(object="deals", crm_id=merged.strip(), merged_into=deal_id)
                )

    def _url_of(self, deal_id: str) -> str | None:
        if self._record_url is None:
            self._record_url = self._deal_link_base()
        return f"{self._record_url}/{deal_id}" if self._record_url else None

    def _deal_link_base(self) -> str:
        """`https://app.hubspot.com/contacts/PORTAL/record/0-3` (the account's own UI domain);
        empty when the account details cannot be read: links are a nicety, not a failure."""
        try:
            response = self._client.api_request(
                {"method": "GET", "path": "/account-info/v3/details", "base_url": self.base_url}
            )
            details = response.json() if response.status_code == 200 else {}
        except Exception:  # network or JSON: the deals still sync, without links
            log.warning("hubspot: account details unreadable; deals get no links")
            details = {}
        portal, domain = details.get("portalId"), details.get("uiDomain") or "app.hubspot.com"
        return f"https://{domain}/contacts/{portal}/record/0-3" if portal else ""

    # -- activities --------------------------------------------------------------------------------

    def _activity_pages(self, cursor: str | None) -> Iterator[tuple[CrmPage, str | None]]:
        state = json.loads(cursor) if cursor else {}
        walks = {obj: _Walk.load(state.get(obj)) for obj in ACTIVITY_TYPES}

        def dump(_: _Walk | None = None) -> str:
            return json.dumps({obj: w.dump() for obj, w in walks.items()})

        for obj, kind in ACTIVITY_TYPES.items():
            walk = walks[obj]
            for fresh in self._search(obj, walk, _ACTIVITY_PROPERTIES[obj]):
                deals = self._deals_of(obj, [r["id"] for r in fresh]) if fresh else {}
                page = CrmPage(activities=[self._activity(obj, kind, r, deals) for r in fresh])
                yield page, dump()
            yield from self._archived(obj, walk, dump)

    def _deals_of(self, obj: str, ids: list[str]) -> dict[str, tuple[str, ...]]:
        body = {"inputs": [{"id": i} for i in ids]}
        answer = self._call(
            f"read {obj} associations",
            lambda: self._associations.get_page(
                from_object_type=obj,
                to_object_type="deals",
                batch_input_public_fetch_associations_batch_request=body,
                _preload_content=False,
            ),
        )
        # Inputs without deals come back as errors (NO_ASSOCIATIONS_FOUND): they have none.
        return {
            str(r["from"]["id"]): tuple(str(t["toObjectId"]) for t in r.get("to") or [])
            for r in answer.get("results") or []
        }

    @staticmethod
    def _activity(
        obj: str, kind: ActivityKind, data: dict[str, Any], deals: dict[str, tuple[str, ...]]
    ) -> CrmActivity:
        props = data.get("properties") or {}
        activity_id = str(data["id"])
        outcome_property = _OUTCOME_PROPERTY.get(obj)
        return CrmActivity(
            crm_id=activity_id,
            kind=kind,
            owner_crm_id=props.get("hubspot_owner_id") or None,
            occurred_at=_time(props.get("hs_timestamp")) or _time(data.get("createdAt")),  # type: ignore[arg-type]
            deal_crm_ids=deals.get(activity_id, ()),
            outcome=(props.get(outcome_property) or None) if outcome_property else None,
            modified_at=_time(props.get("hs_lastmodifieddate")) or _time(data.get("updatedAt")),  # type: ignore[arg-type]
        )

    # -- walking -----------------------------------------------------------------------------------

    def _search(
        self, obj: str, walk: _Walk, properties: Sequence[str]
    ) -> Iterator[list[dict[str, Any]]]:
        """Search `obj` from the walk's cursor up to a minute ago, oldest change first; yields
        each page's results that are new to the walk (which it moves along)."""
        search = self._apis[obj][0]
        upper = _ms(self.now() - SETTLE)
        limit = min(self.page_size, SEARCH_PAGE)
        while True:
            start = walk.since
            filters = [
                {"propertyName": "hs_lastmodifieddate", "operator": "LTE", "value": str(upper)}
            ]
            if start is not None:
                filters.append(
                    {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(start)}
                )
            after: str | None = None
            fetched = 0
            while True:
                body: dict[str, Any] = {
                    "filterGroups": [{"filters": filters}],
                    "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
                    "properties": list(properties),
                    "limit": limit,
                }
                if after is not None:
                    body["after"] = after
                answer = self._call(
                    f"search {obj}",
                    lambda b=body: search.do_search(
                        public_object_search_request=b, _preload_content=False
                    ),
                )
                results = answer.get("results") or []
                fetched += len(results)
                fresh = []
                for result in results:
                    modified = _time((result.get("properties") or {}).get("hs_lastmodifieddate"))
                    modified = modified or _time(result.get("updatedAt"))
                    if walk.saw(str(result["id"]), _ms(modified)):  # type: ignore[arg-type]
                        fresh.append(result)
                yield fresh
                after = _next_after(answer)
                if after is None:
                    return
                if fetched + limit > self.search_cap:
                    break  # the next page would pass the cap: search again from the cursor
            if walk.since == start:
                raise CrmError(
                    "api",
                    f"HubSpot: more than {self.search_cap:,} {obj} share one modification time; "
                    "a search cannot page past them",
                )

    def _archived(
        self, obj: str, walk: _Walk, dump: Callable[[_Walk], str]
    ) -> Iterator[tuple[CrmPage, str | None]]:
        """Deletions of `obj` archived since the walk last looked; the cursor moves at the end
        (the listing is in id order, not by when)."""
        basic = self._apis[obj][2]
        target: CrmObject = "deals" if obj == "deals" else "activities"
        latest = walk.archived
        after: str | None = None
        while True:
            answer = self._call(
                f"list archived {obj}",
                lambda a=after: basic.get_page(
                    limit=100,
                    after=a,
                    properties=["hs_object_id"],
                    archived=True,
                    _preload_content=False,
                ),
            )
            deletions = []
            for record in answer.get("results") or []:
                at = _time(record.get("archivedAt"))
                stamp = _ms(at) if at else None
                if walk.archived is None or stamp is None or stamp > walk.archived:
                    deletions.append(CrmDeletion(object=target, crm_id=str(record["id"])))
                if stamp is not None and (latest is None or stamp > latest):
                    latest = stamp
            after = _next_after(answer)
            if after is None:
                walk.archived = latest
                yield CrmPage(deletions=deletions), dump(walk)
                return
            if deletions:
                yield CrmPage(deletions=deletions), dump(walk)

    # -- calls and their failures ------------------------------------------------------------------

    def _call(self, what: str, request: Callable[[], Any]) -> dict[str, Any]:
        """Make one API call and read its JSON; ride out 429s (as HubSpot's own clients do:
        Retry-After, else a second for the search limit and the window for the burst limit)
        and passing server errors; anything else is a CrmError with one line."""
        import urllib3

        waits = retries = 0
        while True:
            try:
                response = request()
                return json.loads(response.data or b"{}")
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if retries >= SERVER_RETRIES:
                    raise CrmError(
                        "api", f"HubSpot: cannot reach {self.base_url} ({what}): {_reason(exc)}"
                    ) from None
                retries += 1
                self.sleep(0.5 * retries)
            except _api_exceptions() as exc:
                status, body, headers = _failure(exc)
                if status == 429:
                    policy = str(body.get("policyName") or "")
                    if policy == "DAILY" or waits >= RATE_LIMIT_WAITS:
                        raise _rate_limit_error(policy, waits, headers) from None
                    waits += 1
                    self.sleep(_wait_for(policy, headers, waits))
                    continue
                if status >= 500 and retries < SERVER_RETRIES:
                    retries += 1
                    self.sleep(0.5 * retries)
                    continue
                raise _api_error(status, body, what) from None


def _api_exceptions() -> tuple[type[Exception], ...]:
    """The client's HTTP error classes: each generated package has its own ApiException."""
    import hubspot.crm.associations.v4 as associations
    import hubspot.crm.deals as deals
    import hubspot.crm.objects.calls as calls
    import hubspot.crm.objects.emails as emails
    import hubspot.crm.objects.meetings as meetings
    import hubspot.crm.owners as owners

    return tuple(m.ApiException for m in (associations, deals, calls, emails, meetings, owners))


def _failure(exc: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
    raw = exc.body
    if raw is None and getattr(exc, "http_resp", None) is not None:
        raw = exc.http_resp.data
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {"message": raw.decode(errors="replace")[:200] if isinstance(raw, bytes) else ""}
    headers = {str(k).lower(): str(v) for k, v in (exc.headers or {}).items()}
    return int(exc.status or 0), body if isinstance(body, dict) else {}, headers


def _wait_for(policy: str, headers: dict[str, str], attempt: int) -> float:
    if headers.get("retry-after", "").isdigit():
        return float(headers["retry-after"])
    if policy == "TEN_SECONDLY_ROLLING":
        window = headers.get("x-hubspot-ratelimit-interval-milliseconds", "10000")
        return (int(window) if window.isdigit() else 10_000) / 1000
    return 1.0 * attempt  # the search API's per-second limit


def _rate_limit_error(policy: str, waits: int, headers: dict[str, str]) -> CrmError:
    if policy == "DAILY":
        cap = headers.get("x-hubspot-ratelimit-daily", "?")
        return CrmError(
            "rate_limit",
            f"HubSpot: the account's daily API limit ({cap} calls) is used up; the next sync "
            "resumes where this one stopped",
        )
    return CrmError(
        "rate_limit",
        f"HubSpot: still rate-limited (429 {policy or 'no policy'}) after {waits} waits; the "
        "next sync resumes where this one stopped",
    )


class _ScopeError(CrmError):
    """Missing scopes, named so that `check` can gather them from several calls."""

    def __init__(self, scopes: Sequence[str]) -> None:
        super().__init__(
            "scope",
            f"HubSpot: the private app lacks scope(s) {', '.join(scopes)}: add them under "
            "Settings › Integrations › Private Apps, then copy its token into "
            "HUBSPOT_ACCESS_TOKEN",
        )
        self.scopes = list(scopes)


def _api_error(status: int, body: dict[str, Any], what: str) -> CrmError:
    category = str(body.get("category") or "")
    if status == 401:
        return CrmError(
            "auth",
            f"HubSpot refused the token (401 {category or 'unauthorized'}): it was revoked, "
            "rotated or mistyped; copy the private app's current token into "
            "HUBSPOT_ACCESS_TOKEN",
        )
    if status == 403 and category == "MISSING_SCOPES":
        scopes = [
            s
            for error in body.get("errors") or []
            for s in (error.get("context") or {}).get("requiredGranularScopes") or []
        ]
        return _ScopeError(scopes or ["(HubSpot did not say which)"])
    message = " ".join(str(body.get("message") or "").split())[:200]
    return CrmError(
        "api", f"HubSpot answered {status} {category} to {what}: {message}".replace("  ", " ")
    )


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return " ".join(str(reason).split())[:160]


def _next_after(answer: dict[str, Any]) -> str | None:
    after = ((answer.get("paging") or {}).get("next") or {}).get("after")
    return str(after) if after not in (None, "") else None
