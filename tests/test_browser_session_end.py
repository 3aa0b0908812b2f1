"""B9: an open Panel page stops showing data once its session is revoked, and goes to sign-in.

Real Chromium against the live server. The user signs out through a request from the same
browser context (as another tab would); the /account page that stays open must lose its content
and land on /login?notice=signed_out (a sign-out ended it) within a few watchdog periods
(SESSION_WATCHDOG_SECONDS is 1 in the suite).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from app.authz import Role
from tests.conftest import PASSWORD, LiveServer, make_org, make_user, new_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_b9_open_page_ends_when_session_is_revoked(
    chromium_browser: Browser, live_server: LiveServer, runtime: Any
) -> None:
    base = live_server.url
    email = f"b9-{uuid.uuid4().hex[:8]}@browser.test"
    make_user(runtime.ctx, make_org("B9 Clinic"), Role.CODER, email=email)
    page = new_page(chromium_browser)
    context = page.context
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/queue$"))  # a coder's home
    page.goto(f"{base}/account")
    expect(page.locator(".sc-profile")).to_contain_text(email)

    xsrf = next(c["value"] for c in context.cookies() if c["name"] == "_xsrf")
    assert context.request.post(f"{base}/logout", headers={"X-XSRFToken": xsrf}, max_redirects=0).status == 303

    expect(page).to_have_url(re.compile(r"/login\?notice=signed_out$"))
    expect(page.get_by_text("You have been signed out.")).to_be_visible()
    context.close()
