"""The transactional outbox: events written with the change that caused them (INV-5), then claimed
and published by the relay job.

Claims are leases, not open transactions: ``claim_due`` marks a batch ``locked_until = now() +
lease`` and returns it in one short transaction, so the relay publishes with no transaction open.
A relay that dies leaves its batch leased; once the lease runs out the rows are due again and
another relay picks them up (SECURITY F4). ``FOR UPDATE SKIP LOCKED`` keeps two relays claiming at
the same moment from taking the same row (F5). Times are the database's ``now()``, so relays on
hosts with different clocks still agree about leases and back-off.

Every function runs in an organisation scope: row-level security confines it to that tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import text

from datalayer.queries._util import execute, rows
from datalayer.scope import Scope


def insert(
    scope: Scope,
    *,
    event_id: UUID,
    event_type: str,
    aggregate_type: str,
    aggregate_id: str,
    payload: dict[str, Any],
) -> None:
    scope.conn.execute(
        text(
            "INSERT INTO outbox_events (id, org_id, event_type, aggregate_type, aggregate_id, payload) "
            "VALUES (:id, :org, :type, :agg_type, :agg_id, CAST(:payload AS jsonb))"
        ),
        {
            "id": event_id,
            "org": scope.require_org(),
            "type": event_type,
            "agg_type": aggregate_type,
            "agg_id": aggregate_id,
            "payload": orjson.dumps(payload).decode(),
        },
    )


@dataclass(frozen=True)
class OutboxEvent:
    """One claimed event, as the relay publishes it."""

    id: UUID
    org_id: UUID
    event_type: str
    aggregate_type: str
    aggregate_id: str
    payload: dict[str, Any]
    created_at: datetime
    attempts: int


def claim_due(scope: Scope, *, limit: int, lease_seconds: float) -> list[OutboxEvent]:
    """Lease up to ``limit`` due events of this organisation, oldest first, and return them.

    Due: not published, not dead-lettered, ``available_at`` reached (back-off) and no live lease.
    The caller must commit (leave the scope) before publishing, so the lease is visible to other
    relays and no transaction stays open while it talks to Redis.
    """
    found = rows(
        scope,
        """WITH due AS MATERIALIZED (
               SELECT e.id FROM outbox_events AS e
               WHERE e.published_at IS NULL AND e.dead_lettered_at IS NULL
                 AND e.available_at <= now()
                 AND (e.locked_until IS NULL OR e.locked_until <= now())
               ORDER BY e.available_at, e.created_at
               LIMIT :limit
               FOR UPDATE SKIP LOCKED)
           UPDATE outbox_events AS o SET locked_until = now() + make_interval(secs => :lease)
           FROM due WHERE o.id = due.id
           RETURNING o.id, o.org_id, o.event_type, o.aggregate_type, o.aggregate_id, o.payload,
                     o.created_at, o.attempts, o.available_at""",
        {"limit": limit, "lease": lease_seconds},
    )
    found.sort(key=lambda r: (r["available_at"], r["created_at"]))
    return [
        OutboxEvent(
            id=r["id"],
            org_id=r["org_id"],
            event_type=r["event_type"],
            aggregate_type=r["aggregate_type"],
            aggregate_id=r["aggregate_id"],
            payload=r["payload"],
            created_at=r["created_at"],
            attempts=r["attempts"],
        )
        for r in found
    ]


def mark_published(scope: Scope, event_ids: list[UUID]) -> int:
    """Record that these events reached the bus; returns how many were still unpublished."""
    if not event_ids:
        return 0
    return execute(
        scope,
        """UPDATE outbox_events SET published_at = now(), locked_until = NULL
           WHERE id = ANY(:ids) AND published_at IS NULL""",
        {"ids": event_ids},
    )


def record_failure(scope: Scope, event_id: UUID, *, error: str, retry_in_seconds: float, dead_letter: bool) -> None:
    """Count one failed publish: retry after ``retry_in_seconds``, or park it for good."""
    execute(
        scope,
        """UPDATE outbox_events
           SET attempts = attempts + 1, last_error = :error, locked_until = NULL,
               available_at = now() + make_interval(secs => :delay),
               dead_lettered_at = CASE WHEN :dead THEN now() END
           WHERE id = :id AND published_at IS NULL""",
        {"id": event_id, "error": error[:1000], "delay": retry_in_seconds, "dead": dead_letter},
    )


def release(scope: Scope, event_ids: list[UUID], *, retry_in_seconds: float) -> None:
    """Give claimed events back without counting an attempt (the bus, not the event, failed)."""
    if event_ids:
        execute(
            scope,
            """UPDATE outbox_events
               SET locked_until = NULL, available_at = now() + make_interval(secs => :delay)
               WHERE id = ANY(:ids) AND published_at IS NULL""",
            {"ids": event_ids, "delay": retry_in_seconds},
        )


@dataclass(frozen=True)
class OutboxCounts:
    pending: int
    dead_lettered: int


def counts(scope: Scope) -> OutboxCounts:
    """Unpublished and dead-lettered events of this organisation (health, dashboards)."""
    row = rows(
        scope,
        """SELECT count(*) FILTER (WHERE e.dead_lettered_at IS NULL) AS pending,
                  count(*) FILTER (WHERE e.dead_lettered_at IS NOT NULL) AS dead
           FROM outbox_events AS e WHERE e.published_at IS NULL""",
    )[0]
    return OutboxCounts(pending=int(row["pending"]), dead_lettered=int(row["dead"]))
