"""``/api/v1/notifications``: the caller's own in-app notifications over JSON (documented in
``app/http/notification_openapi.py``).

Thin: parse, call ``app.services.notifications`` off the event loop, shape the answer. Every
signed-in role may use it (``account:view``); there is no user id in the API — the session says
whose notifications they are, so another user's cannot be asked for.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any, Final, Literal, TypeVar
from uuid import UUID

from tornado.ioloop import IOLoop

from app.authz import Permission, Principal
from app.errors import ValidationFailed
from app.http.base import JsonHandler
from app.services import notifications as notification_actions
from app.services.notifications import Inbox, Notification

T = TypeVar("T")

DEFAULT_LIMIT: Final = 50


def notification_json(n: Notification) -> dict[str, Any]:
    return {
        "id": str(n.id),
        "kind": n.kind,
        "title": n.title,
        "body": n.body,
        "link": n.link,
        "created_at": n.created_at.isoformat(),
        "read_at": n.read_at.isoformat() if n.read_at is not None else None,
    }


def inbox_json(inbox: Inbox) -> dict[str, Any]:
    return {"items": [notification_json(n) for n in inbox.items], "unread": inbox.unread}


class _NotificationsHandler(JsonHandler):
    permission = Permission.ACCOUNT_VIEW

    async def off_loop(self, work: Callable[[Principal], T]) -> T:
        principal = self.principal
        assert principal is not None  # noqa: S101 - prepare() guarantees it
        context = contextvars.copy_context()
        return await IOLoop.current().run_in_executor(self.ctx.executor, lambda: context.run(work, principal))


class NotificationsHandler(_NotificationsHandler):
    """GET /api/v1/notifications[?unread=true&limit=N]: own notifications, unread first."""

    def _params(self) -> tuple[bool, int]:
        args = self.request.query_arguments
        unknown = sorted(set(args) - {"unread", "limit"})
        if unknown:
            raise ValidationFailed(
                f"Unknown query parameter(s): {', '.join(unknown)}.", fields=dict.fromkeys(unknown, "Not allowed.")
            )
        if any(len(v) > 1 for v in args.values()):
            raise ValidationFailed("Send each query parameter once.")
        unread = self.get_query_argument("unread", "false")
        limit = self.get_query_argument("limit", str(DEFAULT_LIMIT))
        problems: dict[str, str] = {}
        if unread not in ("true", "false"):
            problems["unread"] = "true or false."
        if not limit.isdigit() or not 1 <= int(limit) <= notification_actions.MAX_LIMIT:
            problems["limit"] = f"A whole number from 1 to {notification_actions.MAX_LIMIT}."
        if problems:
            raise ValidationFailed(fields=problems)
        return unread == "true", int(limit)

    async def get(self) -> None:
        unread_only, limit = self._params()
        inbox = await self.off_loop(
            lambda p: notification_actions.list_notifications(p, limit=limit, unread_only=unread_only)
        )
        self.write_json(inbox_json(inbox))


class NotificationsReadHandler(_NotificationsHandler):
    """POST /api/v1/notifications/read ``{"ids": [...]}`` or ``{"all": true}``: mark own ones read."""

    def _wanted(self) -> list[UUID] | Literal["all"]:
        body = self.json_body()
        unknown = sorted(set(body) - {"ids", "all"})
        if unknown:
            raise ValidationFailed(
                f"Unknown field(s): {', '.join(unknown)}.", fields=dict.fromkeys(unknown, "Not allowed.")
            )
        if ("ids" in body) == ("all" in body):
            raise ValidationFailed('Send either "ids" (a list of ids) or "all": true.')
        if "all" in body:
            if body["all"] is not True:
                raise ValidationFailed(fields={"all": "true."})
            return "all"
        raw = body["ids"]
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            raise ValidationFailed(fields={"ids": "A list of ids."})
        if len(raw) > notification_actions.MAX_IDS:
            raise ValidationFailed(fields={"ids": f"At most {notification_actions.MAX_IDS} ids at a time."})
        try:
            return [UUID(x) for x in raw]
        except ValueError:
            raise ValidationFailed(fields={"ids": "A list of ids."}) from None

    async def post(self) -> None:
        wanted = self._wanted()

        def work(principal: Principal) -> tuple[int, int]:
            marked = notification_actions.mark_read(principal, wanted)
            return marked, notification_actions.unread_count(principal)

        marked, unread = await self.off_loop(work)
        self.write_json({"marked": marked, "unread": unread})
