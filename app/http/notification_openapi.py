"""OpenAPI schemas and paths of ``/api/v1/notifications`` (merged into ``app.http.openapi.DOCUMENT``)."""

from __future__ import annotations

from typing import Any, Final

from app.services.notifications import MAX_IDS, MAX_LIMIT

_UUID: Final = {"type": "string", "format": "uuid"}

SCHEMAS: Final[dict[str, Any]] = {
    "Notification": {
        "type": "object",
        "required": ["id", "kind", "title", "body", "link", "created_at", "read_at"],
        "properties": {
            "id": _UUID,
            "kind": {"type": "string", "description": "e.g. charts_assigned, charts_unassigned"},
            "title": {"type": "string"},
            "body": {"type": "string"},
            "link": {"type": ["string", "null"], "description": "A path in SmartCoders, e.g. /queue"},
            "created_at": {"type": "string", "format": "date-time"},
            "read_at": {"type": ["string", "null"], "format": "date-time", "description": "null while unread"},
        },
    },
    "Notifications": {
        "type": "object",
        "required": ["items", "unread"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Notification"}},
            "unread": {"type": "integer", "minimum": 0, "description": "Unread notifications in all"},
        },
    },
    "NotificationsRead": {
        "type": "object",
        "additionalProperties": False,
        "description": "Either `ids` or `all`, not both",
        "oneOf": [{"required": ["ids"]}, {"required": ["all"]}],
        "properties": {
            "ids": {"type": "array", "maxItems": MAX_IDS, "items": _UUID},
            "all": {"type": "boolean", "const": True},
        },
    },
}


def paths(errors: Any, json: Any) -> dict[str, Any]:
    """The notification paths, built with ``openapi``'s own error and body helpers."""
    return {
        "/api/v1/notifications": {
            "get": {
                "summary": "The caller's own in-app notifications, unread first (any signed-in role)",
                "description": (
                    "Unread notifications first, then read ones, each newest first. Only the signed-in user's "
                    "own: there is no way to ask for another user's."
                ),
                "parameters": [
                    {
                        "name": "unread",
                        "in": "query",
                        "description": "true: unread ones only",
                        "schema": {"type": "string", "enum": ["true", "false"], "default": "false"},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50},
                    },
                ],
                "responses": {"200": json({"$ref": "#/components/schemas/Notifications"}), **errors(400, 401)},
            }
        },
        "/api/v1/notifications/read": {
            "post": {
                "summary": "Mark the caller's notifications read: some by id, or all (any signed-in role)",
                "description": (
                    "Ids that are unknown, already read or another user's are ignored alike; `marked` counts "
                    "the ones that changed, `unread` is what is left unread. Repeating a request is harmless."
                ),
                "security": [{"session": [], "csrf": []}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NotificationsRead"}}},
                },
                "responses": {
                    "200": json(
                        {
                            "type": "object",
                            "required": ["marked", "unread"],
                            "properties": {
                                "marked": {"type": "integer", "minimum": 0},
                                "unread": {"type": "integer", "minimum": 0},
                            },
                        }
                    ),
                    **errors(400, 401, 403, 415),
                },
            }
        },
    }
