"""The outbox wake-up (ADR 0008): ``emit`` notifies ``sc_outbox`` in its transaction, and the
worker's listener runs the relay at once, on the suite's real PostgreSQL and Redis.

Proved here, with the real APScheduler scheduler, ``datalayer.notify.Listener`` and wakers of
``make_scheduler`` running in this process:

- an event committed after the scheduler's start-up run reaches its Redis channel although the
  relay's interval is an hour: only the wake-up can have published it (and the scheduled job ran
  once, at start-up);
- a rolled-back transaction wakes nobody: its notification is never delivered (PostgreSQL delivers
  notifications in commit order, so one from the earlier rollback would have come first);
- the listener reconnects after ``pg_terminate_backend`` ends its connection, runs the relay once
  for everything (a notification may have been missed), and wakes it again afterwards;
- pausing and shutting the scheduler down closes the connection and ends every wake-up thread;
- a burst of notifications during a run makes one more run, not one each (coalescing);
- a woken run of a ``leader=True`` job still takes the job's advisory lock.

The relays these tests run are confined to the test's own organisations (other tests' events stay
untouched); no assertion is about time, only about what happened within a generous timeout.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
import pytest
import redis

from app import bootstrap
from app.jobs import outbox_relay, registry
from app.jobs.outbox_relay import RelayPolicy, relay
from app.jobs.registry import Job, make_scheduler
from app.jobs.wakeup import Targets, Wake, Waker
from app.services.outbox import emit
from datalayer import notify, pubsub
from datalayer.locks import leadership
from datalayer.scope import org_scope
from tests.conftest import make_org

HOUR = 3600
TIMEOUT = 20.0


def _wait_until(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _listening(superuser_url: str) -> list[int]:
    """Backend pids of listener connections that have finished their LISTEN."""
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND state = 'idle' AND query LIKE 'LISTEN%%'",
            (notify.APPLICATION_NAME,),
        ).fetchall()
    return [int(r[0]) for r in rows]


def _listener_connections(superuser_url: str) -> int:
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (notify.APPLICATION_NAME,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def _wake_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("sc-wake-", "sc-notify-listener"))]


def _emit(org_id: uuid.UUID, *, commit: bool = True) -> uuid.UUID:
    class Rollback(Exception):
        pass

    event_id = uuid.uuid4()
    try:
        with org_scope(org_id) as scope:
            event_id = emit(scope, event_type="test.woken", aggregate_type="test", aggregate_id=1)
            if not commit:
                raise Rollback
    except Rollback:
        pass
    return event_id


class Channel:
    """The event ids published on one organisation's Redis channel, read on a thread."""

    def __init__(self, redis_url: str, org_id: uuid.UUID) -> None:
        self.event_ids: list[str] = []
        self._client = redis.Redis.from_url(redis_url, socket_timeout=5)
        self._pubsub = self._client.pubsub()
        self._pubsub.subscribe(pubsub.channel(org_id))
        confirmation = self._pubsub.get_message(timeout=5)
        assert confirmation is not None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="test-wakeup-channel", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            message = self._pubsub.get_message(timeout=0.1)
            if message is not None and message["type"] == "message":
                self.event_ids.append(orjson.loads(message["data"])["event_id"])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._pubsub.close()
        self._client.close()


@dataclass
class Worker:
    """A worker's scheduler with an ``outbox-relay`` job due every hour, confined to ``orgs``."""

    scheduler: Any
    scheduled_runs: list[dict[str, Any]] = field(default_factory=list)
    woken: list[Targets] = field(default_factory=list)


@pytest.fixture
def worker_for(runtime: bootstrap.Runtime, superuser_url: str) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []
    policy = RelayPolicy.from_settings(runtime.settings)

    def start(*orgs: uuid.UUID) -> Worker:
        def confined(targets: Targets) -> list[uuid.UUID]:
            notified = outbox_relay.notified_orgs(targets)  # the production reading of the payloads
            return [o for o in orgs if notified is None or o in notified]

        def scheduled(_ctx: Any) -> dict[str, Any]:
            result = relay(policy, only_orgs=orgs).as_dict()
            worker.scheduled_runs.append(result)
            return result

        def woken(_ctx: Any, targets: Targets) -> dict[str, Any]:
            worker.woken.append(targets)
            return relay(policy, only_orgs=confined(targets)).as_dict()

        job = Job(
            "outbox-relay",
            lambda _c: HOUR,
            scheduled,
            "test relay",
            quiet=True,
            wake=Wake(notify.OUTBOX_CHANNEL, woken),
        )
        worker = Worker(make_scheduler(runtime.ctx, blocking=False, jobs=[job]))
        started.append(worker)
        worker.scheduler.start()
        assert _wait_until(lambda: len(worker.scheduled_runs) == 1), "the start-up run"
        assert _wait_until(lambda: len(_listening(superuser_url)) == 1), "the listener is listening"
        return worker

    yield start
    for worker in started:
        if worker.scheduler.running:
            worker.scheduler.shutdown(wait=True)


@pytest.mark.slow
def test_a_committed_event_is_relayed_at_once_not_at_the_next_scheduled_run(
    runtime: bootstrap.Runtime, worker_for: Callable[..., Worker]
) -> None:
    org_id = make_org()
    channel = Channel(runtime.services.redis_url, org_id)
    try:
        worker = worker_for(org_id)
        event_id = _emit(org_id)
        assert _wait_until(lambda: str(event_id) in channel.event_ids), "the wake-up must publish the event"
    finally:
        channel.close()
    assert len(worker.scheduled_runs) == 1, "the hourly schedule ran only at start-up"
    assert frozenset({str(org_id)}) in worker.woken, "the notification names the organisation"
    with org_scope(org_id) as scope:
        published = scope.conn.exec_driver_sql(
            "SELECT published_at IS NOT NULL FROM outbox_events WHERE id = %(id)s", {"id": event_id}
        ).scalar_one()
    assert published


@pytest.mark.slow
def test_a_rolled_back_transaction_wakes_nobody(runtime: bootstrap.Runtime, worker_for: Callable[..., Worker]) -> None:
    rolled_back, committed = make_org(), make_org()
    channel = Channel(runtime.services.redis_url, committed)
    try:
        worker = worker_for(rolled_back, committed)
        _emit(rolled_back, commit=False)
        event_id = _emit(committed)
        assert _wait_until(lambda: str(event_id) in channel.event_ids)
    finally:
        channel.close()
    # Had the rollback's notification been delivered, it would have come before the commit's:
    # in an earlier woken run, or merged into the same one.
    assert worker.woken
    assert all(targets == frozenset({str(committed)}) for targets in worker.woken), worker.woken
    with org_scope(rolled_back) as scope:
        assert scope.conn.exec_driver_sql("SELECT count(*) FROM outbox_events").scalar_one() == 0


@pytest.mark.slow
def test_the_listener_reconnects_after_its_connection_is_killed(
    runtime: bootstrap.Runtime, superuser_url: str, worker_for: Callable[..., Worker]
) -> None:
    org_id = make_org()
    channel = Channel(runtime.services.redis_url, org_id)
    try:
        worker = worker_for(org_id)
        (before,) = _listening(superuser_url)
        with psycopg.connect(superuser_url, autocommit=True) as conn:
            assert conn.execute("SELECT pg_terminate_backend(%s)", (before,)).fetchone() == (True,)
        assert _wait_until(lambda: _listening(superuser_url) not in ([], [before])), "a new connection listens"
        assert _wait_until(lambda: None in worker.woken), "after a reconnect, one run for everything"
        event_id = _emit(org_id)
        assert _wait_until(lambda: str(event_id) in channel.event_ids), "woken again after the reconnect"
    finally:
        channel.close()
    assert len(worker.scheduled_runs) == 1


@pytest.mark.slow
def test_pausing_and_shutting_down_end_the_listener_and_its_threads(
    superuser_url: str, worker_for: Callable[..., Worker]
) -> None:
    worker = worker_for(make_org())
    assert sorted(_wake_threads()) == ["sc-notify-listener", "sc-wake-outbox-relay"]

    worker.scheduler.pause()
    assert _wake_threads() == []
    assert _wait_until(lambda: _listener_connections(superuser_url) == 0), "the connection is closed"

    worker.scheduler.resume()
    assert _wait_until(lambda: len(_listening(superuser_url)) == 1)

    worker.scheduler.shutdown(wait=True)
    assert _wake_threads() == []
    assert _wait_until(lambda: _listener_connections(superuser_url) == 0)


def test_a_burst_during_a_run_makes_one_more_run_not_one_each() -> None:
    calls: list[Targets] = []
    started, release = threading.Event(), threading.Event()

    def call(targets: Targets) -> None:
        calls.append(targets)
        started.set()
        release.wait(10)

    waker = Waker("test-burst", call)
    waker.start()
    try:
        waker.poke("first")
        assert started.wait(10)
        for n in range(50):
            waker.poke(f"org-{n % 5}")
        waker.poke("")  # no payload: everything
        waker.poke("org-9")
        release.set()
        assert _wait_until(lambda: waker.runs == 2)
    finally:
        release.set()
        assert waker.stop()
    assert calls == [frozenset({"first"}), None]
    assert waker.runs == 2


def test_a_woken_leader_job_takes_its_lock(runtime: bootstrap.Runtime) -> None:
    calls: list[Targets] = []
    job = Job(
        "test-woken-leader",
        lambda _c: HOUR,
        lambda _c: {"scheduled": 1},
        "test",
        leader=True,
        wake=Wake(notify.OUTBOX_CHANNEL, lambda _c, targets: calls.append(targets) or {"woken": 1}),
    )
    with leadership("job:test-woken-leader") as held:  # another worker leads
        assert held
        assert registry.run_woken(job, runtime.ctx, frozenset({"x"})) is None
    assert calls == []
    assert registry.run_woken(job, runtime.ctx, frozenset({"x"})) == {"woken": 1}
    assert calls == [frozenset({"x"})]


def test_notification_payloads_name_organisations() -> None:
    org = uuid.uuid4()
    assert outbox_relay.notified_orgs(None) is None
    assert outbox_relay.notified_orgs(frozenset({str(org)})) == frozenset({org})
    assert outbox_relay.notified_orgs(frozenset({str(org), "not-an-id"})) is None, "unknown payload: look everywhere"


def test_the_relay_job_declares_its_wakeup() -> None:
    (entry,) = [job for job in registry.JOBS if job.id == "outbox-relay"]
    assert entry.wake == Wake(notify.OUTBOX_CHANNEL, outbox_relay.relay_woken_job)
    with pytest.raises(ValueError, match="channel"):
        notify.Listener(["Bad-Channel"], lambda _c, _p: None)
