"""The SQLAlchemy engine: one pool per process, pre-ping, bounded waits and statement timeouts."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine


def sqlalchemy_url(url: str) -> str:
    """Accept postgres://, postgresql:// or postgresql+psycopg:// and use the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    pool_timeout: float = 2.0,
    statement_timeout_ms: int = 15000,
    application_name: str = "smartcoders",
) -> Engine:
    """An engine whose connections fail fast: pool wait, connect, lock and statement timeouts."""
    options = (
        f"-c statement_timeout={statement_timeout_ms} -c lock_timeout=5000 "
        "-c idle_in_transaction_session_timeout=60000 -c timezone=UTC"
    )
    return create_engine(
        sqlalchemy_url(url),
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=pool_timeout,
        pool_recycle=1800,
        connect_args={"connect_timeout": 5, "options": options, "application_name": application_name},
    )
