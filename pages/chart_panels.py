"""The smaller pieces of the coding page, as HTML: the findings summary above the grid, the page
heading, the supervisor's review, the read-only notice and the "not found" answer."""

from __future__ import annotations

import html
from typing import Final

from app.authz import Principal
from app.services.chart_types import ChartStatus, ChartView
from app.validation import Finding, ValidationResult
from app.validation.model import Level
from pages.chart_facts import CLASS_LABELS, SEX_LABELS, STATUS_LABELS, age_text
from pages.chart_workspace import verdict_text

CSS: Final = """
:host { display: block; }
.cp { font-family: var(--app-font-family-sans); font-size: var(--app-font-size-sm); color: var(--app-color-text);
  line-height: var(--app-font-line-height-snug); }
.cp-heading { display: flex; flex-wrap: wrap; align-items: center; gap: var(--app-space-2) var(--app-space-3); }
.cp-back { color: var(--app-color-link); text-decoration: none; font-weight: var(--app-font-weight-medium); }
.cp-back:hover { text-decoration: underline; }
.cp-back:focus-visible { outline: var(--app-size-focus-ring-width) solid var(--app-color-focus-ring); outline-offset: 2px; border-radius: var(--app-radius-sm); }
.cp-title { font-size: var(--app-font-size-lg); font-weight: var(--app-font-weight-semibold); }
.cp-meta { color: var(--app-color-text-muted); }
.cp-status { display: inline-flex; align-items: center; min-height: 22px; padding: 0 var(--app-space-2); border-radius: var(--app-radius-pill);
  font-size: var(--app-font-size-xs); font-weight: var(--app-font-weight-semibold); border: var(--app-size-border-width) solid var(--app-color-border);
  background: var(--app-color-surface-sunken); color: var(--app-color-text-muted); }
.cp-status--draft { background: var(--app-color-info-subtle); color: var(--app-color-info); border-color: var(--app-color-info-border); }
.cp-status--returned { background: var(--app-color-warning-subtle); color: var(--app-color-warning); border-color: var(--app-color-warning-border); }
.cp-status--pending_audit { background: var(--app-color-role-supervisor-background); color: var(--app-color-role-supervisor-text); border-color: var(--app-color-role-supervisor-border); }
.cp-status--completed { background: var(--app-color-success-subtle); color: var(--app-color-success); border-color: var(--app-color-success-border); }
.cp-summary { padding: var(--app-space-2) var(--app-space-3); background: var(--app-color-surface-sunken); border-radius: var(--app-radius-md);
  min-height: 40px; box-sizing: border-box; }
.cp-summary--empty, .cp-summary__line { display: flex; flex-wrap: wrap; align-items: center; gap: var(--app-space-2) var(--app-space-4); }
.cp-summary--empty { min-height: 40px; }
.cp-count { display: inline-flex; align-items: center; gap: 6px; font-weight: var(--app-font-weight-semibold); }
.cp-dot { width: 8px; height: 8px; border-radius: var(--app-radius-pill); background: var(--app-color-border-strong); }
.cp-count--error { color: var(--app-color-danger); } .cp-count--error .cp-dot { background: var(--app-color-danger); }
.cp-count--warning { color: var(--app-color-warning); } .cp-count--warning .cp-dot { background: var(--app-color-warning); }
.cp-count--clear { color: var(--app-color-success); } .cp-count--clear .cp-dot { background: var(--app-color-success); }
.cp-count--zero { color: var(--app-color-text-muted); font-weight: var(--app-font-weight-medium); }
.cp-sep { width: 1px; align-self: stretch; background: var(--app-color-border); }
.cp-drg { margin-top: 2px; color: var(--app-color-text); }
.cp-summary b { font-variant-numeric: tabular-nums; }
.cp-notes { margin-top: var(--app-space-2); color: var(--app-color-text-muted); }
.cp-notes summary { cursor: pointer; font-size: var(--app-font-size-xs); }
.cp-notes summary:focus-visible { outline: var(--app-size-focus-ring-width) solid var(--app-color-focus-ring); outline-offset: 2px; }
.cp-label { color: var(--app-color-text-muted); }
.cp-timing { margin-left: auto; color: var(--app-color-text-subtle); font-size: var(--app-font-size-xs); white-space: nowrap; }
.cp-chart-findings { list-style: none; margin: var(--app-space-2) 0 0; padding: 0; display: grid; gap: 3px; }
.cp-chart-findings li { display: flex; gap: var(--app-space-2); align-items: baseline; }
.cp-chart-findings .cp-ref { margin-left: auto; color: var(--app-color-text-subtle); font-size: var(--app-font-size-xs); white-space: nowrap; padding-left: var(--app-space-3); }
.cp-sev--error { color: var(--app-color-danger); } .cp-sev--warning { color: var(--app-color-warning); } .cp-sev--info { color: var(--app-color-text-muted); }
.cp-box { padding: var(--app-space-3) var(--app-space-4); border-radius: var(--app-radius-md); border: var(--app-size-border-width) solid var(--app-color-border);
  border-left-width: 3px; background: var(--app-color-surface); }
.cp-box--returned { border-color: var(--app-color-warning-border); border-left-color: var(--app-color-warning); background: var(--app-color-warning-subtle); }
.cp-box--approved { border-color: var(--app-color-success-border); border-left-color: var(--app-color-success); background: var(--app-color-success-subtle); }
.cp-box--readonly { border-color: var(--app-color-info-border); border-left-color: var(--app-color-info); background: var(--app-color-info-subtle); color: var(--app-color-info); }
.cp-box h3 { margin: 0 0 4px; font-size: var(--app-font-size-sm); font-weight: var(--app-font-weight-semibold); }
.cp-feedback { margin: 0; white-space: pre-wrap; }
.cp-box ul { margin: var(--app-space-2) 0 0; padding-left: var(--app-space-4); }
.cp-notfound { max-width: 560px; margin: var(--app-space-6) auto; padding: var(--app-space-6); text-align: center; background: var(--app-color-surface);
  border: var(--app-size-border-width) solid var(--app-color-border); border-radius: var(--app-radius-lg); }
.cp-notfound h2 { margin: 0 0 var(--app-space-2); font-size: var(--app-font-size-xl); }
.cp-notfound p { margin: 0 0 var(--app-space-3); color: var(--app-color-text-muted); font-size: var(--app-font-size-md); }
.cp-hints { display: flex; flex-wrap: wrap; gap: 2px var(--app-space-3); }
.cp-hint { color: var(--app-color-text-muted); }
.cp-hint--ready { color: var(--app-color-success); font-weight: var(--app-font-weight-medium); }
.cp-hint--dirty { color: var(--app-color-warning); }
"""


def e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def back_link(principal: Principal) -> tuple[str, str]:
    from app.authz import Permission

    if principal.can(Permission.CHARTS_CODE):
        return "/queue", "Queue"
    if principal.can(Permission.CHARTS_ASSIGN):
        return "/assign", "Assign"
    return "/", "Home"


def page_title(view: ChartView) -> str:
    klass = CLASS_LABELS.get(view.encounter_class or "", view.encounter_class or "Encounter")
    return f"{klass} · {view.encounter_type or 'Encounter'}"


def heading_html(view: ChartView, principal: Principal, *, version: int | None = None) -> str:
    href, label = back_link(principal)
    sex = SEX_LABELS.get(view.patient_sex or "U", "")
    age = age_text(view)
    when = view.encounter_start.strftime("%d %b %Y") if view.encounter_start else ""
    status = view.status
    assignee = (
        "assigned to you"
        if view.assignee_id == principal.user_id
        else f"assigned to {view.assignee_name}"
        if view.assignee_name
        else "not assigned"
    )
    return (
        '<div class="cp"><div class="cp-heading">'
        f'<a class="cp-back" href="{e(href)}">← {e(label)}</a>'
        f'<span class="cp-meta">{e(" · ".join(p for p in (sex, age, when) if p))}</span>'
        f'<span class="cp-status cp-status--{e(status.value)}">{e(STATUS_LABELS[status])}</span>'
        f'<span class="cp-meta">{e(assignee)} · version {version or view.version}</span>'
        "</div></div>"
    )


def summary_html(result: ValidationResult | None, chart_findings: list[Finding], *, rows: int, ms: float | None) -> str:
    """Errors, warnings, MS-DRG with title and weight, CC/MCC counts; findings that name no row.

    Chart-level errors and warnings are listed; chart-level information (the comorbidity indices)
    waits behind a collapsed "notes" line so the summary stays two lines high.
    """
    if not rows:
        return (
            '<div class="cp"><div class="cp-summary cp-summary--empty"><span class="cp-label">No codes yet. '
            "Errors, warnings, the MS-DRG and CC/MCC appear here as you add codes.</span></div></div>"
        )
    if result is None:
        return '<div class="cp"><div class="cp-summary"><span class="cp-label">Checking the codes…</span></div></div>'
    s = result.summary
    parts: list[str] = []
    if s.blocking:
        parts.append(_count("error", s.blocking, "error", "errors"))
    else:
        parts.append('<span class="cp-count cp-count--clear"><span class="cp-dot"></span>No errors</span>')
    parts.append(_count("warning" if s.warnings else "zero", s.warnings, "warning", "warnings"))
    if s.overridden:
        parts.append(f'<span class="cp-count cp-count--zero">{s.overridden} overridden</span>')
    parts.append('<span class="cp-sep"></span>')
    if s.ms_drg is not None:
        weight = f' <span class="cp-label">weight</span> <b>{s.drg_weight:.4f}</b>' if s.drg_weight is not None else ""
        parts.append(f'<span><span class="cp-label">MS-DRG</span> <b>{s.ms_drg:03d}</b>{weight}</span>')
    else:
        parts.append('<span><span class="cp-label">MS-DRG</span> —</span>')
    parts.append(
        f'<span><span class="cp-label">CC</span> <b>{s.cc_count}</b> '
        f'<span class="cp-label">MCC</span> <b>{s.mcc_count}</b></span>'
    )
    if s.charlson_index is not None:
        parts.append(f'<span><span class="cp-label">Charlson</span> <b>{s.charlson_index}</b></span>')
    if ms is not None:
        parts.append(
            f'<span class="cp-timing" title="Server time from your change to these findings">checked in {ms:.0f} ms</span>'
        )
    if s.ms_drg is not None:
        # "MS-DRG v40.0 (clamped: …)": the version on the line, the grouper's explanation on hover.
        grouper = s.grouper_version or ""
        short = grouper.split(" (", 1)[0]
        version = f' <span class="cp-label" title="{e(grouper)}">({e(short)})</span>' if grouper else ""
        drg = f'<div class="cp-drg">{e(s.drg_title or "")}{version}</div>'
    else:
        drg = '<div class="cp-drg cp-label">No MS-DRG until the principal diagnosis is a valid code.</div>'
    ordered = sorted(chart_findings, key=lambda f: (_RANK[f.severity], f.rule_id))
    loud = "".join(_chart_finding(f) for f in ordered if f.severity is not Level.INFO)
    quiet = [f for f in ordered if f.severity is Level.INFO]
    notes = (
        f'<details class="cp-notes"><summary>{len(quiet)} note{"s" if len(quiet) != 1 else ""} on the whole chart'
        f'</summary><ul class="cp-chart-findings">{"".join(_chart_finding(f) for f in quiet)}</ul></details>'
        if quiet
        else ""
    )
    listed = f'<ul class="cp-chart-findings">{loud}</ul>' if loud else ""
    return (
        f'<div class="cp"><div class="cp-summary"><div class="cp-summary__line">{"".join(parts)}</div>{drg}</div>'
        f"{listed}{notes}</div>"
    )


def _chart_finding(f: Finding) -> str:
    return (
        f'<li class="cp-sev--{e(f.severity.value)}"><span>{e(f.message)}</span>'
        f'<span class="cp-ref">{e(f.guideline_ref)} · {e(f.rule_id)}</span></li>'
    )


_RANK: Final = {Level.ERROR: 0, Level.WARNING: 1, Level.INFO: 2}


def _count(kind: str, n: int, one: str, many: str) -> str:
    return f'<span class="cp-count cp-count--{kind}"><span class="cp-dot"></span>{n} {one if n == 1 else many}</span>'


def review_html(view: ChartView) -> str:
    """The latest supervisor decision: feedback text and the findings not tied to a row."""
    review = view.review
    if review is None:
        return ""
    s = review.summary
    returned = s.decision == "return"
    who = e(s.supervisor_name or "A supervisor")
    when = s.decided_at.strftime("%d %b %Y")
    accuracy = f" · code accuracy {s.code_accuracy:.0%}" if s.code_accuracy is not None else ""
    heading = (
        f"Returned by {who} on {when}{accuracy}. Their findings are on the rows below."
        if returned
        else f"Approved by {who} on {when}{accuracy}."
    )
    loose = [
        verdict_text(f.verdict, f.expected_code, f.note)
        for f in review.findings
        if f.verdict != "correct" and (f.chart_code_id is None or f.verdict == "missing")
    ]
    listed = "".join(f"<li>{e(text)}</li>" for text in loose)
    feedback = f'<p class="cp-feedback">{e(s.feedback)}</p>' if s.feedback else ""
    kind = "returned" if returned else "approved"
    label = "Supervisor feedback" if returned else "Supervisor review"
    return (
        f'<div class="cp"><div class="cp-box cp-box--{kind}" role="note" aria-label="{label}"><h3>{heading}</h3>'
        f"{feedback}{f'<ul>{listed}</ul>' if listed else ''}</div></div>"
    )


def readonly_html(view: ChartView, principal: Principal) -> str:
    if view.editable:
        return ""
    mine = view.assignee_id == principal.user_id
    if view.status == ChartStatus.PENDING_AUDIT:
        why = "It was submitted and is waiting for a supervisor's audit."
    elif view.status == ChartStatus.COMPLETED:
        # Only a first submission can skip audit (a resubmission is always audited): no review = not sampled.
        why = "Its audit is complete." if view.review is not None else "It was accepted without audit."
    elif mine:
        why = "Only its assigned coder can change it."
    else:
        who = f"{view.assignee_name}" if view.assignee_name else "no coder yet"
        why = f"It is assigned to {who}; only the assigned coder can change its codes."
    return f'<div class="cp"><div class="cp-box cp-box--readonly" role="note"><h3>Read-only.</h3>{e(why)}</div></div>'


def not_found_html(principal: Principal) -> str:
    """One answer for a missing id, a malformed id, another organisation's chart and a chart the
    user may not open: nothing in it depends on which (ARCHITECTURE §5, tenant isolation)."""
    href, label = back_link(principal)
    return (
        '<div class="cp"><div class="cp-notfound" role="alert"><h2>Chart not found</h2>'
        "<p>There is no chart at this link that you can open. It may have been reassigned, or the link is "
        "incomplete.</p>"
        f'<p><a class="cp-back" href="{e(href)}">Go to {e(label.lower())}</a></p></div></div>'
    )


def hint_html(reasons: tuple[str, ...], *, dirty: bool, saved: str, editable: bool) -> str:
    if not editable:
        return ""
    state = (
        '<span class="cp-hint cp-hint--dirty">Unsaved changes</span>'
        if dirty
        else f'<span class="cp-hint">{e(saved)}</span>'
    )
    todo = (
        f'<span class="cp-hint">To submit: {e(" ".join(reasons))}</span>'
        if reasons
        else '<span class="cp-hint cp-hint--ready">Ready to submit.</span>'
    )
    return f'<div class="cp cp-hints">{state}{todo}</div>'
