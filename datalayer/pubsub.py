"""Publishing domain events on Redis pub/sub, one channel per organisation.

The channel name carries the organisation id, so a subscriber (the live dashboard's per-process
hub) can listen to exactly the tenants it serves and nothing in a message has to be trusted to say
whose it is. Pub/sub is fire-and-forget: a subscriber that is not connected misses the message,
which is why the outbox, not Redis, is the record of what happened.

Receiving: ``EventSubscriber`` holds the process's one pattern subscription to every channel
and hands each message, with the organisation read from its channel, to one in-process consumer
(the live-counter hub, which fans out to sessions and SSE streams).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Final
from uuid import UUID

import redis

from app.errors import ServiceUnavailable
from datalayer.redis_client import get_redis

CHANNEL_PREFIX: Final = "sc:events:"
CHANNEL_PATTERN: Final = CHANNEL_PREFIX + "*"
_POLL_SECONDS: Final = 0.5  # how long one read waits; also how quickly stop() is noticed
_MAX_BACKOFF_SECONDS: Final = 5.0

log = logging.getLogger(__name__)


def channel(org_id: UUID) -> str:
    return f"{CHANNEL_PREFIX}{org_id}"


def publish(org_id: UUID, message: bytes) -> int:
    """Publish one message on the organisation's channel; returns the number of subscribers reached.

    Raises ServiceUnavailable when Redis does not answer within the client's timeout, so the relay
    can tell "the bus is down" (give the batch back) from "this event is bad" (count an attempt).
    """
    try:
        return int(get_redis().publish(channel(org_id), message))
    except redis.RedisError as exc:
        raise ServiceUnavailable("event bus unavailable") from exc


# -- receiving: one subscriber per process ------------------------------------------------------

Handler = Callable[[UUID, str], None]


class EventSubscriber:
    """One pattern subscription to every organisation's channel, read on a daemon thread.

    ``handler(org_id, data)`` is called on that thread for each message, in arrival order; the
    organisation comes from the channel name, never from the message. ``on_connect()`` is called
    after every (re)subscription: messages published while the connection was down are lost
    (pub/sub keeps nothing), so the consumer re-reads whatever state it serves from the database.
    A dropped connection is retried with a capped back-off until ``stop()``.

    A web process keeps exactly one (``app.services.live_counters`` owns it); the worker has none.
    """

    def __init__(self, handler: Handler, *, on_connect: Callable[[], None] | None = None) -> None:
        self._handler = handler
        self._on_connect = on_connect
        self._stop = threading.Event()
        self.connected = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sc-event-subscriber", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.connected.clear()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            pubsub = None
            try:
                pubsub = get_redis().pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                pubsub.psubscribe(CHANNEL_PATTERN)
                self.connected.set()
                if failures:
                    log.info("event_subscriber_reconnected", extra={"failures": failures})
                failures = 0
                if self._on_connect is not None:
                    self._safely(self._on_connect)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=_POLL_SECONDS)
                    if message is not None and message.get("type") == "pmessage":
                        self._dispatch(str(message["channel"]), message["data"])
            # RuntimeError: no client installed (yet); ValueError: the pool was closed under the read.
            except (redis.RedisError, OSError, RuntimeError, ValueError) as exc:
                self.connected.clear()
                failures += 1
                if failures == 1:
                    log.warning("event_subscriber_disconnected", extra={"error": type(exc).__name__})
                self._stop.wait(min(_MAX_BACKOFF_SECONDS, 0.1 * 2 ** min(failures, 6)))
            finally:
                if pubsub is not None:
                    with contextlib.suppress(redis.RedisError, OSError):
                        pubsub.close()
        self.connected.clear()

    def _dispatch(self, channel_name: str, data: object) -> None:
        if not channel_name.startswith(CHANNEL_PREFIX):
            return
        try:
            org_id = UUID(channel_name[len(CHANNEL_PREFIX) :])
        except ValueError:
            return
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
        self._safely(lambda: self._handler(org_id, text))

    @staticmethod
    def _safely(call: Callable[[], None]) -> None:
        try:
            call()
        except Exception:  # a consumer's bug must not kill the process's only subscriber
            log.exception("event_subscriber_handler_failed")
