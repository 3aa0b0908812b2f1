"""Supervisor audit actions (``app.services.audits``): the review queue, claims, the audit and its
decision, the coder's acknowledgement and dispute, and every refusal.

Data: a fresh organisation per test from ``tests.chart_fixtures.make_team``; charts are coded and
submitted through ``app.services.charts`` (J18.9 pneumonia as principal, E11.9 diabetes), which
group to MS-DRG 195; adding the missing E87.1 (hyponatraemia, a CC) groups to MS-DRG 194.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from app import bootstrap
from app.authz import Principal, Role
from app.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from app.services import audits as svc
from app.services import charts
from app.services.audits import MissingCode, RowVerdict
from app.services.chart_types import ChartStatus, CodeRowInput
from datalayer.scope import org_scope
from tests.chart_fixtures import Team, _user_without_password, make_team, principal

pytestmark = pytest.mark.slow

PNEUMONIA = CodeRowInput("diagnosis", "J18.9", "Chest X-ray shows lobar consolidation.", is_principal=True)
DIABETES = CodeRowInput("diagnosis", "E11.9", "Type 2 diabetes on metformin.")


@pytest.fixture
def team(runtime: bootstrap.Runtime) -> Team:
    return make_team(runtime.ctx)


def _rows(org_id: uuid.UUID, sql: str, **params: Any) -> list[dict[str, Any]]:
    with org_scope(org_id) as scope:
        return [dict(r) for r in scope.conn.execute(text(sql), {"org": org_id, **params}).mappings()]


def _submitted(team: Team, rows: tuple[CodeRowInput, ...] = (PNEUMONIA, DIABETES)) -> uuid.UUID:
    (chart_id,) = team.charts(1)
    charts.assign(team.manager, [chart_id], [team.coder_a.user_id])
    saved = charts.save_codes(team.coder_a, chart_id, version=1, rows=rows)
    charts.submit(team.coder_a, chart_id, version=saved.version)
    return chart_id


def _all_correct(team: Team, chart_id: uuid.UUID) -> list[RowVerdict]:
    view = charts.get_chart(team.supervisor, chart_id)
    return [RowVerdict(c.id, "correct") for c in view.codes]


def _second_supervisor(team: Team) -> Principal:
    email = f"sup2-{uuid.uuid4().hex[:8]}@example.test"
    user_id = _user_without_password(team.org_id, Role.SUPERVISOR, "Sue Second", email)
    return principal(team.org_id, user_id, Role.SUPERVISOR, "Sue Second", email)


def test_review_queue_oldest_first_with_validation_summary_and_claims(team: Team) -> None:
    first = _submitted(team)
    second = _submitted(team, (PNEUMONIA,))
    queue = svc.review_queue(team.supervisor)
    assert [i.chart_id for i in queue.items] == [first, second]
    assert queue.total == 2
    item = queue.items[0]
    assert (item.coder_id, item.coder_name, item.code_count, item.errors) == (team.coder_a.user_id, "Ada Coder", 2, 0)
    assert item.submitted_at is not None
    assert item.claimed_by is None
    svc.claim(team.supervisor, first)
    claimed = svc.review_queue(team.manager).items[0]
    assert (claimed.claimed_by, claimed.claimed_by_name) == (team.supervisor.user_id, "Sam Supervisor")


def test_who_may_audit(team: Team) -> None:
    chart_id = _submitted(team)
    for who in (team.coder_a, team.manager, team.analyst):
        with pytest.raises(PermissionDenied):
            svc.claim(who, chart_id)
        with pytest.raises(PermissionDenied):
            svc.audit(who, chart_id, submission_no=1, verdicts=[], decision="approve")
    with pytest.raises(PermissionDenied):
        svc.review_queue(team.coder_a)
    svc.review_queue(team.manager)  # managers watch the queue


def test_another_organisations_chart_is_not_found(team: Team, runtime: bootstrap.Runtime) -> None:
    chart_id = _submitted(team)
    other = make_team(runtime.ctx)
    for call in (
        lambda: svc.claim(other.supervisor, chart_id),
        lambda: svc.claim(other.supervisor, uuid.uuid4()),
        lambda: svc.audit(other.supervisor, chart_id, submission_no=1, verdicts=[], decision="approve"),
    ):
        with pytest.raises(NotFound, match="Chart not found"):
            call()
    assert svc.review_queue(other.supervisor).total == 0


def test_a_claimed_chart_cannot_be_taken_by_another_supervisor(team: Team) -> None:
    chart_id = _submitted(team)
    sue = _second_supervisor(team)
    first = svc.claim(team.supervisor, chart_id)
    assert first.submission_no == 1
    with pytest.raises(Conflict, match="Another supervisor"):
        svc.claim(sue, chart_id)
    with pytest.raises(Conflict, match="Another supervisor"):
        svc.audit(sue, chart_id, submission_no=1, verdicts=_all_correct(team, chart_id), decision="approve")
    again = svc.claim(team.supervisor, chart_id)  # renewing one's own claim
    assert again.audit_id == first.audit_id
    assert again.expires_at >= first.expires_at


def test_an_expired_claim_is_taken_over(team: Team) -> None:
    chart_id = _submitted(team)
    sue = _second_supervisor(team)
    first = svc.claim(team.supervisor, chart_id)
    with org_scope(team.org_id) as scope:
        scope.conn.execute(
            text("UPDATE audits SET claim_expires_at = :t WHERE id = :id"),
            {"t": datetime.now(UTC) - timedelta(seconds=1), "id": first.audit_id},
        )
    assert svc.review_queue(team.supervisor).items[0].claimed_by is None
    # The expired claimant can no longer decide.
    with pytest.raises(Conflict, match="expired"):
        svc.audit(team.supervisor, chart_id, submission_no=1, verdicts=_all_correct(team, chart_id), decision="approve")
    taken = svc.claim(sue, chart_id)
    assert (taken.audit_id, taken.taken_over_from) == (first.audit_id, team.supervisor.user_id)
    with pytest.raises(Conflict, match="Another supervisor"):
        svc.audit(team.supervisor, chart_id, submission_no=1, verdicts=_all_correct(team, chart_id), decision="approve")
    result = svc.audit(sue, chart_id, submission_no=1, verdicts=_all_correct(team, chart_id), decision="approve")
    assert result.decision == "approve"


def test_audit_needs_a_claim_and_a_verdict_on_every_row(team: Team) -> None:
    chart_id = _submitted(team)
    verdicts = _all_correct(team, chart_id)
    with pytest.raises(Conflict, match="Claim the chart"):
        svc.audit(team.supervisor, chart_id, submission_no=1, verdicts=verdicts, decision="approve")
    svc.claim(team.supervisor, chart_id)
    with pytest.raises(ValidationFailed) as missing_verdict:
        svc.audit(team.supervisor, chart_id, submission_no=1, verdicts=verdicts[:1], decision="approve")
    assert "verdicts" in missing_verdict.value.fields
    with pytest.raises(ValidationFailed) as no_expected:
        svc.audit(
            team.supervisor,
            chart_id,
            submission_no=1,
            verdicts=[RowVerdict(verdicts[0].chart_code_id, "wrong_code"), verdicts[1]],
            decision="approve",
        )
    assert "verdicts[1].expected_code" in no_expected.value.fields
    with pytest.raises(ValidationFailed) as no_feedback:
        svc.audit(team.supervisor, chart_id, submission_no=1, verdicts=verdicts, decision="return")
    assert "feedback" in no_feedback.value.fields
    assert charts.get_chart(team.supervisor, chart_id).status is ChartStatus.PENDING_AUDIT


def test_approve_completes_scores_audits_emits_and_notifies(team: Team) -> None:
    chart_id = _submitted(team)
    svc.claim(team.supervisor, chart_id)
    result = svc.audit(
        team.supervisor,
        chart_id,
        submission_no=1,
        verdicts=_all_correct(team, chart_id),
        feedback="Clean chart.",
        decision="approve",
        app_url="https://smartcoders.test",
    )
    assert result.scores.code_accuracy == 1.0
    assert result.scores.principal_correct
    assert (result.drg_before, result.drg_after, result.drg_correct) == (195, 195, True)
    view = charts.get_chart(team.coder_a, chart_id)
    assert view.status is ChartStatus.COMPLETED
    assert view.completed_at is not None
    assert not view.editable
    stored = _rows(team.org_id, "SELECT * FROM audits WHERE chart_id = :id", id=chart_id)
    assert len(stored) == 1
    assert (float(stored[0]["code_accuracy"]), stored[0]["principal_correct"], stored[0]["decision"]) == (
        1.0,
        True,
        "approve",
    )
    events = _rows(
        team.org_id,
        "SELECT event_type FROM outbox_events WHERE aggregate_id = :id ORDER BY created_at",
        id=str(chart_id),
    )
    assert [e["event_type"] for e in events][-2:] == ["chart.audited", "chart.approved"]
    log = _rows(team.org_id, "SELECT action FROM audit_log WHERE object_id = :id ORDER BY seq", id=str(chart_id))
    assert [e["action"] for e in log][-2:] == ["chart_claimed", "chart_audited"]
    note = _rows(
        team.org_id,
        "SELECT kind, link FROM notifications WHERE user_id = :u AND kind = 'chart_approved'",
        u=team.coder_a.user_id,
    )
    assert note == [{"kind": "chart_approved", "link": f"/chart?id={chart_id}"}]
    mail = _rows(
        team.org_id,
        "SELECT to_address, body_text FROM pending_emails WHERE template = 'chart_approved' AND to_address = :to",
        to=team.coder_a.email,
    )
    assert len(mail) == 1
    assert f"https://smartcoders.test/chart?id={chart_id}" in mail[0]["body_text"]
    # Final: the same submission cannot be claimed or audited again.
    with pytest.raises(Conflict):
        svc.claim(team.supervisor, chart_id)
    with pytest.raises(Conflict, match="final"):
        svc.audit(team.supervisor, chart_id, submission_no=1, verdicts=_all_correct(team, chart_id), decision="return")


def test_return_shows_findings_on_rows_then_resubmission_is_audited_again(team: Team) -> None:
    chart_id = _submitted(team)
    claim = svc.claim(team.supervisor, chart_id)
    principal_row, diabetes_row = charts.get_chart(team.supervisor, chart_id).codes
    result = svc.audit(
        team.supervisor,
        chart_id,
        submission_no=claim.submission_no,
        verdicts=[
            RowVerdict(principal_row.id, "correct"),
            RowVerdict(diabetes_row.id, "wrong_code", expected_code="e11.65", severity="minor", note="Hyperglycaemia."),
        ],
        missing=[MissingCode("E87.1", category="CC", severity="major", note="Sodium 128 on day 2.")],
        feedback="Code the hyponatraemia; it changes the DRG.",
        decision="return",
    )
    # Final list J18.9, E11.65, E87.1; coder right on J18.9 only: 1/3.
    assert result.scores.code_accuracy == pytest.approx(0.3333)
    assert result.scores.principal_correct is True
    assert (result.drg_before, result.drg_after, result.drg_correct) == (195, 194, False)
    # The coder sees the findings on their rows through the chart service.
    view = charts.get_chart(team.coder_a, chart_id)
    assert view.status is ChartStatus.RETURNED
    assert view.editable
    assert view.assignee_id == team.coder_a.user_id
    assert view.review is not None
    assert view.review.summary.feedback == "Code the hyponatraemia; it changes the DRG."
    by_verdict = {f.verdict: f for f in view.review.findings}
    assert by_verdict["wrong_code"].chart_code_id == diabetes_row.id
    assert (by_verdict["wrong_code"].code, by_verdict["wrong_code"].expected_code) == ("E11.9", "E11.65")
    assert by_verdict["missing"].expected_code == "E87.1"
    assert by_verdict["missing"].chart_code_id is None
    assert view.review.summary.open_findings == 2
    (item,) = charts.list_charts(team.coder_a, status="returned").items
    assert item.open_findings == 2
    assert item.returned_by == "Sam Supervisor"
    events = _rows(team.org_id, "SELECT event_type FROM outbox_events WHERE aggregate_id = :id", id=str(chart_id))
    assert {"chart.audited", "chart.returned"} <= {e["event_type"] for e in events}
    with pytest.raises(Conflict, match="final"):
        svc.audit(team.supervisor, chart_id, submission_no=1, verdicts=[], decision="approve")

    # The coder fixes and resubmits: a new submission, audited again.
    fixed = (
        PNEUMONIA,
        CodeRowInput("diagnosis", "E11.65", "Hyperglycaemia."),
        CodeRowInput("diagnosis", "E87.1", "Na 128."),
    )
    saved = charts.save_codes(team.coder_a, chart_id, version=view.version, rows=fixed)
    charts.submit(team.coder_a, chart_id, version=saved.version)
    second = svc.claim(team.supervisor, chart_id)
    assert second.submission_no == 2
    assert second.audit_id != claim.audit_id
    approved = svc.audit(
        team.supervisor, chart_id, submission_no=2, verdicts=_all_correct(team, chart_id), decision="approve"
    )
    assert (approved.scores.code_accuracy, approved.drg_before, approved.drg_correct) == (1.0, 194, True)
    assert charts.get_chart(team.coder_a, chart_id).status is ChartStatus.COMPLETED
    decided = _rows(
        team.org_id, "SELECT submission_no, decision FROM audits WHERE chart_id = :id ORDER BY 1", id=chart_id
    )
    assert decided == [{"submission_no": 1, "decision": "return"}, {"submission_no": 2, "decision": "approve"}]
    audits_api = svc.list_audits(team.manager, chart_id=chart_id)
    assert [a.submission_no for a in audits_api] == [2, 1]


def test_feedback_acknowledged_and_finding_disputed_and_resolved(team: Team) -> None:
    chart_id = _submitted(team)
    svc.claim(team.supervisor, chart_id)
    principal_row, diabetes_row = charts.get_chart(team.supervisor, chart_id).codes
    result = svc.audit(
        team.supervisor,
        chart_id,
        submission_no=1,
        verdicts=[RowVerdict(principal_row.id, "correct"), RowVerdict(diabetes_row.id, "not_supported")],
        feedback="Diabetes is not documented.",
        decision="return",
    )
    assert result.feedback_id is not None
    correct_finding, disputed_finding = result.finding_ids
    # Only the coder it is addressed to; another coder gets not-found.
    with pytest.raises(NotFound):
        svc.acknowledge_feedback(team.coder_b, result.feedback_id)
    with pytest.raises(PermissionDenied):
        svc.acknowledge_feedback(team.supervisor, result.feedback_id)
    assert svc.acknowledge_feedback(team.coder_a, result.feedback_id) is True
    assert svc.acknowledge_feedback(team.coder_a, result.feedback_id) is False

    with pytest.raises(NotFound):
        svc.dispute_finding(team.coder_b, disputed_finding, "It is in the history.")
    with pytest.raises(Conflict, match="correct"):
        svc.dispute_finding(team.coder_a, correct_finding, "Why?")
    with pytest.raises(ValidationFailed):
        svc.dispute_finding(team.coder_a, disputed_finding, "  ")
    with pytest.raises(Conflict, match="not disputed"):
        svc.resolve_dispute(team.supervisor, disputed_finding, "upheld")
    svc.dispute_finding(team.coder_a, disputed_finding, "Metformin is on the medication list.")
    with pytest.raises(Conflict, match="already disputed"):
        svc.dispute_finding(team.coder_a, disputed_finding, "Again.")
    with pytest.raises(PermissionDenied):
        svc.resolve_dispute(team.coder_a, disputed_finding, "overturned")
    svc.resolve_dispute(team.supervisor, disputed_finding, "overturned", "Agreed: metformin documents it.")
    with pytest.raises(Conflict, match="already resolved"):
        svc.resolve_dispute(team.supervisor, disputed_finding, "upheld")
    stored = _rows(
        team.org_id,
        "SELECT dispute_comment, resolution, resolved_by FROM audit_findings WHERE id = :id",
        id=disputed_finding,
    )
    assert stored == [
        {
            "dispute_comment": "Metformin is on the medication list.",
            "resolution": "overturned",
            "resolved_by": team.supervisor.user_id,
        }
    ]
    actions = _rows(team.org_id, "SELECT action FROM audit_log WHERE org_id = :org ORDER BY seq")
    assert [a["action"] for a in actions][-3:] == ["feedback_acknowledged", "finding_disputed", "finding_resolved"]
