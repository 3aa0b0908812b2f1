"""The OpenAPI 3.1 document for ``/api/v1`` (served at ``/api/v1/openapi.json``)."""

from __future__ import annotations

from typing import Any

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
                "required": ["id", "email", "name", "role", "is_active", "invitation_pending", "created_at"],
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "email": {"type": "string", "format": "email"},
                    "name": {"type": "string"},
                    "role": _ROLE,
                    "is_active": {"type": "boolean"},
                    "invitation_pending": {"type": "boolean"},
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


class OpenApiHandler(JsonHandler):
    permission = PUBLIC

    def get(self) -> None:
        self.write_json(DOCUMENT)
