"""Single-use invitation tokens (stored as SHA-256; the token itself is only in the email)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from datalayer.queries._util import execute, maybe
from datalayer.scope import Scope


@dataclass(frozen=True)
class Invitation:
    id: UUID
    org_id: UUID
    user_id: UUID
    expires_at: datetime
    used_at: datetime | None


def insert(
    scope: Scope,
    *,
    invitation_id: UUID,
    user_id: UUID,
    token_hash: bytes,
    created_by: UUID | None,
    now: datetime,
    expires_at: datetime,
) -> None:
    execute(
        scope,
        """INSERT INTO user_invitations (id, org_id, user_id, token_hash, created_by, created_at, expires_at)
           VALUES (:id, :org_id, :user_id, :hash, :by, :now, :expires)""",
        {
            "id": invitation_id,
            "org_id": scope.require_org(),
            "user_id": user_id,
            "hash": token_hash,
            "by": created_by,
            "now": now,
            "expires": expires_at,
        },
    )


def find(scope: Scope, token_hash: bytes) -> Invitation | None:
    row = maybe(scope, "SELECT * FROM auth_find_invitation(:hash)", {"hash": token_hash})
    return None if row is None else Invitation(**row)


def mark_used(scope: Scope, invitation_id: UUID, now: datetime) -> int:
    return execute(
        scope,
        "UPDATE user_invitations AS i SET used_at = :now WHERE i.id = :id AND i.used_at IS NULL",
        {"now": now, "id": invitation_id},
    )


def revoke_open_for_user(scope: Scope, user_id: UUID, now: datetime) -> None:
    execute(
        scope,
        "UPDATE user_invitations AS i SET used_at = :now WHERE i.user_id = :user_id AND i.used_at IS NULL",
        {"now": now, "user_id": user_id},
    )
