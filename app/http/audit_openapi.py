"""OpenAPI schemas and paths of the supervisor audit API (merged into ``app.http.openapi.DOCUMENT``)."""

from __future__ import annotations

from typing import Any, Final

from app.http.audits import MAX_ITEMS
from app.services.audits import CLAIM_MINUTES, MAX_PAGE_SIZE, ROW_VERDICTS, SEVERITIES
from app.services.sampling import MAX_NEW_CODER_DAYS, REASON_LABELS, AuditReason

_UUID: Final = {"type": "string", "format": "uuid"}
_TIME: Final = {"type": ["string", "null"], "format": "date-time"}
_TEXT_OR_NULL: Final = {"type": ["string", "null"]}
_SEVERITY: Final = {"type": ["string", "null"], "enum": [*sorted(SEVERITIES), None]}
_DRG: Final = {
    "type": "object",
    "description": "MS-DRG and relative weight of the coder's codes (before) and the corrected codes (after)",
    "properties": {
        side: {
            "type": "object",
            "properties": {"ms_drg": {"type": ["integer", "null"]}, "weight": {"type": ["number", "null"]}},
        }
        for side in ("before", "after")
    },
}

SCHEMAS: Final[dict[str, Any]] = {
    "Claim": {
        "type": "object",
        "required": ["audit_id", "chart_id", "submission_no", "version", "expires_at"],
        "properties": {
            "audit_id": _UUID,
            "chart_id": _UUID,
            "submission_no": {"type": "integer", "minimum": 1, "description": "Send it back with the audit"},
            "version": {"type": "integer", "minimum": 1},
            "expires_at": {"type": "string", "format": "date-time"},
            "taken_over_from": {
                "type": ["string", "null"],
                "format": "uuid",
                "description": "The supervisor whose expired claim this one replaced",
            },
        },
    },
    "AuditInput": {
        "type": "object",
        "additionalProperties": False,
        "required": ["submission_no", "verdicts", "decision"],
        "properties": {
            "submission_no": {"type": "integer", "minimum": 1},
            "verdicts": {
                "type": "array",
                "maxItems": MAX_ITEMS,
                "description": "Exactly one per code row of the chart",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["chart_code_id", "verdict"],
                    "properties": {
                        "chart_code_id": _UUID,
                        "verdict": {"type": "string", "enum": sorted(ROW_VERDICTS)},
                        "expected_code": {**_TEXT_OR_NULL, "description": "Required for wrong_code"},
                        "category": _TEXT_OR_NULL,
                        "severity": _SEVERITY,
                        "note": _TEXT_OR_NULL,
                    },
                },
            },
            "missing": {
                "type": "array",
                "maxItems": MAX_ITEMS,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["code"],
                    "properties": {
                        "code": {"type": "string", "maxLength": 16},
                        "kind": {"type": "string", "enum": ["diagnosis", "procedure"], "default": "diagnosis"},
                        "is_principal": {"type": "boolean", "default": False},
                        "category": _TEXT_OR_NULL,
                        "severity": _SEVERITY,
                        "note": _TEXT_OR_NULL,
                    },
                },
            },
            "feedback": {**_TEXT_OR_NULL, "description": "Training feedback; required to return"},
            "decision": {"type": "string", "enum": ["approve", "return"]},
        },
    },
    "AuditResult": {
        "type": "object",
        "required": ["audit_id", "chart_id", "submission_no", "decision", "scores", "drg"],
        "properties": {
            "audit_id": _UUID,
            "chart_id": _UUID,
            "submission_no": {"type": "integer"},
            "decision": {"type": "string", "enum": ["approve", "return"]},
            "scores": {
                "type": "object",
                "properties": {
                    "code_accuracy": {
                        "type": "number",
                        "minimum": 0,
                        "maximum": 1,
                        "description": "Coder's correct codes / codes in the reviewer's final list",
                    },
                    "coder_correct": {"type": "integer"},
                    "final_count": {"type": "integer"},
                    "principal_correct": {"type": "boolean"},
                    "drg_correct": {"type": ["boolean", "null"]},
                },
            },
            "drg": _DRG,
            "finding_ids": {"type": "array", "items": _UUID},
            "feedback_id": {"type": ["string", "null"], "format": "uuid"},
        },
    },
    "Audit": {
        "type": "object",
        "required": ["id", "chart_id", "submission_no", "supervisor_id", "coder_id", "decision"],
        "properties": {
            "id": _UUID,
            "chart_id": _UUID,
            "submission_no": {"type": "integer"},
            "supervisor_id": _UUID,
            "coder_id": _UUID,
            "claimed_at": {"type": "string", "format": "date-time"},
            "claim_expires_at": {"type": "string", "format": "date-time"},
            "code_accuracy": {"type": ["number", "null"]},
            "principal_correct": {"type": ["boolean", "null"]},
            "drg_correct": {"type": ["boolean", "null"]},
            "drg": _DRG,
            "decision": {"type": ["string", "null"], "enum": ["approve", "return", None]},
            "decided_at": _TIME,
        },
    },
    "ReviewQueue": {
        "type": "object",
        "required": ["items", "total", "page", "page_size"],
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "chart_id": _UUID,
                        "version": {"type": "integer"},
                        "coder": {"type": ["object", "null"], "properties": {"id": _UUID, "name": _TEXT_OR_NULL}},
                        "specialty": _TEXT_OR_NULL,
                        "difficulty": {"type": ["integer", "null"]},
                        "submitted_at": _TIME,
                        "validation": {
                            "type": "object",
                            "properties": {n: {"type": "integer"} for n in ("errors", "warnings", "overrides")},
                        },
                        "code_count": {"type": "integer"},
                        "audit_reason": {
                            "type": "string",
                            "enum": [r.value for r in AuditReason],
                            "description": "Why the chart was sampled for audit (the first sampling rule it met)",
                        },
                        "audit_reason_label": {
                            "type": "string",
                            "description": "The reason in words: " + ", ".join(REASON_LABELS.values()),
                        },
                        "claim": {
                            "type": ["object", "null"],
                            "description": "A live claim (expired claims are not shown)",
                            "properties": {
                                "by": {"type": "object", "properties": {"id": _UUID, "name": _TEXT_OR_NULL}},
                                "expires_at": {"type": "string", "format": "date-time"},
                            },
                        },
                    },
                },
            },
            "total": {"type": "integer"},
            "page": {"type": "integer"},
            "page_size": {"type": "integer"},
        },
    },
    "AuditSamplingSettings": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "review_all",
            "random_percent",
            "always_new_coders",
            "new_coder_days",
            "always_with_overrides",
            "always_min_difficulty",
        ],
        "properties": {
            "review_all": {"type": "boolean", "description": "Audit every submitted chart (the default)"},
            "random_percent": {
                "type": "integer",
                "minimum": 0,
                "maximum": 100,
                "description": "Otherwise: audit this percentage of each coder's remaining charts, drawn at random",
            },
            "always_new_coders": {"type": "boolean", "description": "Always audit charts of new coders"},
            "new_coder_days": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_NEW_CODER_DAYS,
                "description": "A coder is new while their account is younger than this many days",
            },
            "always_with_overrides": {
                "type": "boolean",
                "description": "Always audit charts with an override rationale on a code row",
            },
            "always_min_difficulty": {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": 5,
                "description": "Always audit charts at or above this difficulty; null = off",
            },
        },
    },
    "AuditSampling": {
        "type": "object",
        "required": ["settings", "description"],
        "properties": {
            "settings": {"$ref": "#/components/schemas/AuditSamplingSettings"},
            "description": {"type": "string", "description": "The policy in words"},
        },
    },
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


_PAGING: Final = [
    _query("page", {"type": "integer", "minimum": 1, "default": 1}, "1-based page"),
    _query("page_size", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": 50}, "Items per page"),
]


def paths(errors: Any, json: Any) -> dict[str, Any]:
    """The audit paths, built with ``openapi``'s own error and body helpers."""
    chart_id = {"name": "chart_id", "in": "path", "required": True, "schema": _UUID}
    write: list[dict[str, list[str]]] = [{"session": [], "csrf": []}]
    return {
        "/api/v1/charts/{chart_id}/claim": {
            "parameters": [chart_id],
            "post": {
                "summary": "Claim a submitted chart for audit (supervisor)",
                "description": (
                    f"The claim lasts {CLAIM_MINUTES} minutes; claiming again renews one's own claim. Another "
                    "supervisor's live claim, or a chart not `pending_audit`, answers 409; an expired claim is "
                    "taken over. Another organisation's chart answers 404. Send an empty JSON object."
                ),
                "security": write,
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {"200": json(_ref("Claim")), **errors(400, 401, 403, 404, 409, 415)},
            },
        },
        "/api/v1/charts/{chart_id}/audit": {
            "parameters": [chart_id],
            "post": {
                "summary": "Audit the claimed submission and approve or return it (supervisor)",
                "description": (
                    "One verdict per code row, missing codes, feedback (required to return) and the decision. "
                    "Stores the findings and the scores (code-over-code accuracy, principal correct, MS-DRG "
                    "before and after the corrections). approve: the chart becomes `completed`; return: "
                    "`returned` to the same coder. Final for the submission: a second audit answers 409, as "
                    "does auditing without a live claim of one's own. The coder is notified in-app and by email."
                ),
                "security": write,
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("AuditInput")}}},
                "responses": {"200": json(_ref("AuditResult")), **errors(400, 401, 403, 404, 409, 415)},
            },
        },
        "/api/v1/audits": {
            "get": {
                "summary": "The organisation's audits and their scores, newest claim first (supervisor, manager)",
                "parameters": [
                    _query("chart_id", _UUID, "Audits of this chart"),
                    _query("coder_id", _UUID, "Audits of this coder's work"),
                    _query("decided", {"type": "string", "enum": ["true", "false"]}, "Only decided audits"),
                    *_PAGING,
                ],
                "responses": {
                    "200": json(
                        {
                            "type": "object",
                            "required": ["items"],
                            "properties": {"items": {"type": "array", "items": _ref("Audit")}},
                        }
                    ),
                    **errors(400, 401, 403),
                },
            }
        },
        "/api/v1/audits/queue": {
            "get": {
                "summary": "Charts waiting for audit, oldest submission first (supervisor, manager)",
                "parameters": list(_PAGING),
                "responses": {"200": json(_ref("ReviewQueue")), **errors(400, 401, 403)},
            }
        },
        "/api/v1/audits/sampling": {
            "get": {
                "summary": "The organisation's audit-sampling policy (supervisor, manager)",
                "description": (
                    "Which submitted charts go to audit. A resubmitted chart is always audited; otherwise the "
                    "first matching rule in this order samples it: review_all, new coder, override used, "
                    "difficulty, random draw. A chart no rule selects is accepted without audit (`completed`)."
                ),
                "responses": {"200": json(_ref("AuditSampling")), **errors(400, 401, 403)},
            },
            "put": {
                "summary": "Replace the audit-sampling policy (supervisor, manager)",
                "description": (
                    "Every field is required. Applies to charts submitted from now on. Bad values answer 400 "
                    "with each offending field in `error.fields`; turning review_all off with no rule on and "
                    "0% random is refused (nothing would be audited). A change is written to the audit log "
                    "and emits `audit_sampling.changed`."
                ),
                "security": write,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("AuditSamplingSettings")}},
                },
                "responses": {"200": json(_ref("AuditSampling")), **errors(400, 401, 403, 415)},
            },
        },
    }
