"""OpenAPI schemas and paths of ``/api/v1/events`` and ``/api/v1/export/...`` (merged into
``app.http.openapi.DOCUMENT``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from app.services.exports import AUDIT_STATUSES, CHART_STATUSES, DATASETS, MEDIA_TYPES

_COUNT: Final = {"type": "integer", "minimum": 0}

SCHEMAS: Final[dict[str, Any]] = {
    "LiveCounters": {
        "type": "object",
        "required": ["org_id", "as_of", "aging_hours", "queue", "today", "imports"],
        "properties": {
            "org_id": {"type": "string", "format": "uuid"},
            "as_of": {"type": "string", "format": "date-time", "description": "When they were counted"},
            "aging_hours": {"type": "integer", "description": "QUEUE_AGING_HOURS"},
            "queue": {
                "type": "object",
                "required": [
                    "draft",
                    "pending_audit",
                    "returned",
                    "completed",
                    "total",
                    "open",
                    "unassigned",
                    "aging",
                    "audit_aging",
                ],
                "properties": {
                    "draft": _COUNT,
                    "pending_audit": _COUNT,
                    "returned": _COUNT,
                    "completed": _COUNT,
                    "total": _COUNT,
                    "open": {**_COUNT, "description": "draft + returned"},
                    "unassigned": {**_COUNT, "description": "Drafts with no coder"},
                    "aging": {**_COUNT, "description": "Drafts imported more than aging_hours ago"},
                    "audit_aging": {**_COUNT, "description": "Charts waiting for audit for more than aging_hours"},
                },
            },
            "today": {
                "type": "object",
                "description": "Since midnight UTC",
                "required": ["submitted", "approved", "returned", "imported"],
                "properties": {
                    "submitted": {**_COUNT, "description": "Submissions, resubmissions included"},
                    "approved": _COUNT,
                    "returned": _COUNT,
                    "imported": {**_COUNT, "description": "Charts created by imports started today"},
                },
            },
            "imports": {
                "type": "object",
                "required": ["active"],
                "properties": {"active": {**_COUNT, "description": "Import jobs queued or running"}},
            },
        },
    },
}

_DATE = {"type": "string", "format": "date"}


def _export_parameters() -> list[dict[str, Any]]:
    every = sorted({name for spec in DATASETS.values() for name in spec.filters})
    described = {
        "from": (
            "First day (inclusive) of the dataset's date: charts encounter start, audits decision time, "
            "metrics bucket start",
            _DATE,
        ),
        "to": ("Last day (inclusive)", _DATE),
        "specialty": ("charts, audits: the chart's specialty key, e.g. primary_care", {"type": "string"}),
        "coder": (
            "charts: the assigned coder; audits: the audited coder (a user id)",
            {"type": "string", "format": "uuid"},
        ),
        "status": (
            f"Comma-separated. charts: {', '.join(CHART_STATUSES)}; audits: {', '.join(AUDIT_STATUSES)}",
            {"type": "string"},
        ),
        "metric": ("metrics: one metric name", {"type": "string", "maxLength": 100}),
    }
    params: list[dict[str, Any]] = [
        {"name": "dataset", "in": "path", "required": True, "schema": {"type": "string", "enum": list(DATASETS)}},
        {"name": "format", "in": "path", "required": True, "schema": {"type": "string", "enum": list(MEDIA_TYPES)}},
    ]
    for name in every:
        text, schema = described[name]
        params.append({"name": name, "in": "query", "required": False, "description": text, "schema": schema})
    return params


def paths(
    errors: Callable[..., dict[str, Any]], json: Callable[[dict[str, Any], str], dict[str, Any]]
) -> dict[str, Any]:
    return {
        "/api/v1/events": {
            "get": {
                "summary": "The organisation's live queue counters: a Server-Sent Events stream, or one JSON snapshot",
                "description": (
                    "With `Accept: text/event-stream` (every EventSource sends it): `event: counters` at once and "
                    "on every change (data: a LiveCounters object), a `: keep-alive` comment every "
                    "SESSION_WATCHDOG_SECONDS while the session is re-checked, and `event: end` "
                    '(data `{"reason": "session_ended"}`) when the session is revoked or expires. Response header '
                    "`X-Accel-Buffering: no`. Any other Accept gets the counters once as JSON. Managers and analysts."
                ),
                "responses": {
                    "200": {
                        "description": "The stream, or the counters",
                        "content": {
                            "text/event-stream": {"schema": {"type": "string"}},
                            "application/json": {"schema": {"$ref": "#/components/schemas/LiveCounters"}},
                        },
                    },
                    **errors(401, 403),
                },
            }
        },
        "/api/v1/export/{dataset}.{format}": {
            "get": {
                "summary": "Download the organisation's charts, audits or metric rollups as CSV or Parquet (manager)",
                "description": (
                    "Streamed (chunked), one consistent snapshot. Every export is written to the audit log before "
                    "the first byte is sent and counts against EXPORT_LIMIT_USER and EXPORT_LIMIT_ORG (429 beyond; "
                    "503 when the limiter is unavailable). CSV text cells that start with = + - @, tab or carriage "
                    "return are prefixed with a single quote (formula injection). charts: no FHIR payload, no "
                    "clinical note. A filter the dataset does not have, or an unknown parameter, is 400."
                ),
                "parameters": _export_parameters(),
                "responses": {
                    "200": {
                        "description": "The file (Content-Disposition: attachment)",
                        "content": {
                            "text/csv": {"schema": {"type": "string"}},
                            "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
                        },
                    },
                    "429": {
                        "description": "Too many exports; wait and retry",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    },
                    **errors(400, 401, 403),
                },
            }
        },
    }
