"""Live counters inside a Panel session, without leaking a listener (PANEL.md finding e).

``follow(org_id, on_change)`` registers one listener on the process's hub
(``app.services.live_counters``) for the session's own organisation and removes it when the
session is destroyed — an explicit subscribe/close pair, never ``pn.bind``/``param.depends`` on a
process-global object. The hub calls the listener on its own thread; the listener only schedules
``on_change`` on this session's document (``add_next_tick_callback``, the one thread-safe
document method), so ``on_change`` runs on the event loop with the session current and may update
widgets. It must not block: database work goes through ``SecurePage.run_action``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from uuid import UUID

import panel as pn
from panel.io.state import set_curdoc

from app.services import live_counters
from app.services.live_counters import Counters, Subscription


def follow(org_id: UUID, on_change: Callable[[Counters], None]) -> Subscription | None:
    """Call ``on_change(counters)`` in this session whenever ``org_id``'s counters change.

    Returns the subscription (closed automatically with the session), or None outside a server
    session (tests that build a page as a plain object).
    """
    doc = pn.state.curdoc
    if doc is None or getattr(doc, "session_context", None) is None:
        return None

    def apply(counters: Counters) -> None:  # on the event loop, for this session
        with set_curdoc(doc):
            on_change(counters)

    def deliver(counters: Counters) -> None:  # on the hub's thread
        # A session being torn down may refuse new callbacks; its listener is about to go anyway.
        with contextlib.suppress(RuntimeError, AttributeError):
            doc.add_next_tick_callback(lambda: apply(counters))

    subscription = live_counters.hub().subscribe(org_id, deliver)
    pn.state.on_session_destroyed(lambda _context: subscription.close())
    return subscription
