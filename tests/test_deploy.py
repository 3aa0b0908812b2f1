"""Issue 8, the production deployment: what can run here runs for real, the rest is read statically.

Static (no Docker engine here): ``docker-compose.yml`` parsed and checked against the settings
registry, the CLI and ``deploy/Dockerfile`` (services, images, commands, every setting passed as
``${NAME}``, no secret literal, owner credentials only in ``migrate``, health checks); the compose
environment, interpolated with test values, passes the production checks; the Dockerfile's pinned
base, stages, user, entry point and copied folders; the nginx template's variables against the
compose nginx service; INV-13 header sizes.

For real: ``scripts/gen-certs.sh`` (openssl verify); production mode's database TLS (libpq asks a
fake server for TLS and gives up when refused) and Redis TLS (a TLS proxy with the generated
certificate in front of the embedded Redis); and the loopback stack of ``tests/deploy_stack.py``:
Debian's nginx with the project's template in front of two ``smartcoders web`` processes and a
``smartcoders worker``, production mode, on a database made by ``deploy/postgres/roles.sql`` and
``smartcoders migrate``. Through it: HTTPS login, HTTP -> HTTPS, TLS 1.0/1.1 refused and 1.2/1.3
accepted, HSTS and security headers (also on responses nginx makes itself), header limits, a
chart worked over the API, a session that survives a restart of the other web process and the loss
of its own, the image's HEALTHCHECK command, backup (pg_dump) and restore with
``smartcoders verify-audit-log``, and a Panel page in Chromium over TLS with its websocket.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import secrets
import socket
import ssl
import subprocess
import threading
import time
import tomllib
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app import bootstrap
from app.cli import parser as cli_parser
from app.errors import ConfigError
from app.http.routes import ROUTES
from app.settings import SETTINGS, PgSslMode, load_settings
from tests import synthea_data
from tests.conftest import CHROMIUM_ARGS, PASSWORD, SHOTS
from tests.deploy_stack import (
    BASH,
    DEFAULTS,
    GEN_CERTS,
    OPENSSL,
    ROOT,
    SECRET_NAMES,
    Stack,
    free_port,
    gen_certs,
    nginx_binary,
    psql_binary,
    template_variables,
)

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
TEMPLATE = ROOT / "deploy" / "nginx" / "templates" / "smartcoders.conf.template"
NAMES = [spec.name for spec in SETTINGS]
APP_SERVICES = ("migrate", "web", "worker")
# Settings the stack decides itself, not the operator's .env (with the value each must have).
STACK_DECIDES = {
    "SMARTCODERS_ENV": "production",
    "SMARTCODERS_HOME": "/var/lib/smartcoders",
    "DATABASE_SSLMODE": "verify-full",
    "DATABASE_SSLROOTCERT": "/run/smartcoders/ca.crt",
    "REDIS_TLS_CA_CERT": "/run/smartcoders/ca.crt",
    "HOST": "0.0.0.0",  # noqa: S104 - inside the container, behind nginx
    "PORT": "5006",
    "USE_XHEADERS": "true",
}
BUILT_FROM_PASSWORDS = {"DATABASE_URL", "DATABASE_OWNER_URL", "REDIS_URL"}
INTERPOLATION = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?:(:?[-?])([^}]*))?\}")


# --- helpers ---------------------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}``, ``${NAME:?error}`` and ``$$``."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        current = env.get(name, "")
        if op in {":?", "?"} and not current:
            raise KeyError(f"{name}: {arg}")
        if op in {":-", "-"} and not current:
            return arg
        return current

    return INTERPOLATION.sub(one, value).replace("$$", "$")


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = pending + line
        pending = ""
        keyword, _, rest = whole.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, rest in _dockerfile_instructions():
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, rest))
    return stages


def _spki_sha256(cert: Path) -> str:
    pub = subprocess.run(
        [OPENSSL, "x509", "-in", str(cert), "-noout", "-pubkey"], capture_output=True, check=True
    ).stdout
    der = subprocess.run(
        [OPENSSL, "pkey", "-pubin", "-outform", "der"], input=pub, capture_output=True, check=True
    ).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


# --- static: docker-compose.yml ---------------------------------------------------------------------


def test_compose_has_the_stack_services_images_and_commands() -> None:
    services = _compose()["services"]
    assert set(services) == {"db", "redis", "migrate", "web", "worker", "nginx"}
    assert services["db"]["image"] == "postgres:17-alpine"
    assert services["redis"]["image"] == "redis:7-alpine"
    assert services["nginx"]["image"] == "nginx:1.27-alpine"
    for name in APP_SERVICES:
        service = services[name]
        assert service["build"] == {"context": ".", "dockerfile": "deploy/Dockerfile"}
        assert service["image"] == services["web"]["image"]  # one image for every process
        (command,) = service["command"]
        assert command == name
        cli_parser().parse_args([command])  # a real `smartcoders` subcommand
    assert services["web"]["deploy"]["replicas"] == 2
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["migrate"]["depends_on"]["db"] == {"condition": "service_healthy"}
    assert services["nginx"]["depends_on"]["web"] == {"condition": "service_healthy"}
    # The db's data is on a named volume, with the note about encrypting it.
    assert "db-data:/var/lib/postgresql/data" in services["db"]["volumes"]
    assert "db-data" in _compose()["volumes"]
    assert "encrypted" in COMPOSE.read_text()
    # Web and worker share SMARTCODERS_HOME: the worker reads the uploads the web spooled there.
    for name in APP_SERVICES:
        assert "smartcoders-home:/var/lib/smartcoders" in services[name]["volumes"]


def test_compose_passes_every_setting_and_no_secret_literal() -> None:
    """INV-8/INV-9: each registry setting reaches the app containers as ``${NAME}`` from .env, or as a
    value the stack decides; secrets and passwords are never written in the file."""
    services = _compose()["services"]
    secret_names = {spec.name for spec in SETTINGS if spec.secret}
    for name in APP_SERVICES:
        env = services[name]["environment"]
        expected = set(NAMES) if name == "migrate" else set(NAMES) - {"DATABASE_OWNER_URL"}
        assert set(env) == expected, f"{name}: settings missing {sorted(expected - set(env))}"
        for key, raw in env.items():
            value = str(raw)
            if key in STACK_DECIDES:
                assert value == STACK_DECIDES[key], key
            elif key in BUILT_FROM_PASSWORDS:
                # postgresql://role:${PASSWORD:?…}@db/… — the password is always interpolated.
                userinfo = value.split("://", 1)[1].rsplit("@", 1)[0]
                password = userinfo.split(":", 1)[1]
                assert INTERPOLATION.fullmatch(password), f"{key} carries a literal password"
            else:
                match = INTERPOLATION.fullmatch(value)
                assert match is not None, f"{name}.{key} is not ${{{key}}}: {value}"
                assert match.group(1) == key, f"{name}.{key} is not ${{{key}}}: {value}"
                if key in secret_names and key in SECRET_NAMES:
                    assert match.group(2) == ":?", f"{key} must stop compose when missing"
    # Owner credentials are for the one-shot migration only.
    assert "smartcoders_owner" in services["migrate"]["environment"]["DATABASE_OWNER_URL"]
    assert "smartcoders_app" in services["web"]["environment"]["DATABASE_URL"]
    # Every other service: any password/secret/key variable is interpolated, never written.
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|API_KEY", key):
                assert INTERPOLATION.fullmatch(str(value)), f"{name}.{key} is a literal"


def test_compose_environment_passes_the_production_checks() -> None:
    """The web service's environment, interpolated as compose would from a filled-in .env, is
    accepted by production mode (https APP_URL, verify-full database, rediss://)."""
    dotenv = dict.fromkeys(NAMES, "")
    dotenv.update({name: secrets.token_urlsafe(48) for name in SECRET_NAMES})
    dotenv.update(
        {
            "APP_URL": "https://coding.example.org",
            "SMARTCODERS_APP_DB_PASSWORD": secrets.token_hex(32),
            "SMARTCODERS_OWNER_DB_PASSWORD": secrets.token_hex(32),
            "REDIS_PASSWORD": secrets.token_hex(32),
        }
    )
    env = {k: _interpolate(str(v), dotenv) for k, v in _compose()["services"]["web"]["environment"].items()}
    settings = load_settings(env, env_file=None)
    assert settings.is_production
    assert settings.pg_sslmode_for(settings.database_url.get()) is PgSslMode.VERIFY_FULL  # type: ignore[union-attr]
    assert settings.redis_url is not None
    assert settings.redis_url.get().startswith("rediss://")
    assert settings.cookie_name == "__Host-smartcoders_session"
    # A missing secret stops compose itself, with a message naming it.
    with pytest.raises(KeyError, match="JWT_SECRET"):
        _interpolate(str(_compose()["services"]["web"]["environment"]["JWT_SECRET"]), {})


def test_compose_health_checks() -> None:
    services = _compose()["services"]
    assert services["db"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert "redis-cli --tls" in services["redis"]["healthcheck"]["test"][1]
    assert "PONG" in services["redis"]["healthcheck"]["test"][1]
    # web uses the image's HEALTHCHECK on /healthz; processes without an HTTP server switch it off.
    assert "healthcheck" not in services["web"]
    for name in ("migrate", "worker"):
        assert services[name]["healthcheck"] == {"disable": True}
    healthchecks = [rest for keyword, rest in _stages()[-1] if keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    assert "/healthz" in healthchecks[0]
    assert any(route.pattern == r"/healthz" for route in ROUTES)


# --- static: deploy/Dockerfile ----------------------------------------------------------------------


def test_dockerfile_is_multi_stage_pinned_non_root_without_build_tools() -> None:
    instructions = _dockerfile_instructions()
    args = {rest.split("=", 1)[0]: rest.split("=", 1)[1] for keyword, rest in instructions if keyword == "ARG"}
    base = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.12\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", base), base
    stages = _stages()
    assert len(stages) == 2
    assert all(
        stage[0] == ("FROM", f"${{PYTHON_IMAGE}} AS {name}")
        for stage, name in zip(stages, ("build", "runtime"), strict=True)
    )
    build, runtime = stages
    assert any("build-essential" in rest for keyword, rest in build if keyword == "RUN")
    final_runs = " ".join(rest for keyword, rest in runtime if keyword == "RUN")
    for tool in ("apt-get install", "build-essential", "gcc", "pip install"):
        assert tool not in final_runs, f"the runtime stage installs {tool}"
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users
    assert users[-1].split(":")[0] not in {"0", "root"}
    assert ("ENTRYPOINT", '["smartcoders"]') in runtime
    assert ("CMD", '["web"]') in runtime
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "smartcoders" in scripts


def test_dockerfile_copies_every_package_and_the_migrations() -> None:
    """The image runs the code in place: every package pyproject installs, and migrations/ beside
    datalayer/ (datalayer.migrate reads it from there); .dockerignore lets each of them in."""
    from datalayer.migrate import MIGRATIONS_DIR

    copied = {
        rest.split()[0].rstrip("/")
        for keyword, rest in _stages()[0]
        if keyword == "COPY" and not rest.startswith("--from")
    }
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in include}
    assert packages <= copied
    assert MIGRATIONS_DIR.parent == ROOT
    assert MIGRATIONS_DIR.name in copied
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignore
    for name in [*copied, "README.md"]:
        assert f"!{name}/" in ignore or f"!{name}" in ignore, f".dockerignore keeps {name} out"


# --- static: nginx ----------------------------------------------------------------------------------


def test_nginx_template_variables_come_from_the_compose_service() -> None:
    nginx = _compose()["services"]["nginx"]
    env = nginx["environment"]
    assert template_variables() == set(env) - {
        "NGINX_ENVSUBST_TEMPLATE_DIR",
        "NGINX_ENVSUBST_OUTPUT_DIR",
        "NGINX_ENVSUBST_FILTER",
    }
    # The app's own values, defaulting exactly as the registry does.
    for name in ("SESSION_COOKIE_NAME", "MAX_BODY_BYTES", "WEBHOOK_MAX_BODY_BYTES"):
        assert env[name] == f"${{{name}:-{DEFAULTS[name]}}}"
    assert "./deploy/nginx:/etc/nginx/smartcoders:ro" in nginx["volumes"]
    assert env["NGINX_ENVSUBST_TEMPLATE_DIR"] == "/etc/nginx/smartcoders/templates"
    # The image substitutes only the template's names, as render_template does for the test.
    pattern = re.compile(_interpolate(env["NGINX_ENVSUBST_FILTER"], {}))
    assert {name for name in template_variables() if pattern.search(name)} == template_variables()
    assert not pattern.search("PATH")
    assert not pattern.search("HOSTNAME")
    assert nginx["command"][:3] == ["nginx", "-c", "/etc/nginx/smartcoders/nginx.conf"]
    assert "include /etc/nginx/conf.d/smartcoders.conf;" in (ROOT / "deploy/nginx/nginx.conf").read_text()


def test_inv13_nginx_header_buffers_fit_the_tornado_limit() -> None:
    """INV-13: nginx refuses an oversized header block before Tornado would, with room for the
    headers nginx adds; the app passes MAX_HEADER_BYTES to Tornado."""
    text = TEMPLATE.read_text()
    match = re.search(r"large_client_header_buffers\s+(\d+)\s+(\d+)k;", text)
    assert match is not None
    nginx_total = int(match.group(1)) * int(match.group(2)) * 1024
    assert nginx_total + 4096 <= int(DEFAULTS["MAX_HEADER_BYTES"])
    assert '"max_header_size": s.max_header_bytes' in (ROOT / "app" / "server.py").read_text()
    assert re.search(r"ssl_protocols\s+TLSv1\.2 TLSv1\.3;", text)
    assert "client_max_body_size ${MAX_BODY_BYTES};" in text
    assert "hash $smartcoders_sticky consistent;" in text


# --- for real: certificates and the TLS settings ------------------------------------------------------


@pytest.mark.slow
def test_gen_certs_issues_a_verifiable_certificate_and_keeps_its_ca(tmp_path: Path) -> None:
    folder = tmp_path / "certs"
    gen_certs(folder, "nginx", "coding.example.org")
    ca_before = (folder / "ca.crt").read_bytes()
    gen_certs(folder, "db", "db")
    assert (folder / "ca.crt").read_bytes() == ca_before  # re-issuing keeps the CA clients trust
    for name in ("nginx", "db"):
        subprocess.run(
            [OPENSSL, "verify", "-CAfile", str(folder / "ca.crt"), str(folder / f"{name}.crt")],
            check=True,
            capture_output=True,
        )
        assert (folder / f"{name}.key").stat().st_mode & 0o777 == 0o600
        assert (folder / f"{name}.crt").stat().st_mode & 0o777 == 0o644
    text = subprocess.run(
        [OPENSSL, "x509", "-in", str(folder / "nginx.crt"), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "DNS:coding.example.org, DNS:localhost, IP Address:127.0.0.1" in text
    assert "TLS Web Server Authentication" in text
    refused = subprocess.run([BASH, str(GEN_CERTS), str(folder)], capture_output=True, text=True, check=False)
    assert refused.returncode == 2
    assert "usage" in refused.stderr


def _production_env(**overrides: str) -> dict[str, str]:
    return {
        "SMARTCODERS_ENV": "production",
        "SMARTCODERS_HOME": "/tmp/smartcoders-deploy-settings",  # noqa: S108 - production writes nothing there
        "APP_URL": "https://coding.example.org",
        "DATABASE_URL": "postgresql://smartcoders_app@db.internal/smartcoders",
        "REDIS_URL": "rediss://cache.internal:6379/0",
        **{name: secrets.token_urlsafe(48) for name in SECRET_NAMES},
        **overrides,
    }


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer", "require"])
def test_production_refuses_a_network_database_without_certificate_verification(mode: str) -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL must verify the database server's certificate"):
        load_settings(_production_env(DATABASE_SSLMODE=mode), env_file=None)
    with pytest.raises(ConfigError, match="DATABASE_OWNER_URL must verify"):
        load_settings(
            _production_env(
                DATABASE_OWNER_URL=f"postgresql://smartcoders_owner@db.internal/smartcoders?sslmode={mode}"
            ),
            env_file=None,
        )


def test_database_tls_defaults_and_precedence() -> None:
    prod = load_settings(_production_env(DATABASE_SSLROOTCERT="/run/ca.crt"), env_file=None)
    url = prod.database_url_with_tls("postgresql://smartcoders_app@db.internal/smartcoders")
    assert url.endswith("/smartcoders?sslmode=verify-full&sslrootcert=%2Frun%2Fca.crt")
    # The URL's own sslmode wins; a Unix socket or loopback needs no TLS, even in production.
    assert "sslmode=verify-ca" in prod.database_url_with_tls("postgresql://a@db.internal/x?sslmode=verify-ca")
    socket_url = "postgresql://smartcoders_app@/smartcoders?host=/run/postgresql"
    assert prod.pg_sslmode_for(socket_url) is None
    assert prod.pg_sslmode_for("postgresql://a@127.0.0.1:5432/x") is None
    local = load_settings(_production_env(DATABASE_URL=socket_url), env_file=None)
    assert local.is_production
    # Outside production nothing is added unless asked for.
    dev = load_settings({"SMARTCODERS_HOME": "/tmp/smartcoders-deploy-settings-dev"}, env_file=None)  # noqa: S108
    assert dev.database_url_with_tls("postgresql://a@db.internal/x") == "postgresql://a@db.internal/x"


class _PlainPostgres:
    """A TCP server that answers libpq's SSLRequest with 'N' (no TLS here) and records what it got."""

    SSL_REQUEST = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.first: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            conn, _ = self.sock.accept()
            with conn:
                data = conn.recv(8)
                self.first.append(data)
                if data == self.SSL_REQUEST:
                    conn.sendall(b"N")
                    self.first.append(conn.recv(1024))

    def close(self) -> None:
        self.sock.close()
        self.thread.join(5)


def test_production_database_url_makes_libpq_insist_on_tls() -> None:
    """For real: the URL production mode builds makes libpq ask for TLS first and give up when the
    server has none, instead of falling back to plain text."""
    import psycopg

    server = _PlainPostgres()
    try:
        settings = load_settings(
            _production_env(DATABASE_URL=f"postgresql://smartcoders_app@localhost.test:{server.port}/x"), env_file=None
        )
        # localhost.test is a network name to the settings; connect to the fake server by address.
        url = settings.database_url_with_tls(settings.database_url.get()).replace("localhost.test", "127.0.0.1")  # type: ignore[union-attr]
        assert "sslmode=verify-full" in url
        with pytest.raises(psycopg.OperationalError, match="SSL"):
            psycopg.connect(url, connect_timeout=5)
    finally:
        server.close()
    assert server.first[0] == _PlainPostgres.SSL_REQUEST
    assert server.first[1:] in ([], [b""])  # nothing else was sent: no plain-text startup message


class _TlsProxy:
    """TLS in front of a Unix-socket Redis, with a certificate from scripts/gen-certs.sh."""

    def __init__(self, certs: Path, target: str) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(certs / "redis.crt", certs / "redis.key")
        self.target = target
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopping:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(raw,), daemon=True).start()

    def _pipe(self, raw: socket.socket) -> None:
        try:
            client = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        upstream = socket.socket(socket.AF_UNIX)
        upstream.connect(self.target)

        def copy(src: socket.socket, dst: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while chunk := src.recv(65536):
                    dst.sendall(chunk)
            with contextlib.suppress(OSError):
                dst.close()

        threading.Thread(target=copy, args=(upstream, client), daemon=True).start()
        copy(client, upstream)

    def close(self) -> None:
        self.stopping = True
        self.sock.close()


@pytest.mark.slow
def test_redis_tls_client_verifies_the_server(runtime: bootstrap.Runtime, tmp_path: Path) -> None:
    """For real: REDIS_TLS_CA_CERT and a rediss:// URL give a client that talks TLS to a server
    whose certificate that CA signed, and refuses one signed by another CA."""
    from datalayer.redis_client import make_redis

    gen_certs(tmp_path / "certs", "redis", "redis")
    gen_certs(tmp_path / "other", "redis", "redis")
    target = runtime.services.redis_url.removeprefix("unix://").split("?")[0]
    proxy = _TlsProxy(tmp_path / "certs", target)
    try:
        good = make_redis(f"rediss://localhost:{proxy.port}/0", timeout=5, ca_certs=str(tmp_path / "certs" / "ca.crt"))
        assert good.ping() is True
        good.close()
        import redis

        wrong = make_redis(f"rediss://localhost:{proxy.port}/0", timeout=5, ca_certs=str(tmp_path / "other" / "ca.crt"))
        with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
            wrong.ping()
        wrong.close()
    finally:
        proxy.close()


# --- for real: the loopback stack -------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(runtime: bootstrap.Runtime, superuser_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if nginx_binary() is None:
        pytest.fail("nginx is not installed: .ci/run installs Debian's nginx-light (apt-get install nginx-light)")
    assert runtime.services.embedded_pg is not None
    s = Stack(
        base=tmp_path_factory.mktemp("stack"),
        superuser_url=superuser_url,
        app_url_template=runtime.services.app_url,
        owner_url_template=runtime.services.owner_url,
        redis_url=runtime.services.redis_url + "?db=9",
    )
    try:
        s.start()
        yield s
    finally:
        s.stop()


class People:
    def __init__(self, manager: str, coder: str, coder_id: str, charts: list[str]) -> None:
        self.manager, self.coder, self.coder_id, self.charts = manager, coder, coder_id, charts


def _login(c: httpx.Client, email: str) -> httpx.Response:
    c.get("/login")
    return c.post(
        "/login",
        data={"email": email, "password": PASSWORD, "_xsrf": c.cookies.get("_xsrf", "")},
        headers={"Accept": "application/json"},
    )


def _csrf(c: httpx.Client) -> dict[str, str]:
    return {"X-XSRFToken": c.cookies.get("_xsrf", ""), "Accept": "application/json"}


@pytest.fixture(scope="module")
def people(stack: Stack) -> People:
    """An organisation made with the CLI in the stack's database, a manager and a coder, and the
    demo Synthea bundle imported; three charts assigned to the coder through nginx (one each for
    the browser, the API and the live-counter tests)."""
    slug = f"deploy-{uuid.uuid4().hex[:6]}"
    assert stack.cli("create-org", "Deploy Health", "--slug", slug).returncode == 0
    manager, coder = f"mgr@{slug}.test", f"coder@{slug}.test"
    for email, role in ((manager, "manager"), (coder, "coder")):
        made = stack.cli("create-user", "--org", slug, "--email", email, "--role", role, stdin=PASSWORD + "\n")
        assert made.returncode == 0, made.stderr
        if role == "coder":
            coder_id = re.search(r"\(id ([0-9a-f-]{36})\)", made.stdout).group(1)  # type: ignore[union-attr]
    imported = stack.cli("import", str(synthea_data.demo_file("Tama137")), "--org", slug, "--json")
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["charts_created"] >= 4
    with stack.client() as c:
        assert _login(c, manager).status_code == 200
        listed = c.get("/api/v1/charts", params={"page_size": "50", "sort": "-encounter"}).json()["items"]
        chosen = [item["id"] for item in listed[:4]]
        assigned = c.post(
            "/api/v1/charts/assign",
            json={"chart_ids": chosen, "coder_ids": [coder_id], "mode": "single"},
            headers=_csrf(c),
        )
        assert assigned.status_code == 200, assigned.text
    return People(manager, coder, coder_id, chosen)


@pytest.mark.slow
def test_https_login_sets_a_host_prefixed_secure_cookie(stack: Stack, people: People) -> None:
    with stack.client() as c:
        health = c.get("/healthz")
        assert health.status_code == 200
        # The worker runs against the same database: its heartbeat is fresh.
        assert health.json()["checks"]["scheduler"]["status"] == "ok"
        r = _login(c, people.manager)
        assert r.status_code == 200, r.text
        cookies = r.headers.get_list("set-cookie")
        session = next(h for h in cookies if h.startswith("__Host-smartcoders_session="))
        assert "Secure" in session
        assert "HttpOnly" in session
        assert "Path=/" in session
        assert "Domain" not in session
        me = c.get("/api/v1/me")
        assert me.status_code == 200
        assert me.json()["email"] == people.manager


@pytest.mark.slow
def test_plain_http_is_redirected_to_https(stack: Stack) -> None:
    r = httpx.get(f"http://localhost:{stack.http_port}/login?next=%2Fqueue", follow_redirects=False)
    assert r.status_code == 301
    assert r.headers["location"] == f"{stack.url}/login?next=%2Fqueue"


def _handshake(port: int, version: ssl.TLSVersion, ca: Path, host: str = "localhost") -> str:
    context = ssl.create_default_context(cafile=str(ca))
    with warnings.catch_warnings():
        # TLS 1.0/1.1 are deprecated in Python too: offering them on purpose is the point here.
        warnings.simplefilter("ignore", DeprecationWarning)
        if version < ssl.TLSVersion.TLSv1_2:
            context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client offer the old version at all
        context.minimum_version = version
        context.maximum_version = version
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        return str(tls.version())


@pytest.mark.slow
def test_tls_versions_only_1_2_and_1_3(stack: Stack) -> None:
    assert _handshake(stack.https_port, ssl.TLSVersion.TLSv1_2, stack.ca) == "TLSv1.2"
    assert _handshake(stack.https_port, ssl.TLSVersion.TLSv1_3, stack.ca) == "TLSv1.3"
    for old in (ssl.TLSVersion(0x0301), ssl.TLSVersion(0x0302)):  # TLS 1.0, TLS 1.1 (named members warn)
        # The server's own refusal (a protocol_version alert), not the client declining to try.
        with pytest.raises(ssl.SSLError, match=r"PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|unsupported protocol"):
            _handshake(stack.https_port, old, stack.ca)
    # A name nginx does not serve gets no handshake at all.
    with pytest.raises(ssl.SSLError, match=r"UNRECOGNIZED_NAME|unrecognized name"):
        _handshake(stack.https_port, ssl.TLSVersion.TLSv1_3, stack.ca, host="other.example")


SECURITY_HEADERS = ("x-content-type-options", "x-frame-options", "referrer-policy", "content-security-policy")


@pytest.mark.slow
def test_hsts_and_security_headers_on_app_and_nginx_responses(stack: Stack) -> None:
    with stack.client() as c:
        page = c.get("/login")
        too_big = c.post("/webhooks/synthea/x", content=b"x" * (int(DEFAULTS["WEBHOOK_MAX_BODY_BYTES"]) + 1))
    assert page.status_code == 200
    assert too_big.status_code == 413  # made by nginx: the body never reached the app
    for r in (page, too_big):
        assert r.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
        assert len(r.headers.get_list("strict-transport-security")) == 1
        for name in SECURITY_HEADERS:
            assert r.headers.get(name), f"{r.url} lacks {name}"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers.get("server", "nginx") == "nginx"  # no version
    assert "form-action 'self'" in page.headers["content-security-policy"]  # the app's own policy kept
    assert page.headers["cache-control"] == "no-store"


@pytest.mark.slow
def test_inv13_nginx_refuses_oversized_headers_before_tornado(stack: Stack) -> None:
    with stack.client() as c:
        fits = c.get("/healthz", headers={"X-Padding": "a" * 6000})
        line_too_long = c.get("/healthz", headers={"X-Padding": "a" * 9000})
        block_too_big = c.get("/healthz", headers={f"X-Pad-{i}": "a" * 7000 for i in range(6)})
    assert fits.status_code == 200
    for r in (line_too_long, block_too_big):
        assert r.status_code == 400
        assert "Request Header Or Cookie Too Large" in r.text  # nginx's own page, not a Tornado reset
        assert r.headers["strict-transport-security"]


@pytest.mark.slow
def test_a_chart_is_worked_through_the_proxy(stack: Stack, people: People) -> None:
    chart = people.charts[1]
    rows = [
        {"kind": "diagnosis", "code": "J18.9", "rationale": "Pneumonia documented.", "is_principal": True},
        {"kind": "diagnosis", "code": "I10", "rationale": "Hypertension treated."},
    ]
    with stack.client() as c:
        assert _login(c, people.coder).status_code == 200
        version = c.get(f"/api/v1/charts/{chart}").json()["version"]
        saved = c.put(f"/api/v1/charts/{chart}/codes", json={"version": version, "rows": rows}, headers=_csrf(c))
        assert saved.status_code == 200, saved.text
        assert [row["code"] for row in saved.json()["codes"]] == ["J18.9", "I10"]
        submitted = c.post(
            f"/api/v1/charts/{chart}/submit", json={"version": saved.json()["version"]}, headers=_csrf(c)
        )
        assert submitted.status_code == 200, submitted.text
        assert submitted.json()["status"] in {"pending_audit", "completed"}  # completed: not sampled for audit
        # A write without the CSRF header is refused through the proxy as well.
        refused = c.post(f"/api/v1/charts/{chart}/submit", json={"version": 1}, headers={"Accept": "application/json"})
        assert refused.status_code == 403


def _served_by(stack: Stack, c: httpx.Client) -> tuple[int, int]:
    marker = uuid.uuid4().hex
    r = c.get("/api/v1/me", params={"probe": marker})
    return r.status_code, stack.upstream_port(marker)


@pytest.mark.slow
def test_a_session_survives_a_restart_of_the_other_web_process_and_the_loss_of_its_own(
    stack: Stack, people: People
) -> None:
    with stack.client() as c:
        assert _login(c, people.coder).status_code == 200
        status, port = _served_by(stack, c)
        assert status == 200
        assert port in stack.web_ports
        # Sticky: the same process answers every request of the session.
        assert {_served_by(stack, c) for _ in range(5)} == {(200, port)}
        mine = stack.web_ports.index(port)
        other = 1 - mine
        stack.restart_web(other)
        assert _served_by(stack, c) == (200, port)
        # Its process gone, the session moves to the other one and stays signed in: shared secrets,
        # sessions in PostgreSQL.
        stack.processes[f"web{mine + 1}"].stop()
        try:
            assert _served_by(stack, c) == (200, stack.web_ports[other])
            assert c.get("/api/v1/me").json()["email"] == people.coder
        finally:
            stack.processes[f"web{mine + 1}"].start()
            stack.wait_web(mine)


@pytest.mark.slow
def test_the_image_healthcheck_command_reports_a_web_process(stack: Stack) -> None:
    """The Dockerfile's HEALTHCHECK command, run as written against a real web process."""
    (healthcheck,) = [rest for keyword, rest in _stages()[-1] if keyword == "HEALTHCHECK"]
    argv = json.loads(healthcheck.split("CMD", 1)[1].strip())
    python = str(ROOT / ".venv" / "bin" / "python")
    ok = subprocess.run(
        [python, *argv[1:]], env={"PORT": str(stack.web_ports[0])}, capture_output=True, check=False, timeout=30
    )
    assert ok.returncode == 0, ok.stderr
    nothing_there = str(free_port())
    down = subprocess.run(
        [python, *argv[1:]], env={"PORT": nothing_there}, capture_output=True, check=False, timeout=30
    )
    assert down.returncode != 0


@pytest.mark.slow
def test_backup_and_restore_then_verify_the_audit_log(stack: Stack, people: People, tmp_path: Path) -> None:
    """README "Deploy": verify, pg_dump, restore into a fresh database, verify-audit-log on it."""
    before = stack.cli("verify-audit-log")
    assert before.returncode == 0, before.stdout + before.stderr
    assert "Audit log intact" in before.stdout
    sock = stack.superuser_url.partition("host=")[2]
    bin_dir = psql_binary().parent
    dump = tmp_path / "smartcoders.dump"
    dumped = subprocess.run(
        [str(bin_dir / "pg_dump"), "-h", sock, "-U", "postgres", "--format=custom", f"--file={dump}", stack.database],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dumped.returncode == 0, dumped.stderr
    restored = Stack(
        base=stack.base,
        superuser_url=stack.superuser_url,
        app_url_template=stack.app_url_template,
        owner_url_template=stack.owner_url_template,
        redis_url=stack.redis_url,
        secrets=stack.secrets,
    )
    restored.create_database()
    try:
        loaded = subprocess.run(
            [
                str(bin_dir / "pg_restore"),
                "-h",
                sock,
                "-U",
                "postgres",
                "--exit-on-error",
                f"--dbname={restored.database}",
                str(dump),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert loaded.returncode == 0, loaded.stderr
        after = restored.cli("verify-audit-log")
        assert after.returncode == 0, after.stdout + after.stderr
        assert after.stdout.splitlines()[-1] == before.stdout.splitlines()[-1]  # same chains, same rows
    finally:
        restored.drop_database()


@pytest.mark.slow
def test_sse_counters_reach_a_dashboard_on_one_process_from_a_change_on_the_other(stack: Stack, people: People) -> None:
    """Live fan-out across the web tier, through nginx's unbuffered SSE location: the manager's
    stream is held by one web process; the coder submits a chart on the other process (straight to
    its port); the worker's outbox relay publishes through Redis and the stream's process sends the
    new counters."""
    chart = people.charts[2]
    with stack.client() as manager, stack.client() as coder:
        assert _login(manager, people.manager).status_code == 200
        assert _login(coder, people.coder).status_code == 200
        with manager.stream("GET", "/api/v1/events", headers={"Accept": "text/event-stream"}, timeout=30) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            events = _sse_events(stream.iter_lines())
            first = next(e for e in events if e is not None)
            # Sticky: the manager's other requests go where the stream went.
            _, stream_port = _served_by(stack, manager)
            other = next(p for p in stack.web_ports if p != stream_port)
            _submit_on_port(stack, coder, other, chart)
            wanted = first["today"]["submitted"] + 1
            deadline = time.monotonic() + 30  # a bound, not a measurement: the SSE keep-alive wakes us
            for counters in events:
                if counters is not None and counters["today"]["submitted"] == wanted:
                    assert counters["queue"]["draft"] == first["queue"]["draft"] - 1
                    break
                assert time.monotonic() < deadline, "the submitted chart never reached the stream"


def _submit_on_port(stack: Stack, coder: httpx.Client, port: int, chart: str) -> None:
    """Code and submit ``chart`` as the signed-in ``coder``, straight to one web process's port
    (the browser's cookies, as nginx would pass them on: they are Secure, for localhost)."""
    rows = [{"kind": "diagnosis", "code": "J18.9", "rationale": "Pneumonia documented.", "is_principal": True}]
    cookie = "; ".join(f"{c.name}={c.value}" for c in coder.cookies.jar)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Cookie": cookie}, timeout=30) as direct:
        headers = {**_csrf(coder), "Origin": stack.url}
        read = direct.get(f"/api/v1/charts/{chart}")
        assert read.status_code == 200, read.text
        saved = direct.put(
            f"/api/v1/charts/{chart}/codes", json={"version": read.json()["version"], "rows": rows}, headers=headers
        )
        assert saved.status_code == 200, saved.text
        submitted = direct.post(
            f"/api/v1/charts/{chart}/submit", json={"version": saved.json()["version"]}, headers=headers
        )
        assert submitted.status_code == 200, submitted.text


def _sse_events(lines: Iterator[str]) -> Iterator[dict[str, Any] | None]:
    """The ``counters`` events of an SSE stream, decoded; None for each keep-alive comment."""
    event = None
    for line in lines:
        if line.startswith("event:"):
            event = line.partition(":")[2].strip()
        elif line.startswith("data:") and event == "counters":
            yield json.loads(line.partition(":")[2])
        elif line.startswith(":"):
            yield None  # a keep-alive: lets the caller look at the clock


@pytest.mark.slow
@pytest.mark.browser
def test_a_panel_page_works_in_chromium_over_tls(stack: Stack, people: People) -> None:
    """Chromium trusts exactly the stack's certificate (its public key pinned with
    --ignore-certificate-errors-spki-list, not a blanket ignore), signs in over HTTPS, opens the
    coder's chart page and adds a code: the autocomplete and the new row travel over the page's
    websocket (wss://) through nginx."""
    from playwright.sync_api import expect, sync_playwright

    spki = _spki_sha256(stack.certs / "nginx.crt")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=[*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={spki}"]
        )
        try:
            page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
            page.set_default_timeout(30000)
            sockets: list[str] = []
            page.on("websocket", lambda ws: sockets.append(ws.url))
            page.goto(f"{stack.url}/login")
            page.fill("input[name=email]", people.coder)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(re.compile(r"/queue"))
            page.goto(f"{stack.url}/chart?id={people.charts[0]}")
            search = page.locator(".scg-search")
            expect(search).to_be_visible()
            search.click()
            search.press_sequentially("pneumonia unspecified organism", delay=25)
            expect(page.locator(".scg-option").first.locator(".scg-option__code")).to_have_text("J18.9")
            search.press("Enter")
            row = page.locator('.scg-group__rows[data-kind="diagnosis"] > .scg-row').first
            expect(row).to_contain_text("J18.9")
            SHOTS.mkdir(exist_ok=True)
            page.screenshot(path=str(SHOTS / "deploy-chart-over-tls.png"))
            assert page.evaluate("location.protocol") == "https:"
            assert any(url.startswith(f"wss://localhost:{stack.https_port}/chart/ws") for url in sockets), sockets
        finally:
            browser.close()


@pytest.mark.slow
@pytest.mark.browser
def test_the_dashboard_on_one_process_shows_a_chart_submitted_on_the_other(stack: Stack, people: People) -> None:
    """The manager's /dashboard, in Chromium over TLS, is served by one web process (sticky); the
    coder submits a chart on the other process; the worker relays the event through Redis and the
    open dashboard's counters change without a reload."""
    from playwright.sync_api import expect, sync_playwright

    spki = _spki_sha256(stack.certs / "nginx.crt")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=[*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={spki}"]
        )
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            page = context.new_page()
            page.set_default_timeout(30000)
            page.goto(f"{stack.url}/login")
            page.fill("input[name=email]", people.manager)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(re.compile(r"/assign"))
            page.goto(f"{stack.url}/dashboard")
            submitted = page.locator(".sc-d-live .db-tile--submitted_today .db-tile__value")
            expect(submitted).to_be_visible()
            before = int(submitted.inner_text().replace(",", ""))
            # Which process holds the dashboard: ask nginx with the browser's own cookies.
            jar = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies())
            with stack.client(headers={"Cookie": jar}) as probe:
                status, dashboard_port = _served_by(stack, probe)
            assert status == 200
            other = next(port for port in stack.web_ports if port != dashboard_port)
            with stack.client() as coder:
                assert _login(coder, people.coder).status_code == 200
                _submit_on_port(stack, coder, other, people.charts[3])
            expect(submitted).to_have_text(str(before + 1))
            assert page.url == f"{stack.url}/dashboard"  # no reload
            SHOTS.mkdir(exist_ok=True)
            page.screenshot(path=str(SHOTS / "deploy-dashboard-over-tls.png"))
        finally:
            browser.close()


def test_shell_scripts_parse() -> None:
    for script in (
        GEN_CERTS,
        ROOT / "deploy/postgres/init-roles.sh",
        ROOT / "deploy/postgres/start.sh",
        ROOT / "deploy/redis/start.sh",
    ):
        shell = BASH if script == GEN_CERTS else "/bin/sh"
        subprocess.run([shell, "-n", str(script)], check=True, capture_output=True)
        assert script.read_text().startswith("#!")
