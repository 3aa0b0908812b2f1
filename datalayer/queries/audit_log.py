"""The append-only audit log. Only INSERT and SELECT exist here, by design (INV-12)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text

from datalayer.queries._util import execute, maybe
from datalayer.scope import Scope

GENESIS_HASH = "0" * 64


def lock_chain(scope: Scope, org_id: UUID | None) -> None:
    """Serialise appends to one organisation's chain until the transaction ends."""
    key = f"audit:{org_id}" if org_id else "audit:platform"
    scope.conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": key})


def head(scope: Scope, org_id: UUID | None) -> tuple[int, str, datetime]:
    """(last seq, last row_hash, database clock now) for the chain; (0, genesis) when empty."""
    row = maybe(
        scope,
        """SELECT l.seq, l.row_hash, clock_timestamp() AS now FROM audit_log AS l
           WHERE l.org_id IS NOT DISTINCT FROM :org ORDER BY l.seq DESC LIMIT 1""",
        {"org": org_id},
    )
    if row is None:
        now = scope.conn.execute(text("SELECT clock_timestamp()")).scalar_one()
        return 0, GENESIS_HASH, now
    return int(row["seq"]), str(row["row_hash"]), row["now"]


def insert(scope: Scope, entry: dict[str, Any]) -> None:
    execute(
        scope,
        """INSERT INTO audit_log (org_id, seq, created_at, actor_id, actor_role, action, object_type, object_id,
                                  outcome, source_ip, request_id, details, prev_hash, row_hash)
           VALUES (:org_id, :seq, :created_at, :actor_id, :actor_role, :action, :object_type, :object_id,
                   :outcome, :source_ip, :request_id, CAST(:details AS jsonb), :prev_hash, :row_hash)""",
        entry,
    )


_COLUMNS = (
    "seq, org_id, created_at, actor_id, actor_role, action, object_type, object_id, outcome, "
    "source_ip, request_id, details, prev_hash, row_hash"
)


def iter_chain(scope: Scope, org_id: UUID | None, *, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Every row of one chain in seq order, streamed in batches."""
    after = 0
    while True:
        chunk = (
            scope.conn.execute(
                text(f"""SELECT {_COLUMNS} FROM audit_log AS l
                     WHERE l.org_id IS NOT DISTINCT FROM :org AND l.seq > :after
                     ORDER BY l.seq LIMIT :batch"""),
                {"org": org_id, "after": after, "batch": batch},
            )
            .mappings()
            .all()
        )
        if not chunk:
            return
        for row in chunk:
            yield dict(row)
        after = int(chunk[-1]["seq"])


def recent(scope: Scope, *, limit: int = 50, actor_id: UUID | None = None) -> list[dict[str, Any]]:
    return [
        dict(r)
        for r in scope.conn.execute(
            text(f"""SELECT {_COLUMNS} FROM audit_log AS l
                 WHERE l.org_id = :org AND (CAST(:actor AS uuid) IS NULL OR l.actor_id = :actor)
                 ORDER BY l.seq DESC LIMIT :limit"""),
            {"org": scope.require_org(), "actor": actor_id, "limit": limit},
        ).mappings()
    ]
