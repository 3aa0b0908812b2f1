"""``/dashboard`` (``metrics:view``: managers; analysts read-only): the department at a glance, live.

Top to bottom:

1. **Live counters** — the queue by status, unassigned and aging charts, today's submissions,
   approvals, returns and imports, imports running. They follow the organisation's live counters
   (``pages.live.follow``: one hub listener per session, for its own organisation only, removed
   when the session ends; the hub coalesces bursts) and change without a reload.
2. **Needs attention** — charts waiting longer than ``QUEUE_AGING_HOURS`` to be coded or audited
   (live, linked to the page that fixes it) and coders below the 95 % accuracy target over the
   selected period.
3. **Filters** (period, specialty, coder, per-coder throughput) and the period's headline figures.
4. **Charts** (HoloViews, ``pages.dashboard_plots``): throughput, accuracy by coder and by finding
   category, turnaround by stage percentiles, top failing validation rules with override rates.
5. **Team** table; clicking a coder (or choosing one) shows **their charts** with status, dates
   and the latest audit's accuracy, each linked to ``/chart?id=``.
6. **Exports** (managers, ``data:export``): links to ``GET /api/v1/export/…`` with the filters.

The charts are computed by ``pages.dashboard_data.compute`` from the organisation's metrics
frames, read once (``pipelines.sources.read_database``, one read-only snapshot) and kept by the
session; every filter change recomputes from them — figures and Bokeh plots included
(``dashboard_plots.figures``) — in the executor (``SecurePage.run_action``), never on the event
loop and never per counter tick; the loop only swaps the finished plots in. New activity (a counter moved) marks the frames
stale: they are read again on the next filter change or refresh, and the charts refresh by
themselves at most every ``AUTO_REFRESH_SECONDS``. Read, compute and render times are logged
(``dashboard_refreshed``) and measured by ``smartcoders bench dashboard``.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final
from urllib.parse import urlencode
from uuid import UUID

import panel as pn
import panel_material_ui as pmui
import polars as pl
from panel.io.state import set_curdoc

from app.authz import Permission, Principal
from app.errors import NotAuthenticated, PermissionDenied, ValidationFailed
from app.logs import get_logger
from app.services import charts as chart_actions
from app.services import live_counters
from app.services.chart_types import ChartPage
from app.services.live_counters import Counters
from pages import chart_lists as cl
from pages import dashboard_plots as plots
from pages.base import SecurePage, busy
from pages.dashboard_data import PERIODS, DashboardData, FilterError, Filters, coders, compute
from pages.dashboard_view import (
    CSS,
    alerts_html,
    counters_html,
    drill_frame,
    exports_html,
    headline_html,
    team_frame,
)
from pages.live import follow
from pipelines.frames import Frames

log = get_logger(__name__)

AUTO_REFRESH_SECONDS: Final = 60.0  # charts recompute by themselves at most this often after new activity
DRILL_ROWS: Final = 100  # the coder's most recently changed charts, DRILL_PAGE to a page
DRILL_PAGE: Final = 10
EVERYONE: Final = ""
ALL_SPECIALTIES: Final = ""
TEAM_COLUMNS: Final = ("Coder", "Coded", "Audits", "Accuracy", "Returned", "Per chart")
DRILL_COLUMNS: Final = ("Status", "Encounter", "Specialty", "Assigned", "Submitted", "Updated", "Latest audit")
CARDS: Final = ("throughput", "accuracy", "categories", "turnaround", "rules")


def read_frames(principal: Principal) -> Frames:
    """The caller's organisation's metrics frames, in one read-only snapshot (``metrics:view``)."""
    from pipelines.sources import read_database

    principal.require(Permission.METRICS_VIEW)
    return read_database(principal.org_id).collected()


def rule_titles() -> dict[str, str]:
    from app.validation import rules as _catalogue  # noqa: F401 - registers every rule in RULES
    from app.validation.registry import RULES

    return {rule_id: rule.title for rule_id, rule in RULES.items()}


@dataclass(frozen=True)
class Loaded:
    frames: Frames
    data: DashboardData
    figures: dict[str, tuple[Any | None, tuple[str, str]]]  # card -> (Bokeh figure or None, empty state)
    specialties: list[str]
    drill: ChartPage | None
    read_seconds: float
    figures_seconds: float = 0.0


class ChartCard:
    """One plot in a card: title, a sentence on how to read it, the plot or its empty state."""

    def __init__(self, key: str, title: str, lede: str) -> None:
        self.key = key
        self.plot = pn.pane.Bokeh(None, sizing_mode="stretch_width", visible=False, css_classes=[f"sc-plot-{key}"])
        self.empty = pn.pane.HTML("", sizing_mode="stretch_width", visible=False, css_classes=[f"sc-empty-{key}"])
        self.head = pn.pane.HTML(
            f'<h2 class="sc-section-title">{html.escape(title)}</h2><p class="db-lede">{lede}</p>',
            sizing_mode="stretch_width",
        )
        self.panel = pmui.Paper(
            self.head,
            self.plot,
            self.empty,
            sizing_mode="stretch_width",
            margin=(6, 6),
            css_classes=["sc-card-section", "db-card", f"sc-card-{key}"],
        )

    def show(self, figure: Any | None, empty: tuple[str, str]) -> None:
        # One update for object and visibility: the Bokeh pane re-syncs its layout parameters from
        # a new figure, and a `visible` set on its own right after the object was lost.
        if figure is None:
            self.empty.param.update(object=cl.empty_state(*empty), visible=True)
            self.plot.param.update(object=None, visible=False)
        else:
            self.plot.param.update(object=figure, visible=True)
            self.empty.visible = False


class DashboardPage(SecurePage):
    title = "Dashboard"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.may_export = self.principal.can(Permission.DATA_EXPORT)
        self.counters: Counters | None = None
        self.frames: Frames | None = None
        self.data: DashboardData | None = None
        self.stale = False
        self.loaded_at = 0.0
        self.timings: dict[str, float] = {}
        self._titles: dict[str, str] | None = None
        self._loads = 0
        self._quiet = False
        self._auto_pending = False
        args = _url_args()
        period = args.get("period", "")
        self.period = pmui.Select(
            label="Period",
            options=PERIODS,
            value=period if period in PERIODS.values() else "30d",
            width=180,
            css_classes=["sc-d-period"],
        )
        self.start = pmui.DatePicker(label="From", value=_day(args.get("from")), width=160, css_classes=["sc-d-from"])
        self.end = pmui.DatePicker(label="To", value=_day(args.get("to")), width=160, css_classes=["sc-d-to"])
        self.specialty = pmui.Select(
            label="Specialty",
            options={"All specialties": ALL_SPECIALTIES, **_one(args.get("specialty"))},
            value=args.get("specialty", ALL_SPECIALTIES),
            width=200,
            css_classes=["sc-d-specialty"],
        )
        self.coder = pmui.Select(
            label="Coder",
            options={"Everyone": EVERYONE, **_one(args.get("coder"), "Chosen coder")},
            value=args.get("coder", EVERYONE),
            width=200,
            css_classes=["sc-d-coder"],
        )
        self.split = pmui.Switch(label="Throughput per coder", value=False, css_classes=["sc-d-split"])
        self.refresh_button = pmui.Button(
            label="Refresh charts", variant="outlined", color="primary", css_classes=["sc-d-refresh"]
        )
        self.refresh_button.on_click(self._refresh_clicked)
        self.notice = pmui.Alert(
            object="", alert_type="error", visible=False, sizing_mode="stretch_width", css_classes=["sc-d-notice"]
        )
        self.live_pane = pn.pane.HTML(counters_html(None), sizing_mode="stretch_width", css_classes=["sc-d-live"])
        self.alerts_pane = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["sc-d-alerts"])
        self.headline_pane = pn.pane.HTML(
            '<p class="db-lede">Loading the charts…</p>', sizing_mode="stretch_width", css_classes=["sc-d-headline"]
        )
        self.exports_pane = pn.pane.HTML(
            "", sizing_mode="stretch_width", visible=self.may_export, css_classes=["sc-d-exports"]
        )
        self.cards = {
            "throughput": ChartCard("throughput", "Charts coded", "First submissions; resubmitted returns are rework."),
            "accuracy": ChartCard(
                "accuracy",
                "Accuracy by coder",
                "Codes right over codes in the supervisor's final list; the dashed line is the 95% target.",
            ),
            "categories": ChartCard(
                "categories", "What supervisors corrected", "Codes marked wrong, missing or unsupported, by category."
            ),
            "turnaround": ChartCard(
                "turnaround",
                "Turnaround by stage",
                "How long each step takes: the median chart, and the time within which 90% and 95% of charts finish it.",
            ),
            "rules": ChartCard(
                "rules",
                "Validation rules that trip coders up",
                "Charts each rule fired on while being coded, and how often coders overrode it at submission.",
            ),
        }
        self.team = pn.widgets.Tabulator(
            cl.empty_frame(TEAM_COLUMNS),
            disabled=True,
            selectable=False,
            show_index=False,
            sizing_mode="stretch_width",
            layout="fit_data_fill",  # each column as wide as its header or values, the table full width
            css_classes=["sc-d-team"],
            stylesheets=[cl.TABLE_CSS, CSS],
            formatters={"Coder": {"type": "html"}, "Accuracy": {"type": "html"}},
            configuration={"columnDefaults": {"headerSort": False}},
        )
        self.team.on_click(self._team_clicked)
        self.team_rows: list[str] = []
        self.drill_head = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["sc-d-drill-head"])
        self.drill = pn.widgets.Tabulator(
            cl.empty_frame(DRILL_COLUMNS),
            disabled=True,
            selectable=False,
            show_index=False,
            sizing_mode="stretch_width",
            layout="fit_columns",
            css_classes=["sc-d-drill"],
            stylesheets=[cl.TABLE_CSS, CSS],
            formatters={c: {"type": "html"} for c in ("Status", "Encounter", "Latest audit")},
            pagination="local",
            page_size=DRILL_PAGE,
            widths={"Status": 140, "Specialty": 165, "Assigned": 115, "Submitted": 115, "Updated": 100},
            configuration={"columnDefaults": {"headerSort": False}},
        )
        self.drill.on_click(self._drill_clicked)
        self.drill_empty = pn.pane.HTML(
            "", sizing_mode="stretch_width", visible=False, css_classes=["sc-d-drill-empty"]
        )
        self.everyone = pmui.Button(label="Back to everyone", variant="text", css_classes=["sc-d-everyone"])
        self.everyone.on_click(self._clear_coder)
        self.drill_card = pmui.Paper(
            pn.Row(self.drill_head, self.everyone, sizing_mode="stretch_width", align="center"),
            self.drill,
            self.drill_empty,
            sizing_mode="stretch_width",
            margin=(6, 6),
            visible=False,
            css_classes=["sc-card-section", "db-card", "sc-d-drill-card"],
        )
        self.drill_items: list[Any] = []
        for widget in (self.period, self.start, self.end, self.specialty, self.coder, self.split):
            widget.param.watch(self._filters_changed, "value")
        self._show_custom()
        follow(self.principal.org_id, self._counters_changed)
        cl.defer(self.first_load)

    # -- filters ----------------------------------------------------------------------------

    def filters(self) -> Filters:
        start = self.start.value if isinstance(self.start.value, date) else None
        end = self.end.value if isinstance(self.end.value, date) else None
        return Filters(
            period=self.period.value or "30d",
            start=start,
            end=end,
            specialty=self.specialty.value or None,
            coder_id=self.coder.value or None,
            split_by_coder=bool(self.split.value),
        )

    def _show_custom(self) -> None:
        custom = self.period.value == "custom"
        self.start.visible = self.end.visible = custom

    def _filters_changed(self, *_: object) -> None:
        if self._quiet:
            return
        self._show_custom()
        self._sync_url()
        pn.state.execute(self.refresh)

    def _sync_url(self) -> None:
        location = pn.state.location
        if location is None:
            return
        f = self.filters()
        query = {"period": f.period, "specialty": f.specialty or "", "coder": f.coder_id or ""}
        if f.period == "custom":
            query |= {"from": f.start.isoformat() if f.start else "", "to": f.end.isoformat() if f.end else ""}
        location.search = "?" + urlencode({k: v for k, v in query.items() if v})

    def _team_clicked(self, event: Any) -> None:
        row = getattr(event, "row", None)
        if isinstance(row, int) and 0 <= row < len(self.team_rows):
            self.coder.value = self.team_rows[row]

    def _drill_clicked(self, event: Any) -> None:
        row = getattr(event, "row", None)
        if isinstance(row, int) and 0 <= row < len(self.drill_items):
            cl.navigate("/chart", f"?id={self.drill_items[row].id}")

    def _clear_coder(self, *_: object) -> None:
        self.coder.value = EVERYONE

    # -- live counters ----------------------------------------------------------------------

    def _counters_changed(self, counters: Counters) -> None:
        """On the event loop, for this session: show the new counters; mark the charts stale."""
        before = self.counters
        self.show_counters(counters)
        if before is not None and not before.same_counts(counters):
            self.stale = True
            self._schedule_auto_refresh()

    def show_counters(self, counters: Counters) -> None:
        self.counters = counters
        self.live_pane.object = counters_html(counters, self.principal)
        self.alerts_pane.object = alerts_html(counters, self.data, self.principal, self.filters())

    def _schedule_auto_refresh(self) -> None:
        doc = pn.state.curdoc
        if self._auto_pending or doc is None or getattr(doc, "session_context", None) is None:
            return
        wait = max(0.0, AUTO_REFRESH_SECONDS - (time.monotonic() - self.loaded_at))
        self._auto_pending = True

        async def due() -> None:
            self._auto_pending = False
            if self.stale:
                with set_curdoc(doc):  # run_action reads the session identity from this session's document
                    await self.refresh()

        doc.add_timeout_callback(due, int(wait * 1000))

    # -- loading ----------------------------------------------------------------------------

    async def first_load(self) -> None:
        try:
            counters = await self.run_action(Permission.METRICS_VIEW, live_counters.current)
        except (NotAuthenticated, PermissionDenied):
            return
        if self.counters is None:
            self.show_counters(counters)
        await self.refresh()

    async def _refresh_clicked(self, *_: object) -> None:
        self.stale = True
        with busy(self.refresh_button):
            await self.refresh()

    def load(self, principal: Principal, filters: Filters, *, reread: bool) -> Loaded:
        """Off the event loop: the frames (read again when stale), the figures, the drill-down."""
        started = time.perf_counter()
        frames = self.frames if self.frames is not None and not reread else read_frames(principal)
        read_seconds = time.perf_counter() - started if frames is not self.frames else 0.0
        if self._titles is None:
            self._titles = rule_titles()
        data = compute(frames, filters, now=datetime.now(UTC), rule_titles=self._titles)
        drawn = time.perf_counter()
        figures = plots.figures(data)
        figures_seconds = time.perf_counter() - drawn
        specialties = chart_actions.filter_options(principal).specialties
        drill = None
        if filters.coder_id:
            drill = chart_actions.list_charts(
                principal,
                assignee=UUID(filters.coder_id),
                specialty=filters.specialty,
                sort="-updated",
                page_size=DRILL_ROWS,
            )
        return Loaded(
            frames=frames,
            data=data,
            figures=figures,
            specialties=specialties,
            drill=drill,
            read_seconds=read_seconds,
            figures_seconds=figures_seconds,
        )

    async def refresh(self, *_: object) -> None:
        self._loads += 1
        mine = self._loads
        try:
            filters = self.filters()
            filters.days(datetime.now(UTC))
        except FilterError as exc:
            self.notice.param.update(object=str(exc), visible=True)
            return
        reread = self.stale
        self.stale = False
        try:
            loaded = await self.run_action(Permission.METRICS_VIEW, lambda p: self.load(p, filters, reread=reread))
        except (NotAuthenticated, PermissionDenied):
            return
        except (ValidationFailed, ValueError) as exc:
            self.stale = self.stale or reread
            message = exc.message if isinstance(exc, ValidationFailed) else str(exc)
            self.notice.param.update(object=f"The charts could not be computed: {message}", visible=True)
            return
        if mine != self._loads:  # a later filter change supersedes this result
            return
        started = time.perf_counter()
        self.render(loaded)
        self.timings = {
            "read_s": loaded.read_seconds,
            "compute_s": loaded.data.compute_seconds,
            "figures_s": loaded.figures_seconds,
            "render_s": time.perf_counter() - started,
        }
        log.info(
            "dashboard_refreshed",
            read_ms=round(loaded.read_seconds * 1000, 1),
            compute_ms=round(loaded.data.compute_seconds * 1000, 1),
            figures_ms=round(loaded.figures_seconds * 1000, 1),
            render_ms=round(self.timings["render_s"] * 1000, 1),
        )

    # -- rendering --------------------------------------------------------------------------

    def render(self, loaded: Loaded) -> None:
        data = loaded.data
        self.frames, self.data = loaded.frames, data
        self.loaded_at = time.monotonic()
        self.notice.visible = False
        with pn.io.hold():
            self._set_options(loaded)
            self.headline_pane.object = headline_html(data, self.principal)
            for key, (figure, empty) in loaded.figures.items():
                self.cards[key].show(figure, empty)
            self._show_team(data)
            self._show_drill(loaded.drill, data)
            if self.counters is not None:
                self.alerts_pane.object = alerts_html(self.counters, data, self.principal, data.filters)
            self.exports_pane.object = exports_html(data.filters, datetime.now(UTC)) if self.may_export else ""

    def _set_options(self, loaded: Loaded) -> None:
        people = coders(loaded.frames)
        self._quiet = True
        try:
            chosen = self.coder.value
            options = {"Everyone": EVERYONE, **dict(zip(people["name"], people["user_id"], strict=True))}
            if chosen and chosen not in options.values():
                named = loaded.data.team.filter(pl.col("coder_id") == chosen)
                options[named["coder"][0] if named.height else "Chosen coder"] = chosen
            self.coder.options = options
            specialty = self.specialty.value
            self.specialty.options = {
                "All specialties": ALL_SPECIALTIES,
                **{cl.specialty(s): s for s in loaded.specialties},
                **({specialty: specialty} if specialty and specialty not in loaded.specialties else {}),
            }
            cl.resync(self.coder)
            cl.resync(self.specialty)
        finally:
            self._quiet = False

    def _show_team(self, data: DashboardData) -> None:
        self.team_rows = data.team["coder_id"].to_list()
        self.team.value = team_frame(data.team, data.filters.coder_id)
        self.team.visible = bool(self.team_rows)

    def _show_drill(self, page: ChartPage | None, data: DashboardData) -> None:
        coder_id = data.filters.coder_id
        self.drill_card.visible = coder_id is not None
        if coder_id is None or page is None:
            self.drill_items = []
            return
        named = data.team.filter(pl.col("coder_id") == coder_id)
        name = named["coder"][0] if named.height else "this coder"
        self.drill_items = list(page.items)
        shown = len(page.items)
        more = f" — the {shown} most recently changed" if shown < page.total else ""
        self.drill_head.object = (
            f'<h2 class="sc-section-title">Charts of {html.escape(name)}</h2>'
            f'<p class="db-lede">{cl.count(page.total, "chart")} assigned{more}. Click a row to open the chart.</p>'
        )
        self.drill.value = drill_frame(page.items, data.chart_accuracy)
        self.drill.visible = bool(page.items)
        self.drill_empty.visible = not page.items
        self.drill_empty.object = cl.empty_state(
            "No charts assigned", f"{name} holds no charts{' in this specialty' if data.filters.specialty else ''} now."
        )

    # -- layout -----------------------------------------------------------------------------

    def body(self) -> list[Any]:
        css = [cl.PAGE_CSS, CSS]
        panes = (
            self.live_pane,
            self.alerts_pane,
            self.headline_pane,
            self.exports_pane,
            self.drill_head,
            self.drill_empty,
        )
        for pane in panes:
            pane.stylesheets = css
        for card in self.cards.values():
            card.head.stylesheets = css
            card.empty.stylesheets = css
        filters = pn.FlexBox(
            self.period,
            self.start,
            self.end,
            self.specialty,
            self.coder,
            self.split,
            self.refresh_button,
            flex_wrap="wrap",
            align_items="center",
            gap="0 8px",
            sizing_mode="stretch_width",
            css_classes=["sc-filters", "sc-d-filters"],
        )
        c = self.cards
        team = pmui.Paper(
            pn.pane.HTML(
                '<h2 class="sc-section-title">Team</h2><p class="db-lede">What each coder did in the period '
                "(resubmissions in brackets). Click a coder to see their charts and narrow every chart to them.</p>",
                stylesheets=css,
                sizing_mode="stretch_width",
            ),
            self.team,
            sizing_mode="stretch_width",
            margin=(6, 6),
            css_classes=["sc-card-section", "db-card", "sc-d-team-card"],
        )
        grid = pn.GridBox(
            c["throughput"].panel,
            c["accuracy"].panel,
            team,
            c["categories"].panel,
            c["turnaround"].panel,
            c["rules"].panel,
            ncols=2,
            sizing_mode="stretch_width",
        )
        return [
            cl.gutter(
                self.live_pane,
                self.alerts_pane,
                filters,
                self.notice,
                self.headline_pane,
                self.drill_card,
                grid,
                self.exports_pane,
            )
        ]


def _url_args() -> dict[str, str]:
    """The page URL's filter arguments (``?period=…&specialty=…&coder=…&from=…&to=…``), checked."""
    args = pn.state.session_args if pn.state.curdoc is not None else {}
    found: dict[str, str] = {}
    for name in ("period", "specialty", "coder", "from", "to"):
        values = args.get(name) or []
        if len(values) != 1:
            continue
        raw = values[0]
        text = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)).strip()
        if text and len(text) <= 100:
            found[name] = text
    if "coder" in found:
        try:
            found["coder"] = str(UUID(found["coder"]))
        except ValueError:
            del found["coder"]
    return found


def _day(raw: str | None) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


def _one(value: str | None, label: str | None = None) -> dict[str, str]:
    return {label or cl.specialty(value): value} if value else {}
