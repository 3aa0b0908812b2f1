"""In-app notifications: one row per message to one user of the organisation."""

from __future__ import annotations

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
    unread = "AND n.read_at IS NULL" if unread_only else ""
    return [
        Notification(**r)
        for r in rows(
            scope,
            f"""SELECT n.id, n.user_id, n.kind, n.title, n.body, n.link, n.created_at, n.read_at
                  FROM notifications AS n
                 WHERE n.org_id = :org AND n.user_id = :user {unread}
                 ORDER BY n.created_at DESC, n.id LIMIT :limit""",
            {"org": scope.require_org(), "user": user_id, "limit": limit},
        )
    ]
