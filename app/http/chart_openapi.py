"""OpenAPI schemas and paths of ``/api/v1/charts`` (merged into ``app.http.openapi.DOCUMENT``)."""

from __future__ import annotations

from typing import Any, Final

from app.services.chart_types import MAX_PAGE_SIZE, SORTS, ChartStatus

_STATUS: Final = {"type": "string", "enum": [s.value for s in ChartStatus]}
_UUID: Final = {"type": "string", "format": "uuid"}
_TIME: Final = {"type": ["string", "null"], "format": "date-time"}
_TEXT_OR_NULL: Final = {"type": ["string", "null"]}
_PERSON: Final = {
    "type": ["object", "null"],
    "properties": {"id": _UUID, "name": _TEXT_OR_NULL},
}

SCHEMAS: Final[dict[str, Any]] = {
    "ChartSummary": {
        "type": "object",
        "required": ["id", "status", "version", "assignee", "patient", "encounter", "code_count", "created_at"],
        "properties": {
            "id": _UUID,
            "status": _STATUS,
            "version": {"type": "integer", "minimum": 1},
            "assignee": _PERSON,
            "patient": {
                "type": "object",
                "properties": {"age": {"type": ["integer", "null"]}, "sex": _TEXT_OR_NULL},
            },
            "encounter": {
                "type": "object",
                "properties": {
                    "class": _TEXT_OR_NULL,
                    "type": _TEXT_OR_NULL,
                    "reason": _TEXT_OR_NULL,
                    "start": _TIME,
                    "end": _TIME,
                },
            },
            "specialty": _TEXT_OR_NULL,
            "difficulty": {"type": ["integer", "null"], "minimum": 1, "maximum": 5},
            "import_job_id": {"type": ["string", "null"], "format": "uuid"},
            "code_count": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "assigned_at": _TIME,
            "updated_at": {"type": "string", "format": "date-time"},
            "submitted_at": _TIME,
            "returned": {
                "type": ["object", "null"],
                "description": "The latest return by a supervisor (returned charts only)",
                "properties": {
                    "at": _TIME,
                    "by": _TEXT_OR_NULL,
                    "feedback": _TEXT_OR_NULL,
                    "open_findings": {"type": "integer"},
                },
            },
        },
    },
    "ChartPage": {
        "type": "object",
        "required": ["items", "total", "page", "page_size", "pages", "sort", "counts"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/ChartSummary"}},
            "total": {"type": "integer", "description": "Charts matching every filter"},
            "page": {"type": "integer"},
            "page_size": {"type": "integer"},
            "pages": {"type": "integer"},
            "sort": {"type": "string", "enum": list(SORTS)},
            "counts": {
                "type": "object",
                "description": "Charts per status over every filter except `status`",
                "properties": {s.value: {"type": "integer"} for s in ChartStatus},
            },
        },
    },
    "ChartCode": {
        "type": "object",
        "required": ["id", "kind", "code_system", "code", "sequence", "is_principal"],
        "properties": {
            "id": _UUID,
            "kind": {"type": "string", "enum": ["diagnosis", "procedure"]},
            "code_system": {"type": "string", "enum": ["ICD-10-CM", "ICD-10-PCS", "other"]},
            "code": {"type": "string"},
            "description": _TEXT_OR_NULL,
            "rationale": {"type": "string"},
            "override_rationale": _TEXT_OR_NULL,
            "sequence": {"type": "integer", "minimum": 1, "description": "1-based row number within its kind"},
            "is_principal": {"type": "boolean"},
        },
    },
    "StoredFinding": {
        "type": "object",
        "properties": {
            "rule_id": {"type": "string"},
            "category": {"type": "string"},
            "severity": {"type": "string", "enum": ["error", "warning", "info"]},
            "rows": {"type": "array", "items": {"type": "integer"}, "description": "Diagnosis sequences"},
            "procedure_rows": {"type": "array", "items": {"type": "integer"}},
            "message": {"type": "string"},
            "guideline_ref": _TEXT_OR_NULL,
            "overridable": {"type": "boolean"},
            "overridden": {"type": "boolean"},
        },
    },
    "Chart": {
        "type": "object",
        "required": ["id", "status", "version", "editable", "codes", "findings", "review"],
        "properties": {
            "id": _UUID,
            "status": _STATUS,
            "version": {"type": "integer", "minimum": 1},
            "editable": {
                "type": "boolean",
                "description": "True only for the assigned coder while the chart is draft or returned",
            },
            "assignee": _PERSON,
            "assigned_at": _TIME,
            "submitted_at": _TIME,
            "completed_at": _TIME,
            "patient": {"type": "object"},
            "record_type": {"type": "string", "enum": ["maternal", "newborn", "other"]},
            "encounter": {"type": "object"},
            "specialty": _TEXT_OR_NULL,
            "difficulty": {"type": ["integer", "null"]},
            "clinical_note": _TEXT_OR_NULL,
            "payload": {"type": "object", "description": "The FHIR resources of the encounter, as imported"},
            "source": {"type": "object"},
            "import_job_id": {"type": ["string", "null"], "format": "uuid"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "codes": {"type": "array", "items": {"$ref": "#/components/schemas/ChartCode"}},
            "findings": {
                "type": "array",
                "description": "Validation findings stored for the current version",
                "items": {"$ref": "#/components/schemas/StoredFinding"},
            },
            "review": {
                "type": ["object", "null"],
                "description": "The latest decided supervisor audit, its findings and feedback",
            },
        },
    },
    "CodeRowInput": {
        "type": "object",
        "additionalProperties": False,
        "required": ["kind", "code"],
        "properties": {
            "kind": {"type": "string", "enum": ["diagnosis", "procedure"]},
            "code": {"type": "string", "minLength": 1, "maxLength": 16},
            "rationale": {"type": "string", "maxLength": 2000, "default": ""},
            "override_rationale": {"type": ["string", "null"], "maxLength": 2000},
            "is_principal": {"type": "boolean", "default": False},
            "code_system": {
                "type": "string",
                "enum": ["ICD-10-CM", "ICD-10-PCS", "other"],
                "default": "ICD-10-CM",
                "description": "Diagnoses: ICD-10-CM. A procedure sent as ICD-10-CM is stored as ICD-10-PCS",
            },
        },
    },
    "CodesUpdate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["version", "rows"],
        "properties": {
            "version": {"type": "integer", "minimum": 1, "description": "The version the coder edited"},
            "rows": {
                "type": "array",
                "maxItems": 200,
                "description": "Every row, in entry order (diagnoses and procedures each numbered from 1)",
                "items": {"$ref": "#/components/schemas/CodeRowInput"},
            },
        },
    },
    "CodesSaved": {
        "type": "object",
        "required": ["chart_id", "version", "codes", "code_set_version", "findings", "summary"],
        "properties": {
            "chart_id": _UUID,
            "version": {"type": "integer", "description": "The new version: send it with the next change"},
            "codes": {"type": "array", "items": {"$ref": "#/components/schemas/ChartCode"}},
            "code_set_version": {"type": "string"},
            "findings": {"type": "array", "items": {"$ref": "#/components/schemas/Finding"}},
            "summary": {"type": "object", "description": "As in ValidationResult.summary"},
        },
    },
    "Submission": {
        "type": "object",
        "additionalProperties": False,
        "required": ["version"],
        "properties": {"version": {"type": "integer", "minimum": 1}},
    },
    "Assignment": {
        "type": "object",
        "additionalProperties": False,
        "required": ["chart_ids", "coder_ids"],
        "properties": {
            "chart_ids": {"type": "array", "minItems": 1, "maxItems": 1000, "items": _UUID},
            "coder_ids": {"type": "array", "minItems": 1, "items": _UUID},
            "mode": {
                "type": "string",
                "enum": ["single", "round_robin"],
                "default": "single",
                "description": "single: exactly one coder. round_robin: charts go to the coders in turn, "
                "in the order given",
            },
        },
    },
    "AssignmentResult": {
        "type": "object",
        "required": ["count", "assigned", "reassigned", "unchanged"],
        "properties": {
            "count": {"type": "integer", "description": "Charts that changed hands"},
            "assigned": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"coder_id": _UUID, "chart_ids": {"type": "array", "items": _UUID}},
                },
            },
            "reassigned": {"type": "array", "items": _UUID, "description": "Charts taken from another coder"},
            "unchanged": {"type": "array", "items": _UUID, "description": "Already with the chosen coder"},
        },
    },
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def paths(errors: Any, json: Any) -> dict[str, Any]:
    """The chart paths, built with ``openapi``'s own error and body helpers."""
    chart_id = {"name": "chart_id", "in": "path", "required": True, "schema": _UUID}
    write: list[dict[str, list[str]]] = [{"session": [], "csrf": []}]
    return {
        "/api/v1/charts": {
            "get": {
                "summary": "Charts the caller may see, one page at a time (coders: only their own)",
                "description": (
                    "Filtered, sorted and paged on the server. Unknown query parameters answer 400. "
                    "`counts` gives the charts per status over the other filters, for status tabs."
                ),
                "parameters": [
                    _query(
                        "status",
                        {"type": "string", "pattern": "^[a-z_]+(,[a-z_]+)*$"},
                        "draft, pending_audit, completed or returned; several comma-separated",
                    ),
                    _query("assignee", _UUID, "Charts of this coder"),
                    _query("unassigned", {"type": "string", "enum": ["true", "false"]}, "Only charts with no coder"),
                    _query("specialty", {"type": "string", "maxLength": 200}, "Exact specialty"),
                    _query("difficulty", {"type": "integer", "minimum": 1, "maximum": 5}, "Difficulty 1-5"),
                    _query("import_job_id", _UUID, "Charts created by this import"),
                    _query("encounter_from", {"type": "string", "format": "date"}, "Encounter starts on/after"),
                    _query("encounter_to", {"type": "string", "format": "date"}, "Encounter starts on/before"),
                    _query(
                        "sort",
                        {"type": "string", "enum": list(SORTS), "default": "queue"},
                        "queue: returned first, then drafts, then submitted and completed; oldest first",
                    ),
                    _query("page", {"type": "integer", "minimum": 1, "default": 1}, "1-based page"),
                    _query(
                        "page_size",
                        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": 50},
                        "Charts per page",
                    ),
                ],
                "responses": {"200": json(_ref("ChartPage")), **errors(400, 401, 403)},
            }
        },
        "/api/v1/charts/assign": {
            "post": {
                "summary": "Assign or reassign charts to one coder or round-robin across several (manager)",
                "description": (
                    "All or nothing. Only draft and returned charts can be assigned (409 otherwise); an unknown "
                    "or other organisation's chart answers 404; coder ids must be active coders of the "
                    "organisation (400). Each coder who receives charts gets an in-app notification and an "
                    "email; every change is audited and emitted as `chart.assigned`."
                ),
                "security": write,
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("Assignment")}}},
                "responses": {"200": json(_ref("AssignmentResult")), **errors(400, 401, 403, 404, 409, 415)},
            }
        },
        "/api/v1/charts/{chart_id}": {
            "parameters": [chart_id],
            "get": {
                "summary": "One chart with its codes, current findings and latest supervisor review",
                "description": (
                    "A coder gets 404 for a chart not assigned to them — the same answer as for another "
                    "organisation's chart or one that does not exist."
                ),
                "responses": {"200": json(_ref("Chart")), **errors(401, 403, 404)},
            },
        },
        "/api/v1/charts/{chart_id}/codes": {
            "parameters": [chart_id],
            "put": {
                "summary": "Replace the chart's code rows and validate them (assigned coder)",
                "description": (
                    "Optimistic locking: send the `version` you edited. The rows are stored as version + 1, "
                    "validated, and the findings returned. A stale version, or a chart that is not draft or "
                    "returned, answers 409 and stores nothing. Another coder's chart answers 404."
                ),
                "security": write,
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("CodesUpdate")}}},
                "responses": {"200": json(_ref("CodesSaved")), **errors(400, 401, 403, 404, 409, 415)},
            },
        },
        "/api/v1/charts/{chart_id}/submit": {
            "parameters": [chart_id],
            "post": {
                "summary": "Submit the chart for audit (assigned coder)",
                "description": (
                    "Draft or returned charts at the current `version` only (409 otherwise). Needs at least one "
                    "diagnosis, a rationale on every row and no unresolved validation error after validating "
                    "again (400, with the offending rows in `fields`). The chart becomes `pending_audit`, or "
                    "`completed` when the organisation's audit sampling does not select it (see "
                    "`/api/v1/audits/sampling`; a resubmission is always audited). `message` says which in words."
                ),
                "security": write,
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("Submission")}}},
                "responses": {
                    "200": json(
                        {
                            "allOf": [
                                _ref("Chart"),
                                {
                                    "type": "object",
                                    "required": ["message"],
                                    "properties": {
                                        "message": {
                                            "type": "string",
                                            "description": "Submitted for audit, or accepted without audit",
                                        }
                                    },
                                },
                            ]
                        }
                    ),
                    **errors(400, 401, 403, 404, 409, 415),
                },
            },
        },
    }
