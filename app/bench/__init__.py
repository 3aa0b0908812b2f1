"""`smartcoders bench NAME`: measured figures for speed and memory (never timed assertions in tests).

Each benchmark module registers itself with `@register`; `MODULES` lists them so the CLI can
import them on demand (they pull in heavy code: the code sets, a server, a browser-free client).
A benchmark returns a `Report`: named figures printed as an aligned table, or as JSON with
`--json`. Medians and high percentiles, never means alone. The helpers below are the benchmarks'
common set-up: `positive_int` for count options, `bench_runtime` for a private runtime (or the
running services with `--services-from-env`), `bench_org` and `bench_person` for its data.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from uuid import UUID

    from app.authz import Principal, Role
    from app.bootstrap import Runtime

# Every CLI start imports these to build `bench --help`: keep heavy imports inside `run`.
MODULES: tuple[str, ...] = (
    "app.bench.validate",
    "app.bench.auth",
    "app.bench.search",
    "app.bench.imports",
    "app.bench.queue",
    "app.bench.chart_change",
    "app.bench.rollup",
    "app.bench.dashboard",
)


@dataclass(slots=True)
class Report:
    title: str
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, value: Any) -> None:
        self.figures[name] = value

    def render(self) -> str:
        width = max((len(k) for k in self.figures), default=0)
        lines = [self.title, "-" * len(self.title)]
        lines += [f"{k:<{width}}  {_fmt(v)}" for k, v in self.figures.items()]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


Runner = Callable[[argparse.Namespace], Report]
Configure = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True, slots=True)
class Bench:
    name: str
    help: str
    run: Runner
    configure: Configure | None


BENCHES: dict[str, Bench] = {}


def register(name: str, help_text: str, configure: Configure | None = None) -> Callable[[Runner], Runner]:
    def decorate(run: Runner) -> Runner:
        BENCHES[name] = Bench(name, help_text, run, configure)
        return run

    return decorate


def load_all() -> dict[str, Bench]:
    for module in MODULES:
        importlib.import_module(module)
    return BENCHES


def percentiles_ms(samples_s: Sequence[float]) -> dict[str, float]:
    """Median, p95 and p99 of durations given in seconds, reported in milliseconds."""
    ordered = sorted(samples_s)
    if not ordered:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0}

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    return {"p50_ms": statistics.median(ordered) * 1000, "p95_ms": pick(0.95), "p99_ms": pick(0.99)}


def positive_int(raw: str) -> int:
    """``argparse`` type of a count option: a whole number of at least 1."""
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


# What ``--services-from-env`` takes from the environment.
SERVICE_URLS: Final = ("DATABASE_URL", "DATABASE_OWNER_URL", "REDIS_URL")


@contextmanager
def bench_runtime(*, services_from_env: bool, environ: Mapping[str, str] | None = None) -> Iterator[Runtime]:
    """A private runtime on a temporary ``SMARTCODERS_HOME``: development settings with logging at
    ERROR (the bench's own output stays readable) and ``environ`` on top, none read from the caller's
    environment or ``.env``. PostgreSQL and Redis are fresh embedded servers in that home, shut down
    afterwards; or, with ``services_from_env``, the running ones of the environment's ``SERVICE_URLS``.
    """
    from app import bootstrap
    from app.errors import ConfigError
    from app.settings import load_settings

    with tempfile.TemporaryDirectory(prefix="smartcoders-bench-", ignore_cleanup_errors=True) as home:
        env = {"SMARTCODERS_ENV": "development", "SMARTCODERS_HOME": home, "LOG_LEVEL": "ERROR", **(environ or {})}
        if services_from_env:
            env |= {name: os.environ[name] for name in SERVICE_URLS if os.environ.get(name)}
            if "DATABASE_URL" not in env or "REDIS_URL" not in env:
                raise ConfigError("--services-from-env needs DATABASE_URL and REDIS_URL in the environment")
        with bootstrap.private_runtime(load_settings(env, env_file=None)) as rt:
            yield rt


def bench_org(name: str) -> UUID:
    """A fresh organisation without a manager account, created by the bench (audit actor "bench")."""
    from app.services.audit import Actor
    from app.services.auth import create_organisation

    return create_organisation(
        name=name, manager_email=None, manager_name=None, password_hash=None, actor=Actor(None, "bench")
    )


def bench_person(org_id: UUID, role: Role, name: str) -> Principal:
    """A user of ``org_id`` without a password (a unique address at bench.test), as a principal with
    a session id of its own."""
    import uuid
    from datetime import UTC, datetime

    from app.authz import Principal
    from datalayer.queries import users
    from datalayer.scope import org_scope

    with org_scope(org_id) as scope:
        user = users.insert(
            scope,
            user_id=uuid.uuid4(),
            email=f"{role.value}-{uuid.uuid4().hex[:10]}@bench.test",
            name=name,
            role=role,
            password_hash=None,
            now=datetime.now(UTC),
        )
    return Principal(user.id, org_id, role, name, user.email, uuid.uuid4())
