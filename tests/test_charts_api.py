"""``/api/v1/charts`` over HTTP against the live server: every transition and every refusal.

Decisions these tests pin (documented in ``app/http/charts.py`` and the OpenAPI document):

- another coder's chart, another organisation's chart, a malformed id and a random id all answer
  **404 with byte-identical bodies** (a coder cannot even learn that a chart exists);
- roles that cannot code (manager, supervisor, analyst) get **403** on PUT codes / submit, and
  roles that cannot assign (coder, supervisor, analyst) get 403 on assign;
- a stale version or a chart that is not draft/returned answers **409** and stores nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from datalayer.scope import org_scope
from tests.chart_fixtures import Team, login_team_fixture, send_json, signed_in_clients
from tests.conftest import Client, LiveServer

pytestmark = pytest.mark.slow

ROWS = [
    {"kind": "diagnosis", "code": "J18.9", "rationale": "Lobar consolidation on X-ray.", "is_principal": True},
    {"kind": "diagnosis", "code": "E11.9", "rationale": "Type 2 diabetes on metformin."},
]
CONFLICTING = [*ROWS, {"kind": "diagnosis", "code": "E10.9", "rationale": "In the history."}]


team = login_team_fixture()
other = login_team_fixture()


@pytest.fixture(scope="module")
def clients(live_server: LiveServer, team: Team, other: Team) -> Iterator[dict[str, Client]]:
    people = {
        "manager": team.manager,
        "coder_a": team.coder_a,
        "coder_b": team.coder_b,
        "supervisor": team.supervisor,
        "analyst": team.analyst,
        "other_manager": other.manager,
        "other_coder": other.coder_a,
    }
    with signed_in_clients(live_server.url, people) as made:
        yield made


def _assign(c: Client, chart_ids: list[uuid.UUID], coder_ids: list[uuid.UUID], mode: str = "single") -> httpx.Response:
    return send_json(
        c,
        "POST",
        "/api/v1/charts/assign",
        {"chart_ids": [str(i) for i in chart_ids], "coder_ids": [str(i) for i in coder_ids], "mode": mode},
    )


def _state(team: Team, chart_id: uuid.UUID) -> tuple[Any, ...]:
    with org_scope(team.org_id) as scope:
        chart = scope.conn.execute(
            text("SELECT status, version, assignee_id FROM charts WHERE id = :id"), {"id": chart_id}
        ).one()
        codes = scope.conn.execute(
            text("SELECT code, rationale FROM chart_codes WHERE chart_id = :id ORDER BY kind, sequence"),
            {"id": chart_id},
        ).all()
        events = scope.conn.execute(
            text("SELECT count(*) FROM outbox_events WHERE aggregate_id = :id"), {"id": str(chart_id)}
        ).scalar_one()
    return (tuple(chart), [tuple(c) for c in codes], events)


@pytest.fixture
def chart(team: Team, clients: dict[str, Client]) -> uuid.UUID:
    """A fresh draft chart assigned to coder A."""
    (chart_id,) = team.charts(1)
    assert _assign(clients["manager"], [chart_id], [team.coder_a.user_id]).status_code == 200
    return chart_id


def test_assign_then_coder_lists_and_reads(team: Team, clients: dict[str, Client]) -> None:
    ids = team.charts(3)
    r = _assign(clients["manager"], ids, [team.coder_a.user_id, team.coder_b.user_id], mode="round_robin")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 3
    assert {a["coder_id"]: len(a["chart_ids"]) for a in body["assigned"]} == {
        str(team.coder_a.user_id): 2,
        str(team.coder_b.user_id): 1,
    }
    listing = clients["coder_a"].get("/api/v1/charts", params={"status": "draft,returned", "page_size": "200"})
    assert listing.status_code == 200
    page = listing.json()
    mine = {item["id"] for item in page["items"]}
    assert {str(ids[0]), str(ids[2])} <= mine
    assert str(ids[1]) not in mine
    assert all(item["assignee"]["id"] == str(team.coder_a.user_id) for item in page["items"])
    assert set(page["counts"]) == {"draft", "pending_audit", "completed", "returned"}
    one = clients["coder_a"].get(f"/api/v1/charts/{ids[0]}")
    assert one.status_code == 200
    assert one.json()["editable"] is True
    assert one.json()["status"] == "draft"
    assert one.json()["payload"] == {"resourceType": "Encounter", "id": "enc-0"}
    for reader in ("manager", "supervisor", "analyst"):
        seen = clients[reader].get(f"/api/v1/charts/{ids[0]}")
        assert seen.status_code == 200
        assert seen.json()["editable"] is False


def test_not_found_is_identical_for_other_coder_other_org_malformed_and_missing(
    team: Team, other: Team, clients: dict[str, Client], chart: uuid.UUID
) -> None:
    (foreign,) = other.charts(1)
    answers = [
        clients["coder_b"].get(f"/api/v1/charts/{chart}"),  # same org, not assigned to them
        clients["coder_a"].get(f"/api/v1/charts/{foreign}"),  # another organisation's chart
        clients["manager"].get(f"/api/v1/charts/{foreign}"),
        clients["coder_a"].get(f"/api/v1/charts/{uuid.uuid4()}"),  # never existed
        clients["coder_a"].get("/api/v1/charts/not-a-uuid"),
        clients["other_manager"].get(f"/api/v1/charts/{chart}"),
    ]
    assert {r.status_code for r in answers} == {404}
    assert len({r.content for r in answers}) == 1
    assert answers[0].json() == {"error": {"code": "not_found", "message": "Chart not found."}}
    # Writes too: another coder's and another organisation's chart look missing.
    for who, target in (("coder_b", chart), ("other_coder", chart), ("coder_a", foreign)):
        r = send_json(clients[who], "PUT", f"/api/v1/charts/{target}/codes", {"version": 1, "rows": ROWS})
        assert r.status_code == 404
        assert r.content == answers[0].content
        r = send_json(clients[who], "POST", f"/api/v1/charts/{target}/submit", {"version": 1})
        assert r.status_code == 404
    r = _assign(clients["other_manager"], [chart], [other.coder_a.user_id])
    assert r.status_code == 404
    assert _state(team, chart)[0][2] == team.coder_a.user_id


def test_save_codes_returns_findings_and_new_version(team: Team, clients: dict[str, Client], chart: uuid.UUID) -> None:
    r = send_json(clients["coder_a"], "PUT", f"/api/v1/charts/{chart}/codes", {"version": 1, "rows": CONFLICTING})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == 2
    assert [c["code"] for c in body["codes"]] == ["J18.9", "E11.9", "E10.9"]
    excludes = [f for f in body["findings"] if f["rule_id"] == "R-EXC-01"]
    assert excludes[0]["rows"] == [2, 3]
    assert body["summary"]["blocking"] == 1
    assert body["summary"]["can_submit"] is False
    stored = clients["coder_a"].get(f"/api/v1/charts/{chart}").json()
    assert stored["version"] == 2
    assert "R-EXC-01" in {f["rule_id"] for f in stored["findings"]}


def test_stale_version_is_409_and_keeps_nothing(team: Team, clients: dict[str, Client], chart: uuid.UUID) -> None:
    assert (
        send_json(clients["coder_a"], "PUT", f"/api/v1/charts/{chart}/codes", {"version": 1, "rows": ROWS}).status_code
        == 200
    )
    before = _state(team, chart)
    stale = send_json(clients["coder_a"], "PUT", f"/api/v1/charts/{chart}/codes", {"version": 1, "rows": CONFLICTING})
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "conflict"
    assert "Nothing was saved" in stale.json()["error"]["message"]
    assert send_json(clients["coder_a"], "POST", f"/api/v1/charts/{chart}/submit", {"version": 1}).status_code == 409
    assert _state(team, chart) == before


def test_submit_transitions_and_refusals(team: Team, clients: dict[str, Client], chart: uuid.UUID) -> None:
    coder = clients["coder_a"]
    missing = [{**ROWS[0]}, {"kind": "diagnosis", "code": "E11.9"}]
    v = send_json(coder, "PUT", f"/api/v1/charts/{chart}/codes", {"version": 1, "rows": missing}).json()["version"]
    r = send_json(coder, "POST", f"/api/v1/charts/{chart}/submit", {"version": v})
    assert r.status_code == 400
    assert r.json()["error"]["fields"] == {"diagnosis[2].rationale": "Write a rationale for this code."}
    v = send_json(coder, "PUT", f"/api/v1/charts/{chart}/codes", {"version": v, "rows": CONFLICTING}).json()["version"]
    r = send_json(coder, "POST", f"/api/v1/charts/{chart}/submit", {"version": v})
    assert r.status_code == 400
    assert "diagnosis[3].code" in r.json()["error"]["fields"]
    v = send_json(coder, "PUT", f"/api/v1/charts/{chart}/codes", {"version": v, "rows": ROWS}).json()["version"]
    for reader in ("manager", "supervisor", "analyst"):  # read-only roles
        assert send_json(clients[reader], "POST", f"/api/v1/charts/{chart}/submit", {"version": v}).status_code == 403
        put = send_json(clients[reader], "PUT", f"/api/v1/charts/{chart}/codes", {"version": v, "rows": ROWS})
        assert put.status_code == 403
    r = send_json(coder, "POST", f"/api/v1/charts/{chart}/submit", {"version": v})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending_audit"
    assert r.json()["editable"] is False
    after = r.json()["version"]
    # Wrong status from here on.
    assert send_json(coder, "POST", f"/api/v1/charts/{chart}/submit", {"version": after}).status_code == 409
    put = send_json(coder, "PUT", f"/api/v1/charts/{chart}/codes", {"version": after, "rows": ROWS})
    assert put.status_code == 409
    assert "waiting for audit" in put.json()["error"]["message"]
    assert _assign(clients["manager"], [chart], [team.coder_b.user_id]).status_code == 409
    listing = coder.get("/api/v1/charts", params={"status": "draft,returned", "page_size": "200"}).json()
    assert str(chart) not in {i["id"] for i in listing["items"]}  # the chart left the to-do queue


def test_assign_refusals(team: Team, other: Team, clients: dict[str, Client]) -> None:
    ids = team.charts(1)
    for who in ("coder_a", "supervisor", "analyst"):
        assert _assign(clients[who], ids, [team.coder_a.user_id]).status_code == 403
    assert _assign(clients["anonymous"], ids, [team.coder_a.user_id]).status_code in (401, 403)
    bad = _assign(clients["manager"], ids, [other.coder_a.user_id])
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"] == {"coder_ids": "Choose active coders of your organisation."}
    assert _assign(clients["manager"], ids, [team.coder_a.user_id], mode="everyone").status_code == 400
    assert _assign(clients["manager"], [uuid.uuid4()], [team.coder_a.user_id]).status_code == 404
    extra = send_json(
        clients["manager"],
        "POST",
        "/api/v1/charts/assign",
        {"chart_ids": [str(ids[0])], "coder_ids": [str(team.coder_a.user_id)], "org_id": str(other.org_id)},
    )
    assert extra.status_code == 400  # unknown fields are refused, never applied
    assert _state(team, ids[0])[0][2] is None


@pytest.mark.parametrize(
    "params",
    [
        {"nonsense": "1"},
        {"page_size": "100000"},
        {"page": "0"},
        {"sort": "c.id desc"},
        {"status": "in_progress"},
        {"difficulty": "x"},
        {"encounter_from": "yesterday"},
        {"unassigned": "maybe"},
        {"assignee": "not-a-uuid"},
    ],
)
def test_list_refuses_bad_query(clients: dict[str, Client], params: dict[str, str]) -> None:
    r = clients["manager"].get("/api/v1/charts", params=params)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid"


def test_body_checks(clients: dict[str, Client], chart: uuid.UUID) -> None:
    coder = clients["coder_a"]
    path = f"/api/v1/charts/{chart}/codes"
    assert coder.put(path, content=b"{}", headers={**coder.csrf(), "Content-Type": "text/plain"}).status_code == 415
    assert coder.put(path, json={"version": 1, "rows": ROWS}).status_code == 403  # no CSRF header
    for body in (
        {"version": 1, "rows": ROWS, "status": "completed"},
        {"version": "1", "rows": ROWS},
        {"version": 1, "rows": [{"kind": "diagnosis", "code": "J18.9", "org_id": "x"}]},
        {"version": 1, "rows": [{"kind": "symptom", "code": "J18.9"}]},
        {"version": 1, "rows": "J18.9"},
    ):
        assert send_json(coder, "PUT", path, body).status_code == 400, body


def test_anonymous_is_401(clients: dict[str, Client], chart: uuid.UUID) -> None:
    anon = clients["anonymous"]
    for path in ("/api/v1/charts", f"/api/v1/charts/{chart}"):
        assert anon.get(path, headers={"Accept": "application/json"}).status_code == 401


def test_openapi_documents_every_chart_route(clients: dict[str, Client]) -> None:
    doc = clients["anonymous"].get("/api/v1/openapi.json").json()
    paths = doc["paths"]
    assert set(paths["/api/v1/charts"]) == {"get"}
    assert set(paths["/api/v1/charts/{chart_id}"]) >= {"get"}
    assert "put" in paths["/api/v1/charts/{chart_id}/codes"]
    assert "post" in paths["/api/v1/charts/{chart_id}/submit"]
    assert "post" in paths["/api/v1/charts/assign"]
    for name in ("ChartPage", "Chart", "CodesUpdate", "CodesSaved", "Assignment", "AssignmentResult"):
        assert name in doc["components"]["schemas"]
    assert doc["components"]["schemas"]["ChartSummary"]["properties"]["status"]["enum"] == [
        "draft",
        "pending_audit",
        "completed",
        "returned",
    ]
