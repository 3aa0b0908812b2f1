"""The metric-rollups job: recompute each organisation's ``metric_rollups`` rows from its data.

Every ``INTERVAL_SECONDS`` the worker recomputes the last ``WINDOW_DAYS`` UTC days of every
organisation (an organisation with no rollup rows yet gets its whole history), with the pipelines
of ``pipelines.rollups``, and stores the result with ``datalayer.queries.metrics.replace_rollups``:
an upsert that leaves unchanged rows alone and deletes rows the recomputation no longer produces.
Running it twice therefore leaves the same table as running it once.

Two workers at once (SECURITY F5): the job is a leader job, so normally only one runs it; and even
when two runs meet (a worker and ``smartcoders rollup``), each organisation is recomputed under a
transaction-level advisory lock taken *before* its data is read, so the second run waits, reads
what the first saw or newer, and writes the same or newer rows. Nothing is lost or doubled.

Each organisation is one transaction in its own tenant scope (RLS applies); one organisation
failing is logged and the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from uuid import UUID

from app.context import AppContext
from app.logs import get_logger
from datalayer.queries import metrics
from datalayer.scope import org_scope, system_scope
from pipelines.frames import SCHEMAS, Frames
from pipelines.rollups import METRICS, compute_rollups

log = get_logger(__name__)

INTERVAL_SECONDS: Final = 300
WINDOW_DAYS: Final = 14
# Rows a day's metrics depend on can start before the day (the previous submission that starts a
# handling-time estimate): read one more day than the window.
MARGIN: Final = timedelta(days=1)


@dataclass(frozen=True)
class OrgRollup:
    org_id: UUID
    since: datetime | None
    rows: int
    changed: int
    deleted: int


def window_start(now: datetime, days: int) -> datetime:
    """Midnight UTC ``days - 1`` days before ``now``'s day: the window holds ``days`` whole days."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days - 1)


def rollup_org(org_id: UUID, *, now: datetime, days: int | None = WINDOW_DAYS) -> OrgRollup:
    """Recompute one organisation's rollups: the last ``days`` days, or everything when ``days`` is
    None or the organisation has no rollup rows yet."""
    with org_scope(org_id) as scope:
        metrics.lock_rollups(scope)
        since = None if days is None or metrics.rollup_count(scope) == 0 else window_start(now, days)
        horizon = None if since is None else since - MARGIN
        frames = Frames.of(**metrics.read_frames(scope, SCHEMAS, horizon=horizon))
        rows = compute_rollups(frames, now=now, since=since).collect()
        changed, deleted = metrics.replace_rollups(scope, rows, metrics=METRICS, since=since, now=now)
    return OrgRollup(org_id=org_id, since=since, rows=rows.height, changed=changed, deleted=deleted)


@dataclass(frozen=True)
class RollupRun:
    done: list[OrgRollup]
    failed: list[UUID]


def rollup_all(
    *, now: datetime | None = None, days: int | None = WINDOW_DAYS, org_ids: list[UUID] | None = None
) -> RollupRun:
    """Recompute every organisation (or ``org_ids``), one transaction each; a failure is logged
    and the next organisation goes on."""
    now = now or datetime.now(UTC)
    run = RollupRun(done=[], failed=[])
    with system_scope("metric-rollups") as system:
        for org_id in org_ids if org_ids is not None else system.org_ids():
            try:
                run.done.append(rollup_org(org_id, now=now, days=days))
            except Exception:  # one organisation's failure must not stop the others; logged with its trace
                log.exception("rollup_failed", org_id=str(org_id))
                run.failed.append(org_id)
    return run


def rollup_job(ctx: AppContext) -> dict[str, Any]:
    run = rollup_all()
    return {
        "organisations": len(run.done),
        "failed": len(run.failed),
        "rows": sum(r.rows for r in run.done),
        "changed": sum(r.changed for r in run.done),
        "deleted": sum(r.deleted for r in run.done),
    }
