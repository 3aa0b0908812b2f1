"""The code reference (`code_reference`): global, versioned code-set data, not org-owned.

The app role may only read it (`count`, `versions` take an ordinary scope). Writing is a
maintenance task done as the schema owner, like a migration: `owner_transaction` opens one
transaction on the owner URL, and inside it `lock_version`, `owner_count`, `delete_version` and
`copy_rows` make a version load idempotent and safe when two processes start at once. Rows go in
with COPY (about 180,000 rows in a couple of seconds); `executemany` would take ten times longer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import psycopg
from sqlalchemy import text

from app.errors import MigrationError
from datalayer.scope import Scope

_COLUMNS: Final = "code_set_version, code, code_system, description, is_billable, parent_code, chapter, block, notes"


class CodeReferenceRow(NamedTuple):
    """One row; `notes` is JSON text (an object), `code` and `parent_code` undotted keys."""

    code_set_version: str
    code: str
    code_system: str
    description: str
    is_billable: bool
    parent_code: str | None
    chapter: str | None
    block: str | None
    notes: str


def count(scope: Scope, *, version: str) -> int:
    """Rows stored for one code-set version (as the app role)."""
    return int(
        scope.conn.execute(
            text("SELECT count(*) FROM code_reference AS r WHERE r.code_set_version = :v"), {"v": version}
        ).scalar_one()
    )


def versions(scope: Scope) -> dict[str, int]:
    """Row count per stored code-set version (as the app role)."""
    result = scope.conn.execute(
        text("SELECT r.code_set_version, count(*) FROM code_reference AS r GROUP BY r.code_set_version")
    )
    return {str(v): int(n) for v, n in result}


@dataclass(frozen=True)
class OwnerTransaction:
    """An open transaction as the schema owner, for global reference data only."""

    conn: psycopg.Connection[Any]


@contextmanager
def owner_transaction(owner_url: str, *, statement_timeout: str = "300s") -> Iterator[OwnerTransaction]:
    """One transaction on the owner URL; committed when the block ends without an exception.

    A database error becomes `MigrationError`, which the CLI reports without a traceback.
    """
    url = owner_url.replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
            conn.execute("SET LOCAL lock_timeout = '5s'")
            conn.execute(f"SET LOCAL statement_timeout = '{statement_timeout}'")
            yield OwnerTransaction(conn)
    except psycopg.Error as exc:
        raise MigrationError(f"loading code_reference failed: {exc}") from exc


def lock_version(tx: OwnerTransaction, version: str) -> None:
    """Serialise loads of one version until the transaction ends (two processes starting at once)."""
    tx.conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"code_reference:{version}",))


def owner_count(tx: OwnerTransaction, *, version: str) -> int:
    row = tx.conn.execute("SELECT count(*) FROM code_reference WHERE code_set_version = %s", (version,)).fetchone()
    return int(row[0]) if row else 0


def delete_version(tx: OwnerTransaction, *, version: str) -> int:
    return tx.conn.execute("DELETE FROM code_reference WHERE code_set_version = %s", (version,)).rowcount


def copy_rows(tx: OwnerTransaction, rows: Iterable[CodeReferenceRow]) -> int:
    """Bulk-insert with COPY; returns the number of rows written."""
    written = 0
    with tx.conn.cursor() as cur, cur.copy(f"COPY code_reference ({_COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            written += 1
    return written
