"""Audit sampling (``app.services.sampling``; ADR 0014): which submitted charts a supervisor reviews.

Pure rules first (no database): each rule with a deterministic draw, the precedence between them,
the policy's validation and its description. Then the decision at submission through
``app.services.charts.submit`` on real PostgreSQL (a fresh organisation per test from
``tests.chart_fixtures.make_team``), the policy's API on the live server, the ``/review`` card and
"Why" column as plain objects, and one browser test of a supervisor changing the policy.

Charts are coded J18.9 (principal) + E11.9; the "override" chart adds E10.9, which Excludes1 clears
only with an override rationale on that row (CODING-RULES R-EXC-01).
"""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import panel as pn
import pytest
from sqlalchemy import text

from app import bootstrap
from app.authz import Permission, Role, has_permission
from app.errors import Conflict, PermissionDenied, ValidationFailed
from app.services import audits as audit_svc
from app.services import charts, sampling
from app.services.audits import RowVerdict
from app.services.chart_types import ChartStatus, CodeRowInput
from app.services.sampling import AuditReason, SamplingSettings, SubmissionFacts, choose_reason, parse_settings
from datalayer.scope import org_scope
from pages.registry import NAV
from pages.review import ReviewPage
from tests.chart_fixtures import (
    Team,
    chart_row,
    get_json,
    insert_charts,
    login_team_fixture,
    make_team,
    signed_in_clients,
)
from tests.conftest import SHOTS, Client, LiveServer
from tests.page_fixtures import browser_signed_in, run_settled, signed_in

PNEUMONIA = CodeRowInput("diagnosis", "J18.9", "Chest X-ray shows lobar consolidation.", is_principal=True)
DIABETES = CodeRowInput("diagnosis", "E11.9", "Type 2 diabetes on metformin.")
TYPE1_OVERRIDDEN = CodeRowInput(
    "diagnosis",
    "E10.9",
    "Type 1 diabetes documented by endocrinology.",
    override_rationale="Documented as two unrelated conditions.",
)
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
# The policy with every rule off except a random draw of 10%.
RANDOM_ONLY = SamplingSettings(
    review_all=False, random_percent=10, always_new_coders=False, always_with_overrides=False
)


def rules(**changes: Any) -> SamplingSettings:
    """``RANDOM_ONLY`` with some rules switched on."""
    return replace(RANDOM_ONLY, **changes)


class Draw:
    """A deterministic ``sampling.Rng``: always the same draw, and counts how often it was asked."""

    def __init__(self, value: float) -> None:
        self.value = value
        self.calls = 0

    def random(self) -> float:
        self.calls += 1
        return self.value


def facts(**overrides: Any) -> SubmissionFacts:
    base: dict[str, Any] = {
        "resubmission": False,
        "coder_since": NOW - timedelta(days=400),  # an experienced coder
        "overrides": 0,
        "difficulty": 2,
    }
    return SubmissionFacts(**{**base, **overrides})


# -- the rules, pure ------------------------------------------------------------------------------------


def test_review_all_is_the_default_and_samples_everything() -> None:
    assert SamplingSettings().review_all is True
    draw = Draw(0.99)
    assert choose_reason(SamplingSettings(), facts(), now=NOW, rng=draw) is AuditReason.ALL
    assert draw.calls == 0  # no draw needed


@pytest.mark.parametrize(
    ("settings", "submission", "expected"),
    [
        # new coder: account younger than new_coder_days (unknown age counts as new)
        (rules(always_new_coders=True), facts(coder_since=NOW - timedelta(days=89)), AuditReason.NEW_CODER),
        (rules(always_new_coders=True), facts(coder_since=NOW - timedelta(days=90)), None),
        (rules(always_new_coders=True, new_coder_days=30), facts(coder_since=NOW - timedelta(days=45)), None),
        (rules(always_new_coders=True), facts(coder_since=None), AuditReason.NEW_CODER),
        # overrides
        (rules(always_with_overrides=True), facts(overrides=1), AuditReason.OVERRIDES),
        (rules(always_with_overrides=True), facts(overrides=0), None),
        # difficulty at or above the threshold
        (rules(always_min_difficulty=4), facts(difficulty=4), AuditReason.DIFFICULTY),
        (rules(always_min_difficulty=4), facts(difficulty=3), None),
        (rules(always_min_difficulty=4), facts(difficulty=None), None),
        # a rule that is off does nothing, however strong the case
        (RANDOM_ONLY, facts(coder_since=NOW, overrides=5, difficulty=5), None),
    ],
)
def test_each_rule(settings: SamplingSettings, submission: SubmissionFacts, expected: AuditReason | None) -> None:
    # The draw (0.5) is above 10%: only the rule under test can sample the chart.
    assert choose_reason(settings, submission, now=NOW, rng=Draw(0.5)) == expected


def test_random_draw_below_the_percentage_samples() -> None:
    assert choose_reason(RANDOM_ONLY, facts(), now=NOW, rng=Draw(0.0999)) is AuditReason.RANDOM
    assert choose_reason(RANDOM_ONLY, facts(), now=NOW, rng=Draw(0.10)) is None
    hundred = SamplingSettings(**{**RANDOM_ONLY.as_json(), "random_percent": 100})
    assert choose_reason(hundred, facts(), now=NOW, rng=Draw(0.999999)) is AuditReason.RANDOM


def test_random_rate_with_a_seeded_generator() -> None:
    rng = random.Random(20260301)  # noqa: S311 - a seeded draw makes the test deterministic; not security
    drawn = sum(choose_reason(RANDOM_ONLY, facts(), now=NOW, rng=rng) is AuditReason.RANDOM for _ in range(2000))
    assert 160 <= drawn <= 240  # 10% of 2,000, deterministic for this seed


def test_precedence_first_matching_rule_wins_and_draws_only_when_reached() -> None:
    everything = SamplingSettings(
        review_all=False,
        random_percent=50,
        always_new_coders=True,
        always_with_overrides=True,
        always_min_difficulty=3,
    )
    strong = facts(coder_since=NOW - timedelta(days=1), overrides=2, difficulty=5)
    order = [
        (facts(resubmission=True, coder_since=NOW, overrides=2, difficulty=5), AuditReason.RESUBMISSION),
        (strong, AuditReason.NEW_CODER),
        (facts(overrides=2, difficulty=5), AuditReason.OVERRIDES),
        (facts(difficulty=5), AuditReason.DIFFICULTY),
    ]
    for submission, expected in order:
        draw = Draw(0.0)
        assert choose_reason(everything, submission, now=NOW, rng=draw) is expected
        assert draw.calls == 0
    draw = Draw(0.0)
    assert choose_reason(everything, facts(difficulty=1), now=NOW, rng=draw) is AuditReason.RANDOM
    assert draw.calls == 1
    # A resubmission is audited whatever the policy says (even review all: the reason is the resubmission).
    assert choose_reason(SamplingSettings(), facts(resubmission=True), now=NOW, rng=Draw(0.9)) is (
        AuditReason.RESUBMISSION
    )


def test_parse_settings_accepts_a_full_policy() -> None:
    raw = {**RANDOM_ONLY.as_json(), "always_min_difficulty": 4}
    assert parse_settings(raw) == SamplingSettings(**raw)
    assert parse_settings(SamplingSettings().as_json()) == SamplingSettings()


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"random_percent": 101}, "random_percent", "from 0 to 100"),
        ({"random_percent": -1}, "random_percent", "from 0 to 100"),
        ({"random_percent": 12.5}, "random_percent", "whole number"),
        ({"random_percent": "10"}, "random_percent", "whole number"),
        ({"new_coder_days": 0}, "new_coder_days", "from 1 to 3650"),
        ({"new_coder_days": True}, "new_coder_days", "whole number"),
        ({"always_min_difficulty": 6}, "always_min_difficulty", "1 to 5, or null"),
        ({"always_min_difficulty": 0}, "always_min_difficulty", "1 to 5, or null"),
        ({"always_min_difficulty": "4"}, "always_min_difficulty", "1 to 5, or null"),
        ({"review_all": "yes"}, "review_all", "true or false"),
        ({"always_new_coders": 1}, "always_new_coders", "true or false"),
        ({"always_with_overrides": None}, "always_with_overrides", "true or false"),
        ({"sample_everything": True}, "sample_everything", "Not a sampling setting"),
    ],
)
def test_parse_settings_names_the_bad_field(change: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_settings({**SamplingSettings().as_json(), **change})
    assert list(refused.value.fields) == [field]
    assert message in refused.value.fields[field]


def test_parse_settings_reports_every_problem_at_once() -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_settings({"review_all": False, "random_percent": 500})
    assert refused.value.fields["random_percent"].startswith("A whole number from 0 to 100")
    for missing in ("always_new_coders", "new_coder_days", "always_with_overrides", "always_min_difficulty"):
        assert refused.value.fields[missing] == "Required."
    with pytest.raises(ValidationFailed, match="JSON object"):
        parse_settings([1, 2])


def test_a_policy_that_audits_nothing_is_refused() -> None:
    nothing = {**RANDOM_ONLY.as_json(), "random_percent": 0}
    with pytest.raises(ValidationFailed) as refused:
        parse_settings(nothing)
    assert "no chart would ever be audited" in refused.value.fields["random_percent"]
    assert parse_settings({**nothing, "always_min_difficulty": 5}).always_min_difficulty == 5


def test_unreadable_stored_policy_falls_back_to_review_all() -> None:
    assert sampling.stored_settings(None) == SamplingSettings()
    assert sampling.stored_settings({"review_all": "no"}) == SamplingSettings()
    assert sampling.stored_settings(RANDOM_ONLY.as_json()) == RANDOM_ONLY


def test_policy_in_words() -> None:
    example = SamplingSettings(review_all=False, always_min_difficulty=4)
    assert sampling.describe_parts(example)[0] == (
        "Reviewing: all new coders' charts, charts with overrides, difficulty ≥ 4, and 10% of the rest."
    )
    assert "new for 90 days" in sampling.describe(example)
    assert sampling.describe_parts(SamplingSettings())[0] == "Reviewing: every submitted chart."
    assert sampling.describe_parts(RANDOM_ONLY)[0] == "Reviewing: a random 10% of each coder's charts."
    two = SamplingSettings(review_all=False, random_percent=0, always_new_coders=False)
    assert sampling.describe_parts(two)[0] == "Reviewing: charts with overrides."


def test_permission_is_granted_to_supervisors_and_managers_only() -> None:
    assert Permission.AUDITS_CONFIGURE.value == "audits:configure"
    allowed = {role for role in Role if has_permission(role, Permission.AUDITS_CONFIGURE)}
    assert allowed == {Role.SUPERVISOR, Role.MANAGER}


# -- the decision at submission (real PostgreSQL) ----------------------------------------------------------


def _rows(org_id: uuid.UUID, sql: str, **params: Any) -> list[dict[str, Any]]:
    with org_scope(org_id) as scope:
        return [dict(r) for r in scope.conn.execute(text(sql), params).mappings()]


def _coded(team: Team, rows: tuple[CodeRowInput, ...] = (PNEUMONIA, DIABETES), **chart: Any) -> tuple[uuid.UUID, int]:
    (chart_id,) = insert_charts(team.org_id, [chart_row(0, **chart)])
    charts.assign(team.manager, [chart_id], [team.coder_a.user_id])
    saved = charts.save_codes(team.coder_a, chart_id, version=1, rows=rows)
    return chart_id, saved.version


def _experienced(team: Team, days: int = 400) -> None:
    """Make coder A's account ``days`` old."""
    with org_scope(team.org_id) as scope:
        scope.conn.execute(
            text("UPDATE users SET created_at = now() - make_interval(days => :d) WHERE id = :id"),
            {"d": days, "id": team.coder_a.user_id},
        )


def _policy(team: Team, **settings: Any) -> SamplingSettings:
    wanted = SamplingSettings(**{**RANDOM_ONLY.as_json(), **settings})
    saved, _ = sampling.update_settings(team.supervisor, wanted)
    return saved


def _queue_reasons(team: Team) -> dict[uuid.UUID, str]:
    return {i.chart_id: i.audit_reason for i in audit_svc.review_queue(team.supervisor).items}


@pytest.fixture
def team(runtime: bootstrap.Runtime) -> Team:
    return make_team(runtime.ctx)


@pytest.mark.slow
def test_default_policy_sends_every_chart_to_audit(team: Team) -> None:
    chart_id, version = _coded(team)
    view = charts.submit(team.coder_a, chart_id, version=version, rng=Draw(0.99))
    assert view.status is ChartStatus.PENDING_AUDIT
    assert _queue_reasons(team) == {chart_id: "all"}
    assert _rows(team.org_id, "SELECT audit_reason FROM charts WHERE id = :id", id=chart_id) == [
        {"audit_reason": "all"}
    ]


@pytest.mark.slow
def test_a_chart_not_sampled_is_completed_without_audit(team: Team) -> None:
    _experienced(team)
    _policy(team)  # random 10% only
    chart_id, version = _coded(team)
    view = charts.submit(team.coder_a, chart_id, version=version, rng=Draw(0.5))
    assert view.status is ChartStatus.COMPLETED
    assert view.completed_at is not None
    assert view.editable is False
    assert sampling.submit_message(view.status.value) == sampling.ACCEPTED_WITHOUT_AUDIT
    stored = _rows(
        team.org_id, "SELECT status, audit_reason, completed_at, submitted_at FROM charts WHERE id = :id", id=chart_id
    )[0]
    assert (stored["status"], stored["audit_reason"]) == ("completed", None)
    assert stored["completed_at"] == stored["submitted_at"]
    # Not in the queue, never claimable, no audit row.
    assert chart_id not in _queue_reasons(team)
    assert audit_svc.review_queue(team.supervisor).total == 0
    assert _rows(team.org_id, "SELECT id FROM audits WHERE chart_id = :id", id=chart_id) == []
    with pytest.raises(Conflict, match="not waiting for audit"):
        audit_svc.claim(team.supervisor, chart_id)
    # Audited and emitted like every transition.
    log = _rows(
        team.org_id,
        "SELECT action, details FROM audit_log WHERE object_id = :id ORDER BY seq DESC LIMIT 1",
        id=str(chart_id),
    )[0]
    assert log["action"] == "chart_submitted"
    assert (log["details"]["status"], log["details"]["audit_reason"]) == ("completed", None)
    events = _rows(
        team.org_id,
        "SELECT event_type, payload FROM outbox_events WHERE aggregate_id = :id ORDER BY created_at, event_type",
        id=str(chart_id),
    )
    types = [e["event_type"] for e in events]
    assert "chart.submitted" in types
    assert "chart.accepted_without_audit" in types
    accepted = next(e for e in events if e["event_type"] == "chart.accepted_without_audit")
    assert accepted["payload"]["status"] == "completed"
    assert accepted["payload"]["audit_reason"] is None
    # The chart is done: no more edits or submits.
    with pytest.raises(Conflict, match="is completed"):
        charts.submit(team.coder_a, chart_id, version=view.version)


@pytest.mark.slow
def test_each_rule_records_why_in_the_queue(team: Team) -> None:
    # Coder A is new (account created by the fixture just now).
    _policy(team, always_new_coders=True)
    new_coder, v = _coded(team)
    charts.submit(team.coder_a, new_coder, version=v, rng=Draw(0.99))
    _experienced(team)
    _policy(team, always_with_overrides=True, always_min_difficulty=4)
    override, v = _coded(team, (PNEUMONIA, DIABETES, TYPE1_OVERRIDDEN), difficulty=2)
    assert charts.submit(team.coder_a, override, version=v, rng=Draw(0.99)).status is ChartStatus.PENDING_AUDIT
    hard, v = _coded(team, difficulty=4)
    charts.submit(team.coder_a, hard, version=v, rng=Draw(0.99))
    drawn, v = _coded(team, difficulty=1)
    charts.submit(team.coder_a, drawn, version=v, rng=Draw(0.01))
    skipped, v = _coded(team, difficulty=3)
    assert charts.submit(team.coder_a, skipped, version=v, rng=Draw(0.99)).status is ChartStatus.COMPLETED
    assert _queue_reasons(team) == {
        new_coder: "new_coder",
        override: "overrides",
        hard: "difficulty",
        drawn: "random",
    }
    outbox = _rows(
        team.org_id,
        "SELECT payload FROM outbox_events WHERE aggregate_id = :id AND event_type = 'chart.submitted'",
        id=str(hard),
    )
    assert outbox[0]["payload"]["audit_reason"] == "difficulty"


@pytest.mark.slow
def test_a_resubmission_is_always_audited(team: Team) -> None:
    _experienced(team)
    chart_id, version = _coded(team)
    charts.submit(team.coder_a, chart_id, version=version)  # review all: audited
    claim = audit_svc.claim(team.supervisor, chart_id)
    codes = charts.get_chart(team.supervisor, chart_id).codes
    audit_svc.audit(
        team.supervisor,
        chart_id,
        submission_no=claim.submission_no,
        verdicts=[RowVerdict(codes[0].id, "correct"), RowVerdict(codes[1].id, "should_not_code")],
        feedback="The diabetes is not documented in this encounter.",
        decision="return",
    )
    # Now a policy under which this chart would never be drawn.
    _policy(team, random_percent=1)
    returned = charts.get_chart(team.coder_a, chart_id)
    saved = charts.save_codes(team.coder_a, chart_id, version=returned.version, rows=(PNEUMONIA,))
    view = charts.submit(team.coder_a, chart_id, version=saved.version, rng=Draw(0.99))
    assert view.status is ChartStatus.PENDING_AUDIT
    assert _queue_reasons(team) == {chart_id: "resubmission"}


@pytest.mark.slow
def test_update_settings_audits_emits_and_is_per_organisation(team: Team, runtime: bootstrap.Runtime) -> None:
    other = make_team(runtime.ctx)
    for who in (team.coder_a, team.analyst):
        with pytest.raises(PermissionDenied):
            sampling.update_settings(who, RANDOM_ONLY)
    with pytest.raises(PermissionDenied):
        sampling.get_settings(team.coder_a)
    with pytest.raises(ValidationFailed) as refused:
        sampling.update_settings(team.manager, rules(random_percent=0))
    assert "random_percent" in refused.value.fields
    saved, changed = sampling.update_settings(team.manager, RANDOM_ONLY)  # managers may configure too
    assert (saved, changed) == (RANDOM_ONLY, True)
    assert sampling.get_settings(team.supervisor) == RANDOM_ONLY
    assert sampling.get_settings(other.supervisor) == SamplingSettings()  # another organisation: untouched
    assert sampling.update_settings(team.supervisor, RANDOM_ONLY) == (RANDOM_ONLY, False)  # same again
    logged = _rows(
        team.org_id,
        "SELECT actor_id, details FROM audit_log WHERE action = 'audit_sampling_changed' AND org_id = :org",
        org=team.org_id,
    )
    assert len(logged) == 1  # the unchanged save wrote nothing
    assert logged[0]["actor_id"] == team.manager.user_id
    assert logged[0]["details"]["before"]["review_all"] is True
    assert logged[0]["details"]["after"] == RANDOM_ONLY.as_json()
    events = _rows(team.org_id, "SELECT payload FROM outbox_events WHERE event_type = 'audit_sampling.changed'")
    assert len(events) == 1
    assert events[0]["payload"]["after"]["random_percent"] == 10
    # The policy sits beside the organisation's other settings, which it leaves alone.
    with org_scope(team.org_id) as scope:
        scope.conn.execute(
            text('UPDATE organizations SET settings = settings || \'{"theme": "dark"}\'::jsonb WHERE id = :id'),
            {"id": team.org_id},
        )
    sampling.update_settings(team.supervisor, SamplingSettings())
    stored = _rows(team.org_id, "SELECT settings FROM organizations WHERE id = :id", id=team.org_id)[0]["settings"]
    assert stored == {"theme": "dark", "audit_sampling": SamplingSettings().as_json()}


# -- the API (live server) ------------------------------------------------------------------------------


api_team = login_team_fixture()
api_other = login_team_fixture()


@pytest.fixture(scope="module")
def clients(live_server: LiveServer, api_team: Team, api_other: Team) -> Any:
    people = {
        "supervisor": api_team.supervisor,
        "manager": api_team.manager,
        "coder": api_team.coder_a,
        "analyst": api_team.analyst,
        "other_supervisor": api_other.supervisor,
    }
    with signed_in_clients(live_server.url, people) as made:
        yield made


def _put(c: Client, body: Any, *, csrf: bool = True) -> httpx.Response:
    headers = {**(c.csrf() if csrf else {}), "Accept": "application/json"}
    return c.put("/api/v1/audits/sampling", json=body, headers=headers)


@pytest.mark.slow
def test_api_reads_and_replaces_the_policy(clients: dict[str, Client], api_team: Team) -> None:
    first = get_json(clients["supervisor"], "/api/v1/audits/sampling")
    assert first.status_code == 200
    assert first.json() == {
        "settings": SamplingSettings().as_json(),
        "description": sampling.describe(SamplingSettings()),
    }
    wanted = {**RANDOM_ONLY.as_json(), "always_new_coders": True, "always_min_difficulty": 4}
    put = _put(clients["supervisor"], wanted)
    assert put.status_code == 200, put.text
    assert put.json()["settings"] == wanted
    assert put.json()["description"].startswith("Reviewing: all new coders' charts, difficulty ≥ 4, and 10% of")
    assert get_json(clients["manager"], "/api/v1/audits/sampling").json()["settings"] == wanted
    # Another organisation's supervisor reads and writes only their own policy.
    assert get_json(clients["other_supervisor"], "/api/v1/audits/sampling").json()["settings"] == (
        SamplingSettings().as_json()
    )
    assert _put(clients["other_supervisor"], RANDOM_ONLY.as_json()).status_code == 200
    assert sampling.get_settings(api_team.supervisor) == SamplingSettings(**wanted)
    assert _put(clients["manager"], SamplingSettings().as_json()).status_code == 200


@pytest.mark.slow
def test_api_bad_input_names_each_field_and_stores_nothing(clients: dict[str, Client], api_team: Team) -> None:
    before = sampling.get_settings(api_team.supervisor)
    bad = {**SamplingSettings().as_json(), "random_percent": 150, "new_coder_days": "ninety", "extra": 1}
    r = _put(clients["supervisor"], bad)
    assert r.status_code == 400
    fields = r.json()["error"]["fields"]
    assert set(fields) == {"random_percent", "new_coder_days", "extra"}
    assert "0 to 100" in fields["random_percent"]
    missing = _put(clients["supervisor"], {"review_all": False})
    assert missing.status_code == 400
    assert missing.json()["error"]["fields"]["random_percent"] == "Required."
    not_json = clients["supervisor"].put(
        "/api/v1/audits/sampling",
        content=b"review_all=false",
        headers={**clients["supervisor"].csrf(), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert not_json.status_code == 415
    assert sampling.get_settings(api_team.supervisor) == before


@pytest.mark.slow
def test_api_refuses_coders_analysts_strangers_and_cross_site_writes(
    clients: dict[str, Client], api_team: Team
) -> None:
    body = RANDOM_ONLY.as_json()
    for role in ("coder", "analyst"):
        assert get_json(clients[role], "/api/v1/audits/sampling").status_code == 403
        assert _put(clients[role], body).status_code == 403
    assert get_json(clients["anonymous"], "/api/v1/audits/sampling").status_code == 401
    assert _put(clients["supervisor"], body, csrf=False).status_code == 403  # no CSRF token
    cross_site = clients["supervisor"].put(
        "/api/v1/audits/sampling",
        json=body,
        headers={**clients["supervisor"].csrf(), "Origin": "https://evil.example", "Accept": "application/json"},
    )
    assert cross_site.status_code == 403
    assert sampling.get_settings(api_team.supervisor) != RANDOM_ONLY


@pytest.mark.slow
def test_api_submit_says_accepted_without_audit_and_queue_shows_why(
    clients: dict[str, Client], api_team: Team, live_server: LiveServer
) -> None:
    coder, supervisor = clients["coder"], clients["supervisor"]
    # Only charts of difficulty 5 (or of new coders) are audited; the rest is never drawn (0%).
    policy = {**RANDOM_ONLY.as_json(), "random_percent": 0, "always_new_coders": True, "always_min_difficulty": 5}
    assert _put(supervisor, policy).status_code == 200
    _experienced(api_team)
    try:
        easy, v1 = _coded(api_team, difficulty=1)
        hard, v2 = _coded(api_team, difficulty=5)
        send = {**coder.csrf(), "Accept": "application/json"}
        accepted = coder.post(f"/api/v1/charts/{easy}/submit", json={"version": v1}, headers=send)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["status"] == "completed"
        assert accepted.json()["message"].startswith("Accepted without audit")
        audited = coder.post(f"/api/v1/charts/{hard}/submit", json={"version": v2}, headers=send)
        assert (audited.json()["status"], audited.json()["message"]) == ("pending_audit", "Submitted for audit.")
        items = {i["chart_id"]: i for i in get_json(supervisor, "/api/v1/audits/queue").json()["items"]}
        assert str(easy) not in items
        assert (items[str(hard)]["audit_reason"], items[str(hard)]["audit_reason_label"]) == (
            "difficulty",
            "High difficulty",
        )
    finally:
        assert _put(supervisor, SamplingSettings().as_json()).status_code == 200


@pytest.mark.slow
def test_openapi_documents_sampling(clients: dict[str, Client]) -> None:
    doc = get_json(clients["anonymous"], "/api/v1/openapi.json").json()
    path = doc["paths"]["/api/v1/audits/sampling"]
    assert {"get", "put"} <= set(path)
    assert path["put"]["security"] == [{"session": [], "csrf": []}]
    schema = doc["components"]["schemas"]["AuditSamplingSettings"]
    assert set(schema["required"]) == set(sampling.FIELDS)
    queue_item = doc["components"]["schemas"]["ReviewQueue"]["properties"]["items"]["items"]
    assert queue_item["properties"]["audit_reason"]["enum"] == [r.value for r in AuditReason]


# -- the /review page as plain objects -------------------------------------------------------------------


def _shown(widget: Any) -> bool:
    return bool(widget.visible)


def _disabled(widget: Any) -> bool:
    return bool(widget.disabled)


@pytest.mark.slow
def test_review_page_shows_the_card_and_why(runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    page_team = make_team(runtime.ctx, logins=True)
    chart_id, version = _coded(page_team)
    charts.submit(page_team.coder_a, chart_id, version=version)
    p = signed_in(runtime, monkeypatch, page_team.supervisor)
    page = ReviewPage(principal=p, ctx=runtime.ctx, nav=NAV)
    card = page.sampling
    assert "Reviewing: every submitted chart." in card.summary.object
    assert card.edit_button.visible
    assert not _shown(card.form)
    rows_html = " ".join(getattr(o, "object", "") for row in page.rows.objects for o in row.select(pn.pane.HTML))
    assert ">Why<" in rows_html
    assert ">All charts<" in rows_html
    # Change it: review all off, difficulty 4 and above, 10% of the rest.
    card._open(None)
    assert _shown(card.form)
    assert _disabled(card.random_percent)  # rules only apply once review all is off
    card.review_all.value = False
    assert not _disabled(card.random_percent)
    card.difficulty.value = "4"
    assert run_settled(card.save()) is True
    assert sampling.get_settings(page_team.supervisor).always_min_difficulty == 4
    assert "difficulty ≥ 4, and 10% of the rest." in card.summary.object
    assert not _shown(card.form)
    assert "applies to charts submitted from now on" in card.notice.object
    # A bad value is refused with the problem on its field; nothing is stored, the form stays open.
    card._open(None)
    card.new_coder_days.value = 0
    assert run_settled(card.save()) is False
    assert _shown(card.form)
    assert card.new_coder_days.error_state
    assert "days from 1 to 3650" in (card.new_coder_days.helper_text or "")
    assert sampling.get_settings(page_team.supervisor).new_coder_days == 90
    # Managers may change it too; the card is the same.
    manager = signed_in(runtime, monkeypatch, page_team.manager)
    watcher = ReviewPage(principal=manager, ctx=runtime.ctx, nav=NAV)
    assert watcher.sampling.can_edit
    assert "difficulty ≥ 4" in watcher.sampling.summary.object
    # Lays out, card included (last: once it has Bokeh models, changes are sent to a document).
    pn.Column(watcher).get_root()


# -- browser ------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.browser
def test_browser_supervisor_changes_the_sampling_policy(
    chromium_browser: Any, live_server: LiveServer, runtime: bootstrap.Runtime
) -> None:
    from playwright.sync_api import expect

    browser_team = make_team(runtime.ctx, logins=True)
    for difficulty in (2, 4):
        chart_id, version = _coded(browser_team, difficulty=difficulty)
        charts.submit(browser_team.coder_a, chart_id, version=version)
    SHOTS.mkdir(exist_ok=True)
    page = browser_signed_in(chromium_browser, live_server.url, browser_team.supervisor.email)
    expect(page).to_have_url(re.compile(r"/review$"))
    card = page.locator(".sc-sampling-card")
    expect(card).to_contain_text("Reviewing: every submitted chart.")
    expect(page.locator(".sc-review-row").first).to_contain_text("All charts")
    page.screenshot(path=str(SHOTS / "review-sampling.png"))
    card.locator(".sc-sampling-edit button").click()
    form = page.locator(".sc-sampling-form")
    expect(form).to_be_visible()
    form.locator(".sc-sampling-all input").click()  # review all: off
    form.locator(".sc-sampling-difficulty [role=combobox]").click()
    page.get_by_role("menuitem", name="4 or higher").click()
    page.screenshot(path=str(SHOTS / "review-sampling-edit.png"))
    form.locator(".sc-sampling-save button").click()
    expect(card).to_contain_text(
        "Reviewing: all new coders' charts, charts with overrides, difficulty ≥ 4, and 10% of the rest."
    )
    expect(page.locator(".sc-sampling-notice")).to_contain_text("Saved.")
    expect(form).to_be_hidden()
    page.mouse.move(700, 800)
    page.screenshot(path=str(SHOTS / "review-sampling-saved.png"))
    assert sampling.get_settings(browser_team.supervisor).always_min_difficulty == 4
    page.context.close()


@pytest.mark.slow
@pytest.mark.browser
def test_browser_coder_is_told_a_chart_was_accepted_without_audit(
    chromium_browser: Any, live_server: LiveServer, runtime: bootstrap.Runtime
) -> None:
    from playwright.sync_api import expect

    # Under this policy an easy chart of an experienced coder, with no override, is never drawn.
    browser_team = make_team(runtime.ctx, logins=True)
    sampling.update_settings(browser_team.supervisor, rules(random_percent=0, always_min_difficulty=5))
    _experienced(browser_team)
    easy, _ = _coded(browser_team, difficulty=1)
    SHOTS.mkdir(exist_ok=True)
    coder = browser_signed_in(chromium_browser, live_server.url, browser_team.coder_a.email)
    expect(coder).to_have_url(re.compile(r"/queue$"))
    coder.goto(f"{live_server.url}/chart?id={easy}")
    submit = coder.locator(".sc-submit button")
    expect(submit).to_be_enabled()
    submit.click()
    expect(coder).to_have_url(re.compile(r"/queue\?submitted=accepted$"))
    expect(coder.locator(".sc-queue-submitted")).to_contain_text("Accepted without audit")
    coder.screenshot(path=str(SHOTS / "queue-accepted-without-audit.png"))
    assert charts.get_chart(browser_team.coder_a, easy).status is ChartStatus.COMPLETED
    assert audit_svc.review_queue(browser_team.supervisor).total == 0
    coder.context.close()
