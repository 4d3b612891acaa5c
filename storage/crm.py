"""CRM records kept (`CrmStore`, the `RecordSink` connectors write to), and what became of syncs.

Every record is keyed by (workspace, source, CRM id) and upserted, so a sync is incremental and a
rerun of a page is harmless. A page, its deletions and the cursor after it are written in one
transaction: a sync killed midway resumes after its last written page and neither loses nor
duplicates anything. A deal's stage and owner histories come whole from the CRM, so they replace
the stored ones.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, String, Table, delete, func, select, type_coerce, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from analytics.crm_mapping import CrmMapping
from analytics.crm_metrics import DERIVED_COLUMNS, CrmFrames, derive
from storage import crm_records as rec
from storage.counts import read_counts, replace_counts
from storage.csv_common import bump_data_version, ensure_workspace
from storage.db import session_scope
from storage.models import (
    CrmActivity,
    CrmActivityDeal,
    CrmCursor,
    CrmDeal,
    CrmMonth,
    CrmOwner,
    CrmOwnerChange,
    CrmProblem,
    CrmStageChange,
    CrmSyncRun,
    MetricMonth,
    PartialMonth,
    Person,
    utcnow,
)

# Ids per statement when deleting by id: far below SQLite's 32,766 bound parameters.
_CHUNK = 500
# Records written before PostgreSQL's statistics are first brought up to date (`_analyze`).
_ANALYZE_FIRST = 2_000
# Rows read at a time when loading the records to derive from.
_ROWS = 20_000
# Problem lines kept per run: a CRM with 50,000 unmapped activities needs the first few only.
MAX_PROBLEMS = 1_000
# A problem line longer than this is cut (a CRM's stage name can be anything).
_LINE = 300

RUNNING, OK, FAILED = "running", "ok", "failed"


def as_utc(value: datetime) -> datetime:
    """A timestamp read back from the database, in UTC (SQLite returns them naive)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class SyncRun(BaseModel):
    """One sync as `coach doctor` reports it."""

    model_config = ConfigDict(frozen=True)

    id: int
    source: str
    started_at: datetime
    finished_at: datetime | None
    status: str  # running (or killed: no finish), ok, failed
    error: str | None
    counts: dict[str, int]
    problems: list[str]
    problem_count: int


class CrmStore:
    """The records of one workspace, written page by page by a sync (`RecordSink`)."""

    def __init__(self, engine: Engine, workspace_id: str) -> None:
        self.engine = engine
        self.workspace_id = workspace_id
        # The run each source's writes and problems count towards (set by `start_run`).
        self._runs: dict[str, int] = {}
        self._counts: dict[str, Counter[str]] = {}
        # Records written through this store, and how many there were at its last ANALYZE.
        self._written = 0
        self._analyzed = 0

    # -- RecordSink ---------------------------------------------------------------------------

    def cursor(self, source: rec.Source, obj: rec.CrmObject) -> str | None:
        """The cursor the last written page of `obj` left (None: sync from scratch)."""
        with session_scope(self.engine) as session:
            row = session.get(CrmCursor, (self.workspace_id, source, obj))
            return None if row is None else row.cursor

    def write_page(
        self, source: rec.Source, page: rec.CrmPage, obj: rec.CrmObject, cursor: str | None
    ) -> None:
        """Upsert the page's records, replace the histories of the deals it gives histories for,
        apply its deletions and move `obj`'s cursor, in one transaction."""
        with session_scope(self.engine) as session:
            ensure_workspace(session, self.workspace_id)
            counts = write_records(session, self.workspace_id, source, page)
            _set_cursor(session, self.workspace_id, source, obj, cursor)
        if source in self._counts:
            self._counts[source].update(counts)
        self._written += sum(counts.values())
        if self._written >= max(_ANALYZE_FIRST, 2 * self._analyzed):
            self._analyze()

    def _analyze(self) -> None:
        """Bring PostgreSQL's statistics of the record tables up to date. A page's deletes are
        planned from them: on tables a first sync is filling from nothing, before autovacuum
        analyzes them (or where it is off), the planner takes the wrong index and scans every
        link per page — a first sync of 200,000 activities stored for minutes. Run as the
        records written double, so a few times a sync."""
        self._analyzed = self._written
        if self.engine.dialect.name != "postgresql":
            return
        with self.engine.connect() as connection:
            for model in (CrmDeal, CrmStageChange, CrmOwnerChange, CrmActivity, CrmActivityDeal):
                connection.exec_driver_sql(f"ANALYZE {model.__tablename__}")
            connection.commit()

    def problems(self, source: rec.Source, lines: Sequence[str]) -> None:
        """Keep the lines (records that don't map) with the source's current run."""
        if not lines:
            return
        with session_scope(self.engine) as session:
            ensure_workspace(session, self.workspace_id)
            add_problems(session, self.workspace_id, source, self._runs.get(source), lines)

    # -- runs ---------------------------------------------------------------------------------

    def start_run(self, source: rec.Source) -> int:
        """Record a sync of `source` as running; writes and problems count towards it."""
        with session_scope(self.engine) as session:
            ensure_workspace(session, self.workspace_id)
            run = CrmSyncRun(workspace_id=self.workspace_id, source=source, status=RUNNING)
            run.counts = {}
            session.add(run)
            session.flush()
            run_id = run.id
        self._runs[source] = run_id
        self._counts[source] = Counter()
        return run_id

    def finish_run(self, source: rec.Source, error: str | None = None) -> None:
        """End the source's current run: ok, or failed with `error` (cut to its first line)."""
        run_id = self._runs.pop(source, None)
        counts = dict(self._counts.pop(source, Counter()))
        if run_id is None:
            raise RuntimeError(f"no {source} sync is running in this process")
        with session_scope(self.engine) as session:
            session.execute(
                update(CrmSyncRun)
                .where(CrmSyncRun.id == run_id)
                .values(
                    finished_at=utcnow(),
                    status=OK if error is None else FAILED,
                    error=None if error is None else one_line(error),
                    counts=counts,
                )
            )

    @contextmanager
    def record_run(self, source: rec.Source) -> Iterator[int]:
        """Run a sync inside: recorded ok when the block ends, failed (with the exception's
        one-line message, a CrmError's `line`) when it raises; the exception goes on."""
        run_id = self.start_run(source)
        try:
            yield run_id
        except BaseException as exc:
            line = getattr(exc, "line", None) or f"{type(exc).__name__}: {exc}"
            self.finish_run(source, error=str(line))
            raise
        self.finish_run(source)

    def last_run(self, source: rec.Source, ok_only: bool = False) -> SyncRun | None:
        """The latest sync of `source` (or the latest that succeeded), None if there was none."""
        with session_scope(self.engine) as session:
            return last_run(session, self.workspace_id, source, ok_only)


def last_run(
    session: Session, workspace_id: str, source: str, ok_only: bool = False
) -> SyncRun | None:
    """The latest sync of `source` in the workspace (or the latest that succeeded)."""
    query = select(CrmSyncRun).where(
        CrmSyncRun.workspace_id == workspace_id, CrmSyncRun.source == source
    )
    if ok_only:
        query = query.where(CrmSyncRun.status == OK)
    run = session.scalars(query.order_by(CrmSyncRun.id.desc()).limit(1)).first()
    if run is None:
        return None
    lines = session.scalars(
        select(CrmProblem.line)
        .where(CrmProblem.run_id == run.id)
        .order_by(CrmProblem.id)
        .limit(MAX_PROBLEMS)
    ).all()
    total = session.scalar(select(func.count()).where(CrmProblem.run_id == run.id)) or 0
    return SyncRun(
        id=run.id,
        source=run.source,
        started_at=as_utc(run.started_at),
        finished_at=None if run.finished_at is None else as_utc(run.finished_at),
        status=run.status,
        error=run.error,
        counts=dict(run.counts or {}),
        problems=list(lines),
        problem_count=total,
    )


def connected_sources(session: Session, workspace_id: str) -> list[str]:
    """The CRMs the workspace has synced successfully at least once (a CRM is connected)."""
    query = (
        select(CrmSyncRun.source)
        .where(CrmSyncRun.workspace_id == workspace_id, CrmSyncRun.status == OK)
        .distinct()
    )
    return sorted(session.scalars(query))


def one_line(text: str) -> str:
    """The first line of `text`, cut to a length a terminal line holds."""
    first = (text.strip().splitlines() or [""])[0].strip()
    return first if len(first) <= _LINE else first[: _LINE - 1] + "…"


def add_problems(
    session: Session, workspace_id: str, source: str, run_id: int | None, lines: Sequence[str]
) -> None:
    """Keep problem lines with a run, up to MAX_PROBLEMS per run."""
    kept = 0
    if run_id is not None:
        kept = session.scalar(select(func.count()).where(CrmProblem.run_id == run_id)) or 0
    room = max(0, MAX_PROBLEMS - kept) if run_id is not None else MAX_PROBLEMS
    session.add_all(
        CrmProblem(workspace_id=workspace_id, source=source, run_id=run_id, line=one_line(line))
        for line in lines[:room]
    )


# -- writing ----------------------------------------------------------------------------------


def write_records(
    session: Session, workspace_id: str, source: str, page: rec.CrmPage
) -> Counter[str]:
    """Write one page's records and deletions in the session's transaction; what was written."""
    key = {"workspace_id": workspace_id, "source": source}
    _upsert(session, CrmOwner, [{**key, **o.model_dump()} for o in page.owners])
    _upsert(session, CrmDeal, [{**key, **d.model_dump()} for d in page.deals])
    _replace_history(
        session,
        CrmStageChange,
        key,
        [
            (c.deal_crm_id, {"stage": c.stage, "entered_at": c.entered_at})
            for c in page.stage_changes
        ],
        lambda row: (row["entered_at"], row["stage"]),
    )
    _replace_history(
        session,
        CrmOwnerChange,
        key,
        [
            (c.deal_crm_id, {"owner_crm_id": c.owner_crm_id, "changed_at": c.changed_at})
            for c in page.owner_changes
        ],
        lambda row: (row["changed_at"], row["owner_crm_id"] or ""),
    )
    activities = [{**key, **a.model_dump(exclude={"deal_crm_ids"})} for a in page.activities]
    _upsert(session, CrmActivity, activities)
    # An activity's deals come whole with it: its old links go.
    given = [a.crm_id for a in page.activities]
    _delete_in(session, CrmActivityDeal, key, "activity_crm_id", given)
    links = {(a.crm_id, deal) for a in page.activities for deal in a.deal_crm_ids}
    if links:
        session.execute(
            CrmActivityDeal.__table__.insert(),  # type: ignore[attr-defined]
            [{**key, "activity_crm_id": a, "deal_crm_id": d} for a, d in sorted(links)],
        )
    _apply_deletions(session, key, page.deletions)
    counts: Counter[str] = Counter(
        owners=len(page.owners),
        deals=len(page.deals),
        stage_changes=len(page.stage_changes),
        owner_changes=len(page.owner_changes),
        activities=len(page.activities),
        deleted=len(page.deletions),
    )
    return +counts  # zeros dropped


def _upsert(session: Session, model: type, rows: list[dict[str, Any]]) -> None:
    """Insert rows, or update every non-key column of the ones stored (last page wins)."""
    if not rows:
        return
    # The same record twice in one page: the later one stands (and one statement can't hold both).
    table: Table = model.__table__  # type: ignore[attr-defined]
    keys = [c.name for c in table.primary_key.columns]
    latest = {tuple(row[k] for k in keys): row for row in rows}
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=keys,
        set_={c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys},
    )
    session.execute(statement, list(latest.values()))


def _replace_history(
    session: Session,
    model: type,
    key: dict[str, str],
    entries: list[tuple[str, dict[str, Any]]],
    order: Callable[[dict[str, Any]], Any],
) -> None:
    """Replace the stored history of each deal the entries are about with the entries, in time
    order (`position` 0, 1, …); a deal the page gives no entries for keeps its history."""
    if not entries:
        return
    by_deal: dict[str, list[dict[str, Any]]] = {}
    for deal, row in entries:
        by_deal.setdefault(deal, []).append(row)
    _delete_in(session, model, key, "deal_crm_id", list(by_deal))
    rows = [
        {**key, "deal_crm_id": deal, "position": position, **row}
        for deal, history in by_deal.items()
        for position, row in enumerate(sorted(history, key=order))
    ]
    session.execute(model.__table__.insert(), rows)  # type: ignore[attr-defined]


def _delete_in(
    session: Session, model: type, key: dict[str, str], column: str, ids: Iterable[str]
) -> None:
    """Delete the workspace's and source's rows whose `column` is one of `ids`."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    ids = sorted(set(ids))
    for start in range(0, len(ids), _CHUNK):
        session.execute(
            delete(table).where(
                table.c.workspace_id == key["workspace_id"],
                table.c.source == key["source"],
                table.c[column].in_(ids[start : start + _CHUNK]),
            )
        )


def _apply_deletions(
    session: Session, key: dict[str, str], deletions: list[rec.CrmDeletion]
) -> None:
    """Deals and activities deleted in the CRM go with their histories and links; a deal merged
    into another hands its activities to the survivor. An owner deleted stays, inactive: the
    deals they worked still count for them."""
    by_object: dict[str, list[rec.CrmDeletion]] = {}
    for deletion in deletions:
        by_object.setdefault(deletion.object, []).append(deletion)
    owners = [d.crm_id for d in by_object.get("owners", [])]
    for start in range(0, len(owners), _CHUNK):
        session.execute(
            update(CrmOwner)
            .where(
                CrmOwner.workspace_id == key["workspace_id"],
                CrmOwner.source == key["source"],
                CrmOwner.crm_id.in_(owners[start : start + _CHUNK]),
            )
            .values(active=False)
        )
    deals = by_object.get("deals", [])
    for deletion in deals:
        if deletion.merged_into and deletion.merged_into != deletion.crm_id:
            _move_links(session, key, deletion.crm_id, deletion.merged_into)
    dead = [d.crm_id for d in deals]
    for model in (CrmStageChange, CrmOwnerChange, CrmActivityDeal):
        _delete_in(session, model, key, "deal_crm_id", dead)
    _delete_in(session, CrmDeal, key, "crm_id", dead)
    gone = [d.crm_id for d in by_object.get("activities", [])]
    _delete_in(session, CrmActivityDeal, key, "activity_crm_id", gone)
    _delete_in(session, CrmActivity, key, "crm_id", gone)


def _move_links(session: Session, key: dict[str, str], old: str, new: str) -> None:
    """Point the activities about deal `old` at deal `new` (merged), without duplicating any."""
    link = CrmActivityDeal
    mine = (link.workspace_id == key["workspace_id"], link.source == key["source"])
    activities = session.scalars(
        select(link.activity_crm_id).where(*mine, link.deal_crm_id == old)
    ).all()
    if not activities:
        return
    already = set(
        session.scalars(
            select(link.activity_crm_id).where(
                *mine, link.deal_crm_id == new, link.activity_crm_id.in_(activities)
            )
        )
    )
    moved = [
        {**key, "activity_crm_id": a, "deal_crm_id": new} for a in activities if a not in already
    ]
    if moved:
        session.execute(link.__table__.insert(), moved)  # type: ignore[attr-defined]


def _set_cursor(
    session: Session, workspace_id: str, source: str, obj: str, cursor: str | None
) -> None:
    row = session.get(CrmCursor, (workspace_id, source, obj))
    if row is None:
        session.add(CrmCursor(workspace_id=workspace_id, source=source, object=obj, cursor=cursor))
    else:
        row.cursor = cursor
        row.updated_at = utcnow()


def reset_cursors(session: Session, workspace_id: str, source: str) -> None:
    """Forget where syncs of `source` stopped: the next one fetches everything again."""
    session.execute(
        delete(CrmCursor).where(CrmCursor.workspace_id == workspace_id, CrmCursor.source == source)
    )


# -- reading ----------------------------------------------------------------------------------


class StoredRecords(BaseModel):
    """Every record of one source, as the connectors handed them (for the derivation)."""

    model_config = ConfigDict(frozen=True)

    owners: list[rec.CrmOwner]
    deals: list[rec.CrmDeal]
    stage_changes: list[rec.CrmStageChange]
    owner_changes: list[rec.CrmOwnerChange]
    activities: list[rec.CrmActivity]


def load_records(session: Session, workspace_id: str, source: str) -> StoredRecords:
    """Read back every stored record of `source`, timestamps in UTC."""

    def rows(model: type, *order: Any) -> list[Any]:
        query = select(model).where(
            model.workspace_id == workspace_id,  # type: ignore[attr-defined]
            model.source == source,  # type: ignore[attr-defined]
        )
        return list(session.scalars(query.order_by(*order)))

    def plain(row: Any, fields: Iterable[str]) -> dict[str, Any]:
        out = {}
        for name in fields:
            value = getattr(row, name)
            out[name] = as_utc(value) if isinstance(value, datetime) else value
        return out

    links: dict[str, list[str]] = {}
    link = CrmActivityDeal
    for activity, deal in session.execute(
        select(link.activity_crm_id, link.deal_crm_id)
        .where(link.workspace_id == workspace_id, link.source == source)
        .order_by(link.activity_crm_id, link.deal_crm_id)
    ):
        links.setdefault(activity, []).append(deal)
    owner_fields = rec.CrmOwner.model_fields
    deal_fields = rec.CrmDeal.model_fields
    activity_fields = [f for f in rec.CrmActivity.model_fields if f != "deal_crm_ids"]
    return StoredRecords(
        owners=[rec.CrmOwner(**plain(o, owner_fields)) for o in rows(CrmOwner, CrmOwner.crm_id)],
        deals=[rec.CrmDeal(**plain(d, deal_fields)) for d in rows(CrmDeal, CrmDeal.crm_id)],
        stage_changes=[
            rec.CrmStageChange(**plain(c, ("deal_crm_id", "stage", "entered_at")))
            for c in rows(CrmStageChange, CrmStageChange.deal_crm_id, CrmStageChange.position)
        ],
        owner_changes=[
            rec.CrmOwnerChange(**plain(c, ("deal_crm_id", "owner_crm_id", "changed_at")))
            for c in rows(CrmOwnerChange, CrmOwnerChange.deal_crm_id, CrmOwnerChange.position)
        ],
        activities=[
            rec.CrmActivity(
                **plain(a, activity_fields), deal_crm_ids=tuple(links.get(a.crm_id, ()))
            )
            for a in rows(CrmActivity, CrmActivity.crm_id)
        ],
    )


def stored_counts(session: Session, workspace_id: str, source: str) -> dict[str, int]:
    """How many records of each kind are stored (for `coach doctor` and tests)."""
    out: dict[str, int] = {}
    for name, model in (
        ("owners", CrmOwner),
        ("deals", CrmDeal),
        ("stage_changes", CrmStageChange),
        ("owner_changes", CrmOwnerChange),
        ("activities", CrmActivity),
        ("activity_deals", CrmActivityDeal),
    ):
        out[name] = (
            session.scalar(
                select(func.count()).where(
                    model.workspace_id == workspace_id,  # type: ignore[attr-defined]
                    model.source == source,  # type: ignore[attr-defined]
                )
            )
            or 0
        )
    return out


# -- deriving ---------------------------------------------------------------------------------


def load_frames(
    session: Session, workspace_id: str, source: str, touches_of: set[str] | None = None
) -> CrmFrames:
    """Every stored record of `source` as the frames `analytics.crm_metrics` derives from.

    `touches_of` (owner ids) keeps only the activities on deals those owners hold now: all a
    pipeline review needs, and a fraction of the largest table. They are read by lists of ids,
    a few hundred at a time: as nested IN (SELECT …) a planner without statistics on the
    tables (PostgreSQL right after a first sync, before it analyzes them) joins every activity
    with every link, minutes at 200,000 activities."""
    # Table → (column, the ids it is one of): the rows read, where not all are.
    mine: dict[str, tuple[str, list[str]]] = {}
    if touches_of is not None:
        link = CrmActivityDeal.__table__.c  # type: ignore[attr-defined]
        deals = session.scalars(
            select(CrmDeal.crm_id).where(
                CrmDeal.workspace_id == workspace_id,
                CrmDeal.source == source,
                CrmDeal.owner_crm_id.in_(sorted(touches_of)),
            )
        ).all()
        activities: set[str] = set()
        for start in range(0, len(deals), _CHUNK):
            activities.update(
                session.scalars(
                    select(link.activity_crm_id).where(
                        link.workspace_id == workspace_id,
                        link.source == source,
                        link.deal_crm_id.in_(deals[start : start + _CHUNK]),
                    )
                )
            )
        mine = {
            "crm_activity_deals": ("deal_crm_id", sorted(deals)),
            "crm_activities": ("crm_id", sorted(activities)),
        }

    # SQLite keeps timestamps as ISO text: read as text and parsed a column at a time, not
    # a value at a time by the column type.
    text = session.get_bind().dialect.name == "sqlite"

    def frame(model: type, columns: list[str], *order: Any) -> pd.DataFrame:
        table: Table = model.__table__  # type: ignore[attr-defined]
        query = (
            select(
                *(
                    type_coerce(table.c[c], String).label(c)
                    if text and c.endswith("_at")
                    else table.c[c]
                    for c in columns
                )
            )
            .where(table.c.workspace_id == workspace_id, table.c.source == source)
            .order_by(*(table.c[c] for c in order))
        )
        queries = [query]
        if table.name in mine:
            column, ids = mine[table.name]
            queries = [
                query.where(table.c[column].in_(ids[start : start + _CHUNK]))
                for start in range(0, len(ids), _CHUNK)
            ]
        # Column by column, a slice of rows at a time: a frame built from result rows probes
        # each row's attributes (seconds at 200,000 activities), and holding every row at once
        # doubles the memory the columns take.
        values: list[list[Any]] = [[] for _ in columns]
        for each in queries:
            for rows in session.execute(each).partitions(_ROWS):
                for kept, column in zip(values, zip(*rows, strict=True), strict=True):
                    kept.extend(column)
        out = pd.DataFrame(
            {c: pd.Series(v, dtype=object) for c, v in zip(columns, values, strict=True)}
        )
        if len(queries) > 1:
            out = out.sort_values(list(order), kind="stable", ignore_index=True)
        for column in columns:
            if column.endswith("_at"):
                out[column] = pd.to_datetime(out[column], utc=True, format="ISO8601")
        return out

    return CrmFrames(
        deals=frame(
            CrmDeal,
            [
                "crm_id",
                "name",
                "owner_crm_id",
                "pipeline",
                "stage",
                "amount",
                "created_at",
                "closed_at",
                "close_date",
                "url",
            ],
            "crm_id",
        ),
        stage_changes=frame(
            CrmStageChange,
            ["deal_crm_id", "stage", "entered_at", "position"],
            "deal_crm_id",
            "position",
        ),
        owner_changes=frame(
            CrmOwnerChange,
            ["deal_crm_id", "owner_crm_id", "changed_at", "position"],
            "deal_crm_id",
            "position",
        ),
        activities=frame(
            CrmActivity, ["crm_id", "kind", "owner_crm_id", "occurred_at", "outcome"], "crm_id"
        ),
        links=frame(CrmActivityDeal, ["activity_crm_id", "deal_crm_id"], "activity_crm_id"),
        owners=frame(CrmOwner, ["crm_id", "email", "name", "active"], "crm_id"),
    )


class CrmApplyResult(BaseModel):
    """What deriving the counts from a CRM changed."""

    source: str
    months: list[str]  # the months whose stored values changed (for judging)
    covered: list[str]  # the months the CRM is the source of
    values: int  # values now stored from the CRM
    problems: list[str]

    def summary(self) -> str:
        """One line for people: `hubspot: 1,204 values over 14 months, 3 months changed`."""
        span = f"{len(self.covered)} month{'s' if len(self.covered) != 1 else ''}"
        changed = f"{len(self.months)} month{'s' if len(self.months) != 1 else ''} changed"
        text = f"{self.source}: {self.values:,} values over {span}, {changed}"
        if self.problems:
            text += f"; {len(self.problems):,} records don't map (see coach doctor)"
        return text


def apply_crm(
    db: Engine | Session,
    workspace_id: str,
    source: str,
    mapping: CrmMapping,
    today: date,
    tz: ZoneInfo | str = "UTC",
) -> CrmApplyResult:
    """Derive the monthly counts and hygiene figures from `source`'s stored records and write
    them like an import: all or nothing, the data version bumped when anything changed, the
    current month marked month to date (`through` = `today`).

    The CRM wins: in the months it covers (its first record's month to `today`'s), its columns
    replace whatever a CSV gave for them; the columns it doesn't derive (quota, contacts,
    accounts) keep the CSV's. Records that don't map become problem lines of the source's
    running sync. Judging the plans the changed months reach is the caller's (`result.months`).
    """
    if isinstance(db, Session):
        return _apply(db, workspace_id, source, mapping, today, _zone(tz))
    with session_scope(db) as session:
        return _apply(session, workspace_id, source, mapping, today, _zone(tz))


def _zone(tz: ZoneInfo | str) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)


def _apply(
    session: Session,
    workspace_id: str,
    source: str,
    mapping: CrmMapping,
    today: date,
    tz: ZoneInfo,
) -> CrmApplyResult:
    workspace = ensure_workspace(session, workspace_id)
    people = {
        email.lower(): pid
        for email, pid in session.execute(
            select(Person.email, Person.id).where(Person.workspace_id == workspace_id)
        )
    }
    ids = {pid: email for email, pid in people.items()}
    quotas = pd.DataFrame(
        [
            (ids[pid], month, counts["quota"])
            for (pid, month), counts in read_counts(session, workspace_id).items()
            if "quota" in counts and pid in ids
        ],
        columns=["email", "month", "value"],
    )
    frames = load_frames(session, workspace_id, source)
    derived = derive(frames, mapping.source(source), mapping.hygiene, today, tz, quotas)
    problems = list(derived.problems)
    unknown = sorted(set(derived.values["email"]) - set(people))
    problems += [
        f"{email} owns {source} records but is not in the org chart: left out (import it first)"
        for email in unknown
    ]
    wanted: dict[tuple[int, str, str], float] = {
        (people[e], m, n): float(value)
        for e, m, n, value in derived.values.itertuples(index=False)
        if e in people
    }
    covered = derived.months
    columns = list(DERIVED_COLUMNS)
    stored: dict[tuple[int, str, str], float] = {
        (pid, month, name): value
        for (pid, month), counts in read_counts(
            session, workspace_id, MetricMonth.month.in_(covered)
        ).items()
        for name, value in counts.items()
        if name in columns
    }
    changed = {key[:2] for key in stored.keys() ^ wanted.keys()}
    changed |= {key[:2] for key in wanted.keys() & stored.keys() if wanted[key] != stored[key]}
    current = f"{today:%Y-%m}"
    partial = _partial_marks(session, workspace_id, covered)
    remark = {
        (pid, month): (today if month == current else None)
        for pid, month, _ in wanted
        if partial.get((pid, month)) != (today if month == current else None)
    }
    if changed:
        by_month: dict[tuple[int, str], dict[str, float]] = {key: {} for key in changed}
        for (pid, month, name), value in wanted.items():
            if (pid, month) in changed:
                by_month[(pid, month)][name] = value
        replace_counts(session, workspace_id, by_month, columns)
    for (pid, month), through in remark.items():
        session.execute(
            delete(PartialMonth).where(
                PartialMonth.workspace_id == workspace_id,
                PartialMonth.person_id == pid,
                PartialMonth.month == month,
            )
        )
        if through is not None:
            session.add(
                PartialMonth(workspace_id=workspace_id, person_id=pid, month=month, through=through)
            )
    _mark_months(session, workspace_id, source, covered, current, today)
    if changed or remark:
        bump_data_version(workspace)
    run = session.scalars(
        select(CrmSyncRun.id)
        .where(
            CrmSyncRun.workspace_id == workspace_id,
            CrmSyncRun.source == source,
            CrmSyncRun.status == RUNNING,
        )
        .order_by(CrmSyncRun.id.desc())
        .limit(1)
    ).first()
    if problems:
        add_problems(session, workspace_id, source, run, problems)
    session.flush()
    return CrmApplyResult(
        source=source,
        months=sorted({month for _, month in changed} | {month for _, month in remark}),
        covered=covered,
        values=len(wanted),
        problems=problems,
    )


def _partial_marks(
    session: Session, workspace_id: str, months: list[str]
) -> dict[tuple[int, str], date]:
    marks: dict[tuple[int, str], date] = {}
    for start in range(0, len(months), 50):
        for pid, month, through in session.execute(
            select(PartialMonth.person_id, PartialMonth.month, PartialMonth.through).where(
                PartialMonth.workspace_id == workspace_id,
                PartialMonth.month.in_(months[start : start + 50]),
            )
        ):
            marks[(pid, month)] = through
    return marks


def _mark_months(
    session: Session, workspace_id: str, source: str, months: list[str], current: str, today: date
) -> None:
    """Record which source each covered month's CRM columns come from."""
    stored = {
        row.month: row
        for row in session.scalars(select(CrmMonth).where(CrmMonth.workspace_id == workspace_id))
    }
    now = utcnow()
    for month in months:
        through = today if month == current else None
        row = stored.get(month)
        if row is None:
            session.add(
                CrmMonth(
                    workspace_id=workspace_id,
                    month=month,
                    source=source,
                    through=through,
                    synced_at=now,
                )
            )
        else:
            row.source, row.through, row.synced_at = source, through, now


def crm_months(session: Session, workspace_id: str) -> dict[str, str]:
    """Month → the CRM its derived columns come from (a CSV can't change those)."""
    query = select(CrmMonth.month, CrmMonth.source).where(CrmMonth.workspace_id == workspace_id)
    return dict(session.execute(query).all())


def current_crm(session: Session, workspace_id: str) -> tuple[str, str, str] | None:
    """The CRM the workspace takes its counts from now — the source of its latest CRM month —
    with the first and last month it gives; None before any sync."""
    months = crm_months(session, workspace_id)
    if not months:
        return None
    source = months[max(months)]
    theirs = [month for month, of in months.items() if of == source]
    return source, min(theirs), max(theirs)
