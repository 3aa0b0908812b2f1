"""JSON API v1 (documented in ``app/http/openapi.py``). Thin: parse, call a service, shape the answer."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tornado.ioloop import IOLoop

from app.authz import Permission
from app.errors import NotFound, ValidationFailed
from app.http.base import JsonHandler
from app.services import users as user_actions
from datalayer.queries.users import User


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "is_active": user.is_active,
        "invitation_pending": not user.has_password,
        "two_step": user.two_step,
        "created_at": user.created_at.isoformat(),
        "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
    }


def _uuid(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise NotFound("User not found.") from None


def _only(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValidationFailed(
            f"Unknown field(s): {', '.join(unknown)}.", fields=dict.fromkeys(unknown, "Not allowed.")
        )


class MeHandler(JsonHandler):
    permission = Permission.ACCOUNT_VIEW

    def get(self) -> None:
        assert self.principal is not None  # noqa: S101 - prepare() guarantees it
        overview = user_actions.account_overview(self.principal)
        self.write_json(
            {
                "id": str(overview.user.id),
                "email": overview.user.email,
                "name": overview.user.name,
                "role": overview.user.role,
                "organization": {"id": str(self.principal.org_id), "name": overview.organization},
                "permissions": sorted(p.value for p in Permission if self.principal.can(p)),
            }
        )


class UsersHandler(JsonHandler):
    permission = Permission.USERS_MANAGE

    def get(self) -> None:
        assert self.principal is not None  # noqa: S101
        self.write_json({"items": [user_json(u) for u in user_actions.list_users(self.principal)]})

    def post(self) -> None:
        assert self.principal is not None  # noqa: S101
        body = self.json_body()
        _only(body, {"email", "name", "role"})
        fields = {k: body.get(k) for k in ("email", "name", "role")}
        wrong = {k: "Required text." for k, v in fields.items() if not isinstance(v, str) or not v.strip()}
        if wrong:
            raise ValidationFailed(fields=wrong)
        created = user_actions.create_user(
            self.principal,
            email=str(fields["email"]),
            name=str(fields["name"]),
            role=str(fields["role"]),
            settings=self.ctx.settings,
            client_ip=self.client_ip,
        )
        self.write_json(user_json(created.user), status=201)


class UserHandler(JsonHandler):
    permission = Permission.USERS_MANAGE

    def get(self, user_id: str) -> None:
        assert self.principal is not None  # noqa: S101
        self.write_json(user_json(user_actions.get_user(self.principal, _uuid(user_id))))

    def patch(self, user_id: str) -> None:
        assert self.principal is not None  # noqa: S101
        body = self.json_body()
        _only(body, {"role", "is_active"})
        if not body:
            raise ValidationFailed("Send role and/or is_active.")
        target = _uuid(user_id)
        user = user_actions.get_user(self.principal, target)
        if "role" in body:
            if not isinstance(body["role"], str):
                raise ValidationFailed(fields={"role": "Choose manager, supervisor, coder or analyst."})
            user = user_actions.change_role(self.principal, target, body["role"], client_ip=self.client_ip)
        if "is_active" in body:
            if not isinstance(body["is_active"], bool):
                raise ValidationFailed(fields={"is_active": "true or false."})
            user = user_actions.set_active(self.principal, target, body["is_active"], client_ip=self.client_ip)
        self.write_json(user_json(user))


class ValidateHandler(JsonHandler):
    """POST /api/v1/validate: the engine over a posted code list; stores nothing.

    The engine runs on the executor: the first call in a process loads the code sets (seconds),
    and even a warm call should not hold the event loop that serves every open page.
    """

    permission = Permission.CODES_VALIDATE

    async def post(self) -> None:
        from app.validation import InputError, default_engine, parse_chart

        try:
            chart = parse_chart(self.json_body())
        except InputError as exc:
            raise ValidationFailed("The chart is not valid input.", fields=exc.fields) from None
        result = await IOLoop.current().run_in_executor(self.ctx.executor, lambda: default_engine().validate(chart))
        self.write_json(result.as_json())


class CodeSearchHandler(JsonHandler):
    """GET /api/v1/codes?q=…&limit=…: ICD-10-CM autocomplete (code prefix or description words).

    Billable codes first, exact prefix first; chapters and blocks are never offered. The first
    call in a process loads the code set on the executor, not on the event loop.
    """

    permission = Permission.CODES_VALIDATE
    MAX_LIMIT = 50

    async def get(self) -> None:
        from app.codesets.icd10cm import default_codeset

        query = self.get_query_argument("q", "").strip()
        raw_limit = self.get_query_argument("limit", "20")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= self.MAX_LIMIT:
            raise ValidationFailed(fields={"limit": f"A whole number from 1 to {self.MAX_LIMIT}."})
        if len(query) > 100:
            raise ValidationFailed(fields={"q": "At most 100 characters."})
        limit = int(raw_limit)

        def search() -> dict[str, Any]:
            codes = default_codeset()
            hits = codes.search(query, limit) if query else []
            return {
                "version": codes.version,
                "items": [{"code": h.code, "description": h.description, "billable": h.billable} for h in hits],
            }

        self.write_json(await IOLoop.current().run_in_executor(self.ctx.executor, search))
