"""Scope wrappers: the only way to run queries.

Each wrapper opens one transaction on the process engine and sets the tenant for it with
``set_config(..., true)`` (transaction-local, so nothing leaks to the next user of a pooled
connection). Row-level security does the rest: a query in ``org_scope(A)`` cannot see or write
organisation B's rows even if it forgets ``WHERE org_id``.

- ``org_scope(org_id)``: everything an organisation's users do.
- ``user_scope(org_id, user_id)``: the same, also recording the acting user in ``app.user_id``.
- ``auth_scope()``: before sign-in, no organisation: only the pre-authentication SECURITY
  DEFINER lookups and the platform audit chain are reachable.
- ``system_scope(reason)``: for jobs that span organisations; iterates them explicitly, one
  ``org_scope`` at a time, and logs that it did. There is no bypass role in the app.

The caller owns the transaction: datalayer functions take a scope and never commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

_engine: Engine | None = None


def install_engine(engine: Engine) -> None:
    """Set the process engine (once, at start-up)."""
    global _engine
    _engine = engine


def get_engine() -> Engine:
    if _engine is None:
        raise RuntimeError("datalayer engine not installed; call datalayer.db.connect() first")
    return _engine


@dataclass(frozen=True)
class Scope:
    """An open transaction and the tenant it is bound to."""

    conn: Connection
    org_id: UUID | None
    user_id: UUID | None = None

    def require_org(self) -> UUID:
        if self.org_id is None:
            raise RuntimeError("this query needs an organisation scope")
        return self.org_id


def _set(conn: Connection, name: str, value: str) -> None:
    conn.execute(text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value})


@contextmanager
def org_scope(org_id: UUID) -> Iterator[Scope]:
    with get_engine().begin() as conn:
        _set(conn, "app.org_id", str(org_id))
        yield Scope(conn=conn, org_id=org_id)


@contextmanager
def user_scope(org_id: UUID, user_id: UUID) -> Iterator[Scope]:
    with get_engine().begin() as conn:
        _set(conn, "app.org_id", str(org_id))
        _set(conn, "app.user_id", str(user_id))
        yield Scope(conn=conn, org_id=org_id, user_id=user_id)


@contextmanager
def auth_scope() -> Iterator[Scope]:
    with get_engine().begin() as conn:
        _set(conn, "app.platform", "on")
        yield Scope(conn=conn, org_id=None)


@dataclass(frozen=True)
class SystemScope:
    reason: str

    def org_ids(self) -> list[UUID]:
        with get_engine().begin() as conn:
            return [row[0] for row in conn.execute(text("SELECT app_org_ids()"))]

    @contextmanager
    def org(self, org_id: UUID) -> Iterator[Scope]:
        with org_scope(org_id) as scope:
            yield scope


@contextmanager
def system_scope(reason: str) -> Iterator[SystemScope]:
    """Cross-organisation work for jobs, always named and logged."""
    log.info("system_scope", extra={"reason": reason})
    yield SystemScope(reason=reason)
