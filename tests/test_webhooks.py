"""Signed webhooks: ``POST /webhooks/synthea/<org slug>`` (SECURITY.md E1-E7, INV-4, INV-6).

Against the real server (``live_server``) over real HTTP, on the suite's PostgreSQL, with real
Synthea bundles from ``../shared/synthea/fhir/`` imported by the real importer. The oracles are
deterministic: captured SQL (a ``before_cursor_execute`` listener on the app engine), row counts
(``processed_events`` read as superuser, ``charts`` under the organisation's scope), and a count
of calls to the effect (``app.services.imports.import_bundle`` wrapped in this process, where the
server runs; re-importing a bundle is idempotent, so chart counts alone could not tell one effect
from two).

* E1 — verify first: every unauthentic request is the same 401, with 0 SQL statements and 0 rows.
* E2 — the replay window: now +/- (tolerance - 1 s) accepted, now +/- (tolerance + 1 s) refused.
* E3 — the same event id twice in a row and 50 times at once: one effect, every answer 2xx.
* E4 — a flipped byte or re-serialised JSON under the original signature is refused.
* E5 — rotation: old and new secrets both verify while both are configured; old alone not after.
* E6 — SIGKILL between the dedupe insert and the commit (a server in a subprocess): the retry
  of the same event is processed; no dedupe row is ever left without its effect.
* E7 — bodies: a declared length over the limit gets 413 before one body byte is sent; a chunked
  body that grows past it is cut off with Tornado's bare 400; a trickle is disconnected when the
  body timeout expires (Tornado sends no response at all).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from sqlalchemy import event, text

from app import bootstrap
from app.demo_data import SYNTHEA_DIR as DEMO_SYNTHEA
from app.errors import ConfigError
from app.security import webhook_signing
from app.security.webhook_signing import SignatureInvalid, org_secret, sign, verify
from app.services.auth import create_organisation
from app.settings import Secret, load_settings
from datalayer.scope import get_engine, org_scope
from tests.conftest import ROOT, SUPERUSER_ACTOR, LiveServer, _free_port

# The bundled demo sample travels with the repository (the shared data set may not be on every machine).
SYNTHEA = DEMO_SYNTHEA
SIGNATURE_FAILED = {"error": {"code": "not_authenticated", "message": "The webhook signature could not be verified."}}


# --- fixtures and helpers ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Org:
    id: uuid.UUID
    slug: str
    secret: str  # the organisation's whsec_ signing secret, as an operator hands it to the sender

    @property
    def path(self) -> str:
        return f"/webhooks/synthea/{self.slug}"


def new_org(runtime: bootstrap.Runtime) -> Org:
    slug = f"wh-{uuid.uuid4().hex[:10]}"
    org_id = create_organisation(
        name=f"Webhook {slug}",
        manager_email=None,
        manager_name=None,
        password_hash=None,
        actor=SUPERUSER_ACTOR,
        slug=slug,
    )
    return Org(org_id, slug, org_secret(runtime.settings.webhook_signing_secret.get(), slug))


def headers(
    secret: str | list[str], body: bytes, *, msg_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    ts = int(time.time()) if timestamp is None else timestamp
    keys = [secret] if isinstance(secret, str) else secret
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": " ".join(sign(k, msg_id, ts, body) for k in keys),
        "content-type": "application/json",
    }


@pytest.fixture(scope="module")
def bundle() -> bytes:
    """The smallest demo bundle (Conchita9, 0.34 MB, a ``transaction`` bundle of the 2025 run)."""
    patients = [p for p in SYNTHEA.glob("*.json") if "Information" not in p.name]
    return min(patients, key=lambda p: p.stat().st_size).read_bytes()


@pytest.fixture
def org(runtime: bootstrap.Runtime) -> Org:
    return new_org(runtime)


@pytest.fixture
def other_org(runtime: bootstrap.Runtime) -> Org:
    return new_org(runtime)


@pytest.fixture(scope="module")
def quiet_orgs(runtime: bootstrap.Runtime) -> tuple[Org, Org]:
    """Two organisations that only refused requests are sent to (nothing is ever written to them)."""
    return new_org(runtime), new_org(runtime)


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=60) as c:
        yield c


@contextmanager
def captured_sql() -> Iterator[list[str]]:
    """Every statement the app engine sends while the block runs (any thread: the server's too)."""
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def all_processed_events(superuser_url: str) -> Callable[[], int]:
    """``processed_events`` rows of every organisation (as superuser: RLS would hide some)."""

    def count() -> int:
        with psycopg.connect(superuser_url) as conn:
            row = conn.execute("SELECT count(*) FROM processed_events").fetchone()
            assert row is not None
            return int(row[0])

    return count


def processed_rows(org_id: uuid.UUID) -> int:
    with org_scope(org_id) as scope:
        return int(scope.conn.execute(text("SELECT count(*) FROM processed_events")).scalar_one())


def charts(org_id: uuid.UUID) -> int:
    with org_scope(org_id) as scope:
        return int(scope.conn.execute(text("SELECT count(*) FROM charts")).scalar_one())


@pytest.fixture
def effects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Calls of the webhook's effect (the real importer, counted) in the server of this process."""
    from app.services import imports

    calls: list[str] = []
    real = imports.import_bundle

    def counted(scope: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["name"])
        return real(scope, **kwargs)

    monkeypatch.setattr(imports, "import_bundle", counted)
    return calls


@pytest.fixture
def server_settings(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Change the running server's settings for one test (the handler reads them per request)."""

    def change(**values: Any) -> None:
        monkeypatch.setattr(live_server.ctx, "settings", dataclasses.replace(live_server.ctx.settings, **values))

    return change


# --- the signing helper -----------------------------------------------------------------------


def test_sign_matches_the_standard_webhooks_test_vector() -> None:
    # The specification's published vector: any Standard Webhooks library can sign for us.
    secret, msg_id, ts, body = (
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert sign(secret, msg_id, ts, body) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    verify([secret], msg_id=msg_id, timestamp=str(ts), signature=sign(secret, msg_id, ts, body), body=body, now=ts)


def test_sign_equals_openssl_recipe_of_the_readme() -> None:
    # README: HMAC-SHA256 keyed with the base64-decoded whsec_ secret over "id.timestamp.body".
    secret, body = org_secret("server-secret-" + "x" * 40, "demo"), b'{"resourceType": "Bundle"}'
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, b"msg_1.1700000000." + body, hashlib.sha256).digest()
    assert sign(secret, "msg_1", 1700000000, body) == "v1," + base64.b64encode(mac).decode()


def test_org_secrets_are_per_organisation_and_per_server_secret() -> None:
    a, b = org_secret("s" * 48, "alpha"), org_secret("s" * 48, "beta")
    assert a.startswith("whsec_")
    assert len(base64.b64decode(a.removeprefix("whsec_"))) == 32
    assert len({a, b, org_secret("t" * 48, "alpha")}) == 3
    body, ts = b"{}", int(time.time())
    with pytest.raises(SignatureInvalid):  # alpha's key does not sign for beta
        verify([b], msg_id="m", timestamp=str(ts), signature=sign(a, "m", ts, body), body=body, now=ts)


def test_e5_production_refuses_a_weak_previous_secret(tmp_path: Path) -> None:
    env = {
        "SMARTCODERS_ENV": "production",
        "SMARTCODERS_HOME": str(tmp_path),
        "APP_URL": "https://coding.example.org",
        "DATABASE_URL": "postgresql://smartcoders_app@db.internal/smartcoders",
        "REDIS_URL": "redis://cache.internal:6379/0",
        **{
            n: secrets.token_urlsafe(48)
            for n in ("JWT_SECRET", "COOKIE_SECRET", "SESSION_SECRET", "WEBHOOK_SIGNING_SECRET")
        },
    }
    with pytest.raises(ConfigError, match="WEBHOOK_SIGNING_SECRET_PREVIOUS is weak"):
        load_settings({**env, "WEBHOOK_SIGNING_SECRET_PREVIOUS": "changeme"}, env_file=None)
    strong = secrets.token_urlsafe(48)
    settings = load_settings({**env, "WEBHOOK_SIGNING_SECRET_PREVIOUS": strong}, env_file=None)
    assert settings.webhook_signing_secret_previous == Secret(strong)
    assert strong not in repr(settings)


# --- E1 verify first --------------------------------------------------------------------------

_MALFORMED_JSON = b'{"resourceType": "Bundle", "entry": [ {"resource": '


def _case(name: str, *, path: str = "{path}", body: bytes | None = None, **changes: str | None) -> Any:
    return pytest.param(path, body, changes, id=name)


_OTHER = org_secret("some-other-server-secret-" + "z" * 32, "x")

E1_CASES = [
    _case("missing-signature", **{"webhook-signature": None}),
    _case("missing-id", **{"webhook-id": None}),
    _case("missing-timestamp", **{"webhook-timestamp": None}),
    _case("all-headers-missing", **{"webhook-id": None, "webhook-timestamp": None, "webhook-signature": None}),
    _case("non-numeric-timestamp", **{"webhook-timestamp": "now"}),
    _case("wrong-secret", **{"webhook-signature": "{wrong}"}),
    _case("other-organisations-key", **{"webhook-signature": "{other_org}"}),
    _case("empty-v1-signature", **{"webhook-signature": "v1,"}),
    _case("digest-without-version", **{"webhook-signature": "{bare}"}),
    _case("right-digest-unknown-version", **{"webhook-signature": "{v2}"}),
    _case("id-with-dot", **{"webhook-id": "msg.1"}),
    _case("malformed-json-bad-signature", body=_MALFORMED_JSON, **{"webhook-signature": "{wrong}"}),
    _case("no-organisation-in-path", path="/webhooks/synthea"),
    _case("empty-organisation-in-path", path="/webhooks/synthea/"),
    _case("unknown-organisation", path="/webhooks/synthea/no-such-org", **{"webhook-signature": "{wrong}"}),
    _case("uppercase-slug", path="/webhooks/synthea/{upper}"),
]


@pytest.mark.parametrize(("path", "body", "changes"), E1_CASES)
def test_e1_unauthentic_request_is_401_before_any_sql(
    *,
    http: httpx.Client,
    quiet_orgs: tuple[Org, Org],
    bundle: bytes,
    all_processed_events: Callable[[], int],
    path: str,
    body: bytes | None,
    changes: dict[str, str | None],
) -> None:
    org, other_org = quiet_orgs
    body = bundle if body is None else body
    sent = headers(org.secret, body)
    digest = sent["webhook-signature"].removeprefix("v1,")
    fill = {
        "wrong": sign(_OTHER, sent["webhook-id"], sent["webhook-timestamp"], body),
        "other_org": sign(other_org.secret, sent["webhook-id"], sent["webhook-timestamp"], body),
        "bare": digest,
        "v2": "v2," + digest,
    }
    for name, value in changes.items():
        if value is None:
            del sent[name]
        else:
            sent[name] = value.format(**fill)
    before = all_processed_events()
    with captured_sql() as statements:
        r = http.post(path.format(path=org.path, upper=org.slug.upper()), content=body, headers=sent)
    assert r.status_code == 401, r.text
    assert r.json() == SIGNATURE_FAILED
    assert r.headers["content-type"].startswith("application/json")
    assert statements == []  # INV-6: not one statement, not even the organisation lookup
    assert all_processed_events() == before


def test_e1_compare_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(webhook_signing.hmac, "compare_digest", counting)
    current, previous, body, ts = org_secret("c" * 40, "o"), org_secret("p" * 40, "o"), b"{}", int(time.time())
    header = f"{sign(_OTHER, 'm', ts, body)} {sign(current, 'm', ts, body)} v1a,ignored"
    verify([current, previous], msg_id="m", timestamp=str(ts), signature=header, body=body, now=ts)
    # Every v1 candidate against every accepted secret, even after a match: 2 x 2 comparisons.
    assert len(compared) == 4
    with pytest.raises(SignatureInvalid, match="no matching signature"):
        verify([current], msg_id="m", timestamp=str(ts), signature=sign(_OTHER, "m", ts, body), body=body, now=ts)


@pytest.mark.slow
def test_e1_control_a_verified_request_does_reach_the_database(
    http: httpx.Client, org: Org, all_processed_events: Callable[[], int]
) -> None:
    """The listener does see the server's statements; a refused bundle leaves no dedupe row."""
    before = all_processed_events()
    with captured_sql() as statements:
        r = http.post(org.path, content=b"{}", headers=headers(org.secret, b"{}"))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid"
    assert any("processed_events" in s for s in statements)
    assert all_processed_events() == before  # rolled back with the refused import


def test_e1_verified_but_not_json_is_415_without_sql(http: httpx.Client, quiet_orgs: tuple[Org, Org]) -> None:
    org = quiet_orgs[0]
    sent = headers(org.secret, b"<Bundle/>") | {"content-type": "application/xml"}
    with captured_sql() as statements:
        r = http.post(org.path, content=b"<Bundle/>", headers=sent)
    assert r.status_code == 415
    assert statements == []


@pytest.mark.slow
def test_e1_signed_for_an_organisation_that_does_not_exist_is_404(
    http: httpx.Client, runtime: bootstrap.Runtime, bundle: bytes, effects: list[str]
) -> None:
    # Only the holder of the server secret can sign for a slug; a deleted/never-created one is 404.
    secret = org_secret(runtime.settings.webhook_signing_secret.get(), "never-created")
    r = http.post("/webhooks/synthea/never-created", content=bundle, headers=headers(secret, bundle))
    assert r.status_code == 404
    assert effects == []


def test_e1_get_is_not_allowed(http: httpx.Client, quiet_orgs: tuple[Org, Org]) -> None:
    assert http.get(quiet_orgs[0].path).status_code == 405


# --- E2 replay window -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "ok"),
    [(-301, False), (301, False), (-300, True), (300, True), (-299, True), (299, True), (0, True)],
)
def test_e2_tolerance_boundaries(offset: int, ok: bool) -> None:
    secret, body, now = org_secret("k" * 40, "o"), b"{}", 1_750_000_000
    ts = now + offset

    def check() -> None:
        verify([secret], msg_id="m", timestamp=str(ts), signature=sign(secret, "m", ts, body), body=body, now=now)

    if ok:
        check()
    else:
        with pytest.raises(SignatureInvalid, match="too old" if offset < 0 else "too new"):
            check()


@pytest.mark.slow
def test_e2_replay_window_over_http(
    http: httpx.Client, org: Org, bundle: bytes, runtime: bootstrap.Runtime, effects: list[str]
) -> None:
    tolerance = runtime.settings.webhook_tolerance_seconds
    for offset in (-(tolerance + 1), tolerance + 1):
        r = http.post(
            org.path, content=bundle, headers=headers(org.secret, bundle, timestamp=int(time.time()) + offset)
        )
        assert r.status_code == 401, offset
    assert effects == []
    assert processed_rows(org.id) == 0
    for offset in (-(tolerance - 1), tolerance - 1):
        r = http.post(
            org.path, content=bundle, headers=headers(org.secret, bundle, timestamp=int(time.time()) + offset)
        )
        assert r.status_code == 200, (offset, r.text)
        assert r.json()["status"] == "processed"
    assert len(effects) == 2
    assert processed_rows(org.id) == 2


# --- E3 duplicates ----------------------------------------------------------------------------


@pytest.mark.slow
def test_e3_same_event_twice_in_a_row_has_one_effect(
    http: httpx.Client, org: Org, bundle: bytes, effects: list[str]
) -> None:
    sent = headers(org.secret, bundle)
    first = http.post(org.path, content=bundle, headers=sent)
    second = http.post(org.path, content=bundle, headers=sent)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "processed"
    assert first.json()["charts_created"] > 0
    assert second.status_code == 200
    assert second.json() == {
        "status": "duplicate",
        "event_id": sent["webhook-id"],
        "charts_created": 0,
        "charts_skipped": 0,
        "encounters": 0,
    }
    assert len(effects) == 1
    assert processed_rows(org.id) == 1
    assert charts(org.id) == first.json()["charts_created"]


@pytest.mark.slow
def test_e3_same_event_50_times_concurrently_has_one_effect(
    live_server: LiveServer, org: Org, bundle: bytes, effects: list[str]
) -> None:
    sent = headers(org.secret, bundle)
    start = threading.Barrier(50)

    def deliver(_: int) -> httpx.Response:
        with httpx.Client(base_url=live_server.url, timeout=120) as c:
            start.wait()
            return c.post(org.path, content=bundle, headers=sent)

    with ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(deliver, range(50)))
    assert all(200 <= r.status_code < 300 for r in responses), [r.status_code for r in responses]
    statuses = sorted(r.json()["status"] for r in responses)
    assert statuses == ["duplicate"] * 49 + ["processed"]
    assert len(effects) == 1
    assert processed_rows(org.id) == 1
    processed = next(r.json() for r in responses if r.json()["status"] == "processed")
    assert charts(org.id) == processed["charts_created"]


@pytest.mark.slow
def test_e3_event_ids_are_per_organisation(
    http: httpx.Client, org: Org, other_org: Org, bundle: bytes, effects: list[str]
) -> None:
    # The same webhook-id from two tenants' senders: neither suppresses (or learns of) the other.
    msg_id = f"msg_{uuid.uuid4().hex}"
    for target in (org, other_org):
        r = http.post(target.path, content=bundle, headers=headers(target.secret, bundle, msg_id=msg_id))
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "processed"
    assert len(effects) == 2
    assert processed_rows(org.id) == processed_rows(other_org.id) == 1


# --- E4 tampering -----------------------------------------------------------------------------


def _flip_one_byte(body: bytes) -> bytes:
    i = body.index(b'"Bundle"') + 2  # a letter inside a string: still valid JSON afterwards
    return body[:i] + bytes([body[i] ^ 0x20]) + body[i + 1 :]


def _reorder_keys(body: bytes) -> bytes:
    parsed = orjson.loads(body)
    return orjson.dumps(dict(reversed(list(parsed.items()))), option=orjson.OPT_INDENT_2)


def _reserialise(body: bytes) -> bytes:
    return orjson.dumps(orjson.loads(body))


@pytest.mark.parametrize("tamper", [_flip_one_byte, _reorder_keys, _reserialise], ids=["flip", "reorder", "compact"])
def test_e4_tampered_body_with_original_signature_is_401(
    http: httpx.Client,
    quiet_orgs: tuple[Org, Org],
    bundle: bytes,
    tamper: Callable[[bytes], bytes],
    all_processed_events: Callable[[], int],
) -> None:
    org = quiet_orgs[0]
    sent = headers(org.secret, bundle)
    changed = tamper(bundle)
    assert changed != bundle
    assert orjson.loads(changed) == orjson.loads(bundle) or tamper is _flip_one_byte
    before = all_processed_events()
    with captured_sql() as statements:
        r = http.post(org.path, content=changed, headers=sent)
    assert r.status_code == 401
    assert statements == []
    assert all_processed_events() == before


# --- E5 rotation ------------------------------------------------------------------------------


@pytest.mark.slow
def test_e5_rotation(
    http: httpx.Client, org: Org, bundle: bytes, runtime: bootstrap.Runtime, server_settings: Callable[..., None]
) -> None:
    old_server, new_server = runtime.settings.webhook_signing_secret, Secret(secrets.token_urlsafe(48))
    old, new = org.secret, org_secret(new_server.get(), org.slug)
    msg_id = f"msg_{uuid.uuid4().hex}"

    def post(*keys: str) -> int:
        return http.post(org.path, content=bundle, headers=headers(list(keys), bundle, msg_id=msg_id)).status_code

    # Before: only the old secret is configured; a sender that switched early is refused.
    assert post(new) == 401
    # During: both configured; either key alone, or both signatures in one header, verify.
    server_settings(webhook_signing_secret=new_server, webhook_signing_secret_previous=old_server)
    assert post(old) == 200
    assert post(new) == 200
    assert post(old, new) == 200
    # After: the previous secret is unset; the old key alone is refused, the new one still works.
    server_settings(webhook_signing_secret=new_server, webhook_signing_secret_previous=None)
    assert post(old) == 401
    assert post(new) == 200
    assert post(old, new) == 200
    assert processed_rows(org.id) == 1  # one event id throughout: processed once, then duplicates


# --- E6 crash between the dedupe insert and the effect ----------------------------------------


@contextmanager
def crashing_server(runtime: bootstrap.Runtime, tmp_path: Path, point: str) -> Iterator[tuple[str, Path, Any]]:
    """The real server in a subprocess, on the suite's database, that SIGKILLs itself at ``point``."""
    port, marker = _free_port(), tmp_path / "marker"
    env = {
        **os.environ,
        "SMARTCODERS_ENV": "test",
        "SMARTCODERS_HOME": str(tmp_path / "home"),
        "DATABASE_URL": runtime.services.app_url,
        "DATABASE_OWNER_URL": runtime.services.owner_url,
        "REDIS_URL": runtime.services.redis_url,
        "WEBHOOK_SIGNING_SECRET": runtime.settings.webhook_signing_secret.get(),
        "PORT": str(port),
        "APP_URL": f"http://127.0.0.1:{port}",
        "PASSWORD_HASH_MEMORY_KIB": "19456",
        "PASSWORD_HASH_TIME_COST": "2",
        "PASSWORD_HASH_PARALLELISM": "1",
        "LOG_LEVEL": "WARNING",
    }
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.webhook_crash_server", point, str(marker)],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")
            try:
                httpx.get(f"{url}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the crash server did not start"
                time.sleep(0.1)
        yield url, marker, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


@pytest.mark.slow
@pytest.mark.parametrize("point", ["before_effect", "after_effect"])
def test_e6_crash_between_dedupe_and_effect_then_retry_is_processed(
    *,
    runtime: bootstrap.Runtime,
    http: httpx.Client,
    org: Org,
    bundle: bytes,
    tmp_path: Path,
    point: str,
    effects: list[str],
) -> None:
    sent = headers(org.secret, bundle)
    with crashing_server(runtime, tmp_path, point) as (url, marker, proc):
        with pytest.raises(httpx.TransportError):  # the connection dies with the process
            httpx.post(f"{url}{org.path}", content=bundle, headers=sent, timeout=60)
        assert proc.wait(10) == -signal.SIGKILL
    # The dying transaction had the dedupe row (and, after_effect, the charts) ...
    assert marker.read_text().strip() == "1"
    # ... and none of it survived: no dedupe row without its effect.
    assert processed_rows(org.id) == 0
    assert charts(org.id) == 0
    # The sender's retry of the same event (same id, same signature) is processed.
    retry = http.post(org.path, content=bundle, headers=sent)
    assert retry.status_code == 200, retry.text
    assert retry.json()["status"] == "processed"
    assert len(effects) == 1
    assert processed_rows(org.id) == 1
    assert charts(org.id) == retry.json()["charts_created"] > 0


# --- E7 oversized and slow bodies -------------------------------------------------------------


def _request_head(org: Org, body_for_signature: bytes, extra: str) -> bytes:
    h = headers(org.secret, body_for_signature)
    lines = [f"POST {org.path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in h.items()), extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed."""
    sock.settimeout(timeout)
    received = b""
    started = time.monotonic()
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        received += chunk
    return received, time.monotonic() - started


@pytest.mark.parametrize("over", ["webhook-limit", "server-limit"])
def test_e7_declared_oversized_body_is_413_before_any_byte_is_sent(
    live_server: LiveServer, org: Org, over: str, effects: list[str]
) -> None:
    settings = live_server.ctx.settings
    limit = settings.webhook_max_body_bytes if over == "webhook-limit" else settings.max_body_bytes
    declared = limit + 10 * 1024 * 1024
    with closing(socket.create_connection(("127.0.0.1", live_server.port))) as sock:
        sock.sendall(_request_head(org, b"", f"Content-Length: {declared}"))
        # Not one body byte is sent: the answer must come from the headers alone.
        received, _ = _read_until_closed(sock, timeout=10)
    head, _, payload = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), head
    assert orjson.loads(payload)["error"]["code"] == "too_large"
    assert effects == []


@pytest.mark.slow
def test_e7_chunked_body_growing_past_the_limit_is_cut_off(
    live_server: LiveServer, org: Org, server_settings: Callable[..., None], effects: list[str]
) -> None:
    server_settings(webhook_max_body_bytes=64 * 1024)
    chunk = b"x" * 16 * 1024
    sent = 0
    with closing(socket.create_connection(("127.0.0.1", live_server.port))) as sock:
        sock.sendall(_request_head(org, b"", "Transfer-Encoding: chunked"))
        try:
            while sent < 8 * 1024 * 1024:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        received, _ = _read_until_closed(sock, timeout=10)
    # Tornado refuses the chunk that crosses the limit with a bare 400 and closes the connection.
    assert received.startswith(b"HTTP/1.1 400 Bad Request"), received[:100]
    assert sent < 8 * 1024 * 1024
    assert effects == []


@pytest.mark.slow
def test_e7_slow_body_is_disconnected_at_the_body_timeout(
    live_server: LiveServer, org: Org, server_settings: Callable[..., None], effects: list[str]
) -> None:
    server_settings(webhook_body_timeout_seconds=1.0)
    with closing(socket.create_connection(("127.0.0.1", live_server.port))) as sock:
        sock.sendall(_request_head(org, b"", "Content-Length: 100000"))
        started = time.monotonic()
        sock.settimeout(0.1)
        received = b""
        closed = False
        # Trickle 10 bytes every 100 ms (a complete body would take 100 s) until the server hangs up.
        while time.monotonic() - started < 10:
            try:
                sock.sendall(b"x" * 10)
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if not chunk:
                closed = True
                break
            received += chunk
        elapsed = time.monotonic() - started
    assert closed
    assert received == b""  # Tornado closes the connection without a response
    assert 0.9 <= elapsed < 3.0, elapsed
    assert effects == []


# --- documentation ----------------------------------------------------------------------------


def test_route_is_public_and_documented_in_openapi(http: httpx.Client) -> None:
    from app.http.base import PUBLIC
    from app.http.routes import ROUTES
    from app.http.webhooks import SyntheaWebhookHandler

    (route,) = [r for r in ROUTES if r.handler is SyntheaWebhookHandler]
    assert route.permission == PUBLIC
    assert route.methods == ("POST",)
    doc = http.get("/api/v1/openapi.json").json()
    op = doc["paths"]["/webhooks/synthea/{org}"]["post"]
    assert op["security"] == [{"webhookSignature": []}]
    assert "webhookSignature" in doc["components"]["securitySchemes"]
    assert {p["name"] for p in op["parameters"]} == {"org", "webhook-id", "webhook-timestamp", "webhook-signature"}
    assert set(op["responses"]) == {"200", "400", "401", "404", "413", "415"}


@pytest.mark.slow
def test_readme_openssl_curl_example_delivers_a_bundle(
    *, runtime: bootstrap.Runtime, live_server: LiveServer, org: Org, bundle: bytes, tmp_path: Path, effects: list[str]
) -> None:
    """The README's shell recipe, run as written (with `smartcoders webhook-secret` for real)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- webhook-example", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    first, *rest = block.splitlines()
    assert first.startswith("ORG=")
    path = tmp_path / "bundle.json"
    path.write_bytes(bundle)
    script = "\n".join([f"ORG={org.slug} URL={live_server.url} BUNDLE={path}", *rest])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTCODERS_", "DATABASE_", "REDIS_", "WEBHOOK_"))}
    env |= {
        "PATH": f"{ROOT / '.venv' / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}",
        "SMARTCODERS_ENV": "test",
        "SMARTCODERS_HOME": str(runtime.settings.smartcoders_home),  # same embedded services and dev secrets
        "APP_URL": runtime.settings.app_url,
        "PASSWORD_HASH_MEMORY_KIB": "19456",
        "PASSWORD_HASH_TIME_COST": "2",
        "PASSWORD_HASH_PARALLELISM": "1",
        "LOG_LEVEL": "WARNING",
    }
    done = subprocess.run(
        ["/bin/bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer = orjson.loads(done.stdout)
    assert answer["status"] == "processed", answer
    assert len(effects) == 1
    assert processed_rows(org.id) == 1
