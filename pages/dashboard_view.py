"""The dashboard's HTML parts: live counter tiles, alerts, headline figures, export links, and the
team and drill-down tables' rows. Pure functions of their inputs (tested as plain strings); every
colour is a token variable (INV-2); every value from the database is escaped."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode

import pandas as pd
import polars as pl

from app.authz import Permission, Principal
from app.services.chart_types import ChartSummary
from app.services.live_counters import Counters
from pages import chart_lists as cl
from pages.dashboard_data import ACCURACY_TARGET, DashboardData, Filters

EXPORTS: Final = (("charts", "Charts"), ("audits", "Audits"), ("metrics", "Daily metrics"))
DECISIONS: Final = {"approve": "approved", "return": "returned"}

CSS: Final = """
.db-lede { margin: var(--app-space-1) 0 0; font-family: var(--app-font-family-sans); font-size: var(--app-font-size-sm);
  color: var(--app-color-text-muted); line-height: var(--app-font-line-height-snug); }
.db-live { display: grid; gap: var(--app-space-3); font-family: var(--app-font-family-sans); }
.db-group__head { display: flex; align-items: baseline; justify-content: space-between; gap: var(--app-space-3);
  margin: 0 0 var(--app-space-2); }
.db-group__title { margin: 0; font-size: var(--app-font-size-sm); font-weight: var(--app-font-weight-semibold);
  color: var(--app-color-text-muted); text-transform: uppercase; letter-spacing: var(--app-font-letter-spacing-wide); }
.db-pulse { display: inline-flex; align-items: center; gap: var(--app-space-1); font-size: var(--app-font-size-xs);
  color: var(--app-color-text-muted); font-variant-numeric: tabular-nums; }
.db-pulse::before { content: ""; width: 8px; height: 8px; border-radius: var(--app-radius-pill); background: var(--app-color-success); }
.db-tiles { display: grid; grid-template-columns: repeat(6, minmax(0, 1fr)); gap: var(--app-space-2); }
@media (max-width: 1000px) { .db-tiles { grid-template-columns: repeat(3, minmax(0, 1fr)); } }
.db-tile { display: grid; gap: 2px; align-content: start; padding: var(--app-space-3) var(--app-space-3);
  background: var(--app-color-surface); border: var(--app-size-border-width) solid var(--app-color-border);
  border-radius: var(--app-radius-md); color: var(--app-color-text); text-decoration: none; }
a.db-tile:hover { border-color: var(--app-color-primary); background: var(--app-color-surface-hover); }
a.db-tile:focus-visible { outline: var(--app-size-focus-ring-width) solid var(--app-color-focus-ring); outline-offset: 2px; }
.db-tile__label { font-size: var(--app-font-size-xs); font-weight: var(--app-font-weight-medium); color: var(--app-color-text-muted); }
.db-tile__value { font-size: var(--app-font-size-2xl); font-weight: var(--app-font-weight-semibold); line-height: var(--app-font-line-height-tight);
  font-variant-numeric: tabular-nums; }
.db-tile__hint { font-size: var(--app-font-size-xs); color: var(--app-color-text-subtle); }
.db-tile--warn { border-color: var(--app-color-warning-border); background: var(--app-color-warning-subtle); }
.db-tile--warn .db-tile__value { color: var(--app-color-warning); }
.db-alerts { display: grid; gap: var(--app-space-2); margin: var(--app-space-4) 0 var(--app-space-2); padding: 0; list-style: none;
  font-family: var(--app-font-family-sans); font-size: var(--app-font-size-md); }
.db-alert { display: flex; flex-wrap: wrap; align-items: baseline; gap: var(--app-space-1) var(--app-space-3);
  padding: var(--app-space-2) var(--app-space-4); border-radius: var(--app-radius-md); color: var(--app-color-text);
  border: var(--app-size-border-width) solid var(--app-color-border); border-left-width: 3px; background: var(--app-color-surface); }
.db-alert--warning { border-color: var(--app-color-warning-border); border-left-color: var(--app-color-warning); }
.db-alert--danger { border-color: var(--app-color-danger-border); border-left-color: var(--app-color-danger); }
.db-alert--ok { border-color: var(--app-color-success-border); border-left-color: var(--app-color-success); }
.db-alert b { font-weight: var(--app-font-weight-semibold); }
.db-alert a, .db-exports a { color: var(--app-color-link); font-weight: var(--app-font-weight-medium); text-decoration: none; }
.db-alert a:hover, .db-exports a:hover { text-decoration: underline; }
.db-alert a:focus-visible, .db-exports a:focus-visible { outline: var(--app-size-focus-ring-width) solid var(--app-color-focus-ring);
  outline-offset: 2px; border-radius: var(--app-radius-sm); }
.db-people { display: inline-flex; flex-wrap: wrap; gap: var(--app-space-1) var(--app-space-3); }
.db-kpis { display: flex; flex-wrap: wrap; gap: var(--app-space-2) var(--app-space-6); margin: var(--app-space-2) 0 var(--app-space-1);
  font-family: var(--app-font-family-sans); }
.db-kpi { display: grid; gap: 0; }
.db-kpi__value { font-size: var(--app-font-size-xl); font-weight: var(--app-font-weight-semibold); color: var(--app-color-text);
  font-variant-numeric: tabular-nums; }
.db-kpi__value--bad { color: var(--app-color-danger); }
.db-kpi__value--good { color: var(--app-color-success); }
.db-kpi__label { font-size: var(--app-font-size-xs); color: var(--app-color-text-muted); }
.db-period { margin: 0; font-family: var(--app-font-family-sans); font-size: var(--app-font-size-sm); color: var(--app-color-text-muted); }
.db-period b { color: var(--app-color-text); }
.db-exports { display: flex; flex-wrap: wrap; align-items: baseline; gap: var(--app-space-1) var(--app-space-4);
  margin: var(--app-space-3) 0 0; font-family: var(--app-font-family-sans); font-size: var(--app-font-size-sm); color: var(--app-color-text-muted); }
.db-exports__set { display: inline-flex; gap: var(--app-space-2); color: var(--app-color-text); }
.db-below { color: var(--app-color-danger); font-weight: var(--app-font-weight-semibold); }
.db-ok { color: var(--app-color-success); }
"""


def _pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def _tile(key: str, label: str, value: int, hint: str, *, href: str | None = None, warn: bool = False) -> str:
    classes = f"db-tile db-tile--{key}" + (" db-tile--warn" if warn else "")
    inner = (
        f'<span class="db-tile__label">{html.escape(label)}</span>'
        f'<span class="db-tile__value" data-value="{value}">{value:,}</span>'
        f'<span class="db-tile__hint">{html.escape(hint)}</span>'
    )
    if href:
        return f'<a class="{classes}" href="{html.escape(href)}" data-key="{key}">{inner}</a>'
    return f'<div class="{classes}" data-key="{key}">{inner}</div>'


def counters_html(counters: Counters | None, principal: Principal | None = None) -> str:
    """The live strip: the queue now and today's activity, each a tile (a link where it helps)."""
    if counters is None:
        return '<div class="db-live"><p class="db-lede">Loading the live counters…</p></div>'

    def link(path: str, permission: Permission) -> str | None:
        return path if principal is not None and principal.can(permission) else None

    h = counters.aging_hours
    queue = "".join(
        (
            _tile(
                "unassigned",
                "Unassigned",
                counters.unassigned,
                "waiting for a coder",
                href=link("/assign", Permission.CHARTS_ASSIGN),
            ),
            _tile("in_coding", "Being coded", counters.draft - counters.unassigned, "assigned drafts"),
            _tile("returned", "Returned", counters.returned, "back with coders for fixes"),
            _tile(
                "pending_audit",
                "Waiting for audit",
                counters.pending_audit,
                f"{counters.audit_aging:,} over {h} h",
                href=link("/review", Permission.AUDITS_VIEW),
                warn=counters.audit_aging > 0,
            ),
            _tile(
                "aging", f"Drafts over {h} h", counters.aging, "imported, not yet submitted", warn=counters.aging > 0
            ),
            _tile("completed", "Completed", counters.completed, "all time"),
        )
    )
    today = "".join(
        (
            _tile("submitted_today", "Submitted", counters.submitted_today, "incl. resubmissions"),
            _tile("approved_today", "Approved", counters.approved_today, "by supervisors"),
            _tile("returned_today", "Returned", counters.returned_today, "by supervisors"),
            _tile("imported_today", "Imported", counters.imported_today, "new charts"),
            _tile(
                "imports_active",
                "Imports running",
                counters.imports_active,
                "queued or importing",
                href=link("/imports", Permission.IMPORTS_MANAGE),
            ),
        )
    )
    stamp = counters.as_of.astimezone(UTC).strftime("%H:%M:%S")
    return (
        '<div class="db-live">'
        '<section class="db-group"><div class="db-group__head"><h2 class="db-group__title">Queue now</h2>'
        f'<span class="db-pulse" title="Updates by itself as work happens">Live · {stamp} UTC</span></div>'
        f'<div class="db-tiles">{queue}</div></section>'
        '<section class="db-group"><div class="db-group__head"><h2 class="db-group__title">Today (UTC)</h2></div>'
        f'<div class="db-tiles">{today}</div></section></div>'
    )


def dashboard_link(filters: Filters, coder_id: str) -> str:
    query = {"period": filters.period, "coder": coder_id, "specialty": filters.specialty or ""}
    if filters.period == "custom":
        query |= {
            "from": filters.start.isoformat() if filters.start else "",
            "to": filters.end.isoformat() if filters.end else "",
        }
    return "/dashboard?" + urlencode({k: v for k, v in query.items() if v})


def alerts_html(counters: Counters, data: DashboardData | None, principal: Principal, filters: Filters) -> str:
    """What needs attention: charts waiting too long (live) and coders below the target (period)."""
    h = counters.aging_hours
    items: list[str] = []
    if counters.aging:
        # Every draft, oldest first: the aging ones lead the list.
        aging = "/assign?status=draft&amp;assignee=anyone&amp;sort=created"
        action = f' <a href="{aging}">Assign or reassign them</a>' if principal.can(Permission.CHARTS_ASSIGN) else ""
        items.append(
            f'<li class="db-alert db-alert--warning sc-d-alert-aging"><span><b>{cl.count(counters.aging, "chart")}</b> '
            f"imported more than {h} hours ago {'is' if counters.aging == 1 else 'are'} still not submitted.</span>{action}</li>"
        )
    if counters.audit_aging:
        action = ' <a href="/review">Open the review queue</a>' if principal.can(Permission.AUDITS_VIEW) else ""
        items.append(
            f'<li class="db-alert db-alert--warning sc-d-alert-audit"><span><b>{cl.count(counters.audit_aging, "chart")}</b> '
            f"{'has' if counters.audit_aging == 1 else 'have'} waited more than {h} hours for audit.</span>{action}</li>"
        )
    target = f"{ACCURACY_TARGET * 100:.0f}%"
    if data is not None and data.below_target.height:
        people = ", ".join(
            f'<a href="{html.escape(dashboard_link(filters, str(row["coder_id"])))}">{html.escape(str(row["coder"]))}</a> '
            f'<span class="db-below">{_pct(row["code_accuracy"])}</span> over {cl.count(int(row["final_codes"]), "code")}'
            for row in data.below_target.iter_rows(named=True)
        )
        n = data.below_target.height
        items.append(
            f'<li class="db-alert db-alert--danger sc-d-alert-accuracy"><span><b>{n} coder{"" if n == 1 else "s"}</b> '
            f"below the {target} accuracy target ({html.escape(data.period_label)}):</span>"
            f'<span class="db-people">{people}</span></li>'
        )
    if not items and data is not None:
        audited = "every audited coder is at or above" if data.headline.audits else "no audits yet to compare with"
        items.append(
            f'<li class="db-alert db-alert--ok sc-d-alert-ok"><span><b>Nothing needs attention.</b> No chart has waited '
            f"more than {h} hours, and {audited} the {target} target ({html.escape(data.period_label)}).</span></li>"
        )
    return f'<ul class="db-alerts">{"".join(items)}</ul>' if items else ""


def _kpi(label: str, value: str, tone: str = "") -> str:
    extra = f" db-kpi__value--{tone}" if tone else ""
    return (
        f'<div class="db-kpi"><span class="db-kpi__value{extra}">{html.escape(value)}</span>'
        f'<span class="db-kpi__label">{html.escape(label)}</span></div>'
    )


def duration(hours: float | None) -> str:
    """A span a manager reads at once: "< 1 min", "12 min", "5.5 h", "3.2 days"."""
    if hours is None:
        return "—"
    if hours >= 48:
        return f"{hours / 24:.1f} days"
    if hours >= 1:
        return f"{hours:.1f} h"
    return "< 1 min" if hours * 60 < 1 else f"{hours * 60:.0f} min"


def headline_html(data: DashboardData, principal: Principal) -> str:
    """The period's figures in one line of large numbers."""
    h = data.headline
    accuracy = h.code_accuracy
    tone = "" if accuracy is None else ("bad" if accuracy < ACCURACY_TARGET else "good")
    minutes = "—" if h.median_minutes is None else duration(h.median_minutes / 60)
    kpis = "".join(
        (
            _kpi("charts coded", f"{h.charts_coded:,}"),
            _kpi("resubmitted after return", f"{h.resubmissions:,}"),
            _kpi("audits decided", f"{h.audits:,}"),
            _kpi(f"code accuracy (target {ACCURACY_TARGET * 100:.0f}%)", _pct(accuracy), tone),
            _kpi("charts right first time", _pct(h.case_accuracy, 0)),
            _kpi("per chart (median estimate)", minutes),
            _kpi("import to completion (median)", duration(h.median_turnaround_hours)),
        )
    )
    scope = []
    if data.filters.specialty:
        scope.append(cl.specialty(data.filters.specialty))
    coder = data.team.filter(pl.col("coder_id") == data.filters.coder_id) if data.filters.coder_id else None
    if coder is not None and coder.height:
        scope.append(str(coder["coder"][0]))
    narrowed = f" · {html.escape(' · '.join(scope))}" if scope else ""
    return (
        f'<p class="db-period"><b>{html.escape(data.period_label)}</b>{narrowed}</p><div class="db-kpis">{kpis}</div>'
    )


def export_query(dataset: str, filters: Filters, now: datetime) -> dict[str, str]:
    """The export endpoint's filters for the dashboard's (each dataset takes what it has)."""
    first, last = filters.days(now)
    dates = {"from": first.isoformat() if first else "", "to": last.isoformat()}
    picked: dict[str, str] = {}
    if dataset in ("audits", "metrics"):
        picked |= dates
    if dataset in ("charts", "audits"):
        picked |= {"specialty": filters.specialty or "", "coder": filters.coder_id or ""}
    return {k: v for k, v in picked.items() if v}


def exports_html(filters: Filters, now: datetime) -> str:
    links = []
    for dataset, label in EXPORTS:
        query = urlencode(export_query(dataset, filters, now))
        formats = " ".join(
            f'<a href="/api/v1/export/{dataset}.{fmt}{"?" + query if query else ""}" download '
            f'class="sc-d-export-{dataset}-{fmt}">{fmt.upper() if fmt == "csv" else "Parquet"}</a>'
            for fmt in ("csv", "parquet")
        )
        links.append(f'<span class="db-exports__set"><b>{label}</b> {formats}</span>')
    return (
        '<div class="db-exports"><span>Download with these filters:</span>'
        + "".join(links)
        + "<span>(charts by specialty and coder; audits by decision date; metrics by day)</span></div>"
    )


def team_frame(team: pl.DataFrame, chosen: str | None) -> pd.DataFrame:
    """The team table's rows (text, the way ``chart_lists.frame`` wants them)."""
    rows = team.iter_rows(named=True)
    names, accuracy = [], []
    coded, audits, returned, minutes = [], [], [], []
    for row in rows:
        name = html.escape(str(row["coder"]))
        names.append(f"<b>{name}</b>" if row["coder_id"] == chosen else name)
        value = row["code_accuracy"]
        cls = "" if value is None else ("db-below" if value < ACCURACY_TARGET else "db-ok")
        accuracy.append(f'<span class="{cls}">{_pct(value)}</span>' if cls else "—")
        coded.append(f"{row['coded']}" + (f" (+{row['resubmitted']})" if row["resubmitted"] else ""))
        audits.append(row["audits"])
        returned.append(row["returned"])
        minutes.append(duration(None if row["median_minutes"] is None else row["median_minutes"] / 60))
    return cl.frame(
        {
            "Coder": names,
            "Coded": coded,
            "Audits": audits,
            "Accuracy": accuracy,
            "Returned": returned,
            "Per chart": minutes,
        }
    )


def audit_cell(result: tuple[float, str] | None) -> str:
    if result is None:
        return '<span class="sc-dim">not audited</span>'
    value, decision = result
    cls = "db-below" if value < ACCURACY_TARGET else "db-ok"
    return (
        f'<span class="{cls}">{_pct(value, 0)}</span> <span class="sc-dim">· {DECISIONS.get(decision, decision)}</span>'
    )


def drill_frame(items: Sequence[ChartSummary], accuracy: dict[str, tuple[float, str]]) -> Any:
    return cl.frame(
        {
            "Status": [cl.status_html(c.status) for c in items],
            "Encounter": [cl.encounter_html(c, link=True) for c in items],
            "Specialty": [cl.specialty(c.specialty) for c in items],
            "Assigned": [cl.day(c.assigned_at) for c in items],
            "Submitted": [cl.day(c.submitted_at) for c in items],
            "Updated": [cl.ago(c.updated_at, suffix=" ago") for c in items],
            "Latest audit": [audit_cell(accuracy.get(str(c.id))) for c in items],
        }
    )
