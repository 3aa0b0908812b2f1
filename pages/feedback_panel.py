"""The coder's side of an audit, as page components (issue 6, item 3).

- ``FeedbackPanel`` (``/queue``'s "Feedback" card and ``/account``'s "Feedback received"): the
  signed-in coder's feedback, to acknowledge first, each with its chart (a link), decision, scores,
  the supervisor's text and the findings; "Acknowledge"; per finding "Dispute", which opens a small
  comment box under it; a disputed finding shows the comment, then the supervisor's resolution.
- ``DisputesPanel`` (``/review``'s "Disputed findings" card): the organisation's open disputes,
  oldest first, each with a note and uphold / overturn for supervisors (read-only for managers).

Each list is one small ESM component (``feedback_list.js``, one Bokeh model) inside a pmui card:
Python sends worded items as JSON, the browser draws them and sends one message per button. So the
list can be loaded after the page is shown and changed in place without adding widgets to a live
page (a pmui button added by a later patch sends its click with its whole model, which the server
rejects as "reference already known", seen on Panel 1.10), and a page with many findings costs one
model instead of a few per finding. The actions run off the event loop (``SecurePage.run_action``)
through ``app.services.feedback``; a refused one is said next to the button that asked for it.
"""

from __future__ import annotations

import html
from collections.abc import Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, Final, Literal
from uuid import UUID

import panel as pn
import panel_material_ui as pmui
import param
from panel.custom import JSComponent

from app.authz import Permission, Principal
from app.errors import Conflict, NotAuthenticated, NotFound, PermissionDenied, ValidationFailed
from app.services import feedback as feedback_actions
from app.services.feedback import CoderCounts, DisputedFinding, DisputeQueue, FeedbackInbox, FeedbackItem, Finding
from pages import chart_lists as cl
from pages.base import SecurePage
from pages.chart_workspace import VERDICTS
from pages.components import DictMessages

ACCURACY_TARGET: Final = 0.95
EMPTY_FEEDBACK: Final = {
    "title": "No feedback yet",
    "text": "It appears here when a supervisor audits one of your charts.",
}
EMPTY_DISPUTES: Final = {
    "title": "No open disputes",
    "text": "When a coder disputes a finding, it waits here for a supervisor to uphold or overturn it.",
}
_SEVERITY_TONE: Final = {"critical": "bad", "major": "warn", "minor": "info"}
_REFUSED: Final = (ValidationFailed, Conflict, NotFound)

CSS: Final = """
:host { display: block; width: 100%; }
.fb { display: grid; gap: var(--app-space-3); font-family: var(--app-font-family-sans); font-size: var(--app-font-size-sm);
  color: var(--app-color-text); line-height: var(--app-font-line-height-normal); }
.fb p { margin: 0; }
.fb a { color: var(--app-color-link); font-weight: var(--app-font-weight-semibold); text-decoration: none; }
.fb a:hover { color: var(--app-color-link-hover); text-decoration: underline; }
.fb a:focus-visible, .fb-btn:focus-visible, .fb-input:focus-visible {
  outline: var(--app-size-focus-ring-width) solid var(--app-color-focus-ring); outline-offset: 2px; }
.fb-item { display: grid; gap: var(--app-space-2); padding: var(--app-space-3) var(--app-space-4);
  background: var(--app-color-surface); border: var(--app-size-border-width) solid var(--app-color-border);
  border-radius: var(--app-radius-md); }
.fb-item--todo { border-left: 3px solid var(--app-color-warning-border); }
.fb-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: var(--app-space-1) var(--app-space-2);
  font-size: var(--app-font-size-md); }
.fb-dim, .fb-meta, .fb-correct, .fb-note, .fb-loading { color: var(--app-color-text-muted); }
.fb-pill { display: inline-flex; align-items: center; padding: 0 var(--app-space-2); border-radius: var(--app-radius-pill);
  font-size: var(--app-font-size-xs); font-weight: var(--app-font-weight-semibold); white-space: nowrap;
  border: var(--app-size-border-width) solid var(--app-color-border); background: var(--app-color-surface-sunken);
  color: var(--app-color-text-muted); }
.fb-pill--warn { background: var(--app-color-warning-subtle); color: var(--app-color-text); border-color: var(--app-color-warning-border); }
.fb-pill--info { background: var(--app-color-info-subtle); color: var(--app-color-info); border-color: var(--app-color-info-border); }
.fb-pill--good { background: var(--app-color-success-subtle); color: var(--app-color-success); border-color: var(--app-color-success-border); }
.fb-pill--bad { background: var(--app-color-danger-subtle); color: var(--app-color-danger); border-color: var(--app-color-danger-border); }
.fb-scores { display: flex; flex-wrap: wrap; gap: var(--app-space-2); }
.fb-body { padding: var(--app-space-2) var(--app-space-3); border-left: 3px solid var(--app-color-info-border);
  background: var(--app-color-surface-sunken); border-radius: var(--app-radius-sm); white-space: pre-wrap; overflow-wrap: anywhere; }
.fb-findings { list-style: none; margin: 0; padding: 0; display: grid; }
.fb-finding { padding: var(--app-space-2) 0; border-top: var(--app-size-border-width) solid var(--app-color-border);
  display: grid; gap: var(--app-space-2); }
.fb-finding__row { display: flex; gap: var(--app-space-3); align-items: flex-start; justify-content: space-between; }
.fb-finding__main { display: grid; gap: var(--app-space-1); min-width: 0; overflow-wrap: anywhere; }
.fb-what { display: flex; flex-wrap: wrap; align-items: baseline; gap: var(--app-space-1) var(--app-space-2); }
.fb-code { font-family: var(--app-font-family-mono); font-weight: var(--app-font-weight-semibold); }
.fb-arrow { color: var(--app-color-text-muted); }
.fb-resolution--overturned { color: var(--app-color-success); }
.fb-btn { flex: none; font: inherit; font-weight: var(--app-font-weight-semibold); cursor: pointer; border-radius: var(--app-radius-md);
  padding: var(--app-space-1) var(--app-space-3); border: var(--app-size-border-width) solid transparent; }
.fb-btn:disabled { cursor: default; opacity: 0.55; }
.fb-btn--primary { background: var(--app-color-link); color: var(--app-color-surface); }
.fb-btn--primary:hover:not(:disabled) { background: var(--app-color-link-hover); }
.fb-btn--outline { background: var(--app-color-surface); color: var(--app-color-link); border-color: var(--app-color-link); }
.fb-btn--outline:hover:not(:disabled) { background: var(--app-color-primary-subtle); }
.fb-btn--warn { color: var(--app-color-text); border-color: var(--app-color-warning-border); background: var(--app-color-warning-subtle); }
.fb-btn--text { background: none; color: var(--app-color-link); }
.fb-btn[aria-busy="true"] { cursor: progress; }
.fb-form { display: grid; gap: var(--app-space-2); padding: var(--app-space-3); background: var(--app-color-surface-sunken);
  border-radius: var(--app-radius-md); }
.fb-form__label { font-weight: var(--app-font-weight-semibold); }
.fb-form__actions, .fb-actions { display: flex; flex-wrap: wrap; align-items: center; gap: var(--app-space-2); }
.fb-input { box-sizing: border-box; width: 100%; font: inherit; color: var(--app-color-text); background: var(--app-color-surface);
  border: var(--app-size-border-width) solid var(--app-color-border); border-radius: var(--app-radius-sm); padding: var(--app-space-2); }
textarea.fb-input { resize: vertical; min-height: 4.5em; }
.fb-resolve { display: flex; flex-wrap: wrap; gap: var(--app-space-2); align-items: center; }
.fb-resolve .fb-input { flex: 1 1 320px; width: auto; }
.fb-notice { padding: var(--app-space-1) var(--app-space-3); border-radius: var(--app-radius-sm); }
.fb-notice--error { background: var(--app-color-danger-subtle); color: var(--app-color-danger); }
.fb-notice--success { background: var(--app-color-success-subtle); color: var(--app-color-success); }
.fb-done { color: var(--app-color-success); font-weight: var(--app-font-weight-semibold); }
.fb-empty { padding: var(--app-space-5); text-align: center; border: var(--app-size-border-width) dashed var(--app-color-border);
  border-radius: var(--app-radius-md); }
.fb-empty__title { font-size: var(--app-font-size-md); font-weight: var(--app-font-weight-semibold); }
.fb-empty__text { color: var(--app-color-text-muted); }
[hidden] { display: none !important; }
"""

TITLE_CSS: Final = """
.fb-title { display: flex; flex-wrap: wrap; align-items: center; gap: var(--app-space-2); margin: 0;
  font-family: var(--app-font-family-sans); font-size: var(--app-font-size-lg); font-weight: var(--app-font-weight-semibold);
  color: var(--app-color-text); }
.fb-pill { display: inline-flex; align-items: center; padding: 0 var(--app-space-2); border-radius: var(--app-radius-pill);
  font-size: var(--app-font-size-xs); font-weight: var(--app-font-weight-semibold); white-space: nowrap;
  border: var(--app-size-border-width) solid var(--app-color-border); }
.fb-pill--warn { background: var(--app-color-warning-subtle); color: var(--app-color-text); border-color: var(--app-color-warning-border); }
.fb-pill--info { background: var(--app-color-info-subtle); color: var(--app-color-info); border-color: var(--app-color-info-border); }
.fb-pill--good { background: var(--app-color-success-subtle); color: var(--app-color-success); border-color: var(--app-color-success-border); }
.fb-more { margin: 0; font-family: var(--app-font-family-sans); font-size: var(--app-font-size-sm); color: var(--app-color-text-muted); }
.fb-more a { color: var(--app-color-link); }
"""


class FeedbackList(DictMessages, JSComponent):
    """The list itself (``feedback_list.js``); ``on_message`` receives its buttons' messages."""

    mode = param.String(default="coder", doc="coder (feedback received) or supervisor (open disputes)")
    items = param.List(default=[], doc="Worded items (``coder_item_json`` / ``dispute_json``)")
    notices = param.Dict(default={}, doc="item or finding id -> {kind, text, seq}, shown by that button")
    loaded = param.Boolean(default=False, doc="False: 'Loading…'")
    empty = param.Dict(default={}, doc="{title, text} shown when there are no items")

    # Served as a file from our own origin (``_bundle``): an inline module would be loaded from a
    # blob: URL, which the page CSP's connect-src rightly does not allow (as ``chart_grid``).
    _esm: ClassVar[Path] = Path(__file__).with_name("feedback_list.js")
    _bundle: ClassVar[Path] = _esm
    _stylesheets: ClassVar[list[str]] = [CSS]


# -- wording -------------------------------------------------------------------------------------------


def e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def pill(text: str, tone: str = "") -> str:
    return f'<span class="fb-pill{" fb-pill--" + tone if tone else ""}">{e(text)}</span>'


def _chart(chart_id: UUID, reason: str | None, kind: str | None, klass: str | None, start: Any) -> dict[str, str]:
    label = reason or kind or klass or "Encounter"
    meta = [x for x in (kind if reason else None, cl.day(start) if start else None) if x]
    return {"link": f"/chart?id={chart_id}", "chart": label, "chart_meta": " · ".join(meta)}


def finding_json(f: Finding, *, for_coder: bool = True) -> dict[str, Any]:
    """One finding, worded: which code ("E11.9" → "E11.65"), verdict, severity, note, the dispute
    and its resolution."""
    if f.verdict == "missing":
        code_from, code_to = f.expected_code or "—", None
    elif f.verdict == "wrong_code" and f.expected_code and f.code != f.expected_code:
        code_from, code_to = f.code or "Removed row", f.expected_code
    else:
        code_from, code_to = f.code or f.expected_code or "Removed row", None
    dispute = None
    if f.disputed_at is not None:
        label = f"You disputed {cl.ago(f.disputed_at, suffix=' ago')}:" if for_coder else "Comment:"
        dispute = {"label": label, "comment": f.dispute_comment or "", "waiting": for_coder and f.resolution is None}
    resolution = None
    if f.resolution is not None:
        verb = "Upheld — the finding stands" if f.resolution == "upheld" else "Overturned — the finding was withdrawn"
        by = f" by {f.resolved_by_name}" if f.resolved_by_name else ""
        resolution = {"tone": f.resolution, "label": verb + by, "note": f.resolution_note or ""}
    return {
        "id": str(f.id),
        "from": code_from,
        "to": code_to,
        "verdict": VERDICTS.get(f.verdict, f.verdict),
        "severity": (f.severity or "").capitalize(),
        "severity_tone": _SEVERITY_TONE.get(f.severity or "", ""),
        "category": f.category or "",
        "note": f.note or "",
        "disputable": f.disputable,
        "dispute": dispute,
        "resolution": resolution,
    }


def scores_json(i: FeedbackItem) -> list[dict[str, str]]:
    out = []
    if i.code_accuracy is not None:
        tone = "good" if i.code_accuracy >= ACCURACY_TARGET else "bad"
        out.append({"text": f"Accuracy {i.code_accuracy * 100:.0f}%", "tone": tone})
    if i.principal_correct is not None:
        right = i.principal_correct
        out.append({"text": "Principal correct" if right else "Principal wrong", "tone": "good" if right else "bad"})
    if i.drg_correct is not None:
        right = i.drg_correct
        out.append({"text": "MS-DRG right" if right else "MS-DRG changed", "tone": "good" if right else "bad"})
    return out


def item_key(i: FeedbackItem) -> str:
    return str(i.feedback_id or i.audit_id)


def coder_item_json(i: FeedbackItem, *, just_acknowledged: bool = False) -> dict[str, Any]:
    """One feedback item, worded for the coder; findings judged correct are only counted."""
    right = sum(f.verdict == "correct" for f in i.findings)
    if i.feedback_id is None:
        ack, ack_text = "none", "no written feedback"
    elif i.acknowledged_at is None:
        ack, ack_text = "todo", ""
    else:
        ack, ack_text = "done", f"acknowledged {cl.ago(i.acknowledged_at, suffix=' ago')}"
    return {
        "key": item_key(i),
        "feedback_id": str(i.feedback_id) if i.feedback_id else None,
        **_chart(i.chart_id, i.encounter_reason, i.encounter_type, i.encounter_class, i.encounter_start),
        "decision": "Returned" if i.decision == "return" else "Approved",
        "decision_tone": "warn" if i.decision == "return" else "good",
        "meta": f"{i.supervisor_name or 'A supervisor'} · {cl.ago(i.decided_at, suffix=' ago')} · submission {i.submission_no}",
        "ack": ack,
        "ack_text": ack_text,
        "just_acknowledged": just_acknowledged,
        "scores": scores_json(i),
        "body": i.body or "",
        "findings": [finding_json(f) for f in i.findings if f.verdict != "correct"],
        "correct": f"{cl.count(right, 'other code')} judged correct." if right else "",
    }


def dispute_json(d: DisputedFinding, principal: Principal) -> dict[str, Any]:
    """One disputed finding, worded for the supervisors."""
    auditor = "you" if d.supervisor_id == principal.user_id else (d.supervisor_name or "another supervisor")
    decision = "returned" if d.decision == "return" else "approved"
    when = cl.ago(d.finding.disputed_at, suffix=" ago")
    return {
        "key": str(d.finding.id),
        **_chart(d.chart_id, d.encounter_reason, d.encounter_type, d.encounter_class, d.encounter_start),
        "meta": f"{d.coder_name or 'A coder'} disputed {when} · audited by {auditor} ({decision}, submission {d.submission_no})",
        "finding": finding_json(d.finding, for_coder=False),
        "resolvable": principal.can(Permission.AUDITS_PERFORM) and d.finding.resolution is None,
    }


def _title(text: str, pills: str) -> str:
    return f'<h2 class="fb-title">{e(text)} {pills}</h2>'


def _refusal(exc: Exception) -> str:
    fields = getattr(exc, "fields", None) or {}
    return " ".join(dict.fromkeys(fields.values())) or getattr(exc, "message", "That did not work.")


# -- the panels ------------------------------------------------------------------------------------------


class _Panel:
    """What both panels share: the card, its title, the list, and running one message's action."""

    mode: ClassVar[str] = "coder"

    def __init__(self, page: SecurePage, *, title: str, empty: dict[str, str], collapsible: bool) -> None:
        self.page = page
        self.title = title
        self.seq = 0
        self.list = FeedbackList(
            mode=self.mode, empty=empty, sizing_mode="stretch_width", css_classes=[f"sc-{self.mode}-list"]
        )
        self.list.on_message = self._on_message
        self.header = pn.pane.HTML(_title(title, ""), stylesheets=[TITLE_CSS], sizing_mode="stretch_width")
        self.more = pn.pane.HTML("", stylesheets=[TITLE_CSS], sizing_mode="stretch_width", visible=False)
        self.panel = pmui.Card(
            objects=[self.list, self.more],
            header=self.header,
            collapsible=collapsible,
            sizing_mode="stretch_width",
            margin=(8, 0),
        )

    def notice(self, key: str, text: str, kind: str = "error") -> None:
        self.seq += 1
        self.list.notices = {**self.list.notices, key: {"kind": kind, "text": text, "seq": self.seq}}

    def clear_notice(self, key: str) -> None:
        self.list.notices = {k: v for k, v in self.list.notices.items() if k != key}

    def handle(self, msg: dict[str, Any]) -> Coroutine[Any, Any, None] | None:
        raise NotImplementedError

    def _on_message(self, msg: dict[str, Any]) -> None:
        # Bokeh applies the browser's message in a worker thread holding this session's document
        # lock; the action (database work) is handed to the loop, which runs it off the loop.
        work = self.handle(msg)
        if work is not None:

            async def run() -> None:
                await work

            pn.state.execute(run)


def _uuid(raw: object) -> UUID | None:
    try:
        return UUID(str(raw))
    except ValueError:
        return None


class FeedbackPanel(_Panel):
    """The signed-in coder's feedback (up to ``limit`` items, to acknowledge first) on a card.

    ``now``: read it while the page is built (like the rest of ``/account``); otherwise once the
    browser session is ready (``load``, like the rest of ``/queue``). ``collapsible``: the card
    folds away when nothing waits for the coder (``/queue``); ``more_link``: where the older items
    are listed."""

    mode = "coder"

    def __init__(
        self,
        page: SecurePage,
        *,
        title: str,
        limit: int,
        collapsible: bool,
        more_link: str | None = None,
        now: bool = False,
    ) -> None:
        super().__init__(page, title=title, empty=EMPTY_FEEDBACK, collapsible=collapsible)
        self.limit = limit
        self.more_link = more_link
        self.items: dict[str, FeedbackItem] = {}
        self.findings: dict[UUID, str] = {}  # finding id -> its item's key
        self.counts = CoderCounts(0, 0)
        self.panel.css_classes = ["sc-feedback-card"]
        if now:
            self.show(self.read(page.principal))
        else:
            cl.defer(self.load)

    def read(self, principal: Principal) -> FeedbackInbox:
        return feedback_actions.received(principal, page_size=self.limit)

    async def load(self) -> None:
        try:
            inbox = await self.page.run_action(Permission.CHARTS_CODE, self.read)
        except (NotAuthenticated, PermissionDenied):
            return  # the session watchdog takes the browser to /login
        self.show(inbox)

    def show(self, inbox: FeedbackInbox) -> None:
        self.items = {item_key(i): i for i in inbox.items}
        self.findings = {f.id: item_key(i) for i in inbox.items for f in i.findings}
        self.list.param.update(items=[coder_item_json(i) for i in inbox.items], loaded=True)
        more = inbox.total - len(inbox.items)
        if more > 0:
            where = f' — <a href="{e(self.more_link)}">see them all on your account page</a>' if self.more_link else ""
            self.more.param.update(
                object=f'<p class="fb-more">{e(cl.count(more, "older feedback item"))} not shown{where}.</p>',
                visible=True,
            )
        quiet = inbox.unacknowledged == 0 and inbox.open_disputes == 0 and bool(inbox.items)
        if self.panel.collapsible:
            self.panel.collapsed = quiet
        self.show_counts(CoderCounts(inbox.unacknowledged, inbox.open_disputes))

    def show_counts(self, counts: CoderCounts) -> None:
        self.counts = counts
        pills = []
        if counts.unacknowledged:
            pills.append(pill(f"{counts.unacknowledged} to acknowledge", "warn"))
        if counts.open_disputes:
            pills.append(pill(cl.count(counts.open_disputes, "open dispute"), "info"))
        if not pills and self.items:
            pills.append(pill("All acknowledged", "good"))
        self.header.object = _title(self.title, "".join(pills))

    def _replace(self, item: FeedbackItem, *, just_acknowledged: bool = False) -> None:
        key = item_key(item)
        self.items[key] = item
        fresh = coder_item_json(item, just_acknowledged=just_acknowledged)
        self.list.items = [fresh if x["key"] == key else x for x in self.list.items]

    def handle(self, msg: dict[str, Any]) -> Coroutine[Any, Any, None] | None:
        """The action a message from the list asks for; None for one that names nothing on it."""
        op, wanted = msg.get("op"), _uuid(msg.get("id"))
        if wanted is None:
            return None
        item = self.items.get(str(wanted))
        if op == "acknowledge" and item is not None and item.feedback_id == wanted:
            return self.acknowledge(wanted)
        if op == "dispute" and wanted in self.findings and isinstance(msg.get("comment"), str):
            return self.dispute(wanted, str(msg["comment"]))
        return None

    async def acknowledge(self, feedback_id: UUID) -> None:
        key = str(feedback_id)

        def work(principal: Principal) -> tuple[FeedbackItem, CoderCounts]:
            return feedback_actions.acknowledge(principal, feedback_id).item, feedback_actions.counts(principal)

        try:
            item, counts = await self.page.run_action(Permission.CHARTS_CODE, work)
        except (NotAuthenticated, PermissionDenied):
            return
        except _REFUSED as exc:
            self.notice(key, f"Not acknowledged. {_refusal(exc)} Reload the page to see the latest.")
            return
        self.clear_notice(key)
        self._replace(item, just_acknowledged=True)
        self.show_counts(counts)

    async def dispute(self, finding_id: UUID, comment: str) -> None:
        key = str(finding_id)

        def work(principal: Principal) -> tuple[Finding, CoderCounts]:
            return feedback_actions.dispute(principal, finding_id, comment), feedback_actions.counts(principal)

        try:
            found, counts = await self.page.run_action(Permission.CHARTS_CODE, work)
        except (NotAuthenticated, PermissionDenied):
            return
        except _REFUSED as exc:
            self.notice(key, f"Not sent. {_refusal(exc)}")
            return
        item = self.items[self.findings[finding_id]]
        item = replace(item, findings=tuple(found if f.id == finding_id else f for f in item.findings))
        self.notice(
            key, "Dispute sent. A supervisor will uphold or overturn the finding; the answer appears here.", "success"
        )
        self._replace(item)
        self.show_counts(counts)


class DisputesPanel(_Panel):
    """The organisation's open disputes, oldest first (up to ``limit``), for ``/review``; read
    while the page is built (``now``) or once its session is ready (``load``)."""

    mode = "supervisor"

    def __init__(self, page: SecurePage, *, limit: int, now: bool = False) -> None:
        super().__init__(page, title="Disputed findings", empty=EMPTY_DISPUTES, collapsible=True)
        self.limit = limit
        self.items: dict[str, DisputedFinding] = {}
        self.open = 0
        self.panel.css_classes = ["sc-disputes-card"]
        if now:
            self.show(self.read(page.principal))
        else:
            cl.defer(self.load)

    def read(self, principal: Principal) -> DisputeQueue:
        return feedback_actions.disputed(principal, page_size=self.limit)

    async def load(self) -> None:
        try:
            queue = await self.page.run_action(Permission.AUDITS_VIEW, self.read)
        except (NotAuthenticated, PermissionDenied):
            return
        self.show(queue)

    def show(self, queue: DisputeQueue) -> None:
        self.items = {str(d.finding.id): d for d in queue.items}
        self.list.param.update(items=[dispute_json(d, self.page.principal) for d in queue.items], loaded=True)
        more = queue.total - len(queue.items)
        self.more.param.update(
            object=f'<p class="fb-more">{e(cl.count(more, "more dispute"))} after these.</p>' if more > 0 else "",
            visible=more > 0,
        )
        self.panel.collapsed = not queue.items
        self.open = queue.total
        self.show_count()

    def show_count(self) -> None:
        self.header.object = _title(
            self.title, pill(f"{self.open} open", "warn") if self.open else pill("None open", "good")
        )

    def handle(self, msg: dict[str, Any]) -> Coroutine[Any, Any, None] | None:
        wanted = _uuid(msg.get("id"))
        resolution, note = msg.get("resolution"), msg.get("note", "")
        if msg.get("op") != "resolve" or wanted is None or str(wanted) not in self.items:
            return None
        if resolution not in ("upheld", "overturned") or not isinstance(note, str):
            return None
        return self.resolve(wanted, resolution, note)

    async def resolve(self, finding_id: UUID, resolution: Literal["upheld", "overturned"], note: str = "") -> None:
        key = str(finding_id)

        def work(principal: Principal) -> Finding:
            return feedback_actions.resolve(principal, finding_id, resolution, note)

        try:
            found = await self.page.run_action(Permission.AUDITS_PERFORM, work)
        except (NotAuthenticated, PermissionDenied):
            return
        except _REFUSED as exc:
            self.notice(key, f"Not resolved. {_refusal(exc)}")
            return
        item = replace(self.items[key], finding=found)
        self.items[key] = item
        done = "Upheld" if resolution == "upheld" else "Overturned"
        self.notice(key, f"{done}. The coder has been notified.", "success")
        fresh = dispute_json(item, self.page.principal)
        self.list.items = [fresh if x["key"] == key else x for x in self.list.items]
        self.open = max(0, self.open - 1)
        self.show_count()
