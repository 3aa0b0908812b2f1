"""In-app notifications: what a signed-in user reads about their own work, and marking it read.

Notifications are written by the actions that cause them, in their transaction (``charts.assign``
writes one per coder who received or lost charts). These functions only read and acknowledge
them, always for the caller: the user is the principal's, never an argument, and every query runs
in the caller's ``user_scope`` (row-level security on top of the explicit ``org_id``/``user_id``
predicates). Another user's or organisation's notification is never listed, and marking its id
read does nothing, exactly like an id that does not exist.

Any signed-in role may read its own notifications (``account:view``).

Not audited, no outbox event (docs/adr/0012-in-app-notifications.md): reading and marking read
touch only ``read_at`` of messages addressed to the caller — a per-user display preference, like a
session's last-seen time — with no patient data, no access change and nothing another user sees.
The audit log records the actions that *wrote* the notifications.

Exceptions (``app.errors``): ``PermissionDenied``, ``ValidationFailed`` (bad limit, too many ids).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal
from uuid import UUID

from app.authz import Permission, Principal
from app.errors import ValidationFailed
from datalayer.queries import notifications
from datalayer.queries.notifications import Notification
from datalayer.scope import user_scope

__all__ = [
    "ALL",
    "MAX_IDS",
    "MAX_LIMIT",
    "Inbox",
    "Notification",
    "list_notifications",
    "mark_read",
    "unread",
    "unread_count",
]

ALL: Final = "all"
MAX_LIMIT: Final = 100  # notifications per read
MAX_IDS: Final = 500  # ids per mark_read call


@dataclass(frozen=True)
class Inbox:
    """Some of the caller's notifications and how many are unread in all (may exceed ``items``)."""

    items: list[Notification]
    unread: int


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(fields={"limit": f"A whole number from 1 to {MAX_LIMIT}."})
    return limit


def unread(principal: Principal, limit: int = 20) -> Inbox:
    """The caller's unread notifications, newest first (at most ``limit``), and the unread count."""
    principal.require(Permission.ACCOUNT_VIEW)
    limit = _limit(limit)
    with user_scope(principal.org_id, principal.user_id) as scope:
        items = notifications.for_user(scope, principal.user_id, unread_only=True, limit=limit)
        count = len(items) if len(items) < limit else notifications.unread_count(scope, principal.user_id)
    return Inbox(items=items, unread=count)


def unread_count(principal: Principal) -> int:
    """How many of the caller's notifications are unread (for the navigation's count)."""
    principal.require(Permission.ACCOUNT_VIEW)
    with user_scope(principal.org_id, principal.user_id) as scope:
        return notifications.unread_count(scope, principal.user_id)


def list_notifications(principal: Principal, *, limit: int = 50, unread_only: bool = False) -> Inbox:
    """The caller's notifications: unread ones first, then read ones, each newest first."""
    principal.require(Permission.ACCOUNT_VIEW)
    limit = _limit(limit)
    with user_scope(principal.org_id, principal.user_id) as scope:
        items = notifications.for_user(scope, principal.user_id, unread_only=unread_only, limit=limit)
        count = notifications.unread_count(scope, principal.user_id)
    return Inbox(items=items, unread=count)


def mark_read(principal: Principal, ids: Sequence[UUID] | Literal["all"]) -> int:
    """Mark the caller's unread notifications read: those with ``ids``, or every one (``ALL``).

    Returns how many changed. Ids that are unknown, already read, or someone else's are ignored
    alike (the count cannot tell them apart); marking again is harmless.
    """
    principal.require(Permission.ACCOUNT_VIEW)
    wanted: list[UUID] | None = None
    if isinstance(ids, str):
        if ids != ALL:
            raise ValidationFailed(fields={"ids": 'A list of ids, or "all".'})
    else:
        wanted = list(dict.fromkeys(ids))
        if len(wanted) > MAX_IDS:
            raise ValidationFailed(fields={"ids": f"At most {MAX_IDS} ids at a time."})
        if not wanted:
            return 0
    with user_scope(principal.org_id, principal.user_id) as scope:
        return notifications.mark_read(scope, principal.user_id, wanted, now=datetime.now(UTC))
