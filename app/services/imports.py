"""Synthea import: the action that writes one bundle's charts, and the driver the CLI, the worker
and the demo share.

``import_bundle`` (pinned: the signed webhook calls it) parses one bundle and writes its charts
inside the caller's open organisation scope. In that same transaction it

- inserts every chart with ``ON CONFLICT DO NOTHING`` on the natural key (organisation +
  Synthea encounter id): a re-import creates nothing and counts the charts as skipped;
- emits one ``chart.imported`` outbox event per chart it created (payload: chart id, job id,
  record type, specialty, difficulty — no PHI), so consumers can react per chart and dedupe on
  the event id;
- appends one ``import_file`` audit row with the counts and the created chart ids (no file name:
  Synthea file names carry the patient's name);

and raises ``BundleError`` (a ``ValidationFailed`` naming the file and the reason) for a file
that cannot be imported. A well-formed file without a patient returns a result with
``skipped`` set.

The driver (``process``; ``import_paths`` for the CLI and the demo, ``app.services.import_queue``
for uploads) processes a list of sources in a stable
order, **each file in its own transaction** together with the job's progress row: a file's
charts, events, audit row and ``files_done + 1`` commit together or not at all. A killed import
therefore leaves whole files only, and resuming skips exactly the files already counted. A bad
file is recorded (name and reason) in ``import_jobs.errors`` and the next file goes on. When the
last file is done the job is marked ``succeeded`` (no file failed) or ``failed`` (at least one
file was not imported; the others' charts are kept) and ``import.finished`` is emitted with it.

Uploads are queued and imported by the worker in batches: see ``app.services.import_queue``.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import orjson

from app.errors import ValidationFailed
from app.fhir.charts import build_charts
from app.fhir.model import BundleError, NotPatientBundle
from app.fhir.parse import parse_bundle
from app.fhir.providers import ProviderDirectory, build_directory, is_directory_file
from app.fhir.sources import Source, SourceError, SourceSet
from app.logs import get_logger
from app.services import audit, outbox
from app.services.audit import Actor
from datalayer.queries import charts, import_jobs
from datalayer.queries.import_jobs import ImportJob
from datalayer.scope import Scope, org_scope

log = get_logger(__name__)

SOURCES: Final = ("upload", "cli", "webhook", "demo")
LEASE_SECONDS: Final = 300  # a claim (or an in-process import) is presumed dead this long after its last file
ACTOR_ROLE: Final = {"cli": "cli", "webhook": "webhook", "upload": "worker", "demo": "system"}


@dataclass(frozen=True)
class FileResult:
    """What happened to one file. ``error`` and ``skipped`` are reasons for people."""

    name: str
    charts_created: int = 0
    charts_skipped: int = 0
    encounters: int = 0
    error: str | None = None
    skipped: str | None = None  # a well-formed file without a patient (provider directory, metadata)
    chart_ids: tuple[UUID, ...] = ()


@dataclass(frozen=True)
class ImportSummary:
    """A finished (or, for the worker, partly done) import: the job row's totals and this run's files."""

    job: ImportJob
    files: tuple[FileResult, ...] = field(default=())

    @property
    def failed(self) -> bool:
        return bool(self.job.errors)

    def as_json(self) -> dict[str, Any]:
        """The ``smartcoders import --json`` object."""
        return {
            "job_id": str(self.job.id),
            "status": self.job.status,
            "files": self.job.file_count,
            "encounters": sum(f.encounters for f in self.files),
            "charts_created": self.job.charts_created,
            "charts_skipped": self.job.charts_skipped,
            "errors": [{"file": e.get("file"), "error": e.get("error")} for e in self.job.errors],
            "skipped_files": [{"file": f.name, "reason": f.skipped} for f in self.files if f.skipped],
        }


# -- one file -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedFile:
    """A parsed file, ready to write: built outside any transaction (parsing is the slow part)."""

    name: str
    sha256: str
    encounters: int = 0
    rows_json: bytes = b"[]"
    rows: tuple[dict[str, Any], ...] = ()  # the non-payload columns of each row, for events
    skipped: str | None = None


def prepare(name: str, data: bytes, directory: ProviderDirectory | None = None) -> PreparedFile:
    """Parse one file and build its chart rows; ``BundleError`` if it cannot be imported."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        record = parse_bundle(data, name=name, directory=directory)
    except NotPatientBundle as skip:
        return PreparedFile(name=name, sha256=digest, skipped=skip.reason)
    rows = []
    for draft in build_charts(record):
        row = draft.row()
        row["id"] = str(uuid.uuid4())
        rows.append(row)
    rows_json = orjson.dumps(rows)
    if b"\\u0000" in rows_json:
        raise BundleError(name, "contains NUL characters, which cannot be stored")
    summary = tuple(
        {k: r[k] for k in ("id", "source_encounter_id", "record_type", "specialty", "difficulty")} for r in rows
    )
    return PreparedFile(name=name, sha256=digest, encounters=len(record.encounters), rows_json=rows_json, rows=summary)


def write_prepared(scope: Scope, prepared: PreparedFile, *, job_id: UUID | None, source: str) -> FileResult:
    """Insert the charts, their events and the audit row in the caller's transaction."""
    if prepared.skipped is not None:
        return FileResult(name=prepared.name, skipped=prepared.skipped)
    try:
        created = charts.insert_imported(scope, rows_json=prepared.rows_json, import_job_id=job_id)
    except ValidationFailed as exc:
        raise BundleError(prepared.name, exc.message) from exc
    chart_ids: list[UUID] = []
    for row in prepared.rows:
        chart_id = created.get(row["source_encounter_id"])
        if chart_id is None:
            continue
        chart_ids.append(chart_id)
        outbox.emit(
            scope,
            event_type="chart.imported",
            aggregate_type="chart",
            aggregate_id=chart_id,
            payload={
                "chart_id": str(chart_id),
                "import_job_id": str(job_id) if job_id else None,
                "source": source,
                "record_type": row["record_type"],
                "specialty": row["specialty"],
                "difficulty": row["difficulty"],
            },
        )
    skipped = len(prepared.rows) - len(chart_ids)
    if chart_ids:
        from app.services.charts import auto_assign_new  # the import path never needs pages' deps

        auto_assign_new(scope, chart_ids)  # no-op unless AUTO_ASSIGN_IMPORTS is on
    audit.record(
        scope,
        action="import_file",
        actor=Actor(scope.user_id, ACTOR_ROLE[source]),
        object_type="import_job" if job_id else "import_file",
        object_id=job_id or prepared.sha256[:32],
        details={
            "source": source,
            "file_sha256": prepared.sha256,
            "encounters": prepared.encounters,
            "charts_created": len(chart_ids),
            "charts_skipped": skipped,
            "chart_ids": [str(c) for c in chart_ids],
        },
    )
    return FileResult(
        name=prepared.name,
        charts_created=len(chart_ids),
        charts_skipped=skipped,
        encounters=prepared.encounters,
        chart_ids=tuple(chart_ids),
    )


def import_bundle(
    scope: Scope,
    *,
    name: str,
    data: bytes,
    job_id: UUID | None = None,
    source: str = "cli",
    context_files: Mapping[str, bytes] | None = None,
) -> FileResult:
    """Import one Synthea bundle into the scope's organisation, in the caller's transaction.

    ``context_files`` are the run's ``hospitalInformation*``/``practitionerInformation*`` files
    (name -> bytes), used to resolve conditional provider references; without them the
    references' ``display`` is used. Idempotent: encounters already imported are counted in
    ``charts_skipped``. Raises ``BundleError`` (a ``ValidationFailed``) for a bad file.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}")
    directory = _directory(tuple(sorted(context_files.items()))) if context_files else None
    return write_prepared(scope, prepare(name, data, directory), job_id=job_id, source=source)


@functools.lru_cache(maxsize=4)
def _directory(files: tuple[tuple[str, bytes], ...]) -> ProviderDirectory:
    """Webhook deliveries repeat the same provider files: parse them once per process."""
    return build_directory(files)


# -- the driver -----------------------------------------------------------------------------------


@dataclass
class Run:
    """One pass of the driver over some of a job's sources."""

    org_id: UUID
    job: ImportJob
    token: datetime
    sources: list[Source]
    source: str
    actor: Actor
    directory: ProviderDirectory = field(default_factory=ProviderDirectory)
    directory_names: frozenset[str] = frozenset()
    results: list[FileResult] = field(default_factory=list)


def _load_directory(run: Run) -> None:
    names = set()
    for src in run.sources:
        if is_directory_file(src.name) and src.problem is None:
            try:
                added = run.directory.add_bundle(src.name, orjson.loads(src.read()))
            except (SourceError, orjson.JSONDecodeError):
                continue
            if added:
                names.add(src.name)
    run.directory_names = frozenset(names)


def _prepare_source(run: Run, src: Source) -> PreparedFile:
    if src.name in run.directory_names:
        return PreparedFile(src.name, "", skipped="provider directory, used to resolve provider references")
    try:
        data = src.read()
    except SourceError as exc:
        raise BundleError(src.name, str(exc)) from None
    return prepare(src.name, data, run.directory)


def _import_one(run: Run, index: int) -> FileResult:
    """Source number ``index``: its charts and the job's progress in one transaction; or, for a bad
    file, its error and the progress in another (the failed file's writes are rolled back)."""
    src = run.sources[index]
    job_id = run.job.id
    try:
        prepared = _prepare_source(run, src)
        with org_scope(run.org_id) as scope:
            result = write_prepared(scope, prepared, job_id=job_id, source=run.source)
            run.token = import_jobs.record_file(
                scope,
                job_id=job_id,
                token=run.token,
                index=index,
                charts_created=result.charts_created,
                charts_skipped=result.charts_skipped,
                error=None,
                lease_s=LEASE_SECONDS,
            )
        return result
    except BundleError as failure:
        with org_scope(run.org_id) as scope:
            audit.record(
                scope,
                action="import_file",
                actor=run.actor,
                outcome="failure",
                object_type="import_job",
                object_id=job_id,
                details={"source": run.source, "reason": failure.reason, "index": index},
            )
            run.token = import_jobs.record_file(
                scope,
                job_id=job_id,
                token=run.token,
                index=index,
                charts_created=0,
                charts_skipped=0,
                error={"file": src.name, "error": failure.reason},
                lease_s=LEASE_SECONDS,
            )
        return FileResult(name=src.name, error=failure.reason)


def finish_job(run: Run, *, status: str | None = None, error: str | None = None) -> ImportJob:
    """Mark the job done; ``import.finished`` and the audit row commit with it."""
    with org_scope(run.org_id) as scope:
        current = import_jobs.get(scope, run.job.id)
        final = status or ("failed" if current.errors or error else "succeeded")
        job = import_jobs.finish(
            scope,
            job_id=run.job.id,
            token=run.token,
            status=final,
            error={"file": None, "error": error} if error else None,
        )
        announce_finished(scope, job, run.actor)
    return job


def announce_finished(scope: Scope, job: ImportJob, actor: Actor) -> None:
    """``import.finished`` and the audit row, in the transaction that finished the job."""
    counts = {
        "files": job.file_count,
        "files_done": job.files_done,
        "charts_created": job.charts_created,
        "charts_skipped": job.charts_skipped,
        "errors": len(job.errors),
    }
    outbox.emit(
        scope,
        event_type="import.finished",
        aggregate_type="import_job",
        aggregate_id=job.id,
        payload={"import_job_id": str(job.id), "status": job.status, "source": job.source, **counts},
    )
    audit.record(
        scope,
        action="import_finished",
        actor=actor,
        outcome="success" if job.status == "succeeded" else "failure",
        object_type="import_job",
        object_id=job.id,
        details={"source": job.source, "status": job.status, **counts},
    )
    log.info("import_finished", job_id=str(job.id), status=job.status, **counts)


def process(run: Run, *, start: int, stop: int, on_file: Callable[[int, FileResult], None] | None = None) -> None:
    """Import sources ``start`` to ``stop - 1`` of the run, each file in its own transaction."""
    if not run.directory_names and any(is_directory_file(s.name) for s in run.sources):
        _load_directory(run)
    for index in range(start, stop):
        result = _import_one(run, index)
        run.results.append(result)
        if on_file is not None:
            on_file(index, result)


def import_paths(
    org_id: UUID,
    paths: Sequence[Path | str],
    *,
    source: str = "cli",
    user_id: UUID | None = None,
    on_file: Callable[[int, FileResult], None] | None = None,
) -> ImportSummary:
    """Import files, folders and .zip archives now, in this process (CLI, demo).

    Creates a running ``import_jobs`` row (not claimable by workers; failed by them if this
    process dies and its lease runs out) and processes every source, one transaction each.
    """
    actor = Actor(user_id, ACTOR_ROLE[source])
    with SourceSet(paths) as sources:
        with org_scope(org_id) as scope:
            job = import_jobs.insert(
                scope,
                job_id=uuid.uuid4(),
                source=source,
                created_by=user_id,
                storage_path=None,
                file_count=len(sources),
                running_lease_s=LEASE_SECONDS,
            )
            audit.record(
                scope,
                action="import_started",
                actor=actor,
                object_type="import_job",
                object_id=job.id,
                details={"source": source, "files": len(sources)},
            )
        assert job.locked_until is not None  # noqa: S101 - a running insert sets the lease
        run = Run(org_id, job, job.locked_until, sources.sources, source, actor)
        process(run, start=0, stop=len(sources), on_file=on_file)
        return ImportSummary(finish_job(run), tuple(run.results))
