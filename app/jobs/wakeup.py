"""Run a queue job as soon as its work commits, not at its next scheduled run (ADR 0008).

A job declares ``wake=Wake(channel, func)`` in the registry. Transactions that queue its work send
``pg_notify(channel, <organisation id>)`` (``datalayer.notify``), which PostgreSQL delivers only
when they commit. The worker's one ``Listener`` connection hands each notification to that job's
``Waker``: a thread that runs ``func(ctx, targets)`` in the job's envelope (``registry.run``: log
context, leader lock, no exception escapes), ``targets`` being the payloads (organisation ids)
notified since its last run.

- **Coalesced**: a waker runs one woken run at a time. Notifications that arrive during a run are
  merged into the next one, so a burst costs at most one extra run at a time, however long it is.
- **Beside the schedule**, not instead of it: notifications are hints, lost while the listener
  reconnects or before it first listened, so the job keeps its interval as the fallback, and after
  a reconnect the waker runs once for everything (``targets`` None). A woken run can overlap the
  job's scheduled run (APScheduler's ``max_instances`` sees only its own runs): only jobs that
  already run safely side by side declare a wake — queue jobs that claim with ``SKIP LOCKED`` and
  a lease. A ``leader=True`` job still takes its advisory lock, whichever way it was started.
- **Stopped with the scheduler**: ``make_scheduler`` starts the wake-ups when the scheduler runs
  and stops them (closing the connection, joining the threads) when it pauses or shuts down.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.context import AppContext
from app.logs import get_logger
from datalayer.notify import Listener

log = get_logger(__name__)

# The payloads notified since the last woken run; None: everything (a notification without a
# payload, or a reconnect after which some may have been missed).
Targets = frozenset[str] | None


@dataclass(frozen=True)
class Wake:
    """Notifications on ``channel`` run the job now, as ``func(ctx, targets)``."""

    channel: str
    func: Callable[[AppContext, Targets], dict[str, Any]]


class Waker:
    """One thread that calls ``call(targets)`` whenever ``poke`` was called since its last call."""

    def __init__(self, name: str, call: Callable[[Targets], object]) -> None:
        self.name = name
        self._call = call
        self._lock = threading.Lock()
        self._due = threading.Event()
        self._stop = threading.Event()
        self._targets: set[str] = set()
        self._everything = False
        self._thread: threading.Thread | None = None
        self.runs = 0  # woken runs finished (logs, tests)

    def poke(self, payload: str = "") -> None:
        """Ask for a run covering ``payload`` (an empty payload: everything); returns at once."""
        with self._lock:
            if payload:
                self._targets.add(payload)
            else:
                self._everything = True
            self._due.set()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"sc-wake-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop after the run in progress, if any; True once the thread has ended."""
        self._stop.set()
        self._due.set()
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _take(self) -> Targets:
        with self._lock:
            targets = None if self._everything else frozenset(self._targets)
            self._targets = set()
            self._everything = False
            self._due.clear()
        return targets

    def _run(self) -> None:
        while True:
            self._due.wait()
            if self._stop.is_set():
                return
            targets = self._take()
            if targets is not None and not targets:  # a stop() and start() left the flag set, nothing else
                continue
            try:
                self._call(targets)
            except Exception:  # the job envelope already catches; this keeps the thread alive regardless
                log.exception("wakeup_failed", job=self.name)
            self.runs += 1


class Wakeups:
    """The worker's wake-ups: one ``Listener`` connection feeding the wakers of every channel."""

    def __init__(self, wakers: Mapping[str, Sequence[Waker]]) -> None:
        self._by_channel = {channel: tuple(found) for channel, found in wakers.items()}
        self.wakers = [waker for found in self._by_channel.values() for waker in found]
        self.listener = Listener(list(self._by_channel), self._notified, on_connect=self._connected)

    def _notified(self, channel: str, payload: str) -> None:
        for waker in self._by_channel.get(channel, ()):
            waker.poke(payload)

    def _connected(self, reconnected: bool) -> None:
        if reconnected:  # notifications sent while the connection was down are lost: catch up once
            log.info("wakeup_listener_reconnected")
            for waker in self.wakers:
                waker.poke()

    def start(self) -> None:
        for waker in self.wakers:
            waker.start()
        self.listener.start()

    def stop(self) -> bool:
        """Close the listener, then let each waker finish its run; True if every thread ended."""
        stopped = self.listener.stop()
        for waker in self.wakers:
            stopped = waker.stop() and stopped
        return stopped

    @property
    def running(self) -> bool:
        return self.listener.running or any(waker.running for waker in self.wakers)
