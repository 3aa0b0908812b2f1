"""Organisations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import exc, text

from app.errors import Conflict
from datalayer.queries._util import maybe, one
from datalayer.scope import Scope


@dataclass(frozen=True)
class Org:
    id: UUID
    name: str
    slug: str
    created_at: datetime


def insert(scope: Scope, *, name: str, slug: str) -> Org:
    """Create the organisation the scope is bound to (the scope's org id becomes its id)."""
    try:
        with scope.conn.begin_nested():
            row = one(
                scope,
                "INSERT INTO organizations (id, name, slug) VALUES (:id, :name, :slug) "
                "RETURNING id, name, slug, created_at",
                {"id": scope.require_org(), "name": name, "slug": slug},
            )
    except exc.IntegrityError as err:
        raise Conflict(f"An organisation with the short name {slug!r} already exists.") from err
    return Org(**row)


def get(scope: Scope) -> Org:
    return Org(
        **one(
            scope,
            "SELECT o.id, o.name, o.slug, o.created_at FROM organizations AS o WHERE o.id = :id",
            {"id": scope.require_org()},
            what="Organisation",
        )
    )


def id_by_slug(scope: Scope, slug: str) -> UUID | None:
    row = maybe(scope, "SELECT app_org_id_by_slug(:slug) AS id", {"slug": slug})
    return None if row is None else row["id"]


def slug_taken(scope: Scope, slug: str) -> bool:
    return id_by_slug(scope, slug) is not None


def all_ids(scope: Scope) -> list[UUID]:
    return [r[0] for r in scope.conn.execute(text("SELECT app_org_ids()"))]
