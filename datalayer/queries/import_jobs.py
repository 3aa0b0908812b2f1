"""``import_jobs``: Synthea import tracking, claims with an expiring lease, per-file progress.

Claiming: ``claim_next`` takes the oldest queued job, or a running one whose lease
(``locked_until``) has expired because its worker died, with ``FOR UPDATE SKIP LOCKED`` so two
workers never take the same row. The new ``locked_until`` value is the claim's *token*: every
later write (progress, finish, release) names it and the row's ``files_done`` it expects, and
matches no row once another worker has taken the job over (``LeaseLost``). Each progress write
also moves the token forward (the lease is extended file by file).

Only jobs with a ``storage_path`` (uploads, webhooks) are claimable; a CLI or demo import runs
in its own process, and when that process dies its row is marked failed once the lease expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import orjson
from sqlalchemy import RowMapping

from app.errors import Conflict
from datalayer.queries._util import maybe, one, rows
from datalayer.scope import Scope

_COLUMNS: Final = (
    "id, org_id, created_by, source, status, storage_path, file_count, files_done, charts_created, "
    "charts_skipped, errors, attempts, locked_until, created_at, started_at, finished_at"
)


class LeaseLost(Conflict):
    """Another worker took the job over (our lease expired): stop, write nothing more."""

    public_message = "The import job was taken over by another worker."


@dataclass(frozen=True)
class ImportJob:
    id: UUID
    org_id: UUID
    created_by: UUID | None
    source: str
    status: str
    storage_path: str | None
    file_count: int
    files_done: int
    charts_created: int
    charts_skipped: int
    errors: list[dict[str, Any]]
    attempts: int
    locked_until: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in ("succeeded", "failed")


def _job(row: RowMapping) -> ImportJob:
    return ImportJob(**row)


def insert(
    scope: Scope,
    *,
    job_id: UUID,
    source: str,
    created_by: UUID | None,
    storage_path: str | None,
    file_count: int,
    running_lease_s: int | None = None,
) -> ImportJob:
    """A queued job (for the worker), or with ``running_lease_s`` one already running in this process."""
    running = running_lease_s is not None
    return _job(
        one(
            scope,
            f"""INSERT INTO import_jobs (id, org_id, created_by, source, status, storage_path, file_count,
                                         attempts, locked_until, started_at)
                VALUES (:id, :org, :by, :source, :status, :path, :count, :attempts,
                        CASE WHEN :running THEN clock_timestamp() + make_interval(secs => :lease) END,
                        CASE WHEN :running THEN clock_timestamp() END)
                RETURNING {_COLUMNS}""",
            {
                "id": job_id,
                "org": scope.require_org(),
                "by": created_by,
                "source": source,
                "status": "running" if running else "queued",
                "path": storage_path,
                "count": file_count,
                "attempts": 1 if running else 0,
                "running": running,
                "lease": running_lease_s or 0,
            },
        )
    )


def get(scope: Scope, job_id: UUID) -> ImportJob:
    return _job(one(scope, f"SELECT {_COLUMNS} FROM import_jobs WHERE id = :id", {"id": job_id}, what="Import"))


def list_recent(scope: Scope, *, limit: int = 50) -> list[ImportJob]:
    return [
        _job(r)
        for r in rows(
            scope,
            f"SELECT {_COLUMNS} FROM import_jobs WHERE org_id = :org ORDER BY created_at DESC, id LIMIT :limit",
            {"org": scope.require_org(), "limit": limit},
        )
    ]


def claim_next(scope: Scope, *, lease_s: int) -> ImportJob | None:
    """Claim the oldest claimable job of this organisation (see module docstring)."""
    row = maybe(
        scope,
        f"""UPDATE import_jobs AS j
               SET status = 'running', attempts = j.attempts + 1,
                   locked_until = clock_timestamp() + make_interval(secs => :lease),
                   started_at = coalesce(j.started_at, clock_timestamp())
             WHERE j.id = (SELECT c.id FROM import_jobs AS c
                            WHERE c.status IN ('queued', 'running') AND c.storage_path IS NOT NULL
                              AND (c.locked_until IS NULL OR c.locked_until < clock_timestamp())
                            ORDER BY c.created_at, c.id
                            LIMIT 1
                            FOR UPDATE SKIP LOCKED)
         RETURNING {_COLUMNS}""",
        {"lease": lease_s},
    )
    return _job(row) if row else None


def fail_abandoned(scope: Scope, *, error: dict[str, Any]) -> list[ImportJob]:
    """Mark in-process (CLI, demo) imports whose process died — lease expired — as failed."""
    return [
        _job(r)
        for r in rows(
            scope,
            f"""UPDATE import_jobs
                   SET status = 'failed', finished_at = clock_timestamp(), locked_until = NULL,
                       errors = errors || CAST(:error AS jsonb)
                 WHERE status = 'running' AND storage_path IS NULL AND locked_until < clock_timestamp()
             RETURNING {_COLUMNS}""",
            {"error": orjson.dumps([error]).decode()},
        )
    ]


def set_file_count(scope: Scope, *, job_id: UUID, token: datetime, file_count: int) -> None:
    _fenced(scope, "file_count = :count", {"count": file_count}, job_id=job_id, token=token, files_done=None)


def record_file(
    scope: Scope,
    *,
    job_id: UUID,
    token: datetime,
    index: int,
    charts_created: int,
    charts_skipped: int,
    error: dict[str, Any] | None,
    lease_s: int,
) -> datetime:
    """Count source number ``index`` as done (with its error, if any); returns the new lease token.

    Runs in the same transaction as that file's charts, so progress and charts commit together.
    """
    row = _fenced(
        scope,
        """files_done = files_done + 1, charts_created = charts_created + :created,
           charts_skipped = charts_skipped + :skipped, errors = errors || CAST(:error AS jsonb),
           locked_until = clock_timestamp() + make_interval(secs => :lease)""",
        {
            "created": charts_created,
            "skipped": charts_skipped,
            "error": orjson.dumps([error] if error else []).decode(),
            "lease": lease_s,
        },
        job_id=job_id,
        token=token,
        files_done=index,
    )
    return row.locked_until  # type: ignore[return-value]  # set just above, never NULL


def finish(
    scope: Scope, *, job_id: UUID, token: datetime, status: str, error: dict[str, Any] | None = None
) -> ImportJob:
    return _fenced(
        scope,
        """status = :status, finished_at = clock_timestamp(), locked_until = NULL,
           errors = errors || CAST(:error AS jsonb)""",
        {"status": status, "error": orjson.dumps([error] if error else []).decode()},
        job_id=job_id,
        token=token,
        files_done=None,
    )


def release(scope: Scope, *, job_id: UUID, token: datetime) -> None:
    """Give the claim back after a batch (not a failed attempt: ``attempts`` is decremented)."""
    _fenced(
        scope,
        "locked_until = NULL, attempts = greatest(attempts - 1, 0)",
        {},
        job_id=job_id,
        token=token,
        files_done=None,
    )


def _fenced(
    scope: Scope, assignments: str, params: dict[str, Any], *, job_id: UUID, token: datetime, files_done: int | None
) -> ImportJob:
    row = maybe(
        scope,
        f"""UPDATE import_jobs SET {assignments}
             WHERE id = :job_id AND locked_until = :token AND status = 'running'
               AND (CAST(:files_done AS integer) IS NULL OR files_done = :files_done)
         RETURNING {_COLUMNS}""",
        {**params, "job_id": job_id, "token": token, "files_done": files_done},
    )
    if row is None:
        raise LeaseLost()
    return _job(row)
