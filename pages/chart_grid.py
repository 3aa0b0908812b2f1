"""The code grid of the coding page: a small ESM component (``chart_grid.js``) with one model.

Why a custom component: the grid must reorder by keyboard and mouse, keep the caret in a
rationale field while findings arrive, show findings under their own row and offer code
autocomplete without a round of widget rebuilds; one Bokeh model with JSON properties does that
with one small patch per change. The browser applies an edit at once and sends it as a message;
``on_message`` (set by the page) applies it to the ``Workspace`` and answers with ``rows`` and
``notes``. All text reaches the DOM through ``textContent``.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import param
from panel.custom import JSComponent

from pages.components import DictMessages

_CSS = """
:host { display: block; width: 100%; }
.scg { font-family: var(--app-font-family-sans); font-size: var(--app-font-size-md); color: var(--app-color-text);
  line-height: var(--app-font-line-height-snug); }
.scg button { font: inherit; }
.scg-addwrap { position: sticky; top: 0; z-index: 3; background: var(--app-color-surface);
  padding-bottom: var(--app-space-3); }
.scg-add { display: flex; gap: var(--app-space-2); align-items: stretch; }
.scg-add--replacing .scg-search { border-color: var(--app-color-warning); box-shadow: 0 0 0 var(--app-size-focus-halo-width) var(--app-color-warning-subtle); }
.scg-kind { display: inline-flex; border: var(--app-size-border-width) solid var(--app-color-border-strong);
  border-radius: var(--app-radius-md); overflow: hidden; flex: none; }
.scg-kind__option { border: 0; background: var(--app-color-surface); color: var(--app-color-text-muted);
  padding: 0 var(--app-space-3); cursor: pointer; font-size: var(--app-font-size-sm); font-weight: var(--app-font-weight-medium); }
.scg-kind__option + .scg-kind__option { border-left: var(--app-size-border-width) solid var(--app-color-border); }
.scg-kind__option[aria-checked="true"] { background: var(--app-color-primary-subtle); color: var(--app-color-primary-subtle-text); }
.scg-kind__option:disabled { cursor: not-allowed; opacity: 0.6; }
.scg-combo { position: relative; flex: 1; min-width: 0; }
.scg-search { width: 100%; box-sizing: border-box; height: var(--app-size-control-height); padding: 0 var(--app-space-3);
  border: var(--app-size-border-width) solid var(--app-color-border-strong); border-radius: var(--app-radius-md);
  background: var(--app-color-surface); color: var(--app-color-text); font: inherit; }
.scg-search::placeholder { color: var(--app-color-text-subtle); }
.scg-search:focus { outline: none; border-color: var(--app-color-focus-ring);
  box-shadow: 0 0 0 var(--app-size-focus-halo-width) var(--app-color-focus-halo); }
.scg-list { position: absolute; left: 0; right: 0; top: calc(100% + 4px); margin: 0; padding: var(--app-space-1) 0;
  list-style: none; background: var(--app-color-surface-raised); border: var(--app-size-border-width) solid var(--app-color-border);
  border-radius: var(--app-radius-md); box-shadow: var(--app-shadow-md); max-height: 340px; overflow: auto; z-index: 5; }
.scg-option { display: flex; gap: var(--app-space-3); align-items: baseline; padding: 6px var(--app-space-3); cursor: pointer; }
.scg-option[aria-selected="true"] { background: var(--app-color-primary-subtle); }
.scg-option__code { font-family: var(--app-font-family-mono); font-weight: var(--app-font-weight-semibold); min-width: 76px; flex: none; }
.scg-option__desc { flex: 1; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.scg-option--header .scg-option__code, .scg-option--header .scg-option__desc { color: var(--app-color-text-muted); }
.scg-option--empty { color: var(--app-color-text-muted); cursor: default; white-space: normal; font-size: var(--app-font-size-sm); }
.scg-tag { flex: none; font-size: var(--app-font-size-xs); color: var(--app-color-text-muted);
  border: var(--app-size-border-width) solid var(--app-color-border); border-radius: var(--app-radius-pill); padding: 0 var(--app-space-2); }
.scg-replace { margin-top: var(--app-space-2); display: flex; gap: var(--app-space-3); align-items: center;
  font-size: var(--app-font-size-sm); color: var(--app-color-warning); }
.scg-linkbutton { border: 0; background: none; padding: 0; color: var(--app-color-link); cursor: pointer;
  font-weight: var(--app-font-weight-medium); text-decoration: underline; text-underline-offset: 0.2em; }

.scg-table { border: var(--app-size-border-width) solid var(--app-color-border); border-radius: var(--app-radius-md); overflow: hidden; }
.scg-head, .scg-line { display: grid; align-items: center; column-gap: var(--app-space-2);
  grid-template-columns: 22px 14px 84px minmax(140px, 1fr) 62px minmax(180px, 1fr) 74px; }
.scg--readonly .scg-head, .scg--readonly .scg-line { grid-template-columns: 22px 0 84px minmax(140px, 1fr) 62px minmax(180px, 1fr) 0; }
.scg-head { padding: 6px var(--app-space-3); background: var(--app-color-surface-sunken); color: var(--app-color-text-muted);
  font-size: var(--app-font-size-xs); font-weight: var(--app-font-weight-semibold); }
.scg-head .scg-c-principal { text-align: center; }
.scg-group__title { display: flex; justify-content: space-between; align-items: baseline; padding: 6px var(--app-space-3);
  border-top: var(--app-size-border-width) solid var(--app-color-border); background: var(--app-color-surface-hover); }
.scg-group__name { font-weight: var(--app-font-weight-semibold); font-size: var(--app-font-size-sm); }
.scg-group__meta { color: var(--app-color-text-muted); font-size: var(--app-font-size-xs); }
.scg-empty { padding: var(--app-space-3) var(--app-space-3) var(--app-space-4); color: var(--app-color-text-muted); font-size: var(--app-font-size-sm);
  border-top: var(--app-size-border-width) solid var(--app-color-border-muted); }
.scg-row { position: relative; padding: 5px var(--app-space-3); border-top: var(--app-size-border-width) solid var(--app-color-border-muted);
  border-left: 3px solid transparent; background: var(--app-color-surface); outline: none; }
.scg-row:focus-visible, .scg-row:focus { box-shadow: inset 0 0 0 var(--app-size-focus-ring-width) var(--app-color-focus-ring); }
.scg-row--error { border-left-color: var(--app-color-danger); }
.scg-row--error .scg-findings { background: var(--app-color-danger-subtle); }
.scg-row--warning { border-left-color: var(--app-color-warning); }
.scg-row--overridden { border-left-color: var(--app-color-border-strong); }
.scg-row--dragging { opacity: 0.5; }
.scg-row--drop-before { box-shadow: inset 0 2px 0 var(--app-color-primary); }
.scg-row--drop-after { box-shadow: inset 0 -2px 0 var(--app-color-primary); }
.scg-row--fresh { animation: scg-fresh 900ms var(--app-motion-easing); }
@keyframes scg-fresh { from { background: var(--app-color-primary-subtle); } }
.scg-n { color: var(--app-color-text-muted); font-size: var(--app-font-size-sm); font-variant-numeric: tabular-nums; text-align: right; }
.scg-handle { cursor: grab; color: var(--app-color-text-subtle); font-size: 11px; letter-spacing: -2px; user-select: none; }
.scg-code { justify-self: start; border: 0; background: none; padding: 2px 4px; margin-left: -4px; border-radius: var(--app-radius-sm);
  font-family: var(--app-font-family-mono); font-weight: var(--app-font-weight-semibold); color: var(--app-color-text); cursor: pointer; }
.scg-code:hover:not(:disabled) { background: var(--app-color-surface-sunken); text-decoration: underline dotted; }
.scg-code:disabled { cursor: default; color: var(--app-color-text); }
.scg-desc { display: flex; gap: var(--app-space-2); align-items: center; min-width: 0; }
.scg-desc-text { overflow: hidden; min-width: 0; display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical;
  line-height: var(--app-font-line-height-tight); }
.scg-desc-text--unknown { color: var(--app-color-text-muted); font-style: italic; }
.scg-badges { display: inline-flex; gap: 4px; flex: none; }
.scg-chip { font-size: 11px; font-weight: var(--app-font-weight-semibold); line-height: 16px; padding: 0 6px;
  border-radius: var(--app-radius-pill); border: var(--app-size-border-width) solid var(--app-color-border);
  color: var(--app-color-text-muted); background: var(--app-color-surface-sunken); white-space: nowrap; }
.scg-chip--mcc { color: var(--app-color-role-supervisor-text); background: var(--app-color-role-supervisor-background); border-color: var(--app-color-role-supervisor-border); }
.scg-chip--cc { color: var(--app-color-info); background: var(--app-color-info-subtle); border-color: var(--app-color-info-border); }
.scg-chip--supervisor { color: var(--app-color-role-supervisor-text); background: var(--app-color-role-supervisor-background); border-color: var(--app-color-role-supervisor-border); flex: none; }
.scg-c-principal { text-align: center; }
.scg-principal-input { width: 16px; height: 16px; margin: 0; accent-color: var(--app-color-primary); cursor: pointer; }
.scg-rationale { width: 100%; box-sizing: border-box; height: var(--app-size-control-height-sm); padding: 0 var(--app-space-2);
  border: var(--app-size-border-width) solid var(--app-color-border); border-radius: var(--app-radius-sm);
  background: var(--app-color-surface); color: var(--app-color-text); font: inherit; font-size: var(--app-font-size-sm); }
.scg-rationale::placeholder { color: var(--app-color-text-subtle); }
.scg-rationale--missing { border-style: dashed; border-color: var(--app-color-border-strong); }
.scg-rationale:focus, .scg-override-input:focus { outline: none; border-style: solid; border-color: var(--app-color-focus-ring);
  box-shadow: 0 0 0 var(--app-size-focus-halo-width) var(--app-color-focus-halo); }
.scg-rationale-text { font-size: var(--app-font-size-sm); display: block; overflow-wrap: anywhere; }
.scg-muted { color: var(--app-color-text-muted); font-style: italic; }
.scg-actions { display: inline-flex; justify-content: flex-end; gap: 2px; }
.scg-icon { width: 22px; height: 22px; border: 0; border-radius: var(--app-radius-sm); background: none; color: var(--app-color-text-muted);
  cursor: pointer; font-size: var(--app-font-size-sm); line-height: 1; padding: 0; }
.scg-icon:hover:not(:disabled) { background: var(--app-color-surface-sunken); color: var(--app-color-text); }
.scg-icon--danger:hover:not(:disabled) { background: var(--app-color-danger-subtle); color: var(--app-color-danger); }
.scg-icon:disabled { opacity: 0.35; cursor: default; }
.scg-icon:focus-visible, .scg-code:focus-visible, .scg-kind__option:focus-visible, .scg-linkbutton:focus-visible {
  outline: var(--app-size-focus-ring-width) solid var(--app-color-focus-ring); outline-offset: 1px; }
.scg-notes:empty { display: none; }
.scg-findings { list-style: none; margin: 4px 0 2px 44px; padding: 4px var(--app-space-2); display: grid; gap: 3px; border-radius: var(--app-radius-sm); }
.scg-f { display: flex; gap: var(--app-space-2); align-items: baseline; font-size: var(--app-font-size-sm); }
.scg-f__body { min-width: 0; }
.scg-f__icon { flex: none; width: 14px; text-align: center; font-size: 11px; font-weight: var(--app-font-weight-bold); }
.scg-f--error .scg-f__icon, .scg-f--error .scg-f__msg { color: var(--app-color-danger); }
.scg-f--warning .scg-f__icon, .scg-f--warning .scg-f__msg { color: var(--app-color-warning); }
.scg-f--info .scg-f__icon, .scg-f--info .scg-f__msg { color: var(--app-color-text-muted); }
.scg-f--info .scg-f__icon { font-style: italic; }
.scg-f--overridden .scg-f__icon, .scg-f--overridden .scg-f__msg { color: var(--app-color-text-muted); text-decoration: line-through; text-decoration-color: var(--app-color-border-strong); }
.scg-f__msg { min-width: 0; }
.scg-f__ref { display: inline; margin-left: var(--app-space-2); color: var(--app-color-text-subtle); font-size: var(--app-font-size-xs); }
.scg-f--audit .scg-f__msg { color: var(--app-color-text); }
.scg-override { display: flex; gap: var(--app-space-2); align-items: center; }
.scg-override__label { flex: none; font-size: var(--app-font-size-xs); font-weight: var(--app-font-weight-semibold); color: var(--app-color-text-muted); }
.scg-override-input { flex: 1; height: var(--app-size-control-height-sm); padding: 0 var(--app-space-2); box-sizing: border-box;
  border: var(--app-size-border-width) dashed var(--app-color-border-strong); border-radius: var(--app-radius-sm);
  background: var(--app-color-surface); font: inherit; font-size: var(--app-font-size-sm); color: var(--app-color-text); }
.scg-toast { margin-top: var(--app-space-2); display: flex; gap: var(--app-space-3); align-items: center; padding: var(--app-space-2) var(--app-space-3);
  background: var(--app-color-text); color: var(--app-color-surface); border-radius: var(--app-radius-md); font-size: var(--app-font-size-sm); width: fit-content; }
.scg-toast .scg-linkbutton { color: var(--app-color-primary-subtle); }
.scg-toast[hidden] { display: none; }
.scg-keys { margin: var(--app-space-2) 0 0; color: var(--app-color-text-subtle); font-size: var(--app-font-size-xs); }
[hidden] { display: none !important; }
@media (prefers-reduced-motion: reduce) { .scg-row--fresh { animation: none; } }
"""


class CodeGrid(DictMessages, JSComponent):
    rows = param.List(default=[], doc="The code rows, diagnoses then procedures (Workspace.rows_json)")
    notes = param.Dict(default={}, doc="uid -> findings, badges and supervisor notes for that row")
    editable = param.Boolean(default=False, doc="Whether the signed-in user may change the codes")
    suggestions = param.Dict(default={}, doc="Autocomplete answer: {seq, q, kind, items}")
    dirty = param.Boolean(default=False, doc="Unsaved edits: the browser asks before leaving the page")

    # Served as a file from our own origin (``_bundle``): an inline module would be loaded from a
    # blob: URL, which the page CSP's connect-src rightly does not allow.
    _esm: ClassVar[Path] = Path(__file__).with_name("chart_grid.js")
    _bundle: ClassVar[Path] = _esm
    _stylesheets: ClassVar[list[str]] = [_CSS]

    def focus_search(self) -> None:
        self._send_msg({"focus": "search"})
