"""HTTP-level security proofs against the live Panel/Tornado server (SECURITY.md A7, B1-B10, C1-C6).

Each test is named after the SECURITY.md id it proves:

* A7  — the permission matrix, computed as data from ``app.authz.has_permission`` over the route
        inventory (``app.http.routes.ROUTES``) and the page registry (``pages.registry.PAGES``) for
        every role of org alpha plus anonymous; a new route or page is covered automatically.
* A   — cross-tenant reads/writes answer exactly like a non-existent id (no existence oracle).
* B1  — session cookie attributes; the cookie value never appears in a response body.
* B2  — the Bokeh session token embedded in pages carries no cookie / Cookie header, only ids.
* PANEL finding (a) — a token lifted from /account cannot open /users over the websocket.
* B5/B6 — logout, password change and deactivation revoke sessions server-side.
* B7  — idle (15 min) and absolute (12 h) session timeouts, with time travel.
* B10 — the CSRF matrix, including the cookie-injection (naive double-submit) case.
* C1/C2 — login failures are byte-identical across classes and cost exactly one hash (zero when throttled).
* C4  — per account+IP throttling happens before hashing and refuses even the right password.
* C6  — a hung Redis fails login closed (503) within 1 s without hashing.
* Security headers on every route and page.

Tests that change state use their own users/organisations (``make_org``/``make_user``) and
dedicated emails, so the Redis rate-limit keys (per email hash) never collide across tests.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
import time_machine
from bokeh.util.token import get_token_payload
from sqlalchemy import text
from tornado.web import decode_signed_value

from app.authz import Permission, Principal, Role, has_permission
from app.http.base import PUBLIC
from app.http.routes import ROUTES, Route
from app.services import users as user_actions
from app.settings import load_settings
from datalayer import redis_client
from datalayer.queries import audit_log
from datalayer.scope import org_scope
from pages.registry import PAGES, PageSpec
from tests.conftest import PASSWORD, Client, LiveServer, Universe, make_org, make_user

ROLE_EMAILS: dict[str, str | None] = {
    "manager": "mgr@alpha.test",
    "supervisor": "sup@alpha.test",
    "coder": "coder@alpha.test",
    "analyst": "analyst@alpha.test",
    "anonymous": None,
}

# Concrete GET paths for routes whose pattern has groups. A new parametrised route must be added
# here (test_a7_every_route_has_sample_path fails otherwise).
_SAMPLE_PATHS: dict[str, str] = {
    r"/assets/([a-z]+\.(?:css|js))": "/assets/app.css",
    r"/api/v1/users/([^/]+)": "/api/v1/users/{coder_alpha}",
    r"/api/v1/imports/([^/]+)": "/api/v1/imports/{import_alpha}",
    r"/api/v1/export/(charts|audits|metrics)\.(csv|parquet)": "/api/v1/export/charts.csv",
    r"/api/v1/charts/([^/]+)": "/api/v1/charts/{chart_alpha}",
    r"/api/v1/charts/([^/]+)/claim": "/api/v1/charts/{chart_alpha}/claim",
    r"/api/v1/charts/([^/]+)/audit": "/api/v1/charts/{chart_alpha}/audit",
}
_IMPORT_ALPHA: dict[str, uuid.UUID] = {}


def _import_alpha(universe: Universe) -> uuid.UUID:
    """An (empty, finished) import job of org alpha, created once, for the GET matrix."""
    if "id" not in _IMPORT_ALPHA:
        from app.services.imports import import_paths

        _IMPORT_ALPHA["id"] = import_paths(universe.orgs["alpha"], []).job.id
    return _IMPORT_ALPHA["id"]


_CHART_ALPHA: dict[str, uuid.UUID] = {}


def _chart_alpha(universe: Universe) -> uuid.UUID:
    """A chart of org alpha assigned to coder@alpha.test (so every alpha role may read it), once."""
    if "id" not in _CHART_ALPHA:
        from tests.chart_fixtures import chart_row, insert_charts

        (chart_id,) = insert_charts(universe.orgs["alpha"], [chart_row(0)])
        with org_scope(universe.orgs["alpha"]) as scope:
            scope.conn.execute(
                text("UPDATE charts SET assignee_id = :coder WHERE id = :id"),
                {"coder": universe.users["coder@alpha.test"], "id": chart_id},
            )
        _CHART_ALPHA["id"] = chart_id
    return _CHART_ALPHA["id"]


GET_ROUTES = [r for r in ROUTES if "GET" in r.methods]


def _path(route: Route, universe: Universe) -> str:
    if "(" not in route.pattern:
        return route.pattern
    sample = _SAMPLE_PATHS[route.pattern]
    if "{import_alpha}" in sample:
        return sample.format(import_alpha=_import_alpha(universe))
    if "{chart_alpha}" in sample:
        return sample.format(chart_alpha=_chart_alpha(universe))
    return sample.format(coder_alpha=universe.users["coder@alpha.test"])


def _is_login_redirect(r: httpx.Response) -> bool:
    """A 302 whose (possibly relative, e.g. Panel's ``./login?next=``) target resolves to /login."""
    return r.status_code == 302 and urlsplit(urljoin(str(r.url), r.headers.get("location", ""))).path == "/login"


def _fresh(live_server: LiveServer) -> Client:
    return Client(base_url=live_server.url, follow_redirects=False, timeout=10)


def _session_cookie(c: httpx.Client, live_server: LiveServer) -> str:
    value = c.cookies.get(live_server.ctx.settings.cookie_name)
    assert value, "no session cookie"
    return value


def _jwt_of(cookie_value: str, live_server: LiveServer) -> str:
    s = live_server.ctx.settings
    raw = decode_signed_value(s.cookie_secret.get(), s.cookie_name, cookie_value.strip('"'), max_age_days=1)
    assert raw is not None
    return raw.decode()


def _principal_of(c: httpx.Client, live_server: LiveServer) -> Principal:
    principal = live_server.ctx.auth.authenticate(_jwt_of(_session_cookie(c, live_server), live_server), touch=False)
    assert principal is not None
    return principal


def _signed_in(live_server: LiveServer, email: str) -> Client:
    c = _fresh(live_server)
    r = c.login(email)
    assert r.status_code == 200, r.text
    return c


@pytest.fixture(scope="module")
def role_clients(live_server: LiveServer, universe: Universe) -> Iterator[dict[str, Client]]:
    clients = {
        role: (_signed_in(live_server, email) if email else _fresh(live_server)) for role, email in ROLE_EMAILS.items()
    }
    yield clients
    for c in clients.values():
        c.close()


@pytest.fixture(scope="module")
def fresh_org(runtime: Any) -> uuid.UUID:
    return make_org()


def _manager_principal(live_server: LiveServer, org_id: uuid.UUID) -> Principal:
    """A real manager session created in-process from a non-loopback IP (keeps 127.0.0.1's budget)."""
    email = f"mgr-{uuid.uuid4().hex[:10]}@example.test"
    make_user(live_server.ctx, org_id, Role.MANAGER, email=email)
    return live_server.ctx.auth.login(email=email, password=PASSWORD, client_ip="10.77.0.1", user_agent=None).principal


# --------------------------------------------------------------------------------------------
# A7: permission matrix as data
# --------------------------------------------------------------------------------------------


def test_a7_every_route_declares_permission() -> None:
    for route in ROUTES:
        assert route.permission is not None, route.pattern
        assert route.permission == PUBLIC or isinstance(route.permission, Permission), route.pattern
    for spec in PAGES:
        assert isinstance(spec.permission, Permission), spec.path


def test_a7_every_route_has_sample_path() -> None:
    for route in GET_ROUTES:
        assert "(" not in route.pattern or route.pattern in _SAMPLE_PATHS, route.pattern


def _expected_allowed(role: str, permission: object) -> bool:
    if permission == PUBLIC:
        return True
    return role != "anonymous" and has_permission(role, permission)  # type: ignore[arg-type]


@pytest.mark.parametrize("role", list(ROLE_EMAILS))
@pytest.mark.parametrize("route", GET_ROUTES, ids=[r.pattern for r in GET_ROUTES])
def test_a7_route_matrix(route: Route, role: str, role_clients: dict[str, Client], universe: Universe) -> None:
    c = role_clients[role]
    headers = {"Accept": "application/json"} if route.handler.api else {}
    r = c.get(_path(route, universe), headers=headers)
    if route.permission == PUBLIC:
        assert r.status_code not in (401, 403), (r.status_code, r.text[:200])
        return
    if _expected_allowed(role, route.permission):
        assert r.status_code == 200, (r.status_code, r.text[:200])
    elif role == "anonymous":
        if route.handler.api:
            assert r.status_code == 401
            assert r.json()["error"]["code"]
        else:
            assert _is_login_redirect(r)
    else:
        assert r.status_code == 403, (r.status_code, r.text[:200])


@pytest.mark.slow
@pytest.mark.parametrize("role", list(ROLE_EMAILS))
@pytest.mark.parametrize("spec", PAGES, ids=[p.path for p in PAGES])
def test_a7_page_matrix(spec: PageSpec, role: str, role_clients: dict[str, Client]) -> None:
    r = role_clients[role].get(spec.path)
    if role == "anonymous":
        assert _is_login_redirect(r), (r.status_code, r.headers.get("location"))
    elif _expected_allowed(role, spec.permission):
        assert r.status_code == 200, r.status_code
        assert "Forbidden" not in r.text
    else:
        assert r.status_code == 403, r.status_code
        assert "You do not have permission to open this page." in r.text


# --------------------------------------------------------------------------------------------
# A: cross-tenant ids answer like unknown ids
# --------------------------------------------------------------------------------------------


def test_a_cross_tenant_user_is_indistinguishable_from_unknown(
    role_clients: dict[str, Client], universe: Universe
) -> None:
    c = role_clients["manager"]
    beta = universe.users["coder@beta.test"]
    other = c.get(f"/api/v1/users/{beta}")
    unknown = c.get(f"/api/v1/users/{uuid.uuid4()}")
    assert other.status_code == unknown.status_code == 404
    assert other.content == unknown.content
    body = json.dumps({"role": "analyst"})
    hdrs = {**c.csrf(), "Content-Type": "application/json"}
    other = c.patch(f"/api/v1/users/{beta}", content=body, headers=hdrs)
    unknown = c.patch(f"/api/v1/users/{uuid.uuid4()}", content=body, headers=hdrs)
    assert other.status_code == unknown.status_code == 404
    assert other.content == unknown.content


# --------------------------------------------------------------------------------------------
# B1: cookie attributes
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_b1_session_cookie_flags(live_server: LiveServer, fresh_org: uuid.UUID, universe: Universe) -> None:
    s = live_server.ctx.settings
    assert s.uses_tls is False
    assert s.cookie_name == s.session_cookie_name
    email = f"b1-{uuid.uuid4().hex[:8]}@example.test"
    make_user(live_server.ctx, fresh_org, Role.MANAGER, email=email)
    with _fresh(live_server) as c:
        r = c.login(email)
        assert r.status_code == 200
        cookies = [h for h in r.headers.get_list("set-cookie") if h.startswith(f"{s.cookie_name}=")]
        assert len(cookies) == 1
        attrs = [a.strip().lower() for a in cookies[0].split(";")[1:]]
        assert "httponly" in attrs
        assert "samesite=lax" in attrs
        assert "path=/" in attrs
        assert not any(a.startswith("domain") for a in attrs)
        assert "secure" not in attrs  # plain-HTTP test server; TLS variant checked below
        value = _session_cookie(c, live_server)
        jwt_token = _jwt_of(value, live_server)
        bodies = [r.content]
        for path in (
            "/",
            "/login",
            "/api/v1/me",
            "/api/v1/users",
            "/users",
            "/account",
            "/api/v1/openapi.json",
            "/healthz",
        ):
            resp = c.get(path)
            bodies.append(resp.content)
            assert value not in str(resp.url)
            assert value not in resp.headers.get("location", "")
        for body in bodies:
            assert value.encode() not in body
            assert jwt_token.encode() not in body


def test_b1_tls_cookie_name_has_host_prefix(tmp_path: Any) -> None:
    settings = load_settings(
        {"SMARTCODERS_ENV": "test", "SMARTCODERS_HOME": str(tmp_path), "APP_URL": "https://sc.example.org"},
        env_file=None,
    )
    assert settings.uses_tls
    assert settings.cookie_name == f"__Host-{settings.session_cookie_name}"


# --------------------------------------------------------------------------------------------
# B2: Bokeh token carries no cookie
# --------------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r'(?:"token"\s*:\s*"|token\s*=\s*["\'])([A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+){1,2})')


def _bokeh_token(html: str) -> str:
    found = _TOKEN_RE.findall(html)
    if not found:
        found = re.findall(r"&quot;token&quot;:&quot;([A-Za-z0-9_\-.]+)&quot;", html)
    i = html.find("token")
    assert found, html[max(0, i - 300) : i + 300]
    return found[0]


@pytest.mark.slow
@pytest.mark.parametrize("extra_cookies", [False, True], ids=["session-only", "with-extra-cookies"])
@pytest.mark.parametrize("path", ["/account", "/users"])
def test_b2_bokeh_token_has_no_session_cookie(
    live_server: LiveServer, universe: Universe, path: str, extra_cookies: bool
) -> None:
    name = live_server.ctx.settings.cookie_name
    with closing(_signed_in(live_server, "mgr@alpha.test")) as c:
        value = _session_cookie(c, live_server)
        jwt_token = _jwt_of(value, live_server)
        cookie_header = f"{name}={value}"
        if extra_cookies:
            cookie_header += f"; _xsrf={c.cookies.get('_xsrf')}; theme=dark; tracking=abc123"
        with httpx.Client(base_url=live_server.url, timeout=10) as raw:
            r = raw.get(path, headers={"Cookie": cookie_header})
        assert r.status_code == 200
        token = _bokeh_token(r.text)
        payload = get_token_payload(token)
        dumped = json.dumps(payload)
        assert value not in dumped
        assert jwt_token not in dumped
        header_names = {k.lower() for k in payload.get("headers", {})}
        assert "cookie" not in header_names
        assert "authorization" not in header_names
        assert "Cookie" not in dumped  # no raw "Cookie" header text anywhere in the payload
        assert name not in payload.get("cookies", {})
        assert "_xsrf" not in payload.get("cookies", {})
        assert set(payload["sc_identity"]) == {"sub", "org", "sid"}


# --------------------------------------------------------------------------------------------
# PANEL finding (a): a token lifted from one page does not open another page over the websocket
# --------------------------------------------------------------------------------------------


async def _pull_doc(url: str, token: str, cookie: str, origin: str) -> str:
    from bokeh.protocol import Protocol
    from bokeh.protocol.receiver import Receiver
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    request = HTTPRequest(url, headers={"Cookie": cookie, "Origin": origin})
    conn = await websocket_connect(request, subprotocols=["bokeh", token])
    protocol = Protocol()
    receiver = Receiver(protocol)

    async def read_message() -> Any:
        while True:
            fragment = await asyncio.wait_for(conn.read_message(), 10)
            assert fragment is not None, "websocket closed"
            msg = await receiver.consume(fragment)
            if msg is not None:
                return msg

    ack = await read_message()
    assert ack.msgtype == "ACK"
    req = protocol.create("PULL-DOC-REQ")
    for part in (req.header_json, req.metadata_json, req.content_json):
        await conn.write_message(part)
    reply = await read_message()
    conn.close()
    # Wait for the server's close frame, so the socket is closed before this loop ends: left to
    # the garbage collector it is a ResourceWarning, i.e. an error in whichever test runs then.
    while await asyncio.wait_for(conn.read_message(), 10) is not None:
        pass
    assert reply.msgtype == "PULL-DOC-REPLY", reply.msgtype
    return reply.content_json


@pytest.mark.slow
def test_panel_a_lifted_token_cannot_open_other_page(live_server: LiveServer, universe: Universe) -> None:
    name = live_server.ctx.settings.cookie_name
    with closing(_signed_in(live_server, "coder@alpha.test")) as c:
        r = c.get("/account")
        assert r.status_code == 200
        token = _bokeh_token(r.text)
        cookie = f"{name}={_session_cookie(c, live_server)}"
        ws_url = f"ws://127.0.0.1:{live_server.port}/users/ws"
        doc = asyncio.run(_pull_doc(ws_url, token, cookie, live_server.url))
    assert "Tabulator" not in doc
    assert "coder@alpha.test" not in doc
    assert "mgr@alpha.test" not in doc
    assert "Forbidden" in doc


def test_panel_a_build_refuses_forbidden_page(
    live_server: LiveServer, universe: Universe, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pages import base
    from pages.registry import NAV
    from pages.users import UsersPage

    coder = Principal(
        user_id=universe.users["coder@alpha.test"],
        org_id=universe.orgs["alpha"],
        role=Role.CODER,
        name="coder",
        email="coder@alpha.test",
        session_id=uuid.uuid4(),
    )
    monkeypatch.setattr(base, "current_principal", lambda ctx, touch=False: coder)
    view = base.build(UsersPage, Permission.USERS_MANAGE, live_server.ctx, NAV)()
    assert "Forbidden" in view.object
    assert not isinstance(view, UsersPage)


# --------------------------------------------------------------------------------------------
# B5/B6: revocation
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_b5_logout_revokes_replayed_cookie(live_server: LiveServer, fresh_org: uuid.UUID) -> None:
    email = f"b5-{uuid.uuid4().hex[:8]}@example.test"
    make_user(live_server.ctx, fresh_org, Role.MANAGER, email=email)
    with closing(_signed_in(live_server, email)) as c:
        saved = dict(c.cookies.items())
        assert c.get("/api/v1/me").status_code == 200
        r = c.post("/logout", headers=c.csrf())
        assert r.status_code == 303
    with httpx.Client(base_url=live_server.url, cookies=saved, follow_redirects=False, timeout=10) as replay:
        assert replay.get("/api/v1/me").status_code == 401
        page = replay.get("/account")
        assert _is_login_redirect(page)


@pytest.mark.slow
def test_b6_password_change_revokes_other_sessions(live_server: LiveServer, fresh_org: uuid.UUID) -> None:
    email = f"b6-{uuid.uuid4().hex[:8]}@example.test"
    make_user(live_server.ctx, fresh_org, Role.CODER, email=email)
    with closing(_signed_in(live_server, email)) as one, closing(_signed_in(live_server, email)) as two:
        principal = _principal_of(one, live_server)
        user_actions.change_password(
            principal,
            current=PASSWORD,
            new="Brisk-Lantern-Orchard-47",
            confirm="Brisk-Lantern-Orchard-47",
            hasher=live_server.ctx.hasher,
        )
        assert two.get("/api/v1/me").status_code == 401
        assert one.get("/api/v1/me").status_code == 200


@pytest.mark.slow
def test_b6_deactivation_revokes_all_sessions(live_server: LiveServer, fresh_org: uuid.UUID) -> None:
    email = f"b6d-{uuid.uuid4().hex[:8]}@example.test"
    user_id = make_user(live_server.ctx, fresh_org, Role.CODER, email=email)
    manager = _manager_principal(live_server, fresh_org)
    with closing(_signed_in(live_server, email)) as one, closing(_signed_in(live_server, email)) as two:
        user_actions.set_active(manager, user_id, False)
        assert one.get("/api/v1/me").status_code == 401
        assert two.get("/api/v1/me").status_code == 401


# --------------------------------------------------------------------------------------------
# B7: idle and absolute timeouts
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_b7_idle_timeout(live_server: LiveServer, fresh_org: uuid.UUID) -> None:
    s = live_server.ctx.settings
    assert s.session_idle_minutes == 15
    below_email = f"b7a-{uuid.uuid4().hex[:8]}@example.test"
    above_email = f"b7b-{uuid.uuid4().hex[:8]}@example.test"
    make_user(live_server.ctx, fresh_org, Role.CODER, email=below_email)
    above_id = make_user(live_server.ctx, fresh_org, Role.CODER, email=above_email)
    with closing(_signed_in(live_server, below_email)) as c, time_machine.travel(time.time() + 14 * 60, tick=True):
        assert c.get("/api/v1/me").status_code == 200
    with closing(_signed_in(live_server, above_email)) as c, time_machine.travel(time.time() + 16 * 60, tick=True):
        assert c.get("/api/v1/me").status_code == 401
    with org_scope(fresh_org) as scope:
        rows = audit_log.recent(scope, limit=50, actor_id=above_id)
    expired = [row for row in rows if row["action"] == "authn_session_expired"]
    assert len(expired) == 1, rows


@pytest.mark.slow
def test_b7_absolute_timeout_despite_activity(live_server: LiveServer, fresh_org: uuid.UUID) -> None:
    hours = live_server.ctx.settings.session_absolute_hours
    email = f"b7c-{uuid.uuid4().hex[:8]}@example.test"
    make_user(live_server.ctx, fresh_org, Role.CODER, email=email)
    with closing(_signed_in(live_server, email)) as c:
        start = time.time()
        with time_machine.travel(start, tick=True) as traveller:
            elapsed = 0
            while elapsed + 10 * 60 < hours * 3600:
                traveller.shift(10 * 60)
                elapsed += 10 * 60
                assert c.get("/api/v1/me").status_code == 200, elapsed
            traveller.shift(hours * 3600 - elapsed + 60)
            assert c.get("/api/v1/me").status_code == 401


# --------------------------------------------------------------------------------------------
# B10: CSRF matrix
# --------------------------------------------------------------------------------------------


def _csrf_cases(valid: str, other_user: str, origin: str) -> list[tuple[str, dict[str, str], dict[str, str]]]:
    """(id, extra headers, query params) — every one must be refused."""
    return [
        ("no-token", {}, {}),
        ("empty", {"X-XSRFToken": ""}, {}),
        ("wrong-length", {"X-XSRFToken": valid[:20]}, {}),
        ("invalid-chars", {"X-XSRFToken": "!" * len(valid)}, {}),
        ("other-users-session", {"X-XSRFToken": other_user}, {}),
        ("origin-null", {"X-XSRFToken": valid, "Origin": "null"}, {}),
        ("origin-cross-site", {"X-XSRFToken": valid, "Origin": "http://evil.example"}, {}),
        ("sec-fetch-cross-site", {"X-XSRFToken": valid, "Sec-Fetch-Site": "cross-site"}, {}),
        ("query-string-only", {}, {"_xsrf": valid}),
    ]


@pytest.mark.slow
def test_b10_csrf_matrix_api_users(live_server: LiveServer, fresh_org: uuid.UUID) -> None:
    victim_email = f"b10v-{uuid.uuid4().hex[:8]}@example.test"
    other_email = f"b10o-{uuid.uuid4().hex[:8]}@example.test"
    make_user(live_server.ctx, fresh_org, Role.MANAGER, email=victim_email)
    make_user(live_server.ctx, fresh_org, Role.MANAGER, email=other_email)
    with closing(_signed_in(live_server, victim_email)) as c, closing(_signed_in(live_server, other_email)) as other:
        valid = c.csrf()["X-XSRFToken"]
        assert valid
        assert valid != other.csrf()["X-XSRFToken"]

        def post(
            headers: dict[str, str], params: dict[str, str], cookies: dict[str, str] | None = None
        ) -> httpx.Response:
            body = json.dumps({"email": f"new-{uuid.uuid4().hex[:8]}@example.test", "name": "New", "role": "coder"})
            if cookies:
                for k, v in cookies.items():
                    c.cookies.set(k, v)
            return c.post(
                "/api/v1/users", content=body, params=params, headers={"Content-Type": "application/json", **headers}
            )

        for case, headers, params in _csrf_cases(valid, other.csrf()["X-XSRFToken"], live_server.url):
            r = post(headers, params)
            assert r.status_code == 403, (case, r.status_code, r.text)
        ok = post({"X-XSRFToken": valid, "Origin": live_server.url, "Sec-Fetch-Site": "same-origin"}, {})
        assert ok.status_code == 201, ok.text
        # Cookie injection: attacker plants an _xsrf cookie and sends the same value: not session-bound.
        planted = "a" * len(valid)
        r = post({"X-XSRFToken": planted}, {}, cookies={"_xsrf": planted})
        assert r.status_code == 403


@pytest.mark.slow
def test_b10_csrf_matrix_logout(live_server: LiveServer, fresh_org: uuid.UUID) -> None:
    victim_email = f"b10l-{uuid.uuid4().hex[:8]}@example.test"
    other_email = f"b10m-{uuid.uuid4().hex[:8]}@example.test"
    make_user(live_server.ctx, fresh_org, Role.CODER, email=victim_email)
    make_user(live_server.ctx, fresh_org, Role.CODER, email=other_email)
    with closing(_signed_in(live_server, victim_email)) as c, closing(_signed_in(live_server, other_email)) as other:
        valid = c.csrf()["X-XSRFToken"]
        for case, headers, params in _csrf_cases(valid, other.csrf()["X-XSRFToken"], live_server.url):
            r = c.post("/logout", params=params, headers=headers)
            assert r.status_code == 403, (case, r.status_code)
            assert c.get("/api/v1/me").status_code == 200, case  # still signed in
        planted = "b" * len(valid)
        c.cookies.set("_xsrf", planted)
        r = c.post("/logout", headers={"X-XSRFToken": planted})
        assert r.status_code == 403
        assert c.get("/api/v1/me").status_code == 200
        r = c.post("/logout", headers={"X-XSRFToken": valid, "Origin": live_server.url})
        assert r.status_code == 303
        assert r.headers["location"] == "/login?notice=signed_out"


# --------------------------------------------------------------------------------------------
# C1/C2: anti-enumeration and work equalisation
# --------------------------------------------------------------------------------------------

_IGNORED_HEADERS = {"date", "x-request-id", "set-cookie"}


def _raw_login(live_server: LiveServer, email: str, password: str, *, json_accept: bool) -> tuple[httpx.Response, int]:
    """One sign-in attempt from a fresh anonymous browser; returns (response, hash verifies it cost)."""
    hasher = live_server.ctx.hasher
    with _fresh(live_server) as c:
        c.get("/login")
        before = hasher.verify_calls
        r = c.post(
            "/login",
            data={"email": email, "password": password, "_xsrf": c.cookies.get("_xsrf", "")},
            headers={"Accept": "application/json"} if json_accept else {},
        )
        return r, hasher.verify_calls - before


def _shape(r: httpx.Response) -> tuple[Any, ...]:
    headers = sorted((k.lower(), v) for k, v in r.headers.multi_items() if k.lower() not in _IGNORED_HEADERS)
    cookie_names = sorted(h.split("=", 1)[0] for h in r.headers.get_list("set-cookie"))
    return r.status_code, r.content, tuple(headers), tuple(cookie_names)


@pytest.fixture(scope="module")
def login_classes(live_server: LiveServer, fresh_org: uuid.UUID) -> dict[str, dict[bool, tuple[httpx.Response, int]]]:
    """Every failure class, with and without JSON accept: response and verify count."""
    ctx = live_server.ctx
    tag = uuid.uuid4().hex[:8]
    existing = f"c1-exists-{tag}@example.test"
    disabled = f"c1-disabled-{tag}@example.test"
    rl_existing = f"c1-rl-exists-{tag}@example.test"
    rl_missing = f"c1-rl-missing-{tag}@example.test"
    make_user(ctx, fresh_org, Role.CODER, email=existing)
    make_user(ctx, fresh_org, Role.CODER, email=rl_existing)
    disabled_id = make_user(ctx, fresh_org, Role.CODER, email=disabled)
    user_actions.set_active(_manager_principal(live_server, fresh_org), disabled_id, False)
    limit = ctx.settings.login_limit_account_ip.limit
    for email in (rl_existing, rl_missing):
        for _ in range(limit):
            r, _n = _raw_login(live_server, email, "wrong-password-123", json_accept=True)
            assert r.status_code == 401
    classes = {
        "existing-wrong-password": (existing, "wrong-password-123"),
        "non-existing": (f"c1-missing-{tag}@example.test", "wrong-password-123"),
        "disabled": (disabled, PASSWORD),
        "rate-limited-existing": (rl_existing, "wrong-password-123"),
        "rate-limited-non-existing": (rl_missing, "wrong-password-123"),
    }
    return {
        name: {j: _raw_login(live_server, email, pw, json_accept=j) for j in (True, False)}
        for name, (email, pw) in classes.items()
    }


@pytest.mark.slow
@pytest.mark.parametrize("json_accept", [True, False], ids=["json", "form-redirect"])
def test_c1_login_failures_identical(
    login_classes: dict[str, dict[bool, tuple[httpx.Response, int]]], json_accept: bool
) -> None:
    shapes = {name: _shape(by_accept[json_accept][0]) for name, by_accept in login_classes.items()}
    reference = shapes["existing-wrong-password"]
    assert reference[0] == (401 if json_accept else 303)
    for name, shape in shapes.items():
        assert shape == reference, name


@pytest.mark.slow
def test_c2_one_verify_per_attempt(login_classes: dict[str, dict[bool, tuple[httpx.Response, int]]]) -> None:
    for name, by_accept in login_classes.items():
        expected = 0 if name.startswith("rate-limited") else 1
        for json_accept, (_, verifies) in by_accept.items():
            assert verifies == expected, (name, json_accept, verifies)


# --------------------------------------------------------------------------------------------
# C4: throttle before hashing
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_c4_account_ip_limit_blocks_before_hash(live_server: LiveServer, fresh_org: uuid.UUID) -> None:
    email = f"c4-{uuid.uuid4().hex[:8]}@example.test"
    make_user(live_server.ctx, fresh_org, Role.CODER, email=email)
    limit = live_server.ctx.settings.login_limit_account_ip.limit
    for attempt in range(limit):
        r, verifies = _raw_login(live_server, email, "wrong-password-123", json_accept=True)
        assert (r.status_code, verifies) == (401, 1), attempt
    for _ in range(2):
        r, verifies = _raw_login(live_server, email, "wrong-password-123", json_accept=True)
        assert (r.status_code, verifies) == (401, 0)
    r, verifies = _raw_login(live_server, email, PASSWORD, json_accept=True)
    assert (r.status_code, verifies) == (401, 0)
    assert live_server.ctx.settings.cookie_name not in r.headers.get("set-cookie", "")


# --------------------------------------------------------------------------------------------
# C6: Redis hang fails closed, fast, without hashing
# --------------------------------------------------------------------------------------------


@pytest.fixture
def hung_redis() -> Iterator[None]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # accepts at the TCP level, never answers
    port = listener.getsockname()[1]
    original = redis_client._client
    hung = redis_client.make_redis(f"redis://127.0.0.1:{port}/0", timeout=0.25)
    try:
        redis_client._client = hung
        yield
    finally:
        redis_client._client = original
        hung.close()
        listener.close()


@pytest.mark.slow
def test_c6_redis_hang_fails_closed(
    live_server: LiveServer, fresh_org: uuid.UUID, request: pytest.FixtureRequest
) -> None:
    email = f"c6-{uuid.uuid4().hex[:8]}@example.test"
    make_user(live_server.ctx, fresh_org, Role.CODER, email=email)
    hasher = live_server.ctx.hasher
    with _fresh(live_server) as c:
        c.get("/login")
        request.getfixturevalue("hung_redis")
        before = hasher.verify_calls
        started = time.monotonic()
        r = c.post(
            "/login",
            data={"email": email, "password": PASSWORD, "_xsrf": c.cookies.get("_xsrf", "")},
            headers={"Accept": "application/json"},
        )
        took = time.monotonic() - started
    assert r.status_code == 503
    assert hasher.verify_calls == before
    assert took < 1.0, took


# --------------------------------------------------------------------------------------------
# Security headers on every route and page
# --------------------------------------------------------------------------------------------


def _assert_security_headers(r: httpx.Response, path: str) -> None:
    assert r.headers.get("x-content-type-options") == "nosniff", path
    assert "frame-ancestors 'none'" in r.headers.get("content-security-policy", ""), path
    if not path.startswith("/assets/"):
        assert r.headers.get("cache-control") == "no-store", path
    assert "server" not in r.headers, (path, r.headers.get("server"))


@pytest.mark.parametrize("role", ["manager", "anonymous"])
def test_i_security_headers_everywhere(role: str, role_clients: dict[str, Client], universe: Universe) -> None:
    c = role_clients[role]
    paths = [_path(route, universe) for route in GET_ROUTES] + [spec.path for spec in PAGES]
    for path in paths:
        _assert_security_headers(c.get(path), path)
