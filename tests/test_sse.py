"""``GET /api/v1/events`` over real HTTP against the live server: the counters at once, an update
after a coder submits a chart (published by the real outbox relay through Redis), nothing from
another organisation (SECURITY A6), heartbeats, the end of the stream when the session is revoked,
the listener removed when a client goes away, and the API's usual 401/403.

Each stream is read on a thread of its own into a ``Stream`` that a test waits on (bounded waits,
never timing assertions). The live server runs no scheduler: the test runs the relay itself.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest

from app import bootstrap
from app.jobs.outbox_relay import RelayPolicy, relay
from app.services import charts as chart_actions
from app.services import live_counters
from app.services.chart_types import CodeRowInput
from tests.chart_fixtures import Team, make_team
from tests.conftest import Client, LiveServer

pytestmark = pytest.mark.slow

PNEUMONIA = CodeRowInput("diagnosis", "J18.9", "Chest X-ray shows lobar consolidation.", is_principal=True)
WAIT = 15.0
SSE = {"Accept": "text/event-stream"}


@dataclass
class Event:
    name: str  # "counters", "end", or "comment" for a ": ..." line
    data: Any


@dataclass
class Stream:
    """Events read from one open stream (on a reader thread)."""

    response: httpx.Response | None = None
    events: list[Event] = field(default_factory=list)
    done: bool = False
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def add(self, event: Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def finish(self) -> None:
        with self._cond:
            self.done = True
            self._cond.notify_all()

    def wait_for(self, check: Callable[[Event], bool], timeout: float = WAIT) -> Event:
        with self._cond:
            ok = self._cond.wait_for(lambda: any(check(e) for e in self.events), timeout)
            assert ok, f"not seen; events so far: {self.events}"
            return next(e for e in self.events if check(e))

    def wait_done(self, timeout: float = WAIT) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self.done, timeout), "the stream did not end"

    def counters(self) -> list[dict[str, Any]]:
        with self._cond:
            return [e.data for e in self.events if e.name == "counters"]


def _read(client: Client, stream: Stream, ready: threading.Event) -> None:
    try:
        with client.stream("GET", "/api/v1/events", headers=SSE) as r:
            stream.response = r
            ready.set()
            name, data = "message", []
            for line in r.iter_lines():
                if line.startswith(":"):
                    stream.add(Event("comment", line[1:].strip()))
                elif line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "" and data:
                    stream.add(Event(name, orjson.loads("\n".join(data))))
                    name, data = "message", []
    except httpx.HTTPError:
        pass  # closed by the test
    finally:
        ready.set()
        stream.finish()


@contextmanager
def open_stream(client: Client) -> Iterator[Stream]:
    stream, ready = Stream(), threading.Event()
    reader = threading.Thread(target=_read, args=(client, stream, ready), daemon=True)
    reader.start()
    assert ready.wait(WAIT)
    try:
        yield stream
    finally:
        client.close()  # ends the read; the server notices the closed connection
        reader.join(WAIT)


def _client(live_server: LiveServer, email: str | None = None) -> Client:
    c = Client(base_url=live_server.url, follow_redirects=False, timeout=10)
    if email is not None:
        assert c.login(email).status_code == 200
    return c


def _submit(team: Team, chart_id: uuid.UUID) -> None:
    saved = chart_actions.save_codes(team.coder_a, chart_id, version=1, rows=[PNEUMONIA])
    chart_actions.submit(team.coder_a, chart_id, version=saved.version)


def _publish(runtime: bootstrap.Runtime, org_id: uuid.UUID) -> None:
    relay(RelayPolicy.from_settings(runtime.settings), only_orgs=[org_id])


def _wait_until(check: Callable[[], bool]) -> bool:
    done = threading.Event()
    for _ in range(int(WAIT / 0.05)):
        if check():
            return True
        done.wait(0.05)
    return check()


@pytest.fixture(scope="module")
def teams(runtime: bootstrap.Runtime, live_server: LiveServer) -> tuple[Team, Team]:
    return make_team(runtime.ctx, logins=True), make_team(runtime.ctx, logins=True)


def test_counters_at_once_then_after_a_submit_and_not_to_another_org(
    teams: tuple[Team, Team], live_server: LiveServer, runtime: bootstrap.Runtime
) -> None:
    alpha, beta = teams
    (chart_id,) = alpha.charts(1)
    chart_actions.assign(alpha.manager, [chart_id], [alpha.coder_a.user_id])
    (beta_chart,) = beta.charts(1)
    with (
        open_stream(_client(live_server, alpha.manager.email)) as a,
        open_stream(_client(live_server, beta.manager.email)) as b,
    ):
        assert a.response is not None
        assert a.response.status_code == 200
        assert a.response.headers["content-type"].startswith("text/event-stream")
        assert a.response.headers["x-accel-buffering"] == "no"
        assert a.response.headers["cache-control"] == "no-store"
        first = a.wait_for(lambda e: e.name == "counters").data
        assert first["org_id"] == str(alpha.org_id)
        assert (first["queue"]["draft"], first["queue"]["pending_audit"]) == (1, 0)
        b.wait_for(lambda e: e.name == "counters")
        assert live_counters.hub().wait_connected(WAIT)

        _submit(alpha, chart_id)
        _publish(runtime, alpha.org_id)
        update = a.wait_for(lambda e: e.name == "counters" and e.data["queue"]["pending_audit"] == 1).data
        assert (update["queue"]["draft"], update["today"]["submitted"]) == (0, 1)

        # Then a change in beta, which beta's stream shows; alpha's change never reached it.
        chart_actions.assign(beta.manager, [beta_chart], [beta.coder_a.user_id])
        _publish(runtime, beta.org_id)
        b.wait_for(lambda e: e.name == "counters" and e.data["queue"]["unassigned"] == 0)
        assert {c["org_id"] for c in b.counters()} == {str(beta.org_id)}
        assert all(c["queue"]["pending_audit"] == 0 and c["today"]["submitted"] == 0 for c in b.counters())
        assert {c["org_id"] for c in a.counters()} == {str(alpha.org_id)}
        a.wait_for(lambda e: e.name == "comment" and e.data == "keep-alive")  # SESSION_WATCHDOG_SECONDS = 1
    # Both clients are gone: their listeners are removed.
    hub = live_counters.hub()
    assert _wait_until(lambda: hub.listener_count(alpha.org_id) == 0 and hub.listener_count(beta.org_id) == 0)


def test_stream_ends_when_the_session_is_revoked(teams: tuple[Team, Team], live_server: LiveServer) -> None:
    alpha, _ = teams
    watcher = _client(live_server, alpha.manager.email)
    same_session = _client(live_server)
    same_session.cookies.update(watcher.cookies)
    with open_stream(watcher) as s:
        s.wait_for(lambda e: e.name == "counters")
        r = same_session.post("/logout", headers=same_session.csrf())
        assert r.status_code in (200, 302, 303), r.text
        end = s.wait_for(lambda e: e.name == "end")
        assert end.data == {"reason": "session_ended"}
        s.wait_done()
    # Reconnecting with the revoked cookie is refused like any unauthenticated request.
    with _client(live_server) as again:
        again.cookies.update(same_session.cookies)
        assert again.get("/api/v1/events", headers=SSE).status_code == 401
    same_session.close()


def test_json_snapshot_for_non_stream_clients_and_analysts(teams: tuple[Team, Team], live_server: LiveServer) -> None:
    alpha, _ = teams
    for person in (alpha.manager, alpha.analyst):
        c = _client(live_server, person.email)
        r = c.get("/api/v1/events", headers={"Accept": "application/json"})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/json")
        assert r.json()["org_id"] == str(alpha.org_id)
        assert set(r.json()["queue"]) >= {"draft", "pending_audit", "returned", "completed", "unassigned", "aging"}
        c.close()


@pytest.mark.parametrize("accept", ["text/event-stream", "application/json"])
def test_unauthenticated_401_and_other_roles_403(
    teams: tuple[Team, Team], live_server: LiveServer, accept: str
) -> None:
    alpha, _ = teams
    with _client(live_server) as anonymous:
        r = anonymous.get("/api/v1/events", headers={"Accept": accept})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "not_authenticated"
    for person in (alpha.coder_a, alpha.supervisor):
        c = _client(live_server, person.email)
        denied = c.get("/api/v1/events", headers={"Accept": accept})
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "forbidden"
        c.close()
