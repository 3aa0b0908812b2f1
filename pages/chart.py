"""``/chart?id=<chart id>``: the coding page — read the chart, enter codes, see findings live, save,
submit.

Left, the chart (``pages.chart_facts``); right, the coding workspace: the supervisor's review of a
returned chart, the findings summary, the actions and the code grid (``pages.chart_grid``).

Who sees what is the service's answer (``app.services.charts.get_chart``): the assigned coder of a
draft or returned chart gets an editable page; anyone else allowed to see the chart gets it
read-only; a missing id, a malformed id, another organisation's chart and a chart the user may
not open all get the same "not found" view.

Every edit in the grid (``pages.chart_coding``) arrives as one message, which Bokeh applies in a worker thread holding the
session's document lock (never on the event loop): the edit is applied to the ``Workspace``, the
validation engine runs (about a millisecond) and the findings go back in the patch that answers
the message. The server time from receiving an edit to having its findings ready to send is
recorded per change (``change_ms``; ``smartcoders bench chart-change`` reports it). Saving and
submitting go through ``SecurePage.run_action`` (session re-checked, database work in the
context's executor); a refused save leaves every edit on screen.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Final, TypeVar
from uuid import UUID

import panel as pn
import panel_material_ui as pmui

from app.authz import Permission, Principal
from app.errors import Conflict, NotAuthenticated, NotFound, PermissionDenied, ValidationFailed
from app.services import charts as chart_actions
from app.services import sampling
from app.services.chart_types import ChartView
from app.validation import ValidationResult
from pages import chart_facts, chart_panels
from pages import chart_lists as cl
from pages.base import SecurePage, busy
from pages.chart_coding import CodingDesk
from pages.chart_grid import CodeGrid
from pages.chart_workspace import Readiness, Workspace

T = TypeVar("T")

# The chart and the codes scroll side by side, each in its own pane below the heading.
_PANE_STYLES: Final = {"max-height": "calc(100vh - 150px)", "overflow-y": "auto"}


def chart_id_from_url() -> UUID | None:
    """The ``id`` query argument of the page URL, if it is a UUID."""
    args = pn.state.session_args if pn.state.curdoc is not None else {}
    values = args.get("id") or []
    if len(values) != 1:
        return None
    raw = values[0]
    try:
        return UUID(raw.decode("ascii") if isinstance(raw, bytes) else str(raw))
    except (ValueError, UnicodeDecodeError):
        return None


class ChartPage(SecurePage):
    title = "Chart"

    def __init__(self, *, chart_id: UUID | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.chart_id = chart_id if chart_id is not None else chart_id_from_url()
        self.view: ChartView | None = None
        if self.chart_id is not None:
            try:
                self.view = chart_actions.get_chart(self.principal, self.chart_id)
            except NotFound:
                self.view = None
        if self.view is None:
            return
        view = self.view
        self.desk = CodingDesk(view, editable=view.editable)
        self.heading = pn.pane.HTML(
            chart_panels.heading_html(view, self.principal),
            stylesheets=[chart_panels.CSS],
            sizing_mode="stretch_width",
            css_classes=["sc-chart-heading"],
        )
        self.facts = pn.Column(
            pn.pane.HTML(chart_facts.header_html(view), stylesheets=[chart_facts.CSS], sizing_mode="stretch_width"),
            pn.pane.HTML(chart_facts.facts_html(view), stylesheets=[chart_facts.CSS], sizing_mode="stretch_width"),
            width=430,
            css_classes=["sc-chart-facts"],
            styles=_PANE_STYLES | {"flex": "none"},
        )
        self.review = pn.pane.HTML(
            chart_panels.review_html(view) + chart_panels.readonly_html(view, self.principal),
            stylesheets=[chart_panels.CSS],
            sizing_mode="stretch_width",
            css_classes=["sc-chart-review"],
        )
        self.save_button = pmui.Button(
            label="Save draft", variant="outlined", disabled=True, css_classes=["sc-save-draft"], width=120
        )
        self.save_button.on_click(self._save_clicked)
        self.submit_button = pmui.Button(
            label="Submit for audit", color="primary", disabled=True, css_classes=["sc-submit"], width=176
        )
        self.submit_button.on_click(self._submit_clicked)
        self.notice = pmui.Alert(
            object="", alert_type="info", visible=False, sizing_mode="stretch_width", css_classes=["sc-chart-notice"]
        )
        self.desk.on_state = self._buttons
        self.desk.grid.on_message = self._on_grid_message
        self.desk.sync_state()
        if view.patient_age_years is None:
            self._notify("This chart has no patient age, so the checks cannot run. Ask a manager to re-import it.")
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            pn.state.onload(self.desk.check)

    # The desk's parts, by the names the page's tests use.
    @property
    def grid(self) -> CodeGrid:
        return self.desk.grid

    @property
    def summary(self) -> Any:
        return self.desk.summary

    @property
    def hint(self) -> Any:
        return self.desk.hint

    @property
    def workspace(self) -> Workspace:
        return self.desk.workspace

    @property
    def result(self) -> ValidationResult | None:
        return self.desk.result

    @property
    def change_ms(self) -> deque[float]:
        return self.desk.change_ms

    @property
    def editable(self) -> bool:
        return self.view is not None and self.desk.editable

    async def check(self) -> None:
        await self.desk.check()

    # -- messages from the grid ---------------------------------------------------------------------

    def _on_grid_message(self, msg: dict[str, Any]) -> None:
        # Bokeh applies the browser's message in a worker thread that holds this session's
        # document lock: the edit, the engine and the code search run right here, off the event
        # loop, one message after another, and their results leave in the patch that answers the
        # message. Only a save (database work) is handed to the loop, as an action.
        work = self.handle(msg)
        if work is not None:

            async def run() -> None:
                await work

            pn.state.execute(run)

    def handle(self, msg: dict[str, Any]) -> Coroutine[Any, Any, bool] | None:
        """Apply one grid message now; return the save it asked for, if any, to await."""
        return self.save() if self.desk.handle(msg) == "save" else None

    def _buttons(self, ready: Readiness) -> None:
        self.save_button.disabled = not (self.desk.editable and self.desk.workspace.dirty) or self.save_button.loading
        self.submit_button.disabled = not ready.can_submit or self.submit_button.loading

    def _notify(self, message: str, kind: str = "info") -> None:
        self.notice.param.update(object=message, alert_type=kind, visible=True)

    # -- save and submit ----------------------------------------------------------------------------

    async def _save_clicked(self, _: object) -> None:
        await self.save()

    async def _submit_clicked(self, _: object) -> None:
        await self.submit()

    async def _attempt(self, button: Any, verb: str, work: Callable[[Principal], T]) -> T | None:
        """Run ``work`` through ``run_action`` with ``button`` busy; on a refusal say why and return
        None. The rows on screen are never touched here: a refused save keeps every edit."""
        try:
            with busy(button):
                return await self.run_action(Permission.CHARTS_CODE, work)
        except NotAuthenticated:
            pass  # the session watchdog sends the browser to /login
        except Conflict as exc:
            self._refused(verb, exc.message)
        except ValidationFailed as exc:
            details = " ".join(dict.fromkeys(exc.fields.values())) if verb == "saved" else ""
            self._notify(f"Not {verb}. {exc.message} {details}".strip(), "error")
        except (NotFound, PermissionDenied):
            self._refused(verb, "This chart is no longer assigned to you.")
        finally:
            self.desk.sync_state()
        return None

    def _refused(self, verb: str, reason: str) -> None:
        self._notify(
            f"Not {verb}. {reason} Your edits are still on this page: copy what you need, then reload the "
            "page to work on the latest version.",
            "error",
        )

    async def save(self) -> bool:
        """Store the rows as the next version. A stale version is refused and the edits stay."""
        busy_now = self.save_button.loading or self.submit_button.loading
        if not self.editable or busy_now or self.chart_id is None or self.view is None:
            return False
        if not self.workspace.dirty:
            return True
        chart_id, version, view = self.chart_id, self.workspace.version, self.view
        revision, rows = self.workspace.revision, self.workspace.to_inputs()
        saved = await self._attempt(
            self.save_button,
            "saved",
            lambda principal: chart_actions.save_codes(principal, chart_id, version=version, rows=rows),
        )
        if saved is None:
            return False
        self.workspace.mark_saved(saved.version, revision)
        self.heading.object = chart_panels.heading_html(view, self.principal, version=saved.version)
        self.desk.saved_text = f"Saved at {datetime.now(UTC):%H:%M} UTC · version {saved.version}."
        self.notice.visible = False
        self.desk.sync_state()
        return True

    async def submit(self) -> bool:
        """Save if needed, then send the chart to audit and go back to the queue."""
        if not self.editable or self.submit_button.disabled or self.chart_id is None:
            return False
        if self.workspace.dirty and not await self.save():
            return False
        chart_id, version = self.chart_id, self.workspace.version
        view = await self._attempt(
            self.submit_button,
            "submitted",
            lambda principal: chart_actions.submit(principal, chart_id, version=version),
        )
        if view is None:
            return False
        self.view = view
        self.desk.lock()
        self.heading.object = chart_panels.heading_html(view, self.principal)
        self._notify(f"{sampling.submit_message(view.status.value)} Taking you back to your queue…", "success")
        outcome = "accepted" if view.status.value == "completed" else "audit"
        cl.navigate("/queue", f"?submitted={outcome}")
        return True

    # -- layout -------------------------------------------------------------------------------------

    def body(self) -> list[Any]:
        if self.view is None:
            return [
                pn.pane.HTML(
                    chart_panels.not_found_html(self.principal),
                    stylesheets=[chart_panels.CSS],
                    sizing_mode="stretch_width",
                    css_classes=["sc-chart-not-found"],
                )
            ]
        actions = pn.Row(
            self.hint,
            self.save_button,
            self.submit_button,
            sizing_mode="stretch_width",
            align="center",
            css_classes=["sc-chart-actions"],
        )
        coding = pmui.Paper(
            self.review,
            self.summary,
            *([actions] if self.editable else []),
            self.notice,
            self.grid,
            sizing_mode="stretch_width",
            css_classes=["sc-card-section", "sc-coding"],
            styles=_PANE_STYLES | {"flex": "1 1 0", "min-width": "0"},
        )
        layout = pn.Row(
            self.facts,
            coding,
            sizing_mode="stretch_width",
            css_classes=["sc-chart-layout"],
            styles={"gap": "var(--app-space-4)", "padding-right": "var(--app-space-4)", "box-sizing": "border-box"},
        )
        return [self.heading, layout]

    def __panel__(self) -> Any:
        title = chart_panels.page_title(self.view) if self.view is not None else "Chart"
        return self.framed(title, self.body())
