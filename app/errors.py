"""The exception tree. Each error maps to one HTTP status and one JSON error code, in one place.

SmartCodersError
├── ConfigError            start-up configuration is missing or unsafe (no HTTP mapping)
├── MigrationError         a migration file is missing, edited after it was applied, or failed
├── ValidationFailed       400  input failed validation; carries per-field messages
├── NotAuthenticated       401  no valid session
├── PermissionDenied       403  signed in, but the role lacks the permission
├── CsrfFailed             403  missing or wrong CSRF token, or a cross-site request
├── NotFound               404  the object does not exist *or belongs to another organisation*
├── Conflict               409  the change conflicts with the current state (duplicate, stale version)
├── PayloadTooLarge        413  the declared request body is larger than the route accepts
├── UnsupportedMediaType   415  request body is not JSON
├── RateLimited            429  too many attempts
└── ServiceUnavailable     503  a dependency (PostgreSQL, Redis) is down; the action was not done
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class ErrorCode(StrEnum):
    INVALID = "invalid"
    NOT_AUTHENTICATED = "not_authenticated"
    FORBIDDEN = "forbidden"
    CSRF = "csrf_failed"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    TOO_LARGE = "too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    INTERNAL = "internal"


class SmartCodersError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL
    public_message: ClassVar[str] = "Something went wrong."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.public_message)
        self.message = message or self.public_message


class ConfigError(SmartCodersError):
    pass


class MigrationError(SmartCodersError):
    pass


class ValidationFailed(SmartCodersError):
    status = 400
    code = ErrorCode.INVALID
    public_message = "Some fields need attention."

    def __init__(self, message: str | None = None, *, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


class NotAuthenticated(SmartCodersError):
    status = 401
    code = ErrorCode.NOT_AUTHENTICATED
    public_message = "Sign in to continue."


class PermissionDenied(SmartCodersError):
    status = 403
    code = ErrorCode.FORBIDDEN
    public_message = "You do not have permission to do that."


class CsrfFailed(SmartCodersError):
    status = 403
    code = ErrorCode.CSRF
    public_message = "The request could not be verified. Reload the page and try again."


class NotFound(SmartCodersError):
    status = 404
    code = ErrorCode.NOT_FOUND
    public_message = "Not found."


class Conflict(SmartCodersError):
    status = 409
    code = ErrorCode.CONFLICT
    public_message = "That conflicts with the current state."


class PayloadTooLarge(SmartCodersError):
    status = 413
    code = ErrorCode.TOO_LARGE
    public_message = "The request body is too large."


class UnsupportedMediaType(SmartCodersError):
    status = 415
    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE
    public_message = "Send the request body as application/json."


class RateLimited(SmartCodersError):
    status = 429
    code = ErrorCode.RATE_LIMITED
    public_message = "Too many attempts. Wait a few minutes and try again."


class ServiceUnavailable(SmartCodersError):
    status = 503
    code = ErrorCode.UNAVAILABLE
    public_message = "The service is temporarily unavailable. Try again shortly."
