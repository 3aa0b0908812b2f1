"""``/review`` and ``/audit`` as plain objects, without a browser (CONVENTIONS 15).

Pages are built the way a session builds them (real sign-ins; the session identity is that of the
sign-in), driven by setting widget values and awaiting the actions the buttons run. Charts are
coded J18.9 (principal) + E11.9 and submitted through ``app.services.charts``; the audit marks
E11.9 as a wrong code (E11.65 expected) and adds the missing E87.1.
"""

from __future__ import annotations

import uuid
from typing import Any

import panel as pn
import pytest
from sqlalchemy import text

from app import bootstrap
from app.authz import ROLE_HOME, Permission, Principal, Role
from app.services import audits as audit_svc
from app.services.chart_types import ChartStatus, CodeRowInput
from datalayer.scope import org_scope
from pages.audit import AuditPage
from pages.registry import NAV, page_for
from pages.review import ReviewPage
from tests.chart_fixtures import Team, _user_without_password, login_team_fixture, make_team, principal
from tests.page_fixtures import built_page, run_settled, signed_in

pytestmark = pytest.mark.slow

PNEUMONIA = CodeRowInput("diagnosis", "J18.9", "Chest X-ray shows lobar consolidation.", is_principal=True)
DIABETES = CodeRowInput("diagnosis", "E11.9", "Type 2 diabetes on metformin.")


team = login_team_fixture()


def _submitted(team: Team) -> uuid.UUID:
    return team.submitted((PNEUMONIA, DIABETES))


def _status(team: Team, chart_id: uuid.UUID) -> str:
    with org_scope(team.org_id) as scope:
        return str(scope.conn.execute(text("SELECT status FROM charts WHERE id = :id"), {"id": chart_id}).scalar_one())


def _findings(team: Team, chart_id: uuid.UUID) -> list[dict[str, Any]]:
    with org_scope(team.org_id) as scope:
        rows = scope.conn.execute(
            text(
                "SELECT f.verdict, f.expected_code, f.severity, f.note FROM audit_findings AS f "
                "JOIN audits AS a ON a.id = f.audit_id WHERE a.chart_id = :id ORDER BY f.verdict"
            ),
            {"id": chart_id},
        ).mappings()
        return [dict(r) for r in rows]


def _page(runtime: bootstrap.Runtime, p: Principal, chart_id: uuid.UUID | None) -> AuditPage:
    return AuditPage(principal=p, ctx=runtime.ctx, nav=NAV, chart_id=chart_id)


def test_registry_and_supervisor_home() -> None:
    review, audit = page_for("/review"), page_for("/audit")
    assert review is not None
    assert audit is not None
    assert (review.page, review.permission, review.in_nav) == (ReviewPage, Permission.AUDITS_VIEW, True)
    assert (audit.page, audit.permission, audit.in_nav) == (AuditPage, Permission.AUDITS_VIEW, False)
    assert ROLE_HOME[Role.SUPERVISOR] == "/review"


@pytest.mark.parametrize("path", ["/review", "/audit"])
def test_pages_render_for_supervisors_and_refuse_coders(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, team: Team, path: str
) -> None:
    for name, allowed in (("supervisor", True), ("manager", True), ("coder_a", False), ("analyst", False)):
        built = built_page(runtime, monkeypatch, path, getattr(team, name))
        assert (built is not None) is allowed, name
        if allowed:
            built.get_root()  # the page lays out without errors


def test_review_lists_submitted_chart_and_claims_it(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, team: Team
) -> None:
    chart_id = _submitted(team)
    p = signed_in(runtime, monkeypatch, team.supervisor)
    page = ReviewPage(principal=p, ctx=runtime.ctx, nav=NAV)
    run_settled(page.refresh())
    assert page.queue is not None
    assert chart_id in [i.chart_id for i in page.queue.items]
    assert chart_id in page.claim_buttons
    assert not page.empty.visible
    assert any("Ada Coder" in getattr(o, "object", "") for row in page.rows.objects for o in row.select(pn.pane.HTML))
    run_settled(page.claim_and_open(chart_id))
    item = next(i for i in audit_svc.review_queue(team.supervisor).items if i.chart_id == chart_id)
    assert item.claimed_by == team.supervisor.user_id
    # Managers watch the queue but cannot claim.
    manager = signed_in(runtime, monkeypatch, team.manager)
    watcher = ReviewPage(principal=manager, ctx=runtime.ctx, nav=NAV)
    run_settled(watcher.refresh())
    assert not watcher.claim_buttons[chart_id].visible


def test_review_empty_state(runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    empty_team = make_team(runtime.ctx, logins=True)
    p = signed_in(runtime, monkeypatch, empty_team.supervisor)
    page = ReviewPage(principal=p, ctx=runtime.ctx, nav=NAV)
    run_settled(page.refresh())
    assert page.empty.visible
    assert "Nothing waiting for audit" in page.empty.object


def test_audit_return_with_wrong_and_missing_code(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, team: Team
) -> None:
    chart_id = _submitted(team)
    audit_svc.claim(team.supervisor, chart_id)
    p = signed_in(runtime, monkeypatch, team.supervisor)
    page = _page(runtime, p, chart_id)
    assert page.view is not None
    assert page.can_act
    assert "100%" in page.scores.object
    diabetes = next(r for r in page.rows if r.code.code == "E11.9")
    diabetes.verdict.value = "wrong_code"
    assert diabetes.expected.visible
    diabetes.expected.value = "E11.65"
    diabetes.severity.value = "minor"
    diabetes.note.value = "Documented hyperglycaemia."
    missing = page.add_missing_row()
    missing.code.value = "e87.1"
    page.add_missing_row().code.value = "I10"
    assert page.remove_missing.visible
    page.remove_last_missing()  # the second missing code goes again
    assert len(page.missing) == 1
    # 1 of the coder's codes right, 3 in the final list (J18.9, E11.65, E87.1); E87.1 is a CC.
    assert "33%" in page.scores.object
    assert "194" in page.scores.object
    page.feedback.value = "Code hyponatraemia when it is treated."
    result = run_settled(page.decide("return"))
    assert result is not None
    assert result.scores.code_accuracy == pytest.approx(1 / 3, abs=1e-3)
    assert (result.drg_before, result.drg_after) == (195, 194)
    assert _status(team, chart_id) == ChartStatus.RETURNED.value
    findings = _findings(team, chart_id)
    assert {(f["verdict"], f["expected_code"]) for f in findings} == {
        ("correct", None),
        ("wrong_code", "E11.65"),
        ("missing", "E87.1"),
    }
    assert not page.approve_button.visible


def test_audit_return_needs_feedback_and_approve_completes(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, team: Team
) -> None:
    chart_id = _submitted(team)
    p = signed_in(runtime, monkeypatch, team.supervisor)
    page = _page(runtime, p, chart_id)  # not claimed yet: the decision claims it
    assert run_settled(page.decide("return")) is None
    assert page.notice.visible
    assert page.notice.alert_type == "error"
    assert _status(team, chart_id) == ChartStatus.PENDING_AUDIT.value
    result = run_settled(page.decide("approve"))
    assert result is not None
    assert result.scores.code_accuracy == 1.0
    assert _status(team, chart_id) == ChartStatus.COMPLETED.value


def test_audit_read_only_for_manager_and_while_claimed_by_another(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, team: Team
) -> None:
    chart_id = _submitted(team)
    manager = signed_in(runtime, monkeypatch, team.manager)
    page = _page(runtime, manager, chart_id)
    assert page.view is not None
    assert not page.can_act
    assert not page.approve_button.visible
    assert all(r.verdict.disabled for r in page.rows)
    assert run_settled(page.decide("approve")) is None
    email = f"sup2-{uuid.uuid4().hex[:8]}@example.test"
    second = principal(
        team.org_id,
        _user_without_password(team.org_id, Role.SUPERVISOR, "Sue Second", email),
        Role.SUPERVISOR,
        "Sue Second",
        email,
    )
    audit_svc.claim(second, chart_id)
    supervisor = signed_in(runtime, monkeypatch, team.supervisor)
    blocked = _page(runtime, supervisor, chart_id)
    assert blocked.claimed_by_other
    assert not blocked.can_act
    assert "another supervisor" in blocked.notice.object
    review = ReviewPage(principal=supervisor, ctx=runtime.ctx, nav=NAV)
    run_settled(review.refresh())
    assert review.claim_buttons[chart_id].disabled
    assert _status(team, chart_id) == ChartStatus.PENDING_AUDIT.value


def test_audit_not_found_is_one_view(runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, team: Team) -> None:
    other = make_team(runtime.ctx)
    (foreign,) = other.charts(1)
    p = signed_in(runtime, monkeypatch, team.supervisor)
    bodies = []
    for chart_id in (None, uuid.uuid4(), foreign):
        page = _page(runtime, p, chart_id)
        assert page.view is None
        (pane,) = page.body()
        bodies.append(pane.object)
    assert len(set(bodies)) == 1
    assert "Chart not found" in bodies[0]
