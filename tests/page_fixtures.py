"""Helpers for page tests.

Without a browser (CONVENTIONS 15): ``signed_in`` signs a person in for real and points the pages'
session identity lookup at that session, so a page built afterwards is built the way a session
builds it; ``built_page`` builds a registered page through its permission check as the server
does; ``run_settled`` awaits a page action and then every task it started.

In headless Chromium: ``browser_signed_in`` opens a fresh context at the size screenshots are judged
at and signs in through the login form.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Final

import panel as pn
import pytest

import pages.base
import pages.identity
from app import bootstrap
from app.authz import Principal, Role
from pages.registry import NAV, page_for
from tests.conftest import PASSWORD, make_org, make_user

SIGN_IN_IP: Final = "198.51.100.20"  # a documentation address (RFC 5737)


def page_session(ctx: Any, monkeypatch: pytest.MonkeyPatch, email: str) -> Principal:
    """Sign ``email`` in (fixture PASSWORD) and make that session the one pages see as theirs."""
    p = ctx.auth.login(email=email, password=PASSWORD, client_ip=SIGN_IN_IP, user_agent=None).principal
    identity = {"sub": str(p.user_id), "org": str(p.org_id), "sid": str(p.session_id)}
    for module in (pages.base, pages.identity):
        monkeypatch.setattr(module, "session_identity", lambda: identity)
    return p


def signed_in(runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, who: Principal) -> Principal:
    """``page_session`` for a fixture person; returns the signed-in principal (its own session id)."""
    return page_session(runtime.ctx, monkeypatch, who.email)


def new_manager(runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch) -> Principal:
    """The manager of a fresh organisation, signed in (``page_session``)."""
    email = f"mgr-{uuid.uuid4().hex[:8]}@example.test"
    make_user(runtime.ctx, make_org(), Role.MANAGER, email=email)
    return page_session(runtime.ctx, monkeypatch, email)


def built_page(runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, path: str, who: Principal) -> Any:
    """The registered page of ``path`` as the server builds it for ``who`` (signed in), or None when
    ``who`` gets the permission message instead."""
    spec = page_for(path)
    assert spec is not None
    monkeypatch.setattr(pages.base, "_start_watchdog", lambda *args: None)  # no server loop here
    signed_in(runtime, monkeypatch, who)
    built = pages.base.build(spec.page, spec.permission, runtime.ctx, NAV)()
    if isinstance(built, pn.pane.HTML) and "You do not have permission" in built.object:
        return None
    assert not isinstance(built, pn.pane.HTML), f"a message instead of the page: {built.object}"
    return built


def run_settled(coroutine: Any) -> Any:
    """Run a page action on a fresh loop and wait for the tasks it started; returns its result."""

    async def run() -> Any:
        result = await coroutine
        await asyncio.gather(*(asyncio.all_tasks() - {asyncio.current_task()}))
        return result

    return asyncio.run(run())


def browser_signed_in(browser: Any, base: str, email: str) -> Any:
    """A fresh browser context (own cookies) at 1440x900, signed in as ``email``."""
    page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    page.set_default_timeout(20000)
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    return page
