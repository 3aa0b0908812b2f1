"""Cluster-wide leadership through PostgreSQL advisory locks.

Work that is not idempotent, or that is wasteful to run twice, runs only in the worker that holds
the lock named after it; the others skip that run. The lock is a session-level advisory lock on a
dedicated pooled connection kept outside any transaction, so a job that runs for minutes does not
hold a transaction open (``idle_in_transaction_session_timeout`` would end it), and a worker that
dies releases the lock with its connection.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from datalayer.scope import get_engine


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (advisory locks take a bigint)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def leadership(name: str) -> Iterator[bool]:
    """Try to become the leader for ``name``; yields True if this process holds it for the block."""
    key = lock_key(name)
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar_one())
        try:
            yield held
        finally:
            if held:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                except sa_exc.DBAPIError:
                    # The connection broke, which already released the lock; never pool it again.
                    conn.invalidate()
