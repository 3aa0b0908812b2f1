"""Inbound event idempotency (INV-4): ``processed_events`` has ``UNIQUE(event_id)``."""

from __future__ import annotations

from sqlalchemy import text

from datalayer.scope import Scope


def claim(scope: Scope, *, event_id: str, source: str) -> bool:
    """Record the event as processed in the caller's transaction; False if it already was.

    ``INSERT … ON CONFLICT DO NOTHING``: a concurrent delivery of the same id waits on this
    transaction's uncommitted row and then sees the conflict, so exactly one transaction gets
    True. The caller applies the event's effect in the *same* transaction, so a crash or a failed
    effect rolls the claim back with it and a retry is processed (never "claimed but not done").

    The unique constraint spans organisations while row-level security hides other tenants'
    rows, so callers namespace ``event_id`` with the organisation (one tenant's ids can then
    never suppress, or reveal, another's).
    """
    result = scope.conn.execute(
        text(
            "INSERT INTO processed_events (event_id, org_id, source) VALUES (:event_id, :org, :source) "
            "ON CONFLICT (event_id) DO NOTHING"
        ),
        {"event_id": event_id, "org": scope.require_org(), "source": source},
    )
    return result.rowcount == 1
