"""The page shell holds nothing of a session in process-global state (PANEL.md trap (e)).

panel-material-ui's ``Page`` binds its ``busy`` to ``pn.state.param.busy``; the watcher that binding
puts on the process-wide state was never removed, so every served page stayed alive and was updated
on every event of every session — and one whose session had ended raised inside the next session's
click, which was then lost (seen as a browser test that failed only after other browser tests).
"""

from __future__ import annotations

import uuid
from typing import Any

import panel as pn

from app import bootstrap
from app.authz import Role
from pages.base import shell
from pages.registry import NAV
from tests.chart_fixtures import principal


def _state_watchers() -> int:
    return sum(len(by_kind) for by_what in pn.state._param__private.watchers.values() for by_kind in by_what.values())


def test_building_pages_adds_no_watcher_on_the_process_wide_state(runtime: bootstrap.Runtime) -> None:
    who = principal(uuid.uuid4(), uuid.uuid4(), Role.CODER)
    shell(who, runtime.ctx, NAV, "First", [])  # whatever a first page sets up once
    before = _state_watchers()
    pages: list[Any] = [shell(who, runtime.ctx, NAV, f"Page {i}", [pn.pane.Markdown("x")]) for i in range(5)]
    assert _state_watchers() == before
    # The page's own busy flag is no longer driven by other sessions' work.
    pn.state._add_busy_event("someone-elses-event")  # what Panel does around any session's event
    try:
        assert pn.state.busy
        assert [p.busy for p in pages] == [False] * 5
    finally:
        pn.state._remove_busy_event("someone-elses-event")
