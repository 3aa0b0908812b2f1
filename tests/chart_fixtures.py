"""Chart data for the coder-workflow tests: a small organisation with a manager, three coders, a
supervisor and an analyst, and charts written with the importer's own insert
(``datalayer.queries.charts.insert_imported``) so every field is chosen by the test.

    org (fresh per test that changes state)
      manager  · coder A · coder B · coder C (deactivated where a test needs it) · supervisor · analyst
      charts   draft, unassigned unless a test assigns them; age 64, sex F; specialty/difficulty vary
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from app import bootstrap
from app.authz import Principal, Role
from app.services import charts as chart_actions
from app.services.chart_types import CodeRowInput
from datalayer.queries import charts, users
from datalayer.scope import org_scope
from tests.conftest import Client, make_org, make_user


def principal(
    org_id: uuid.UUID, user_id: uuid.UUID, role: Role, name: str = "Test User", email: str | None = None
) -> Principal:
    return Principal(
        user_id=user_id,
        org_id=org_id,
        role=role,
        name=name,
        email=email or f"{user_id.hex[:8]}@example.test",
        session_id=uuid.uuid4(),
    )


def chart_row(n: int, **overrides: Any) -> dict[str, Any]:
    start = datetime(2025, 1, 1, 8, tzinfo=UTC) + timedelta(days=n)
    row: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "source_patient_id": f"patient-{n}",
        "source_encounter_id": f"enc-{uuid.uuid4()}",
        "patient_age_years": 64,
        "patient_sex": "F",
        "record_type": "other",
        "discharged_alive": True,
        "encounter_class": "IMP",
        "encounter_type": "Hospital admission",
        "encounter_reason": "Pneumonia",
        "encounter_start": start.isoformat(),
        "encounter_end": (start + timedelta(days=3)).isoformat(),
        "provider_name": "Dr. Test",
        "facility_name": "Test Hospital",
        "specialty": ("Internal medicine", "Cardiology", "Pulmonology")[n % 3],
        "difficulty": 1 + n % 5,
        "payload": {"resourceType": "Encounter", "id": f"enc-{n}"},
        "clinical_note": f"Synthetic note {n}.",
    }
    row.update(overrides)
    return row


def insert_charts(
    org_id: uuid.UUID, rows: list[dict[str, Any]], import_job_id: uuid.UUID | None = None
) -> list[uuid.UUID]:
    """Insert the rows in order; returns their ids in the same order (created_at increases)."""
    ids: list[uuid.UUID] = []
    for row in rows:  # one statement each, so created_at orders them
        with org_scope(org_id) as scope:
            created = charts.insert_imported(scope, rows_json=orjson.dumps([row]), import_job_id=import_job_id)
        ids.append(created[row["source_encounter_id"]])
    return ids


@dataclass
class Team:
    org_id: uuid.UUID
    manager: Principal
    coder_a: Principal
    coder_b: Principal
    coder_c: Principal
    supervisor: Principal
    analyst: Principal

    def charts(self, n: int, **overrides: Any) -> list[uuid.UUID]:
        return insert_charts(self.org_id, [chart_row(i, **overrides) for i in range(n)])

    def submitted(self, rows: Sequence[CodeRowInput], **overrides: Any) -> uuid.UUID:
        """One new chart (``chart_row`` with ``overrides``) assigned to coder A, coded with ``rows`` and
        submitted, through the chart actions."""
        (chart_id,) = self.charts(1, **overrides)
        chart_actions.assign(self.manager, [chart_id], [self.coder_a.user_id])
        saved = chart_actions.save_codes(self.coder_a, chart_id, version=1, rows=rows)
        chart_actions.submit(self.coder_a, chart_id, version=saved.version)
        return chart_id


def _user_without_password(org_id: uuid.UUID, role: Role, name: str, email: str) -> uuid.UUID:
    with org_scope(org_id) as scope:
        user = users.insert(
            scope,
            user_id=uuid.uuid4(),
            email=email,
            name=name,
            role=role,
            password_hash=None,
            now=datetime.now(UTC),
        )
    return user.id


def make_team(ctx: Any, *, logins: bool = False) -> Team:
    """A fresh organisation and its people; ``logins`` gives them the fixture PASSWORD (slower: argon2)."""
    org_id = make_org()

    def person(role: Role, name: str) -> Principal:
        email = f"{role.value}-{uuid.uuid4().hex[:10]}@example.test"
        if logins:
            user_id = make_user(ctx, org_id, role, name=name, email=email)
        else:
            user_id = _user_without_password(org_id, role, name, email)
        return principal(org_id, user_id, role, name, email)

    return Team(
        org_id=org_id,
        manager=person(Role.MANAGER, "Maya Manager"),
        coder_a=person(Role.CODER, "Ada Coder"),
        coder_b=person(Role.CODER, "Ben Coder"),
        coder_c=person(Role.CODER, "Cy Coder"),
        supervisor=person(Role.SUPERVISOR, "Sam Supervisor"),
        analyst=person(Role.ANALYST, "Avery Analyst"),
    )


def login_team_fixture() -> Any:
    """A module-scoped fixture of a fresh ``make_team(logins=True)``: bind it to the name the module's
    tests ask for (``team = login_team_fixture()``); pytest registers a fixture by that name."""

    @pytest.fixture(scope="module")
    def fixture(runtime: bootstrap.Runtime) -> Team:
        return make_team(runtime.ctx, logins=True)

    return fixture


@contextmanager
def signed_in_clients(base_url: str, people: dict[str, Any]) -> Iterator[dict[str, Client]]:
    """One signed-in API client per named person (anything with an ``email``), plus "anonymous"."""
    made: dict[str, Client] = {}
    try:
        for name, person in people.items():
            c = Client(base_url=base_url, follow_redirects=False, timeout=30)
            made[name] = c
            assert c.login(person.email).status_code == 200
        made["anonymous"] = Client(base_url=base_url, follow_redirects=False, timeout=30)
        yield made
    finally:
        for c in made.values():
            c.close()


def send_json(c: Client, method: str, path: str, body: Any) -> httpx.Response:
    """An API call with a JSON body and the CSRF header, asking for a JSON answer."""
    return c.request(method, path, json=body, headers={**c.csrf(), "Accept": "application/json"})


def post_json(c: Client, path: str, body: Any) -> httpx.Response:
    return send_json(c, "POST", path, body)


def get_json(c: Client, path: str) -> httpx.Response:
    return c.get(path, headers={"Accept": "application/json"})
