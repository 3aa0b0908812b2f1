"""OpenAPI schemas and paths of the coder's side of an audit: feedback, acknowledgement, disputes
and their resolution (merged into ``app.http.openapi.DOCUMENT``)."""

from __future__ import annotations

from typing import Any, Final

from app.services.audits import MAX_TEXT, ROW_VERDICTS, SEVERITIES
from app.services.feedback import MAX_PAGE_SIZE

_UUID: Final = {"type": "string", "format": "uuid"}
_TIME: Final = {"type": ["string", "null"], "format": "date-time"}
_TEXT_OR_NULL: Final = {"type": ["string", "null"]}
_PERSON: Final = {"type": "object", "properties": {"id": _UUID, "name": _TEXT_OR_NULL}}
_CHART: Final = {
    "type": "object",
    "required": ["id", "link", "encounter"],
    "properties": {
        "id": _UUID,
        "link": {"type": "string", "description": "The chart's page, /chart?id=…"},
        "encounter": {
            "type": "object",
            "properties": {
                "class": _TEXT_OR_NULL,
                "type": _TEXT_OR_NULL,
                "reason": _TEXT_OR_NULL,
                "start": _TIME,
            },
        },
    },
}

SCHEMAS: Final[dict[str, Any]] = {
    "Finding": {
        "type": "object",
        "required": ["id", "audit_id", "verdict", "disputable"],
        "properties": {
            "id": _UUID,
            "audit_id": _UUID,
            "row": {
                "type": ["object", "null"],
                "description": (
                    "The coder's code row the verdict is on, with its current code (the coder may have "
                    "changed it since); null for a missing code or a row since removed"
                ),
                "properties": {
                    "chart_code_id": _UUID,
                    "code": _TEXT_OR_NULL,
                    "kind": {"type": ["string", "null"], "enum": ["diagnosis", "procedure", None]},
                    "sequence": {"type": ["integer", "null"]},
                },
            },
            "verdict": {"type": "string", "enum": sorted({*ROW_VERDICTS, "missing"})},
            "expected_code": {**_TEXT_OR_NULL, "description": "The code that should have been used (or was missed)"},
            "category": _TEXT_OR_NULL,
            "severity": {"type": ["string", "null"], "enum": [*sorted(SEVERITIES), None]},
            "note": {**_TEXT_OR_NULL, "description": "The auditor's note"},
            "disputable": {"type": "boolean", "description": "Not a correct verdict and not disputed yet"},
            "dispute": {
                "type": ["object", "null"],
                "properties": {
                    "status": {"type": "string", "enum": ["open", "upheld", "overturned"]},
                    "comment": _TEXT_OR_NULL,
                    "disputed_at": _TIME,
                    "resolution": {"type": ["string", "null"], "enum": ["upheld", "overturned", None]},
                    "resolution_note": _TEXT_OR_NULL,
                    "resolved_at": _TIME,
                    "resolved_by": {**_TEXT_OR_NULL, "description": "The supervisor's name"},
                },
            },
        },
    },
    "FeedbackItem": {
        "type": "object",
        "description": (
            "One decided audit of the caller's work with training feedback or at least one finding that is "
            "not `correct`"
        ),
        "required": ["id", "audit_id", "chart", "decision", "scores", "supervisor", "findings"],
        "properties": {
            "id": {
                "type": ["string", "null"],
                "format": "uuid",
                "description": "The feedback id to acknowledge; null when the supervisor wrote no feedback text",
            },
            "audit_id": _UUID,
            "chart": _CHART,
            "submission_no": {"type": "integer", "minimum": 1},
            "decision": {"type": "string", "enum": ["approve", "return"]},
            "decided_at": {"type": "string", "format": "date-time"},
            "scores": {
                "type": "object",
                "properties": {
                    "code_accuracy": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                    "principal_correct": {"type": ["boolean", "null"]},
                    "drg_correct": {"type": ["boolean", "null"]},
                },
            },
            "supervisor": _PERSON,
            "body": {**_TEXT_OR_NULL, "description": "The training feedback text"},
            "acknowledged_at": _TIME,
            "findings": {"type": "array", "items": {"$ref": "#/components/schemas/Finding"}},
        },
    },
    "FeedbackList": {
        "type": "object",
        "required": ["items", "total", "page", "page_size", "unacknowledged", "open_disputes"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/FeedbackItem"}},
            "total": {"type": "integer"},
            "page": {"type": "integer"},
            "page_size": {"type": "integer"},
            "unacknowledged": {"type": "integer", "description": "Feedback texts not acknowledged yet (all pages)"},
            "open_disputes": {"type": "integer", "description": "The caller's disputes not resolved yet"},
        },
    },
    "DisputedFindings": {
        "type": "object",
        "required": ["items", "total", "page", "page_size"],
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["finding", "chart", "coder", "supervisor"],
                    "properties": {
                        "finding": {"$ref": "#/components/schemas/Finding"},
                        "chart": _CHART,
                        "submission_no": {"type": "integer"},
                        "decision": {"type": "string", "enum": ["approve", "return"]},
                        "decided_at": {"type": "string", "format": "date-time"},
                        "coder": _PERSON,
                        "supervisor": {**_PERSON, "description": "The supervisor who audited"},
                    },
                },
            },
            "total": {"type": "integer"},
            "page": {"type": "integer"},
            "page_size": {"type": "integer"},
        },
    },
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _closed_object(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    """An object schema of these properties and no others."""
    return {"type": "object", "additionalProperties": False, "required": required, "properties": properties}


def _paging(default: int) -> list[dict[str, Any]]:
    return [
        {
            "name": "page",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "default": 1},
            "description": "1-based page",
        },
        {
            "name": "page_size",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": default},
            "description": "Items per page",
        },
    ]


def paths(errors: Any, json: Any) -> dict[str, Any]:
    """The feedback paths, built with ``openapi``'s own error and body helpers."""
    write: list[dict[str, list[str]]] = [{"session": [], "csrf": []}]

    def id_param(name: str) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "schema": _UUID}

    return {
        "/api/v1/feedback": {
            "get": {
                "summary": "Your feedback received: to acknowledge first, then newest first (coder)",
                "description": (
                    "Each decided audit of your work with training feedback or findings, with the chart, the "
                    "decision, the scores, the supervisor, and every finding with its dispute and resolution. "
                    "Only your own: coders only."
                ),
                "parameters": _paging(20),
                "responses": {"200": json(_ref("FeedbackList")), **errors(400, 401, 403)},
            }
        },
        "/api/v1/feedback/{feedback_id}/acknowledge": {
            "parameters": [id_param("feedback_id")],
            "post": {
                "summary": "Acknowledge feedback you received (coder; idempotent)",
                "description": (
                    "Send an empty JSON object. Acknowledging again answers 200 with `changed: false`. "
                    "Another coder's or organisation's feedback answers 404, like an unknown id."
                ),
                "security": write,
                "requestBody": _json_body({"type": "object"}),
                "responses": {
                    "200": json(
                        {
                            "type": "object",
                            "required": ["changed", "feedback"],
                            "properties": {
                                "changed": {"type": "boolean", "description": "False: it was acknowledged already"},
                                "feedback": _ref("FeedbackItem"),
                            },
                        }
                    ),
                    **errors(400, 401, 403, 404, 415),
                },
            },
        },
        "/api/v1/findings/{finding_id}/dispute": {
            "parameters": [id_param("finding_id")],
            "post": {
                "summary": "Dispute a finding of one of your audits, with a comment (coder)",
                "description": (
                    "The finding goes to the supervisors' disputed list and the supervisor who audited is "
                    "notified. A finding already disputed, or a `correct` verdict, answers 409; another "
                    "coder's or organisation's finding answers 404."
                ),
                "security": write,
                "requestBody": _json_body(
                    _closed_object(
                        ["comment"],
                        {
                            "comment": {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": MAX_TEXT,
                                "description": "Why the finding is wrong (blank is refused)",
                            }
                        },
                    )
                ),
                "responses": {"200": json(_ref("Finding")), **errors(400, 401, 403, 404, 409, 415)},
            },
        },
        "/api/v1/findings/disputed": {
            "get": {
                "summary": "The organisation's disputed findings waiting for a supervisor, oldest first",
                "description": "Supervisors and managers.",
                "parameters": _paging(50),
                "responses": {"200": json(_ref("DisputedFindings")), **errors(400, 401, 403)},
            }
        },
        "/api/v1/findings/{finding_id}/resolve": {
            "parameters": [id_param("finding_id")],
            "post": {
                "summary": "Resolve a disputed finding: upheld or overturned (supervisor)",
                "description": (
                    "The resolution and its note are recorded on the finding and the coder is notified; the "
                    "audit's stored scores do not change. A finding not disputed, or already resolved, "
                    "answers 409; another organisation's finding answers 404."
                ),
                "security": write,
                "requestBody": _json_body(
                    _closed_object(
                        ["resolution"],
                        {
                            "resolution": {"type": "string", "enum": ["upheld", "overturned"]},
                            "note": {"type": ["string", "null"], "maxLength": MAX_TEXT},
                        },
                    )
                ),
                "responses": {"200": json(_ref("Finding")), **errors(400, 401, 403, 404, 409, 415)},
            },
        },
    }
