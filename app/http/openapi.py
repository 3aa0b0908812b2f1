"""The OpenAPI 3.1 document for ``/api/v1`` (served at ``/api/v1/openapi.json``)."""

from __future__ import annotations

from typing import Any

from app.http import audit_openapi, chart_openapi, feedback_openapi, live_openapi, notification_openapi
from app.http.base import PUBLIC, JsonHandler

_ERROR = {"$ref": "#/components/schemas/Error"}
_ROLE = {"type": "string", "enum": ["manager", "supervisor", "coder", "analyst"]}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Invalid input",
        401: "Not signed in",
        403: "Forbidden or CSRF failure",
        404: "Not found (also for other organisations' ids)",
        409: "Conflict",
        413: "Body larger than the route accepts (sent before the body is read)",
        415: "Body is not JSON",
    }
    return {str(c): {"description": text[c], "content": {"application/json": {"schema": _ERROR}}} for c in codes}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "SmartCoders API",
        "version": "1",
        "description": (
            "Authenticated by the session cookie set at /login. State-changing requests must send the "
            "value of the `_xsrf` cookie in an `X-XSRFToken` header. Ids of other organisations answer 404, "
            "exactly like ids that do not exist."
        ),
    },
    "servers": [{"url": "/"}],
    "components": {
        "securitySchemes": {
            "session": {"type": "apiKey", "in": "cookie", "name": "smartcoders_session"},
            "csrf": {"type": "apiKey", "in": "header", "name": "X-XSRFToken"},
            "webhookSignature": {
                "type": "apiKey",
                "in": "header",
                "name": "webhook-signature",
                "description": (
                    "Standard Webhooks: `v1,<base64 HMAC-SHA256(key, '{webhook-id}.{webhook-timestamp}.{raw body}')>`, "
                    "several space-separated signatures allowed. The key is the organisation's own signing "
                    "secret (`smartcoders webhook-secret --org SLUG`, a `whsec_<base64 key>` value)."
                ),
            },
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                            "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                        },
                    }
                },
            },
            "User": {
                "type": "object",
                "required": [
                    "id",
                    "email",
                    "name",
                    "role",
                    "is_active",
                    "invitation_pending",
                    "two_step",
                    "created_at",
                ],
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "email": {"type": "string", "format": "email"},
                    "name": {"type": "string"},
                    "role": _ROLE,
                    "is_active": {"type": "boolean"},
                    "invitation_pending": {"type": "boolean"},
                    "two_step": {"type": "boolean", "description": "Signs in with a one-time code after the password"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "last_login_at": {"type": ["string", "null"], "format": "date-time"},
                },
            },
            "NewUser": {
                "type": "object",
                "additionalProperties": False,
                "required": ["email", "name", "role"],
                "properties": {
                    "email": {"type": "string", "format": "email", "maxLength": 254},
                    "name": {"type": "string", "minLength": 1, "maxLength": 200},
                    "role": _ROLE,
                },
            },
            "ChartCodes": {
                "type": "object",
                "additionalProperties": False,
                "required": ["age", "sex", "discharge_date", "diagnoses"],
                "properties": {
                    "id": {"description": "Echoed back unchanged"},
                    "age": {"type": "integer", "minimum": 0, "maximum": 124},
                    "sex": {"type": "string", "enum": ["M", "F", "U"]},
                    "discharge_date": {"type": "string", "format": "date"},
                    "record_type": {"type": "string", "enum": ["maternal", "newborn", "other"]},
                    "discharged_alive": {"type": "boolean", "default": True},
                    "setting": {
                        "type": "string",
                        "enum": ["inpatient", "outpatient"],
                        "default": "inpatient",
                        "description": "outpatient: no MCE admission edits; Z codes may be first-listed",
                    },
                    "diagnoses": {
                        "type": "array",
                        "maxItems": 100,
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["code"],
                            "properties": {
                                "code": {"type": "string", "maxLength": 32},
                                "principal": {"type": "boolean", "default": False},
                                "override_rationale": {"type": "string", "maxLength": 2000},
                                "rationale": {"type": "string", "maxLength": 2000},
                                "description": {"type": "string"},
                            },
                        },
                    },
                    "procedures": {
                        "type": "array",
                        "maxItems": 100,
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["code"],
                            "properties": {
                                "code": {"type": "string", "maxLength": 32},
                                "code_system": {"type": "string", "enum": ["ICD-10-PCS", "other"]},
                                "override_rationale": {"type": "string", "maxLength": 2000},
                                "rationale": {"type": "string", "maxLength": 2000},
                                "description": {"type": "string"},
                            },
                        },
                    },
                },
            },
            "Finding": {
                "type": "object",
                "required": ["rule_id", "category", "severity", "rows", "message", "guideline_ref", "overridable"],
                "properties": {
                    "rule_id": {"type": "string", "pattern": "^R-[A-Z]{3}-[0-9]{2}$"},
                    "category": {"type": "string", "enum": ["format", "sequencing", "comorbidity"]},
                    "severity": {"type": "string", "enum": ["error", "warning", "info"]},
                    "rows": {"type": "array", "items": {"type": "integer", "minimum": 1}},
                    "procedure_rows": {"type": "array", "items": {"type": "integer", "minimum": 1}},
                    "message": {"type": "string"},
                    "guideline_ref": {"type": "string"},
                    "overridable": {"type": "boolean"},
                    "overridden": {"type": "boolean"},
                },
            },
            "ValidationResult": {
                "type": "object",
                "required": ["id", "code_set_version", "findings", "summary"],
                "properties": {
                    "id": {},
                    "code_set_version": {"type": "string"},
                    "findings": {"type": "array", "items": {"$ref": "#/components/schemas/Finding"}},
                    "summary": {
                        "type": "object",
                        "required": ["errors", "warnings", "blocking", "can_submit"],
                        "properties": {
                            "errors": {"type": "integer"},
                            "warnings": {"type": "integer"},
                            "infos": {"type": "integer"},
                            "blocking": {"type": "integer"},
                            "overridden": {"type": "integer"},
                            "can_submit": {"type": "boolean"},
                            "ms_drg": {"type": ["integer", "null"]},
                            "drg_title": {"type": ["string", "null"]},
                            "drg_weight": {"type": ["number", "null"]},
                            "mdc": {"type": ["integer", "null"]},
                            "grouper_version": {"type": ["string", "null"]},
                            "cc_count": {"type": "integer"},
                            "mcc_count": {"type": "integer"},
                            "charlson_index": {"type": ["integer", "null"]},
                            "elixhauser_mortality": {"type": ["integer", "null"]},
                            "charlson_age_adjusted": {"type": ["integer", "null"]},
                            "notes": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                },
            },
            "WebhookDelivery": {
                "type": "object",
                "required": ["status", "event_id", "charts_created", "charts_skipped", "encounters"],
                "properties": {
                    "status": {"type": "string", "enum": ["processed", "duplicate"]},
                    "event_id": {"type": "string", "description": "The webhook-id"},
                    "charts_created": {"type": "integer", "minimum": 0},
                    "charts_skipped": {"type": "integer", "minimum": 0},
                    "encounters": {"type": "integer", "minimum": 0},
                },
            },
            "ImportJob": {
                "type": "object",
                "required": [
                    "id",
                    "status",
                    "source",
                    "file_count",
                    "files_done",
                    "charts_created",
                    "charts_skipped",
                    "errors",
                    "created_at",
                ],
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "status": {
                        "type": "string",
                        "enum": ["queued", "running", "succeeded", "failed"],
                        "description": "failed: at least one file was not imported (see errors); the other "
                        "files' charts are kept",
                    },
                    "source": {"type": "string", "enum": ["upload", "cli", "webhook", "demo"]},
                    "file_count": {"type": "integer", "description": "Files to import (.zip members counted)"},
                    "files_done": {"type": "integer"},
                    "charts_created": {"type": "integer"},
                    "charts_skipped": {"type": "integer", "description": "Encounters already imported"},
                    "errors": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"file": {"type": ["string", "null"]}, "error": {"type": "string"}},
                        },
                    },
                    "created_at": {"type": "string", "format": "date-time"},
                    "started_at": {"type": ["string", "null"], "format": "date-time"},
                    "finished_at": {"type": ["string", "null"], "format": "date-time"},
                },
            },
            "UserChange": {
                "type": "object",
                "additionalProperties": False,
                "minProperties": 1,
                "properties": {"role": _ROLE, "is_active": {"type": "boolean"}},
            },
        },
    },
    "security": [{"session": []}],
    "paths": {
        "/webhooks/synthea/{org}": {
            "post": {
                "summary": "Import one signed Synthea FHIR R4 bundle into the organisation (machine callers)",
                "description": (
                    "No session and no CSRF token: the sender is authenticated by a Standard Webhooks signature "
                    "made with the organisation's key, verified before the body is parsed or the database is "
                    "touched. Every verification failure (missing or malformed header, timestamp more than "
                    "WEBHOOK_TOLERANCE_SECONDS from now, wrong key, other organisation's key, altered body) is "
                    "the same 401. The bundle is imported and the event recorded in one transaction; a repeated "
                    "webhook-id answers 200 `duplicate` and changes nothing. Bodies over WEBHOOK_MAX_BODY_BYTES "
                    "get 413 before they are read; a body that does not arrive within "
                    "WEBHOOK_BODY_TIMEOUT_SECONDS is cut off (connection closed, no response)."
                ),
                "security": [{"webhookSignature": []}],
                "parameters": [
                    {
                        "name": "org",
                        "in": "path",
                        "required": True,
                        "description": "Organisation slug; selects the key the signature must verify with",
                        "schema": {"type": "string", "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"},
                    },
                    {
                        "name": "webhook-id",
                        "in": "header",
                        "required": True,
                        "description": "Event id; retries of one event reuse it",
                        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_:-]{1,128}$"},
                    },
                    {
                        "name": "webhook-timestamp",
                        "in": "header",
                        "required": True,
                        "description": "Seconds since the epoch when the delivery was signed",
                        "schema": {"type": "string", "pattern": "^[0-9]{1,15}$"},
                    },
                    {
                        "name": "webhook-signature",
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        media: {"schema": {"type": "object", "description": "A Synthea FHIR R4 Bundle"}}
                        for media in ("application/json", "application/fhir+json")
                    },
                },
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/WebhookDelivery"}, "Processed, or a duplicate"),
                    **_errors(400, 401, 404, 413, 415),
                },
            }
        },
        "/api/v1/me": {
            "get": {
                "summary": "The signed-in user, organisation and permissions",
                "responses": {"200": _json({"type": "object"}), **_errors(401)},
            }
        },
        "/api/v1/users": {
            "get": {
                "summary": "Users of the caller's organisation (manager)",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/User"}}},
                        }
                    ),
                    **_errors(401, 403),
                },
            },
            "post": {
                "summary": "Create a user and email an invitation (manager)",
                "security": [{"session": [], "csrf": []}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewUser"}}},
                },
                "responses": {
                    "201": _json({"$ref": "#/components/schemas/User"}, "Created"),
                    **_errors(400, 401, 403, 409, 415),
                },
            },
        },
        "/api/v1/codes": {
            "get": {
                "summary": "ICD-10-CM code search for autocomplete (any signed-in role)",
                "description": "By code prefix (with or without the dot) or by words of the description; "
                "billable codes first, exact prefix first.",
                "parameters": [
                    {"name": "q", "in": "query", "required": True, "schema": {"type": "string", "maxLength": 100}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 50, "default": 20},
                    },
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["version", "items"],
                            "properties": {
                                "version": {"type": "string"},
                                "items": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "code": {"type": "string"},
                                            "description": {"type": "string"},
                                            "billable": {"type": "boolean"},
                                        },
                                    },
                                },
                            },
                        }
                    ),
                    **_errors(400, 401),
                },
            }
        },
        "/api/v1/validate": {
            "post": {
                "summary": "Validate a chart's code list against the rule catalogue (any signed-in role)",
                "description": (
                    "Same JSON as `smartcoders validate`. Findings name 1-based `rows` in `diagnoses` and "
                    "`procedure_rows` in `procedures`. Stores nothing."
                ),
                "security": [{"session": [], "csrf": []}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChartCodes"}}},
                },
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/ValidationResult"}),
                    **_errors(400, 401, 403, 415),
                },
            }
        },
        "/api/v1/imports": {
            "get": {
                "summary": "Recent import jobs of the caller's organisation (manager)",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "items": {"type": "array", "items": {"$ref": "#/components/schemas/ImportJob"}}
                            },
                        }
                    ),
                    **_errors(401, 403),
                },
            },
            "post": {
                "summary": "Upload Synthea FHIR bundles to import (manager)",
                "description": (
                    "Multipart upload of one or more `.json` bundles or `.zip` archives of them (any field "
                    "name). Provider files (`hospitalInformation*.json`, `practitionerInformation*.json`) in "
                    "the same upload resolve provider references. The files are stored and an import job is "
                    "queued; the answer comes at once (202) and the worker imports them in batches. Follow "
                    "the job at the `Location` URL. Re-importing a bundle creates no duplicates."
                ),
                "security": [{"session": [], "csrf": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "file": {"type": "array", "items": {"type": "string", "format": "binary"}}
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "202": {
                        "description": "Queued",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ImportJob"}}},
                    },
                    **_errors(400, 401, 403, 415),
                },
            },
        },
        "/api/v1/imports/{import_id}": {
            "parameters": [
                {"name": "import_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
            ],
            "get": {
                "summary": "One import job: status, progress, counts and per-file errors (manager)",
                "responses": {"200": _json({"$ref": "#/components/schemas/ImportJob"}), **_errors(401, 403, 404)},
            },
        },
        "/api/v1/users/{user_id}": {
            "parameters": [
                {"name": "user_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
            ],
            "get": {
                "summary": "One user of the caller's organisation (manager)",
                "responses": {"200": _json({"$ref": "#/components/schemas/User"}), **_errors(401, 403, 404)},
            },
            "patch": {
                "summary": "Change a user's role or deactivate/reactivate them (manager)",
                "security": [{"session": [], "csrf": []}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/UserChange"}}},
                },
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/User"}),
                    **_errors(400, 401, 403, 404, 409, 415),
                },
            },
        },
    },
}


# The coder workflow's, the notifications' and the audits' schemas and paths live in their own modules.
DOCUMENT["components"]["schemas"].update(chart_openapi.SCHEMAS)
DOCUMENT["paths"].update(chart_openapi.paths(_errors, _json))
DOCUMENT["components"]["schemas"].update(notification_openapi.SCHEMAS)
DOCUMENT["paths"].update(notification_openapi.paths(_errors, _json))
DOCUMENT["components"]["schemas"].update(audit_openapi.SCHEMAS)
DOCUMENT["paths"].update(audit_openapi.paths(_errors, _json))
DOCUMENT["components"]["schemas"].update(feedback_openapi.SCHEMAS)
DOCUMENT["paths"].update(feedback_openapi.paths(_errors, _json))
DOCUMENT["components"]["schemas"].update(live_openapi.SCHEMAS)
DOCUMENT["paths"].update(live_openapi.paths(_errors, _json))


class OpenApiHandler(JsonHandler):
    permission = PUBLIC

    def get(self) -> None:
        self.write_json(DOCUMENT)
