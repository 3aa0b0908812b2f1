"""`smartcoders bench login` and `smartcoders bench page-account`: sign-in and /account on the real app.

Both start the whole app inside this process on a temporary ``SMARTCODERS_HOME``: embedded
PostgreSQL and Redis, migrations, the argon2id parameters of the settings defaults (the
production ones, never lowered: their cost is what is measured) and the real Panel/Tornado
server on a free loopback port in a background thread. The caller's environment and ``.env``
are not read, so the figures are those of a default install, with two exceptions: the login
rate limits are raised so that every attempt reaches the password hash instead of a 429, and
logging is at ERROR (a default install also writes a few log lines per request). The HTTP
client is one keep-alive ``http.client`` connection with a cookie jar, in the same process as
the server. ``--services-from-env`` runs against already running PostgreSQL and Redis instead
(the test suite's), which saves starting fresh ones.
"""

from __future__ import annotations

import argparse
import http.client
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit
from uuid import UUID

from app.bench import Configure, Report, bench_runtime, percentiles_ms, positive_int, register

if TYPE_CHECKING:
    from app.bootstrap import Runtime

WARMUP = 2  # unrecorded rounds: first-use costs (imports, pools, theme CSS) are not steady state
# High enough that no bench attempt is throttled; the counters are still incremented in Redis.
NO_LIMIT = "1000000/3600"


def _configure(default: int, what: str) -> Configure:
    def configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--iterations", type=positive_int, default=default, help=f"{what} (default {default})", metavar="N"
        )
        parser.add_argument(
            "--services-from-env",
            action="store_true",
            help="use the running PostgreSQL and Redis of DATABASE_URL, DATABASE_OWNER_URL and REDIS_URL "
            "instead of fresh embedded ones; the bench adds an organisation and a user there",
        )

    return configure


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class BenchApp:
    rt: Runtime
    url: str
    org_id: UUID
    email: str
    password: str


@contextmanager
def bench_app(*, services_from_env: bool = False) -> Iterator[BenchApp]:
    """The real app on a temporary home and a free port, with one organisation and its manager.

    PostgreSQL and Redis are fresh embedded servers in that home, shut down afterwards; or, with
    ``services_from_env``, the running ones named by the environment's URLs (migrated if needed).
    """
    from app.server import serve_in_thread
    from app.services.audit import Actor
    from app.services.auth import create_organisation

    port = _free_port()
    environ = {
        "APP_URL": f"http://127.0.0.1:{port}",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOGIN_LIMIT_ACCOUNT": NO_LIMIT,
        "LOGIN_LIMIT_ACCOUNT_IP": NO_LIMIT,
        "LOGIN_LIMIT_IP": NO_LIMIT,
    }
    # Logging at ERROR (bench_runtime) matters here: Tornado logs every 401 at WARNING.
    with (
        bench_runtime(services_from_env=services_from_env, environ=environ) as rt,
        serve_in_thread(rt.ctx, host="127.0.0.1", port=port) as url,
    ):
        # Unique, so runs against a shared database never collide.
        email, password = f"manager-{secrets.token_hex(6)}@bench.test", secrets.token_urlsafe(18)
        org_id = create_organisation(
            name="Bench Clinic",
            manager_email=email,
            manager_name="Bench Manager",
            password_hash=rt.ctx.hasher.hash(password),
            actor=Actor(None, "bench"),
        )
        yield BenchApp(rt=rt, url=url, org_id=org_id, email=email, password=password)


class Browser:
    """One keep-alive HTTP/1.1 connection with a cookie jar: as much browser as a sign-in form needs."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, bytes]:
        headers = {"Accept": "application/json"} if form is not None else {"Accept": "text/html"}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self._conn.request(method, path, body=body, headers=headers)
        response = self._conn.getresponse()
        data = response.read()
        for raw in response.headers.get_all("Set-Cookie") or []:
            jar: SimpleCookie = SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                if morsel.value:
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        return response.status, data

    def login(self, email: str, password: str) -> int:
        form = {"email": email, "password": password, "_xsrf": self.cookies.get("_xsrf", "")}
        return self.request("POST", "/login", form)[0]

    def close(self) -> None:
        self._conn.close()


def _expect(status: int, expected: int, what: str) -> None:
    if status != expected:
        raise RuntimeError(f"{what}: expected HTTP {expected}, got {status}")


LOGIN_CLASSES = ("correct", "wrong_password", "unknown_email")


def _attempt(app: BenchApp, name: str, i: int) -> tuple[str, str, int]:
    """Email, password and expected status of attempt ``i`` of a class; failures never repeat a value."""
    if name == "correct":
        return app.email, app.password, 200
    if name == "wrong_password":
        return app.email, f"Wrong-{i}-{secrets.token_hex(6)}", 401
    return f"nobody-{i}-{secrets.token_hex(4)}@bench.test", app.password, 401


def _time_logins(app: BenchApp, n: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in LOGIN_CLASSES}
    browser = Browser(app.url)
    try:
        _expect(browser.request("GET", "/login")[0], 200, "GET /login")
        anonymous = dict(browser.cookies)  # the anonymous _xsrf cookie every attempt starts from
        if "_xsrf" not in anonymous:
            raise RuntimeError("GET /login set no _xsrf cookie")
        for i in range(-WARMUP, n):
            # Interleaved in a rotating order: drift (CPU heat, caches, autovacuum) hits every class alike.
            k = i % len(LOGIN_CLASSES)
            for name in LOGIN_CLASSES[k:] + LOGIN_CLASSES[:k]:
                email, password, expected = _attempt(app, name, i)
                browser.cookies = dict(anonymous)  # every attempt is a fresh sign-in, not a re-login
                started = time.perf_counter()
                status = browser.login(email, password)
                elapsed = time.perf_counter() - started
                _expect(status, expected, f"POST /login ({name})")
                if i >= 0:
                    samples[name].append(elapsed)
    finally:
        browser.close()
    return samples


@register(
    "login",
    "sign-in latency over HTTP: right password, wrong password, unknown email",
    _configure(100, "attempts per class"),
)
def run_login(args: argparse.Namespace) -> Report:
    n: int = args.iterations
    with bench_app(services_from_env=args.services_from_env) as app:
        s = app.rt.settings
        samples = _time_logins(app, n)
    report = Report(f"Sign-in over HTTP, {n} attempts per class")
    report.add("iterations", n)
    report.add(
        "argon2id",
        f"m={s.password_hash_memory_kib} KiB, t={s.password_hash_time_cost}, p={s.password_hash_parallelism}",
    )
    figures = {name: percentiles_ms(values) for name, values in samples.items()}
    for name, pct in figures.items():
        for key, value in pct.items():
            report.add(f"{name}_{key}", value)
    known, wrong, unknown = (figures[name]["p50_ms"] for name in LOGIN_CLASSES)
    report.add("unknown_over_wrong_password_p50_ratio", unknown / wrong)
    report.add("unknown_over_correct_p50_ratio", unknown / known)
    report.add("unknown_minus_wrong_password_p50_ms", unknown - wrong)
    report.notes += [
        "each figure: one POST /login (form + _xsrf, Accept: application/json) on a keep-alive loopback "
        "connection, from sending the request to reading the whole response; client and server share "
        "this process, the server running in a background thread",
        "every class: CSRF check, three rate-limit counters in Redis, one argon2id verify in the "
        "executor (against the dummy hash for an unknown email) and an audit row",
        "correct also inserts the session row, records the login, resets two counters and signs the "
        "JWT and cookies; wrong_password and unknown_email answer the same 401",
        "the two failure classes are the anti-enumeration pair (SECURITY C3: |delta p50| < 5 ms); "
        "a ratio near 1 means an unknown email costs what a known one does",
    ]
    return report


def _time_builds(app: BenchApp, n: int) -> tuple[list[float], list[float]]:
    """Seconds to construct AccountPage (session resume included) and to render its Bokeh models."""
    import panel as pn
    from bokeh.document import Document

    from app.authz import Permission
    from pages.account import AccountPage
    from pages.registry import NAV

    ctx = app.rt.ctx
    p = ctx.auth.login(email=app.email, password=app.password, client_ip="127.0.0.1", user_agent="bench").principal
    construct: list[float] = []
    render: list[float] = []
    for i in range(-WARMUP, n):
        started = time.perf_counter()
        principal = ctx.auth.resume(org_id=p.org_id, user_id=p.user_id, session_id=p.session_id, touch=True)
        if principal is None or not principal.can(Permission.ACCOUNT_VIEW):
            raise RuntimeError("the bench session did not resume")
        page = AccountPage(principal=principal, ctx=ctx, nav=NAV)
        built = time.perf_counter()
        root = pn.Column(page, sizing_mode="stretch_both")
        model = root.get_root(Document())
        rendered = time.perf_counter()
        root._cleanup(model)  # internal API: drops Panel's registry entry for this view
        if i >= 0:
            construct.append(built - started)
            render.append(rendered - built)
    return construct, render


def _time_gets(app: BenchApp, n: int) -> tuple[list[float], int]:
    """Seconds per signed-in GET /account, and the size of the page."""
    browser = Browser(app.url)
    gets: list[float] = []
    size = 0
    try:
        _expect(browser.request("GET", "/login")[0], 200, "GET /login")
        _expect(browser.login(app.email, app.password), 200, "POST /login")
        for i in range(-WARMUP, n):
            started = time.perf_counter()
            status, body = browser.request("GET", "/account")
            elapsed = time.perf_counter() - started
            _expect(status, 200, "GET /account")
            if PAGE_MARKER not in body:
                raise RuntimeError("GET /account did not return the account page")
            size = len(body)
            if i >= 0:
                gets.append(elapsed)
    finally:
        browser.close()
    return gets, size


PAGE_MARKER = "<title>Account · SmartCoders</title>".encode()


@register(
    "page-account",
    "/account page build (objects and Bokeh models) and full HTTP GET for a signed-in user",
    _configure(50, "builds and GETs"),
)
def run_page_account(args: argparse.Namespace) -> Report:
    n: int = args.iterations
    with bench_app(services_from_env=args.services_from_env) as app:
        construct, render = _time_builds(app, n)
        gets, size = _time_gets(app, n)
    report = Report(f"/account page, {n} builds and {n} GETs")
    report.add("iterations", n)
    builds = [a + b for a, b in zip(construct, render, strict=True)]
    for name, values in (("build", builds), ("construct", construct), ("render", render), ("http_get", gets)):
        pct = percentiles_ms(values)
        report.add(f"{name}_p50_ms", pct["p50_ms"])
        report.add(f"{name}_p95_ms", pct["p95_ms"])
    report.add("http_get_bytes", size)
    report.notes += [
        "construct: resume the session from the database (as every page session does) and build "
        "AccountPage: profile and sessions queries, widgets",
        "render: wrap it as the server does and create its Bokeh models in a fresh Document "
        "(get_root): the shell, theme and every widget; build = construct + render, per iteration",
        "in the server the page GET does this work (see http_get); the browser's websocket then "
        "attaches to that same session and pulls its document: serialisation and transfer are not "
        "included",
        "http_get: a signed-in GET /account over a keep-alive loopback connection, from request to "
        "the last byte of the page HTML: cookie and session check, authorize callback, the new "
        "Bokeh session's page build (construct + render) and the HTML, which carries only a session "
        "token (http_get_bytes); the document itself goes over the websocket, not measured here",
    ]
    return report
