"""The coding desk: the code grid, the findings summary and the submit hint of one chart, and
every edit to them — the part of ``/chart`` that ``smartcoders bench chart-change`` times.

``handle`` applies one grid message: the edit goes to the ``Workspace``, the validation engine
runs on the rows now on screen (about a millisecond), and the findings are put on the grid's rows
and in the summary. It runs wherever the message arrives; on the server that is a Bokeh worker
thread holding the session's document lock, never the event loop (see ``pages.chart``). The time
from receiving a message to having its findings on the models is kept in ``change_ms``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, Literal

import panel as pn

from app.services.chart_types import ChartView, CodeKind
from app.validation import ValidationResult, default_engine
from pages import chart_panels
from pages.chart_grid import CodeGrid
from pages.chart_workspace import Readiness, Workspace, search_codes

# The first check of a page (no edit yet) runs here: a small pool of its own rather than the
# context's executor, where a burst of sign-ins (argon2, ~100 ms each) could queue in front of it.
_CHECKS: Final = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sc-check")
SEARCH_LIMIT: Final = 12

Asked = Literal["save"] | None


class CodingDesk:
    def __init__(self, view: ChartView, *, editable: bool) -> None:
        self.workspace = Workspace(view)
        self.editable = editable
        self.result: ValidationResult | None = None
        self.change_ms: deque[float] = deque(maxlen=1000)
        self.saved_text = ""
        self._generation = 0
        self.on_state: Callable[[Readiness], None] | None = None  # the page enables its buttons
        self.summary = pn.pane.HTML(
            chart_panels.summary_html(None, [], rows=len(self.workspace.rows), ms=None),
            stylesheets=[chart_panels.CSS],
            sizing_mode="stretch_width",
            css_classes=["sc-chart-summary"],
        )
        self.hint = pn.pane.HTML(
            "", stylesheets=[chart_panels.CSS], sizing_mode="stretch_width", css_classes=["sc-chart-hint"]
        )
        self.grid = CodeGrid(
            rows=self.workspace.rows_json(),
            notes={},
            editable=editable,
            sizing_mode="stretch_width",
            css_classes=["sc-code-grid"],
        )

    # -- edits --------------------------------------------------------------------------------------

    def handle(self, msg: dict[str, Any]) -> Asked:
        """Apply one grid message now: an edit and its validation, or a search. Returns "save"
        when the coder asked to save (Ctrl+S): database work the page runs as an action."""
        received = time.perf_counter()
        action = msg.get("op")
        if action == "search":
            self.search(msg)
            return None
        if not self.editable:
            return None
        if action == "save":
            return "save"
        changed = self.workspace.apply(msg)
        if changed == "none":
            return None
        if changed == "rows":
            self.grid.rows = self.workspace.rows_json()
        if changed in ("rows", "override"):
            self._show(self._begin(), self._validate(), received)
        else:
            self.sync_state()
        return None

    def search(self, msg: dict[str, Any]) -> None:
        query = msg.get("q")
        kind: CodeKind = "procedure" if msg.get("kind") == "procedure" else "diagnosis"
        seq = msg.get("seq")
        if not isinstance(query, str) or not isinstance(seq, int) or len(query) > 100:
            return
        hits = search_codes(kind, query, SEARCH_LIMIT)
        self.grid.suggestions = {
            "seq": seq,
            "q": query,
            "kind": kind,
            "items": [{"code": h.code, "description": h.description, "billable": h.billable} for h in hits],
        }

    # -- findings -----------------------------------------------------------------------------------

    def _begin(self) -> int:
        self._generation += 1
        return self._generation

    def _validate(self) -> ValidationResult | None:
        chart = self.workspace.chart_input()
        return None if chart is None else default_engine().validate(chart)

    async def check(self) -> None:
        """Validate the rows on screen in the check pool (the page's first view: no edit to time)."""
        generation = self._begin()
        result = await asyncio.get_running_loop().run_in_executor(_CHECKS, self._validate)
        self._show(generation, result, None)

    def _show(self, generation: int, result: ValidationResult | None, received: float | None) -> None:
        """Put a result on screen unless a newer edit's check started meanwhile; time the change."""
        if generation != self._generation:
            return
        self.result = result
        annotations = self.workspace.annotate(result)
        self.grid.notes = annotations.rows
        elapsed = (time.perf_counter() - received) * 1000 if received is not None else None
        self.summary.object = chart_panels.summary_html(
            result, annotations.chart, rows=len(self.workspace.rows), ms=elapsed
        )
        self.sync_state()
        if elapsed is not None:
            self.change_ms.append(elapsed)

    def sync_state(self) -> Readiness:
        """The submit hint and the grid's unsaved-changes flag; the page's buttons via ``on_state``."""
        ready = self.workspace.readiness(self.result, editable=self.editable)
        dirty = self.workspace.dirty and self.editable
        self.grid.dirty = dirty
        self.hint.object = chart_panels.hint_html(
            ready.reasons, dirty=dirty, saved=self.saved_text or "No unsaved changes.", editable=self.editable
        )
        if self.on_state is not None:
            self.on_state(ready)
        return ready

    def lock(self) -> None:
        """Read-only from now on (the chart was submitted)."""
        self.editable = False
        self.grid.param.update(dirty=False, editable=False)
        self.sync_state()
