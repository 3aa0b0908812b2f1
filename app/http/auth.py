"""Sign-in, sign-out, registration and invitation pages: our own server-rendered forms.

Every sign-in failure answers identically (status, headers, body): no account enumeration.
Browsers with JavaScript get JSON (``Accept: application/json``); without it, a 303 back to the
form (Post/Redirect/Get). Registration answers 201 with the same body whether or not the email
already had an account.
"""

from __future__ import annotations

import asyncio

from app.authz import ROLE_HOME
from app.errors import NotFound, RateLimited, ServiceUnavailable, ValidationFailed
from app.http.base import PUBLIC, BaseHandler, safe_next
from app.security.tokens import read_signed_cookie
from app.services import users as user_actions
from app.services.auth import CodeRejected, LoginFailed, NewSession, SecondFactorRequired, TwoStepExpired

LOGIN_FAILED_MESSAGE = LoginFailed.public_message
REGISTERED_MESSAGE = (
    "Thanks. If this email can be used, your organisation is ready: sign in with your email and password. "
    "If you already have an account, we have emailed you instead."
)


class RootHandler(BaseHandler):
    """``/``: send each role to its home page; anonymous visitors to sign in."""

    permission = PUBLIC

    def get(self) -> None:
        if self.principal is None:
            self.redirect("/login")
        else:
            self.redirect(ROLE_HOME[self.principal.role])


class LoginHandler(BaseHandler):
    permission = PUBLIC

    def get(self) -> None:
        if self.principal is not None:
            self.redirect(safe_next(self.get_query_argument("next", None), ROLE_HOME[self.principal.role]))
            return
        failed = self.get_query_argument("failed", None) is not None
        notice = {
            "signed_out": "You have been signed out.",
            "expired": "Your session ended. Sign in again.",
            "registered": REGISTERED_MESSAGE,
        }.get(self.get_query_argument("notice", ""), "")
        self.render(
            "login.html",
            title="Sign in",
            email="",
            next_url=safe_next(self.get_query_argument("next", None)),
            error=LOGIN_FAILED_MESSAGE if failed else "",
            notice=notice,
            script=True,
        )

    async def post(self) -> None:
        email = self.get_body_argument("email", "")[:320]
        password = self.get_body_argument("password", "")[:1024]
        next_url = safe_next(self.get_body_argument("next", None))
        try:
            result = await _password_step(self, email, password)
        except LoginFailed:
            self.set_status(401)
            if self.wants_json():
                self.write_json({"error": {"code": "login_failed", "message": LOGIN_FAILED_MESSAGE}}, status=401)
            else:
                self.redirect(f"/login?failed=1&next={_q(next_url)}", status=303)
            return
        except SecondFactorRequired as pending:
            self.start_two_step(pending, next_url)
            return
        except ServiceUnavailable:
            # Redis did not answer: fail closed, no hash computed (C6).
            self.set_status(503)
            self.write_json({"error": {"code": "unavailable", "message": ServiceUnavailable.public_message}}, 503)
            return
        self.signed_in(result, next_url)


class TwoStepHandler(BaseHandler):
    """``/login/code``: the second step of a two-step sign-in, the code from the user's
    authenticator app. Reached only with the pending-sign-in cookie the password step set."""

    permission = PUBLIC

    def _pending(self) -> str | None:
        s = self.ctx.settings
        name = self.two_step_cookie
        return read_signed_cookie(name, self.get_cookie(name), s.cookie_secrets, max_age_days=1)

    def _form(self, error: str = "", status: int = 200) -> None:
        self.set_status(status)
        self.render(
            "code.html",
            title="Enter your code",
            next_url=safe_next(self.get_argument("next", None)),
            error=error,
            notice="",
            script=False,
        )

    def get(self) -> None:
        if self.principal is not None:
            self.redirect(ROLE_HOME[self.principal.role])
        elif self._pending() is None:
            self.redirect("/login?notice=expired")
        else:
            self._form()

    async def post(self) -> None:
        code = self.get_body_argument("code", "")[:32]
        next_url = safe_next(self.get_body_argument("next", None))
        pending = self._pending()
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(
                self.ctx.executor,
                lambda: self.ctx.auth.complete_two_step(
                    pending, code, client_ip=self.client_ip, user_agent=self.request.headers.get("User-Agent")
                ),
            )
        except CodeRejected as exc:
            if self.wants_json():
                self.write_json({"error": {"code": "code_rejected", "message": exc.message}}, 401)
            else:
                self._form(exc.message, status=401)
            return
        except (TwoStepExpired, RateLimited) as exc:
            self.end_two_step()
            if self.wants_json():
                self.write_json({"error": {"code": "start_again", "message": exc.message}}, exc.status)
            else:
                self.set_status(exc.status)
                self.render(
                    "message.html",
                    title="Sign in again",
                    heading="Sign in again",
                    message=exc.message,
                    link_href="/login",
                    link_text="Go to sign in",
                )
            return
        except ServiceUnavailable:
            self.write_json({"error": {"code": "unavailable", "message": ServiceUnavailable.public_message}}, 503)
            return
        self.end_two_step()
        self.signed_in(result, next_url)


async def _password_step(handler: BaseHandler, email: str, password: str) -> NewSession:
    """``AuthService.login`` off the IOLoop (argon2 and the database run in the context's executor)."""
    return await asyncio.get_running_loop().run_in_executor(
        handler.ctx.executor,
        lambda: handler.ctx.auth.login(
            email=email,
            password=password,
            client_ip=handler.client_ip,
            user_agent=handler.request.headers.get("User-Agent"),
        ),
    )


def _q(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


class LogoutHandler(BaseHandler):
    permission = PUBLIC  # signing out needs a session only if there is one; CSRF still applies

    def post(self) -> None:
        if self.principal is not None:
            self.ctx.auth.logout(self.principal, client_ip=self.client_ip)
        self.clear_session()
        if self.wants_json():
            self.write_json({"redirect": "/login?notice=signed_out"})
        else:
            self.redirect("/login?notice=signed_out", status=303)


class RegisterHandler(BaseHandler):
    permission = PUBLIC
    FIELDS = ("organization", "name", "email")

    def get(self) -> None:
        self._form({}, {}, "")

    def _form(self, values: dict[str, str], errors: dict[str, str], error: str, status: int = 200) -> None:
        self.set_status(status)
        self.render(
            "register.html",
            title="Create your organisation",
            values=values,
            errors=errors,
            error=error,
            notice="",
            script=False,
        )

    async def post(self) -> None:
        values = {f: self.get_body_argument(f, "")[:300] for f in self.FIELDS}
        password = self.get_body_argument("password", "")[:1024]
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(
                self.ctx.executor,
                lambda: self.ctx.auth.register(
                    organization=values["organization"],
                    name=values["name"],
                    email=values["email"],
                    password=password,
                    client_ip=self.client_ip,
                ),
            )
        except ValidationFailed as exc:
            if self.wants_json():
                self.write_json({"error": {"code": "invalid", "message": exc.message, "fields": exc.fields}}, 400)
            else:
                self._form(values, exc.fields, "Please correct the highlighted fields.", status=400)
            return
        except RateLimited as exc:
            if self.wants_json():
                self.write_json({"error": {"code": "rate_limited", "message": exc.message}}, 429)
            else:
                self._form(values, {}, exc.message, status=429)
            return
        self.set_status(201)
        if self.wants_json():
            self.write_json({"status": "accepted", "message": REGISTERED_MESSAGE}, 201)
        else:
            self.render(
                "message.html",
                title="Check your email",
                heading="Thanks",
                message=REGISTERED_MESSAGE,
                link_href="/login",
                link_text="Go to sign in",
            )


class InviteHandler(BaseHandler):
    """``/invite?token=…``: an invited user sets a password, then is signed in."""

    permission = PUBLIC

    def _invalid(self, exc: NotFound) -> None:
        self.set_status(404)
        self.render(
            "message.html",
            title="Invitation",
            heading="This link cannot be used",
            message=exc.message,
            link_href="/login",
            link_text="Go to sign in",
        )

    def get(self) -> None:
        token = self.get_query_argument("token", "")[:200]
        try:
            view = user_actions.view_invitation(token)
        except NotFound as exc:
            self._invalid(exc)
            return
        self.set_header("Referrer-Policy", "no-referrer")
        self.render(
            "invite.html",
            title="Set your password",
            name=view.name,
            organization=view.organization,
            token=token,
            errors={},
            error="",
            script=False,
        )

    async def post(self) -> None:
        token = self.get_body_argument("token", "")[:200]
        password = self.get_body_argument("password", "")[:1024]
        confirm = self.get_body_argument("password_confirm", "")[:1024]
        loop = asyncio.get_running_loop()
        try:
            email = await loop.run_in_executor(
                self.ctx.executor,
                lambda: user_actions.accept_invitation(
                    token, password=password, confirm=confirm, hasher=self.ctx.hasher, client_ip=self.client_ip
                ),
            )
        except NotFound as exc:
            self._invalid(exc)
            return
        except ValidationFailed as exc:
            view = user_actions.view_invitation(token)
            self.set_status(400)
            self.render(
                "invite.html",
                title="Set your password",
                name=view.name,
                organization=view.organization,
                token=token,
                errors=exc.fields,
                error="Please correct the highlighted fields.",
                script=False,
            )
            return
        try:
            result = await _password_step(self, email, password)
        except SecondFactorRequired as pending:
            # A reset link sets the password; two-step sign-in stays on and is asked for (B14).
            self.start_two_step(pending, "/")
            return
        self.signed_in(result, "/")
