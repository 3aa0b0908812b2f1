"""Browser test (INV-10): a manager assigns charts on /assign; the coder finds them on /queue.

Real Chromium (Debian's /usr/bin/chromium) through Playwright against the live server, at
1440x900; screenshots of both pages go to ``test-results/``.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import text

from app.services import charts as svc
from datalayer.scope import org_scope
from tests.chart_fixtures import Team, chart_row, insert_charts, make_team
from tests.conftest import SHOTS, LiveServer
from tests.page_fixtures import browser_signed_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _return_with_feedback(team: Team, chart_id: uuid.UUID, feedback: str) -> None:
    """What the supervisor's review (not built yet) will write when it returns a chart."""
    audit_id = uuid.uuid4()
    with org_scope(team.org_id) as scope:
        scope.conn.execute(text("UPDATE charts SET status = 'returned' WHERE id = :id"), {"id": chart_id})
        scope.conn.execute(
            text(
                "INSERT INTO audits (id, org_id, chart_id, submission_no, supervisor_id, coder_id, claim_expires_at, "
                "decision, decided_at) VALUES (:id, :org, :chart, 1, :sup, :coder, now(), 'return', now())"
            ),
            {
                "id": audit_id,
                "org": team.org_id,
                "chart": chart_id,
                "sup": team.supervisor.user_id,
                "coder": team.coder_a.user_id,
            },
        )
        scope.conn.execute(
            text(
                "INSERT INTO audit_findings (id, org_id, audit_id, verdict, expected_code, note) "
                "VALUES (:id, :org, :audit, 'wrong_code', 'J45.40', 'Severity is documented.')"
            ),
            {"id": uuid.uuid4(), "org": team.org_id, "audit": audit_id},
        )
        scope.conn.execute(
            text(
                "INSERT INTO feedback (id, org_id, audit_id, chart_id, coder_id, supervisor_id, body) "
                "VALUES (:id, :org, :audit, :chart, :coder, :sup, :body)"
            ),
            {
                "id": uuid.uuid4(),
                "org": team.org_id,
                "audit": audit_id,
                "chart": chart_id,
                "coder": team.coder_a.user_id,
                "sup": team.supervisor.user_id,
                "body": feedback,
            },
        )


def test_manager_assigns_and_coder_sees_them(chromium_browser: Browser, live_server: LiveServer, runtime: Any) -> None:
    base = live_server.url
    team = make_team(runtime.ctx, logins=True)
    reasons = ["Acute bronchitis", "Hypertension", "Type 2 diabetes", "Chest pain", "Sprained ankle", "Asthma"]
    ids = insert_charts(
        team.org_id,
        [chart_row(i, encounter_type="Encounter for symptom", encounter_reason=r) for i, r in enumerate(reasons)],
    )
    # Some history for the coder's queue: one chart already assigned, audited and returned.
    svc.assign(team.manager, ids[-1:], [team.coder_a.user_id])
    _return_with_feedback(team, ids[-1], "Asthma is documented as moderate persistent: use J45.40, not J45.909.")
    SHOTS.mkdir(exist_ok=True)

    manager = browser_signed_in(chromium_browser, base, team.manager.email)
    expect(manager).to_have_url(re.compile(r"/assign$"))  # a manager's home
    table = manager.locator(".sc-assign-table")
    expect(table.locator(".tabulator-row")).to_have_count(5)  # the unassigned ones
    expect(manager.locator(".sc-workload")).to_contain_text("Ada Coder")
    for n in (0, 1, 2):
        table.locator(".tabulator-row").nth(n).locator("input[type=checkbox]").click()
    expect(manager.locator(".sc-selected-text")).to_contain_text("3 charts selected")
    manager.locator(".sc-assign-coder [role=combobox]").click()
    manager.get_by_role("menuitem", name=re.compile(r"^Ada Coder")).click()
    button = manager.locator(".sc-assign-button button")
    expect(button).to_have_text("Assign 3 charts")
    button.click()
    expect(manager.locator(".sc-assign-notice")).to_contain_text("Assigned 3 charts: Ada Coder 3.")
    expect(table.locator(".tabulator-row")).to_have_count(2)  # they left the unassigned list
    expect(manager.locator(".sc-selected-text")).to_contain_text("Tick charts")
    expect(button).to_be_disabled()  # nothing is selected any more
    manager.mouse.move(700, 700)  # off the button: a pointer resting on it keeps its hover colour
    expect(manager.locator(".sc-workload")).to_contain_text("4")
    manager.screenshot(path=str(SHOTS / "assign.png"))

    coder = browser_signed_in(chromium_browser, base, team.coder_a.email)
    expect(coder).to_have_url(re.compile(r"/queue$"))  # a coder's home
    rows = coder.locator(".sc-queue-table .tabulator-row")
    expect(rows).to_have_count(4)
    for reason in (*reasons[:3], reasons[-1]):
        expect(coder.locator(".sc-queue-table")).to_contain_text(reason)
    expect(coder.locator(".sc-queue-tabs")).to_contain_text("To do (4)")
    expect(coder.locator(".sc-queue-tabs")).to_contain_text("Returned (1)")
    returned = coder.locator(".sc-returned-list")
    expect(returned).to_contain_text("Returned to you")
    expect(returned).to_contain_text("use J45.40, not J45.909")
    expect(returned).to_contain_text("by Sam Supervisor")
    expect(rows.first).to_contain_text("Returned")  # returned charts come first
    coder.screenshot(path=str(SHOTS / "queue.png"))
    # One click opens the chart.
    first = coder.locator(".sc-queue-table a.sc-open").first
    href = first.get_attribute("href")
    assert href is not None
    assert re.fullmatch(r"/chart\?id=[0-9a-f-]{36}", href)
    first.click()
    expect(coder).to_have_url(re.compile(r"/chart\?id=[0-9a-f-]{36}$"))
