"""The page registry: path → page class and the permission it requires (deny by default).

Used by the server's ``authorize_callback`` for HTTP page requests *and* by ``pages.base.build``
inside every page session (websocket path, INV-16). Tests walk it; an entry without a
permission cannot be expressed.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.authz import Permission
from pages.account import AccountPage
from pages.base import NavItem, SecurePage
from pages.users import UsersPage


@dataclass(frozen=True)
class PageSpec:
    path: str
    page: type[SecurePage]
    permission: Permission
    label: str


PAGES: tuple[PageSpec, ...] = (
    PageSpec("/users", UsersPage, Permission.USERS_MANAGE, "Users"),
    PageSpec("/account", AccountPage, Permission.ACCOUNT_VIEW, "Account"),
)

NAV: list[NavItem] = [NavItem(p.path, p.label, p.permission) for p in PAGES]


def page_for(path: str) -> PageSpec | None:
    clean = "/" + path.strip("/")
    return next((p for p in PAGES if p.path == clean), None)
