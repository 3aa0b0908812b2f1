"""Exports of an organisation's charts, audits and metric rollups as CSV or Parquet.

``GET /api/v1/export/{charts,audits,metrics}.{csv,parquet}`` (``data:export``, managers) runs
three steps, in this order:

1. ``parse_request`` checks the query: ``from``/``to`` (dates, inclusive), ``specialty``, ``coder``
   (a user id), ``status`` (comma-separated; charts: draft, pending_audit, returned, completed;
   audits: approve, return, open) and, for metrics, ``metric``. Anything else — an unknown
   parameter, a filter the dataset does not have, a bad date — is a 400 that says which and why.
2. ``begin`` counts the export against the caller's and the organisation's rate limits
   (``EXPORT_LIMIT_USER``/``EXPORT_LIMIT_ORG``, Redis, fail closed: no Redis, no export) and then
   appends a ``data_exported`` audit-log row (dataset, format, filters; no PHI) in its own short
   transaction. The row is committed before the first byte leaves; if it cannot be written the
   export does not start (SECURITY D6). It is not written in the export's transaction, which
   stays open while the client downloads, because the audit chain's per-organisation lock would
   hold every other audited action of the organisation for that long.
3. ``produce`` reads the rows in batches from a server-side cursor in one ``org_scope``
   transaction (row-level security applies; one consistent snapshot) and hands encoded chunks to
   ``emit`` as it goes, so memory stays at about one batch whatever the size of the table. CSV is
   RFC 4180 (polars ``write_csv``) with every text cell that a spreadsheet would run as a formula
   — starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return (OWASP CSV injection; also
   NUL and the full-width forms U+FF1D, U+FF0B, U+FF0D, U+FF20) — prefixed with a single quote. Parquet is written by polars
   (``sink_parquet`` fed batch by batch), typed and unaltered: it is data, not a spreadsheet.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import IO, Any, Final, cast
from uuid import UUID

import polars as pl
from polars.io.plugins import register_io_source

from app.authz import Permission, Principal
from app.errors import RateLimited, ValidationFailed
from app.logs import get_logger
from app.services import audit
from app.services.audit import Actor
from app.settings import Settings
from datalayer import redis_client
from datalayer.queries import exports as queries
from datalayer.queries.exports import ExportFilter
from datalayer.scope import org_scope, user_scope

log = get_logger(__name__)

BATCH_ROWS: Final = 2000  # rows per cursor fetch, CSV chunk and Parquet row group
FORMATS: Final = ("csv", "parquet")
MEDIA_TYPES: Final = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
CHART_STATUSES: Final = ("draft", "pending_audit", "returned", "completed")
AUDIT_STATUSES: Final = tuple(queries.AUDIT_STATUSES)
# OWASP "CSV Injection": a cell starting with one of these is run as a formula by spreadsheet apps.
FORMULA_START: Final = re.compile(r"^[=+\-@\t\r\x00\uff1d\uff0b\uff0d\uff20]")

_TEXT: Final[pl.DataType] = pl.String()
_INT: Final[pl.DataType] = pl.Int64()
_FLOAT: Final[pl.DataType] = pl.Float64()
_BOOL: Final[pl.DataType] = pl.Boolean()
_TS: Final[pl.DataType] = pl.Datetime("us", "UTC")


@dataclass(frozen=True)
class Dataset:
    name: str
    read: Callable[..., Iterator[queries.Batch]]
    schema: pl.Schema
    date_meaning: str
    filters: frozenset[str]
    statuses: tuple[str, ...] = ()


DATASETS: Final[dict[str, Dataset]] = {
    "charts": Dataset(
        "charts",
        queries.charts,
        pl.Schema(
            {
                "chart_id": _TEXT,
                "status": _TEXT,
                "specialty": _TEXT,
                "difficulty": _INT,
                "record_type": _TEXT,
                "encounter_class": _TEXT,
                "encounter_type": _TEXT,
                "encounter_reason": _TEXT,
                "encounter_start": _TS,
                "encounter_end": _TS,
                "patient_age_years": _INT,
                "patient_sex": _TEXT,
                "discharged_alive": _BOOL,
                "provider_name": _TEXT,
                "facility_name": _TEXT,
                "coder_id": _TEXT,
                "coder_name": _TEXT,
                "assigned_at": _TS,
                "submitted_at": _TS,
                "completed_at": _TS,
                "version": _INT,
                "import_job_id": _TEXT,
                "created_at": _TS,
                "updated_at": _TS,
                "principal_diagnosis": _TEXT,
                "diagnosis_codes": _TEXT,
                "procedure_codes": _TEXT,
            }
        ),
        "encounter start",
        frozenset({"from", "to", "specialty", "coder", "status"}),
        CHART_STATUSES,
    ),
    "audits": Dataset(
        "audits",
        queries.audits,
        pl.Schema(
            {
                "audit_id": _TEXT,
                "chart_id": _TEXT,
                "submission_no": _INT,
                "specialty": _TEXT,
                "difficulty": _INT,
                "coder_id": _TEXT,
                "coder_name": _TEXT,
                "supervisor_id": _TEXT,
                "supervisor_name": _TEXT,
                "claimed_at": _TS,
                "decided_at": _TS,
                "decision": _TEXT,
                "code_accuracy": _FLOAT,
                "principal_correct": _BOOL,
                "drg_correct": _BOOL,
                "drg_before": _INT,
                "drg_after": _INT,
                "weight_before": _FLOAT,
                "weight_after": _FLOAT,
                "findings": _INT,
                "feedback_acknowledged_at": _TS,
            }
        ),
        "decision time",
        frozenset({"from", "to", "specialty", "coder", "status"}),
        AUDIT_STATUSES,
    ),
    "metrics": Dataset(
        "metrics",
        queries.metrics,
        pl.Schema(
            {
                "metric": _TEXT,
                "bucket_start": _TS,
                "dimension": _TEXT,
                "value": _FLOAT,
                "sample_size": _INT,
                "updated_at": _TS,
            }
        ),
        "bucket start",
        frozenset({"from", "to", "metric"}),
    ),
}


@dataclass(frozen=True)
class ExportRequest:
    dataset: str
    fmt: str
    filters: ExportFilter = field(default_factory=ExportFilter)
    # The filters as asked for, for the audit row and the file name (ids and dates only).
    described: dict[str, str] = field(default_factory=dict)

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.fmt]

    def file_name(self, today: date | None = None) -> str:
        return f"smartcoders-{self.dataset}-{(today or datetime.now(UTC).date()).isoformat()}.{self.fmt}"


def _one(args: Mapping[str, Sequence[bytes | str]], name: str) -> str | None:
    values = args.get(name) or []
    if len(values) > 1:
        raise ValidationFailed(f"Give `{name}` once.", fields={name: "Repeated."})
    if not values:
        return None
    raw = values[0]
    text = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw).strip()
    return text or None


def _day(args: Mapping[str, Sequence[bytes | str]], name: str) -> date | None:
    text = _one(args, name)
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(f"`{name}` must be a date like 2026-01-31.", fields={name: "Not a date."}) from None


def parse_request(dataset: str, fmt: str, args: Mapping[str, Sequence[bytes | str]]) -> ExportRequest:
    """Check the dataset, the format and the query parameters; see the module docstring."""
    spec = DATASETS.get(dataset)
    if spec is None:
        raise ValidationFailed(f"Unknown export {dataset!r}: choose one of {', '.join(DATASETS)}.")
    if fmt not in FORMATS:
        raise ValidationFailed(f"Unknown format {fmt!r}: choose csv or parquet.")
    unknown = sorted(set(args) - spec.filters)
    if unknown:
        allowed = ", ".join(sorted(spec.filters))
        raise ValidationFailed(
            f"The {dataset} export has no filter {', '.join(unknown)}; its filters are {allowed}.",
            fields=dict.fromkeys(unknown, "Unknown filter."),
        )
    described: dict[str, str] = {}
    start, end = _day(args, "from"), _day(args, "to")
    if start and end and start > end:
        raise ValidationFailed("`from` must not be after `to`.", fields={"from": "After `to`."})
    coder_id = None
    if (coder := _one(args, "coder")) is not None:
        try:
            coder_id = UUID(coder)
        except ValueError:
            raise ValidationFailed("`coder` must be a user id.", fields={"coder": "Not a user id."}) from None
    statuses: tuple[str, ...] = ()
    if (status := _one(args, "status")) is not None:
        statuses = tuple(dict.fromkeys(s.strip() for s in status.split(",") if s.strip()))
        wrong = [s for s in statuses if s not in spec.statuses]
        if wrong or not statuses:
            raise ValidationFailed(
                f"`status` takes {', '.join(spec.statuses)} (comma-separated) for the {dataset} export.",
                fields={"status": f"Unknown: {', '.join(wrong) or 'empty'}."},
            )
    specialty, metric = _one(args, "specialty"), _one(args, "metric")
    for name, value in (("specialty", specialty), ("metric", metric)):
        if value is not None and len(value) > 100:
            raise ValidationFailed(f"`{name}` is too long.", fields={name: "Up to 100 characters."})
    for name, shown in (
        ("from", start.isoformat() if start else None),
        ("to", end.isoformat() if end else None),
        ("specialty", specialty),
        ("coder", str(coder_id) if coder_id else None),
        ("status", ",".join(statuses) or None),
        ("metric", metric),
    ):
        if shown is not None:
            described[name] = shown
    filters = ExportFilter(
        start=datetime.combine(start, time.min, UTC) if start else None,
        end=datetime.combine(end + timedelta(days=1), time.min, UTC) if end else None,
        specialty=specialty,
        coder_id=coder_id,
        statuses=statuses,
        metric=metric,
    )
    return ExportRequest(dataset=dataset, fmt=fmt, filters=filters, described=described)


def begin(principal: Principal, request: ExportRequest, *, settings: Settings, client_ip: str | None) -> None:
    """Rate-limit, then audit the export; raises RateLimited / ServiceUnavailable before any data is read."""
    principal.require(Permission.DATA_EXPORT)
    user_limit, org_limit = settings.export_limit_user, settings.export_limit_org
    user_count, org_count = redis_client.count_in_windows(
        [
            (f"rl:export:user:{principal.org_id}:{principal.user_id}", user_limit.window),
            (f"rl:export:org:{principal.org_id}", org_limit.window),
        ]
    )
    if user_count > user_limit.limit or org_count > org_limit.limit:
        log.warning("excess_rate_limit_exceeded", kind="export", dataset=request.dataset)
        raise RateLimited(
            "Too many exports in a short time. Wait a few minutes and try again, or narrow the export with filters."
        )
    with user_scope(principal.org_id, principal.user_id) as scope:
        audit.record(
            scope,
            action="data_exported",
            actor=Actor(principal.user_id, principal.role, client_ip),
            object_type="export",
            object_id=request.dataset,
            details={"dataset": request.dataset, "format": request.fmt, "filters": request.described},
        )


def neutralise(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix every text cell a spreadsheet would evaluate (see ``FORMULA_START``) with a single quote."""
    text_columns = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    if not text_columns:
        return frame
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(FORMULA_START.pattern))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in text_columns
    )


def _frames(principal: Principal, request: ExportRequest, batch_rows: int) -> Iterator[pl.DataFrame]:
    spec = DATASETS[request.dataset]
    with org_scope(principal.org_id) as scope:
        for columns, rows in spec.read(scope, request.filters, batch_rows=batch_rows):
            if list(columns) != list(spec.schema.names()):  # pragma: no cover - a query/schema mismatch is a bug
                raise RuntimeError(f"{spec.name} export columns {columns} do not match its schema")
            # Column by column: about twice as fast as polars' row-wise constructor on these rows.
            yield pl.DataFrame(
                [
                    pl.Series(name, values, dtype=spec.schema[name])
                    for name, values in zip(columns, zip(*rows, strict=True), strict=True)
                ]
            )


class _Emitter(io.RawIOBase):
    """A write-only file that hands every write to ``emit`` (polars' Parquet sink writes into it)."""

    def __init__(self, emit: Callable[[bytes], None]) -> None:
        super().__init__()
        self._emit = emit

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        if chunk:
            self._emit(chunk)
        return len(chunk)


def produce(
    principal: Principal, request: ExportRequest, emit: Callable[[bytes], None], *, batch_rows: int = BATCH_ROWS
) -> int:
    """Read, encode and ``emit`` the export chunk by chunk; returns the number of rows.

    Blocking (database, encoding): run it in a worker thread. ``emit`` may raise to abandon the
    export (the client went away); the transaction then ends and nothing more is read.
    """
    principal.require(Permission.DATA_EXPORT)
    spec = DATASETS[request.dataset]
    rows = 0
    if request.fmt == "csv":
        header = True
        for frame in _frames(principal, request, batch_rows):
            rows += frame.height
            emit(neutralise(frame).write_csv(include_header=header).encode())
            header = False
        if header:  # no rows: the header alone
            emit(pl.DataFrame(schema=spec.schema).write_csv(include_header=True).encode())
        return rows

    counted: list[int] = []

    def source(
        with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, batch_size: int | None
    ) -> Iterator[pl.DataFrame]:
        for frame in _frames(principal, request, batch_rows):
            counted.append(frame.height)
            yield frame.select(with_columns) if with_columns is not None else frame

    lazy = register_io_source(source, schema=spec.schema)
    lazy.sink_parquet(cast(IO[bytes], _Emitter(emit)), row_group_size=batch_rows)
    return sum(counted)
