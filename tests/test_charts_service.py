"""The coder workflow's actions (``app.services.charts``): every transition and every refusal, the
side effects each change writes in its transaction (audit row, outbox event, notification, email),
and regressions for seed ADR-015 (qualified filter columns) and ADR-016 (four statuses, a coder's
draft is editable).

Data: a fresh organisation per test from ``tests.chart_fixtures.make_team`` (manager, coders A/B/C,
supervisor, analyst) with charts inserted by the importer's own insert.
"""

from __future__ import annotations

import ast
import re
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import event, text

from app import bootstrap
from app.authz import Role
from app.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from app.services import charts as svc
from app.services.chart_types import SORTS, ChartStatus, CodeRowInput
from datalayer.scope import get_engine, org_scope
from tests.chart_fixtures import Team, chart_row, insert_charts, make_team, principal
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

PNEUMONIA = CodeRowInput("diagnosis", "J18.9", "Chest X-ray shows lobar consolidation.", is_principal=True)
DIABETES = CodeRowInput("diagnosis", "E11.9", "Type 2 diabetes on metformin.")
TYPE1 = CodeRowInput("diagnosis", "E10.9", "Listed in the history.")  # Excludes1 with E11.9: an error


@pytest.fixture
def team(runtime: bootstrap.Runtime) -> Team:
    return make_team(runtime.ctx)


def _rows(org_id: uuid.UUID, sql: str, **params: Any) -> list[dict[str, Any]]:
    with org_scope(org_id) as scope:
        return [dict(r) for r in scope.conn.execute(text(sql), {"org": org_id, **params}).mappings()]


def _snapshot(org_id: uuid.UUID, chart_id: uuid.UUID) -> tuple[Any, ...]:
    """Everything a refused change must leave untouched."""
    chart = _rows(org_id, "SELECT status, version, assignee_id, updated_at FROM charts WHERE id = :id", id=chart_id)
    codes = _rows(
        org_id, "SELECT code, sequence, rationale FROM chart_codes WHERE chart_id = :id ORDER BY 1", id=chart_id
    )
    counts = _rows(
        org_id,
        "SELECT (SELECT count(*) FROM audit_log WHERE org_id = :org) AS audits, "
        "(SELECT count(*) FROM outbox_events WHERE org_id = :org) AS events, "
        "(SELECT count(*) FROM validation_results WHERE chart_id = :id) AS findings",
        id=chart_id,
    )
    return (chart, codes, counts)


def _assigned(team: Team, n: int = 1, coder: Any = None) -> list[uuid.UUID]:
    ids = team.charts(n)
    svc.assign(team.manager, ids, [(coder or team.coder_a).user_id])
    return ids


# -- listing --------------------------------------------------------------------------------------


def test_coder_lists_only_own_charts_and_manager_lists_all(team: Team) -> None:
    ids = team.charts(6)
    svc.assign(team.manager, ids[:2], [team.coder_a.user_id])
    svc.assign(team.manager, ids[2:3], [team.coder_b.user_id])

    mine = svc.list_charts(team.coder_a)
    assert {c.id for c in mine.items} == set(ids[:2])
    assert mine.total == 2
    assert mine.counts == {"draft": 2, "pending_audit": 0, "completed": 0, "returned": 0}
    # Filters cannot widen a coder's view: another coder, or unassigned charts, give nothing.
    assert svc.list_charts(team.coder_a, assignee=team.coder_b.user_id).total == 0
    assert svc.list_charts(team.coder_a, unassigned=True).total == 0

    everything = svc.list_charts(team.manager)
    assert everything.total == 6
    assert svc.list_charts(team.manager, unassigned=True).total == 3
    assert {c.id for c in svc.list_charts(team.manager, assignee=team.coder_b.user_id).items} == {ids[2]}
    for reader in (team.supervisor, team.analyst):
        assert svc.list_charts(reader).total == 6


def test_list_filters_paging_and_counts(team: Team) -> None:
    job = uuid.uuid4()
    with org_scope(team.org_id) as scope:
        scope.conn.execute(
            text("INSERT INTO import_jobs (id, org_id, source, status) VALUES (:id, :org, 'cli', 'succeeded')"),
            {"id": job, "org": team.org_id},
        )
    imported = insert_charts(team.org_id, [chart_row(i) for i in range(3)], import_job_id=job)
    team.charts(9)
    page = svc.list_charts(team.manager, page_size=5, sort="created")
    assert (page.total, page.pages, len(page.items)) == (12, 3, 5)
    last = svc.list_charts(team.manager, page=3, page_size=5, sort="created")
    assert len(last.items) == 2
    seen = {c.id for p in range(1, 4) for c in svc.list_charts(team.manager, page=p, page_size=5, sort="created").items}
    assert len(seen) == 12  # stable paging: nothing repeated or skipped
    assert {c.id for c in svc.list_charts(team.manager, import_job_id=job).items} == set(imported)
    cardiology = svc.list_charts(team.manager, specialty="Cardiology")
    assert cardiology.total == 4
    assert {c.specialty for c in cardiology.items} == {"Cardiology"}
    assert all(c.difficulty == 3 for c in svc.list_charts(team.manager, difficulty=3).items)
    # chart_row(i) starts on 2025-01-01 + i days; encounter_to is inclusive: i = 2 of the first
    # batch (three charts) and i = 2, 3 of the second.
    window = svc.list_charts(team.manager, encounter_from=date(2025, 1, 3), encounter_to=date(2025, 1, 4))
    assert window.total == 3


def test_queue_order_returned_first_then_drafts_oldest_first(team: Team) -> None:
    ids = _assigned(team, 4)
    with org_scope(team.org_id) as scope:  # the supervisor's side is not built yet: set the state directly
        scope.conn.execute(text("UPDATE charts SET status = 'returned' WHERE id = :id"), {"id": ids[2]})
        scope.conn.execute(text("UPDATE charts SET status = 'pending_audit' WHERE id = :id"), {"id": ids[0]})
    order = [c.id for c in svc.list_charts(team.coder_a).items]
    assert order == [ids[2], ids[1], ids[3], ids[0]]
    todo = svc.list_charts(team.coder_a, status="draft,returned")
    assert [c.id for c in todo.items] == [ids[2], ids[1], ids[3]]
    assert todo.total == 3
    assert todo.counts["pending_audit"] == 1  # counts ignore the status filter


def test_returned_chart_carries_the_supervisors_feedback(team: Team) -> None:
    (chart_id,) = _assigned(team)
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
                "VALUES (:id, :org, :audit, 'missing', 'I10', 'Hypertension is documented.')"
            ),
            {"id": uuid.uuid4(), "org": team.org_id, "audit": audit_id},
        )
        scope.conn.execute(
            text(
                "INSERT INTO feedback (id, org_id, audit_id, chart_id, coder_id, supervisor_id, body) "
                "VALUES (:id, :org, :audit, :chart, :coder, :sup, 'Code the hypertension too.')"
            ),
            {
                "id": uuid.uuid4(),
                "org": team.org_id,
                "audit": audit_id,
                "chart": chart_id,
                "coder": team.coder_a.user_id,
                "sup": team.supervisor.user_id,
            },
        )
    (item,) = svc.list_charts(team.coder_a).items
    assert (item.feedback, item.returned_by, item.open_findings) == ("Code the hypertension too.", "Sam Supervisor", 1)
    view = svc.get_chart(team.coder_a, chart_id)
    assert view.editable
    assert view.review is not None
    assert view.review.summary.feedback == "Code the hypertension too."
    assert [f.expected_code for f in view.review.findings] == ["I10"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sort": "c.id; DROP TABLE charts"}, "sort"),
        ({"page": 0}, "page"),
        ({"page_size": 1000}, "page_size"),
        ({"status": "in_progress"}, "status"),
        ({"status": "unassigned"}, "status"),
        ({"difficulty": 9}, "difficulty"),
        ({"encounter_from": date(2025, 2, 1), "encounter_to": date(2025, 1, 1)}, "encounter_to"),
    ],
)
def test_list_refuses_bad_arguments(team: Team, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        svc.list_charts(team.manager, **kwargs)
    assert field in caught.value.fields


# -- reading one chart ------------------------------------------------------------------------------


def test_get_chart_visibility(team: Team, runtime: bootstrap.Runtime) -> None:
    (chart_id,) = _assigned(team)
    view = svc.get_chart(team.coder_a, chart_id)
    assert view.status is ChartStatus.DRAFT
    assert view.editable
    assert view.payload == {"resourceType": "Encounter", "id": "enc-0"}
    assert view.clinical_note == "Synthetic note 0."
    assert view.assignee_name == "Ada Coder"
    for reader in (team.manager, team.supervisor, team.analyst):
        assert svc.get_chart(reader, chart_id).editable is False
    with pytest.raises(NotFound) as other_coder:
        svc.get_chart(team.coder_b, chart_id)
    with pytest.raises(NotFound) as missing:
        svc.get_chart(team.coder_a, uuid.uuid4())
    other_org = make_team(runtime.ctx)
    with pytest.raises(NotFound) as foreign:
        svc.get_chart(other_org.manager, chart_id)
    assert str(other_coder.value) == str(missing.value) == str(foreign.value) == "Chart not found."


# -- saving codes -----------------------------------------------------------------------------------


def test_save_codes_stores_validates_and_bumps_the_version(team: Team) -> None:
    (chart_id,) = _assigned(team)
    saved = svc.save_codes(team.coder_a, chart_id, version=1, rows=[PNEUMONIA, DIABETES, TYPE1])
    assert saved.version == 2
    assert [(c.code, c.sequence, c.is_principal) for c in saved.codes] == [
        ("J18.9", 1, True),
        ("E11.9", 2, False),
        ("E10.9", 3, False),
    ]
    assert saved.codes[0].description == "Pneumonia, unspecified organism"
    excludes = [f for f in saved.findings if f.rule_id == "R-EXC-01"]
    assert excludes
    assert excludes[0].rows == (2, 3)
    assert saved.summary.blocking == 1
    view = svc.get_chart(team.coder_a, chart_id)
    assert view.version == 2
    assert [f.rule_id for f in view.findings if f.rule_id == "R-EXC-01"] == ["R-EXC-01"]
    events = _rows(
        team.org_id,
        "SELECT event_type, payload FROM outbox_events WHERE aggregate_id = :id AND event_type = 'chart.codes_saved'",
        id=str(chart_id),
    )
    assert events[0]["payload"]["version"] == 2
    assert events[0]["payload"]["blocking"] == 1
    log = _rows(
        team.org_id, "SELECT action, actor_id FROM audit_log WHERE object_id = :id ORDER BY seq", id=str(chart_id)
    )
    assert log[-1] == {"action": "chart_codes_saved", "actor_id": team.coder_a.user_id}


def test_reordering_keeps_row_ids_so_review_findings_stay_linked(team: Team) -> None:
    (chart_id,) = _assigned(team)
    first = svc.save_codes(team.coder_a, chart_id, version=1, rows=[PNEUMONIA, DIABETES])
    ids = {c.code: c.id for c in first.codes}
    swapped = [CodeRowInput("diagnosis", "E11.9", "x", is_principal=True), CodeRowInput("diagnosis", "J18.9", "y")]
    second = svc.save_codes(team.coder_a, chart_id, version=2, rows=swapped)
    assert {c.code: c.id for c in second.codes} == ids
    assert [(c.code, c.is_principal) for c in second.codes] == [("E11.9", True), ("J18.9", False)]


def test_stale_version_is_refused_and_keeps_nothing(team: Team) -> None:
    (chart_id,) = _assigned(team)
    svc.save_codes(team.coder_a, chart_id, version=1, rows=[PNEUMONIA])
    before = _snapshot(team.org_id, chart_id)
    with pytest.raises(Conflict, match="changed since you opened it"):
        svc.save_codes(team.coder_a, chart_id, version=1, rows=[PNEUMONIA, DIABETES])
    with pytest.raises(Conflict):
        svc.submit(team.coder_a, chart_id, version=1)
    assert _snapshot(team.org_id, chart_id) == before


def test_save_codes_refusals(team: Team) -> None:
    (chart_id,) = _assigned(team)
    before = _snapshot(team.org_id, chart_id)
    with pytest.raises(NotFound):  # another coder: as if it did not exist
        svc.save_codes(team.coder_b, chart_id, version=1, rows=[PNEUMONIA])
    for reader in (team.manager, team.supervisor, team.analyst):  # read-only roles
        with pytest.raises(PermissionDenied):
            svc.save_codes(reader, chart_id, version=1, rows=[PNEUMONIA])
    bad_rows = [
        [CodeRowInput("diagnosis", "J18.9", is_principal=True), CodeRowInput("diagnosis", "E11.9", is_principal=True)],
        [CodeRowInput("procedure", "0BH17EZ", is_principal=True)],
        [CodeRowInput("diagnosis", "J18.9; DROP")],
        [CodeRowInput("diagnosis", "J18.9", rationale="x" * 2001)],
        [CodeRowInput("diagnosis", "J18.9", code_system="ICD-10-PCS")],
    ]
    for rows in bad_rows:
        with pytest.raises(ValidationFailed):
            svc.save_codes(team.coder_a, chart_id, version=1, rows=rows)
    assert _snapshot(team.org_id, chart_id) == before


# -- submitting -------------------------------------------------------------------------------------


def test_submit_needs_rationales_and_no_blocking_error(team: Team) -> None:
    (chart_id,) = _assigned(team)
    with pytest.raises(ValidationFailed, match="at least one diagnosis"):
        svc.submit(team.coder_a, chart_id, version=1)
    saved = svc.save_codes(team.coder_a, chart_id, version=1, rows=[PNEUMONIA, CodeRowInput("diagnosis", "E11.9")])
    with pytest.raises(ValidationFailed) as no_rationale:
        svc.submit(team.coder_a, chart_id, version=saved.version)
    assert no_rationale.value.fields == {"diagnosis[2].rationale": "Write a rationale for this code."}
    saved = svc.save_codes(team.coder_a, chart_id, version=saved.version, rows=[PNEUMONIA, DIABETES, TYPE1])
    before = _snapshot(team.org_id, chart_id)
    with pytest.raises(ValidationFailed) as blocking:
        svc.submit(team.coder_a, chart_id, version=saved.version)
    assert "diagnosis[2].code" in blocking.value.fields
    assert "diagnosis[3].code" in blocking.value.fields
    assert _snapshot(team.org_id, chart_id) == before  # the refused submit rolled back entirely


def test_submit_moves_the_chart_to_pending_audit(team: Team) -> None:
    (chart_id,) = _assigned(team)
    saved = svc.save_codes(team.coder_a, chart_id, version=1, rows=[PNEUMONIA, DIABETES])
    view = svc.submit(team.coder_a, chart_id, version=saved.version)
    assert view.status is ChartStatus.PENDING_AUDIT
    assert view.version == saved.version + 1
    assert view.editable is False
    assert view.submitted_at is not None
    event = _rows(
        team.org_id,
        "SELECT payload FROM outbox_events WHERE aggregate_id = :id AND event_type = 'chart.submitted'",
        id=str(chart_id),
    )
    assert event[0]["payload"] == {
        "chart_id": str(chart_id),
        "version": view.version,
        "coder_id": str(team.coder_a.user_id),
        "resubmission": False,
        "status": "pending_audit",
        "audit_reason": "all",  # the default sampling policy reviews every chart
    }
    log = _rows(team.org_id, "SELECT action FROM audit_log WHERE object_id = :id ORDER BY seq", id=str(chart_id))
    assert log[-1]["action"] == "chart_submitted"
    # Wrong status from now on: no edits, no second submit, no reassignment.
    with pytest.raises(Conflict, match="waiting for audit"):
        svc.save_codes(team.coder_a, chart_id, version=view.version, rows=[PNEUMONIA])
    with pytest.raises(Conflict):
        svc.submit(team.coder_a, chart_id, version=view.version)
    with pytest.raises(Conflict):
        svc.assign(team.manager, [chart_id], [team.coder_b.user_id])


def test_returned_chart_is_edited_and_resubmitted(team: Team) -> None:
    (chart_id,) = _assigned(team)
    with org_scope(team.org_id) as scope:
        scope.conn.execute(text("UPDATE charts SET status = 'returned' WHERE id = :id"), {"id": chart_id})
    saved = svc.save_codes(team.coder_a, chart_id, version=1, rows=[PNEUMONIA])
    view = svc.submit(team.coder_a, chart_id, version=saved.version)
    assert view.status is ChartStatus.PENDING_AUDIT
    event = _rows(
        team.org_id,
        "SELECT payload FROM outbox_events WHERE aggregate_id = :id AND event_type = 'chart.submitted'",
        id=str(chart_id),
    )
    assert event[0]["payload"]["resubmission"] is True


# -- assignment -------------------------------------------------------------------------------------


def test_assign_single_notifies_emails_audits_and_emits(team: Team) -> None:
    ids = team.charts(3)
    result = svc.assign(team.manager, ids, [team.coder_a.user_id], app_url="https://sc.example")
    assert result.assigned == {team.coder_a.user_id: ids}
    assert result.count == 3
    notes = _rows(team.org_id, "SELECT kind, title, link FROM notifications WHERE user_id = :u", u=team.coder_a.user_id)
    assert notes == [{"kind": "charts_assigned", "title": "3 new charts assigned to you", "link": "/queue"}]
    mail = _rows(
        team.org_id,
        "SELECT to_address, subject, body_text, template FROM pending_emails WHERE to_address = :a",
        a=team.coder_a.email,
    )
    assert len(mail) == 1
    assert mail[0]["template"] == "charts_assigned"
    assert "https://sc.example/queue" in mail[0]["body_text"]
    assert "Synthetic note" not in mail[0]["body_text"]  # no PHI in email
    events = _rows(team.org_id, "SELECT aggregate_id, payload FROM outbox_events WHERE event_type = 'chart.assigned'")
    assert {e["aggregate_id"] for e in events} == {str(i) for i in ids}
    assert all(e["payload"]["coder_id"] == str(team.coder_a.user_id) for e in events)
    log = _rows(team.org_id, "SELECT object_id, actor_id FROM audit_log WHERE action = 'chart_assigned'")
    assert {r["object_id"] for r in log} == {str(i) for i in ids}
    assert {r["actor_id"] for r in log} == {team.manager.user_id}
    (load_a, load_b, load_c) = svc.workload(team.manager)
    assert (load_a.name, load_a.draft, load_a.open, load_b.open, load_c.open) == ("Ada Coder", 3, 3, 0, 0)


def test_round_robin_and_reassignment(team: Team) -> None:
    ids = team.charts(5)
    result = svc.assign(team.manager, ids, [team.coder_a.user_id, team.coder_b.user_id], mode="round_robin")
    assert result.assigned == {team.coder_a.user_id: ids[0::2], team.coder_b.user_id: ids[1::2]}
    # Reassign two of A's charts (and one already B's) to B.
    moved = svc.assign(team.manager, [ids[0], ids[2], ids[1]], [team.coder_b.user_id])
    assert moved.reassigned == [ids[0], ids[2]]
    assert moved.unchanged == [ids[1]]
    assert svc.list_charts(team.coder_a).total == 1
    assert svc.list_charts(team.coder_b).total == 4
    lost = _rows(
        team.org_id,
        "SELECT title FROM notifications WHERE user_id = :u AND kind = 'charts_unassigned'",
        u=team.coder_a.user_id,
    )
    assert lost == [{"title": "2 charts were reassigned to another coder"}]
    with pytest.raises(NotFound):  # A no longer sees the moved chart
        svc.get_chart(team.coder_a, ids[0])


def test_assign_refusals_change_nothing(team: Team, runtime: bootstrap.Runtime) -> None:
    ids = team.charts(2)
    other = make_team(runtime.ctx)
    foreign_chart = other.charts(1)[0]
    with org_scope(team.org_id) as scope:
        scope.conn.execute(text("UPDATE users SET is_active = false WHERE id = :id"), {"id": team.coder_c.user_id})
    before = [_snapshot(team.org_id, c) for c in ids]
    for who in (team.coder_a, team.supervisor, team.analyst):
        with pytest.raises(PermissionDenied):
            svc.assign(who, ids, [team.coder_a.user_id])
    with pytest.raises(NotFound):  # another organisation's chart answers like a missing one
        svc.assign(team.manager, [ids[0], foreign_chart], [team.coder_a.user_id])
    with pytest.raises(NotFound):
        svc.assign(team.manager, [ids[0], uuid.uuid4()], [team.coder_a.user_id])
    bad_coders = [[team.supervisor.user_id], [team.coder_c.user_id], [other.coder_a.user_id], [uuid.uuid4()]]
    for coders in bad_coders:
        with pytest.raises(ValidationFailed) as caught:
            svc.assign(team.manager, ids, coders)
        assert caught.value.fields == {"coder_ids": "Choose active coders of your organisation."}
    with pytest.raises(ValidationFailed):
        svc.assign(team.manager, ids, [team.coder_a.user_id, team.coder_b.user_id], mode="single")
    with pytest.raises(ValidationFailed):
        svc.assign(team.manager, [], [team.coder_a.user_id])
    assert [_snapshot(team.org_id, c) for c in ids] == before
    assert _rows(team.org_id, "SELECT count(*) AS n FROM notifications") == [{"n": 0}]
    assert svc.list_charts(other.manager).items[0].assignee_id is None


def test_auto_assign_new_imports_round_robin(team: Team, runtime: bootstrap.Runtime) -> None:
    from dataclasses import replace

    ids = team.charts(4)
    svc.assign(team.manager, [ids[0]], [team.coder_b.user_id])
    on = replace(runtime.settings, auto_assign_imports=True)
    with org_scope(team.org_id) as scope:
        assert svc.auto_assign_new(scope, ids[1:], settings=runtime.settings) is None  # off by default
        result = svc.auto_assign_new(scope, ids[1:], settings=on)
    assert result is not None
    # Least open work first: A and C (0 open, by name) before B (1 open).
    assert result.assigned == {
        team.coder_a.user_id: [ids[1]],
        team.coder_c.user_id: [ids[2]],
        team.coder_b.user_id: [ids[3]],
    }
    log = _rows(
        team.org_id,
        "SELECT actor_role FROM audit_log WHERE action = 'chart_assigned' AND object_id = :id",
        id=str(ids[1]),
    )
    assert log == [{"actor_role": "system"}]


def test_auto_assign_setting_is_documented() -> None:
    assert "AUTO_ASSIGN_IMPORTS=false" in (ROOT / ".env.example").read_text()
    assert "`AUTO_ASSIGN_IMPORTS`" in (ROOT / "README.md").read_text()


# -- seed ADR-016: four statuses, and a coder's draft is editable ---------------------------------------


def test_adr016_statuses_match_the_schema(team: Team) -> None:
    (constraint,) = _rows(
        team.org_id, "SELECT pg_get_constraintdef(oid) AS d FROM pg_constraint WHERE conname = 'charts_status_ck'"
    )
    in_schema = set(re.findall(r"'([a-z_]+)'", constraint["d"]))
    assert in_schema == {s.value for s in ChartStatus} == {"draft", "pending_audit", "completed", "returned"}


def test_adr016_no_invented_status_literals_in_code() -> None:
    """No chart status other than the four appears in a status comparison, in Python or in SQL."""
    allowed = {s.value for s in ChartStatus}
    files = [
        *ROOT.glob("app/services/chart*.py"),
        *ROOT.glob("pages/*.py"),
        ROOT / "datalayer/queries/charts.py",
        ROOT / "app/http/charts.py",
    ]
    sql_status = re.compile(r"\bc\.status\s*(?:=|<>|!=)\s*'([a-z_]+)'|WHEN\s+'([a-z_]+)'")
    for path in files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and any(
                isinstance(side, ast.Attribute) and side.attr == "status" for side in (node.left, *node.comparators)
            ):
                for side in (node.left, *node.comparators):
                    if isinstance(side, ast.Constant) and isinstance(side.value, str):
                        assert side.value in allowed, f"{path.name}:{node.lineno} compares status to {side.value!r}"
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for match in sql_status.finditer(node.value):
                    value = match.group(1) or match.group(2)
                    assert value in allowed, f"{path.name}: SQL uses status {value!r}"
        for invented in ("in_progress", "in-progress", "'unassigned'", "'in progress'"):
            assert invented not in path.read_text(), f"{path.name} mentions {invented}"


@pytest.mark.parametrize("status", ["draft", "returned", "pending_audit", "completed"])
def test_adr016_coder_can_edit_exactly_draft_and_returned(team: Team, status: str) -> None:
    (chart_id,) = _assigned(team)
    with org_scope(team.org_id) as scope:
        scope.conn.execute(text("UPDATE charts SET status = :s WHERE id = :id"), {"s": status, "id": chart_id})
    assert svc.get_chart(team.coder_a, chart_id).editable is (status in ("draft", "returned"))
    assert svc.get_chart(team.manager, chart_id).editable is False


# -- seed ADR-015: every filter column qualified ----------------------------------------------------------


@pytest.fixture
def statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


_TABLES = (
    "charts",
    "chart_codes",
    "users",
    "audits",
    "audit_findings",
    "feedback",
    "import_jobs",
    "validation_results",
    "notifications",
)
_COLUMN = (
    r"(?:org_id|id|status|assignee_id|chart_id|specialty|difficulty|import_job_id|encounter_start|role|"
    r"is_active|audit_id|decision|decided_at|verdict|is_principal|user_id|charts_created|kind|sequence)"
)
_BARE = re.compile(rf"(?<![\w.:]){_COLUMN}\s*(?:=|<>|!=|<=|>=|<|>|\bIS\b|\bIN\b|=\s*ANY)", re.IGNORECASE)


def _predicates(sql: str) -> list[str]:
    """The WHERE / ON / FILTER parts of a statement (not the SELECT list or SET)."""
    flat = " ".join(sql.split())
    parts = re.split(r"\b(WHERE|ON|FILTER \(WHERE)\b", flat, flags=re.IGNORECASE)
    out = []
    for keyword, body in zip(parts[1::2], parts[2::2], strict=True):
        if keyword.upper() == "ON" and body.strip().upper().startswith("CONFLICT"):
            continue
        out.append(re.split(r"\b(ORDER BY|GROUP BY|LIMIT|RETURNING|FOR UPDATE)\b", body, flags=re.IGNORECASE)[0])
    return out


def test_adr015_chart_queries_qualify_every_filter_column(team: Team, statements: list[str]) -> None:
    ids = team.charts(3)
    svc.assign(team.manager, ids, [team.coder_a.user_id, team.coder_b.user_id], mode="round_robin")
    svc.workload(team.manager)
    svc.filter_options(team.manager)
    job = uuid.uuid4()
    for sort in SORTS:  # every filter at once, with every sort, as a coder and as a manager
        for who in (team.coder_a, team.manager):
            svc.list_charts(
                who,
                status="draft,returned",
                assignee=who.user_id,
                specialty="Cardiology",
                difficulty=2,
                unassigned=False,
                import_job_id=job,
                encounter_from=date(2024, 1, 1),
                encounter_to=date(2026, 1, 1),
                sort=sort,
            )
    svc.list_charts(team.manager, unassigned=True)
    svc.get_chart(team.coder_a, ids[0])
    saved = svc.save_codes(team.coder_a, ids[0], version=1, rows=[PNEUMONIA, DIABETES])
    svc.submit(team.coder_a, ids[0], version=saved.version)
    ours = [s for s in statements if any(f"{t} AS " in s for t in _TABLES)]
    assert len(ours) > 20
    for sql in ours:
        for predicate in _predicates(sql):
            assert not _BARE.search(predicate), f"unqualified filter column in: {predicate}\n{sql}"


def test_adr015_the_join_that_failed_works_for_every_role(team: Team) -> None:
    """The seed's bug: the queue joined users and filtered a bare org_id -> ambiguous column -> 500."""
    _assigned(team, 2)
    for who in (team.coder_a, team.manager, team.supervisor, team.analyst):
        page = svc.list_charts(who, sort="assignee")
        assert page.total == 2
        assert page.items[0].assignee_name == "Ada Coder"


def test_principal_from_another_org_sees_nothing(team: Team, runtime: bootstrap.Runtime) -> None:
    team.charts(2)
    outsider = make_team(runtime.ctx)
    assert svc.list_charts(outsider.manager).total == 0
    # Even a forged principal (right org id, role of another org's user) cannot see across RLS.
    forged = principal(outsider.org_id, team.manager.user_id, Role.MANAGER)
    assert svc.list_charts(forged).total == 0


def test_demo_assigns_charts_to_the_demo_coder_once(runtime: bootstrap.Runtime) -> None:
    from app.services.demo import DEMO_SLUG, DEMO_UNASSIGNED, assign_charts, import_charts, seed
    from datalayer.queries import orgs
    from datalayer.scope import auth_scope

    seed(runtime.ctx)
    import_charts()
    assign_charts()  # may already have run in this test session: then it does nothing
    with auth_scope() as scope:
        org_id = orgs.id_by_slug(scope, DEMO_SLUG)
    assert org_id is not None
    charts = _rows(
        org_id,
        "SELECT count(*) FILTER (WHERE u.email = 'coder@demo.test') AS coder, "
        "count(*) FILTER (WHERE c.assignee_id IS NULL) AS unassigned, count(*) AS total "
        "FROM charts c LEFT JOIN users u ON u.id = c.assignee_id",
    )[0]
    assert charts["coder"] == charts["total"] - DEMO_UNASSIGNED
    assert charts["unassigned"] == DEMO_UNASSIGNED
    assert assign_charts() == 0  # idempotent: a restart changes nothing
    notes = _rows(org_id, "SELECT count(*) AS n FROM notifications WHERE kind = 'charts_assigned'")
    assert notes == [{"n": 1}]
