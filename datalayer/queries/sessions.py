"""Server-side session rows: the JWT's ``sid`` points here, so revocation is immediate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from datalayer.queries._util import execute, maybe, rows
from datalayer.scope import Scope


@dataclass(frozen=True)
class SessionRow:
    id: UUID
    org_id: UUID
    user_id: UUID
    created_at: datetime
    last_seen_at: datetime
    idle_expires_at: datetime
    absolute_expires_at: datetime
    revoked_at: datetime | None
    client_ip: str | None
    user_agent: str | None


@dataclass(frozen=True)
class SessionWithUser:
    session: SessionRow
    role: str
    name: str
    email: str
    is_active: bool
    password_changed_at: datetime | None


_S = (
    "s.id, s.org_id, s.user_id, s.created_at, s.last_seen_at, s.idle_expires_at, s.absolute_expires_at, "
    "s.revoked_at, s.client_ip, s.user_agent"
)


def insert(
    scope: Scope,
    *,
    session_id: UUID,
    user_id: UUID,
    now: datetime,
    idle_expires_at: datetime,
    absolute_expires_at: datetime,
    client_ip: str | None,
    user_agent: str | None,
) -> None:
    execute(
        scope,
        """INSERT INTO sessions (id, org_id, user_id, created_at, last_seen_at, idle_expires_at,
                                 absolute_expires_at, client_ip, user_agent)
           VALUES (:id, :org_id, :user_id, :now, :now, :idle, :absolute, :ip, :ua)""",
        {
            "id": session_id,
            "org_id": scope.require_org(),
            "user_id": user_id,
            "now": now,
            "idle": idle_expires_at,
            "absolute": absolute_expires_at,
            "ip": client_ip,
            "ua": (user_agent or "")[:300] or None,
        },
    )


def get_with_user(scope: Scope, session_id: UUID) -> SessionWithUser | None:
    row = maybe(
        scope,
        f"""SELECT {_S}, u.role, u.name, u.email, u.is_active, u.password_changed_at
            FROM sessions AS s JOIN users AS u ON u.id = s.user_id AND u.org_id = s.org_id
            WHERE s.id = :id""",
        {"id": session_id},
    )
    if row is None:
        return None
    data = dict(row)
    user = {k: data.pop(k) for k in ("role", "name", "email", "is_active", "password_changed_at")}
    return SessionWithUser(session=SessionRow(**data), **user)


def touch(scope: Scope, session_id: UUID, *, now: datetime, idle_expires_at: datetime, not_since: datetime) -> None:
    """Extend the idle window; skipped when the row was touched after ``not_since`` (limits writes)."""
    execute(
        scope,
        """UPDATE sessions AS s SET last_seen_at = :now, idle_expires_at = :idle
           WHERE s.id = :id AND s.revoked_at IS NULL AND s.last_seen_at < :since""",
        {"now": now, "idle": idle_expires_at, "id": session_id, "since": not_since},
    )


def revoke(scope: Scope, session_id: UUID, *, now: datetime, reason: str) -> int:
    return execute(
        scope,
        "UPDATE sessions AS s SET revoked_at = :now, revoked_reason = :reason WHERE s.id = :id AND s.revoked_at IS NULL",
        {"now": now, "reason": reason, "id": session_id},
    )


def revoked_reason(scope: Scope, session_id: UUID) -> str | None:
    """Why the session was revoked ("logout", "expired", "password_changed", …), None if it was not."""
    row = maybe(scope, "SELECT s.revoked_reason FROM sessions AS s WHERE s.id = :id", {"id": session_id})
    return None if row is None else row["revoked_reason"]


def revoke_for_user(scope: Scope, user_id: UUID, *, now: datetime, reason: str, keep: UUID | None = None) -> int:
    return execute(
        scope,
        """UPDATE sessions AS s SET revoked_at = :now, revoked_reason = :reason
           WHERE s.user_id = :user_id AND s.revoked_at IS NULL AND (CAST(:keep AS uuid) IS NULL OR s.id <> :keep)""",
        {"now": now, "reason": reason, "user_id": user_id, "keep": keep},
    )


def active_for_user(scope: Scope, user_id: UUID, *, now: datetime) -> list[SessionRow]:
    return [
        SessionRow(**r)
        for r in rows(
            scope,
            f"""SELECT {_S} FROM sessions AS s
                WHERE s.user_id = :user_id AND s.revoked_at IS NULL
                  AND s.idle_expires_at > :now AND s.absolute_expires_at > :now
                ORDER BY s.last_seen_at DESC""",
            {"user_id": user_id, "now": now},
        )
    ]


def delete_expired(scope: Scope, *, before: datetime) -> int:
    """Remove rows that can no longer authenticate anything (expired or revoked before ``before``)."""
    return execute(
        scope,
        """DELETE FROM sessions AS s
           WHERE s.absolute_expires_at < :before OR s.idle_expires_at < :before OR s.revoked_at < :before""",
        {"before": before},
    )
