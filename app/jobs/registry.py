"""One registry of scheduled jobs; every run gets its own log context, timing and error capture,
like a request. Jobs run in the worker process (or in ``serve``), never in ``web``.

Each job opens its own scope(s): per-organisation work goes through ``system_scope``, which
iterates organisations one transaction at a time.

Several workers (or ``serve`` beside a worker) may run the same schedule; nothing is delivered
twice because of that (SECURITY F5). Jobs that take rows from a queue (outbox relay, email drain)
claim them with ``FOR UPDATE SKIP LOCKED`` and a lease, so they run everywhere at once and share
the work. A job that is not idempotent, or wasteful to run twice, is declared ``leader=True``:
each run first takes a PostgreSQL advisory lock named after the job and is skipped where another
worker holds it.

Every scheduler runs its jobs with ``coalesce=True`` (runs missed while the process was stopped
or stalled collapse into one catch-up run), ``max_instances=1`` (a slow run is never overlapped
by the next) and a misfire grace time; ``run`` logs any exception a job raises and returns, so
the scheduler keeps going (F10).

A queue job may also declare ``wake=``: the worker then runs it as soon as a transaction that
queued its work commits (``pg_notify``, ``app.jobs.wakeup``), in the same envelope, on top of its
interval. The wake-ups start and stop with the scheduler.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from app.context import AppContext
from app.jobs import emails as email_jobs
from app.jobs import imports as import_jobs
from app.jobs import outbox_relay
from app.jobs import rollups as rollup_jobs
from app.jobs.wakeup import Targets, Wake, Waker, Wakeups
from app.logs import bind_context, get_logger
from app.services import audit
from datalayer import notify
from datalayer.locks import leadership
from datalayer.queries import heartbeats, sessions
from datalayer.scope import auth_scope, system_scope

log = get_logger(__name__)


@dataclass(frozen=True)
class Job:
    id: str
    seconds: Callable[[AppContext], int]
    func: Callable[[AppContext], dict[str, Any]]
    description: str
    # Run only in the worker holding the job's advisory lock (work that is not idempotent).
    leader: bool = False
    # Runs every few seconds: log a run that did nothing (all counts zero) at debug level only.
    quiet: bool = False
    # Also run at once when this PostgreSQL channel is notified (queue jobs only: see app.jobs.wakeup).
    wake: Wake | None = None


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
        # The checkpoint file is read, merged and rewritten: two concurrent runs could lose an update.
        leader=True,
    ),
    Job("session-cleanup", lambda c: 3600, cleanup_sessions, "Delete long-expired and revoked session rows"),
    Job(
        "outbox-relay",
        lambda c: c.settings.outbox_relay_seconds,
        outbox_relay.relay_job,
        "Publish committed domain events to each organisation's Redis channel, at least once",
        quiet=True,
        # emit() notifies on commit: the events go out within milliseconds, the interval is the fallback.
        wake=Wake(notify.OUTBOX_CHANNEL, outbox_relay.relay_woken_job),
    ),
    Job(
        "email-drain",
        lambda c: c.settings.email_drain_seconds,
        email_jobs.drain_job,
        "Send queued email with back-off; dead-letter after EMAIL_MAX_ATTEMPTS or a permanent failure",
        quiet=True,
    ),
    Job(
        "synthea-import",
        lambda c: import_jobs.INTERVAL_SECONDS,
        import_jobs.import_job,
        "Import uploaded Synthea bundles in batches; resume a crashed worker's job after its lease",
        quiet=True,
    ),
    Job(
        "metric-rollups",
        lambda c: rollup_jobs.INTERVAL_SECONDS,
        rollup_jobs.rollup_job,
        "Recompute each organisation's metric_rollups for the last 14 days (idempotent upserts)",
        # Idempotent and safe side by side (a per-organisation lock), but wasteful to run twice.
        leader=True,
    ),
)


def _call(job: Job, ctx: AppContext) -> dict[str, Any] | None:
    if not job.leader:
        return job.func(ctx)
    with leadership(f"job:{job.id}") as leader:
        if not leader:
            log.debug("job_skipped_not_leader")
            return None
        return job.func(ctx)


def run(job: Job, ctx: AppContext) -> dict[str, Any] | None:
    """Run one job in its envelope: bound log context, timing, and no exception escapes."""
    started = time.perf_counter()
    with bind_context(job=job.id, run_id=uuid.uuid4().hex[:12]):
        try:
            result = _call(job, ctx)
        except Exception:
            log.exception("job_failed", ms=round(1000 * (time.perf_counter() - started), 1))
            return None
        if result is None:
            return None
        idle = job.quiet and not any(result.values())
        (log.debug if idle else log.info)("job_finished", ms=round(1000 * (time.perf_counter() - started), 1), **result)
        return result


def run_woken(job: Job, ctx: AppContext, targets: Targets) -> dict[str, Any] | None:
    """A run of ``job`` started by a notification: the scheduled run's envelope, leader lock included."""
    wake = job.wake
    if wake is None:
        raise ValueError(f"job {job.id} declares no wake-up")
    with bind_context(trigger="notify"):
        return run(replace(job, func=lambda c: wake.func(c, targets)), ctx)


def make_wakeups(ctx: AppContext, jobs: Sequence[Job] = JOBS) -> Wakeups | None:
    """One waker per job that declares ``wake``, all fed by one listener connection; None if none does."""
    wakers: dict[str, list[Waker]] = {}
    for job in jobs:
        if job.wake is not None:
            wakers.setdefault(job.wake.channel, []).append(Waker(job.id, partial(run_woken, job, ctx)))
    return Wakeups(wakers) if wakers else None


def _follow(scheduler: Any, wakeups: Wakeups, event: Any) -> None:
    """Wake-ups run exactly while the scheduler runs jobs: not while it is paused or after shutdown."""
    from apscheduler.schedulers.base import STATE_RUNNING

    if scheduler.state == STATE_RUNNING:
        wakeups.start()
    elif not wakeups.stop():
        log.warning("wakeups_still_running")


def make_scheduler(ctx: AppContext, *, blocking: bool, jobs: Sequence[Job] = JOBS) -> Any:
    from apscheduler.events import (
        EVENT_SCHEDULER_PAUSED,
        EVENT_SCHEDULER_RESUMED,
        EVENT_SCHEDULER_SHUTDOWN,
        EVENT_SCHEDULER_STARTED,
    )
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler

    # APScheduler logs every start and end of every run at INFO (the relay runs each second);
    # ``run`` logs what matters. Its warnings (missed runs, skipped overlaps) still come through.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}, timezone=UTC)
    for job in jobs:
        scheduler.add_job(
            run,
            "interval",
            seconds=job.seconds(ctx),
            args=(job, ctx),
            id=job.id,
            next_run_time=datetime.now(UTC),
            replace_existing=True,
        )
    wakeups = make_wakeups(ctx, jobs)
    if wakeups is not None:
        # Called on the thread that starts, pauses, resumes or shuts the scheduler down.
        states = EVENT_SCHEDULER_STARTED | EVENT_SCHEDULER_RESUMED | EVENT_SCHEDULER_PAUSED | EVENT_SCHEDULER_SHUTDOWN
        scheduler.add_listener(partial(_follow, scheduler, wakeups), states)
    return scheduler
