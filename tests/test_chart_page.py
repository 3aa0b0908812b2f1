"""The coding page (``/chart?id=``) driven as a plain object, without a browser (CONVENTIONS 15).

A grid message is what the browser's code grid sends for one edit (``{"op": "add", ...}``);
``ChartPage.handle`` applies it and returns the follow-up work (the validation off the event
loop, a search, a save), which the test awaits as the server's event loop would. Saving and
submitting go through ``run_action`` with the identity of a real signed-in session.

    org "desk" (fresh per module), charts imported from the demo bundle Yang129 (45 encounters)
      coder      signed in: the page's session; 20 charts assigned
      coder2     signed in; sees none of coder's charts
      manager · supervisor · analyst   read-only viewers
    org "elsewhere": a coder of another organisation
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

import pages.base
import pages.identity
from app import bootstrap
from app.authz import Principal, Role
from app.services import charts as chart_actions
from app.services.chart_types import ChartStatus, CodeRowInput
from app.services.imports import import_bundle
from datalayer.scope import org_scope
from pages.chart import ChartPage
from pages.registry import NAV
from tests import synthea_data
from tests.conftest import PASSWORD, make_org, make_user

pytestmark = pytest.mark.slow


@dataclass
class Desk:
    org: uuid.UUID
    coder: Principal
    coder2: Principal
    manager: Principal
    supervisor: Principal
    analyst: Principal
    outsider: Principal
    free: list[uuid.UUID]  # charts assigned to coder, each used by one test

    def take(self) -> uuid.UUID:
        return self.free.pop(0)


def _signed_in(ctx: Any, org: uuid.UUID, role: Role, name: str) -> Principal:
    email = f"{role.value}-{uuid.uuid4().hex[:8]}@desk.test"
    make_user(ctx, org, role, email=email, name=name)
    return ctx.auth.login(email=email, password=PASSWORD, client_ip="198.51.100.20", user_agent="pytest").principal


@pytest.fixture(scope="module")
def desk(runtime: bootstrap.Runtime) -> Desk:
    ctx = runtime.ctx
    org = make_org("Desk Clinic")
    people = {
        role: _signed_in(ctx, org, role, name)
        for role, name in (
            (Role.CODER, "Casey Coder"),
            (Role.MANAGER, "Maya Manager"),
            (Role.SUPERVISOR, "Sam Supervisor"),
            (Role.ANALYST, "Avery Analyst"),
        )
    }
    coder2 = _signed_in(ctx, org, Role.CODER, "Corey Coder")
    outsider = _signed_in(ctx, make_org("Elsewhere"), Role.CODER, "Olga Outsider")
    path = synthea_data.demo_file("Yang129")
    with org_scope(org) as scope:
        import_bundle(scope, name=path.name, data=path.read_bytes(), source="cli")
    listed = chart_actions.list_charts(people[Role.MANAGER], page_size=60, sort="encounter")
    ids = [c.id for c in listed.items]
    chart_actions.assign(people[Role.MANAGER], ids[:20], [people[Role.CODER].user_id])
    return Desk(
        org=org,
        coder=people[Role.CODER],
        coder2=coder2,
        manager=people[Role.MANAGER],
        supervisor=people[Role.SUPERVISOR],
        analyst=people[Role.ANALYST],
        outsider=outsider,
        free=ids[:20],
    )


@pytest.fixture
def as_session(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make ``run_action`` resume the given principal's real session (normally read from the
    Bokeh session token)."""

    def use(principal: Principal) -> None:
        identity = {"sub": str(principal.user_id), "org": str(principal.org_id), "sid": str(principal.session_id)}
        for module in (pages.base, pages.identity):
            monkeypatch.setattr(module, "session_identity", lambda: identity)

    return use


def open_page(runtime: bootstrap.Runtime, principal: Principal, chart_id: uuid.UUID | None) -> ChartPage:
    return ChartPage(principal=principal, ctx=runtime.ctx, nav=NAV, chart_id=chart_id)


async def send(page: ChartPage, **msg: Any) -> None:
    work = page.handle(msg)
    if work is not None:
        await work


def rows(page: ChartPage) -> list[tuple[str, str, bool]]:
    return [(r["kind"], r["code"], r["principal"]) for r in page.grid.rows]


def uid(page: ChartPage, code: str) -> str:
    return next(r["uid"] for r in page.grid.rows if r["code"] == code)


def rules_on(page: ChartPage, code: str) -> set[str]:
    return {f["rule_id"] for f in page.grid.notes[uid(page, code)]["findings"]}


# -- reading ------------------------------------------------------------------------------------------


def test_the_assigned_coder_gets_the_chart_and_an_editable_grid(runtime: bootstrap.Runtime, desk: Desk) -> None:
    chart_id = desk.free[0]
    page = open_page(runtime, desk.coder, chart_id)
    assert page.view is not None
    assert page.editable
    assert page.grid.editable
    view = page.view
    payload = view.payload
    facts = page.facts.objects[1].object
    for condition in payload["conditions"]:
        assert f'SNOMED <span class="cf-code">{condition["code"]}</span>' in facts
    for section in ("Conditions at this encounter", "Procedures", "Observations and vitals", "Medications"):
        assert section in facts
    assert "Immunizations" in facts
    assert "Conditions active at the time" in facts
    assert "Clinical note" in facts
    header = page.facts.objects[0].object
    assert "Alive at discharge" in header or "Died" in header or "unknown" in header
    assert "assigned to you" in page.heading.object
    assert "Draft" in page.heading.object
    asyncio.run(page.check())
    assert "No codes yet" in page.summary.object
    assert page.submit_button.disabled
    assert page.save_button.disabled  # nothing to save yet
    assert "Add the principal diagnosis." in page.hint.object


def test_an_error_shows_on_its_row_and_clears_when_fixed(runtime: bootstrap.Runtime, desk: Desk) -> None:
    page = open_page(runtime, desk.coder, desk.free[1])

    async def flow() -> None:
        await send(page, op="add", kind="diagnosis", code="j18.9", uid="row-a")
        await send(page, op="add", kind="diagnosis", code="E11", uid="row-b")
        await send(page, op="add", kind="diagnosis", code="i10", uid="row-c")
        assert rows(page) == [("diagnosis", "J18.9", True), ("diagnosis", "E11", False), ("diagnosis", "I10", False)]
        notes = page.grid.notes
        assert notes["row-b"]["level"] == "error"
        assert "R-FMT-01" in rules_on(page, "E11")
        finding = next(f for f in notes["row-b"]["findings"] if f["rule_id"] == "R-FMT-01")
        assert "E11" in finding["message"]
        assert finding["ref"]
        assert notes["row-a"]["level"] != "error"
        assert notes["row-c"]["level"] != "error"
        assert "1 error" in page.summary.object
        assert "MS-DRG" in page.summary.object
        assert page.submit_button.disabled
        assert not page.save_button.disabled
        assert page.grid.dirty

        await send(page, op="replace", uid="row-b", code="e11.9")
        assert rows(page)[1] == ("diagnosis", "E11.9", False)
        assert page.grid.notes["row-b"]["level"] != "error"
        assert "No errors" in page.summary.object
        assert page.submit_button.disabled  # rationales are still missing
        assert "Write a rationale on 3 rows." in page.hint.object
        for row in ("row-a", "row-b", "row-c"):
            await send(page, op="text", uid=row, field="rationale", value=f"Documented in the note ({row}).")
        assert not page.submit_button.disabled
        assert "Ready to submit." in page.hint.object

    asyncio.run(flow())
    assert len(page.change_ms) == 4  # three adds and the replacement, each timed
    assert all(ms > 0 for ms in page.change_ms)  # figures belong to the bench, not to a test


def test_rows_move_delete_undo_and_change_principal(runtime: bootstrap.Runtime, desk: Desk) -> None:
    page = open_page(runtime, desk.coder, desk.free[2])

    async def flow() -> None:
        for code in ("J18.9", "I10", "E78.5"):
            await send(page, op="add", kind="diagnosis", code=code)
        await send(page, op="add", kind="procedure", code="0dtj4zz")
        assert rows(page)[-1] == ("procedure", "0DTJ4ZZ", False)
        await send(page, op="move", uid=uid(page, "E78.5"), index=0)
        assert [c for _, c, _ in rows(page)] == ["E78.5", "J18.9", "I10", "0DTJ4ZZ"]
        assert "R-SEQ-00" not in rules_on(page, "E78.5")  # J18.9 is still the flagged principal
        await send(page, op="principal", uid=uid(page, "E78.5"))
        assert rows(page)[0] == ("diagnosis", "E78.5", True)
        assert [p for _, _, p in rows(page)].count(True) == 1
        await send(page, op="move", uid=uid(page, "0DTJ4ZZ"), index=0)  # procedures stay after diagnoses
        assert rows(page)[-1][1] == "0DTJ4ZZ"
        removed = uid(page, "I10")
        await send(page, op="delete", uid=removed)
        assert [c for _, c, _ in rows(page)] == ["E78.5", "J18.9", "0DTJ4ZZ"]
        await send(page, op="undo")
        assert [c for _, c, _ in rows(page)] == ["E78.5", "J18.9", "I10", "0DTJ4ZZ"]
        assert uid(page, "I10") == removed  # same row, same findings slot
        # Nonsense is ignored, not stored.
        for msg in (
            {"op": "add", "kind": "diagnosis", "code": "not a code!"},
            {"op": "add", "kind": "bogus", "code": "I10"},
            {"op": "move", "uid": "no-such-row", "index": 1},
            {"op": "text", "uid": removed, "field": "code", "value": "X"},
            {"op": "drop_table"},
        ):
            assert page.handle(msg) is None
        assert len(rows(page)) == 4

    asyncio.run(flow())


def test_an_override_rationale_clears_an_overridable_error(runtime: bootstrap.Runtime, desk: Desk) -> None:
    page = open_page(runtime, desk.coder, desk.free[3])

    async def flow() -> None:
        for code in ("J18.9", "E11.9", "I10", "E10.9"):
            await send(page, op="add", kind="diagnosis", code=code)
        assert "R-EXC-01" in rules_on(page, "E11.9")
        assert "R-EXC-01" in rules_on(page, "E10.9")
        # One override field per finding: on the last row it names.
        assert page.grid.notes[uid(page, "E10.9")]["overridable"]
        assert not page.grid.notes[uid(page, "E11.9")]["overridable"]
        assert page.result is not None
        assert page.result.summary.blocking
        await send(
            page, op="text", uid=uid(page, "E10.9"), field="override_rationale", value="Two unrelated conditions."
        )
        assert page.result.summary.blocking == 0
        assert page.grid.notes[uid(page, "E10.9")]["level"] == "overridden"
        assert "1 overridden" in page.summary.object

    asyncio.run(flow())


def test_code_search_answers_the_grid(runtime: bootstrap.Runtime, desk: Desk) -> None:
    page = open_page(runtime, desk.coder, desk.free[4])

    async def flow() -> None:
        await send(page, op="search", q="diabetes kidney", kind="diagnosis", seq=7)
        answer = page.grid.suggestions
        assert answer["seq"] == 7
        assert answer["q"] == "diabetes kidney"
        assert any(item["code"] == "E11.22" for item in answer["items"])
        await send(page, op="search", q="0DTJ4", kind="procedure", seq=8)
        assert [i["code"] for i in page.grid.suggestions["items"]][:2] == ["0DTJ4ZG", "0DTJ4ZZ"]
        await send(page, op="search", q="resection appendix percutaneous endoscopic", kind="procedure", seq=8)
        assert "0DTJ4ZZ" in [i["code"] for i in page.grid.suggestions["items"]]
        await send(page, op="search", q="x" * 500, kind="diagnosis", seq=9)  # refused, nothing sent
        assert page.grid.suggestions["seq"] == 8

    asyncio.run(flow())


# -- saving and submitting ------------------------------------------------------------------------------


def test_a_stale_save_is_refused_and_the_edits_stay(runtime: bootstrap.Runtime, desk: Desk, as_session: Any) -> None:
    chart_id = desk.free[5]
    as_session(desk.coder)
    page = open_page(runtime, desk.coder, chart_id)

    async def flow() -> None:
        await send(page, op="add", kind="diagnosis", code="J18.9")
        await send(page, op="text", uid=uid(page, "J18.9"), field="rationale", value="Pneumonia on imaging.")
        assert await page.save()
        assert page.workspace.version == 2
        assert not page.grid.dirty
        assert page.save_button.disabled
        assert "version 2" in page.hint.object
        # Another tab of the same coder saves meanwhile.
        chart_actions.save_codes(desk.coder, chart_id, version=2, rows=[CodeRowInput("diagnosis", "J18.9", "x")])
        await send(page, op="add", kind="diagnosis", code="I10")
        assert not await page.save()

    asyncio.run(flow())
    assert page.notice.visible
    assert page.notice.alert_type == "error"
    assert "changed since you opened it" in page.notice.object
    assert "Your edits are still on this page" in page.notice.object
    assert rows(page) == [("diagnosis", "J18.9", True), ("diagnosis", "I10", False)]
    assert page.grid.dirty
    assert page.workspace.rows[0].rationale == "Pneumonia on imaging."
    assert not page.save_button.loading
    stored = chart_actions.get_chart(desk.coder, chart_id)
    assert stored.version == 3
    assert [c.code for c in stored.codes] == ["J18.9"]


def test_submit_saves_sends_to_audit_and_locks_the_page(
    runtime: bootstrap.Runtime, desk: Desk, as_session: Any
) -> None:
    chart_id = desk.free[6]
    as_session(desk.coder)
    page = open_page(runtime, desk.coder, chart_id)

    async def flow() -> bool:
        await send(page, op="add", kind="diagnosis", code="J18.9")
        await send(page, op="add", kind="diagnosis", code="I10")
        assert page.submit_button.disabled
        for code in ("J18.9", "I10"):
            await send(page, op="text", uid=uid(page, code), field="rationale", value=f"{code} documented.")
        assert not page.submit_button.disabled
        return await page.submit()

    assert asyncio.run(flow())
    assert not page.editable
    assert not page.grid.editable
    assert not page.grid.dirty
    assert page.submit_button.disabled
    assert "Submitted for audit" in page.notice.object
    stored = chart_actions.get_chart(desk.coder, chart_id)
    assert stored.status == ChartStatus.PENDING_AUDIT
    assert [(c.code, c.rationale) for c in stored.codes] == [("J18.9", "J18.9 documented."), ("I10", "I10 documented.")]
    again = open_page(runtime, desk.coder, chart_id)
    assert not again.editable
    assert "waiting for a supervisor" in again.review.object


def test_ctrl_s_from_the_grid_saves(runtime: bootstrap.Runtime, desk: Desk, as_session: Any) -> None:
    chart_id = desk.free[7]
    as_session(desk.coder)
    page = open_page(runtime, desk.coder, chart_id)

    async def flow() -> None:
        await send(page, op="add", kind="diagnosis", code="R05.9")
        await send(page, op="save")

    asyncio.run(flow())
    assert [c.code for c in chart_actions.get_chart(desk.coder, chart_id).codes] == ["R05.9"]


# -- who sees what ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["manager", "supervisor", "analyst"])
def test_other_roles_see_the_chart_read_only(runtime: bootstrap.Runtime, desk: Desk, who: str) -> None:
    page = open_page(runtime, getattr(desk, who), desk.free[0])
    assert page.view is not None
    assert not page.editable
    assert not page.grid.editable
    assert "Read-only." in page.review.object
    assert "Casey Coder" in page.review.object
    assert page.handle({"op": "add", "kind": "diagnosis", "code": "I10"}) is None
    assert page.grid.rows == []
    assert page.save_button.disabled
    assert page.submit_button.disabled


def test_not_found_looks_the_same_whatever_the_reason(runtime: bootstrap.Runtime, desk: Desk) -> None:
    mine = desk.free[0]
    views = {
        "missing id": open_page(runtime, desk.coder, uuid.uuid4()),
        "no id": open_page(runtime, desk.coder, None),
        "another coder's chart": open_page(runtime, desk.coder2, mine),
        "another organisation's chart": open_page(runtime, desk.outsider, mine),
    }
    html = {name: page.body()[0].object for name, page in views.items()}
    assert all(page.view is None for page in views.values())
    assert len(set(html.values())) == 1, html
    assert "Chart not found" in html["missing id"]
    assert str(mine) not in html["another coder's chart"]


# -- a returned chart -------------------------------------------------------------------------------------


def _return_with_findings(desk: Desk, chart_id: uuid.UUID) -> None:
    """What a supervisor's "return" leaves behind: a decided audit, findings, feedback, status returned."""
    stored = {c.code: c.id for c in chart_actions.get_chart(desk.coder, chart_id).codes}
    now = datetime.now(UTC)
    audit_id = uuid.uuid4()
    with org_scope(desk.org) as scope:
        conn = scope.conn
        conn.execute(
            text(
                "INSERT INTO audits (id, org_id, chart_id, submission_no, supervisor_id, coder_id, claimed_at, "
                "claim_expires_at, code_accuracy, decision, decided_at) VALUES (:id, :org, :chart, 1, :sup, :coder, "
                ":now, :later, 0.5, 'return', :now)"
            ),
            {
                "id": audit_id,
                "org": desk.org,
                "chart": chart_id,
                "sup": desk.supervisor.user_id,
                "coder": desk.coder.user_id,
                "now": now,
                "later": now + timedelta(hours=1),
            },
        )
        for code_id, verdict, expected, note in (
            (stored["E11.9"], "wrong_code", "E11.65", "The note documents hyperglycemia."),
            (stored["J18.9"], "correct", None, None),
            (None, "missing", "I10", "Hypertension is documented and treated."),
        ):
            conn.execute(
                text(
                    "INSERT INTO audit_findings (id, org_id, audit_id, chart_code_id, verdict, expected_code, note) "
                    "VALUES (:id, :org, :audit, :code, :verdict, :expected, :note)"
                ),
                {
                    "id": uuid.uuid4(),
                    "org": desk.org,
                    "audit": audit_id,
                    "code": code_id,
                    "verdict": verdict,
                    "expected": expected,
                    "note": note,
                },
            )
        conn.execute(
            text(
                "INSERT INTO feedback (id, org_id, audit_id, chart_id, coder_id, supervisor_id, body) "
                "VALUES (:id, :org, :audit, :chart, :coder, :sup, :body)"
            ),
            {
                "id": uuid.uuid4(),
                "org": desk.org,
                "audit": audit_id,
                "chart": chart_id,
                "coder": desk.coder.user_id,
                "sup": desk.supervisor.user_id,
                "body": "Read the A1c before choosing the diabetes code <b>please</b>.",
            },
        )
        conn.execute(
            text("UPDATE charts SET status = 'returned', version = version + 1 WHERE id = :id AND org_id = :org"),
            {"id": chart_id, "org": desk.org},
        )


def test_a_returned_chart_shows_the_supervisors_findings_on_their_rows(
    runtime: bootstrap.Runtime, desk: Desk, as_session: Any
) -> None:
    chart_id = desk.free[8]
    rows_in = [
        CodeRowInput("diagnosis", "J18.9", "Pneumonia.", is_principal=True),
        CodeRowInput("diagnosis", "E11.9", "DM."),
    ]
    chart_actions.save_codes(desk.coder, chart_id, version=1, rows=rows_in)
    _return_with_findings(desk, chart_id)
    as_session(desk.coder)
    page = open_page(runtime, desk.coder, chart_id)
    assert page.editable
    review = page.review.object
    assert "Returned by Sam Supervisor" in review
    assert "code accuracy 50%" in review
    assert "Read the A1c before choosing the diabetes code &lt;b&gt;please&lt;/b&gt;." in review
    assert "Missing code; expected I10. Hypertension is documented and treated." in review
    asyncio.run(page.check())
    notes = page.grid.notes
    assert notes[uid(page, "E11.9")]["audit"] == [
        {"text": "Wrong code; expected E11.65. The note documents hyperglycemia."}
    ]
    assert notes[uid(page, "J18.9")]["audit"] == []  # "correct" is not repeated on the row

    async def fix() -> bool:
        await send(page, op="replace", uid=uid(page, "E11.9"), code="E11.65")
        await send(page, op="add", kind="diagnosis", code="I10")
        await send(page, op="text", uid=uid(page, "I10"), field="rationale", value="Treated hypertension.")
        assert notes is not page.grid.notes
        assert page.grid.notes[uid(page, "E11.65")]["audit"]  # the note stays on the row it was about
        return await page.submit()

    assert asyncio.run(fix())
    assert chart_actions.get_chart(desk.coder, chart_id).status == ChartStatus.PENDING_AUDIT


def test_the_page_answers_over_http_for_every_case(live_server: Any, new_client: Any, desk: Desk) -> None:
    """Each GET builds a page session (the content itself then goes over the websocket)."""
    c = new_client()
    c.login(desk.coder.email)
    for path in ("/chart", f"/chart?id={uuid.uuid4()}", "/chart?id=not-a-uuid", f"/chart?id={desk.free[0]}"):
        r = c.get(path)
        assert r.status_code == 200, path
        assert "Forbidden" not in r.text
        assert r.headers["cache-control"] == "no-store"
    assert new_client().get(f"/chart?id={desk.free[0]}").status_code in (302, 303)  # signed out: to /login
