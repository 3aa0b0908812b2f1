"""Assemble the web server: Panel pages from the registry, our Tornado routes beside them, one
auth path, security headers, and the Bokeh hardening of INV-16/INV-17."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import panel as pn
from bokeh.server.auth_provider import AuthProvider
from panel.io.application import build_applications
from tornado.web import RequestHandler

import tokens
from app.authz import Principal
from app.context import AppContext
from app.http.base import XSRF_COOKIE
from app.http.headers import make_transform
from app.http.routes import tornado_patterns
from app.logs import get_logger
from app.security.tokens import read_signed_cookie
from pages.base import build
from pages.identity import IdentityHandler, session_identity
from pages.registry import NAV, PAGES, page_for

log = get_logger(__name__)
TEMPLATES = Path(__file__).resolve().parent / "http" / "templates"


class SessionAuth(AuthProvider):
    """Bokeh/Panel authentication from our session cookie (page GETs and websocket handshakes)."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        super().__init__()

    @property
    def get_user(self) -> Any:
        def get_user(handler: RequestHandler) -> str | None:
            s = self._ctx.settings
            token = read_signed_cookie(
                s.cookie_name, handler.get_cookie(s.cookie_name), s.cookie_secrets, max_age_days=1
            )
            principal = self._ctx.auth.authenticate(token)
            return str(principal.user_id) if principal else None

        return get_user

    @property
    def login_url(self) -> str:
        return "/login"


def make_authorize(ctx: AppContext) -> Any:
    def authorize(user_info: Any, path: str) -> bool:
        """HTTP page requests: the same registry check the page repeats when it is built."""
        spec = page_for(path)
        identity = session_identity()
        if spec is None or identity is None:
            return False
        try:
            principal: Principal | None = ctx.auth.resume(
                org_id=UUID(identity["org"]),
                user_id=UUID(identity["sub"]),
                session_id=UUID(identity["sid"]),
                touch=False,
            )
        except (KeyError, ValueError):
            return False
        allowed = principal is not None and principal.can(spec.permission)
        if not allowed:
            log.warning("authz_fail", path=path)
        return allowed

    return authorize


def make_server(ctx: AppContext, *, host: str, port: int, verbose: bool = True) -> Any:
    """A started-later Bokeh server with every page and route; call ``.start()`` then run the loop."""
    s = ctx.settings
    pn.config.global_css = [tokens.css_variables()]
    pn.config.authorize_callback = make_authorize(ctx)
    pn.config.auth_template = str(TEMPLATES / "forbidden.html")
    apps = build_applications(
        {spec.path: build(spec.page, spec.permission, ctx, NAV) for spec in PAGES},
        title={spec.path: f"{spec.label} · SmartCoders" for spec in PAGES},
    )
    for app in apps.values():
        app.add(IdentityHandler(ctx))
    origins = sorted({s.public_host, f"{host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"})
    return pn.serve(
        apps,
        port=port,
        address=host,
        start=False,
        show=False,
        verbose=verbose,  # Panel's own "Launching server at" line on stdout
        websocket_origin=origins,
        auth_provider=SessionAuth(ctx),
        cookie_secret=s.cookie_secret.get(),
        extra_patterns=tornado_patterns(ctx),
        # INV-17: the embedded session token carries no cookies and no Cookie header.
        exclude_cookies=[s.cookie_name, s.session_cookie_name, XSRF_COOKIE],
        exclude_headers=["Cookie", "Authorization"],
        sign_sessions=True,
        secret_key=s.session_secret.get(),
        session_token_expiration=60,
        xsrf_cookies=True,
        use_index=False,
        redirect_root=False,
        use_xheaders=s.use_xheaders,
        http_server_kwargs={
            "max_header_size": s.max_header_bytes,
            "max_body_size": s.max_body_bytes,
            "body_timeout": 60,
            "idle_connection_timeout": 120,
        },
        template_path=str(TEMPLATES),
        transforms=[
            make_transform(page_paths=frozenset(p.path for p in PAGES), public_host=s.public_host, tls=s.uses_tls)
        ],
        compress_response=False,
    )


def _stop(server: Any, loop: Any) -> None:
    """On the server's loop: end every page session (their periodic callbacks go with them), stop."""
    for session in server.get_sessions():
        if not session.destroyed:
            session.destroy()
    server.stop()
    loop.stop()


# make_server sets these process-wide Panel options (the authorize callback is bound to its ctx).
_PANEL_GLOBALS = ("global_css", "authorize_callback", "auth_template")


@contextmanager
def serve_in_thread(ctx: AppContext, *, host: str, port: int) -> Iterator[str]:
    """The real server on its own IOLoop in a background thread, for the length of a ``with`` block.

    Yields the base URL. For benchmarks (the test suite's ``live_server`` fixture does the same).
    On exit the server and its loop are stopped and closed, and the Panel options ``make_server``
    changed are put back, so a server started inside another app's process leaves it as it was.
    """
    from tornado.ioloop import IOLoop

    saved = {name: getattr(pn.config, name) for name in _PANEL_GLOBALS}
    ready = threading.Event()
    state: dict[str, Any] = {}

    def run() -> None:
        aloop = asyncio.new_event_loop()
        asyncio.set_event_loop(aloop)
        loop = IOLoop.current()
        try:
            server = make_server(ctx, host=host, port=port, verbose=False)
            server.start()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread below
            state["error"] = exc
            ready.set()
            loop.close(all_fds=True)
            return
        state["server"], state["loop"] = server, loop
        ready.set()
        loop.start()
        # Let work already running finish (a periodic callback half-way through Bokeh's executor
        # hop would otherwise leave a never-awaited coroutine), then cancel and await the rest,
        # so closing the loop destroys no pending task.
        if pending := asyncio.all_tasks(aloop):
            aloop.run_until_complete(asyncio.wait(pending, timeout=10))
        while pending := asyncio.all_tasks(aloop):
            for task in pending:
                task.cancel()
            aloop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        aloop.run_until_complete(aloop.shutdown_default_executor())
        loop.close(all_fds=True)

    thread = threading.Thread(target=run, daemon=True, name=f"server-{port}")
    thread.start()
    try:
        if not ready.wait(60):
            raise RuntimeError(f"the server on port {port} did not start within 60 s")
        if "error" in state:
            raise state["error"]
        yield f"http://{host}:{port}"
    finally:
        loop = state.get("loop")
        if loop is not None:
            loop.add_callback(_stop, state["server"], loop)
        thread.join(30)
        for name, value in saved.items():
            setattr(pn.config, name, value)
