"""``GET /api/v1/events`` (``metrics:view``): the organisation's live counters as Server-Sent Events.

A client that accepts ``text/event-stream`` (every ``EventSource`` does) gets a stream:

- ``retry: 5000``, then at once an ``event: counters`` with the current counters as JSON (the
  shape of ``app.services.live_counters.Counters.as_json``), and another each time a count
  changes (coalesced by the hub: at most a few per second however busy the organisation is);
- every ``SESSION_WATCHDOG_SECONDS`` the session is checked again (off the event loop) and a
  ``: keep-alive`` comment is sent, so proxies keep the connection open and a dead client is
  noticed;
- when the session is revoked, expires, or loses the permission, an ``event: end`` with
  ``{"reason": "session_ended"}`` and the stream closes (an ``EventSource`` that reconnects then
  gets 401).

``X-Accel-Buffering: no`` tells nginx not to buffer the stream; each event is flushed. Any other
client (``Accept: application/json``, or no ``text/event-stream``) gets the counters once, as
JSON. Each stream holds one listener on the process's hub, removed when the stream ends however
it ends; the listener keeps only the latest counters (latest value wins), so a slow client never
makes the server queue events for it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final

import orjson
from tornado.iostream import StreamClosedError

from app.authz import Permission, Principal
from app.context import AppContext
from app.http.base import JsonHandler
from app.logs import get_logger
from app.services import live_counters
from app.services.live_counters import Counters

log = get_logger(__name__)

RETRY_MS: Final = 5000


def sse_frame(event: str, data: object) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class EventsHandler(JsonHandler):
    permission = Permission.METRICS_VIEW

    def initialize(self, ctx: AppContext) -> None:
        super().initialize(ctx)
        self._gone = asyncio.Event()

    def on_connection_close(self) -> None:
        self._gone.set()

    async def get(self) -> None:
        assert self.principal is not None  # noqa: S101 - prepare() guarantees it
        principal = self.principal
        loop = asyncio.get_running_loop()
        if "text/event-stream" not in self.request.headers.get("Accept", ""):
            counters = await loop.run_in_executor(self.ctx.executor, live_counters.current, principal)
            self.write_json(counters.as_json())
            return
        hub = live_counters.hub()
        latest: list[Counters] = []
        changed = asyncio.Event()

        def arrived(counters: Counters) -> None:  # on the hub's thread
            loop.call_soon_threadsafe(_keep, counters)

        def _keep(counters: Counters) -> None:
            latest[:] = [counters]
            changed.set()

        # Listen first, then read: a change between the two is not lost.
        subscription = hub.subscribe(principal.org_id, arrived)
        try:
            first = await loop.run_in_executor(self.ctx.executor, live_counters.current, principal)
            self.set_header("Content-Type", "text/event-stream; charset=utf-8")
            self.set_header("X-Accel-Buffering", "no")
            self.write(f"retry: {RETRY_MS}\n\n".encode())
            await self._send(first)
            await self._follow(principal, latest, changed, sent=first)
        except StreamClosedError:
            pass  # the client went away
        finally:
            subscription.close()
        if not self._finished:
            self.finish()

    async def _send(self, counters: Counters) -> None:
        self.write(sse_frame("counters", counters.as_json()))
        await self.flush()

    async def _follow(
        self, principal: Principal, latest: list[Counters], changed: asyncio.Event, *, sent: Counters
    ) -> None:
        loop = asyncio.get_running_loop()
        period = self.ctx.settings.session_watchdog_seconds
        next_check = time.monotonic() + period
        gone = asyncio.ensure_future(self._gone.wait())
        try:
            while not self._gone.is_set():
                waiter = asyncio.ensure_future(changed.wait())
                await asyncio.wait({waiter, gone}, timeout=max(0.0, next_check - time.monotonic()))
                waiter.cancel()
                if self._gone.is_set():
                    return
                if changed.is_set():
                    changed.clear()
                    counters = latest.pop() if latest else None
                    # Defence in depth: the hub only calls us with our organisation's counters.
                    if counters is not None and counters.org_id == principal.org_id and not counters.same_counts(sent):
                        await self._send(counters)
                        sent = counters
                if time.monotonic() >= next_check:
                    if not await loop.run_in_executor(self.ctx.executor, self._still_allowed, principal):
                        log.info("sse_session_ended")
                        self.write(sse_frame("end", {"reason": "session_ended"}))
                        await self.flush()
                        return
                    self.write(b": keep-alive\n\n")
                    await self.flush()
                    next_check = time.monotonic() + period
        finally:
            gone.cancel()

    def _still_allowed(self, principal: Principal) -> bool:
        current = self.ctx.auth.resume(
            org_id=principal.org_id, user_id=principal.user_id, session_id=principal.session_id, touch=False
        )
        return current is not None and current.can(Permission.METRICS_VIEW)
