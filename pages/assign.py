"""``/assign`` (manager): find charts (unassigned, returned, by coder, specialty, difficulty,
encounter date, import), select many, and assign them to one coder or round-robin across several —
reassigning is the same action on charts that already have a coder. Each coder's workload is shown
beside the table and refreshed after every assignment.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date
from typing import Any, Final
from uuid import UUID

import panel as pn
import panel_material_ui as pmui

from app.authz import Permission, Principal
from app.errors import Conflict, NotAuthenticated, NotFound, PermissionDenied, ValidationFailed
from app.services import charts as chart_actions
from app.services.chart_types import AssignMode, AssignResult, ChartPage, CoderWorkload
from app.services.charts import FilterOptions
from datalayer.queries.charts import ChartSummary
from pages import chart_lists as cl
from pages.base import SecurePage, busy

PAGE_SIZE: Final = 50
UNASSIGNED: Final = "unassigned"
ANYONE: Final = "anyone"
ANY: Final = "any"
COLUMNS: Final = ("Status", "Encounter", "Patient", "Date", "Specialty", "Diff.", "Coder", "Imported")
SHOW: Final[dict[str, str]] = {
    "Draft or returned": "draft,returned",
    "Returned": "returned",
    "Draft": "draft",
    "Waiting for audit": "pending_audit",
    "Completed": "completed",
}
SORTS: Final[dict[str, str]] = {
    "Oldest first": "created",
    "Newest first": "-created",
    "Encounter date, oldest": "encounter",
    "Encounter date, newest": "-encounter",
    "Difficulty, hardest": "-difficulty",
    "Difficulty, easiest": "difficulty",
    "Specialty": "specialty",
    "Coder": "assignee",
}
DIFFICULTIES: Final[dict[str, str]] = {"Any difficulty": ANY, **{f"Difficulty {n}": str(n) for n in range(1, 6)}}
MODES: Final[dict[str, str]] = {"One coder": "single", "Round-robin": "round_robin"}


@dataclass(frozen=True)
class AssignData:
    page: ChartPage
    workload: list[CoderWorkload]
    options: FilterOptions


class AssignPage(SecurePage):
    title = "Assign charts"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.items: list[ChartSummary] = []
        self.coders: list[CoderWorkload] = []
        self._loads = 0
        self._quiet = False
        self.show_status = pmui.Select(
            label="Status", options=SHOW, value="draft,returned", width=210, css_classes=["sc-f-status"]
        )
        self.assignee = pmui.Select(
            label="Coder",
            options={"Unassigned": UNASSIGNED, "Anyone": ANYONE},
            value=UNASSIGNED,
            width=190,
            css_classes=["sc-f-assignee"],
        )
        self.specialty = pmui.Select(
            label="Specialty", options={"All specialties": ""}, value="", width=190, css_classes=["sc-f-specialty"]
        )
        self.difficulty = pmui.Select(
            label="Difficulty", options=DIFFICULTIES, value=ANY, width=165, css_classes=["sc-f-difficulty"]
        )
        self.encounter_from = pmui.DatePicker(label="Encounter from", width=170, css_classes=["sc-f-from"])
        self.encounter_to = pmui.DatePicker(label="Encounter to", width=170, css_classes=["sc-f-to"])
        self.import_job = pmui.Select(
            label="Import", options={"All imports": ""}, value="", width=210, css_classes=["sc-f-import"]
        )
        self.sort = pmui.Select(label="Sort", options=SORTS, value="created", width=190, css_classes=["sc-f-sort"])
        self.table = cl.chart_table(
            COLUMNS,
            selectable="checkbox",
            css_class="sc-assign-table",
            widths={
                "Status": 150,
                "Patient": 95,
                "Date": 120,
                "Specialty": 160,
                "Diff.": 65,
                "Coder": 150,
                "Imported": 115,
            },
        )
        self.table.param.watch(self._selection_changed, "selection")
        self.empty = pn.pane.HTML("", sizing_mode="stretch_width", visible=False, css_classes=["sc-assign-empty"])
        self.pager_text = pn.pane.HTML("", css_classes=["sc-pager-text"])
        self.pager = pmui.Pagination(count=1, value=0, size="small", css_classes=["sc-pager"])
        self.selected_text = pn.pane.HTML("", width=250, css_classes=["sc-selected-text"])
        self.mode = pmui.RadioButtonGroup(
            options=MODES,
            value="single",
            size="small",
            color="primary",
            sx={"& .MuiToggleButton-root": {"whiteSpace": "nowrap", "paddingInline": "14px"}},
            css_classes=["sc-assign-mode"],
        )
        self.coder = pmui.Select(label="Assign to", options={}, width=280, css_classes=["sc-assign-coder"])
        self.coders_multi = pmui.MultiChoice(
            label="Coders, in turn",
            options={},
            visible=False,
            width=420,
            css_classes=["sc-assign-coders"],
        )
        self.assign_button = pmui.Button(
            label="Assign selected charts", color="primary", disabled=True, css_classes=["sc-assign-button"]
        )
        self.assign_button.on_click(self._assign)
        self.notice = pmui.Alert(
            object="",
            alert_type="success",
            visible=False,
            sizing_mode="stretch_width",
            css_classes=["sc-assign-notice"],
        )
        self.workload_pane = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["sc-workload"])
        filters: tuple[Any, ...] = (
            self.show_status,
            self.assignee,
            self.specialty,
            self.difficulty,
            self.encounter_from,
            self.encounter_to,
            self.import_job,
            self.sort,
        )
        self._apply_url_filters()
        for widget in filters:
            widget.param.watch(self._filters_changed, "value")
        self.pager.param.watch(self._page_changed, "value")
        self.mode.param.watch(self._mode_changed, "value")
        self.coder.param.watch(self._selection_changed, "value")
        self.coders_multi.param.watch(self._selection_changed, "value")
        cl.defer(self.refresh)

    def _apply_url_filters(self) -> None:
        """Start from ``?status=…&assignee=unassigned|anyone&sort=…`` (links from the dashboard);
        a value the page does not offer is ignored."""
        for name, widget, allowed in (
            ("status", self.show_status, set(SHOW.values())),
            ("assignee", self.assignee, {UNASSIGNED, ANYONE}),
            ("sort", self.sort, set(SORTS.values())),
        ):
            value = cl.url_arg(name)
            if value in allowed:
                widget.value = value

    # -- data -------------------------------------------------------------------------------

    def query(self) -> dict[str, Any]:
        who = self.assignee.value
        difficulty = self.difficulty.value
        return {
            "status": self.show_status.value or None,
            "unassigned": who == UNASSIGNED,
            "assignee": UUID(who) if who not in (None, UNASSIGNED, ANYONE) else None,
            "specialty": self.specialty.value or None,
            "difficulty": int(difficulty) if difficulty and difficulty != ANY else None,
            "import_job_id": UUID(self.import_job.value) if self.import_job.value else None,
            "encounter_from": self.encounter_from.value if isinstance(self.encounter_from.value, date) else None,
            "encounter_to": self.encounter_to.value if isinstance(self.encounter_to.value, date) else None,
            "sort": self.sort.value or "created",
            "page": (self.pager.value or 0) + 1,
            "page_size": PAGE_SIZE,
        }

    def fetch(self, principal: Principal) -> AssignData:
        page = chart_actions.list_charts(principal, **self.query())
        if page.page > page.pages:
            page = chart_actions.list_charts(principal, **{**self.query(), "page": page.pages})
        return AssignData(
            page=page, workload=chart_actions.workload(principal), options=chart_actions.filter_options(principal)
        )

    async def refresh(self, *_: object) -> None:
        self._loads += 1
        mine = self._loads
        self.table.loading = True
        try:
            data = await self.run_action(Permission.CHARTS_ASSIGN, self.fetch)
        except (NotAuthenticated, PermissionDenied):
            return
        except ValidationFailed as exc:
            self._notify(" ".join(exc.fields.values()) or exc.message, "error")
            self.table.loading = False
            return
        if mine == self._loads:
            self.render(data)

    def render(self, data: AssignData) -> None:
        page = data.page
        self.items = page.items
        self.coders = data.workload
        coder_options = {f"{w.name} ({w.open} open)": str(w.coder_id) for w in data.workload}
        self._quiet = True
        try:
            keep = self.assignee.value
            self.assignee.options = {
                "Unassigned": UNASSIGNED,
                "Anyone": ANYONE,
                **{w.name: str(w.coder_id) for w in data.workload},
            }
            if keep not in self.assignee.options.values():
                self.assignee.value = UNASSIGNED
            self.specialty.options = {"All specialties": "", **{cl.specialty(s): s for s in data.options.specialties}}
            self.import_job.options = {
                "All imports": "",
                **{
                    f"{i.created_at:%d %b %Y %H:%M} · {cl.count(i.charts_created, 'chart')}": str(i.id)
                    for i in data.options.imports
                },
            }
            chosen = self.coder.value
            self.coder.options = coder_options
            self.coder.value = chosen if chosen in coder_options.values() else None
            self.coders_multi.options = coder_options
            self.coders_multi.value = [v for v in self.coders_multi.value or [] if v in coder_options.values()]
            for select in (self.assignee, self.specialty, self.import_job, self.coder):
                cl.resync(select)
            self.pager.count = page.pages
            self.pager.value = page.page - 1
        finally:
            self._quiet = False
        self.table.value = cl.frame(
            {
                "Status": [cl.status_html(c.status) for c in page.items],
                "Encounter": [cl.encounter_html(c) for c in page.items],
                "Patient": [cl.patient(c) for c in page.items],
                "Date": [cl.day(c.encounter_start) for c in page.items],
                "Specialty": [cl.specialty(c.specialty) for c in page.items],
                "Diff.": [c.difficulty or "—" for c in page.items],
                "Coder": [c.assignee_name or "—" for c in page.items],
                "Imported": [cl.ago(c.created_at, suffix=" ago") for c in page.items],
            }
        )
        self.table.selection = []
        self.table.loading = False
        first = (page.page - 1) * page.page_size + 1
        last = first + len(page.items) - 1
        self.pager_text.object = (
            f'<span class="sc-pager-text">{first:,}\u2013{last:,} of {cl.count(page.total, "chart")}</span>'
            if page.items
            else ""
        )
        self.pager.visible = page.pages > 1
        self._show_empty(page)
        self._show_workload()
        self._selection_changed()

    def _show_empty(self, page: ChartPage) -> None:
        self.empty.visible = page.total == 0
        self.table.visible = page.total > 0
        if page.total:
            return
        if self.assignee.value == UNASSIGNED and self.show_status.value == "draft,returned" and not self._filtered():
            self.empty.object = cl.empty_state(
                "Every open chart has a coder",
                "New imports appear here unassigned. Choose “Anyone” under Coder to reassign charts.",
            )
        else:
            self.empty.object = cl.empty_state("No charts match these filters", "Widen the filters to see more charts.")

    def _filtered(self) -> bool:
        return bool(
            self.specialty.value
            or self.difficulty.value not in (None, ANY)
            or self.encounter_from.value
            or self.encounter_to.value
            or self.import_job.value
        )

    def _show_workload(self) -> None:
        if not self.coders:
            self.workload_pane.object = cl.empty_state(
                "No active coders", "Add coders on the Users page to assign charts to them."
            )
            return
        top = max(1, *(w.open for w in self.coders))
        rows = "".join(
            "<tr>"
            f'<td class="sc-load__name">{html.escape(w.name)}</td>'
            f'<td class="sc-num">{w.open:,}</td>'
            f'<td class="sc-load__cell"><div class="sc-load__bar"><div class="sc-load__fill" '
            f'style="width:{round(100 * w.open / top)}%"></div></div></td>'
            f'<td class="sc-num">{w.returned:,}</td>'
            f'<td class="sc-num">{w.pending_audit:,}</td>'
            f'<td class="sc-num">{w.completed:,}</td>'
            "</tr>"
            for w in self.coders
        )
        self.workload_pane.object = (
            '<table class="sc-load"><thead><tr><th>Coder</th><th class="sc-num">Open</th><th></th>'
            '<th class="sc-num">Returned</th><th class="sc-num">In audit</th><th class="sc-num">Done</th>'
            f"</tr></thead><tbody>{rows}</tbody></table>"
        )

    # -- events -----------------------------------------------------------------------------

    def _selected(self) -> list[ChartSummary]:
        return [self.items[i] for i in self.table.selection if 0 <= i < len(self.items)]

    def _targets(self) -> list[UUID]:
        if self.mode.value == "single":
            return [UUID(self.coder.value)] if self.coder.value else []
        return [UUID(v) for v in self.coders_multi.value or []]

    def _selection_changed(self, *_: object) -> None:
        selected = self._selected()
        targets = self._targets()
        n = len(selected)
        if not n:
            self.selected_text.object = '<p class="sc-lede">Tick charts in the table to assign them.</p>'
        else:
            moving = sum(c.assignee_id is not None for c in selected)
            extra = f" · {moving} already ha{'s' if moving == 1 else 've'} a coder and will move" if moving else ""
            self.selected_text.object = (
                f'<p class="sc-lede"><strong>{cl.count(n, "chart")} selected</strong>{extra}</p>'
            )
        self.assign_button.disabled = not (n and targets)
        self.assign_button.label = f"Assign {cl.count(n, 'chart')}" if n else "Assign selected charts"

    def _mode_changed(self, *_: object) -> None:
        single = self.mode.value == "single"
        self.coder.visible = single
        self.coders_multi.visible = not single
        self._selection_changed()

    # Watchers are synchronous so the `_quiet` guard is read at the moment of the change (values
    # set while showing a load must not start another load); the load itself is scheduled.
    def _filters_changed(self, *_: object) -> None:
        if self._quiet:
            return
        self._quiet = True
        self.pager.value = 0
        self._quiet = False
        pn.state.execute(self.refresh)

    def _page_changed(self, *_: object) -> None:
        if not self._quiet:
            pn.state.execute(self.refresh)

    def _notify(self, message: str, kind: str = "success") -> None:
        self.notice.param.update(object=message, alert_type=kind, visible=True)

    async def _assign(self, *_: object) -> None:
        if self.assign_button.disabled:
            return
        chart_ids = [c.id for c in self._selected()]
        coder_ids = self._targets()
        mode: AssignMode = "single" if self.mode.value == "single" else "round_robin"
        app_url = self.ctx.settings.app_url

        def work(principal: Principal) -> tuple[AssignResult, AssignData]:
            result = chart_actions.assign(principal, chart_ids, coder_ids, mode=mode, app_url=app_url)
            return result, self.fetch(principal)

        try:
            with busy(self.assign_button):
                result, data = await self.run_action(Permission.CHARTS_ASSIGN, work)
        except (NotAuthenticated, PermissionDenied):
            return
        except (ValidationFailed, Conflict, NotFound) as exc:
            message = " ".join(exc.fields.values()) if isinstance(exc, ValidationFailed) and exc.fields else exc.message
            self._notify(message, "error")
            return
        names = {w.coder_id: w.name for w in data.workload}
        parts = [f"{names.get(coder, 'coder')} {len(ids)}" for coder, ids in result.assigned.items()]
        message = f"Assigned {cl.count(result.count, 'chart')}" + (f": {', '.join(parts)}." if parts else ".")
        if result.unchanged:
            message += f" {cl.count(len(result.unchanged), 'chart')} already had that coder."
        if result.count:
            message += " Each coder was notified."
        self._notify(message)
        self.render(data)

    def body(self) -> list[Any]:
        css = [cl.PAGE_CSS]
        for pane in (self.empty, self.pager_text, self.selected_text, self.workload_pane):
            pane.stylesheets = css
        filters = pn.FlexBox(
            self.show_status,
            self.assignee,
            self.specialty,
            self.difficulty,
            self.encounter_from,
            self.encounter_to,
            self.import_job,
            self.sort,
            flex_wrap="wrap",
            gap="0 4px",
            sizing_mode="stretch_width",
            css_classes=["sc-filters"],
        )
        workload = pmui.Paper(
            pn.pane.HTML('<h2 class="sc-section-title">Workload</h2>', stylesheets=css),
            self.workload_pane,
            width=420,
            margin=(5, 0, 5, 12),
            css_classes=["sc-card-section", "sc-workload-card"],
        )
        # The action bar sits right above the table it acts on.
        action = pmui.Paper(
            pn.FlexBox(
                self.selected_text,
                self.mode,
                self.coder,
                self.coders_multi,
                self.assign_button,
                flex_wrap="wrap",
                align_items="center",
                gap="0 12px",
                sizing_mode="stretch_width",
            ),
            self.notice,
            sizing_mode="stretch_width",
            css_classes=["sc-card-section", "sc-assign-panel"],
        )
        return [
            cl.gutter(
                filters,
                pn.Row(action, workload, sizing_mode="stretch_width"),
                self.table,
                self.empty,
                pn.Row(
                    self.pager_text,
                    pn.Spacer(sizing_mode="stretch_width"),
                    self.pager,
                    align="center",
                    sizing_mode="stretch_width",
                ),
            )
        ]
