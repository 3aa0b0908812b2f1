from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping, text

from app.errors import NotFound
from datalayer.scope import Scope


def one(scope: Scope, sql: str, params: dict[str, Any] | None = None, *, what: str = "Object") -> RowMapping:
    """Exactly one row, or NotFound — the same answer for 'missing' and 'another tenant's' (RLS)."""
    row = scope.conn.execute(text(sql), params or {}).mappings().one_or_none()
    if row is None:
        raise NotFound(f"{what} not found.")
    return row


def maybe(scope: Scope, sql: str, params: dict[str, Any] | None = None) -> RowMapping | None:
    return scope.conn.execute(text(sql), params or {}).mappings().one_or_none()


def rows(scope: Scope, sql: str, params: dict[str, Any] | None = None) -> list[RowMapping]:
    return list(scope.conn.execute(text(sql), params or {}).mappings())


def execute(scope: Scope, sql: str, params: dict[str, Any] | None = None) -> int:
    return scope.conn.execute(text(sql), params or {}).rowcount
