"""The page registry: path → page class and the permission it requires (deny by default).

Used by the server's ``authorize_callback`` for HTTP page requests *and* by ``pages.base.build``
inside every page session (websocket path, INV-16). Tests walk it; an entry without a
permission cannot be expressed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.authz import Permission, Principal
from app.services import notifications
from pages.account import AccountPage
from pages.assign import AssignPage
from pages.audit import AuditPage
from pages.base import NavItem, SecurePage
from pages.chart import ChartPage
from pages.dashboard import DashboardPage
from pages.imports import ImportsPage
from pages.queue import QueuePage
from pages.review import ReviewPage
from pages.users import UsersPage


@dataclass(frozen=True)
class PageSpec:
    path: str
    page: type[SecurePage]
    permission: Permission
    label: str
    in_nav: bool = True  # False for pages opened from another page with an id (``/chart?id=``)
    count: Callable[[Principal], int] | None = None  # shown beside the nav label (``NavItem.count``)


PAGES: tuple[PageSpec, ...] = (
    # The coder's queue is where assignments arrive: its link carries the unread notifications.
    PageSpec("/queue", QueuePage, Permission.CHARTS_CODE, "My queue", count=notifications.unread_count),
    PageSpec("/dashboard", DashboardPage, Permission.METRICS_VIEW, "Dashboard"),
    PageSpec("/assign", AssignPage, Permission.CHARTS_ASSIGN, "Assign charts"),
    PageSpec("/imports", ImportsPage, Permission.IMPORTS_MANAGE, "Imports"),
    PageSpec("/review", ReviewPage, Permission.AUDITS_VIEW, "Review queue"),
    PageSpec("/users", UsersPage, Permission.USERS_MANAGE, "Users"),
    PageSpec("/account", AccountPage, Permission.ACCOUNT_VIEW, "Account"),
    PageSpec("/chart", ChartPage, Permission.CHARTS_VIEW, "Chart", in_nav=False),
    PageSpec("/audit", AuditPage, Permission.AUDITS_VIEW, "Audit", in_nav=False),
)

NAV: list[NavItem] = [NavItem(p.path, p.label, p.permission, p.count) for p in PAGES if p.in_nav]


def page_for(path: str) -> PageSpec | None:
    clean = "/" + path.strip("/")
    return next((p for p in PAGES if p.path == clean), None)
