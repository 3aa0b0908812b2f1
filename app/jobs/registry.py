"""One registry of scheduled jobs; every run gets its own log context, timing and error capture,
like a request. Jobs run in the worker process (or in ``serve``), never in ``web``.

Each job opens its own scope(s): per-organisation work goes through ``system_scope``, which
iterates organisations one transaction at a time.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.context import AppContext
from app.logs import bind_context, get_logger
from app.services import audit
from datalayer.queries import heartbeats, sessions
from datalayer.scope import auth_scope, system_scope

log = get_logger(__name__)


@dataclass(frozen=True)
class Job:
    id: str
    seconds: Callable[[AppContext], int]
    func: Callable[[AppContext], dict[str, Any]]
    description: str


def checkpoint_store(ctx: AppContext) -> audit.CheckpointStore:
    return audit.CheckpointStore(Path(ctx.settings.smartcoders_home) / "audit-checkpoints.json")


def verify_all_chains(store: audit.CheckpointStore, reason: str) -> list[audit.ChainReport]:
    """Recompute every chain (each organisation's and the platform's) against the checkpoint."""
    reports: list[audit.ChainReport] = []
    with system_scope(reason) as system:
        for org_id in system.org_ids():
            with system.org(org_id) as scope:
                reports.append(audit.verify_chain(scope, org_id, store.get(org_id)))
    with auth_scope() as scope:
        reports.append(audit.verify_chain(scope, None, store.get(None)))
    return reports


def verify_audit_chains(ctx: AppContext) -> dict[str, Any]:
    """The scheduled verification: log broken chains, advance the checkpoint of intact ones."""
    store = checkpoint_store(ctx)
    reports = verify_all_chains(store, "audit-chain-verify")
    broken = [r for r in reports if not r.ok]
    for report in broken:
        log.error("audit_chain_broken", org_id=str(report.org_id), seq=report.first_broken_seq, problem=report.problem)
    store.save(reports)
    return {"chains": len(reports), "broken": len(broken), "rows": sum(r.rows for r in reports)}


def cleanup_sessions(ctx: AppContext) -> dict[str, Any]:
    """Delete session rows that expired or were revoked more than a day ago."""
    before = datetime.now(UTC) - timedelta(days=1)
    removed = 0
    with system_scope("session-cleanup") as system:
        for org_id in system.org_ids():
            with system.org(org_id) as scope:
                removed += sessions.delete_expired(scope, before=before)
    return {"removed": removed}


def heartbeat(ctx: AppContext) -> dict[str, Any]:
    with auth_scope() as scope:
        heartbeats.beat(scope, scheduler="default", now=datetime.now(UTC), host=socket.gethostname(), pid=os.getpid())
    return {}


JOBS: tuple[Job, ...] = (
    Job(
        "scheduler-heartbeat",
        lambda c: c.settings.scheduler_heartbeat_seconds,
        heartbeat,
        "Record that the scheduler is alive (shown by /healthz)",
    ),
    Job(
        "audit-chain-verify",
        lambda c: c.settings.audit_verify_minutes * 60,
        verify_audit_chains,
        "Recompute every audit hash chain and update the external checkpoint",
    ),
    Job("session-cleanup", lambda c: 3600, cleanup_sessions, "Delete long-expired and revoked session rows"),
)


def run(job: Job, ctx: AppContext) -> dict[str, Any] | None:
    """Run one job in its envelope: bound log context, timing, and no exception escapes."""
    started = time.perf_counter()
    with bind_context(job=job.id, run_id=uuid.uuid4().hex[:12]):
        try:
            result = job.func(ctx)
        except Exception:
            log.exception("job_failed", ms=round(1000 * (time.perf_counter() - started), 1))
            return None
        log.info("job_finished", ms=round(1000 * (time.perf_counter() - started), 1), **result)
        return result


def make_scheduler(ctx: AppContext, *, blocking: bool) -> Any:
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler

    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}, timezone=UTC)
    for job in JOBS:
        scheduler.add_job(
            run,
            "interval",
            seconds=job.seconds(ctx),
            args=(job, ctx),
            id=job.id,
            next_run_time=datetime.now(UTC),
            replace_existing=True,
        )
    return scheduler
