"""Domain events leave only through `outbox_events`, written in the caller's transaction (INV-5).

`emit` never publishes: the relay job claims committed rows and publishes them at least once;
consumers dedupe on the event id. Event types are `resource.verb` in the past tense
(`chart.imported`, `import.finished`, `chart.submitted`, …).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from datalayer.queries import outbox
from datalayer.scope import Scope

_EVENT_TYPE = re.compile(r"[a-z][a-z_]*\.[a-z][a-z_]*")


def emit(
    scope: Scope, *, event_type: str, aggregate_type: str, aggregate_id: object, payload: dict[str, Any] | None = None
) -> uuid.UUID:
    """Record one event in the current transaction; returns its id (the consumers' dedupe key).

    Payloads carry ids and counts, never PHI: a consumer that needs details reads them under its
    own tenant scope.
    """
    if not _EVENT_TYPE.fullmatch(event_type):
        raise ValueError(f"event type {event_type!r} must look like 'chart.imported'")
    event_id = uuid.uuid4()
    outbox.insert(
        scope,
        event_id=event_id,
        event_type=event_type,
        aggregate_type=aggregate_type,
        aggregate_id=str(aggregate_id),
        payload=payload or {},
    )
    return event_id
