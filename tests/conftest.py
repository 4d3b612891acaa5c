"""Shared fixtures: databases on SQLite and PostgreSQL, migrated to head."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from storage.db import make_engine, upgrade

PG_ADMIN_URL = os.environ.get(
    "COACH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _pg_unreachable_reason() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {type(exc).__name__}"
    return None


_PG_SKIP = _pg_unreachable_reason()


def _create_pg_database(template: str | None = None) -> str:
    """A new, uniquely named PostgreSQL database (a copy of `template`, else empty): its URL."""
    name = f"coach_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop_pg_database(url: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


# A test's database is dropped on a thread of its own: DROP DATABASE can wait for the server's
# checkpoint (up to half a second seen here), and the next test need not wait with it.
_DROPPER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drop-database")
_DROPS: list[Future[None]] = []


def _drop_later(url: str) -> None:
    _DROPS.append(_DROPPER.submit(_drop_pg_database, url))


@pytest.fixture(scope="session", autouse=True)
def _dropped_at_the_end() -> Iterator[None]:
    """Every database handed to a test is gone when the session ends (a failed drop fails it)."""
    yield
    _DROPPER.shutdown(wait=True)
    for done in _DROPS:
        done.result()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, uniquely named, empty PostgreSQL database, dropped afterwards."""
    if _PG_SKIP:
        pytest.skip(_PG_SKIP)
    url = _create_pg_database()
    try:
        yield url
    finally:
        _drop_later(url)


# Migrating a database takes longer than most tests: each test process migrates one database
# per backend with the real migrations, once, and tests that want a migrated database get a copy
# of it (PostgreSQL's CREATE DATABASE … TEMPLATE; SQLite's backup API). Tests of the migrations
# themselves, and of commands that migrate, still start from an empty database (`db_url`).
@pytest.fixture(scope="session")
def _pg_template() -> Iterator[str]:
    if _PG_SKIP:
        pytest.skip(_PG_SKIP)
    url = _create_pg_database()
    try:
        upgrade(url)
        yield url.rsplit("/", 1)[1]
    finally:
        _drop_pg_database(url)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "coach.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def migrated_pg_url(_pg_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database migrated to head, dropped afterwards."""
    url = _create_pg_database(_pg_template)
    try:
        yield url
    finally:
        _drop_later(url)


@pytest.fixture
def migrated_sqlite_url(sqlite_url: str, _sqlite_template: Path) -> str:
    """`sqlite_url`, holding a database migrated to head."""
    source = sqlite3.connect(_sqlite_template)
    target = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    with target:
        source.backup(target)
    source.close()
    target.close()
    return sqlite_url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """An empty SQLite database file in the test's temporary folder."""
    return f"sqlite:///{tmp_path / 'coach.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """An empty database URL, once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue("pg_url" if request.param == "postgresql" else "sqlite_url")


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_url(request: pytest.FixtureRequest) -> str:
    """A database migrated to head, once on SQLite and once on PostgreSQL: its URL."""
    migrated = "migrated_pg_url" if request.param == "postgresql" else "migrated_sqlite_url"
    return request.getfixturevalue(migrated)


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to head (SQLite and PostgreSQL)."""
    eng = make_engine(migrated_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(migrated_sqlite_url: str) -> Iterator[Engine]:
    """An engine on a SQLite database migrated to head, for tests that need only one backend."""
    eng = make_engine(migrated_sqlite_url)
    yield eng
    eng.dispose()
