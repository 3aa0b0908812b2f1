"""``/review`` (supervisor, manager): the organisation's charts waiting for audit, oldest submission
first, with coder, specialty, difficulty, submitted time, validation summary and overrides used.

"Claim and audit" claims the chart (``app.services.audits.claim``) and opens ``/audit?id=…``; a
chart another supervisor is auditing shows who, and cannot be claimed while that claim is live.
The list is read while the page is built (see ``ReviewPage.__init__``); the claim runs off the
event loop (``SecurePage.run_action``). On top, the "Disputed findings" card
(``pages.feedback_panel``): findings coders disputed, to uphold or overturn.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Coroutine
from typing import Any, Final
from uuid import UUID

import panel as pn
import panel_material_ui as pmui

from app.authz import Permission, Principal
from app.errors import Conflict, NotAuthenticated, NotFound, PermissionDenied, ValidationFailed
from app.services import audits as audit_actions
from app.services.audits import QueueItem, ReviewQueue
from pages import chart_lists as cl
from pages import review_sampling
from pages.base import SecurePage, busy
from pages.feedback_panel import DisputesPanel

PAGE_SIZE: Final = 100
DISPUTES_SHOWN: Final = 20  # open disputes on the card, oldest first

CSS: Final = """
:host { display: block; }
.rv-row { display: grid; grid-template-columns: minmax(160px, 1.4fr) minmax(120px, 1fr) 70px minmax(110px, 0.9fr)
  minmax(120px, 0.9fr) minmax(200px, 1.6fr) minmax(150px, 1.1fr); gap: var(--app-space-3); align-items: center;
  font-family: var(--app-font-family-sans); font-size: var(--app-font-size-sm); color: var(--app-color-text); }
.rv-head { color: var(--app-color-text-muted); font-size: var(--app-font-size-xs); font-weight: var(--app-font-weight-semibold);
  text-transform: uppercase; letter-spacing: 0.04em; padding: 0 0 var(--app-space-1); }
.rv-dim { color: var(--app-color-text-muted); }
.rv-ok { color: var(--app-color-success); }
.rv-err { color: var(--app-color-danger); font-weight: var(--app-font-weight-semibold); }
.rv-warn { color: var(--app-color-warning); font-weight: var(--app-font-weight-semibold); }
.rv-claim { display: inline-flex; padding: 0 var(--app-space-2); border-radius: var(--app-radius-pill);
  background: var(--app-color-role-supervisor-background); color: var(--app-color-role-supervisor-text);
  border: var(--app-size-border-width) solid var(--app-color-role-supervisor-border); font-size: var(--app-font-size-xs); }
.rv-why { display: inline-flex; padding: 0 var(--app-space-2); border-radius: var(--app-radius-pill);
  background: var(--app-color-surface-sunken); color: var(--app-color-text);
  border: var(--app-size-border-width) solid var(--app-color-border); font-size: var(--app-font-size-xs); }
"""

_COLUMNS: Final = ("Coder", "Specialty", "Diff.", "Submitted", "Why", "Validation", "Claim")


def validation_text(item: QueueItem) -> str:
    parts = []
    if item.errors:
        parts.append(f'<span class="rv-err">{cl.count(item.errors, "error")}</span>')
    if item.warnings:
        parts.append(f'<span class="rv-warn">{cl.count(item.warnings, "warning")}</span>')
    if not parts:
        parts.append('<span class="rv-ok">Clear</span>')
    parts.append(f'<span class="rv-dim">{cl.count(item.code_count, "code")}</span>')
    if item.overrides:
        parts.append(f'<span class="rv-warn">{cl.count(item.overrides, "override")} used</span>')
    return " · ".join(parts)


def claim_text(item: QueueItem, principal: Principal) -> str:
    if item.claimed_by is None:
        return '<span class="rv-dim">Unclaimed</span>'
    if item.claimed_by == principal.user_id:
        return '<span class="rv-claim">Claimed by you</span>'
    return f'<span class="rv-claim">Being audited by {html.escape(item.claimed_by_name or "another supervisor")}</span>'


def row_html(item: QueueItem, principal: Principal) -> str:
    cells = (
        html.escape(item.coder_name or "—"),
        html.escape(cl.specialty(item.specialty)),
        str(item.difficulty or "—"),
        f"{cl.ago(item.submitted_at, suffix=' ago')}",
        review_sampling.why_html(item.audit_reason),
        validation_text(item),
        claim_text(item, principal),
    )
    return '<div class="rv-row">' + "".join(f"<div>{c}</div>" for c in cells) + "</div>"


class ReviewPage(SecurePage):
    title = "Review queue"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.queue: ReviewQueue | None = None
        self.claim_buttons: dict[UUID, Any] = {}
        self.summary = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["sc-review-summary"])
        self.rows = pn.Column(sizing_mode="stretch_width", css_classes=["sc-review-rows"])
        self.empty = pn.pane.HTML("", visible=False, sizing_mode="stretch_width", css_classes=["sc-review-empty"])
        self.notice = pmui.Alert(
            object="", alert_type="info", visible=False, sizing_mode="stretch_width", css_classes=["sc-review-notice"]
        )
        self.sampling = review_sampling.SamplingCard(self, review_sampling.load(self.principal))
        # Loaded while the page is built (a read, like ``/chart``): the claim buttons must be part of
        # the first document. A pmui button added by a later patch sends its click with its whole
        # model, which the server rejects as "reference already known" (seen on Panel 1.10).
        self.render(self.fetch(self.principal))
        self.disputes = DisputesPanel(self, limit=DISPUTES_SHOWN, now=True)  # open disputes, read now too

    def fetch(self, principal: Principal) -> ReviewQueue:
        return audit_actions.review_queue(principal, page_size=PAGE_SIZE)

    async def refresh(self, *_: object) -> None:
        try:
            queue = await self.run_action(Permission.AUDITS_VIEW, self.fetch)
        except (NotAuthenticated, PermissionDenied):
            return
        self.render(queue)

    def render(self, queue: ReviewQueue) -> None:
        self.queue = queue
        css = [cl.PAGE_CSS, CSS]
        may_audit = self.principal.can(Permission.AUDITS_PERFORM)
        self.claim_buttons = {}
        rows: list[Any] = []
        if queue.items:
            head = '<div class="rv-row rv-head">' + "".join(f"<div>{c}</div>" for c in _COLUMNS) + "</div>"
            rows.append(pn.Row(pn.pane.HTML(head, stylesheets=css, sizing_mode="stretch_width"), pn.Spacer(width=170)))
        for item in queue.items:
            taken = item.claimed_by is not None and item.claimed_by != self.principal.user_id
            button = pmui.Button(
                label="Continue audit" if item.claimed_by == self.principal.user_id else "Claim and audit",
                color="primary",
                variant="outlined",
                width=160,
                disabled=taken or not may_audit,
                visible=may_audit,
                css_classes=["sc-review-claim"],
            )
            button.on_click(self._opener(item.chart_id))
            self.claim_buttons[item.chart_id] = button
            rows.append(
                pmui.Paper(
                    pn.Row(
                        pn.pane.HTML(row_html(item, self.principal), stylesheets=css, sizing_mode="stretch_width"),
                        button,
                        align="center",
                        sizing_mode="stretch_width",
                    ),
                    sizing_mode="stretch_width",
                    margin=(4, 0),
                    css_classes=["sc-card-section", "sc-review-row"],
                )
            )
        self.rows.objects = rows
        shown = len(queue.items)
        self.summary.object = (
            f'<p class="sc-lede">{cl.count(queue.total, "chart")} waiting for audit, oldest submission first'
            + (f" (showing the first {shown})" if shown < queue.total else "")
            + ".</p>"
            if queue.total
            else ""
        )
        self.summary.stylesheets = css
        self.empty.stylesheets = css
        self.empty.object = cl.empty_state(
            "Nothing waiting for audit", "Charts appear here as soon as coders submit them."
        )
        self.empty.visible = queue.total == 0

    def _opener(self, chart_id: UUID) -> Callable[[object], Coroutine[Any, Any, None]]:
        async def open_(_: object) -> None:
            await self.claim_and_open(chart_id)

        return open_

    async def claim_and_open(self, chart_id: UUID) -> None:
        button = self.claim_buttons.get(chart_id)
        try:
            if button is not None:
                with busy(button):
                    await self.run_action(Permission.AUDITS_PERFORM, lambda p: audit_actions.claim(p, chart_id))
            else:
                await self.run_action(Permission.AUDITS_PERFORM, lambda p: audit_actions.claim(p, chart_id))
        except (NotAuthenticated, PermissionDenied):
            return
        except (Conflict, NotFound, ValidationFailed) as exc:
            self.notice.param.update(
                object=f"Not claimed. {exc.message} Reload the page to see the latest queue.",
                alert_type="error",
                visible=True,
            )
            if button is not None:
                button.disabled = True
            return
        cl.navigate("/audit", f"?id={chart_id}")

    def body(self) -> list[Any]:
        return [cl.gutter(self.notice, self.disputes.panel, self.sampling, self.summary, self.rows, self.empty)]
