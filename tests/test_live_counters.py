"""Live counters (``app.services.live_counters``): the counts, worked by hand on a small
organisation; the hub's fan-out over the real outbox relay and Redis pub/sub; coalescing; explicit
unsubscribe (no leaks); the Redis copy; and tenant isolation (SECURITY A6).

Data: a fresh organisation per test (``tests.chart_fixtures.make_team``), charts written by the
importer's own insert, changes made through the chart actions, events published by the real relay.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import text

from app import bootstrap
from app.authz import Permission
from app.errors import PermissionDenied
from app.jobs.outbox_relay import RelayPolicy, relay
from app.services import charts as chart_actions
from app.services import live_counters
from app.services.chart_types import CodeRowInput
from app.services.live_counters import Counters, LiveHub
from datalayer import live_cache
from datalayer.redis_client import get_redis
from datalayer.scope import org_scope
from tests.chart_fixtures import Team, make_team

pytestmark = pytest.mark.slow

PNEUMONIA = CodeRowInput("diagnosis", "J18.9", "Chest X-ray shows lobar consolidation.", is_principal=True)
WAIT = 15.0  # seconds a test waits for an update before it fails (never a timing assertion)


@pytest.fixture
def team(runtime: bootstrap.Runtime) -> Team:
    return make_team(runtime.ctx)


@pytest.fixture
def hub(runtime: bootstrap.Runtime) -> Iterator[LiveHub]:
    """A hub of its own (the process's one stays untouched), with a real Redis subscriber."""
    h = LiveHub(aging_hours=48)
    yield h
    h.stop()


class Recorder:
    """A listener that remembers what it was given and lets a test wait for a condition."""

    def __init__(self) -> None:
        self.seen: list[Counters] = []
        self._changed = threading.Condition()

    def __call__(self, counters: Counters) -> None:
        with self._changed:
            self.seen.append(counters)
            self._changed.notify_all()

    def wait_for(self, check: Callable[[Counters], bool], timeout: float = WAIT) -> Counters:
        with self._changed:
            ok = self._changed.wait_for(lambda: any(check(c) for c in self.seen), timeout)
            assert ok, f"no matching update; seen {self.seen}"
            return next(c for c in self.seen if check(c))


def _publish(org_id: uuid.UUID, runtime: bootstrap.Runtime) -> None:
    """Run the real outbox relay for one organisation (the worker's job, in-process)."""
    relay(RelayPolicy.from_settings(runtime.settings), only_orgs=[org_id])


def _submit(team: Team, chart_id: uuid.UUID) -> None:
    saved = chart_actions.save_codes(team.coder_a, chart_id, version=1, rows=[PNEUMONIA])
    chart_actions.submit(team.coder_a, chart_id, version=saved.version)


def _age(org_id: uuid.UUID, chart_id: uuid.UUID, hours: int) -> None:
    with org_scope(org_id) as scope:
        scope.conn.execute(
            text("UPDATE charts SET created_at = now() - make_interval(hours => :h) WHERE id = :id"),
            {"h": hours, "id": chart_id},
        )


# -- the counts ---------------------------------------------------------------------------------


def test_counts_worked_by_hand(team: Team) -> None:
    """6 charts: 4 assigned to coder A (one submitted), 2 unassigned; one unassigned draft is 3 days old.

    draft 5 (3 assigned + 2 unassigned) · pending_audit 1 · unassigned 2 · aging 1 · submitted today 1.
    """
    ids = team.charts(6)
    chart_actions.assign(team.manager, ids[:4], [team.coder_a.user_id])
    _submit(team, ids[0])
    _age(team.org_id, ids[5], hours=72)
    _age(team.org_id, ids[1], hours=24)  # assigned, a day old: not aging at 48 h

    c = live_counters.compute(team.org_id, aging_hours=48)
    assert c.counts() == {
        "aging_hours": 48,
        "draft": 5,
        "pending_audit": 1,
        "returned": 0,
        "completed": 0,
        "unassigned": 2,
        "aging": 1,
        "audit_aging": 0,
        "submitted_today": 1,
        "approved_today": 0,
        "returned_today": 0,
        "imported_today": 0,
        "imports_active": 0,
    }
    assert (c.total, c.open, c.org_id) == (6, 5, team.org_id)
    assert live_counters.compute(team.org_id, aging_hours=12).aging == 2  # the 24-hour-old one too
    wire = c.as_json()
    assert wire["queue"]["draft"] == 5
    assert wire["today"]["submitted"] == 1
    assert wire["imports"]["active"] == 0
    assert Counters.from_json(orjson.loads(orjson.dumps(wire))) == c


def test_a6_counts_are_per_organisation(team: Team, runtime: bootstrap.Runtime) -> None:
    other = make_team(runtime.ctx)
    other.charts(3)
    team.charts(2)
    assert live_counters.compute(team.org_id, aging_hours=48).draft == 2
    assert live_counters.compute(other.org_id, aging_hours=48).draft == 3


def test_current_needs_metrics_view(team: Team) -> None:
    assert team.analyst.can(Permission.METRICS_VIEW)
    assert team.manager.can(Permission.METRICS_VIEW)
    for who in (team.coder_a, team.supervisor):
        with pytest.raises(PermissionDenied):
            live_counters.current(who)


# -- the hub: fan-out, isolation, coalescing, no leaks -------------------------------------------


def test_a6_event_reaches_only_its_organisations_listeners(
    team: Team, runtime: bootstrap.Runtime, hub: LiveHub
) -> None:
    other = make_team(runtime.ctx)
    (chart_id,) = team.charts(1)
    chart_actions.assign(team.manager, [chart_id], [team.coder_a.user_id])
    (other_chart,) = other.charts(1)
    mine, theirs = Recorder(), Recorder()
    with hub.subscribe(team.org_id, mine), hub.subscribe(other.org_id, theirs):
        assert hub.wait_connected(WAIT)
        assert hub.latest(team.org_id).pending_audit == 0
        assert hub.latest(other.org_id).draft == 1
        _submit(team, chart_id)
        _publish(team.org_id, runtime)
        update = mine.wait_for(lambda c: c.pending_audit == 1)
        assert (update.org_id, update.draft, update.submitted_today) == (team.org_id, 0, 1)
        # Then a change in the other organisation: its listener hears about that one only.
        chart_actions.assign(other.manager, [other_chart], [other.coder_a.user_id])
        _publish(other.org_id, runtime)
        theirs.wait_for(lambda c: c.unassigned == 0)
        assert {c.org_id for c in mine.seen} == {team.org_id}
        assert {c.org_id for c in theirs.seen} == {other.org_id}
        assert all(c.pending_audit == 0 for c in theirs.seen)
    assert hub.listener_count() == 0


def test_burst_of_events_is_coalesced_and_latest_wins(team: Team, runtime: bootstrap.Runtime) -> None:
    hub = LiveHub(aging_hours=48, coalesce_seconds=0.5, subscribe_to_events=False)
    try:
        seen = Recorder()
        with hub.subscribe(team.org_id, seen):
            hub.latest(team.org_id)
            before = hub.recomputes
            team.charts(20)
            raw = orjson.dumps({"type": "chart.imported"}).decode()
            for _ in range(20):
                hub.on_event(team.org_id, raw)
            final = seen.wait_for(lambda c: c.draft == 20)
            assert hub.recomputes - before <= 2  # 20 events, one recompute (two if the burst straddled a window)
            assert final.unassigned == 20
    finally:
        hub.stop()


def test_irrelevant_events_cause_no_recompute(team: Team) -> None:
    hub = LiveHub(aging_hours=48, coalesce_seconds=0.0, subscribe_to_events=False)
    try:
        with hub.subscribe(team.org_id, Recorder()):
            hub.latest(team.org_id)
            before = hub.recomputes
            for raw in (orjson.dumps({"type": "chart.codes_saved"}).decode(), "not json", "[]", '{"type": 7}'):
                hub.on_event(team.org_id, raw)
            hub.mark_dirty(team.org_id)  # a relevant change afterwards is processed normally
            deadline = datetime.now(UTC) + timedelta(seconds=WAIT)
            while hub.recomputes == before and datetime.now(UTC) < deadline:
                threading.Event().wait(0.01)
            assert hub.recomputes == before + 1
    finally:
        hub.stop()


def test_unsubscribe_leaves_nothing_behind(team: Team, hub: LiveHub) -> None:
    subscriptions = [hub.subscribe(team.org_id, Recorder()) for _ in range(5)]
    assert hub.listener_count(team.org_id) == 5
    hub.latest(team.org_id)
    for s in subscriptions:
        s.close()
        s.close()  # idempotent
    assert hub.listener_count() == 0
    assert not hub.watching(team.org_id)
    # An event for an organisation nobody here watches drops its cached copy instead of recounting.
    assert live_cache.get(team.org_id) is not None
    before = hub.recomputes
    hub.on_event(team.org_id, orjson.dumps({"type": "chart.assigned"}).decode())
    assert live_cache.get(team.org_id) is None
    assert hub.recomputes == before


def test_a_failing_listener_does_not_starve_the_others(team: Team) -> None:
    hub = LiveHub(aging_hours=48, coalesce_seconds=0.0, subscribe_to_events=False)

    def broken(_: Counters) -> None:
        raise RuntimeError("listener bug")

    try:
        good = Recorder()
        with hub.subscribe(team.org_id, broken), hub.subscribe(team.org_id, good):
            hub.latest(team.org_id)
            team.charts(1)
            hub.mark_dirty(team.org_id)
            good.wait_for(lambda c: c.draft == 1)
    finally:
        hub.stop()


def test_a6_redis_copy_is_tenant_keyed_and_holds_counts_only(team: Team) -> None:
    team.charts(2)
    hub = LiveHub(aging_hours=48, subscribe_to_events=False)
    try:
        counted = hub.latest(team.org_id)
        raw = get_redis().get(f"sc:live:{team.org_id}")
        assert raw is not None
        stored = orjson.loads(raw)
        assert stored["org_id"] == str(team.org_id)
        assert set(stored) == {"org_id", "as_of", "aging_hours", "queue", "today", "imports"}
        assert all(isinstance(v, int) for part in ("queue", "today", "imports") for v in stored[part].values())
        # Another process (here: another hub) starts from the Redis copy, without a query.
        fresh = LiveHub(aging_hours=48, subscribe_to_events=False)
        assert fresh.latest(team.org_id) == counted
        assert fresh.recomputes == 0
    finally:
        hub.stop()
