"""`smartcoders bench login` and `bench page-account` run end to end, with tiny iteration counts.

Through ``app.cli.main`` in this process, as the command line runs them, against the suite's own
PostgreSQL and Redis (``--services-from-env``: starting fresh embedded servers would add several
seconds per test). Only the shape is checked — every figure present and positive — never a
duration: the figures are for reading, not for asserting. A broken bench (a failed sign-in, a
page that does not build, a server that does not start) fails these tests. The bench runs its
own server and settings inside this process; afterwards the suite's runtime must still work.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import panel as pn
import pytest

from app import bootstrap
from app.authz import Role
from app.cli import main
from app.settings import SETTINGS
from datalayer.redis_client import get_redis
from datalayer.scope import get_engine
from tests.conftest import PASSWORD, make_org, make_user

pytestmark = pytest.mark.slow

LOGIN_CLASSES = ("correct", "wrong_password", "unknown_email")


def _bench(runtime: bootstrap.Runtime, capsys: pytest.CaptureFixture[str], monkeypatch: Any, *args: str) -> Any:
    monkeypatch.setenv("DATABASE_URL", runtime.services.app_url)
    monkeypatch.setenv("DATABASE_OWNER_URL", runtime.services.owner_url)
    monkeypatch.setenv("REDIS_URL", runtime.services.redis_url)
    capsys.readouterr()
    before = (get_engine(), get_redis(), pn.config.authorize_callback, pn.config.global_css)
    assert main(["bench", *args, "--iterations", "2", "--services-from-env", "--json"]) == 0
    # The bench installed its own engine, Redis client and Panel options: the suite's are back.
    assert (get_engine(), get_redis(), pn.config.authorize_callback, pn.config.global_css) == before
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out  # nothing else on stdout: the JSON object is the whole answer
    return json.loads(out[0])


def _suite_runtime_still_works(runtime: bootstrap.Runtime) -> None:
    from app.settings import installed_settings

    assert installed_settings() is runtime.settings
    email = f"after-bench-{uuid.uuid4().hex[:8]}@example.test"
    make_user(runtime.ctx, make_org(), Role.CODER, email=email)
    session = runtime.ctx.auth.login(email=email, password=PASSWORD, client_ip="192.0.2.77", user_agent=None)
    assert runtime.ctx.auth.authenticate(session.token) is not None


def test_bench_login(runtime: bootstrap.Runtime, capsys: pytest.CaptureFixture[str], monkeypatch: Any) -> None:
    figures = _bench(runtime, capsys, monkeypatch, "login")
    assert figures["bench"] == "login"
    assert figures["iterations"] == 2
    # The declared defaults (production strength), not the suite's lowered parameters.
    defaults = {spec.name: spec.default for spec in SETTINGS}
    assert figures["argon2id"] == (
        f"m={defaults['PASSWORD_HASH_MEMORY_KIB']} KiB, t={defaults['PASSWORD_HASH_TIME_COST']}, "
        f"p={defaults['PASSWORD_HASH_PARALLELISM']}"
    )
    assert defaults["PASSWORD_HASH_MEMORY_KIB"] != runtime.settings.password_hash_memory_kib
    for name in LOGIN_CLASSES:
        for pct in ("p50", "p95", "p99"):
            assert figures[f"{name}_{pct}_ms"] > 0, (name, pct)
    assert figures["unknown_over_wrong_password_p50_ratio"] > 0
    assert figures["unknown_over_correct_p50_ratio"] > 0
    assert isinstance(figures["unknown_minus_wrong_password_p50_ms"], float)
    _suite_runtime_still_works(runtime)


def test_bench_page_account(runtime: bootstrap.Runtime, capsys: pytest.CaptureFixture[str], monkeypatch: Any) -> None:
    figures = _bench(runtime, capsys, monkeypatch, "page-account")
    assert figures["bench"] == "page-account"
    for name in ("build", "construct", "render", "http_get"):
        for pct in ("p50", "p95"):
            assert figures[f"{name}_{pct}_ms"] > 0, (name, pct)
    assert figures["http_get_bytes"] > 0
    _suite_runtime_still_works(runtime)


def test_bench_services_from_env_needs_urls(monkeypatch: Any, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("DATABASE_URL", "DATABASE_OWNER_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    assert main(["bench", "login", "--iterations", "1", "--services-from-env"]) == 2
    assert "DATABASE_URL and REDIS_URL" in capsys.readouterr().err
