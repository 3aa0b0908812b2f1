"""The transactional outbox: events written with the change that caused them (INV-5)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import text

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
