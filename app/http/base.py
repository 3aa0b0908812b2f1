"""Base handler for every plain-HTTP route: request id and log context, authentication from the
session cookie, deny-by-default permission check, session-bound CSRF, one error shape.

Each concrete handler declares ``permission`` (a Permission, or PUBLIC) — ``app/http/routes.py``
refuses to register a handler that does not.
"""

from __future__ import annotations

import contextlib
import hmac
from typing import Any, ClassVar, Final, cast
from urllib.parse import urlsplit

import orjson
import tornado.web

from app.authz import ROLE_HOME, Permission, Principal
from app.context import AppContext
from app.errors import (
    CsrfFailed,
    NotAuthenticated,
    PermissionDenied,
    ServiceUnavailable,
    SmartCodersError,
    UnsupportedMediaType,
    ValidationFailed,
)
from app.logs import bind_context, get_logger, new_request_id
from app.security.tokens import TWO_STEP_LIFETIME_SECONDS, read_signed_cookie

log = get_logger(__name__)

TWO_STEP_COOKIE_DAYS = TWO_STEP_LIFETIME_SECONDS / 86400  # the pending sign-in's own lifetime

PUBLIC: Final = "public"
XSRF_COOKIE: Final = "_xsrf"
UNSAFE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def safe_next(raw: str | None, default: str = "/") -> str:
    """Only same-site absolute paths are followed after sign-in (no open redirect)."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw or any(c < " " for c in raw):
        return default
    return raw


class BaseHandler(tornado.web.RequestHandler):
    permission: ClassVar[Permission | str | None] = None  # must be overridden: a Permission or PUBLIC
    api: ClassVar[bool] = False  # JSON errors instead of HTML pages

    ctx: AppContext
    principal: Principal | None

    def initialize(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.principal = None
        self.request_id = new_request_id()
        self._log_ctx = contextlib.ExitStack()

    # -- lifecycle ----------------------------------------------------------------------

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Request-Id", self.request_id if hasattr(self, "request_id") else "")

    @property
    def client_ip(self) -> str:
        return str(self.request.remote_ip or "unknown")

    def prepare(self) -> None:
        self._log_ctx.enter_context(bind_context(request_id=self.request_id, path=self.request.path))
        self.set_header("X-Request-Id", self.request_id)
        if self.permission is None:  # pragma: no cover - routes.py refuses such handlers
            raise PermissionDenied()
        try:
            self.principal = self.ctx.auth.authenticate(self._session_token())
        except ServiceUnavailable:
            raise
        if self.principal is not None:
            self._log_ctx.enter_context(
                bind_context(org_id=str(self.principal.org_id), user_id=str(self.principal.user_id))
            )
        if self.request.method in UNSAFE_METHODS:
            self.check_csrf()
        if self.permission != PUBLIC:
            if self.principal is None:
                raise NotAuthenticated()
            if not self.principal.can(cast(Permission, self.permission)):
                log.warning("authz_fail", permission=str(self.permission), role=self.principal.role)
                raise PermissionDenied()

    def on_finish(self) -> None:
        log.info(
            "http_request",
            method=self.request.method,
            status=self.get_status(),
            ms=round(1000 * self.request.request_time(), 1),
        )
        self._log_ctx.close()

    # -- session cookie -----------------------------------------------------------------

    def _session_token(self) -> str | None:
        s = self.ctx.settings
        return read_signed_cookie(s.cookie_name, self.get_cookie(s.cookie_name), s.cookie_secrets, max_age_days=1)

    def set_session(self, token: str, csrf: str) -> None:
        s = self.ctx.settings
        common: dict[str, Any] = {"path": "/", "secure": s.uses_tls, "samesite": "Lax"}
        self.set_signed_cookie(s.cookie_name, token, expires_days=None, httponly=True, **common)
        # The CSRF token is readable by our own scripts (double-submit), but bound to the session.
        self.set_cookie(XSRF_COOKIE, csrf, **common)

    @property
    def two_step_cookie(self) -> str:
        """The pending-sign-in cookie between the password step and the code step."""
        return f"{self.ctx.settings.cookie_name}_2step"

    def start_two_step(self, pending: Any, next_url: str) -> None:
        """The password was right and the account signs in in two steps: keep the pending sign-in
        (``SecondFactorRequired.pending``) in a short-lived signed cookie and send the browser to
        the code step. No session cookie is set."""
        s = self.ctx.settings
        self.set_signed_cookie(
            self.two_step_cookie,
            pending.pending,
            expires_days=TWO_STEP_COOKIE_DAYS,
            httponly=True,
            path="/",
            secure=s.uses_tls,
            samesite="Lax",
        )
        target = "/login/code" + (f"?next={tornado.escape.url_escape(next_url)}" if next_url != "/" else "")
        if self.wants_json():
            self.write_json({"redirect": target, "two_step": True})
        else:
            self.redirect(target, status=303)

    def end_two_step(self) -> None:
        """Drop the pending-sign-in cookie (with the attributes it was set with: a ``__Host-``
        cookie is only replaced by a Secure one)."""
        self.clear_cookie(self.two_step_cookie, path="/", secure=self.ctx.settings.uses_tls, samesite="Lax")

    def signed_in(self, result: Any, next_url: str) -> None:
        """Set the new session's cookies and send the browser on (``next`` or the role's home)."""
        self.set_session(result.token, result.csrf_token)
        target = next_url if next_url != "/" else ROLE_HOME[result.principal.role]
        if self.wants_json():
            self.write_json({"redirect": target})
        else:
            self.redirect(target, status=303)

    def clear_session(self) -> None:
        s = self.ctx.settings
        self.clear_cookie(s.cookie_name, path="/", secure=s.uses_tls, samesite="Lax")
        self.clear_cookie(XSRF_COOKIE, path="/", secure=s.uses_tls, samesite="Lax")
        self.set_header("Clear-Site-Data", '"cache", "cookies", "storage"')

    # -- CSRF ---------------------------------------------------------------------------

    def check_xsrf_cookie(self) -> None:
        """Tornado's own check is replaced by ``check_csrf`` (session-bound), run in prepare()."""

    @property
    def csrf_value(self) -> str:
        """The token forms embed: bound to the session when signed in, else Tornado's anonymous one."""
        if self.principal is not None:
            return self.ctx.auth.csrf_token(self.principal)
        return self.xsrf_token.decode()

    def xsrf_form_html(self) -> str:
        return self.csrf_form_html()

    def csrf_form_html(self) -> str:
        return f'<input type="hidden" name="_xsrf" value="{tornado.escape.xhtml_escape(self.csrf_value)}">'

    def _origin_ok(self) -> bool:
        site = self.request.headers.get("Sec-Fetch-Site")
        if site is not None and site not in {"same-origin", "none"}:
            return False
        origin = self.request.headers.get("Origin")
        if origin is None:
            return True  # non-browser clients; the token check below still applies
        expected = urlsplit(self.ctx.settings.app_url).netloc
        return origin != "null" and urlsplit(origin).netloc in {expected, self.request.host}

    def check_csrf(self) -> None:
        if not self._origin_ok():
            log.warning("malicious_csrf", reason="origin")
            raise CsrfFailed()
        presented = self.request.headers.get("X-XSRFToken") or self.request.headers.get("X-CSRFToken")
        if presented is None and self.request.method == "POST":
            presented = self._form_value("_xsrf")
        if self.principal is not None:
            if not self.ctx.auth.csrf_matches(self.principal, presented):
                log.warning("malicious_csrf", reason="token")
                raise CsrfFailed()
            return
        cookie = self.get_cookie(XSRF_COOKIE)
        if not presented or not cookie:
            log.warning("malicious_csrf", reason="missing")
            raise CsrfFailed()
        _, token, _ = self._decode_xsrf_token(presented)
        _, expected, _ = self._decode_xsrf_token(cookie)
        if not token or not expected or not hmac.compare_digest(token, expected):
            log.warning("malicious_csrf", reason="token")
            raise CsrfFailed()

    def _form_value(self, name: str) -> str | None:
        values = self.request.body_arguments.get(name)
        return values[0].decode("utf-8", "replace") if values else None

    # -- bodies and errors --------------------------------------------------------------

    def json_body(self) -> dict[str, Any]:
        ctype = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise UnsupportedMediaType()
        try:
            body = orjson.loads(self.request.body or b"null")
        except orjson.JSONDecodeError:
            raise ValidationFailed("The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise ValidationFailed("The request body must be a JSON object.")
        return body

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(orjson.dumps(data, default=str))

    def wants_json(self) -> bool:
        return self.api or "application/json" in self.request.headers.get("Accept", "")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, SmartCodersError):
            status, code, message = exc.status, exc.code.value, exc.message
            fields = exc.fields if isinstance(exc, ValidationFailed) else {}
        elif isinstance(exc, tornado.web.HTTPError):
            status, code = exc.status_code, {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
            message, fields = {404: "Not found.", 405: "Method not allowed."}.get(status, "Request failed."), {}
        else:
            status, code, message, fields = 500, "internal", "Something went wrong.", {}
            log.error("unhandled_error", exc_info=kwargs.get("exc_info"))
        self.set_status(status)
        if isinstance(exc, NotAuthenticated) and not self.wants_json():
            self.redirect(f"/login?next={tornado.escape.url_escape(self.request.uri or '/')}")
            return
        if self.wants_json():
            body: dict[str, Any] = {"error": {"code": code, "message": message}}
            if fields:
                body["error"]["fields"] = fields
            self.set_header("Content-Type", "application/json; charset=utf-8")
            self.finish(orjson.dumps(body))
            return
        heading = {
            401: "Sign in to continue",
            403: "Forbidden",
            404: "Not found",
            429: "Too many attempts",
            503: "Temporarily unavailable",
        }.get(status, "Something went wrong")
        self.render(
            "message.html",
            title=heading,
            heading=heading,
            message=message,
            link_href="/",
            link_text="Go to SmartCoders",
        )


class JsonHandler(BaseHandler):
    api = True
