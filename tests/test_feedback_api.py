"""The coder's side of an audit over HTTP against the live server (``app/http/feedback.py``).

Pinned: a coder reads only their own feedback; acknowledging is idempotent (200 both times,
``changed`` false the second); disputing another coder's or another organisation's finding
answers 404 with the same body as a random or malformed id; a dispute needs a comment of 1 to
2000 characters (400, field ``comment``); disputing twice, or a correct verdict, answers 409;
only supervisors resolve (403 for coders and managers), once (409); managers and supervisors
read the disputed list; each change writes its audit-log row and outbox event and notifies the
other side in-app; every route is in the OpenAPI document.

Data: one chart per test coded J18.9 (principal) + E11.9 and returned by the supervisor with
J18.9 correct, E11.9 not supported, the missing E87.1 and feedback text.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from app.services import audits as audit_svc
from app.services import charts
from app.services.audits import MissingCode, RowVerdict
from app.services.chart_types import CodeRowInput
from datalayer.scope import org_scope
from tests.chart_fixtures import Team, get_json, login_team_fixture, post_json, signed_in_clients
from tests.conftest import Client, LiveServer

pytestmark = pytest.mark.slow

ROWS = (
    CodeRowInput("diagnosis", "J18.9", "Lobar consolidation on X-ray.", is_principal=True),
    CodeRowInput("diagnosis", "E11.9", "Type 2 diabetes on metformin."),
)
FEEDBACK = "Diabetes is not documented in this encounter; hyponatraemia is."


team = login_team_fixture()
other = login_team_fixture()


@pytest.fixture(scope="module")
def clients(live_server: LiveServer, team: Team, other: Team) -> Iterator[dict[str, Client]]:
    people = {
        "coder": team.coder_a,
        "coder_b": team.coder_b,
        "supervisor": team.supervisor,
        "manager": team.manager,
        "other_coder": other.coder_a,
        "other_supervisor": other.supervisor,
    }
    with signed_in_clients(live_server.url, people) as made:
        yield made


def _rows(team: Team, sql: str, **params: Any) -> list[dict[str, Any]]:
    with org_scope(team.org_id) as scope:
        return [dict(r) for r in scope.conn.execute(text(sql), {"org": team.org_id, **params}).mappings()]


@dataclass(frozen=True)
class Returned:
    chart_id: uuid.UUID
    feedback_id: uuid.UUID
    correct: uuid.UUID  # J18.9 judged correct
    wrong: uuid.UUID  # E11.9 judged not supported
    missing: uuid.UUID  # E87.1 missed


def _returned(team: Team) -> Returned:
    chart_id = team.submitted(ROWS)
    audit_svc.claim(team.supervisor, chart_id)
    principal_row, diabetes_row = charts.get_chart(team.supervisor, chart_id).codes
    result = audit_svc.audit(
        team.supervisor,
        chart_id,
        submission_no=1,
        verdicts=[
            RowVerdict(principal_row.id, "correct"),
            RowVerdict(diabetes_row.id, "not_supported", category="Documentation support", severity="major"),
        ],
        missing=[MissingCode("E87.1", severity="minor", note="Sodium 128 on day 1.")],
        feedback=FEEDBACK,
        decision="return",
    )
    assert result.feedback_id is not None
    correct, wrong, missing = result.finding_ids
    return Returned(chart_id, result.feedback_id, correct, wrong, missing)


def _item(c: Client, feedback_id: uuid.UUID) -> dict[str, Any]:
    listed = get_json(c, "/api/v1/feedback")
    assert listed.status_code == 200, listed.text
    return next(i for i in listed.json()["items"] if i["id"] == str(feedback_id))


def test_coder_reads_own_feedback_with_chart_scores_and_findings(clients: dict[str, Client], team: Team) -> None:
    done = _returned(team)
    body = get_json(clients["coder"], "/api/v1/feedback").json()
    assert body["unacknowledged"] >= 1
    assert body["items"][0]["acknowledged_at"] is None  # still to acknowledge: first
    item = _item(clients["coder"], done.feedback_id)
    assert item["chart"]["link"] == f"/chart?id={done.chart_id}"
    assert item["chart"]["encounter"]["type"] == "Hospital admission"
    assert (item["decision"], item["body"], item["supervisor"]["name"]) == ("return", FEEDBACK, "Sam Supervisor")
    assert item["scores"] == {"code_accuracy": 0.5, "principal_correct": True, "drg_correct": False}
    findings = item["findings"]
    assert [(f["verdict"], f["row"] and f["row"]["code"], f["expected_code"]) for f in findings] == [
        ("correct", "J18.9", None),
        ("not_supported", "E11.9", None),
        ("missing", None, "E87.1"),
    ]
    assert [f["disputable"] for f in findings] == [False, True, True]
    assert findings[1]["severity"] == "major"
    assert findings[2]["note"] == "Sodium 128 on day 1."
    # Only one's own: another coder sees none of it; supervisors use the disputed list instead.
    assert str(done.feedback_id) not in [
        i["id"] for i in get_json(clients["coder_b"], "/api/v1/feedback").json()["items"]
    ]
    assert get_json(clients["supervisor"], "/api/v1/feedback").status_code == 403
    assert get_json(clients["anonymous"], "/api/v1/feedback").status_code == 401
    assert get_json(clients["coder"], "/api/v1/feedback?page_size=0").status_code == 400
    assert get_json(clients["coder"], "/api/v1/feedback?sort=x").status_code == 400


def test_acknowledge_is_idempotent_and_only_ones_own(clients: dict[str, Client], team: Team) -> None:
    done = _returned(team)
    path = f"/api/v1/feedback/{done.feedback_id}/acknowledge"
    foreign = [
        post_json(clients["coder_b"], path, {}),
        post_json(clients["other_coder"], path, {}),
        post_json(clients["coder"], f"/api/v1/feedback/{uuid.uuid4()}/acknowledge", {}),
        post_json(clients["coder"], "/api/v1/feedback/not-an-id/acknowledge", {}),
    ]
    assert {r.status_code for r in foreign} == {404}
    assert len({r.content for r in foreign}) == 1
    assert post_json(clients["supervisor"], path, {}).status_code == 403
    assert post_json(clients["coder"], path, {"really": True}).status_code == 400

    first = post_json(clients["coder"], path, {})
    assert first.status_code == 200, first.text
    assert first.json()["changed"] is True
    assert first.json()["feedback"]["acknowledged_at"] is not None
    again = post_json(clients["coder"], path, {})
    assert again.status_code == 200
    assert again.json()["changed"] is False
    assert again.json()["feedback"]["acknowledged_at"] == first.json()["feedback"]["acknowledged_at"]

    logged = _rows(
        team,
        "SELECT count(*) AS n FROM audit_log WHERE action = 'feedback_acknowledged' AND object_id = :id",
        id=str(done.feedback_id),
    )
    events = _rows(
        team,
        "SELECT count(*) AS n FROM outbox_events WHERE event_type = 'feedback.acknowledged' AND aggregate_id = :id",
        id=str(done.feedback_id),
    )
    assert logged == events == [{"n": 1}]  # the second call wrote nothing


def test_dispute_refusals(clients: dict[str, Client], team: Team) -> None:
    done = _returned(team)
    path = f"/api/v1/findings/{done.wrong}/dispute"
    foreign = [
        post_json(clients["coder_b"], path, {"comment": "Mine?"}),
        post_json(clients["other_coder"], path, {"comment": "Mine?"}),
        post_json(clients["coder"], f"/api/v1/findings/{uuid.uuid4()}/dispute", {"comment": "Mine?"}),
        post_json(clients["coder"], "/api/v1/findings/nope/dispute", {"comment": "Mine?"}),
    ]
    assert {r.status_code for r in foreign} == {404}
    assert len({r.content for r in foreign}) == 1
    assert post_json(clients["supervisor"], path, {"comment": "x"}).status_code == 403
    for body, field in (
        ({}, "comment"),
        ({"comment": "   "}, "comment"),
        ({"comment": "x" * 2001}, "comment"),
        ({"comment": 5}, "comment"),
        ({"comment": "ok", "extra": 1}, "extra"),
    ):
        r = post_json(clients["coder"], path, body)
        assert r.status_code == 400, (body, r.text)
        assert field in r.json()["error"]["fields"], r.text
    correct = post_json(clients["coder"], f"/api/v1/findings/{done.correct}/dispute", {"comment": "Why?"})
    assert correct.status_code == 409
    # Nothing above changed the finding.
    assert _rows(team, "SELECT disputed_at FROM audit_findings WHERE id = :id", id=done.wrong) == [
        {"disputed_at": None}
    ]


def test_dispute_reaches_the_supervisors(clients: dict[str, Client], team: Team) -> None:
    done = _returned(team)
    comment = "Metformin is on the medication list and the HbA1c is charted."
    disputed = post_json(clients["coder"], f"/api/v1/findings/{done.wrong}/dispute", {"comment": comment})
    assert disputed.status_code == 200, disputed.text
    assert disputed.json()["dispute"]["status"] == "open"
    assert disputed.json()["dispute"]["comment"] == comment
    assert disputed.json()["disputable"] is False
    assert (
        post_json(clients["coder"], f"/api/v1/findings/{done.wrong}/dispute", {"comment": "Again"}).status_code == 409
    )
    assert get_json(clients["coder"], "/api/v1/feedback").json()["open_disputes"] >= 1
    notes = _rows(
        team,
        "SELECT title, link FROM notifications WHERE user_id = :sup AND kind = 'finding_disputed'",
        sup=team.supervisor.user_id,
    )
    assert {"title": "A coder disputed one of your findings", "link": "/review"} in notes

    # The supervisors' list: oldest first, with the coder, the chart and the comment.
    for who in ("supervisor", "manager"):
        listed = get_json(clients[who], "/api/v1/findings/disputed")
        assert listed.status_code == 200, listed.text
        entry = next(i for i in listed.json()["items"] if i["finding"]["id"] == str(done.wrong))
        assert entry["coder"]["name"] == "Ada Coder"
        assert entry["supervisor"]["name"] == "Sam Supervisor"
        assert entry["chart"]["id"] == str(done.chart_id)
        assert entry["finding"]["dispute"]["comment"] == comment
        assert entry["finding"]["row"]["code"] == "E11.9"
    assert get_json(clients["coder"], "/api/v1/findings/disputed").status_code == 403
    others = get_json(clients["other_supervisor"], "/api/v1/findings/disputed").json()["items"]
    assert str(done.wrong) not in [i["finding"]["id"] for i in others]


def test_resolve_refusals_then_resolution(clients: dict[str, Client], team: Team) -> None:
    done = _returned(team)
    audit_svc.dispute_finding(team.coder_a, done.wrong, "Metformin is on the medication list.")
    path = f"/api/v1/findings/{done.wrong}/resolve"
    assert post_json(clients["coder"], path, {"resolution": "overturned"}).status_code == 403
    assert post_json(clients["manager"], path, {"resolution": "overturned"}).status_code == 403
    foreign = post_json(clients["other_supervisor"], path, {"resolution": "upheld"})
    unknown = post_json(
        clients["other_supervisor"], f"/api/v1/findings/{uuid.uuid4()}/resolve", {"resolution": "upheld"}
    )
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.content == unknown.content
    for body, field in (
        ({}, "resolution"),
        ({"resolution": "maybe"}, "resolution"),
        ({"resolution": "upheld", "note": "x" * 2001}, "note"),
        ({"resolution": "upheld", "note": 3}, "note"),
    ):
        r = post_json(clients["supervisor"], path, body)
        assert r.status_code == 400, (body, r.text)
        assert field in r.json()["error"]["fields"]
    undisputed = post_json(clients["supervisor"], f"/api/v1/findings/{done.missing}/resolve", {"resolution": "upheld"})
    assert undisputed.status_code == 409

    note = "Metformin alone does not document diabetes here; query the physician."
    resolved = post_json(clients["supervisor"], path, {"resolution": "upheld", "note": note})
    assert resolved.status_code == 200, resolved.text
    dispute = resolved.json()["dispute"]
    assert (dispute["status"], dispute["resolution"], dispute["resolution_note"]) == ("upheld", "upheld", note)
    assert dispute["resolved_by"] == "Sam Supervisor"
    assert post_json(clients["supervisor"], path, {"resolution": "overturned"}).status_code == 409
    remaining = get_json(clients["supervisor"], "/api/v1/findings/disputed").json()["items"]
    assert str(done.wrong) not in [i["finding"]["id"] for i in remaining]

    # The coder sees the resolution on the finding, and was told in-app.
    item = _item(clients["coder"], done.feedback_id)
    seen = next(f for f in item["findings"] if f["id"] == str(done.wrong))
    assert seen["dispute"]["resolution"] == "upheld"
    assert seen["dispute"]["resolution_note"] == note
    assert seen["note"] is None  # the auditor wrote no note on this row
    told = _rows(
        team,
        "SELECT title FROM notifications WHERE user_id = :coder AND kind = 'finding_resolved'",
        coder=team.coder_a.user_id,
    )
    assert {"title": "Your dispute was upheld"} in told
    actions = _rows(
        team,
        "SELECT action FROM audit_log WHERE object_id = :id ORDER BY seq",
        id=str(done.wrong),
    )
    assert [a["action"] for a in actions] == ["finding_disputed", "finding_resolved"]
    events = _rows(
        team, "SELECT event_type FROM outbox_events WHERE aggregate_id = :id ORDER BY created_at", id=str(done.wrong)
    )
    assert [e["event_type"] for e in events] == ["finding.disputed", "finding.resolved"]


def test_openapi_documents_the_feedback_routes(clients: dict[str, Client]) -> None:
    doc = get_json(clients["anonymous"], "/api/v1/openapi.json").json()
    paths = doc["paths"]
    assert "get" in paths["/api/v1/feedback"]
    assert "post" in paths["/api/v1/feedback/{feedback_id}/acknowledge"]
    assert "post" in paths["/api/v1/findings/{finding_id}/dispute"]
    assert "get" in paths["/api/v1/findings/disputed"]
    assert "post" in paths["/api/v1/findings/{finding_id}/resolve"]
    for name in ("Finding", "FeedbackItem", "FeedbackList", "DisputedFindings"):
        assert name in doc["components"]["schemas"]
