"""B14 in Chromium: a user with two-step sign-in gives the password on /login, lands on
/login/code (the sign-in script follows the server's answer), types a code from "their app" and
arrives on their home page. A wrong code keeps them on the code page with the reason."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from app.authz import Role
from app.security import totp
from datalayer.queries import users as user_rows
from datalayer.scope import org_scope
from tests.conftest import PASSWORD, SHOTS, LiveServer, make_org, make_user, new_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_b14_sign_in_with_a_code_in_the_browser(
    chromium_browser: Browser, live_server: LiveServer, runtime: Any
) -> None:
    base = live_server.url
    org = make_org("Two-step Clinic")
    email = f"b14-{uuid.uuid4().hex[:8]}@browser.test"
    user_id = make_user(runtime.ctx, org, Role.CODER, email=email)
    secret, now = totp.new_secret(), datetime.now(UTC)
    with org_scope(org) as scope:  # on since a while ago: its last code is several steps back
        user_rows.enable_two_step(scope, user_id, secret=secret, step=int(now.timestamp()) // 30 - 5, now=now)

    page = new_page(chromium_browser)
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/login/code$"))
    code_box = page.locator("input[name=code]")
    expect(code_box).to_be_focused()
    page.screenshot(path=str(SHOTS / "login-code.png"))

    right = totp.code_at(secret, datetime.now(UTC))
    code_box.fill("000000" if right != "000000" else "111111")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("That code did not work")
    page.locator("input[name=code]").fill(totp.code_at(secret, datetime.now(UTC)))
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/queue$"))
    page.context.close()
