"""PostgreSQL LISTEN/NOTIFY: wake a worker the moment a transaction that queued work commits.

Sending: ``notify(scope, channel, payload)`` queues a notification in the scope's transaction.
PostgreSQL delivers it only when that transaction commits and drops it when it rolls back, so a
listener is never woken for work that did not happen (the wake-up keeps INV-5's promise). Within
one transaction, identical notifications (same channel and payload) are delivered once.

Receiving: a ``Listener`` holds one dedicated connection — opened with the process engine's
address and credentials but outside its pool, in autocommit, so it never holds a transaction or a
pool slot — and reads notifications on a daemon thread, handing each to one handler. A dropped
connection is re-opened with a capped back-off until ``stop()``.

Notifications are hints, never the record: one sent while the listener is reconnecting, or before
it first listened, is lost. Whoever acts on them keeps a periodic fallback and, after a reconnect
(``on_connect(True)``), looks at everything once.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Collection
from typing import Final

import psycopg
from psycopg import sql
from sqlalchemy import text

from datalayer.scope import Scope, get_engine

# Transactions that write ``outbox_events`` notify this channel with their organisation's id.
OUTBOX_CHANNEL: Final = "sc_outbox"
# How the listener shows in ``pg_stat_activity`` (operators, and the tests that end its connection).
APPLICATION_NAME: Final = "smartcoders-listener"
_CHANNEL = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_POLL_SECONDS: Final = 0.5  # how long one wait for notifications lasts; also how quickly stop() is noticed
_MAX_BACKOFF_SECONDS: Final = 5.0

log = logging.getLogger(__name__)

Handler = Callable[[str, str], None]  # (channel, payload)


def notify(scope: Scope, channel: str, payload: str = "") -> None:
    """Queue a notification on ``channel``, delivered to listeners only if this transaction commits."""
    if not _CHANNEL.fullmatch(channel):
        raise ValueError(f"notification channel {channel!r} must look like 'sc_outbox'")
    scope.conn.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload})


class Listener:
    """One LISTEN connection for ``channels``, read on a daemon thread.

    ``handler(channel, payload)`` is called on that thread for each notification, in commit order;
    it should only record the wake-up and return (the listener reads nothing else meanwhile).
    ``on_connect(reconnected)`` is called after every successful LISTEN: with True after a
    reconnect, when notifications sent while the connection was down are lost.
    """

    def __init__(
        self,
        channels: Collection[str],
        handler: Handler,
        *,
        on_connect: Callable[[bool], None] | None = None,
        name: str = "sc-notify-listener",
    ) -> None:
        bad = [c for c in channels if not _CHANNEL.fullmatch(c)]
        if bad or not channels:
            raise ValueError(f"notification channels {sorted(bad)} must look like 'sc_outbox'")
        self._channels = tuple(channels)
        self._handler = handler
        self._on_connect = on_connect
        self._name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()
        self.connects = 0  # successful LISTENs so far (the first connection and every reconnect)

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop listening and close the connection; True once the thread has ended."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.connected.clear()
        return not self.running

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        engine = get_engine()
        args, params = engine.dialect.create_connect_args(engine.url)
        # Address, credentials and TLS come from the engine's URL; these override its query string.
        params.update(
            {
                "autocommit": True,
                "application_name": APPLICATION_NAME,
                "connect_timeout": 5,
                # Over TCP, notice a peer that vanished without closing (ignored on Unix sockets).
                "keepalives_idle": 30,
                "keepalives_interval": 10,
                "keepalives_count": 3,
            }
        )
        return psycopg.connect(*args, **params)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            conn: psycopg.Connection[tuple[object, ...]] | None = None
            try:
                conn = self._connect()
                for channel in self._channels:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                self.connected.set()
                reconnected = self.connects > 0
                self.connects += 1
                if failures:
                    log.info("notify_listener_reconnected", extra={"failures": failures})
                failures = 0
                if self._on_connect is not None:
                    self._safely(self._on_connect, reconnected)
                while not self._stop.is_set():
                    for note in conn.notifies(timeout=_POLL_SECONDS):
                        self._safely(self._handler, note.channel, note.payload)
                        if self._stop.is_set():
                            break
            # RuntimeError: no engine installed (yet); psycopg.Error: connection refused or ended
            # (pg_terminate_backend, a server restart, an idle timeout).
            except (psycopg.Error, OSError, RuntimeError) as exc:
                self.connected.clear()
                failures += 1
                if failures == 1:
                    log.warning("notify_listener_disconnected", extra={"error": type(exc).__name__})
                self._stop.wait(min(_MAX_BACKOFF_SECONDS, 0.1 * 2 ** min(failures, 6)))
            finally:
                self.connected.clear()
                if conn is not None:
                    with contextlib.suppress(psycopg.Error, OSError):
                        conn.close()

    @staticmethod
    def _safely[*Args](call: Callable[[*Args], None], *args: *Args) -> None:
        try:
            call(*args)
        except Exception:  # a handler's bug must not end the process's only listener
            log.exception("notify_listener_handler_failed")
