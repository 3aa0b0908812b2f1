"""``/queue`` (coder): the signed-in coder's charts — returned ones first with the supervisor's
feedback, then drafts, oldest first; counts by status; filters, sorting and paging on the server;
one click on a row (or its "Open" link) opens ``/chart?id=…``.

Above them, a "What's new" card lists the coder's unread in-app notifications (charts assigned to
them or moved away), with "Mark all read"; its close button only hides it until the next visit.
No unread notification, no card. Below it, the "Feedback" card (``pages.feedback_panel``): the
supervisors' feedback to acknowledge and the findings to dispute.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, Literal
from uuid import UUID

import panel as pn
import panel_material_ui as pmui

from app.authz import Permission, Principal
from app.errors import NotAuthenticated, PermissionDenied, ValidationFailed
from app.services import charts as chart_actions
from app.services import notifications as notification_actions
from app.services import sampling
from app.services.chart_types import ChartPage
from app.services.notifications import Inbox, Notification
from datalayer.queries.charts import ChartSummary
from pages import chart_lists as cl
from pages.base import SecurePage, busy
from pages.feedback_panel import FeedbackPanel

PAGE_SIZE: Final = 25
RETURNED_SHOWN: Final = 10  # returned charts of the page listed with their feedback above the table
OPEN_STATUSES: Final = "draft,returned"
# Status tabs: label -> `status` filter ("" = all). Counts are added to the labels after each load.
TABS: Final[dict[str, str]] = {
    "To do": OPEN_STATUSES,
    "Returned": "returned",
    "Draft": "draft",
    "Waiting for audit": "pending_audit",
    "Completed": "completed",
    "All": "",
}
SORTS: Final[dict[str, str]] = {
    "Queue order": "queue",
    "Oldest first": "created",
    "Newest first": "-created",
    "Encounter date, oldest": "encounter",
    "Encounter date, newest": "-encounter",
    "Difficulty, easiest": "difficulty",
    "Difficulty, hardest": "-difficulty",
    "Recently changed": "-updated",
}
ANY: Final = "any"
COLUMNS: Final = (
    "Status",
    "Encounter",
    "Patient",
    "Date",
    "Specialty",
    "Diff.",
    "Codes",
    "In queue",
)
DIFFICULTIES: Final[dict[str, str]] = {"Any": ANY, **{f"{n}": str(n) for n in range(1, 6)}}
NEWS_SHOWN: Final = 5  # unread notifications listed on the card; "and N more" beyond
FEEDBACK_SHOWN: Final = 3  # feedback items on the card, to acknowledge first; the rest on /account
NEWS_CSS: Final = """
.sc-news { display: grid; gap: var(--app-space-2); margin: 0; padding: 0; list-style: none;
  font-family: var(--app-font-family-sans); color: var(--app-color-text); }
.sc-news__title { font-size: var(--app-font-size-md); font-weight: var(--app-font-weight-medium); }
.sc-news__meta { color: var(--app-color-text-muted); font-size: var(--app-font-size-sm); white-space: nowrap; }
.sc-news__body { margin: 0; color: var(--app-color-text-muted); font-size: var(--app-font-size-sm);
  line-height: var(--app-font-line-height-normal); overflow-wrap: anywhere; }
.sc-news__more { margin: var(--app-space-2) 0 0; color: var(--app-color-text-muted); font-size: var(--app-font-size-sm);
  font-family: var(--app-font-family-sans); }
"""


@dataclass(frozen=True)
class QueueData:
    page: ChartPage
    specialties: list[str]


def _tab_count(tab: str, counts: dict[str, int]) -> int:
    statuses = TABS[tab]
    return sum(n for s, n in counts.items() if not statuses or s in statuses.split(","))


def submitted_notice() -> str | None:
    """What the last submit did, from ``?submitted=audit|accepted`` (set by the chart page)."""
    args = pn.state.session_args if pn.state.curdoc is not None else {}
    values = args.get("submitted") or []
    if len(values) != 1:
        return None
    raw = values[0]
    outcome = raw.decode("ascii", "replace") if isinstance(raw, bytes) else str(raw)
    return {"audit": sampling.SENT_FOR_AUDIT, "accepted": sampling.ACCEPTED_WITHOUT_AUDIT}.get(outcome)


class QueuePage(SecurePage):
    title = "My queue"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.items: list[ChartSummary] = []
        self._loads = 0
        self._quiet = False
        self.tabs = pmui.RadioButtonGroup(
            options={label: label for label in TABS},
            value="To do",
            size="small",
            color="primary",
            sx={"& .MuiToggleButton-root": {"whiteSpace": "nowrap", "paddingInline": "14px"}},
            css_classes=["sc-queue-tabs"],
        )
        self.specialty = pmui.Select(
            label="Specialty", options={"All specialties": ""}, value="", width=170, css_classes=["sc-f-specialty"]
        )
        self.difficulty = pmui.Select(
            label="Difficulty", options=DIFFICULTIES, value=ANY, width=150, css_classes=["sc-f-difficulty"]
        )
        self.encounter_from = pmui.DatePicker(label="Encounter from", width=172, css_classes=["sc-f-from"])
        self.encounter_to = pmui.DatePicker(label="Encounter to", width=172, css_classes=["sc-f-to"])
        self.sort = pmui.Select(label="Sort", options=SORTS, value="queue", width=200, css_classes=["sc-f-sort"])
        self.clear = pmui.Button(label="Clear filters", variant="text", css_classes=["sc-clear-filters"])
        self.clear.on_click(self._clear)
        self.returned = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["sc-returned-list"], visible=False)
        self.table = cl.chart_table(
            COLUMNS,
            selectable=False,
            css_class="sc-queue-table",
            widths={
                "Status": 130,
                "Patient": 85,
                "Date": 120,
                "Specialty": 150,
                "Diff.": 60,
                "Codes": 65,
                "In queue": 100,
            },
        )
        self.table.on_click(self._open)
        self.empty = pn.pane.HTML("", sizing_mode="stretch_width", visible=False, css_classes=["sc-queue-empty"])
        self.pager_text = pn.pane.HTML("", css_classes=["sc-pager-text"])
        self.pager = pmui.Pagination(count=1, value=0, css_classes=["sc-pager"], size="small")
        self.notice = pmui.Alert(object="", alert_type="error", visible=False, sizing_mode="stretch_width")
        submitted = submitted_notice()  # the chart page sends the coder here after a submit
        self.submitted = pmui.Alert(
            object=submitted or "",
            alert_type="success",
            visible=submitted is not None,
            sizing_mode="stretch_width",
            css_classes=["sc-queue-submitted"],
        )
        self.news_items: list[Notification] = []
        self.news_unread = 0
        self.news_list = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["sc-news-list"])
        self.mark_all = pmui.Button(
            label="Mark all read", variant="text", size="small", css_classes=["sc-news-mark-all"]
        )
        self.mark_all.on_click(self._mark_all_read)
        self.news = pmui.Alert(
            self.news_list,
            self.mark_all,
            title="What's new",
            severity="info",
            closeable=True,
            visible=False,
            sizing_mode="stretch_width",
            css_classes=["sc-news-card"],
        )
        # The coder's feedback (pages/feedback_panel.py), loaded once the session is ready.
        self.feedback = FeedbackPanel(
            self, title="Feedback", limit=FEEDBACK_SHOWN, collapsible=True, more_link="/account"
        )
        for widget in (self.tabs, self.specialty, self.difficulty, self.encounter_from, self.encounter_to, self.sort):
            widget.param.watch(self._filters_changed, "value")
        self.pager.param.watch(self._page_changed, "value")
        cl.defer(self.refresh)
        cl.defer(self.load_news)

    # -- data -------------------------------------------------------------------------------

    def query(self) -> dict[str, Any]:
        """The list_charts arguments the widgets describe."""
        difficulty = self.difficulty.value
        return {
            "status": TABS.get(self.tabs.value or "To do", OPEN_STATUSES) or None,
            "specialty": self.specialty.value or None,
            "difficulty": int(difficulty) if difficulty and difficulty != ANY else None,
            "encounter_from": self.encounter_from.value if isinstance(self.encounter_from.value, date) else None,
            "encounter_to": self.encounter_to.value if isinstance(self.encounter_to.value, date) else None,
            "sort": self.sort.value or "queue",
            "page": (self.pager.value or 0) + 1,
            "page_size": PAGE_SIZE,
        }

    def fetch(self, principal: Principal) -> QueueData:
        """The database work of one load (runs in the executor)."""
        page = chart_actions.list_charts(principal, **self.query())
        if page.page > page.pages:  # the last page emptied meanwhile: show the new last page
            page = chart_actions.list_charts(principal, **{**self.query(), "page": page.pages})
        return QueueData(page=page, specialties=chart_actions.filter_options(principal).specialties)

    async def refresh(self, *_: object) -> None:
        self._loads += 1
        mine = self._loads
        self.table.loading = True
        try:
            data = await self.run_action(Permission.CHARTS_VIEW, self.fetch)
        except (NotAuthenticated, PermissionDenied):
            return  # the session watchdog takes the browser to /login
        except ValidationFailed as exc:
            self.notice.param.update(object=" ".join(exc.fields.values()) or exc.message, visible=True)
            self.table.loading = False
            return
        if mine == self._loads:  # a later load supersedes this one
            self.render(data)

    def render(self, data: QueueData) -> None:
        page = data.page
        self.items = page.items
        self._quiet = True
        try:
            self.tabs.options = {f"{label} ({_tab_count(label, page.counts):,})": label for label in TABS}
            self.specialty.options = {"All specialties": "", **{cl.specialty(s): s for s in data.specialties}}
            for select in (self.tabs, self.specialty):
                cl.resync(select)
            self.pager.count = page.pages
            self.pager.value = page.page - 1
        finally:
            self._quiet = False
        self.notice.visible = False
        self.table.value = cl.frame(
            {
                "Status": [cl.status_html(c.status) for c in page.items],
                "Encounter": [cl.encounter_html(c, link=True) for c in page.items],
                "Patient": [cl.patient(c) for c in page.items],
                "Date": [cl.day(c.encounter_start) for c in page.items],
                "Specialty": [cl.specialty(c.specialty) for c in page.items],
                "Diff.": [c.difficulty or "—" for c in page.items],
                "Codes": [c.code_count for c in page.items],
                "In queue": [cl.ago(c.assigned_at or c.created_at) for c in page.items],
            }
        )
        self.table.loading = False
        first = (page.page - 1) * page.page_size + 1
        last = first + len(page.items) - 1
        self.pager_text.object = (
            f'<span class="sc-pager-text">{first:,}\u2013{last:,} of {page.total:,}</span>' if page.items else ""
        )
        self.pager.visible = page.pages > 1
        self._show_returned(page.items)
        self._show_empty(page)

    # -- what's new ---------------------------------------------------------------------------

    async def load_news(self) -> None:
        """Read the unread notifications (off the event loop) and show or hide the card."""
        try:
            inbox = await self.run_action(
                Permission.ACCOUNT_VIEW, lambda p: notification_actions.unread(p, limit=NEWS_SHOWN)
            )
        except (NotAuthenticated, PermissionDenied):
            return
        self.show_news(inbox)

    def show_news(self, inbox: Inbox) -> None:
        self.news_items, self.news_unread = inbox.items, inbox.unread
        self.set_nav_count("/queue", inbox.unread)
        if not inbox.items:
            self.news.visible = False
            return
        more = inbox.unread - len(inbox.items)
        tail = f'<p class="sc-news__more">and {cl.count(more, "more unread notification")}</p>' if more > 0 else ""
        self.news_list.object = f'<ul class="sc-news">{"".join(_news_item(n) for n in inbox.items)}</ul>{tail}'
        self.news.visible = True

    async def _mark_all_read(self, *_: object) -> None:
        # Exactly what the card shows when it shows everything, so a notification that arrives
        # meanwhile is not marked read unseen; with "and N more" on the card, all of them.
        shown = [n.id for n in self.news_items]
        wanted: list[UUID] | Literal["all"] = shown if self.news_unread <= len(shown) else "all"

        def work(principal: Principal) -> Inbox:
            notification_actions.mark_read(principal, wanted)
            return notification_actions.unread(principal, limit=NEWS_SHOWN)

        try:
            with busy(self.mark_all):
                inbox = await self.run_action(Permission.ACCOUNT_VIEW, work)
        except (NotAuthenticated, PermissionDenied):
            return
        self.show_news(inbox)

    def _show_returned(self, items: list[ChartSummary]) -> None:
        returned = [c for c in items if c.status == "returned"]
        if not returned:
            self.returned.visible = False
            return
        rows = "".join(
            '<li class="sc-returned__item">'
            f'<div class="sc-returned__head">{cl.encounter_html(c)} '
            f'<span class="sc-returned__meta">· returned {cl.ago(c.returned_at, suffix=" ago")}'
            f"{' by ' + html.escape(c.returned_by) if c.returned_by else ''}"
            f"{' · ' + cl.count(c.open_findings, 'finding') if c.open_findings else ''}</span></div>"
            f'<p class="sc-returned__feedback">{html.escape(_summary(c.feedback) or "No written feedback.")}</p>'
            f'<div class="sc-returned__action">{cl.open_link(c, "Fix and resubmit")}</div></li>'
            for c in returned[:RETURNED_SHOWN]
        )
        more = len(returned) - RETURNED_SHOWN
        tail = f'<p class="sc-lede">{cl.count(more, "more returned chart")} below.</p>' if more > 0 else ""
        self.returned.object = (
            f'<h2 class="sc-section-title">Returned to you</h2><ul class="sc-returned">{rows}</ul>{tail}'
        )
        self.returned.visible = True

    def _filtered(self) -> bool:
        return bool(
            self.specialty.value
            or (self.difficulty.value not in (None, ANY))
            or self.encounter_from.value
            or self.encounter_to.value
        )

    def _show_empty(self, page: ChartPage) -> None:
        if page.total:
            self.empty.visible = False
            self.table.visible = True
            return
        if self._filtered():
            message = cl.empty_state("No charts match these filters", "Clear the filters to see your whole queue.")
        elif self.tabs.value == "To do":
            message = cl.empty_state(
                "Nothing to code right now",
                "Charts a manager assigns to you appear here, and you get an email when they do.",
            )
        else:
            message = cl.empty_state(f"No charts in “{self.tabs.value}”", "Choose another tab above.")
        self.empty.object = message
        self.empty.visible = True
        self.table.visible = False

    # -- events -----------------------------------------------------------------------------

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

    async def _clear(self, *_: object) -> None:
        self._quiet = True
        try:
            self.specialty.value = ""
            self.difficulty.value = ANY
            self.encounter_from.value = None
            self.encounter_to.value = None
            self.pager.value = 0
        finally:
            self._quiet = False
        await self.refresh()

    def _open(self, event: Any) -> None:
        row = getattr(event, "row", None)
        if isinstance(row, int) and 0 <= row < len(self.items):
            cl.navigate("/chart", f"?id={self.items[row].id}")

    def body(self) -> list[Any]:
        css = [cl.PAGE_CSS]
        return [
            cl.gutter(
                pn.pane.HTML(
                    '<p class="sc-lede">Returned charts come first, then drafts, oldest first. '
                    "Click a row to open the chart.</p>",
                    stylesheets=css,
                    sizing_mode="stretch_width",
                ),
                self.submitted,
                self.news,
                self.feedback.panel,
                self.notice,
                pn.Row(self.tabs, sizing_mode="stretch_width"),
                self.returned,
                pn.FlexBox(
                    self.specialty,
                    self.difficulty,
                    self.encounter_from,
                    self.encounter_to,
                    self.sort,
                    self.clear,
                    flex_wrap="wrap",
                    align_items="flex-end",
                    gap="0 12px",
                    sizing_mode="stretch_width",
                    css_classes=["sc-filters"],
                ),
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

    def __panel__(self) -> Any:
        for pane in (self.returned, self.empty, self.pager_text):
            pane.stylesheets = [cl.PAGE_CSS]
        self.news_list.stylesheets = [NEWS_CSS]
        return super().__panel__()


def _summary(text: str | None, limit: int = 220) -> str:
    if not text:
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _news_item(n: Notification) -> str:
    body = f'<p class="sc-news__body">{html.escape(n.body)}</p>' if n.body else ""
    return (
        '<li class="sc-news__item">'
        f'<span class="sc-news__title">{html.escape(n.title)}</span> '
        f'<span class="sc-news__meta">· {html.escape(cl.ago(n.created_at, suffix=" ago"))}</span>{body}</li>'
    )
