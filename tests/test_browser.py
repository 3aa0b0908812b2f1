"""Browser test (INV-10): a manager signs in, adds a coder on /users and signs out; the coder
accepts the emailed invitation, sets a password and lands on /queue (their home); then signs out and in again.

Real Chromium (Debian's /usr/bin/chromium) through Playwright against the live server.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from app.authz import Role
from datalayer.queries import emails
from datalayer.scope import org_scope
from tests.conftest import PASSWORD, SHOTS, LiveServer, make_org, make_user, new_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _sign_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_manager_creates_coder_who_signs_in(chromium_browser: Browser, live_server: LiveServer, runtime: Any) -> None:
    base = live_server.url
    org = make_org("Browser Clinic")
    manager_email = f"mgr-{uuid.uuid4().hex[:6]}@browser.test"
    make_user(runtime.ctx, org, Role.MANAGER, email=manager_email, name="Morgan Manager")
    coder_email = f"coder-{uuid.uuid4().hex[:6]}@browser.test"
    SHOTS.mkdir(exist_ok=True)

    page = new_page(chromium_browser)
    _sign_in(page, base, manager_email, PASSWORD)
    expect(page).to_have_url(re.compile(r"/assign$"))  # a manager's home
    page.goto(f"{base}/users")
    expect(page.get_by_text("People in your organisation")).to_be_visible()
    page.locator(".sc-new-name input").fill("Charlie Coder")
    page.locator(".sc-new-email input").fill(coder_email)
    page.locator(".sc-create-user button").click()
    expect(page.get_by_text("An invitation email is on its way")).to_be_visible()
    expect(page.locator(".sc-users-table")).to_contain_text(coder_email)
    page.screenshot(path=str(SHOTS / "users.png"))
    page.locator(".sc-signout").click()
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_text("You have been signed out")).to_be_visible()

    with org_scope(org) as scope:
        mail = emails.for_recipient(scope, coder_email)
    assert len(mail) == 1
    assert mail[0]["template"] == "invitation"
    link = re.search(r"https?://\S+/invite\?token=\S+", str(mail[0]["body_text"]))
    assert link is not None
    invite_path = link.group(0).split("/invite", 1)[1]

    coder = new_page(chromium_browser)
    coder.goto(f"{base}/invite{invite_path}")
    expect(coder.get_by_text("Welcome, Charlie Coder")).to_be_visible()
    new_password = "Velvet-Lantern-Orbit-58"
    coder.fill("input[name=password]", new_password)
    coder.fill("input[name=password_confirm]", new_password)
    coder.click("button[type=submit]")
    expect(coder).to_have_url(re.compile(r"/queue$"))  # a coder's home
    coder.goto(f"{base}/account")
    expect(coder.locator(".sc-profile")).to_contain_text(coder_email)
    expect(coder.locator(".sc-profile")).to_contain_text("Browser Clinic")
    coder.screenshot(path=str(SHOTS / "account.png"))

    coder.locator(".sc-signout").click()
    expect(coder).to_have_url(re.compile(r"/login"))
    _sign_in(coder, base, coder_email, new_password)
    expect(coder).to_have_url(re.compile(r"/queue$"))
    coder.goto(f"{base}/account")
    expect(coder.locator(".sc-profile")).to_contain_text("Coder")
    # A coder may not manage users: the page answers Forbidden.
    response = coder.goto(f"{base}/users")
    assert response is not None
    assert response.status == 403
