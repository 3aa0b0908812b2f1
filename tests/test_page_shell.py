"""The page shell holds nothing of a session in process-global state (PANEL.md trap (e)).

panel-material-ui's ``Page`` binds its ``busy`` to ``pn.state.param.busy``; the watcher that binding
puts on the process-wide state was never removed, so every served page stayed alive and was updated
on every event of every session — and one whose session had ended raised inside the next session's
click, which was then lost (seen as a browser test that failed only after other browser tests).
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import panel as pn
from panel_material_ui import Page

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


def test_pages_built_on_several_threads_at_once(runtime: bootstrap.Runtime) -> None:
    # panel-material-ui's Page sets its read-only ``busy`` inside param's ``edit_readonly``, which
    # flips the flag on the class-level parameter and restores what it saw: two Pages built at
    # once on two threads left it wrong (a TypeError "Read-only parameter 'busy'" in the next
    # page built, or pages following the process-wide busy flag again). The shell serialises it.
    who = principal(uuid.uuid4(), uuid.uuid4(), Role.CODER)
    errors: list[BaseException] = []

    def build() -> None:
        try:
            for i in range(15):
                shell(who, runtime.ctx, NAV, f"Page {i}", [pn.pane.Markdown("x")])
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert Page.param.busy.readonly  # the class-level flag, which every later Page starts from
    shell(who, runtime.ctx, NAV, "After", [])  # and the next page still builds
