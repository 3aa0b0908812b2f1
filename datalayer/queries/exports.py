"""Exports: the organisation's charts, audits and metric rollups, read in batches from a
server-side cursor so a large export never sits in memory whole.

Each function yields ``(column names, rows)`` batches of at most ``batch_rows`` rows, in a stable
order, inside the caller's scope (one transaction: the export is one consistent snapshot).
Filters are bound parameters only; every column is qualified with its table alias. Ids leave as
text and numerics as float8, so consumers need no database types.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from sqlalchemy import text

from datalayer.scope import Scope

Batch = tuple[tuple[str, ...], list[tuple[Any, ...]]]


@dataclass(frozen=True)
class ExportFilter:
    """Every field is AND-ed; ``start``/``end`` bound the dataset's date column (``end`` exclusive)."""

    start: datetime | None = None
    end: datetime | None = None
    specialty: str | None = None
    coder_id: UUID | None = None
    statuses: tuple[str, ...] = ()
    metric: str | None = None


def _stream(scope: Scope, sql: str, params: dict[str, Any], batch_rows: int) -> Iterator[Batch]:
    result = scope.conn.execute(text(sql).execution_options(yield_per=batch_rows), params)
    try:
        columns = tuple(result.keys())
        for partition in result.partitions(batch_rows):
            yield columns, [tuple(row) for row in partition]
    finally:
        result.close()


_CHARTS: Final = """
SELECT c.id::text AS chart_id, c.status, c.specialty, c.difficulty::int AS difficulty, c.record_type,
       c.encounter_class, c.encounter_type, c.encounter_reason, c.encounter_start, c.encounter_end,
       c.patient_age_years, c.patient_sex, c.discharged_alive, c.provider_name, c.facility_name,
       c.assignee_id::text AS coder_id, u.name AS coder_name, c.assigned_at, c.submitted_at, c.completed_at,
       c.version, c.import_job_id::text AS import_job_id, c.created_at, c.updated_at,
       (SELECT p.code FROM chart_codes AS p
         WHERE p.chart_id = c.id AND p.org_id = c.org_id AND p.is_principal) AS principal_diagnosis,
       (SELECT string_agg(d.code, ' ' ORDER BY d.sequence) FROM chart_codes AS d
         WHERE d.chart_id = c.id AND d.org_id = c.org_id AND d.kind = 'diagnosis') AS diagnosis_codes,
       (SELECT string_agg(x.code, ' ' ORDER BY x.sequence) FROM chart_codes AS x
         WHERE x.chart_id = c.id AND x.org_id = c.org_id AND x.kind = 'procedure') AS procedure_codes
  FROM charts AS c
  LEFT JOIN users AS u ON u.id = c.assignee_id AND u.org_id = c.org_id
 WHERE {where}
 ORDER BY c.created_at, c.id
"""


def charts(scope: Scope, filters: ExportFilter, *, batch_rows: int) -> Iterator[Batch]:
    """Charts (no payload, no clinical note) with their coder and codes; dates filter the encounter start."""
    clauses = ["c.org_id = :org"]
    params: dict[str, Any] = {"org": scope.require_org()}
    _common(clauses, params, filters, date_column="c.encounter_start", specialty="c.specialty", coder="c.assignee_id")
    if filters.statuses:
        clauses.append("c.status = ANY(:statuses)")
        params["statuses"] = list(filters.statuses)
    return _stream(scope, _CHARTS.format(where=" AND ".join(clauses)), params, batch_rows)


_AUDITS: Final = """
SELECT a.id::text AS audit_id, a.chart_id::text AS chart_id, a.submission_no, c.specialty,
       c.difficulty::int AS difficulty, a.coder_id::text AS coder_id, uc.name AS coder_name,
       a.supervisor_id::text AS supervisor_id, us.name AS supervisor_name, a.claimed_at, a.decided_at,
       a.decision, a.code_accuracy::float8 AS code_accuracy, a.principal_correct, a.drg_correct,
       a.drg_before, a.drg_after, a.weight_before::float8 AS weight_before, a.weight_after::float8 AS weight_after,
       (SELECT count(*) FROM audit_findings AS f
         WHERE f.audit_id = a.id AND f.org_id = a.org_id AND f.verdict <> 'correct')::int AS findings,
       (SELECT max(fb.acknowledged_at) FROM feedback AS fb
         WHERE fb.audit_id = a.id AND fb.org_id = a.org_id) AS feedback_acknowledged_at
  FROM audits AS a
  JOIN charts AS c ON c.id = a.chart_id AND c.org_id = a.org_id
  LEFT JOIN users AS uc ON uc.id = a.coder_id AND uc.org_id = a.org_id
  LEFT JOIN users AS us ON us.id = a.supervisor_id AND us.org_id = a.org_id
 WHERE {where}
 ORDER BY a.claimed_at, a.id
"""

AUDIT_STATUSES: Final = {
    "approve": "a.decision = 'approve'",
    "return": "a.decision = 'return'",
    "open": "a.decision IS NULL",
}


def audits(scope: Scope, filters: ExportFilter, *, batch_rows: int) -> Iterator[Batch]:
    """Supervisor audits with scores; dates filter the decision time; statuses: approve, return, open."""
    clauses = ["a.org_id = :org"]
    params: dict[str, Any] = {"org": scope.require_org()}
    _common(clauses, params, filters, date_column="a.decided_at", specialty="c.specialty", coder="a.coder_id")
    if filters.statuses:
        clauses.append("(" + " OR ".join(AUDIT_STATUSES[s] for s in filters.statuses) + ")")
    return _stream(scope, _AUDITS.format(where=" AND ".join(clauses)), params, batch_rows)


_METRICS: Final = """
SELECT m.metric, m.bucket_start, m.dimension, m.value, m.sample_size, m.updated_at
  FROM metric_rollups AS m
 WHERE {where}
 ORDER BY m.metric, m.bucket_start, m.dimension
"""


def metrics(scope: Scope, filters: ExportFilter, *, batch_rows: int) -> Iterator[Batch]:
    """Whatever rows the rollup job has written; dates filter the bucket start."""
    clauses = ["m.org_id = :org"]
    params: dict[str, Any] = {"org": scope.require_org()}
    _common(clauses, params, filters, date_column="m.bucket_start", specialty=None, coder=None)
    if filters.metric is not None:
        clauses.append("m.metric = :metric")
        params["metric"] = filters.metric
    return _stream(scope, _METRICS.format(where=" AND ".join(clauses)), params, batch_rows)


def _common(
    clauses: list[str],
    params: dict[str, Any],
    filters: ExportFilter,
    *,
    date_column: str,
    specialty: str | None,
    coder: str | None,
) -> None:
    # Column names come from the literals above, never from the request.
    if filters.start is not None:
        clauses.append(f"{date_column} >= :start")
        params["start"] = filters.start
    if filters.end is not None:
        clauses.append(f"{date_column} < :end")
        params["end"] = filters.end
    if specialty is not None and filters.specialty is not None:
        clauses.append(f"{specialty} = :specialty")
        params["specialty"] = filters.specialty
    if coder is not None and filters.coder_id is not None:
        clauses.append(f"{coder} = :coder")
        params["coder"] = filters.coder_id
