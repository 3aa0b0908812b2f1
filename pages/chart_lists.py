"""What ``/queue`` and ``/assign`` share: status labels, cell formatting, the server-paged chart
table, and its stylesheet (every colour a token variable, INV-2).

Loading: a page is built without touching its data; ``defer`` schedules the first load for when
the browser session is ready (``pn.state.onload``), and every load runs its database work in the
context's executor through ``SecurePage.run_action`` — the IOLoop serving every session never
waits on PostgreSQL.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, date, datetime
from typing import Any, Final

import pandas as pd
import panel as pn

from app.services.chart_types import ChartStatus
from datalayer.queries.charts import ChartSummary

STATUS_LABELS: Final[dict[str, str]] = {
    ChartStatus.RETURNED.value: "Returned",
    ChartStatus.DRAFT.value: "Draft",
    ChartStatus.PENDING_AUDIT.value: "Waiting for audit",
    ChartStatus.COMPLETED.value: "Completed",
}
SEX_LABELS: Final = {"F": "F", "M": "M", "U": "?"}


def defer(load: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``load`` once the page's browser session is ready; outside a server session (tests, the
    benchmark) the caller loads explicitly."""
    doc = pn.state.curdoc
    if doc is not None and getattr(doc, "session_context", None) is not None:
        pn.state.onload(load)


def count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def ago(value: datetime | None, now: datetime | None = None, *, suffix: str = "") -> str:
    """A short, calm age: "just now", "5 min", "3 h", "4 d", "7 wk" (+ ``suffix``, e.g. " ago")."""
    if value is None:
        return "—"
    seconds = max(0.0, ((now or datetime.now(UTC)) - value).total_seconds())
    for size, unit in ((604_800, "wk"), (86_400, "d"), (3_600, "h"), (60, "min")):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}{suffix}"
    return "just now"


def day(value: datetime | date | None) -> str:
    return value.strftime("%d %b %Y") if value is not None else "—"


def patient(item: ChartSummary) -> str:
    age = "?" if item.patient_age_years is None else str(item.patient_age_years)
    return f"{age} {SEX_LABELS.get(item.patient_sex or 'U', '?')}"


def status_html(status: str) -> str:
    return f'<span class="sc-status sc-status--{html.escape(status)}">{html.escape(STATUS_LABELS[status])}</span>'


def open_link(item: ChartSummary, label: str = "Open") -> str:
    return f'<a class="sc-open" href="/chart?id={item.id}">{html.escape(label)}</a>'


def encounter_label(item: ChartSummary) -> str:
    return item.encounter_type or item.encounter_class or "Encounter"


def encounter_html(item: ChartSummary, *, link: bool = False) -> str:
    """What the encounter was about first — its reason when it has one — then its type, muted.

    With ``link`` the first part links to the chart.
    """
    if item.encounter_reason:
        main, extra = item.encounter_reason, encounter_label(item)
    else:
        main, extra = encounter_label(item), ""
    first = open_link(item, main) if link else html.escape(main)
    return f'{first} <span class="sc-dim">· {html.escape(extra)}</span>' if extra else first


def specialty(raw: str | None) -> str:
    """Synthea's specialty keys as words: "behavioral_health" -> "Behavioral health"."""
    if not raw:
        return "—"
    words = raw.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def frame(columns: dict[str, Sequence[Any]]) -> pd.DataFrame:
    """Text columns only: Tabulator fixes each column's type from the first frame it is given."""
    return pd.DataFrame({name: pd.Series([str(v) for v in values], dtype=object) for name, values in columns.items()})


def empty_frame(columns: Sequence[str]) -> pd.DataFrame:
    return frame(dict.fromkeys(columns, ()))


def chart_table(
    columns: Sequence[str], *, widths: dict[str, int], css_class: str, selectable: bool | str = False
) -> pn.widgets.Tabulator:
    """A read-only list of charts (``/queue``, ``/assign``): its columns up front (Tabulator keeps
    its first ones), HTML in the status and encounter cells, no header sorting (the database
    sorts), and a loading overlay until the page's first load fills it."""
    return pn.widgets.Tabulator(
        empty_frame(columns),
        disabled=True,
        selectable=selectable,
        show_index=False,
        sizing_mode="stretch_width",
        layout="fit_columns",
        css_classes=[css_class],
        stylesheets=[TABLE_CSS],
        formatters={"Status": {"type": "html"}, "Encounter": {"type": "html"}},
        widths=widths,
        configuration={"columnDefaults": {"headerSort": False}},
        loading=True,
    )


def resync(widget: Any) -> None:
    """Send a select's value again after its option labels changed (the browser matches by label)."""
    widget.param.trigger("value")


def url_arg(name: str) -> str | None:
    """The one value of ``?name=…`` in this session's page URL; None when absent or repeated."""
    args = pn.state.session_args if pn.state.curdoc is not None else {}
    values = args.get(name) or []
    if len(values) != 1:
        return None
    raw = values[0]
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def navigate(path: str, search: str = "") -> None:
    """Send this session's browser to ``path`` (a real navigation, like a link)."""
    location = pn.state.location
    if location is None:
        return
    location.reload = True
    location.param.update(pathname=path, search=search)


def gutter(*objects: Any) -> Any:
    """The page's content with breathing room on the right (the shell's main area has none)."""
    return pn.Column(*objects, sizing_mode="stretch_width", margin=(0, 24, 24, 0))


def empty_state(title: str, message: str) -> str:
    return (
        '<div class="sc-empty">'
        f'<p class="sc-empty__title">{html.escape(title)}</p>'
        f'<p class="sc-empty__text">{html.escape(message)}</p></div>'
    )


# Reaches into the Tabulator's shadow root (passed as its `stylesheets`) and the HTML panes.
TABLE_CSS: Final = """
.tabulator { font-family: var(--app-font-family-sans); font-size: var(--app-font-size-sm);
  border: var(--app-size-border-width) solid var(--app-color-border); border-radius: var(--app-radius-md);
  background: var(--app-color-surface); }
.tabulator .tabulator-header { background: var(--app-color-surface-sunken); color: var(--app-color-text-muted);
  border-bottom: var(--app-size-border-width) solid var(--app-color-border); font-weight: var(--app-font-weight-semibold); }
.tabulator .tabulator-header .tabulator-col { background: var(--app-color-surface-sunken); border-right: none; }
.tabulator .tabulator-header .tabulator-col .tabulator-col-content { padding: var(--app-space-2) var(--app-space-3); }
.tabulator .tabulator-header .tabulator-col .tabulator-col-title { font-size: var(--app-font-size-sm);
  font-weight: var(--app-font-weight-semibold); color: var(--app-color-text-muted); }
.tabulator-row { border-bottom: var(--app-size-border-width) solid var(--app-color-border-muted); min-height: 38px; }
.tabulator-row.tabulator-row-even { background: var(--app-color-surface); }
.tabulator-row .tabulator-cell { padding: var(--app-space-2) var(--app-space-3); border-right: none; color: var(--app-color-text);
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.tabulator-row.tabulator-selectable:hover { background: var(--app-color-surface-hover); cursor: pointer; }
.tabulator-row.tabulator-selected { background: var(--app-color-primary-subtle); }
.tabulator-row.tabulator-selected:hover { background: var(--app-color-primary-subtle); }
.sc-status { display: inline-flex; align-items: center; gap: var(--app-space-1); padding: 1px var(--app-space-2);
  border-radius: var(--app-radius-pill); border: var(--app-size-border-width) solid var(--app-color-border);
  font-size: var(--app-font-size-xs); font-weight: var(--app-font-weight-medium); white-space: nowrap; line-height: 18px; }
.sc-status--returned { color: var(--app-color-warning); background: var(--app-color-warning-subtle);
  border-color: var(--app-color-warning-border); }
.sc-status--draft { color: var(--app-color-info); background: var(--app-color-info-subtle);
  border-color: var(--app-color-info-border); }
.sc-status--pending_audit { color: var(--app-color-primary-subtle-text); background: var(--app-color-primary-subtle);
  border-color: var(--app-color-focus-halo); }
.sc-status--completed { color: var(--app-color-success); background: var(--app-color-success-subtle);
  border-color: var(--app-color-success-border); }
.sc-open { color: var(--app-color-link); font-weight: var(--app-font-weight-medium); text-decoration: none; }
.sc-open:hover { text-decoration: underline; }
.sc-open:focus-visible { outline: var(--app-size-focus-ring-width) solid var(--app-color-focus-ring); outline-offset: 2px;
  border-radius: var(--app-radius-sm); }
.sc-dim { color: var(--app-color-text-muted); }
"""

PAGE_CSS: Final = """
.sc-empty { padding: var(--app-space-6) var(--app-space-5); text-align: center; color: var(--app-color-text-muted);
  border: var(--app-size-border-width) dashed var(--app-color-border); border-radius: var(--app-radius-lg);
  background: var(--app-color-surface); font-family: var(--app-font-family-sans); }
.sc-empty__title { margin: 0 0 var(--app-space-1); color: var(--app-color-text); font-size: var(--app-font-size-lg);
  font-weight: var(--app-font-weight-semibold); }
.sc-empty__text { margin: 0; font-size: var(--app-font-size-md); }
.sc-pager-text { color: var(--app-color-text-muted); font-size: var(--app-font-size-sm);
  font-family: var(--app-font-family-sans); font-variant-numeric: tabular-nums; white-space: nowrap; }
.sc-section-title { margin: 0; font-family: var(--app-font-family-sans); font-size: var(--app-font-size-lg);
  font-weight: var(--app-font-weight-semibold); color: var(--app-color-text); }
.sc-lede { margin: 0; font-family: var(--app-font-family-sans); font-size: var(--app-font-size-md);
  color: var(--app-color-text-muted); }
.sc-returned { display: grid; gap: var(--app-space-2); margin: 0; padding: 0; list-style: none;
  font-family: var(--app-font-family-sans); }
.sc-returned__item { display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: var(--app-space-1) var(--app-space-4);
  padding: var(--app-space-3) var(--app-space-4); border: var(--app-size-border-width) solid var(--app-color-warning-border);
  border-left: 3px solid var(--app-color-warning); border-radius: var(--app-radius-md); background: var(--app-color-surface); }
.sc-returned__head { color: var(--app-color-text); font-size: var(--app-font-size-md); font-weight: var(--app-font-weight-semibold); }
.sc-returned__meta { color: var(--app-color-text-muted); font-size: var(--app-font-size-sm); font-weight: var(--app-font-weight-regular); }
.sc-returned__feedback { grid-column: 1 / 2; margin: 0; color: var(--app-color-text); font-size: var(--app-font-size-sm);
  line-height: var(--app-font-line-height-normal); overflow-wrap: anywhere; }
.sc-returned__action { grid-column: 2 / 3; grid-row: 1 / 3; align-self: center; }
.sc-returned__action a { display: inline-block; padding: var(--app-space-1) var(--app-space-3); border-radius: var(--app-radius-md);
  background: var(--app-color-primary); color: var(--app-color-primary-contrast); font-weight: var(--app-font-weight-semibold);
  font-size: var(--app-font-size-sm); text-decoration: none; }
.sc-returned__action a:hover { background: var(--app-color-primary-hover); }
.sc-returned__action a:focus-visible { outline: var(--app-size-focus-ring-width) solid var(--app-color-focus-ring); outline-offset: 2px; }
.sc-load { width: 100%; border-collapse: collapse; font-family: var(--app-font-family-sans); font-size: var(--app-font-size-sm);
  font-variant-numeric: tabular-nums; }
.sc-load th { text-align: left; color: var(--app-color-text-muted); font-weight: var(--app-font-weight-semibold);
  font-size: var(--app-font-size-xs); white-space: nowrap; padding: var(--app-space-1);
  border-bottom: var(--app-size-border-width) solid var(--app-color-border); }
.sc-load td { padding: var(--app-space-2) var(--app-space-1); border-bottom: var(--app-size-border-width) solid var(--app-color-border-muted);
  color: var(--app-color-text); vertical-align: middle; }
.sc-load td.sc-num, .sc-load th.sc-num { text-align: right; }
.sc-load__bar { height: 6px; border-radius: var(--app-radius-pill); background: var(--app-color-surface-sunken); min-width: 40px; }
.sc-load__fill { height: 6px; border-radius: var(--app-radius-pill); background: var(--app-color-primary); }
.sc-load__name { font-weight: var(--app-font-weight-medium); white-space: nowrap; }
.sc-load__cell { width: 25%; }
"""
