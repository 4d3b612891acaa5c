"""Engines, sessions and migrations."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Engine, create_engine, event, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

import migrations

# Alembic (and Mako, which it loads) is imported only to migrate or to read the history:
# ~11 MB of every replica's memory, while a replica at the latest schema only compares two names.
if TYPE_CHECKING:
    from alembic.config import Config

# A row with a unique `request_key` column (check-ins of plans and PIPs).
Keyed = TypeVar("Keyed", bound=DeclarativeBase)

MIGRATIONS_DIR = Path(migrations.__file__).parent


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets foreign keys and a busy timeout like PostgreSQL's waits."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    # Slack drops a request it hasn't had an answer to in 3 s: a connection that can't be made
    # or had from the pool within 2 s is an outage to answer politely, not a wait to sit out.
    return create_engine(
        url, pool_pre_ping=True, pool_timeout=2, connect_args={"connect_timeout": 2}
    )


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the packaged migrations and the given database."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision`."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Migrate the database at `url` down to `revision`."""
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_reachable(engine: Engine) -> bool:
    """True when a trivial query succeeds."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    factory = sessionmaker(engine, expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def head_revision() -> str | None:
    """The latest revision the packaged migrations know."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def flush_or_first(session: Session, row: Keyed, request_key: str | None) -> Keyed | None:
    """Flush the pending `row`, unique on `request_key`; None when it was written. When another
    process committed the same key first (Slack sent one submission to two replicas), roll
    back — the session's pending work with it — and return the row that process wrote."""
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        model = type(row)
        first = session.scalar(select(model).where(model.request_key == request_key))  # type: ignore[attr-defined]
        if request_key is None or first is None:
            raise
        return first
    return None


_REVISION = re.compile(r"^(down_revision|revision)\b[^=\n]*=\s*(.+)$", re.MULTILINE)


def packaged_head() -> str | None:
    """`head_revision()` read from the migration files' `revision` and `down_revision` lines,
    without Alembic; None when they don't make one line of history (ask Alembic then)."""
    revisions: set[str] = set()
    replaced: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = dict(_REVISION.findall(path.read_text()))
        if "revision" not in found:
            continue
        try:
            revisions.add(ast.literal_eval(found["revision"]))
            down = ast.literal_eval(found.get("down_revision", "None"))
        except (ValueError, SyntaxError):
            return None
        replaced.update([down] if isinstance(down, str) else down or ())
    heads = revisions - replaced
    return heads.pop() if len(heads) == 1 else None


def schema_is_current(engine: Engine) -> bool:
    """Is the database at the packaged migrations' latest revision? Alembic is imported only
    when the files don't tell on their own."""
    head = packaged_head() or head_revision()
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return False
        stored = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return stored == [head]
