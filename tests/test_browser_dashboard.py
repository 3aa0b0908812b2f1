"""Browser test (INV-10): a manager has ``/dashboard`` open while a coder, in another browser
context, submits a chart — and the manager's live counters change without a reload.

The department is real demo data, worked through the service actions: the bundled Synthea sample
(``app/demo_data/synthea``: 148 charts) imported, charts spread over four coders, most of each
coder's share coded and submitted, and most submissions audited by a supervisor — one coder with
a few wrong and missing codes (below the 95 % target), the others right. One chart of the coder
who signs in is coded but not submitted: they submit it from ``/chart`` in the browser, the outbox
relay publishes its event (the worker's job, run here in-process), and the manager's "Submitted"
and "Waiting for audit" tiles move.

Real Chromium (Debian's /usr/bin/chromium) through Playwright against the live server.
Screenshots go to ``test-results/``: dashboard.png (the whole page), dashboard-coder.png (one
coder's charts).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from app.authz import Principal, Role
from app.demo_data import SYNTHEA_DIR
from app.jobs.outbox_relay import RelayPolicy, relay
from app.services import audits, charts
from app.services.audits import MissingCode, RowVerdict
from app.services.chart_types import CodeRowInput
from app.services.imports import import_paths
from tests.chart_fixtures import principal
from tests.conftest import SHOTS, LiveServer, make_org, make_user, new_page
from tests.test_browser_chart import _sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CODES = (
    ("I10", "Essential hypertension, on lisinopril."),
    ("E11.9", "Type 2 diabetes mellitus on metformin."),
    ("E78.5", "Hyperlipidemia on atorvastatin."),
    ("J06.9", "Acute upper respiratory infection."),
    ("J02.9", "Acute pharyngitis, rapid strep negative."),
    ("M54.50", "Low back pain, no radiculopathy."),
    ("E66.9", "Obesity, BMI 31."),
    ("J20.9", "Acute bronchitis."),
)
CATEGORIES = ("Specificity", "Documentation support", "Sequencing", "Coding guideline")


@dataclass
class Department:
    org_id: uuid.UUID
    manager_email: str
    coder_email: str
    coder: Principal
    chart_id: uuid.UUID  # coded by ``coder``, not yet submitted: submitted in the browser


def _rows(n: int, offset: int) -> tuple[CodeRowInput, ...]:
    picked = [CODES[(offset + i) % len(CODES)] for i in range(n)]
    return tuple(CodeRowInput("diagnosis", code, why, is_principal=i == 0) for i, (code, why) in enumerate(picked))


def _code(coder: Principal, chart_id: uuid.UUID, rows: tuple[CodeRowInput, ...], *, submit: bool) -> bool:
    version = charts.get_chart(coder, chart_id).version
    saved = charts.save_codes(coder, chart_id, version=version, rows=rows)
    if submit:
        try:
            charts.submit(coder, chart_id, version=saved.version)
        except Exception:  # noqa: BLE001 - a chart these generic codes do not fit stays a draft, as in real life
            return False
    return True


def _audit(supervisor: Principal, chart_id: uuid.UUID, n: int, *, sloppy: bool) -> None:
    audits.claim(supervisor, chart_id)
    view = charts.get_chart(supervisor, chart_id)
    wrong = sloppy and n % 2 == 0
    verdicts = [
        RowVerdict(c.id, "not_supported", category=CATEGORIES[n % len(CATEGORIES)])
        if wrong and i == len(view.codes) - 1 and i > 0
        else RowVerdict(c.id, "correct")
        for i, c in enumerate(view.codes)
    ]
    missing = [MissingCode("Z79.84", category=CATEGORIES[(n + 1) % len(CATEGORIES)])] if sloppy and n % 3 == 0 else []
    returned = wrong or bool(missing)
    audits.audit(
        supervisor,
        chart_id,
        submission_no=1,
        verdicts=verdicts,
        missing=missing,
        feedback="Check the documentation behind each code." if returned else None,
        decision="return" if returned else "approve",
    )


def _department(runtime: Any) -> Department:
    org = make_org("Browser Dashboard")
    manager_email = f"mgr-{uuid.uuid4().hex[:6]}@browser.test"
    coder_email = f"coder-{uuid.uuid4().hex[:6]}@browser.test"
    manager = principal(org, make_user(runtime.ctx, org, Role.MANAGER, email=manager_email), Role.MANAGER)
    supervisor = principal(org, make_user(runtime.ctx, org, Role.SUPERVISOR, name="Sam Supervisor"), Role.SUPERVISOR)
    names = ("Casey Coder", "Dana Diaz", "Eli Brooks", "Farah Khan")
    coders = [
        principal(
            org,
            make_user(runtime.ctx, org, Role.CODER, email=coder_email if i == 0 else None, name=name),
            Role.CODER,
            name,
        )
        for i, name in enumerate(names)
    ]
    import_paths(org, [SYNTHEA_DIR], source="demo")
    ids = [c.id for c in charts.list_charts(manager, page_size=200, sort="encounter").items]
    share = 14
    for i, coder in enumerate(coders):
        charts.assign(manager, ids[i * share : (i + 1) * share], [coder.user_id])
    for i, coder in enumerate(coders):
        mine = ids[i * share : (i + 1) * share]
        submitted = [cid for n, cid in enumerate(mine[1:10]) if _code(coder, cid, _rows(1 + n % 3, n + i), submit=True)]
        for n, cid in enumerate(submitted[:6]):
            _audit(supervisor, cid, n, sloppy=coder.name == "Eli Brooks")
    chart_id = ids[0]  # Casey's first chart: coded now, submitted in the browser
    _code(coders[0], chart_id, _rows(2, 0), submit=False)
    return Department(org, manager_email, coder_email, coders[0], chart_id)


def _tile(page: Page, key: str) -> Any:
    return page.locator(f".sc-d-live .db-tile--{key} .db-tile__value")


def test_manager_sees_a_coders_submission_without_reloading(
    chromium_browser: Browser, live_server: LiveServer, runtime: Any
) -> None:
    base = live_server.url
    dept = _department(runtime)
    SHOTS.mkdir(exist_ok=True)
    manager_page = new_page(chromium_browser)
    coder_page = new_page(chromium_browser)

    _sign_in(manager_page, base, dept.manager_email)
    expect(manager_page).to_have_url(re.compile(r"/assign"))  # signed in: the manager's home
    expect(manager_page.locator(".sc-nav-link--dashboard")).to_be_visible()
    manager_page.goto(f"{base}/dashboard")
    submitted_tile, waiting_tile = _tile(manager_page, "submitted_today"), _tile(manager_page, "pending_audit")
    expect(manager_page.locator(".sc-d-headline .db-kpis")).to_be_visible(timeout=30000)
    submitted_before = int(submitted_tile.inner_text().replace(",", ""))
    waiting_before = int(waiting_tile.inner_text().replace(",", ""))
    expect(manager_page.locator(".sc-d-alerts")).to_contain_text("below the 95% accuracy target")
    expect(manager_page.locator(".sc-d-alerts")).to_contain_text("Eli Brooks")
    expect(manager_page.locator(".sc-plot-throughput")).to_be_visible()
    expect(manager_page.locator(".sc-plot-accuracy")).to_be_visible()
    manager_page.mouse.move(700, 60)
    manager_page.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)

    # The coder, in another browser context, submits the chart they coded.
    _sign_in(coder_page, base, dept.coder_email)
    expect(coder_page).to_have_url(re.compile(r"/queue"))
    coder_page.goto(f"{base}/chart?id={dept.chart_id}")
    submit = coder_page.locator(".sc-submit button")
    expect(submit).to_be_enabled(timeout=15000)
    submit.click()
    expect(coder_page).to_have_url(re.compile(r"/queue"), timeout=20000)
    assert charts.get_chart(dept.coder, dept.chart_id).status == "pending_audit"

    # The worker's outbox relay publishes the event; the open dashboard updates by itself.
    relay(RelayPolicy.from_settings(runtime.settings), only_orgs=[dept.org_id])
    expect(submitted_tile).to_have_text(str(submitted_before + 1), timeout=15000)
    expect(waiting_tile).to_have_text(str(waiting_before + 1))
    assert manager_page.url == f"{base}/dashboard"  # no reload, no navigation

    # The charts recompute on demand (or by themselves within a minute), and a coder drills down.
    manager_page.locator(".sc-d-refresh button").click()
    expect(manager_page.locator(".sc-d-team")).to_contain_text("Casey Coder")
    manager_page.locator(".sc-d-team .tabulator-cell", has_text="Eli Brooks").click()
    drill = manager_page.locator(".sc-d-drill-card")
    expect(drill).to_contain_text("Charts of Eli Brooks", timeout=20000)
    expect(manager_page).to_have_url(re.compile(r"coder="))
    expect(drill.locator("a.sc-open").first).to_have_attribute("href", re.compile(r"^/chart\?id="))
    manager_page.mouse.move(700, 60)
    manager_page.screenshot(path=str(SHOTS / "dashboard-coder.png"), full_page=True)
    manager_page.context.close()
    coder_page.context.close()
