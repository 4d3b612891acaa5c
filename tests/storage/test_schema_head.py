"""A replica at the latest schema starts without Alembic: the head is read from the migration
files and compared with the database's `alembic_version`."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import Engine

from storage.db import head_revision, make_engine, packaged_head, schema_is_current, upgrade


def test_packaged_head_is_alembics() -> None:
    assert packaged_head() is not None
    assert packaged_head() == head_revision()


def test_schema_is_current_only_at_head(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    assert not schema_is_current(engine)  # empty: no alembic_version table
    upgrade(sqlite_url, "0010")
    assert not schema_is_current(engine)
    upgrade(sqlite_url)
    assert schema_is_current(engine)
    engine.dispose()


def test_checking_a_current_schema_imports_no_alembic(engine: Engine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    probe = (
        "import sys\n"
        "from storage.db import make_engine, schema_is_current\n"
        f"assert schema_is_current(make_engine({url!r}))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
