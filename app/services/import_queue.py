"""Uploaded Synthea imports: store, queue, and the worker that imports them in batches.

``queue_upload`` (``POST /api/v1/imports``) stores the files under
``$SMARTCODERS_HOME/imports/<job id>/`` — written to a hidden staging folder first, renamed
into place, then the ``import_jobs`` row is inserted — and returns at once; nothing is parsed
in the request. ``run_pending_jobs`` (the ``synthea-import`` worker job) goes round the
organisations, claims one job per organisation per round (``FOR UPDATE SKIP LOCKED`` and a
lease, ``datalayer.queries.import_jobs``), imports ``BATCH_FILES`` files of it with the shared
driver of ``app.services.imports`` (one transaction per file, progress included), then gives
the claim back so other jobs get their turn. A job resumes where its ``files_done`` says, so a
worker killed mid-batch loses nothing and duplicates nothing; a claim that ends without a clean
release counts as an attempt, and after ``MAX_ATTEMPTS`` the job is failed rather than retried
forever. The stored files are deleted when the job ends (uploaded PHI does not outlive its
import). ``SMARTCODERS_HOME`` must be shared by web and worker processes.
"""

from __future__ import annotations

import re
import shutil
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Final
from uuid import UUID

from app.authz import Permission, Principal
from app.errors import ValidationFailed
from app.fhir.sources import SourceSet
from app.services import audit
from app.services.audit import Actor
from app.services.imports import ACTOR_ROLE, LEASE_SECONDS, Run, announce_finished, finish_job, process
from datalayer.queries import import_jobs
from datalayer.queries.import_jobs import ImportJob
from datalayer.scope import org_scope, system_scope, user_scope

BATCH_FILES: Final = 20  # files per claim before the worker gives the job back
MAX_ATTEMPTS: Final = 5  # claims that ended without a clean release before a job is given up
MAX_UPLOAD_FILES: Final = 1000
ABANDONED: Final = "the importing process stopped before it finished"
_UNSAFE_NAME: Final = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


def uploads_root(home: Path) -> Path:
    return Path(home) / "imports"


def safe_file_name(raw: str) -> str:
    """An uploaded file's name, reduced to a plain file name (no folders, no control characters)."""
    base = raw.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE_NAME.sub("_", base).strip().lstrip(".")[:200]
    return cleaned or "upload.json"


def queue_upload(
    principal: Principal, *, files: Sequence[tuple[str, bytes]], home: Path, client_ip: str | None = None
) -> ImportJob:
    """Store uploaded .json/.zip files and queue an import job for the worker; returns at once."""
    principal.require(Permission.IMPORTS_MANAGE)
    if not files:
        raise ValidationFailed("Attach at least one .json or .zip file.", fields={"file": "Required."})
    if len(files) > MAX_UPLOAD_FILES:
        raise ValidationFailed(f"Upload at most {MAX_UPLOAD_FILES} files at a time (or one .zip).")
    names: list[str] = []
    for raw, data in files:
        name = safe_file_name(raw)
        if not name.lower().endswith((".json", ".zip")):
            raise ValidationFailed(f"{name}: only .json and .zip files can be imported.", fields={"file": name})
        if not data:
            raise ValidationFailed(f"{name}: the file is empty.", fields={"file": name})
        stem, dot, ext = name.rpartition(".")
        n = 2
        while name in names:
            name, n = f"{stem} ({n}){dot}{ext}", n + 1
        names.append(name)
    job_id = uuid.uuid4()
    root = uploads_root(home)
    staging, folder = root / f".{job_id}.part", root / str(job_id)
    staging.mkdir(parents=True, exist_ok=False)
    try:
        for name, (_, data) in zip(names, files, strict=True):
            (staging / name).write_bytes(data)
        staging.rename(folder)
        with user_scope(principal.org_id, principal.user_id) as scope:
            job = import_jobs.insert(
                scope,
                job_id=job_id,
                source="upload",
                created_by=principal.user_id,
                storage_path=f"imports/{job_id}",
                file_count=len(names),
            )
            audit.record(
                scope,
                action="import_queued",
                actor=Actor(principal.user_id, principal.role, client_ip),
                object_type="import_job",
                object_id=job_id,
                details={"source": "upload", "files": len(names), "bytes": sum(len(d) for _, d in files)},
            )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return job


def get_job(principal: Principal, job_id: UUID) -> ImportJob:
    """One import of the caller's organisation; another organisation's id is ``NotFound`` too."""
    principal.require(Permission.IMPORTS_MANAGE)
    with user_scope(principal.org_id, principal.user_id) as scope:
        return import_jobs.get(scope, job_id)


def list_jobs(principal: Principal, *, limit: int = 50) -> list[ImportJob]:
    principal.require(Permission.IMPORTS_MANAGE)
    with user_scope(principal.org_id, principal.user_id) as scope:
        return import_jobs.list_recent(scope, limit=limit)


def _storage(home: Path, job: ImportJob) -> Path | None:
    """The job's upload folder, only if it is really ``<home>/imports/<job id>``."""
    expected = uploads_root(home) / str(job.id)
    return expected if job.storage_path == f"imports/{job.id}" else None


def process_claimed(org_id: UUID, job: ImportJob, home: Path, *, batch_files: int = BATCH_FILES) -> ImportJob | None:
    """Import the next batch of a claimed job; finish it after its last file, else give it back.

    Returns the finished job, or None when files remain (the job is claimable again at once).
    """
    assert job.locked_until is not None  # noqa: S101 - claim_next sets the lease
    run = Run(org_id, job, job.locked_until, [], job.source, Actor(None, ACTOR_ROLE.get(job.source, "system")))
    folder = _storage(home, job)
    if job.attempts > MAX_ATTEMPTS:
        return _finish_and_clean(run, folder, status="failed", error=f"gave up after {job.attempts - 1} attempts")
    if folder is None or not folder.is_dir():
        return _finish_and_clean(run, folder, status="failed", error="the uploaded files are missing")
    with SourceSet(sorted(folder.iterdir())) as sources:
        run.sources = sources.sources
        if job.file_count != len(sources):
            with org_scope(org_id) as scope:
                import_jobs.set_file_count(scope, job_id=job.id, token=run.token, file_count=len(sources))
        stop = min(len(sources), job.files_done + batch_files)
        process(run, start=job.files_done, stop=stop)
        if stop < len(sources):
            with org_scope(org_id) as scope:
                import_jobs.release(scope, job_id=job.id, token=run.token)
            return None
    return _finish_and_clean(run, folder)


def _finish_and_clean(
    run: Run, folder: Path | None, *, status: str | None = None, error: str | None = None
) -> ImportJob:
    job = finish_job(run, status=status, error=error)
    if folder is not None:  # uploaded PHI does not outlive its import
        shutil.rmtree(folder, ignore_errors=True)
    return job


def run_pending_jobs(home: Path, *, budget_seconds: float = 50.0, batch_files: int = BATCH_FILES) -> dict[str, int]:
    """The worker job: round-robin over organisations, one batch per claimed job per round.

    Also fails in-process imports (CLI, demo) whose process died. Stops when no organisation has
    claimable work or the time budget is spent (the scheduler runs it again shortly).
    """
    stats = {"batches": 0, "finished": 0, "abandoned": 0}
    deadline = time.monotonic() + budget_seconds
    with system_scope("import-jobs") as system:
        org_ids = system.org_ids()
        for org_id in org_ids:
            with system.org(org_id) as scope:
                for dead in import_jobs.fail_abandoned(scope, error={"file": None, "error": ABANDONED}):
                    announce_finished(scope, dead, Actor(None, "system"))
                    stats["abandoned"] += 1
        busy = list(org_ids)
        while busy and time.monotonic() < deadline:
            still_busy = []
            for org_id in busy:
                with system.org(org_id) as scope:
                    job = import_jobs.claim_next(scope, lease_s=LEASE_SECONDS)
                if job is None:
                    continue
                stats["batches"] += 1
                if process_claimed(org_id, job, home, batch_files=batch_files) is not None:
                    stats["finished"] += 1
                still_busy.append(org_id)
            busy = still_busy
    return stats
