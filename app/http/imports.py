"""``/api/v1/imports``: upload Synthea bundles (manager), follow the import job.

The upload handler only stores the files and queues the job (202 at once); the worker job
parses and writes the charts. Another organisation's job id answers 404 exactly like an
unknown one (row-level security; ``NotFound`` with the same body).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tornado.ioloop import IOLoop

from app.authz import Permission
from app.errors import NotFound, UnsupportedMediaType, ValidationFailed
from app.http.base import JsonHandler
from app.services import import_queue
from datalayer.queries.import_jobs import ImportJob


def job_json(job: ImportJob) -> dict[str, Any]:
    return {
        "id": str(job.id),
        "status": job.status,
        "source": job.source,
        "file_count": job.file_count,
        "files_done": job.files_done,
        "charts_created": job.charts_created,
        "charts_skipped": job.charts_skipped,
        "errors": [{"file": e.get("file"), "error": e.get("error")} for e in job.errors],
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


class ImportsHandler(JsonHandler):
    """POST: multipart upload of .json/.zip files -> 202 with the queued job. GET: recent jobs."""

    permission = Permission.IMPORTS_MANAGE

    def get(self) -> None:
        assert self.principal is not None  # noqa: S101 - prepare() guarantees it
        self.write_json({"items": [job_json(j) for j in import_queue.list_jobs(self.principal)]})

    async def post(self) -> None:
        assert self.principal is not None  # noqa: S101
        ctype = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != "multipart/form-data":
            raise UnsupportedMediaType("Send the files as multipart/form-data (.json or .zip).")
        files = [(f["filename"], f["body"]) for field in self.request.files.values() for f in field]
        if not files:
            raise ValidationFailed("Attach at least one .json or .zip file.", fields={"file": "Required."})
        principal, home, ip = self.principal, self.ctx.settings.smartcoders_home, self.client_ip
        # Writing up to MAX_BODY_BYTES to disk stays off the event loop.
        job = await IOLoop.current().run_in_executor(
            self.ctx.executor, lambda: import_queue.queue_upload(principal, files=files, home=home, client_ip=ip)
        )
        self.set_header("Location", f"/api/v1/imports/{job.id}")
        self.write_json(job_json(job), status=202)


class ImportHandler(JsonHandler):
    permission = Permission.IMPORTS_MANAGE

    def get(self, job_id: str) -> None:
        assert self.principal is not None  # noqa: S101
        try:
            wanted = UUID(job_id)
        except ValueError:
            raise NotFound("Import not found.") from None
        self.write_json(job_json(import_queue.get_job(self.principal, wanted)))
