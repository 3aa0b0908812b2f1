"""The forward-only migration runner against a real, brand-new database.

A new database (owned by the schema-owner role) in the running embedded cluster stands in for a
fresh installation: ``migrate`` applies 0001 and records it; a second run applies nothing; a
migration file edited after it was applied, a gap in the numbering, or a badly named file is a
``MigrationError`` and nothing is applied. The database is dropped afterwards.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from app import bootstrap
from app.errors import MigrationError
from datalayer.migrate import MIGRATIONS_DIR, applied_versions, discover, migrate, pending

OWNER_ROLE = "smartcoders_owner"


def _with_db(url: str, user: str, database: str) -> str:
    _, _, query = url.partition("?")
    return f"postgresql://{user}@/{database}?{query}"


@pytest.fixture
def fresh_db(runtime: bootstrap.Runtime) -> Iterator[str]:
    assert runtime.services.embedded_pg is not None
    root = runtime.services.embedded_pg.superuser_url
    name = f"mig_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(root, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(OWNER_ROLE)))
    try:
        yield _with_db(root, OWNER_ROLE, name)
    finally:
        with psycopg.connect(root, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def migration_copy(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    target.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        shutil.copy(path, target / path.name)
    return target


@pytest.mark.slow
def test_migrate_fresh_database_then_idempotent(fresh_db: str) -> None:
    expected = [m.version for m in discover()]
    assert expected[0] == 1
    assert pending(fresh_db) == expected
    applied = migrate(fresh_db)
    assert [m.version for m in applied] == expected
    recorded = applied_versions(fresh_db)
    assert set(recorded) == set(expected)
    assert recorded[1] == discover()[0].checksum
    assert pending(fresh_db) == []
    with psycopg.connect(fresh_db) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        owners = {r[0] for r in conn.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")}
    assert {"organizations", "users", "audit_log", "schema_migrations"} <= tables
    assert owners == {OWNER_ROLE}
    assert migrate(fresh_db) == []


@pytest.mark.slow
def test_migrate_edited_file_is_refused(fresh_db: str, migration_copy: Path) -> None:
    migrate(fresh_db, directory=migration_copy)
    first = sorted(migration_copy.glob("0001_*.sql"))[0]
    first.write_text(first.read_text(encoding="utf-8") + "\n-- an innocent-looking comment\n", encoding="utf-8")
    with pytest.raises(MigrationError, match="edited"):
        migrate(fresh_db, directory=migration_copy)


@pytest.mark.slow
def test_migrate_missing_applied_file_is_refused(fresh_db: str, migration_copy: Path) -> None:
    last = len(list(migration_copy.glob("*.sql")))
    extra = migration_copy / f"{last + 1:04d}_probe_table.sql"
    extra.write_text("CREATE TABLE probe_table (id integer);\n", encoding="utf-8")
    applied = migrate(fresh_db, directory=migration_copy)
    assert applied[-1].version == last + 1
    extra.unlink()
    with pytest.raises(MigrationError, match="have no file"):
        migrate(fresh_db, directory=migration_copy)


def test_migrate_gap_in_numbering_is_refused(migration_copy: Path) -> None:
    last = len(list(migration_copy.glob("*.sql")))
    (migration_copy / f"{last + 2:04d}_after_a_gap.sql").write_text("SELECT 1;\n", encoding="utf-8")
    with pytest.raises(MigrationError, match="without gaps"):
        discover(migration_copy)


@pytest.mark.slow
def test_migrate_gap_applies_nothing(fresh_db: str, migration_copy: Path) -> None:
    last = len(list(migration_copy.glob("*.sql")))
    (migration_copy / f"{last + 2:04d}_after_a_gap.sql").write_text("SELECT 1;\n", encoding="utf-8")
    with pytest.raises(MigrationError, match="without gaps"):
        migrate(fresh_db, directory=migration_copy)
    assert applied_versions(fresh_db) == {}


def test_migrate_bad_file_name_is_refused(migration_copy: Path) -> None:
    (migration_copy / "2_NotNumbered.sql").write_text("SELECT 1;\n", encoding="utf-8")
    with pytest.raises(MigrationError, match="NNNN_lowercase_name"):
        discover(migration_copy)


@pytest.mark.slow
def test_migrate_failing_migration_rolls_back(fresh_db: str, migration_copy: Path) -> None:
    migrate(fresh_db, directory=migration_copy)
    last = len(list(migration_copy.glob("*.sql")))
    (migration_copy / f"{last + 1:04d}_broken.sql").write_text(
        "CREATE TABLE half_done (id integer);\nSELECT no_such_function();\n", encoding="utf-8"
    )
    with pytest.raises(MigrationError, match="failed"):
        migrate(fresh_db, directory=migration_copy)
    assert last + 1 not in applied_versions(fresh_db)
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT to_regclass('public.half_done')").fetchone() == (None,)
