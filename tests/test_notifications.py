"""In-app notifications: the service (``app.services.notifications``) and ``/api/v1/notifications``.

Decisions these tests pin:

- a user reads and marks only their own notifications: another user's of the same organisation
  and another organisation's are never listed, and marking their ids read changes nothing and
  answers exactly like an unknown id (``marked: 0``);
- lists put unread notifications first, newest first; the unread count is over all of them;
- marking read is not audited (docs/adr/0012-in-app-notifications.md): no audit row, no event;
- the API answers 401 to anonymous callers and refuses a POST without the session's CSRF token.

Data: fresh organisations from ``tests.chart_fixtures.make_team``; notifications are written by a
real assignment (``charts.assign``) or, for exact timestamps, by the datalayer's own insert.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from app import bootstrap
from app.authz import Principal
from app.errors import ValidationFailed
from app.services import charts as chart_actions
from app.services import notifications as svc
from datalayer.queries import notifications as notification_rows
from datalayer.scope import org_scope
from tests.chart_fixtures import Team, make_team
from tests.conftest import Client, LiveServer

pytestmark = pytest.mark.slow


def _note(who: Principal, title: str, *, minutes_ago: int = 0) -> uuid.UUID:
    note_id = uuid.uuid4()
    with org_scope(who.org_id) as scope:
        notification_rows.insert(
            scope,
            notification_id=note_id,
            user_id=who.user_id,
            kind="test",
            title=title,
            body="",
            link=None,
            now=datetime.now(UTC) - timedelta(minutes=minutes_ago),
        )
    return note_id


def _count(org_id: uuid.UUID, sql: str) -> int:
    with org_scope(org_id) as scope:
        return int(scope.conn.execute(text(sql), {"org": org_id}).scalar_one())


# -- service ----------------------------------------------------------------------------------------


@pytest.fixture
def team(runtime: bootstrap.Runtime) -> Team:
    return make_team(runtime.ctx)


@pytest.fixture
def other(runtime: bootstrap.Runtime) -> Team:
    return make_team(runtime.ctx)


def test_an_assignment_notifies_the_coder_and_no_one_else(team: Team, other: Team) -> None:
    chart_actions.assign(team.manager, team.charts(3), [team.coder_a.user_id])
    inbox = svc.unread(team.coder_a)
    assert inbox.unread == 1
    (note,) = inbox.items
    assert (note.kind, note.title, note.link) == ("charts_assigned", "3 new charts assigned to you", "/queue")
    assert "Maya Manager" in note.body
    for someone in (team.coder_b, team.manager, team.supervisor, team.analyst, other.coder_a, other.manager):
        assert svc.unread(someone) == svc.Inbox(items=[], unread=0)
        assert svc.list_notifications(someone).items == []


def test_unread_is_newest_first_and_counts_beyond_the_limit(team: Team) -> None:
    ids = [_note(team.coder_a, f"note {n}", minutes_ago=10 - n) for n in range(4)]
    inbox = svc.unread(team.coder_a, limit=2)
    assert [n.id for n in inbox.items] == [ids[3], ids[2]]
    assert inbox.unread == 4
    assert svc.unread_count(team.coder_a) == 4


def test_mark_read_by_id_then_list_puts_unread_first(team: Team) -> None:
    old, middle, new = (_note(team.coder_a, t, minutes_ago=m) for t, m in (("old", 30), ("middle", 20), ("new", 10)))
    assert svc.mark_read(team.coder_a, [new, new]) == 1
    assert svc.mark_read(team.coder_a, [new]) == 0  # already read: harmless
    inbox = svc.list_notifications(team.coder_a)
    assert [n.id for n in inbox.items] == [middle, old, new]
    assert [n.read_at is None for n in inbox.items] == [True, True, False]
    assert inbox.unread == 2
    assert [n.id for n in svc.list_notifications(team.coder_a, unread_only=True).items] == [middle, old]
    assert svc.mark_read(team.coder_a, svc.ALL) == 2
    assert svc.unread(team.coder_a).unread == 0
    assert len(svc.list_notifications(team.coder_a).items) == 3


def test_another_users_or_organisations_notification_cannot_be_marked(team: Team, other: Team) -> None:
    colleague = _note(team.coder_b, "for B")
    foreign = _note(other.coder_a, "other organisation")
    unknown = uuid.uuid4()
    for ids in ([colleague], [foreign], [unknown]):
        assert svc.mark_read(team.coder_a, ids) == 0  # the same answer for all three
    assert svc.mark_read(team.coder_a, svc.ALL) == 0
    assert [n.id for n in svc.unread(team.coder_b).items] == [colleague]
    assert [n.id for n in svc.unread(other.coder_a).items] == [foreign]


def test_marking_read_is_not_audited(team: Team) -> None:
    _note(team.coder_a, "a")
    audit_rows = "SELECT count(*) FROM audit_log WHERE org_id = :org"
    events = "SELECT count(*) FROM outbox_events WHERE org_id = :org"
    before = (_count(team.org_id, audit_rows), _count(team.org_id, events))
    assert svc.mark_read(team.coder_a, svc.ALL) == 1
    assert (_count(team.org_id, audit_rows), _count(team.org_id, events)) == before


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda p: svc.unread(p, limit=0), "limit"),
        (lambda p: svc.list_notifications(p, limit=svc.MAX_LIMIT + 1), "limit"),
        (lambda p: svc.mark_read(p, [uuid.uuid4() for _ in range(svc.MAX_IDS + 1)]), "ids"),
        (lambda p: svc.mark_read(p, "everything"), "ids"),
    ],
)
def test_bad_input_is_refused(team: Team, call: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        call(team.coder_a)
    assert field in info.value.fields


def test_empty_id_list_marks_nothing(team: Team) -> None:
    _note(team.coder_a, "a")
    assert svc.mark_read(team.coder_a, []) == 0
    assert svc.unread_count(team.coder_a) == 1


# -- API --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api_team(runtime: bootstrap.Runtime) -> Team:
    return make_team(runtime.ctx, logins=True)


@pytest.fixture(scope="module")
def clients(live_server: LiveServer, api_team: Team) -> Iterator[dict[str, Client]]:
    made: dict[str, Client] = {}
    for name in ("coder_a", "coder_b", "analyst"):
        c = Client(base_url=live_server.url, follow_redirects=False, timeout=30)
        assert c.login(getattr(api_team, name).email).status_code == 200
        made[name] = c
    made["anonymous"] = Client(base_url=live_server.url, follow_redirects=False, timeout=30)
    yield made
    for c in made.values():
        c.close()


def _read(c: Client, body: Any, *, csrf: bool = True) -> Any:
    headers = {**(c.csrf() if csrf else {}), "Accept": "application/json"}
    return c.post("/api/v1/notifications/read", json=body, headers=headers)


def test_api_anonymous_is_401(clients: dict[str, Client]) -> None:
    anon = clients["anonymous"]
    r = anon.get("/api/v1/notifications", headers={"Accept": "application/json"})
    assert r.status_code == 401
    assert r.json()["error"]["code"]
    anon.get("/login")  # an anonymous CSRF token passes the CSRF check; the session check still refuses
    assert _read(anon, {"all": True}).status_code == 401


def test_api_lists_and_marks_own_notifications(clients: dict[str, Client], api_team: Team) -> None:
    chart_actions.assign(api_team.manager, api_team.charts(2), [api_team.coder_a.user_id])
    older = _note(api_team.coder_a, "older", minutes_ago=60)
    coder = clients["coder_a"]
    body = coder.get("/api/v1/notifications").json()
    assert body["unread"] == 2
    assert [n["title"] for n in body["items"]] == ["2 new charts assigned to you", "older"]
    assert body["items"][0]["read_at"] is None
    assert set(body["items"][0]) == {"id", "kind", "title", "body", "link", "created_at", "read_at"}
    r = _read(coder, {"ids": [str(older)]})
    assert r.status_code == 200, r.text
    assert r.json() == {"marked": 1, "unread": 1}
    items = coder.get("/api/v1/notifications").json()["items"]
    assert [(n["title"], n["read_at"] is None) for n in items] == [
        ("2 new charts assigned to you", True),
        ("older", False),
    ]
    assert [n["title"] for n in coder.get("/api/v1/notifications?unread=true&limit=5").json()["items"]] == [
        "2 new charts assigned to you"
    ]
    assert _read(coder, {"all": True}).json() == {"marked": 1, "unread": 0}


def test_api_cannot_see_or_mark_another_users(clients: dict[str, Client], api_team: Team) -> None:
    theirs = _note(api_team.coder_b, "for B only")
    assert clients["analyst"].get("/api/v1/notifications").json() == {"items": [], "unread": 0}
    assert _read(clients["coder_a"], {"ids": [str(theirs)]}).json()["marked"] == 0
    assert _read(clients["coder_a"], {"ids": [str(uuid.uuid4())]}).json()["marked"] == 0
    mine = clients["coder_b"].get("/api/v1/notifications?unread=true").json()
    assert str(theirs) in {n["id"] for n in mine["items"]}


def test_api_post_needs_the_csrf_token(clients: dict[str, Client], api_team: Team) -> None:
    note = _note(api_team.coder_b, "keep me unread")
    coder = clients["coder_b"]
    for headers in ({}, {"X-XSRFToken": "not-the-token"}, {**coder.csrf(), "Origin": "http://evil.example"}):
        r = coder.post(
            "/api/v1/notifications/read", json={"all": True}, headers={"Accept": "application/json", **headers}
        )
        assert r.status_code == 403, (headers, r.text)
    unread = coder.get("/api/v1/notifications?unread=true").json()["items"]
    assert str(note) in {n["id"] for n in unread}


@pytest.mark.parametrize(
    "body",
    [{}, {"ids": [], "all": True}, {"ids": "x"}, {"ids": ["not-a-uuid"]}, {"all": False}, {"all": True, "who": 1}],
)
def test_api_bad_bodies_are_400(clients: dict[str, Client], body: Any) -> None:
    assert _read(clients["coder_a"], body).status_code == 400


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "unread=yes", "user_id=1", "limit=1&limit=2"])
def test_api_bad_queries_are_400(clients: dict[str, Client], query: str) -> None:
    assert clients["coder_a"].get(f"/api/v1/notifications?{query}").status_code == 400


def test_api_post_needs_json(clients: dict[str, Client]) -> None:
    coder = clients["coder_a"]
    r = coder.post(
        "/api/v1/notifications/read", content=b"all=true", headers={**coder.csrf(), "Content-Type": "text/plain"}
    )
    assert r.status_code == 415


def test_openapi_documents_the_notification_routes(clients: dict[str, Client]) -> None:
    doc = clients["anonymous"].get("/api/v1/openapi.json").json()
    assert set(doc["paths"]["/api/v1/notifications"]) == {"get"}
    assert set(doc["paths"]["/api/v1/notifications/read"]) == {"post"}
    assert doc["paths"]["/api/v1/notifications/read"]["post"]["security"] == [{"session": [], "csrf": []}]
    for name in ("Notification", "Notifications", "NotificationsRead"):
        assert name in doc["components"]["schemas"]
