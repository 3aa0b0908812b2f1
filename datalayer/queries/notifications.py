"""In-app notifications: one row per message to one user of the organisation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from datalayer.queries._util import execute, rows
from datalayer.scope import Scope


@dataclass(frozen=True)
class Notification:
    id: UUID
    user_id: UUID
    kind: str
    title: str
    body: str
    link: str | None
    created_at: datetime
    read_at: datetime | None


def insert(
    scope: Scope,
    *,
    notification_id: UUID,
    user_id: UUID,
    kind: str,
    title: str,
    body: str,
    link: str | None,
    now: datetime,
) -> None:
    execute(
        scope,
        """INSERT INTO notifications (id, org_id, user_id, kind, title, body, link, created_at)
           VALUES (:id, :org, :user, :kind, :title, :body, :link, :now)""",
        {
            "id": notification_id,
            "org": scope.require_org(),
            "user": user_id,
            "kind": kind,
            "title": title,
            "body": body,
            "link": link,
            "now": now,
        },
    )


def for_user(scope: Scope, user_id: UUID, *, unread_only: bool = False, limit: int = 50) -> list[Notification]:
    """The user's notifications, newest first; with read ones included, the unread ones come first."""
    unread = "AND n.read_at IS NULL" if unread_only else ""
    # Unread-only reads walk notifications_unread_idx in order; the mixed list sorts unread first.
    order = "n.created_at DESC, n.id" if unread_only else "(n.read_at IS NULL) DESC, n.created_at DESC, n.id"
    return [
        Notification(**r)
        for r in rows(
            scope,
            f"""SELECT n.id, n.user_id, n.kind, n.title, n.body, n.link, n.created_at, n.read_at
                  FROM notifications AS n
                 WHERE n.org_id = :org AND n.user_id = :user {unread}
                 ORDER BY {order} LIMIT :limit""",
            {"org": scope.require_org(), "user": user_id, "limit": limit},
        )
    ]


def unread_count(scope: Scope, user_id: UUID) -> int:
    """How many of the user's notifications are unread."""
    found = rows(
        scope,
        """SELECT count(*) AS n FROM notifications AS n
            WHERE n.org_id = :org AND n.user_id = :user AND n.read_at IS NULL""",
        {"org": scope.require_org(), "user": user_id},
    )
    return int(found[0]["n"])


def mark_read(scope: Scope, user_id: UUID, ids: Sequence[UUID] | None, *, now: datetime) -> int:
    """Mark the user's unread notifications read: those with the given ids, or all of them (``None``).

    Ids that are unknown, already read or another user's (or organisation's) are ignored alike;
    returns how many were marked.
    """
    only = "" if ids is None else "AND n.id = ANY(:ids)"
    return execute(
        scope,
        f"""UPDATE notifications AS n SET read_at = :now
             WHERE n.org_id = :org AND n.user_id = :user AND n.read_at IS NULL {only}""",
        {"org": scope.require_org(), "user": user_id, "now": now, "ids": list(ids or [])},
    )
