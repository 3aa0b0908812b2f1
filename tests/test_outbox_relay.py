"""The outbox relay (SECURITY F1, F4, F5, F8) on the suite's real PostgreSQL and Redis.

Proved here:

- F1: a relay process SIGKILLed at random points in the middle of batches, then restarted, loses
  no event; a consumer deduping with ``app.services.outbox.dedupe`` in the transaction of its
  effect applies each event exactly once; the duplicates are counted (and predicted exactly).
- F4: a batch claimed by a relay that was then SIGKILLed is invisible to other relays while its
  lease runs and claimable again once it has run out (time measured).
- F5: two relay processes started at the same instant share the events and deliver none twice.
- F8: an event whose publish always raises is retried with back-off and dead-lettered after
  ``max_attempts``; the events around it are published on the first run (no head-of-line block).
- Redis down: the batch is given back without counting attempts, so an outage dead-letters nothing.
- Events go only to their own organisation's channel, in the documented wire format.

Relays run in subprocesses (``tests/outbox_relay_child.py``) so SIGKILL is real; the consumer runs
in this process on its own Redis connection.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from sqlalchemy import text

from app import bootstrap
from app.errors import ServiceUnavailable
from app.jobs import outbox_relay
from app.jobs.outbox_relay import RelayPolicy
from app.services.outbox import dedupe, emit
from datalayer import pubsub
from datalayer.queries import outbox
from datalayer.queries.outbox import OutboxEvent
from datalayer.scope import org_scope
from tests.conftest import make_org

ROOT = Path(__file__).resolve().parent.parent
EFFECT_METRIC = "test.outbox_effects"


# --- helpers ------------------------------------------------------------------------------------


def _emit_many(org_id: uuid.UUID, count: int, *, payload: dict[str, Any] | None = None) -> list[uuid.UUID]:
    ids: list[uuid.UUID] = []
    with org_scope(org_id) as scope:
        for n in range(count):
            ids.append(
                emit(
                    scope,
                    event_type="test.relayed",
                    aggregate_type="test",
                    aggregate_id=n,
                    payload=payload if payload is not None else {"n": n},
                )
            )
    return ids


def _rows(org_id: uuid.UUID, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
    with org_scope(org_id) as scope:
        return list(scope.conn.execute(text(sql), params or {}).mappings())


class Consumer:
    """Subscribes to one organisation's channel; applies each event's effect once (dedupe + effect
    in one transaction: ``processed_events`` row and a ``metric_rollups`` counter)."""

    def __init__(self, redis_url: str, org_id: uuid.UUID, name: str) -> None:
        self.org_id = org_id
        self.name = name
        self.deliveries: Counter[str] = Counter()
        self.duplicates = 0
        self.messages: list[dict[str, Any]] = []
        self._client = redis.Redis.from_url(redis_url, socket_timeout=5)
        self._pubsub = self._client.pubsub()
        self._pubsub.subscribe(pubsub.channel(org_id))
        confirmation = self._pubsub.get_message(timeout=5)
        assert confirmation is not None
        assert confirmation["type"] == "subscribe"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"consumer-{name}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            message = self._pubsub.get_message(timeout=0.1)
            if message is not None and message["type"] == "message":
                self._handle(orjson.loads(message["data"]))

    def _handle(self, event: dict[str, Any]) -> None:
        self.messages.append(event)
        self.deliveries[event["event_id"]] += 1
        with org_scope(self.org_id) as scope:
            if not dedupe(scope, event["event_id"], self.name):
                self.duplicates += 1
                return
            scope.conn.execute(
                text(
                    """INSERT INTO metric_rollups (org_id, metric, bucket_start, dimension, value, sample_size)
                       VALUES (:org, :metric, '2000-01-01T00:00:00Z', :dim, 1, 1)
                       ON CONFLICT (org_id, metric, bucket_start, dimension)
                       DO UPDATE SET value = metric_rollups.value + 1"""
                ),
                {"org": self.org_id, "metric": EFFECT_METRIC, "dim": self.name},
            )

    def effects(self) -> int:
        found = _rows(
            self.org_id,
            "SELECT value FROM metric_rollups WHERE metric = :metric AND dimension = :dim",
            {"metric": EFFECT_METRIC, "dim": self.name},
        )
        return int(found[0]["value"]) if found else 0

    def wait_for(self, distinct: int, *, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.deliveries) < distinct and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # let any straggling duplicate arrive too

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._pubsub.close()
        self._client.close()


@pytest.fixture
def consumer_factory(runtime: bootstrap.Runtime) -> Iterator[Any]:
    made: list[Consumer] = []

    def make(org_id: uuid.UUID, name: str) -> Consumer:
        consumer = Consumer(runtime.services.redis_url, org_id, name)
        made.append(consumer)
        return consumer

    yield make
    for consumer in made:
        consumer.close()


def _child_env(runtime: bootstrap.Runtime, tmp_path: Path, org_id: uuid.UUID, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTCODERS_", "DATABASE_", "REDIS_", "OUTBOX_"))}
    env.update(
        {
            "SMARTCODERS_ENV": "test",
            "SMARTCODERS_HOME": str(tmp_path / "child-home"),
            "DATABASE_URL": runtime.services.app_url,
            "REDIS_URL": runtime.services.redis_url,
            "LOG_LEVEL": "ERROR",
            "RELAY_ORG": str(org_id),
        }
    )
    env.update(extra)
    return env


def _spawn(env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.outbox_relay_child"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "ready", f"relay child did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
    return proc


def _go(*procs: subprocess.Popen[str]) -> None:
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()


def _finish(proc: subprocess.Popen[str], *, timeout: float = 60) -> tuple[int, dict[str, int]]:
    """Wait for the child; return its exit code and its last progress line."""
    out, err = proc.communicate(timeout=timeout)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    last = orjson.loads(lines[-1]) if lines else {"published": 0, "sent": 0}
    if proc.returncode not in {0, -signal.SIGKILL}:
        pytest.fail(f"relay child failed ({proc.returncode}): {err[-2000:]}")
    return proc.returncode, last


def _unpublished(org_id: uuid.UUID) -> int:
    return int(_rows(org_id, "SELECT count(*) AS n FROM outbox_events WHERE published_at IS NULL")[0]["n"])


# --- F1 -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_f1_relay_killed_mid_batch_loses_nothing_and_dedupe_gives_exactly_once(
    runtime: bootstrap.Runtime, tmp_path: Path, consumer_factory: Any
) -> None:
    """F1, scaled down from SECURITY.md's 10,000 events and 15 kills to 1,000 events and 6 kills
    so the test takes seconds; the invariants are the same. ``F1_EVENTS=10000 F1_KILLS=15`` runs
    it at full scale.

    Each killed relay SIGKILLs itself right after handing its k-th event to Redis and before
    recording the batch, k drawn at random (seed printed). Those k mod batch events of the batch
    in flight were delivered but not recorded, so they are delivered again after the lease:
    the duplicate count is predictable exactly, and the consumer must absorb every one of them.
    """
    n_events, batch = int(os.environ.get("F1_EVENTS", "1000")), 50
    # Reproducible kill points from a printed seed: this randomness has nothing to keep secret.
    seed = random.randrange(1 << 30)  # noqa: S311
    rng = random.Random(seed)  # noqa: S311
    kill_points = [rng.randint(1, 120) for _ in range(int(os.environ.get("F1_KILLS", "6")))]
    org_id = make_org()
    _emit_many(org_id, n_events)
    consumer = consumer_factory(org_id, "f1")
    env = _child_env(runtime, tmp_path, org_id, OUTBOX_BATCH_SIZE=str(batch), OUTBOX_LEASE_SECONDS="2")

    started = time.monotonic()
    for k in kill_points:
        proc = _spawn({**env, "RELAY_KILL_AFTER": str(k)})
        _go(proc)
        code, _ = _finish(proc)
        assert code == -signal.SIGKILL, f"the relay was meant to die after {k} events (seed {seed})"
    final = _spawn(env)
    _go(final)
    code, _ = _finish(final)
    assert code == 0
    consumer.wait_for(n_events)
    elapsed = time.monotonic() - started

    delivered = sum(consumer.deliveries.values())
    lost = n_events - len(consumer.deliveries)
    duplicates = delivered - len(consumer.deliveries)
    expected_duplicates = sum((k - 1) % batch + 1 for k in kill_points)
    sys.stdout.write(
        f"\nF1: events={n_events} kills={len(kill_points)} points={kill_points} seed={seed} "
        f"lost={lost} duplicates={duplicates} effects={consumer.effects()} seconds={elapsed:.1f}\n"
    )
    assert _unpublished(org_id) == 0, "an event was never recorded as published"
    assert lost == 0, f"events never delivered (seed {seed})"
    assert duplicates == expected_duplicates, f"seed {seed}"
    assert consumer.duplicates == duplicates, "dedupe must recognise every redelivery"
    assert consumer.effects() == n_events, "exactly one effect per event"
    processed = _rows(org_id, "SELECT count(*) AS n FROM processed_events WHERE source = 'outbox:f1'")
    assert processed[0]["n"] == n_events


# --- F4 -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_f4_claims_of_a_killed_relay_come_back_after_the_lease(runtime: bootstrap.Runtime, tmp_path: Path) -> None:
    """F4: the relay claims a batch (committed lease), publishes one event and is SIGKILLed.

    While the lease runs, another relay cannot claim the batch (checked at once, from the
    database's own clock); afterwards it can. The figure printed is the time from the kill to the
    first successful re-claim, polling every 0.1 s with a 2 s lease.
    """
    lease, poll = 2.0, 0.1
    org_id = make_org()
    _emit_many(org_id, 20)
    env = _child_env(
        runtime, tmp_path, org_id, OUTBOX_BATCH_SIZE="20", OUTBOX_LEASE_SECONDS=str(int(lease)), RELAY_KILL_AFTER="1"
    )
    proc = _spawn(env)
    _go(proc)
    code, _ = _finish(proc)
    killed_at = time.monotonic()
    assert code == -signal.SIGKILL

    held = _rows(
        org_id,
        "SELECT count(*) AS n FROM outbox_events WHERE published_at IS NULL AND locked_until > now()",
    )[0]["n"]
    assert held == 20, "the dead relay's lease must still cover its whole batch"
    with org_scope(org_id) as scope:
        assert outbox.claim_due(scope, limit=100, lease_seconds=30) == [], "a live lease must not be re-claimed"

    reclaimed: list[OutboxEvent] = []
    deadline = killed_at + lease + 10
    while not reclaimed and time.monotonic() < deadline:
        time.sleep(poll)
        with org_scope(org_id) as scope:
            reclaimed = outbox.claim_due(scope, limit=100, lease_seconds=30)
    waited = time.monotonic() - killed_at
    sys.stdout.write(f"\nF4: lease={lease}s poll={poll}s re-claimed {len(reclaimed)}/20 after {waited:.2f}s\n")
    assert len(reclaimed) == 20


# --- F5 -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_f5_two_relays_at_once_deliver_no_event_twice(
    runtime: bootstrap.Runtime, tmp_path: Path, consumer_factory: Any
) -> None:
    """F5: two relay processes, released at the same instant, over 1,000 events in batches of 10
    with a long lease (steady state: no crash, no lease expiry). Both must do part of the work and
    no event may be delivered twice."""
    n_events = 1000
    org_id = make_org()
    _emit_many(org_id, n_events)
    consumer = consumer_factory(org_id, "f5")
    env = _child_env(runtime, tmp_path, org_id, OUTBOX_BATCH_SIZE="10", OUTBOX_LEASE_SECONDS="60")
    first, second = _spawn(env), _spawn(env)
    _go(first, second)
    (code_a, progress_a), (code_b, progress_b) = _finish(first), _finish(second)
    consumer.wait_for(n_events)

    sys.stdout.write(f"\nF5: relay A published {progress_a['published']}, relay B {progress_b['published']}\n")
    assert code_a == code_b == 0
    assert progress_a["published"] > 0
    assert progress_b["published"] > 0, "both relays must have shared the work"
    assert progress_a["published"] + progress_b["published"] == n_events
    assert progress_a["sent"] + progress_b["sent"] == n_events, "an event was handed to Redis twice"
    assert len(consumer.deliveries) == n_events
    assert max(consumer.deliveries.values()) == 1
    assert consumer.effects() == n_events


# --- F8 and failures --------------------------------------------------------------------------


POLICY = RelayPolicy(batch_size=100, lease_seconds=30, max_attempts=3, backoff_base_seconds=5, backoff_cap_seconds=60)


class _Longest:
    """Full jitter drawn at its upper bound: the back-off is then never ~0 s, so the test is
    deterministic (a real draw near 0 would legitimately make the event due at once)."""

    def uniform(self, a: float, b: float) -> float:
        return b


_LONGEST = _Longest()


def _age(org_id: uuid.UUID) -> None:
    """Make every back-off in the organisation run out now (instead of sleeping)."""
    with org_scope(org_id) as scope:
        scope.conn.execute(text("UPDATE outbox_events SET available_at = now() - interval '1 second'"))


@pytest.mark.slow
def test_f8_poison_event_is_dead_lettered_and_never_blocks_the_others(
    runtime: bootstrap.Runtime, consumer_factory: Any
) -> None:
    org_id = make_org()
    (poison,) = _emit_many(org_id, 1, payload={"poison": True})  # oldest: first in every batch
    healthy = _emit_many(org_id, 9)
    consumer = consumer_factory(org_id, "f8")
    tries: Counter[uuid.UUID] = Counter()

    def publisher(event: OutboxEvent) -> None:
        tries[event.id] += 1
        if event.payload.get("poison"):
            raise ValueError("consumer cannot handle this payload")
        outbox_relay.publish_to_redis(event)

    first = outbox_relay.relay(POLICY, publisher=publisher, only_orgs={org_id}, rng=_LONGEST)
    assert (first.published, first.retried, first.dead_lettered) == (9, 1, 0), "the poison must not block the rest"
    consumer.wait_for(9)
    assert set(consumer.deliveries) == {str(e) for e in healthy}

    (row,) = _rows(
        org_id,
        "SELECT attempts, last_error, available_at > now() AS backing_off FROM outbox_events WHERE id = :id",
        {"id": poison},
    )
    assert row["attempts"] == 1
    assert row["backing_off"], "a failed event waits out its back-off"
    assert row["last_error"] == "ValueError: consumer cannot handle this payload"
    again = outbox_relay.relay(POLICY, publisher=publisher, only_orgs={org_id}, rng=_LONGEST)
    assert again.as_dict() == outbox_relay.RelayResult().as_dict(), "nothing is due during the back-off"
    assert tries[poison] == 1

    _age(org_id)
    assert outbox_relay.relay(POLICY, publisher=publisher, only_orgs={org_id}, rng=_LONGEST).retried == 1
    _age(org_id)
    assert outbox_relay.relay(POLICY, publisher=publisher, only_orgs={org_id}, rng=_LONGEST).dead_lettered == 1
    _age(org_id)
    assert outbox_relay.relay(POLICY, publisher=publisher, only_orgs={org_id}, rng=_LONGEST).as_dict()["published"] == 0
    assert tries[poison] == POLICY.max_attempts, "a dead-lettered event is never tried again"
    assert all(tries[e] == 1 for e in healthy)
    (row,) = _rows(
        org_id,
        "SELECT attempts, dead_lettered_at IS NOT NULL AS dead, published_at FROM outbox_events WHERE id = :id",
        {"id": poison},
    )
    assert (row["attempts"], row["dead"], row["published_at"]) == (3, True, None)
    with org_scope(org_id) as scope:
        assert outbox.counts(scope) == outbox.OutboxCounts(pending=0, dead_lettered=1)


def test_redis_down_gives_the_batch_back_without_counting_attempts(runtime: bootstrap.Runtime) -> None:
    org_id = make_org()
    _emit_many(org_id, 5)
    calls = 0

    def publisher(event: OutboxEvent) -> None:
        nonlocal calls
        calls += 1
        if calls >= 3:
            raise ServiceUnavailable("event bus unavailable")
        outbox_relay.publish_to_redis(event)

    result = outbox_relay.relay(POLICY, publisher=publisher, only_orgs={org_id}, rng=_LONGEST)
    assert (result.published, result.released, result.bus_down, result.dead_lettered) == (2, 3, True, 0)
    rows = _rows(org_id, "SELECT attempts, locked_until, last_error FROM outbox_events WHERE published_at IS NULL")
    assert len(rows) == 3
    assert all(r["attempts"] == 0 and r["locked_until"] is None and r["last_error"] is None for r in rows)


@pytest.mark.slow
def test_events_go_only_to_their_own_organisations_channel(runtime: bootstrap.Runtime, consumer_factory: Any) -> None:
    org_a, org_b = make_org(), make_org()
    listener_a, listener_b = consumer_factory(org_a, "chan"), consumer_factory(org_b, "chan")
    (event_id,) = _emit_many(org_a, 1, payload={"chart_id": "c-1"})
    result = outbox_relay.relay(POLICY, only_orgs={org_a, org_b})
    assert result.published == 1
    listener_a.wait_for(1)
    assert listener_b.deliveries == Counter()
    (message,) = listener_a.messages
    assert set(message) == {"event_id", "type", "aggregate", "payload", "created_at"}
    assert message["event_id"] == str(event_id)
    assert message["type"] == "test.relayed"
    assert message["aggregate"] == {"type": "test", "id": "0"}
    assert message["payload"] == {"chart_id": "c-1"}


def test_dedupe_is_per_consumer_and_rolls_back_with_the_effect(runtime: bootstrap.Runtime) -> None:
    org_id = make_org()
    event_id = uuid.uuid4()

    def failing_consumer() -> None:
        with org_scope(org_id) as scope:
            assert dedupe(scope, event_id, "dashboard")
            raise RuntimeError("the effect failed")  # rolls the dedupe row back with it

    with pytest.raises(RuntimeError):
        failing_consumer()
    with org_scope(org_id) as scope:
        assert dedupe(scope, event_id, "dashboard"), "a rolled-back effect leaves the event unprocessed"
        assert not dedupe(scope, event_id, "dashboard")
        assert dedupe(scope, event_id, "notifier"), "another consumer of the same event is independent"
    with pytest.raises(ValueError, match="consumer name"), org_scope(org_id) as scope:
        dedupe(scope, event_id, "Bad Name")
