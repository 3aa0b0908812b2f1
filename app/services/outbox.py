"""Domain events leave only through `outbox_events`, written in the caller's transaction (INV-5).

`emit` never publishes: the relay job (``app.jobs.outbox_relay``) claims committed rows and
publishes them at least once; consumers call `dedupe` in the transaction of their effect. Event types are `resource.verb` in the past tense
(`chart.imported`, `import.finished`, `chart.submitted`, …).

`emit` also sends ``pg_notify('sc_outbox', <org id>)`` in the same transaction: PostgreSQL delivers
it when the transaction commits (never if it rolls back), and the worker's listener runs the relay
for that organisation at once instead of at its next scheduled run (ADR 0008). Several events of
one organisation in one transaction make one notification.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from datalayer import notify
from datalayer.queries import outbox, processed_events
from datalayer.scope import Scope

_EVENT_TYPE = re.compile(r"[a-z][a-z_]*\.[a-z][a-z_]*")
_CONSUMER = re.compile(r"[a-z][a-z0-9_-]{0,62}")


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
    # The wake-up carries only the organisation id, never the event (the relay reads it under RLS).
    notify.notify(scope, notify.OUTBOX_CHANNEL, str(scope.require_org()))
    return event_id


def dedupe(scope: Scope, event_id: uuid.UUID | str, source: str) -> bool:
    """True the first time consumer ``source`` sees ``event_id`` in this organisation; False after.

    The relay publishes at least once, so a consumer can receive an event twice (a relay killed
    between publishing and recording it re-publishes the batch). Call this in the same
    transaction as the consumer's effect (INV-4): if the effect rolls back, so does the dedupe
    row, and the redelivery is processed.

    The ``processed_events`` key is ``outbox:<source>:<org>:<event id>``: each consumer gets its
    own exactly-once (two consumers of one event do not suppress each other), and the
    organisation in the key keeps the table-wide unique constraint from linking tenants.
    """
    if not _CONSUMER.fullmatch(source):
        raise ValueError(f"consumer name {source!r} must look like 'dashboard'")
    key = f"outbox:{source}:{scope.require_org()}:{event_id}"
    return processed_events.claim(scope, event_id=key, source=f"outbox:{source}")
