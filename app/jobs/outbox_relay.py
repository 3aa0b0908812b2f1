"""The outbox relay: publish committed domain events at least once (ARCHITECTURE §6, INV-5).

One run, for each organisation (``system_scope`` iterates them; row-level security stays on):

1. **claim** up to ``OUTBOX_BATCH_SIZE`` due events in one short transaction: ``FOR UPDATE SKIP
   LOCKED`` plus a ``locked_until`` lease, committed before anything is published, so no
   transaction is open while Redis is called and two relays never take the same row (F5);
2. **publish** each event on the organisation's Redis channel ``sc:events:<org_id>`` as JSON
   ``{event_id, type, aggregate: {type, id}, payload, created_at}``;
3. **record** the outcome in one short transaction: published rows get ``published_at``; a row
   whose publish raised gets ``attempts + 1``, ``last_error`` and a full-jitter back-off in
   ``available_at`` (``min(cap, base * 2**attempt)``), or ``dead_lettered_at`` once it has failed
   ``OUTBOX_MAX_ATTEMPTS`` times (F8). One failing event never holds up the others: it simply is
   not due while it backs off.

Why a lease and not claims held in an open transaction: the lease keeps transactions short
(a slow Redis never pins a database connection or hits ``idle_in_transaction_session_timeout``)
and the same claim works for the email drain, whose sends take seconds. The price is that a
relay killed mid-batch leaves its batch invisible until the lease runs out (F4, measured in
``tests/test_outbox_relay.py``); the rows it had already published are then published again, which
is what at-least-once means — consumers dedupe with ``app.services.outbox.dedupe`` (F1).

A relay crash does not count as a failed attempt: only a publish that raised does. If Redis
itself is unreachable (``ServiceUnavailable``) the rest of the batch is given back uncounted and
the run stops, so an outage of the bus cannot dead-letter healthy events.

When it runs: every ``OUTBOX_RELAY_SECONDS`` over every organisation (the fallback), and — woken by
the ``pg_notify('sc_outbox', <org id>)`` that ``app.services.outbox.emit`` sends in the event's
transaction — at once after each commit, for just the organisations notified (``relay_woken_job``,
wired by ``app.jobs.wakeup``). Both may run at the same moment: the claim's ``SKIP LOCKED`` and lease
keep them from taking the same rows.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Protocol
from uuid import UUID

import orjson

from app.context import AppContext
from app.errors import ServiceUnavailable
from app.jobs.backoff import Uniform, default_rng, full_jitter
from app.jobs.wakeup import Targets
from app.logs import get_logger
from app.settings import Settings
from datalayer import pubsub
from datalayer.queries import outbox
from datalayer.queries.outbox import OutboxEvent
from datalayer.scope import Scope, SystemScope, system_scope

log = get_logger(__name__)

# One run keeps claiming while batches come back full, for at most this long; the next run
# (coalesced by the scheduler, never concurrent in one process) carries on.
RUN_BUDGET_SECONDS: Final = 10.0


@dataclass(frozen=True)
class RelayPolicy:
    batch_size: int
    lease_seconds: float
    max_attempts: int
    backoff_base_seconds: float
    backoff_cap_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> RelayPolicy:
        return cls(
            batch_size=settings.outbox_batch_size,
            lease_seconds=settings.outbox_lease_seconds,
            max_attempts=settings.outbox_max_attempts,
            backoff_base_seconds=settings.outbox_backoff_base_seconds,
            backoff_cap_seconds=settings.outbox_backoff_cap_seconds,
        )


class Publisher(Protocol):
    """Deliver one event; raise ``ServiceUnavailable`` if the bus is down, anything else if the event is bad."""

    def __call__(self, event: OutboxEvent) -> None: ...


def encode(event: OutboxEvent) -> bytes:
    """The wire format consumers read. ``event_id`` is their dedupe key."""
    return orjson.dumps(
        {
            "event_id": str(event.id),
            "type": event.event_type,
            "aggregate": {"type": event.aggregate_type, "id": event.aggregate_id},
            "payload": event.payload,
            "created_at": event.created_at.isoformat(),
        }
    )


def publish_to_redis(event: OutboxEvent) -> None:
    pubsub.publish(event.org_id, encode(event))


@dataclass
class RelayResult:
    published: int = 0
    retried: int = 0
    dead_lettered: int = 0
    released: int = 0
    bus_down: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def relay(
    policy: RelayPolicy,
    *,
    publisher: Publisher = publish_to_redis,
    rng: Uniform | None = None,
    only_orgs: Collection[UUID] | None = None,
    budget_seconds: float = RUN_BUDGET_SECONDS,
) -> RelayResult:
    """One relay run over every organisation (or ``only_orgs``); see the module docstring."""
    deadline = time.monotonic() + budget_seconds
    with system_scope("outbox-relay") as system:
        run = _Relay(system, policy, publisher, rng or default_rng())
        # Round-robin: one batch per organisation per round, so a busy tenant cannot starve the
        # others; organisations whose batch came back short are done for this run.
        pending = [o for o in system.org_ids() if only_orgs is None or o in only_orgs]
        while pending and time.monotonic() < deadline:
            busy: list[UUID] = []
            for org_id in pending:
                if run.batch(org_id):
                    busy.append(org_id)
                if run.result.bus_down:
                    return run.result
            pending = busy
    return run.result


@dataclass
class _Relay:
    system: SystemScope
    policy: RelayPolicy
    publisher: Publisher
    rng: Uniform
    result: RelayResult = field(default_factory=RelayResult)

    def batch(self, org_id: UUID) -> bool:
        """Claim, publish and record one batch; True if the batch was full (more may be due)."""
        policy = self.policy
        with self.system.org(org_id) as scope:
            batch = outbox.claim_due(scope, limit=policy.batch_size, lease_seconds=policy.lease_seconds)
        if not batch:
            return False
        published: list[UUID] = []
        failed: list[tuple[OutboxEvent, Exception]] = []
        unsent: list[UUID] = []
        for index, event in enumerate(batch):
            try:
                self.publisher(event)
            except ServiceUnavailable:
                unsent = [e.id for e in batch[index:]]
                self.result.bus_down = True
                break
            except Exception as exc:  # noqa: BLE001 - a bad event is recorded and skipped, never fatal to the batch (F8)
                failed.append((event, exc))
            else:
                published.append(event.id)
        with self.system.org(org_id) as scope:
            self.result.published += outbox.mark_published(scope, published)
            for event, error in failed:
                self._record_failure(scope, event, error)
            outbox.release(scope, unsent, retry_in_seconds=policy.backoff_base_seconds)
        self.result.released += len(unsent)
        if unsent:
            log.warning("outbox_bus_unavailable", released=len(unsent))
        return len(batch) == policy.batch_size

    def _record_failure(self, scope: Scope, event: OutboxEvent, exc: Exception) -> None:
        attempt = event.attempts + 1
        dead = attempt >= self.policy.max_attempts
        delay = full_jitter(
            event.attempts, base=self.policy.backoff_base_seconds, cap=self.policy.backoff_cap_seconds, rng=self.rng
        )
        error = f"{type(exc).__name__}: {exc}"
        outbox.record_failure(scope, event.id, error=error, retry_in_seconds=delay, dead_letter=dead)
        if dead:
            self.result.dead_lettered += 1
            log.error("outbox_event_dead_lettered", event_id=str(event.id), type=event.event_type, attempts=attempt)
        else:
            self.result.retried += 1
            log.warning("outbox_publish_failed", event_id=str(event.id), attempt=attempt, retry_in=round(delay, 3))


def relay_job(ctx: AppContext) -> dict[str, Any]:
    """The scheduled job (``outbox-relay``)."""
    return relay(RelayPolicy.from_settings(ctx.settings)).as_dict()


def notified_orgs(targets: Targets) -> frozenset[UUID] | None:
    """The organisations named by the notifications' payloads; None (all of them) if any is not an id."""
    if targets is None:
        return None
    try:
        return frozenset(UUID(target) for target in targets)
    except ValueError:
        return None


def relay_woken_job(ctx: AppContext, targets: Targets) -> dict[str, Any]:
    """The same job woken by ``emit``'s notifications: only the organisations that committed events.

    The payload only narrows the run; ``relay`` still iterates the organisations ``system_scope``
    lists and reads each under its own scope, so a forged payload can at most cause an empty claim.
    """
    return relay(RelayPolicy.from_settings(ctx.settings), only_orgs=notified_orgs(targets)).as_dict()
