"""Live counters per organisation: the queue at a glance, kept current from domain events.

What is counted (``Counters``; ``datalayer.queries.live_counters`` does it in one statement of
indexed counts): charts by status (draft, pending_audit, returned, completed); unassigned drafts;
*aging* drafts, imported more than ``QUEUE_AGING_HOURS`` ago and still not submitted; charts
waiting for audit longer than that; submissions, audit approvals and returns, and imported
charts since midnight UTC; import jobs queued or running.

How they stay current (ARCHITECTURE §6 "Live metrics", PANEL.md "Fan-out that works"):

- The outbox relay publishes every domain event on ``sc:events:<org>``. Each web process has
  **one** Redis subscriber (``datalayer.pubsub.EventSubscriber``) feeding **one** ``LiveHub``.
- A relevant event marks its organisation dirty. A refresher thread recomputes each dirty
  organisation at most once per ``COALESCE_SECONDS`` (a burst — an import creating 500 charts —
  costs a handful of count queries, and the latest value wins), and only for organisations that
  someone in this process is watching. Counters are recomputed from the database, never
  incremented from event payloads, so a duplicate or missed event cannot make them drift
  (the relay delivers at least once; no dedupe is needed).
- Listeners are registered per organisation with ``LiveHub.subscribe(org_id, fn)`` and removed
  with ``Subscription.close()``: explicit, never a ``param`` binding, so a closed page or stream
  leaves nothing behind (PANEL.md finding e). A listener is called on the refresher thread with
  its own organisation's counters only, and only when a count changed; it must hand the value to
  its own event loop and return (``pages.live.follow`` does that for Panel sessions, the SSE
  handler for its stream).
- The latest counters of each organisation are also kept in Redis (``datalayer.live_cache``,
  key ``sc:live:<org>``, counts only) so a stream or page opening in any process starts from
  them without a query; a process that sees an event for an organisation it does not watch
  drops that key instead of recomputing. Counters that move with the clock alone (aging, today)
  are recomputed every ``REFRESH_SECONDS`` for watched organisations, and after the subscriber
  reconnects (messages published while it was down are lost).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from uuid import UUID

import orjson

from app.authz import Permission, Principal
from app.logs import get_logger
from datalayer import live_cache
from datalayer.pubsub import EventSubscriber
from datalayer.queries import live_counters as queries
from datalayer.scope import org_scope

log = get_logger(__name__)

COALESCE_SECONDS: Final = 0.1  # events for one organisation within this window cost one recompute
REFRESH_SECONDS: Final = 30.0  # watched organisations are recomputed this often with no events (clock-driven counts)
CACHE_TTL_SECONDS: Final = 2 * REFRESH_SECONDS
# Events that cannot change a count: no recompute. Everything else of these families does.
RELEVANT_PREFIXES: Final = ("chart.", "import.")
IGNORED_EVENTS: Final = frozenset({"chart.codes_saved"})

Listener = Callable[["Counters"], None]


@dataclass(frozen=True)
class Counters:
    """One organisation's counters at ``as_of``. No PHI: counts only."""

    org_id: UUID
    as_of: datetime
    aging_hours: int
    draft: int = 0
    pending_audit: int = 0
    returned: int = 0
    completed: int = 0
    unassigned: int = 0
    aging: int = 0
    audit_aging: int = 0
    submitted_today: int = 0
    approved_today: int = 0
    returned_today: int = 0
    imported_today: int = 0
    imports_active: int = 0

    @property
    def open(self) -> int:
        """Charts a coder still has to work on: drafts (assigned or not) and returned charts."""
        return self.draft + self.returned

    @property
    def total(self) -> int:
        return self.draft + self.pending_audit + self.returned + self.completed

    def counts(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("org_id", "as_of")}

    def same_counts(self, other: Counters | None) -> bool:
        return other is not None and other.org_id == self.org_id and other.counts() == self.counts()

    def as_json(self) -> dict[str, Any]:
        """The wire shape (SSE ``counters`` events, ``GET /api/v1/events`` as JSON, the Redis copy)."""
        return {
            "org_id": str(self.org_id),
            "as_of": self.as_of.isoformat(),
            "aging_hours": self.aging_hours,
            "queue": {
                "draft": self.draft,
                "pending_audit": self.pending_audit,
                "returned": self.returned,
                "completed": self.completed,
                "total": self.total,
                "open": self.open,
                "unassigned": self.unassigned,
                "aging": self.aging,
                "audit_aging": self.audit_aging,
            },
            "today": {
                "submitted": self.submitted_today,
                "approved": self.approved_today,
                "returned": self.returned_today,
                "imported": self.imported_today,
            },
            "imports": {"active": self.imports_active},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Counters:
        queue, today = data["queue"], data["today"]
        return cls(
            org_id=UUID(data["org_id"]),
            as_of=datetime.fromisoformat(data["as_of"]),
            aging_hours=int(data["aging_hours"]),
            draft=int(queue["draft"]),
            pending_audit=int(queue["pending_audit"]),
            returned=int(queue["returned"]),
            completed=int(queue["completed"]),
            unassigned=int(queue["unassigned"]),
            aging=int(queue["aging"]),
            audit_aging=int(queue["audit_aging"]),
            submitted_today=int(today["submitted"]),
            approved_today=int(today["approved"]),
            returned_today=int(today["returned"]),
            imported_today=int(today["imported"]),
            imports_active=int(data["imports"]["active"]),
        )


def compute(org_id: UUID, *, aging_hours: int, now: datetime | None = None) -> Counters:
    """Count from the database, in the organisation's scope (row-level security applies)."""
    now = now or datetime.now(UTC)
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with org_scope(org_id) as scope:
        counts = queries.counts(scope, today=today, aging_before=now - timedelta(hours=aging_hours))
    return Counters(org_id=org_id, as_of=now, aging_hours=aging_hours, **counts)


def is_relevant(event_type: str) -> bool:
    return event_type.startswith(RELEVANT_PREFIXES) and event_type not in IGNORED_EVENTS


def _event_type(raw: str) -> str | None:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    value = data.get("type") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


class Subscription:
    """A registered listener; ``close()`` removes it (idempotent). Also a context manager."""

    def __init__(self, hub: LiveHub, org_id: UUID, token: int) -> None:
        self._hub, self.org_id, self._token = hub, org_id, token
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._hub._remove(self.org_id, self._token)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class LiveHub:
    """The process-wide fan-out of live counters (see the module docstring). Thread-safe."""

    def __init__(
        self,
        *,
        aging_hours: int,
        coalesce_seconds: float = COALESCE_SECONDS,
        refresh_seconds: float = REFRESH_SECONDS,
        cache_ttl_seconds: float = CACHE_TTL_SECONDS,
        subscribe_to_events: bool = True,
    ) -> None:
        self.aging_hours = aging_hours
        self._coalesce = coalesce_seconds
        self._refresh_every = refresh_seconds
        self._cache_ttl = cache_ttl_seconds
        self._lock = threading.Condition()
        self._listeners: dict[UUID, dict[int, Listener]] = {}
        self._latest: dict[UUID, Counters] = {}
        self._dirty: set[UUID] = set()
        self._tokens = itertools.count(1)
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._subscriber = (
            EventSubscriber(self.on_event, on_connect=self.refresh_watched) if subscribe_to_events else None
        )
        self.recomputes = 0  # how many times counters were read from the database (coalescing is visible in tests)

    # -- listeners ------------------------------------------------------------------------

    def subscribe(self, org_id: UUID, listener: Listener) -> Subscription:
        """Call ``listener(counters)`` (on the hub's thread) whenever ``org_id``'s counters change."""
        with self._lock:
            token = next(self._tokens)
            self._listeners.setdefault(org_id, {})[token] = listener
            self._start()
        return Subscription(self, org_id, token)

    def _remove(self, org_id: UUID, token: int) -> None:
        with self._lock:
            listeners = self._listeners.get(org_id)
            if listeners is None:
                return
            listeners.pop(token, None)
            if not listeners:
                del self._listeners[org_id]
                self._latest.pop(org_id, None)

    def listener_count(self, org_id: UUID | None = None) -> int:
        with self._lock:
            if org_id is not None:
                return len(self._listeners.get(org_id, {}))
            return sum(len(v) for v in self._listeners.values())

    def watching(self, org_id: UUID) -> bool:
        with self._lock:
            return org_id in self._listeners

    # -- reading ----------------------------------------------------------------------------

    def latest(self, org_id: UUID) -> Counters:
        """The current counters: this process's copy if it watches the organisation, else the
        Redis copy, else counted now (and cached). Blocking (may query): not on an event loop."""
        with self._lock:
            mine = self._latest.get(org_id)
        if mine is not None:
            return mine
        cached = live_cache.get(org_id)
        if cached is not None:
            with contextlib.suppress(ValueError, KeyError, TypeError, orjson.JSONDecodeError):
                counters = Counters.from_json(orjson.loads(cached))
                if counters.org_id == org_id and counters.aging_hours == self.aging_hours:
                    return counters
        return self._recompute(org_id, notify=False)

    # -- events -----------------------------------------------------------------------------

    def on_event(self, org_id: UUID, raw: str) -> None:
        """One message from ``sc:events:<org_id>`` (the subscriber's thread): mark the org dirty."""
        event_type = _event_type(raw)
        if event_type is None or not is_relevant(event_type):
            return
        with self._lock:
            watched = org_id in self._listeners
            if watched:
                self._dirty.add(org_id)
                self._lock.notify_all()
        if not watched:
            live_cache.forget(org_id)  # whoever reads it next counts afresh

    def mark_dirty(self, org_id: UUID) -> None:
        with self._lock:
            self._dirty.add(org_id)
            self._lock.notify_all()

    def refresh_watched(self) -> None:
        with self._lock:
            self._dirty.update(self._listeners)
            self._lock.notify_all()

    def _start(self) -> None:
        """Start the refresher thread and the subscriber (caller holds the lock)."""
        if self._stopping or (self._thread is not None and self._thread.is_alive()):
            return
        self._thread = threading.Thread(target=self._run, name="sc-live-counters", daemon=True)
        self._thread.start()
        if self._subscriber is not None:
            self._subscriber.start()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        if self._subscriber is not None:
            self._subscriber.stop()
        if self._thread is not None:
            self._thread.join(2)

    @property
    def subscriber_connected(self) -> bool:
        return self._subscriber is not None and self._subscriber.connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Wait until the Redis subscription is live (tests, and a stream that must not miss events)."""
        return self._subscriber is not None and self._subscriber.connected.wait(timeout)

    def _run(self) -> None:
        next_refresh = time.monotonic() + self._refresh_every
        while True:
            with self._lock:
                while not self._dirty and not self._stopping:
                    remaining = next_refresh - time.monotonic()
                    if remaining <= 0:
                        self._dirty.update(self._listeners)
                        next_refresh = time.monotonic() + self._refresh_every
                        break
                    self._lock.wait(remaining)
                if self._stopping:
                    return
            # Coalesce: let the rest of a burst arrive, then recompute each dirty org once.
            time.sleep(self._coalesce)
            with self._lock:
                batch, self._dirty = self._dirty, set()
            for org_id in batch:
                if self.watching(org_id):
                    try:
                        self._recompute(org_id, notify=True)
                    except Exception:  # a database hiccup must not end live updates; the next event or refresh retries
                        log.exception("live_counters_refresh_failed", org_id=str(org_id))

    def _recompute(self, org_id: UUID, *, notify: bool) -> Counters:
        counters = compute(org_id, aging_hours=self.aging_hours)
        self.recomputes += 1
        live_cache.put(org_id, orjson.dumps(counters.as_json()).decode(), ttl_seconds=self._cache_ttl)
        with self._lock:
            listeners = self._listeners.get(org_id)
            if listeners is None:
                return counters
            previous = self._latest.get(org_id)
            self._latest[org_id] = counters
            targets = list(listeners.values()) if notify and not counters.same_counts(previous) else []
        for listener in targets:
            try:
                listener(counters)
            except Exception:  # one broken listener must not starve the others
                log.exception("live_counters_listener_failed", org_id=str(org_id))
        return counters


_hub: LiveHub | None = None
_hub_lock = threading.Lock()


def hub() -> LiveHub:
    """The process's hub (created on first use; its threads start with the first listener)."""
    global _hub  # noqa: PLW0603 - one hub per process, built lazily
    with _hub_lock:
        if _hub is None:
            from app.settings import get_settings

            _hub = LiveHub(aging_hours=get_settings().queue_aging_hours)
        return _hub


def stop_hub() -> None:
    """Stop the process's hub, if one was started (process shutdown: its thread reads the database)."""
    global _hub
    with _hub_lock:
        running, _hub = _hub, None
    if running is not None:
        running.stop()


def current(principal: Principal) -> Counters:
    """The caller's organisation's counters (``metrics:view``). Blocking: run it off the event loop."""
    principal.require(Permission.METRICS_VIEW)
    return hub().latest(principal.org_id)
