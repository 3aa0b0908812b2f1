"""The import worker job: claims queued Synthea import jobs and imports them in batches.

Runs every few seconds in every worker; claims are ``FOR UPDATE SKIP LOCKED`` with a lease, so
several workers share the queue and a crashed worker's job is resumed, idempotently, once its
lease expires (``app.services.import_queue``). Not a leader job: concurrent runs cannot
double-import a file (each file's progress write is fenced by the claim's lease token).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from app.context import AppContext
from app.services import import_queue

INTERVAL_SECONDS: Final = 5
# A run stops claiming new batches after this long, so a worker is never tied up for hours; the
# job stays claimable and the next run (or another worker) picks it up.
RUN_BUDGET_SECONDS: Final = 50.0


def import_job(ctx: AppContext) -> dict[str, Any]:
    return import_queue.run_pending_jobs(Path(ctx.settings.smartcoders_home), budget_seconds=RUN_BUDGET_SECONDS)
