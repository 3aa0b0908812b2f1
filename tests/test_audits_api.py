"""The supervisor audit API over HTTP against the live server (``app/http/audits.py``).

Pinned: only supervisors claim and audit (403 for coder, manager, analyst); another organisation's
chart answers 404 with the same body as a random id; a chart claimed by another supervisor, and a
second audit of a decided submission, answer 409; managers and supervisors list audits and the
review queue; every route is in the OpenAPI document.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from app.authz import Role
from app.services import charts
from app.services.chart_types import CodeRowInput
from tests.chart_fixtures import Team, get_json, login_team_fixture, post_json, signed_in_clients
from tests.conftest import Client, LiveServer, make_user

pytestmark = pytest.mark.slow

ROWS = (
    CodeRowInput("diagnosis", "J18.9", "Lobar consolidation on X-ray.", is_principal=True),
    CodeRowInput("diagnosis", "E11.9", "Type 2 diabetes on metformin."),
)


team = login_team_fixture()
other = login_team_fixture()


@pytest.fixture(scope="module")
def clients(live_server: LiveServer, team: Team, other: Team) -> Iterator[dict[str, Client]]:
    people = {
        "manager": team.manager,
        "coder": team.coder_a,
        "supervisor": team.supervisor,
        "analyst": team.analyst,
        "other_supervisor": other.supervisor,
    }
    with signed_in_clients(live_server.url, people) as made:
        yield made


def _submitted(team: Team) -> uuid.UUID:
    return team.submitted(ROWS)


def _verdicts(team: Team, chart_id: uuid.UUID, *verdicts: dict[str, Any]) -> list[dict[str, Any]]:
    codes = charts.get_chart(team.supervisor, chart_id).codes
    return [{"chart_code_id": str(c.id), **v} for c, v in zip(codes, verdicts, strict=True)]


def test_only_supervisors_claim_and_audit(clients: dict[str, Client], team: Team) -> None:
    chart_id = _submitted(team)
    for role in ("coder", "manager", "analyst"):
        assert post_json(clients[role], f"/api/v1/charts/{chart_id}/claim", {}).status_code == 403
        body = {"submission_no": 1, "verdicts": [], "decision": "approve"}
        assert post_json(clients[role], f"/api/v1/charts/{chart_id}/audit", body).status_code == 403
    assert post_json(clients["anonymous"], f"/api/v1/charts/{chart_id}/claim", {}).status_code in (401, 403)
    assert get_json(clients["coder"], "/api/v1/audits").status_code == 403
    assert get_json(clients["manager"], "/api/v1/audits").status_code == 200
    assert get_json(clients["anonymous"], "/api/v1/audits").status_code == 401


def test_another_organisations_chart_is_404_like_a_missing_one(clients: dict[str, Client], team: Team) -> None:
    chart_id = _submitted(team)
    foreign = post_json(clients["other_supervisor"], f"/api/v1/charts/{chart_id}/claim", {})
    missing = post_json(clients["other_supervisor"], f"/api/v1/charts/{uuid.uuid4()}/claim", {})
    malformed = post_json(clients["other_supervisor"], "/api/v1/charts/not-an-id/claim", {})
    assert foreign.status_code == missing.status_code == malformed.status_code == 404
    assert foreign.content == missing.content == malformed.content
    audit = post_json(
        clients["other_supervisor"],
        f"/api/v1/charts/{chart_id}/audit",
        {"submission_no": 1, "verdicts": [], "decision": "approve"},
    )
    assert audit.status_code == 404


def test_claim_audit_return_then_final(clients: dict[str, Client], team: Team) -> None:
    chart_id = _submitted(team)
    queue = get_json(clients["supervisor"], "/api/v1/audits/queue").json()
    assert str(chart_id) in [i["chart_id"] for i in queue["items"]]
    claim = post_json(clients["supervisor"], f"/api/v1/charts/{chart_id}/claim", {})
    assert claim.status_code == 200, claim.text
    assert claim.json()["submission_no"] == 1
    # Another organisation's supervisor still gets 404 (not 409) for a claimed chart.
    assert post_json(clients["other_supervisor"], f"/api/v1/charts/{chart_id}/claim", {}).status_code == 404
    bad = post_json(
        clients["supervisor"],
        f"/api/v1/charts/{chart_id}/audit",
        {"submission_no": 1, "verdicts": [{"chart_code_id": "x", "verdict": "correct"}], "decision": "return"},
    )
    assert bad.status_code == 400
    body = {
        "submission_no": 1,
        "verdicts": _verdicts(
            team, chart_id, {"verdict": "correct"}, {"verdict": "wrong_code", "expected_code": "E11.65"}
        ),
        "missing": [{"code": "E87.1", "severity": "major", "note": "Sodium 128."}],
        "feedback": "Code the hyponatraemia.",
        "decision": "return",
    }
    done = post_json(clients["supervisor"], f"/api/v1/charts/{chart_id}/audit", body)
    assert done.status_code == 200, done.text
    result = done.json()
    assert result["decision"] == "return"
    assert result["scores"]["code_accuracy"] == pytest.approx(0.3333)
    assert (result["drg"]["before"]["ms_drg"], result["drg"]["after"]["ms_drg"]) == (195, 194)
    again = post_json(clients["supervisor"], f"/api/v1/charts/{chart_id}/audit", body)
    assert again.status_code == 409
    chart = get_json(clients["coder"], f"/api/v1/charts/{chart_id}").json()
    assert chart["status"] == "returned"
    assert {f["verdict"] for f in chart["review"]["findings"]} == {"correct", "wrong_code", "missing"}
    listed = get_json(clients["manager"], f"/api/v1/audits?chart_id={chart_id}&decided=true").json()["items"]
    assert [(a["decision"], a["code_accuracy"]) for a in listed] == [("return", pytest.approx(0.3333))]
    assert get_json(clients["manager"], "/api/v1/audits?bogus=1").status_code == 400


def test_claimed_by_another_supervisor_is_409(clients: dict[str, Client], team: Team, live_server: LiveServer) -> None:
    chart_id = _submitted(team)
    email = f"sup2-{uuid.uuid4().hex[:8]}@example.test"
    make_user(live_server.ctx, team.org_id, Role.SUPERVISOR, email=email)
    with Client(base_url=live_server.url, follow_redirects=False, timeout=30) as sue:
        assert sue.login(email).status_code == 200
        assert post_json(clients["supervisor"], f"/api/v1/charts/{chart_id}/claim", {}).status_code == 200
        taken = post_json(sue, f"/api/v1/charts/{chart_id}/claim", {})
        assert taken.status_code == 409
        assert taken.json()["error"]["code"] == "conflict"


def test_openapi_documents_the_audit_routes(clients: dict[str, Client]) -> None:
    doc = get_json(clients["anonymous"], "/api/v1/openapi.json").json()
    paths = doc["paths"]
    assert "post" in paths["/api/v1/charts/{chart_id}/claim"]
    assert "post" in paths["/api/v1/charts/{chart_id}/audit"]
    assert "get" in paths["/api/v1/audits"]
    assert "get" in paths["/api/v1/audits/queue"]
    for name in ("Claim", "AuditInput", "AuditResult", "Audit", "ReviewQueue"):
        assert name in doc["components"]["schemas"]
