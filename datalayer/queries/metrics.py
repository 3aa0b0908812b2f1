"""Metrics: one organisation's rows as polars frames for ``pipelines``, and the ``metric_rollups`` table.

Reads run in the caller's tenant scope like every query (RLS applies); each returns a frame of
the schema the caller passes (``pipelines.frames.SCHEMAS``: the pipelines own the contract, this
module only fills it), ids as text, times in UTC. ``read_frames`` reads them all; with ``horizon`` it reads only what changed since then, plus the whole history of the charts
that did (their submissions, audits, findings and validation rows), so metrics of the days after
``horizon`` can be recomputed exactly without reading years of data.

``analyst_snapshot`` is the read-only connection for analysts and notebooks: a ``REPEATABLE READ
READ ONLY`` transaction in one organisation's scope, so every frame comes from one consistent
snapshot and any write is refused by PostgreSQL itself.

``replace_rollups`` is the rollup job's write: an idempotent upsert (``INSERT … ON CONFLICT DO
UPDATE``, unchanged rows untouched) of a computed set, then the deletion of rows of the same
metrics and buckets that the set no longer has. ``lock_rollups`` serialises two workers
recomputing the same organisation (a transaction-level advisory lock, released at commit).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import polars as pl
from sqlalchemy import text

from datalayer.locks import lock_key
from datalayer.scope import Scope, get_engine

# Rows that depend on a chart are read for the charts changed since the horizon (every change to a
# chart — save, submission, audit decision, assignment — sets its updated_at).
_TOUCHED: Final = "SELECT c2.id FROM charts AS c2 WHERE c2.org_id = :org AND c2.updated_at >= :horizon"

_CHARTS: Final = """
SELECT c.id::text AS chart_id, c.status, c.specialty, c.encounter_class, c.difficulty::bigint AS difficulty,
       c.assignee_id::text AS assignee_id, c.created_at, c.assigned_at, c.submitted_at, c.completed_at,
       (SELECT max(a.decided_at) FROM audits AS a
         WHERE a.org_id = c.org_id AND a.chart_id = c.id AND a.decision = 'return') AS returned_at,
       c.updated_at
  FROM charts AS c
 WHERE c.org_id = :org {since}
 ORDER BY c.created_at, c.id"""

# Every submission is a chart_submitted row of the audit log (app.services.charts.submit). Charts
# that carry a submitted_at but no such row (written by other means, e.g. bulk loads) count once,
# at their submitted_at, by their assignee.
_SUBMISSIONS: Final = """
SELECT l.object_id AS chart_id, l.actor_id::text AS coder_id, l.created_at AS submitted_at,
       (l.details ->> 'version')::bigint AS version,
       coalesce((l.details ->> 'resubmission')::boolean, false) AS resubmission
  FROM audit_log AS l
 WHERE l.org_id = :org AND l.action = 'chart_submitted' AND l.object_type = 'chart' AND l.outcome = 'success' {since_log}
UNION ALL
SELECT c.id::text, c.assignee_id::text, c.submitted_at, NULL::bigint, false
  FROM charts AS c
 WHERE c.org_id = :org AND c.submitted_at IS NOT NULL {since}
   AND NOT EXISTS (SELECT 1 FROM audit_log AS l2
                    WHERE l2.org_id = c.org_id AND l2.object_type = 'chart' AND l2.object_id = c.id::text
                      AND l2.action = 'chart_submitted')
 ORDER BY 3, 1"""

_AUDITS: Final = """
SELECT a.id::text AS audit_id, a.chart_id::text AS chart_id, a.submission_no::bigint AS submission_no,
       a.supervisor_id::text AS supervisor_id, a.coder_id::text AS coder_id, a.claimed_at, a.decided_at,
       a.decision, a.code_accuracy::float8 AS code_accuracy, a.principal_correct, a.drg_correct
  FROM audits AS a
 WHERE a.org_id = :org {since}
 ORDER BY a.claimed_at, a.id"""

_FINDINGS: Final = """
SELECT f.id::text AS finding_id, f.audit_id::text AS audit_id, f.chart_code_id::text AS chart_code_id,
       f.verdict, f.category, f.severity, f.disputed_at IS NOT NULL AS disputed, f.resolution
  FROM audit_findings AS f
  JOIN audits AS a ON a.id = f.audit_id AND a.org_id = f.org_id
 WHERE f.org_id = :org {since}
 ORDER BY f.audit_id, f.created_at, f.id"""

_FEEDBACK: Final = """
SELECT fb.id::text AS feedback_id, fb.audit_id::text AS audit_id, fb.chart_id::text AS chart_id,
       fb.coder_id::text AS coder_id, fb.supervisor_id::text AS supervisor_id, fb.created_at, fb.acknowledged_at
  FROM feedback AS fb
 WHERE fb.org_id = :org {since}
 ORDER BY fb.created_at, fb.id"""

_VALIDATION: Final = """
SELECT v.chart_id::text AS chart_id, v.chart_version::bigint AS chart_version, v.rule_id, v.category, v.severity,
       v.overridable, v.overridden, v.created_at
  FROM validation_results AS v
 WHERE v.org_id = :org {since}
 ORDER BY v.chart_id, v.chart_version, v.rule_id"""

_PEOPLE: Final = """
SELECT u.id::text AS user_id, u.name, u.role, u.is_active
  FROM users AS u
 WHERE u.org_id = :org
 ORDER BY u.name, u.id"""

# (frame, query, {placeholder: filter used when a horizon is given})
_READS: Final[tuple[tuple[str, str, dict[str, str]], ...]] = (
    ("charts", _CHARTS, {"since": "AND c.updated_at >= :horizon"}),
    (
        "submissions",
        _SUBMISSIONS,
        {
            "since_log": f"AND l.object_id IN (SELECT c2.id::text FROM ({_TOUCHED}) AS c2)",
            "since": "AND c.updated_at >= :horizon",
        },
    ),
    ("audits", _AUDITS, {"since": f"AND a.chart_id IN ({_TOUCHED})"}),
    ("findings", _FINDINGS, {"since": f"AND a.chart_id IN ({_TOUCHED})"}),
    ("feedback", _FEEDBACK, {"since": "AND fb.created_at >= :horizon"}),
    ("validation", _VALIDATION, {"since": f"AND v.chart_id IN ({_TOUCHED})"}),
    ("people", _PEOPLE, {}),
)


FRAMES: Final = tuple(name for name, _, _ in _READS)


def read_frame(scope: Scope, name: str, schema: pl.Schema, *, horizon: datetime | None = None) -> pl.DataFrame:
    """One frame (``charts``, ``submissions``, ``audits``, ``findings``, ``feedback``,
    ``validation`` or ``people``) of the scope's organisation as ``schema`` (the query's columns,
    in order), with that schema even when empty."""
    for frame, query, filters in _READS:
        if frame == name:
            sql = query.format(**{key: (value if horizon is not None else "") for key, value in filters.items()})
            params: dict[str, Any] = {"org": scope.require_org()}
            if horizon is not None:
                params["horizon"] = horizon
            result = scope.conn.execute(text(sql), params)
            return pl.DataFrame([tuple(r) for r in result], schema=schema, orient="row")
    raise ValueError(f"unknown frame {name!r}")


def read_frames(
    scope: Scope, schemas: Mapping[str, pl.Schema], *, horizon: datetime | None = None
) -> dict[str, pl.DataFrame]:
    """Every frame of the scope's organisation, by name (see the module docstring for ``horizon``)."""
    return {name: read_frame(scope, name, schemas[name], horizon=horizon) for name in FRAMES}


@contextmanager
def analyst_snapshot(org_id: UUID) -> Iterator[Scope]:
    """A read-only, repeatable-read transaction in ``org_id``'s scope (analysts, notebooks,
    exports of frames): one snapshot for every read, and PostgreSQL refuses any write in it."""
    with (
        get_engine().connect().execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True) as conn,
        conn.begin(),
    ):
        conn.execute(text("SELECT set_config('app.org_id', :org, true)"), {"org": str(org_id)})
        yield Scope(conn=conn, org_id=org_id)


def lock_rollups(scope: Scope) -> None:
    """Wait for, then hold until the transaction ends, the organisation's rollup lock."""
    key = lock_key(f"rollups:{scope.require_org()}")
    scope.conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def replace_rollups(
    scope: Scope, rows: pl.DataFrame, *, metrics: Sequence[str], since: datetime | None, now: datetime
) -> tuple[int, int]:
    """Make the organisation's rows of ``metrics`` from ``since`` on (all, when None) exactly
    ``rows`` (columns ``metric``, ``bucket_start``, ``dimension``, ``value``, ``sample_size``):
    upsert them in key order, leave unchanged rows as they are, delete the others. Returns
    (rows inserted or changed, rows deleted)."""
    org = scope.require_org()
    ordered = rows.sort("metric", "bucket_start", "dimension")
    arrays = {
        "metric": ordered["metric"].to_list(),
        "bucket": ordered["bucket_start"].to_list(),
        "dimension": ordered["dimension"].to_list(),
        "value": ordered["value"].to_list(),
        "sample": ordered["sample_size"].to_list(),
    }
    new_rows = """unnest(CAST(:metric AS text[]), CAST(:bucket AS timestamptz[]), CAST(:dimension AS text[]),
                         CAST(:value AS float8[]), CAST(:sample AS integer[]))
                  AS n(metric, bucket_start, dimension, value, sample_size)"""
    changed = scope.conn.execute(
        text(
            f"""INSERT INTO metric_rollups AS r (org_id, metric, bucket_start, dimension, value, sample_size, updated_at)
                SELECT :org, n.metric, n.bucket_start, n.dimension, n.value, n.sample_size, :now
                  FROM {new_rows}
                 ORDER BY n.metric, n.bucket_start, n.dimension
                ON CONFLICT ON CONSTRAINT metric_rollups_pk DO UPDATE
                   SET value = EXCLUDED.value, sample_size = EXCLUDED.sample_size, updated_at = EXCLUDED.updated_at
                 WHERE (r.value, r.sample_size) IS DISTINCT FROM (EXCLUDED.value, EXCLUDED.sample_size)"""
        ),
        {"org": org, "now": now, **arrays},
    ).rowcount
    window = "AND r.bucket_start >= :since" if since is not None else ""
    deleted = scope.conn.execute(
        text(
            f"""DELETE FROM metric_rollups AS r
                 WHERE r.org_id = :org AND r.metric = ANY(CAST(:metrics AS text[])) {window}
                   AND NOT EXISTS (SELECT 1 FROM {new_rows}
                                    WHERE n.metric = r.metric AND n.bucket_start = r.bucket_start
                                      AND n.dimension = r.dimension)"""
        ),
        {"org": org, "metrics": list(metrics), "since": since, **arrays},
    ).rowcount
    return int(changed), int(deleted)


def rollup_count(scope: Scope) -> int:
    """How many rollup rows the organisation has (0: never computed)."""
    row = scope.conn.execute(
        text("SELECT count(*) FROM metric_rollups AS r WHERE r.org_id = :org"), {"org": scope.require_org()}
    ).scalar_one()
    return int(row)


def read_rollups(
    scope: Scope,
    *,
    metrics: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    dimension_prefix: str | None = None,
) -> pl.DataFrame:
    """The organisation's stored rollup rows (``metric``, ``bucket_start``, ``dimension``,
    ``value``, ``sample_size``, ``updated_at``), optionally for some metrics, buckets in
    [``since``, ``until``) and dimensions starting with ``dimension_prefix`` (``""`` alone: the
    organisation-wide rows)."""
    clauses = ["r.org_id = :org"]
    params: dict[str, Any] = {"org": scope.require_org()}
    if metrics is not None:
        clauses.append("r.metric = ANY(CAST(:metrics AS text[]))")
        params["metrics"] = list(metrics)
    if since is not None:
        clauses.append("r.bucket_start >= :since")
        params["since"] = since
    if until is not None:
        clauses.append("r.bucket_start < :until")
        params["until"] = until
    if dimension_prefix == "":
        clauses.append("r.dimension = ''")
    elif dimension_prefix is not None:
        clauses.append("starts_with(r.dimension, :prefix)")
        params["prefix"] = dimension_prefix
    result = scope.conn.execute(
        text(
            "SELECT r.metric, r.bucket_start, r.dimension, r.value, r.sample_size::bigint, r.updated_at "
            f"FROM metric_rollups AS r WHERE {' AND '.join(clauses)} ORDER BY r.metric, r.bucket_start, r.dimension"
        ),
        params,
    )
    schema = pl.Schema(
        {
            "metric": pl.String(),
            "bucket_start": pl.Datetime("us", "UTC"),
            "dimension": pl.String(),
            "value": pl.Float64(),
            "sample_size": pl.Int64(),
            "updated_at": pl.Datetime("us", "UTC"),
        }
    )
    return pl.DataFrame([tuple(r) for r in result], schema=schema, orient="row")
