"""``GET /api/v1/export/{charts,audits,metrics}.{csv,parquet}`` (``data:export``): streamed exports.

The handler is thin (``app.services.exports`` does the work): it checks the query, counts and
audits the export (off the event loop), then streams. The rows are read and encoded in a worker
thread of ``EXPORT_WORKERS`` (a process holds at most that many exports at a time; further ones
wait their turn) and handed to the event loop chunk by chunk, at most ``IN_FLIGHT`` chunks ahead
of the client, so a slow download holds back the reader instead of filling memory. Each chunk
is flushed as it comes (chunked transfer encoding).

Errors before the first chunk get the usual JSON error (400, 401, 403, 429, 503). A failure after
the download started cannot change the status any more: the connection is closed without the
final chunk, so the client sees an incomplete download, never a short file that looks whole.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from tornado.http1connection import HTTP1Connection
from tornado.iostream import StreamClosedError

from app.authz import Permission
from app.http.base import JsonHandler
from app.logs import get_logger
from app.services import exports

log = get_logger(__name__)

EXPORT_WORKERS: Final = 2
IN_FLIGHT: Final = 4
# Process-wide and stateless: the threads that read and encode exports (not the password executor,
# so a long export never delays a sign-in).
_EXECUTOR: Final = ThreadPoolExecutor(EXPORT_WORKERS, thread_name_prefix="sc-export")


class _Cancelled(Exception):
    """The client went away: stop reading."""


_DONE: Final = object()


class _Pump:
    """Runs ``produce(emit)`` on an export thread; the event loop takes the chunks with ``next()``.

    At most ``IN_FLIGHT`` chunks wait for the client: ``emit`` blocks the thread until the loop
    has sent one (``sent()``). ``stop()`` makes the next ``emit`` raise, ending the read.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, produce: Callable[[Callable[[bytes], None]], int]) -> None:
        self._loop = loop
        self._produce = produce
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._room = threading.Semaphore(IN_FLIGHT)
        self._cancelled = threading.Event()
        self.rows = 0

    def start(self, context: contextvars.Context) -> None:
        self._loop.run_in_executor(_EXECUTOR, context.run, self._work)

    def _emit(self, chunk: bytes) -> None:  # export thread
        self._room.acquire()
        if self._cancelled.is_set():
            raise _Cancelled()
        self._loop.call_soon_threadsafe(self._queue.put_nowait, chunk)

    def _work(self) -> None:  # export thread
        try:
            self.rows = self._produce(self._emit)
        except BaseException as exc:  # noqa: BLE001 - handed to the event loop, which decides
            self._loop.call_soon_threadsafe(self._queue.put_nowait, exc)
        else:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, _DONE)

    async def next(self) -> bytes | None:
        """The next chunk; None when the export is complete; raises what the export raised."""
        item = await self._queue.get()
        if item is _DONE:
            return None
        if isinstance(item, BaseException):
            raise item
        return item  # type: ignore[return-value]  # only bytes, _DONE and exceptions are queued

    def sent(self) -> None:
        self._room.release()

    def stop(self) -> None:
        # A producer still running (client gone, or an error) is told to stop; one waiting for
        # room is woken to see it. Harmless when it has finished.
        self._cancelled.set()
        self._room.release()


class ExportHandler(JsonHandler):
    permission = Permission.DATA_EXPORT

    async def get(self, dataset: str, fmt: str) -> None:
        assert self.principal is not None  # noqa: S101 - prepare() guarantees it
        principal = self.principal
        request = exports.parse_request(dataset, fmt, self.request.query_arguments)
        loop = asyncio.get_running_loop()
        settings, ip = self.ctx.settings, self.client_ip
        # copy_context: the audit row and the log lines carry this request's id (bound in prepare()).
        context = contextvars.copy_context()
        await loop.run_in_executor(
            self.ctx.executor,
            lambda: context.run(exports.begin, principal, request, settings=settings, client_ip=ip),
        )
        pump = _Pump(loop, lambda emit: exports.produce(principal, request, emit))
        pump.start(context)
        try:
            await self._stream(pump, request)
        except StreamClosedError:
            log.info("export_abandoned", dataset=request.dataset)
        finally:
            pump.stop()

    async def _stream(self, pump: _Pump, request: exports.ExportRequest) -> None:
        started = False
        while True:
            try:
                chunk = await pump.next()
            except Exception as exc:
                if not started:
                    raise  # nothing sent yet: the usual error response
                if not isinstance(exc, _Cancelled):
                    log.error("export_failed", dataset=request.dataset, error=type(exc).__name__)
                if isinstance(self.request.connection, HTTP1Connection):
                    self.request.connection.close()  # no final chunk: the client sees the download fail
                return
            if chunk is None:
                log.info("export_finished", dataset=request.dataset, format=request.fmt, rows=pump.rows)
                self.finish()
                return
            if not started:
                started = True
                self.set_header("Content-Type", request.media_type)
                self.set_header("Content-Disposition", f'attachment; filename="{request.file_name()}"')
                self.set_header("X-Accel-Buffering", "no")
            self.write(chunk)
            await self.flush()
            pump.sent()
