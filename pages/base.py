"""The shell every page lives in, and the checks every page runs when it is built (INV-16).

``build(spec, ctx)`` is what the server calls for each new page session, over HTTP or over a
websocket: it resumes the session from the signed token payload, re-checks the page's
permission from the registry (deny by default), and only then constructs the page. A watchdog
re-validates the session every few seconds and sends a revoked, expired or demoted session to
``/login``, clearing the page first so no data stays on screen.
"""

from __future__ import annotations

import asyncio
import html
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Final, TypeVar
from uuid import UUID

import panel as pn
import panel_material_ui as pmui
import param
from panel.io.callbacks import PeriodicCallback
from panel_material_ui.template.base import Page

import tokens
from app.authz import ROLE_LABELS, Permission, Principal
from app.context import AppContext
from app.errors import NotAuthenticated, PermissionDenied
from app.logs import get_logger
from pages.identity import current_principal, resume_identity, session_identity

log = get_logger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str
    permission: Permission
    # A number shown beside the label (e.g. unread notifications beside "My queue"), read off the
    # event loop once the page's session has loaded; 0 shows nothing.
    count: Callable[[Principal], int] | None = None


def nav_label(label: str, count: int) -> str:
    if count <= 0:
        return label
    return f"{label} ({count if count <= 99 else '99+'})"


class SecurePage(pn.viewable.Viewer):
    """Base for every page. Subclasses set ``title`` and implement ``body()``."""

    title: ClassVar[str] = ""
    status = param.String(default="", doc="Last action's outcome, shown to the user")

    def __init__(self, *, principal: Principal, ctx: AppContext, nav: list[NavItem], **params: Any) -> None:
        super().__init__(**params)  # type: ignore[no-untyped-call]  # param.Parameterized is untyped
        self.principal = principal
        self.ctx = ctx
        self.nav = nav
        self.nav_counts: dict[str, int] = {}
        self._nav_links: dict[str, Any] = {}
        doc = pn.state.curdoc
        if any(item.count for item in nav) and doc is not None and getattr(doc, "session_context", None) is not None:
            pn.state.onload(self.load_nav_counts)

    # Every action re-resumes the session: a revoked session or lost permission stops it.
    def fresh_principal(self, permission: Permission) -> Principal:
        principal = current_principal(self.ctx, touch=True)
        if principal is None:
            raise NotAuthenticated()
        principal.require(permission)
        self.principal = principal
        return principal

    async def run_action(self, permission: Permission, work: Callable[[Principal], T]) -> T:
        """Re-resume the session, check ``permission`` and run ``work(principal)`` off the IOLoop.

        For async button callbacks: the session identity is read here, on the loop, from this
        session's document; the database and argon2 work run in the context's bounded executor,
        so every other session on the process keeps being served meanwhile. Raises
        NotAuthenticated (session revoked or expired) or PermissionDenied, like ``fresh_principal``.
        """
        identity = session_identity()

        def job() -> tuple[Principal, T]:
            principal = resume_identity(self.ctx, identity, touch=True)
            if principal is None:
                raise NotAuthenticated()
            principal.require(permission)
            return principal, work(principal)

        principal, result = await asyncio.get_running_loop().run_in_executor(self.ctx.executor, job)
        self.principal = principal
        return result

    async def load_nav_counts(self) -> None:
        """Read the navigation's counts (``NavItem.count``) off the event loop and show them."""
        counters = {item.path: item.count for item in self.nav if item.count and self.principal.can(item.permission)}
        if not counters:
            return
        try:
            counts = await self.run_action(
                Permission.ACCOUNT_VIEW, lambda p: {path: count(p) for path, count in counters.items()}
            )
        except (NotAuthenticated, PermissionDenied):
            return  # the session watchdog takes the browser to /login
        for path, count in counts.items():
            self.set_nav_count(path, count)

    def set_nav_count(self, path: str, count: int) -> None:
        self.nav_counts[path] = count
        link = self._nav_links.get(path)
        item = next((i for i in self.nav if i.path == path), None)
        if link is not None and item is not None:
            link.param.update(label=nav_label(item.label, count), description=_count_hint(count))

    def body(self) -> list[Any]:
        raise NotImplementedError

    def framed(self, title: str, main: list[Any]) -> Any:
        """``main`` in the shell, keeping the navigation's links so their counts can change later."""
        self._nav_links = nav_links(self.principal, self.nav, title, self.nav_counts)
        return shell(self.principal, self.ctx, self.nav, title, main, links=self._nav_links)

    def __panel__(self) -> Any:
        return self.framed(self.title, self.body())


@contextmanager
def busy(button: Any) -> Iterator[None]:
    """Disable ``button`` and show its spinner while an async action runs; restore it afterwards."""
    was_disabled = button.disabled
    button.param.update(disabled=True, loading=True)
    try:
        yield
    finally:
        button.param.update(disabled=was_disabled, loading=False)


_SHELL_CSS = """
.sc-usermenu { display: flex; align-items: center; justify-content: flex-end; gap: var(--app-space-3);
  color: var(--app-color-primary-contrast); font-size: var(--app-font-size-sm); }
.sc-usermenu__form { margin: 0; }
.sc-signout { background: transparent; border: 1px solid currentColor; color: inherit; border-radius: var(--app-radius-sm);
  padding: var(--app-space-1) var(--app-space-3); cursor: pointer; font: inherit; }
.sc-signout:focus-visible { outline: 2px solid currentColor; outline-offset: 2px; }
"""


def _css() -> list[str]:
    return [tokens.component_css(), _SHELL_CSS]


def user_menu_html(principal: Principal, csrf: str) -> str:
    role = principal.role.value
    return (
        '<div class="sc-usermenu">'
        f'<span class="sc-usermenu__name">{html.escape(principal.name)}</span>'
        f'<span class="sc-badge sc-badge--{role}">{html.escape(ROLE_LABELS[principal.role])}</span>'
        '<form method="post" action="/logout" class="sc-usermenu__form">'
        f'<input type="hidden" name="_xsrf" value="{html.escape(csrf)}">'
        '<button type="submit" class="sc-linkbutton sc-signout">Sign out</button></form></div>'
    )


def _count_hint(count: int) -> str | None:
    return f"{count} unread notification{'' if count == 1 else 's'}" if count > 0 else None


def nav_links(
    principal: Principal, nav: list[NavItem], title: str, counts: dict[str, int] | None = None
) -> dict[str, Any]:
    """The sidebar's links the principal may follow, by path; ``counts`` are shown beside labels."""
    counts = counts or {}
    return {
        item.path: pmui.Button(
            label=nav_label(item.label, counts.get(item.path, 0)),
            description=_count_hint(counts.get(item.path, 0)),
            href=item.path,
            variant="text",
            sizing_mode="stretch_width",
            color="primary" if item.label == title else "default",
            css_classes=["sc-nav-link", f"sc-nav-link--{item.path.strip('/') or 'home'}"],
        )
        for item in nav
        if principal.can(item.permission)
    }


def shell(
    principal: Principal,
    ctx: AppContext,
    nav: list[NavItem],
    title: str,
    main: list[Any],
    *,
    links: dict[str, Any] | None = None,
) -> Any:
    buttons = list((links if links is not None else nav_links(principal, nav, title)).values())
    header = pn.pane.HTML(
        user_menu_html(principal, ctx.auth.csrf_token(principal)),
        css_classes=["sc-header-user"],
        stylesheets=_css(),
        sizing_mode="stretch_width",
    )
    with _PAGE_BUILD:
        page = Page(
            title="SmartCoders",
            sidebar=[pn.Column(*buttons, sizing_mode="stretch_width")],
            sidebar_width=220,
            header=[header],
            main=[
                pn.Column(
                    pn.pane.HTML(f'<h1 class="sc-page-title">{html.escape(title)}</h1>', stylesheets=_css()),
                    *main,
                    sizing_mode="stretch_width",
                    css_classes=["sc-main"],
                )
            ],
            theme_config=tokens.theme_config(),
        )
        return detach_from_process_busy(page)


# panel-material-ui's Page sets its read-only ``busy`` inside param's ``edit_readonly``, which
# flips ``readonly`` on the class-level parameter and then restores what it saw; two Pages built at
# once on two threads interleave those and leave the flag wrong for every later page. One at a time.
_PAGE_BUILD: Final = threading.Lock()


def detach_from_process_busy(page: Page) -> Page:
    """Unbind the page's ``busy`` from the process-wide ``pn.state.busy``.

    panel-material-ui's ``Page`` binds ``busy`` to ``pn.state.param.busy`` with a param reference,
    whose watcher on the process-global state is never removed (PANEL.md trap (e)). Every page
    ever served then stays alive, and every event in any session — each toggles ``state.busy`` —
    updates every old page too; one whose session was destroyed raised ``UnsetValueError`` inside
    the *current* session's event handling, so that session's click was lost. Our pages show
    their own per-button busy state instead (``busy`` above).
    """
    private = page._param__private
    private.refs.pop("busy", None)
    kept = []
    for names, watcher in private.ref_watchers:
        if watcher.inst is pn.state:
            pn.state.param.unwatch(watcher)
        else:
            kept.append((names, watcher))
    private.ref_watchers = kept
    return page


def message_view(heading: str, message: str) -> Any:
    return pn.pane.HTML(
        f'<div class="sc-auth"><div class="sc-card"><h1>{html.escape(heading)}</h1>'
        f'<p>{html.escape(message)}</p><p><a href="/">Go to SmartCoders</a></p></div></div>',
        stylesheets=_css(),
        sizing_mode="stretch_width",
        css_classes=["sc-message"],
    )


def _ended_by_logout(ctx: AppContext, identity: dict[str, str] | None) -> bool:
    if identity is None:
        return False
    try:
        return ctx.auth.ended_by_logout(org_id=UUID(identity["org"]), session_id=UUID(identity["sid"]))
    except (KeyError, ValueError):
        return False


def _session_state(ctx: AppContext, identity: dict[str, str] | None, permission: Permission) -> str | None:
    """None while the session may still see the page, else the sign-in notice to show (database
    reads: runs in the executor)."""
    principal = resume_identity(ctx, identity, touch=False)
    if principal is not None and principal.can(permission):
        return None
    # Signing out from this page races its own redirect: say "signed out", not "expired".
    return "signed_out" if principal is None and _ended_by_logout(ctx, identity) else "expired"


def _start_watchdog(ctx: AppContext, permission: Permission, root: pn.Column) -> None:
    identity = session_identity()  # read once on the IOLoop: it lives in the session's document

    async def check() -> None:
        # The session lookup reads the database: off the IOLoop, so N open pages never queue
        # N database round trips per period in front of every other request.
        loop = asyncio.get_running_loop()
        notice = await loop.run_in_executor(ctx.executor, _session_state, ctx, identity, permission)
        if notice is None or not callback.running:
            return
        log.info("page_session_ended", reason="revoked_or_forbidden")
        root.objects = [message_view("Signed out", "Your session has ended. Sign in again to continue.")]
        callback.stop()
        location = pn.state.location
        if location is not None:
            # `href` is read-only in Panel (assigning it raised, so no redirect happened): set the
            # parts, with reload on so the browser really navigates.
            location.reload = True
            location.param.update(pathname="/login", search=f"?notice={notice}")

    # background=True: a foreground periodic callback toggles the process-wide `pn.state.busy`, which
    # every pmui Page of every session watches, so N open pages cost O(N^2) updates per period
    # (measured: GET /account went from ~0.2 s to ~1 s with ~30 live sessions; flat with this).
    callback = PeriodicCallback(
        callback=check, period=int(ctx.settings.session_watchdog_seconds * 1000), background=True
    )
    callback.start()


def build(page_cls: type[SecurePage], permission: Permission, ctx: AppContext, nav: list[NavItem]) -> Callable[[], Any]:
    def factory() -> Any:
        principal = current_principal(ctx, touch=True)
        if principal is None:
            return message_view("Signed out", "Sign in to continue.")
        if not principal.can(permission):
            log.warning("authz_fail", page=page_cls.__name__, role=principal.role)
            return message_view("Forbidden", "You do not have permission to open this page.")
        root = pn.Column(page_cls(principal=principal, ctx=ctx, nav=nav), sizing_mode="stretch_both")
        _start_watchdog(ctx, permission, root)
        return root

    factory.__name__ = f"build_{page_cls.__name__}"
    return factory
