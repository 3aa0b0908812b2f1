"""``/audit?id=<chart id>``: a supervisor audits a submitted chart.

Left, the chart's clinical facts (``pages.chart_facts``); right, the coder's code rows with their
rationales and validation findings, a verdict per row (correct; wrong code → expected code; wrong
sequence; not supported by the record; should not be coded) with category, severity and note,
codes the coder missed, the scores computed live, training feedback, and the decision.

The live scores use the service's own pure functions (``code_scores``, ``drg_before_after``), so
what the page shows is what the decision stores. Approve and Return call
``app.services.audits.audit`` through ``SecurePage.run_action`` and then go back to ``/review``.
``audits:perform`` acts; ``audits:view`` alone (a manager) sees the page read-only. A missing id,
a malformed id and another organisation's chart all get the same "not found" view.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Final, Literal
from uuid import UUID

import panel as pn
import panel_material_ui as pmui

from app.authz import Permission, Principal
from app.errors import Conflict, NotAuthenticated, NotFound, PermissionDenied, ValidationFailed
from app.services import audits as audit_actions
from app.services import charts as chart_actions
from app.services.audits import AuditResult, AuditRow, Decision, MissingCode, RowVerdict
from app.services.chart_types import ChartStatus, ChartView
from app.validation import ChartInput
from datalayer.queries.charts import StoredCode
from pages import chart_facts, chart_panels
from pages import chart_lists as cl
from pages.base import SecurePage, busy
from pages.chart import chart_id_from_url

VERDICTS: Final[dict[str, str]] = {
    "Correct": "correct",
    "Wrong code": "wrong_code",
    "Wrong sequence": "wrong_sequence",
    "Not supported by the record": "not_supported",
    "Should not be coded": "should_not_code",
}
SEVERITIES: Final[dict[str, str]] = {"—": "", "Minor": "minor", "Major": "major", "Critical": "critical"}
CATEGORIES: Final[dict[str, str]] = {
    "—": "",
    "Specificity": "Specificity",
    "Sequencing": "Sequencing",
    "Documentation support": "Documentation support",
    "Coding guideline": "Coding guideline",
    "Complication or comorbidity": "Complication or comorbidity",
    "Other": "Other",
}
KINDS: Final[dict[str, str]] = {"Diagnosis": "diagnosis", "Procedure": "procedure"}

_PANE_STYLES: Final = {"max-height": "calc(100vh - 240px)", "overflow-y": "auto"}

CSS: Final = """
:host { display: block; }
.au { font-family: var(--app-font-family-sans); font-size: var(--app-font-size-sm); color: var(--app-color-text);
  line-height: var(--app-font-line-height-snug); }
.au-code { display: flex; flex-wrap: wrap; align-items: baseline; gap: var(--app-space-1) var(--app-space-3); }
.au-code__code { font-family: var(--app-font-family-mono); font-weight: var(--app-font-weight-semibold); font-size: var(--app-font-size-md); }
.au-code__desc { color: var(--app-color-text); }
.au-badge { display: inline-flex; padding: 0 var(--app-space-2); border-radius: var(--app-radius-pill); font-size: var(--app-font-size-xs);
  background: var(--app-color-info-subtle); color: var(--app-color-info); border: var(--app-size-border-width) solid var(--app-color-info-border); }
.au-rationale { margin: var(--app-space-1) 0 0; color: var(--app-color-text-muted); }
.au-rationale b { color: var(--app-color-text); font-weight: var(--app-font-weight-medium); }
.au-findings { list-style: none; margin: var(--app-space-1) 0 0; padding: 0; }
.au-sev--error { color: var(--app-color-danger); } .au-sev--warning { color: var(--app-color-warning); } .au-sev--info { color: var(--app-color-text-muted); }
.au-scores { display: flex; flex-wrap: wrap; gap: var(--app-space-2) var(--app-space-6); padding: var(--app-space-3) var(--app-space-4);
  background: var(--app-color-surface-sunken); border-radius: var(--app-radius-md); }
.au-score { display: flex; flex-direction: column; }
.au-score__label { color: var(--app-color-text-muted); font-size: var(--app-font-size-xs); }
.au-score__value { font-size: var(--app-font-size-lg); font-weight: var(--app-font-weight-semibold); font-variant-numeric: tabular-nums; }
.au-good { color: var(--app-color-success); } .au-bad { color: var(--app-color-danger); } .au-dim { color: var(--app-color-text-muted); }
.au-h2 { margin: var(--app-space-2) 0 0; font-size: var(--app-font-size-md); font-weight: var(--app-font-weight-semibold); }
.au-note { margin: 0; color: var(--app-color-text-muted); }
"""


def e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _or_none(value: Any) -> str | None:
    text = str(value or "").strip()
    return text or None


def row_html(code: StoredCode, view: ChartView) -> str:
    diagnosis = code.kind == "diagnosis"
    findings = [
        f
        for f in view.findings
        if f.severity != "info" and code.sequence in (f.rows if diagnosis else f.procedure_rows)
    ]
    kind = "Principal diagnosis" if code.is_principal else ("Diagnosis" if code.kind == "diagnosis" else "Procedure")
    parts = [
        '<div class="au"><div class="au-code">',
        f'<span class="au-code__code">{e(code.code)}</span>',
        f'<span class="au-code__desc">{e(code.description or "")}</span>',
        f'<span class="au-badge">{e(kind)}</span></div>',
        f'<p class="au-rationale"><b>Rationale:</b> {e(code.rationale or "—")}</p>',
    ]
    if code.override_rationale:
        parts.append(f'<p class="au-rationale"><b>Override:</b> {e(code.override_rationale)}</p>')
    if findings:
        items = "".join(
            f'<li class="au-sev--{e(f.severity)}">{e(f.message)}{" (overridden)" if f.overridden else ""}</li>'
            for f in findings
        )
        parts.append(f'<ul class="au-findings">{items}</ul>')
    parts.append("</div>")
    return "".join(parts)


def scores_html(scores: audit_actions.Scores, drg: tuple[tuple[int | None, float | None], ...] | None) -> str:
    pct = f"{scores.code_accuracy * 100:.0f}%"
    good = "au-good" if scores.code_accuracy >= 0.95 else "au-bad"
    principal = ("Yes", "au-good") if scores.principal_correct else ("No", "au-bad")

    def drg_text(pair: tuple[int | None, float | None]) -> str:
        number, weight = pair
        if number is None:
            return "—"
        return f"{number:03d}" + (f" · {weight:.4f}" if weight is not None else "")

    cells = [
        ("Code-over-code accuracy", f'<span class="{good}">{pct}</span>'),
        ("Coder correct / final codes", f"{scores.coder_correct} / {scores.final_count}"),
        ("Principal correct", f'<span class="{principal[1]}">{principal[0]}</span>'),
    ]
    if drg is None:
        cells.append(("MS-DRG", '<span class="au-dim">Cannot group (no patient age)</span>'))
    else:
        before, after = drg
        same = before[0] is not None and before[0] == after[0]
        cells.append(("MS-DRG before", drg_text(before)))
        cells.append(("MS-DRG after", f'<span class="{"au-good" if same else "au-bad"}">{drg_text(after)}</span>'))
    return (
        '<div class="au"><div class="au-scores" aria-live="polite">'
        + "".join(
            f'<div class="au-score"><span class="au-score__label">{e(label)}</span>'
            f'<span class="au-score__value">{value}</span></div>'
            for label, value in cells
        )
        + "</div></div>"
    )


def _wrapping_row(*objects: Any) -> pn.Row:
    """A row of widgets that wraps on narrow screens. A plain Bokeh row with flex styles: a
    ``pn.FlexBox`` is a ReactiveHTML model that compiles its Jinja template per instance
    (measured ~70 % of building a 10-code audit page, ~0.09 s per row)."""
    return pn.Row(
        *objects,
        sizing_mode="stretch_width",
        styles={"flex-wrap": "wrap", "gap": "0 8px", "align-items": "center"},
    )


class _FindingDetails:
    """Expected code, severity, category and note of one row marked other than correct."""

    def __init__(self, *, on_change: Callable[[], None], enabled: bool) -> None:
        self.expected = pmui.TextInput(
            label="Expected code", width=130, visible=False, disabled=not enabled, css_classes=["sc-expected"]
        )
        self.severity = pmui.Select(label="Severity", options=SEVERITIES, value="", width=130, disabled=not enabled)
        self.category = pmui.Select(label="Category", options=CATEGORIES, value="", width=190, disabled=not enabled)
        self.note = pmui.TextInput(label="Note", sizing_mode="stretch_width", min_width=200, disabled=not enabled)
        self.expected.param.watch(lambda *_: on_change(), "value")

    @property
    def widgets(self) -> tuple[Any, ...]:
        return (self.expected, self.severity, self.category, self.note)


class RowEditor:
    """The verdict widgets of one of the coder's code rows.

    Most rows of an audit stay "correct", so the four detail widgets of a finding are built the
    first time a row is marked otherwise: each Material UI widget costs ~6 ms of page build, and
    a 10-code page built them all for nothing (40 of its 69 widgets). Inputs and selects added to
    a live page are safe; buttons are not (see ``AuditPage.__init__``).
    """

    def __init__(self, code: StoredCode, view: ChartView, *, on_change: Callable[[], None], enabled: bool) -> None:
        self.code = code
        self.enabled = enabled
        self.verdict = pmui.Select(
            label="Verdict",
            options=VERDICTS,
            value="correct",
            width=200,
            disabled=not enabled,
            css_classes=["sc-verdict"],
        )
        self._on_change = on_change
        self._details: _FindingDetails | None = None
        self.verdict.param.watch(self._verdict_changed, "value")
        self.widgets = _wrapping_row(self.verdict)
        self.panel = pmui.Paper(
            pn.pane.HTML(row_html(code, view), stylesheets=[CSS], sizing_mode="stretch_width"),
            self.widgets,
            sizing_mode="stretch_width",
            margin=(4, 0),
            css_classes=["sc-card-section", "sc-audit-row"],
        )

    @property
    def details(self) -> _FindingDetails:
        if self._details is None:
            self._details = _FindingDetails(on_change=self._on_change, enabled=self.enabled)
        return self._details

    @property
    def expected(self) -> Any:
        return self.details.expected

    @property
    def severity(self) -> Any:
        return self.details.severity

    @property
    def category(self) -> Any:
        return self.details.category

    @property
    def note(self) -> Any:
        return self.details.note

    def _verdict_changed(self, *_: object) -> None:
        wrong = self.verdict.value != "correct"
        if wrong or self._details is not None:
            details = self.details
            details.expected.visible = self.verdict.value == "wrong_code"
            self.widgets.objects = [self.verdict, *details.widgets] if wrong else [self.verdict]
        self._on_change()

    def to_verdict(self) -> RowVerdict:
        verdict = str(self.verdict.value)
        if verdict == "correct" or self._details is None:
            return RowVerdict(chart_code_id=self.code.id, verdict=verdict)
        d = self._details
        return RowVerdict(
            chart_code_id=self.code.id,
            verdict=verdict,
            expected_code=_or_none(d.expected.value) if verdict == "wrong_code" else None,
            category=_or_none(d.category.value),
            severity=_or_none(d.severity.value),
            note=_or_none(d.note.value),
        )


class MissingEditor:
    """One code the coder omitted."""

    def __init__(self, *, on_change: Callable[[], None]) -> None:
        self.code = pmui.TextInput(label="Missing code", width=130, css_classes=["sc-missing-code"])
        self.kind = pmui.Select(label="Kind", options=KINDS, value="diagnosis", width=130)
        self.principal = pmui.Checkbox(label="Principal", value=False)
        self.category = pmui.Select(label="Category", options=CATEGORIES, value="", width=190)
        self.severity = pmui.Select(label="Severity", options=SEVERITIES, value="major", width=130)
        self.note = pmui.TextInput(label="Note", sizing_mode="stretch_width", min_width=200)
        for widget in (self.code, self.kind, self.principal):
            widget.param.watch(lambda *_: on_change(), "value")
        self.panel = pmui.Paper(
            _wrapping_row(self.code, self.kind, self.principal, self.severity, self.category, self.note),
            sizing_mode="stretch_width",
            margin=(4, 0),
            css_classes=["sc-card-section", "sc-missing-row"],
        )

    def to_missing(self) -> MissingCode | None:
        code = (self.code.value or "").strip().upper()
        if not code:
            return None
        kind: Literal["diagnosis", "procedure"] = "procedure" if self.kind.value == "procedure" else "diagnosis"
        return MissingCode(
            code=code,
            kind=kind,
            is_principal=bool(self.principal.value) and kind == "diagnosis",
            category=_or_none(self.category.value),
            severity=_or_none(self.severity.value),
            note=_or_none(self.note.value),
        )


class AuditPage(SecurePage):
    title = "Audit"

    def __init__(self, *, chart_id: UUID | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.chart_id = chart_id if chart_id is not None else chart_id_from_url()
        self.view: ChartView | None = None
        self.claim: AuditRow | None = None
        self.chart_input: ChartInput | None = None
        self.result: AuditResult | None = None
        if self.chart_id is not None:
            try:
                self.view = chart_actions.get_chart(self.principal, self.chart_id)
                audits = audit_actions.list_audits(self.principal, chart_id=self.chart_id, page_size=5)
                self.claim = next((a for a in audits if a.decision is None), None)
                self.chart_input = audit_actions.audit_chart_input(self.principal, self.chart_id)
            except (NotFound, PermissionDenied):
                self.view = None
        if self.view is None:
            return
        view = self.view
        now = datetime.now(UTC)
        self.claimed_by_other = (
            self.claim is not None
            and self.claim.supervisor_id != self.principal.user_id
            and self.claim.claim_expires_at > now
        )
        self.can_act = (
            self.principal.can(Permission.AUDITS_PERFORM)
            and view.status == ChartStatus.PENDING_AUDIT
            and not self.claimed_by_other
        )
        self.rows = [RowEditor(c, view, on_change=self.update_scores, enabled=self.can_act) for c in view.codes]
        self.missing: list[MissingEditor] = []
        self.missing_column = pn.Column(sizing_mode="stretch_width", css_classes=["sc-missing-rows"])
        self.add_missing = pmui.Button(
            label="Add missing code", variant="outlined", visible=self.can_act, css_classes=["sc-add-missing"]
        )
        self.add_missing.on_click(self._add_clicked)
        # One "remove" for the last row, built with the page: a pmui button added later by a patch
        # sends its click with its whole model, which the server rejects ("reference already known").
        self.remove_missing = pmui.Button(
            label="Remove last missing code",
            variant="text",
            color="error",
            visible=False,
            css_classes=["sc-remove-missing"],
        )
        self.remove_missing.on_click(self._remove_clicked)
        self.scores = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["sc-audit-scores"])
        self.feedback = pmui.TextAreaInput(
            label="Feedback for the coder",
            placeholder="What to learn from this chart; required to return it.",
            rows=4,
            sizing_mode="stretch_width",
            disabled=not self.can_act,
            css_classes=["sc-audit-feedback"],
        )
        self.approve_button = pmui.Button(
            label="Approve", color="success", width=140, visible=self.can_act, css_classes=["sc-audit-approve"]
        )
        self.return_button = pmui.Button(
            label="Return to coder", color="warning", width=170, visible=self.can_act, css_classes=["sc-audit-return"]
        )
        self.approve_button.on_click(self._decider("approve"))
        self.return_button.on_click(self._decider("return"))
        self.notice = pmui.Alert(
            object="", alert_type="info", visible=False, sizing_mode="stretch_width", css_classes=["sc-audit-notice"]
        )
        if not self.can_act:
            self._notify(self._readonly_reason(view), "info")
        self.update_scores()

    def _readonly_reason(self, view: ChartView) -> str:
        if view.status != ChartStatus.PENDING_AUDIT:
            return "Read-only: this chart is not waiting for audit."
        if self.claimed_by_other:
            return "Read-only: another supervisor is auditing this chart."
        return "Read-only: only supervisors audit charts."

    # -- findings and scores ------------------------------------------------------------------------

    def verdicts(self) -> list[RowVerdict]:
        return [r.to_verdict() for r in self.rows]

    def missing_codes(self) -> list[MissingCode]:
        return [m for m in (editor.to_missing() for editor in self.missing) if m is not None]

    def update_scores(self) -> None:
        if self.view is None:
            return
        codes, verdicts, missing = self.view.codes, self.verdicts(), self.missing_codes()
        scores = audit_actions.code_scores(codes, verdicts, missing)
        drg = None
        if self.chart_input is not None:
            drg = audit_actions.drg_before_after(self.chart_input, codes, verdicts, missing)
        self.scores.object = scores_html(scores, drg)
        self.scores.stylesheets = [CSS]

    def _add_clicked(self, _: object) -> None:
        self.add_missing_row()

    def add_missing_row(self) -> MissingEditor:
        editor = MissingEditor(on_change=self.update_scores)
        self.missing.append(editor)
        self.missing_column.objects = [m.panel for m in self.missing]
        self.remove_missing.visible = self.can_act
        return editor

    def _remove_clicked(self, _: object) -> None:
        self.remove_last_missing()

    def remove_last_missing(self) -> None:
        if self.missing:
            self.missing.pop()
        self.missing_column.objects = [m.panel for m in self.missing]
        self.remove_missing.visible = bool(self.missing) and self.can_act
        self.update_scores()

    # -- decision -----------------------------------------------------------------------------------

    def _notify(self, message: str, kind: str = "info") -> None:
        self.notice.param.update(object=message, alert_type=kind, visible=True)

    def _decider(self, decision: Decision) -> Callable[[object], Coroutine[Any, Any, None]]:
        async def decide(_: object) -> None:
            await self.decide(decision)

        return decide

    async def decide(self, decision: Decision) -> AuditResult | None:
        """Record the audit and its decision, then go back to the review queue."""
        if self.view is None or self.chart_id is None or not self.can_act:
            return None
        chart_id, version = self.chart_id, self.view.version
        verdicts, missing = self.verdicts(), self.missing_codes()
        feedback = self.feedback.value or None
        claim = self.claim
        mine = claim if claim is not None and claim.supervisor_id == self.principal.user_id else None
        app_url = self.ctx.settings.app_url

        def work(principal: Principal) -> AuditResult:
            if mine is not None and mine.claim_expires_at > datetime.now(UTC):
                submission_no = mine.submission_no
            else:
                fresh = audit_actions.claim(principal, chart_id)
                if fresh.version != version:
                    raise Conflict("The chart changed since this page was opened; reload it.")
                submission_no = fresh.submission_no
            return audit_actions.audit(
                principal,
                chart_id,
                submission_no=submission_no,
                verdicts=verdicts,
                missing=missing,
                feedback=feedback,
                decision=decision,
                app_url=app_url,
            )

        button = self.approve_button if decision == "approve" else self.return_button
        try:
            with busy(button):
                result = await self.run_action(Permission.AUDITS_PERFORM, work)
        except (NotAuthenticated, PermissionDenied):
            return None
        except ValidationFailed as exc:
            details = " ".join(dict.fromkeys(exc.fields.values()))
            self._notify(f"Not saved. {exc.message} {details}".strip(), "error")
            return None
        except (Conflict, NotFound) as exc:
            self._notify(f"Not saved. {exc.message}", "error")
            return None
        self.result = result
        self.can_act = False
        for b in (self.approve_button, self.return_button, self.add_missing, self.remove_missing):
            b.visible = False
        verb = "Approved" if decision == "approve" else "Returned to the coder"
        self._notify(f"{verb}. Taking you back to the review queue…", "success")
        cl.navigate("/review", "?audited=1")
        return result

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
        view = self.view
        facts = pn.Column(
            pn.pane.HTML(chart_facts.header_html(view), stylesheets=[chart_facts.CSS], sizing_mode="stretch_width"),
            pn.pane.HTML(chart_facts.facts_html(view), stylesheets=[chart_facts.CSS], sizing_mode="stretch_width"),
            width=380,
            css_classes=["sc-chart-facts"],
            styles=_PANE_STYLES | {"flex": "none"},
        )
        coder = e(view.assignee_name or "the coder")
        heading = pn.pane.HTML(
            f'<div class="au"><p class="au-note">Coded by <b>{coder}</b> · submitted '
            f"{e(cl.ago(view.submitted_at, suffix=' ago'))} · version {view.version}</p></div>",
            stylesheets=[CSS],
            sizing_mode="stretch_width",
        )

        def h2(text: str) -> Any:
            return pn.pane.HTML(f'<h2 class="au au-h2">{e(text)}</h2>', stylesheets=[CSS], sizing_mode="stretch_width")

        actions = pn.Row(
            pn.Spacer(sizing_mode="stretch_width"),
            self.return_button,
            self.approve_button,
            sizing_mode="stretch_width",
            css_classes=["sc-audit-actions"],
        )
        work = pn.Column(
            h2(f"The coder's codes ({len(view.codes)})"),
            *(r.panel for r in self.rows),
            h2("Missing codes"),
            self.missing_column,
            pn.Row(self.add_missing, self.remove_missing),
            h2("Feedback and decision"),
            self.feedback,
            actions,
            sizing_mode="stretch_width",
            css_classes=["sc-audit-work"],
            styles=_PANE_STYLES | {"flex": "1 1 0", "min-width": "0"},
        )
        layout = pn.Row(
            facts,
            work,
            sizing_mode="stretch_width",
            css_classes=["sc-audit-layout"],
            styles={"gap": "var(--app-space-4)", "padding-right": "var(--app-space-4)", "box-sizing": "border-box"},
        )
        return [heading, self.scores, self.notice, layout]

    def __panel__(self) -> Any:
        title = f"Audit · {chart_panels.page_title(self.view)}" if self.view is not None else "Audit"
        return self.framed(title, self.body())
