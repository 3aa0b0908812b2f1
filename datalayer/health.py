"""Dependency checks for /healthz, each bounded in time and never raising."""

from __future__ import annotations

from sqlalchemy import text

from datalayer import migrate, redis_client
from datalayer.scope import get_engine


def database_ok() -> bool:
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "down"; the reason is logged by the caller
        return False


def redis_ok() -> bool:
    return redis_client.ping()


def migrations_state() -> tuple[int, list[int]]:
    """(latest applied version, pending versions) read as the app role."""
    with get_engine().connect() as conn:
        applied = [r[0] for r in conn.execute(text("SELECT version FROM schema_migrations ORDER BY version"))]
    expected = [m.version for m in migrate.discover()]
    return (applied[-1] if applied else 0), [v for v in expected if v not in applied]
