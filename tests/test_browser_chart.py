"""Browser test (INV-10) of the coder's part of the workflow on ``/chart``: from the queue the coder
opens a chart, adds codes with the autocomplete (by words and by code), sees the error on the row
that causes it, fixes it by replacing the code, writes rationales with the keyboard, submits and is
back on the queue; the chart is then read-only, waiting for audit.

Real Chromium (Debian's /usr/bin/chromium) through Playwright against the live server.
Screenshots at 1440x900 go to ``test-results/``: chart-coding.png (a real chart being coded),
chart-errors.png (an error on its row), chart-readonly.png (the submitted chart).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

import tokens
from app.authz import Role
from app.services import charts as chart_actions
from app.services.chart_types import ChartStatus
from app.services.imports import import_bundle
from datalayer.scope import org_scope
from tests import synthea_data
from tests.chart_fixtures import principal
from tests.conftest import PASSWORD, SHOTS, LiveServer, make_org, make_user, new_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def _rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def _row(page: Page, n: int) -> Locator:
    """The n-th diagnosis row of the grid (1-based, as the engine counts)."""
    return page.locator('.scg-group__rows[data-kind="diagnosis"] > .scg-row').nth(n - 1)


def _add(page: Page, typed: str, expected: str) -> None:
    """Type into the add box like a coder, wait for the wanted suggestion on top, press Enter."""
    search = page.locator(".scg-search")
    search.click()
    search.press_sequentially(typed, delay=25)
    first = page.locator(".scg-option").first
    expect(first.locator(".scg-option__code")).to_have_text(expected)
    search.press("Enter")


def _chart_for_a_new_coder(runtime: Any) -> tuple[uuid.UUID, uuid.UUID, str, uuid.UUID]:
    """A fresh organisation with a real Synthea bundle imported; one chart assigned to a new coder."""
    org = make_org("Browser Coding")
    email = f"coder-{uuid.uuid4().hex[:6]}@browser.test"
    coder_id = make_user(runtime.ctx, org, Role.CODER, email=email, name="Casey Coder")
    manager = principal(org, make_user(runtime.ctx, org, Role.MANAGER), Role.MANAGER)
    path = synthea_data.demo_file("Tama137")
    with org_scope(org) as scope:
        import_bundle(scope, name=path.name, data=path.read_bytes(), source="cli")
    listed = chart_actions.list_charts(manager, page_size=50, sort="-encounter")
    richest = max(listed.items[:10], key=lambda c: c.difficulty or 0)
    chart_actions.assign(manager, [richest.id], [coder_id])
    return org, coder_id, email, richest.id


def _code_with_an_error(page: Page) -> None:
    """By words, then by code (E11 is a category, not a billable code), then by words again."""
    _add(page, "pneumonia unspecified organism", "J18.9")
    expect(_row(page, 1)).to_contain_text("J18.9")
    expect(_row(page, 1).locator(".scg-principal-input")).to_be_checked()
    _add(page, "E11", "E11")
    _add(page, "essential hypertension", "I10")
    expect(_row(page, 3)).to_contain_text("I10")
    # The error is on row 2, the row that causes it, with its guideline reference.
    expect(_row(page, 2)).to_have_class(re.compile(r"scg-row--error"))
    expect(_row(page, 2).locator(".scg-f--error")).to_contain_text("E11")
    expect(_row(page, 2).locator(".scg-f--error")).to_contain_text("R-FMT-01")
    expect(_row(page, 1)).not_to_have_class(re.compile(r"scg-row--error"))
    expect(_row(page, 3)).not_to_have_class(re.compile(r"scg-row--error"))
    expect(page.locator(".sc-chart-summary")).to_contain_text("1 error")
    expect(page.locator(".sc-submit button")).to_be_disabled()


def _fix_and_explain(page: Page) -> None:
    """Click the code to replace it with the complete code; rationales from the keyboard (Enter
    moves to the next row's rationale)."""
    _row(page, 2).locator(".scg-code").click()
    expect(page.locator(".scg-replace")).to_contain_text("Replacing diagnosis row 2 (E11)")
    search = page.locator(".scg-search")
    search.press_sequentially("E11.9", delay=25)
    expect(page.locator(".scg-option").first.locator(".scg-option__code")).to_have_text("E11.9")
    search.press("Enter")
    expect(_row(page, 2)).to_contain_text("E11.9")
    expect(_row(page, 2)).not_to_have_class(re.compile(r"scg-row--error"))
    expect(page.locator(".sc-chart-summary")).to_contain_text("No errors")
    _row(page, 1).locator(".scg-rationale").click()
    for text in (
        "Pneumonia documented; organism not identified.",
        "Type 2 diabetes without complications, on metformin.",
        "Hypertension documented and treated.",
    ):
        page.keyboard.type(text, delay=5)
        page.keyboard.press("Enter")
    submit = page.locator(".sc-submit button")
    expect(submit).to_be_enabled()
    expect(page.locator(".sc-chart-hint")).to_contain_text("Ready to submit")
    # The button in the theme's primary colour (MUI fades it in from the disabled look).
    expect(submit).to_have_css("background-color", _rgb(tokens.color("primary")))


def test_coder_codes_a_chart_fixes_an_error_and_submits(
    chromium_browser: Browser, live_server: LiveServer, runtime: Any
) -> None:
    base = live_server.url
    org, coder_id, email, chart_id = _chart_for_a_new_coder(runtime)
    SHOTS.mkdir(exist_ok=True)

    page = new_page(chromium_browser)
    _sign_in(page, base, email)
    expect(page).to_have_url(re.compile(r"/queue"))
    page.locator(f'a.sc-open[href="/chart?id={chart_id}"]').click()
    expect(page).to_have_url(re.compile(rf"/chart\?id={chart_id}"))
    expect(page.locator(".scg-search")).to_be_visible()
    expect(page.locator(".sc-chart-facts")).to_contain_text("Conditions at this encounter")
    expect(page.locator(".sc-chart-facts")).to_contain_text("SNOMED")
    expect(page.locator(".scg-empty").first).to_contain_text("No codes yet")

    _code_with_an_error(page)
    page.screenshot(path=str(SHOTS / "chart-errors.png"))
    _fix_and_explain(page)
    page.screenshot(path=str(SHOTS / "chart-coding.png"))

    page.locator(".sc-submit button").click()
    expect(page).to_have_url(re.compile(r"/queue"), timeout=20000)
    stored = chart_actions.get_chart(principal(org, coder_id, Role.CODER), chart_id)
    assert stored.status == ChartStatus.PENDING_AUDIT
    assert [(c.code, c.is_principal) for c in stored.codes] == [("J18.9", True), ("E11.9", False), ("I10", False)]
    assert all(c.rationale for c in stored.codes)

    page.goto(f"{base}/chart?id={chart_id}")
    expect(page.locator(".sc-chart-review")).to_contain_text("waiting for a supervisor")
    expect(page.locator(".scg-search")).to_have_count(0)
    expect(_row(page, 2)).to_contain_text("E11.9")
    page.screenshot(path=str(SHOTS / "chart-readonly.png"))
