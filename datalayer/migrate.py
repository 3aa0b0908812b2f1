"""Forward-only migration runner.

Numbered SQL files (``migrations/NNNN_name.sql``) are applied in order, each once, each in its
own transaction under ``lock_timeout``/``statement_timeout``, and recorded in
``schema_migrations`` with their SHA-256. A file edited after it was applied is an error, as is a
recorded migration whose file has disappeared. A session advisory lock makes concurrent runners
(two containers starting at once) take turns.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from app.errors import MigrationError

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 7_246_118_001  # arbitrary, stable: "smartcoders migrations"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_lowercase_name.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migration numbers must run 1..N without gaps, found {versions}")
    return found


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def applied_versions(url: str) -> dict[int, str]:
    with psycopg.connect(_psycopg_url(url)) as conn:
        exists = conn.execute("SELECT to_regclass('public.schema_migrations')").fetchone()
        if not exists or exists[0] is None:
            return {}
        return dict(conn.execute("SELECT version, checksum FROM schema_migrations"))


def migrate(
    owner_url: str,
    directory: Path = MIGRATIONS_DIR,
    *,
    lock_timeout: str = "5s",
    statement_timeout: str = "120s",
) -> list[Migration]:
    """Apply pending migrations as the schema owner; return the ones applied now."""
    migrations = discover(directory)
    applied_now: list[Migration] = []
    with psycopg.connect(_psycopg_url(owner_url), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version    integer     NOT NULL,
                       name       text        NOT NULL,
                       checksum   text        NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now(),
                       CONSTRAINT schema_migrations_pk PRIMARY KEY (version))"""
            )
            recorded: dict[int, str] = dict(conn.execute("SELECT version, checksum FROM schema_migrations"))
            known = {m.version for m in migrations}
            missing = sorted(set(recorded) - known)
            if missing:
                raise MigrationError(f"applied migrations {missing} have no file in {directory}")
            for migration in migrations:
                if migration.version in recorded:
                    if recorded[migration.version] != migration.checksum:
                        raise MigrationError(
                            f"{migration.path.name} was edited after it was applied; "
                            "add a new migration instead of changing an applied one"
                        )
                    continue
                try:
                    with conn.transaction():
                        conn.execute(f"SET LOCAL lock_timeout = '{lock_timeout}'")
                        conn.execute(f"SET LOCAL statement_timeout = '{statement_timeout}'")
                        conn.execute(migration.sql.encode())
                        conn.execute(
                            "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                            (migration.version, migration.name, migration.checksum),
                        )
                except psycopg.Error as exc:
                    raise MigrationError(f"{migration.path.name} failed: {exc}") from exc
                applied_now.append(migration)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now


def pending(url: str, directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Versions with a file but no record (for /healthz)."""
    recorded = applied_versions(url)
    return [m.version for m in discover(directory) if m.version not in recorded]
