"""Inbound webhook actions: an authenticated delivery takes effect exactly once (INV-4).

The HTTP handler (``app/http/webhooks.py``) has already verified the signature, before any
database access (INV-6); only then does it call in here. Dedupe and effect share one
organisation-scoped transaction:

1. ``INSERT INTO processed_events … ON CONFLICT DO NOTHING`` — already there → "duplicate",
   nothing else happens (a concurrent delivery of the same id waits for the first to commit);
2. otherwise the effect (``app.services.imports.import_bundle``) writes the bundle's charts;
3. both commit together. A crash, or a bundle the importer refuses, rolls both back, so a retry
   of the same event is processed: there is never a dedupe row without its effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal
from uuid import UUID

from app.errors import NotFound, ValidationFailed
from app.logs import get_logger
from datalayer.queries import orgs, processed_events
from datalayer.scope import auth_scope, org_scope

log = get_logger(__name__)

SYNTHEA_SOURCE: Final = "synthea-webhook"  # processed_events.source
IMPORT_SOURCE: Final = "webhook"  # import_bundle(source=…)


@dataclass(frozen=True)
class Delivery:
    """What one delivery did: ``processed`` (with the importer's counts) or ``duplicate``."""

    status: Literal["processed", "duplicate"]
    event_id: str
    charts_created: int = 0
    charts_skipped: int = 0
    encounters: int = 0


def dedupe_key(org_id: UUID, event_id: str) -> str:
    """``processed_events.event_id`` for a delivery: namespaced by source and organisation.

    ``UNIQUE(event_id)`` spans organisations while RLS hides other tenants' rows; without the
    organisation in the key, one tenant's sender could suppress (or probe) another's event ids.
    """
    return f"{SYNTHEA_SOURCE}:{org_id}:{event_id}"


def receive_synthea_bundle(*, org_slug: str, event_id: str, body: bytes) -> Delivery:
    """Import one verified Synthea bundle into the organisation, once per ``event_id``.

    Raises ``NotFound`` for an unknown organisation and ``ValidationFailed`` for a bundle the
    importer refuses (nothing is recorded then, so the event stays unprocessed).
    """
    with auth_scope() as scope:
        org_id = orgs.id_by_slug(scope, org_slug)
    if org_id is None:
        raise NotFound("Organisation not found.")
    with org_scope(org_id) as scope:
        if not processed_events.claim(scope, event_id=dedupe_key(org_id, event_id), source=SYNTHEA_SOURCE):
            log.info("webhook_duplicate", event_id=event_id)
            return Delivery(status="duplicate", event_id=event_id)
        # Looked up at call time: the importer is its own module (and tests count its calls).
        from app.services import imports

        result = imports.import_bundle(scope, name=f"webhook-{event_id}.json", data=body, source=IMPORT_SOURCE)
        if result.error or result.skipped:
            # Roll the claim back with whatever the importer wrote: the event stays unprocessed.
            raise ValidationFailed(f"The bundle was not imported: {result.error or result.skipped}")
        log.info("webhook_processed", event_id=event_id, charts_created=result.charts_created)
        return Delivery(
            status="processed",
            event_id=event_id,
            charts_created=result.charts_created,
            charts_skipped=result.charts_skipped,
            encounters=result.encounters,
        )
