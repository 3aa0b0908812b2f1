"""SmartCoders design tokens: the one theme module (INV-2).

``tokens.json`` next to this module is the single source of colours, type, spacing,
radius and shadow.  Everything visual is derived from it here:

* :func:`css_variables` - a ``:root{...}`` block with Panel's ``--design-*`` variables
  and one ``--app-*`` variable per token (``--app-color-primary``, ``--app-space-2``,
  ``--app-font-size-md``, ...);
* :func:`app_css` - the complete stylesheet served at ``/static/app.css`` for our own
  server-rendered pages (login, register, invitation, error pages);
* :func:`component_css` - only the shared ``.sc-*`` classes, for a Panel component's
  ``stylesheets=[...]`` (global CSS does not reach into Panel's shadow roots, but the
  ``--app-*`` custom properties defined on ``:root`` do inherit into them);
* :func:`theme_config` - the Material UI theme for ``pn.ui`` / ``panel_material_ui``;
* :func:`hv_options` / :func:`apply_hv_defaults` - HoloViews/Bokeh plot defaults;
* :func:`color` / :func:`css_var` - accessors for page code, so ``pages/`` never needs
  a hex literal.

Stylesheet rules below reference tokens only through ``var(--app-...)``; the only
colour literals in the project live in ``tokens.json``.
"""

from __future__ import annotations

import copy
import functools
import importlib
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

__all__ = [
    "TOKENS_PATH",
    "app_css",
    "apply_hv_defaults",
    "color",
    "component_css",
    "css_var",
    "css_variables",
    "hv_options",
    "load_tokens",
    "theme_config",
]

TOKENS_PATH: Final[Path] = Path(__file__).with_name("tokens.json")

_VAR_PREFIX: Final = "--app-"
_HEX_RE: Final = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
_NAME_RE: Final = re.compile(r"^[a-z0-9][a-z0-9-]*$")

# Groups of tokens.json that become CSS variables ("meta" is documentation only).
_CSS_GROUPS: Final = ("color", "font", "space", "radius", "shadow", "size", "motion")

# Tokens other modules rely on; a tokens.json without them is rejected at load time.
_REQUIRED_COLORS: Final = (
    "primary",
    "primary-hover",
    "primary-contrast",
    "primary-subtle",
    "background",
    "surface",
    "surface-raised",
    "surface-sunken",
    "border",
    "border-strong",
    "text",
    "text-muted",
    "link",
    "success",
    "success-subtle",
    "warning",
    "warning-subtle",
    "danger",
    "danger-subtle",
    "info",
    "info-subtle",
    "focus-ring",
    "focus-halo",
)
_REQUIRED_GROUPS: Final = {
    "font.size": ("xs", "sm", "md", "lg", "xl", "2xl"),
    "font.weight": ("regular", "medium", "semibold", "bold"),
    "font.line-height": ("tight", "normal"),
    "font.family": ("sans", "mono"),
    "space": ("1", "2", "3", "4", "5", "6", "7", "8"),
    "radius": ("sm", "md", "lg"),
    "shadow": ("sm", "md"),
}


# --------------------------------------------------------------------------- loading


@functools.cache
def _tokens() -> dict[str, Any]:
    """Read and validate tokens.json once per process (shared, never mutated)."""
    with TOKENS_PATH.open(encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict):
        raise TypeError(f"{TOKENS_PATH}: top level must be an object")
    _validate(data)
    return data


def load_tokens() -> dict[str, Any]:
    """Return the design tokens from ``tokens.json`` (read once, cached).

    The caller gets its own deep copy, so mutating the result cannot change the
    theme of any other session.
    """
    return copy.deepcopy(_tokens())


def _group(data: Mapping[str, Any], dotted: str) -> Mapping[str, Any]:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise ValueError(f"{TOKENS_PATH}: missing token group {dotted!r}")
        node = node[part]
    if not isinstance(node, Mapping):
        raise TypeError(f"{TOKENS_PATH}: {dotted!r} must be an object")
    return node


def _validate(data: Mapping[str, Any]) -> None:
    colors = _group(data, "color")
    for name in _REQUIRED_COLORS:
        value = colors.get(name)
        if not isinstance(value, str) or not _HEX_RE.match(value):
            raise ValueError(f"{TOKENS_PATH}: color.{name} must be a hex colour, got {value!r}")
    for dotted, keys in _REQUIRED_GROUPS.items():
        group = _group(data, dotted)
        missing = [key for key in keys if key not in group]
        if missing:
            raise ValueError(f"{TOKENS_PATH}: {dotted} is missing {', '.join(missing)}")
    for name, value in _flatten({key: data[key] for key in _CSS_GROUPS if key in data}):
        if not _NAME_RE.match(name):
            raise ValueError(f"{TOKENS_PATH}: token name {name!r} is not a CSS identifier")
        if any(ch in value for ch in ";{}<>"):
            raise ValueError(f"{TOKENS_PATH}: token {name!r} has an unsafe value")


def _flatten(node: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """Yield ``(dash-joined-name, value)`` for every leaf; list items are numbered from 1."""
    for key, value in node.items():
        name = f"{prefix}-{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            yield from _flatten(value, name)
        elif isinstance(value, list):
            for index, item in enumerate(value, start=1):
                yield f"{name}-{index}", str(item)
        elif isinstance(value, bool) or value is None:
            raise ValueError(f"{TOKENS_PATH}: token {name!r} must be a string or number")
        else:
            yield name, str(value)


@functools.cache
def _flat_tokens() -> dict[str, str]:
    data = _tokens()
    return dict(_flatten({key: data[key] for key in _CSS_GROUPS if key in data}))


def _tok(name: str) -> str:
    """A token by its flattened name, e.g. ``"font-size-md"`` or ``"space-4"``."""
    try:
        return _flat_tokens()[name]
    except KeyError:
        raise KeyError(f"unknown design token {name!r}") from None


def _px(name: str) -> int:
    """A ``"<n>px"`` token as an int (for APIs that want numbers)."""
    value = _tok(name)
    if not value.endswith("px"):
        raise ValueError(f"design token {name!r} is not in px: {value!r}")
    return int(float(value[:-2]))


# --------------------------------------------------------------------------- accessors


def color(name: str) -> str:
    """Return a colour token, e.g. ``color("primary")`` -> ``"#2456C7"``.

    Nested colours use dashes or dots: ``color("role-coder-text")`` or
    ``color("role.coder.text")``; list entries are numbered from 1
    (``color("chart-categorical-1")``).
    """
    key = name.strip().replace(".", "-").removeprefix("color-")
    try:
        return _flat_tokens()[f"color-{key}"]
    except KeyError:
        raise KeyError(f"unknown colour token {name!r}") from None


def css_var(name: str) -> str:
    """Return a ``var(--app-...)`` reference for any token, checked to exist.

    ``css_var("space-4")`` -> ``"var(--app-space-4)"``; ``css_var("color.primary")`` ->
    ``"var(--app-color-primary)"``.  Use this in page code instead of literals.
    """
    key = name.strip().replace(".", "-")
    _tok(key)
    return f"var({_VAR_PREFIX}{key})"


# --------------------------------------------------------------------------- CSS


def _panel_design_variables() -> dict[str, str]:
    """Panel's documented theme hooks (``--design-*``) mapped onto our tokens."""
    return {
        "--design-primary-color": color("primary"),
        "--design-primary-text-color": color("primary-contrast"),
        "--design-secondary-color": color("surface-sunken"),
        "--design-secondary-text-color": color("text"),
        "--design-background-color": color("background"),
        "--design-background-text-color": color("text"),
        "--design-surface-color": color("surface"),
        "--design-surface-text-color": color("text"),
    }


@functools.cache
def css_variables() -> str:
    """Return one ``:root{...}`` block: Panel ``--design-*`` plus every ``--app-*`` token."""
    declarations = [f"{name}:{value};" for name, value in _panel_design_variables().items()]
    declarations += [f"{_VAR_PREFIX}{name}:{value};" for name, value in _flat_tokens().items()]
    return ":root{\n  " + "\n  ".join(declarations) + "\n}\n"


_BASE_CSS: Final = """
/* ---- base: our own server-rendered pages ---------------------------------- */
*,
*::before,
*::after { box-sizing: border-box; }

html {
  -webkit-text-size-adjust: 100%;
  text-size-adjust: 100%;
}

body {
  margin: 0;
  min-height: 100vh;
  background: var(--app-color-background);
  color: var(--app-color-text);
  font-family: var(--app-font-family-sans);
  font-size: var(--app-font-size-md);
  line-height: var(--app-font-line-height-normal);
  -webkit-font-smoothing: antialiased;
  -moz-osx-font-smoothing: grayscale;
}

[hidden] { display: none !important; }

h1, h2, h3, p { margin: 0; }

::selection {
  background: var(--app-color-primary-subtle);
  color: var(--app-color-text);
}

:focus-visible {
  outline: var(--app-size-focus-ring-width) solid var(--app-color-focus-ring);
  outline-offset: 2px;
}

.sc-skip-link {
  position: absolute;
  left: var(--app-space-4);
  top: var(--app-space-4);
  padding: var(--app-space-2) var(--app-space-3);
  border-radius: var(--app-radius-md);
  background: var(--app-color-surface-raised);
  color: var(--app-color-link);
  font-weight: var(--app-font-weight-medium);
  z-index: 10;
  transform: translateY(calc(-100% - var(--app-space-6)));
}
.sc-skip-link:focus {
  transform: none;
  box-shadow: var(--app-shadow-md);
}

.sc-visually-hidden {
  position: absolute !important;
  width: 1px;
  height: 1px;
  margin: -1px;
  padding: 0;
  overflow: hidden;
  clip: rect(0 0 0 0);
  white-space: nowrap;
  border: 0;
}

/* ---- auth layout ----------------------------------------------------------- */
.sc-auth {
  min-height: 100vh;
  display: flex;
  flex-direction: column;
  align-items: center;
  justify-content: center;
  padding: var(--app-space-7) var(--app-space-4) var(--app-space-5);
}

.sc-auth__inner {
  width: 100%;
  max-width: var(--app-size-auth-width);
  display: flex;
  flex-direction: column;
  gap: var(--app-space-5);
}

.sc-brand {
  display: flex;
  align-items: center;
  justify-content: center;
  gap: var(--app-space-3);
  color: var(--app-color-text);
  text-decoration: none;
}

.sc-brand__mark {
  flex: none;
  display: inline-flex;
  align-items: center;
  justify-content: center;
  width: var(--app-size-brand-mark);
  height: var(--app-size-brand-mark);
  border-radius: var(--app-radius-md);
  background: var(--app-color-primary);
  color: var(--app-color-primary-contrast);
  box-shadow: var(--app-shadow-sm);
}
.sc-brand__mark svg { width: 66%; height: 66%; display: block; }

.sc-brand__text {
  display: flex;
  flex-direction: column;
  line-height: var(--app-font-line-height-tight);
}

.sc-brand__name {
  font-size: var(--app-font-size-lg);
  font-weight: var(--app-font-weight-semibold);
  letter-spacing: var(--app-font-letter-spacing-tight);
}

.sc-brand__tagline {
  font-size: var(--app-font-size-xs);
  color: var(--app-color-text-muted);
}

.sc-card {
  background: var(--app-color-surface-raised);
  border: var(--app-size-border-width) solid var(--app-color-border);
  border-radius: var(--app-radius-lg);
  box-shadow: var(--app-shadow-md);
  padding: var(--app-space-6);
}

.sc-card__header {
  display: flex;
  flex-direction: column;
  gap: var(--app-space-1);
  margin-bottom: var(--app-space-5);
}

.sc-card__title {
  font-size: var(--app-font-size-xl);
  font-weight: var(--app-font-weight-semibold);
  line-height: var(--app-font-line-height-tight);
  letter-spacing: var(--app-font-letter-spacing-tight);
  color: var(--app-color-text);
}

.sc-card__lede {
  color: var(--app-color-text-muted);
  font-size: var(--app-font-size-md);
}

.sc-card__body > * + * { margin-top: var(--app-space-4); }

.sc-card__message {
  color: var(--app-color-text);
  font-size: var(--app-font-size-md);
  line-height: var(--app-font-line-height-relaxed);
}

.sc-card__footer {
  margin-top: var(--app-space-5);
  padding-top: var(--app-space-4);
  border-top: var(--app-size-border-width) solid var(--app-color-border-muted);
  text-align: center;
  color: var(--app-color-text-muted);
  font-size: var(--app-font-size-sm);
}

.sc-footer {
  text-align: center;
  color: var(--app-color-text-subtle);
  font-size: var(--app-font-size-xs);
  line-height: var(--app-font-line-height-normal);
}

/* ---- forms ----------------------------------------------------------------- */
.sc-form {
  display: flex;
  flex-direction: column;
  gap: var(--app-space-4);
}

.sc-field {
  display: flex;
  flex-direction: column;
  gap: var(--app-space-1);
  min-width: 0;
}

.sc-label {
  font-size: var(--app-font-size-sm);
  font-weight: var(--app-font-weight-medium);
  color: var(--app-color-text);
}

.sc-input {
  width: 100%;
  min-height: var(--app-size-control-height);
  padding: var(--app-space-2) var(--app-space-3);
  border: var(--app-size-border-width) solid var(--app-color-border-strong);
  border-radius: var(--app-radius-md);
  background: var(--app-color-surface);
  color: var(--app-color-text);
  font: inherit;
  font-size: var(--app-font-size-md);
  line-height: var(--app-font-line-height-snug);
  transition: border-color var(--app-motion-duration-fast) var(--app-motion-easing),
    box-shadow var(--app-motion-duration-fast) var(--app-motion-easing);
}
.sc-input::placeholder { color: var(--app-color-text-subtle); opacity: 1; }
.sc-input:hover { border-color: var(--app-color-text-muted); }
.sc-input:focus { outline: none; }
.sc-input:focus-visible,
.sc-input:focus {
  border-color: var(--app-color-focus-ring);
  box-shadow: 0 0 0 var(--app-size-focus-halo-width) var(--app-color-focus-halo);
}
.sc-input[aria-invalid="true"] { border-color: var(--app-color-danger); }
.sc-input[aria-invalid="true"]:focus {
  box-shadow: 0 0 0 var(--app-size-focus-halo-width) var(--app-color-danger-border);
}
.sc-input:disabled {
  background: var(--app-color-surface-sunken);
  color: var(--app-color-text-disabled);
  cursor: not-allowed;
}
.sc-input--mono { font-family: var(--app-font-family-mono); }

.sc-help {
  font-size: var(--app-font-size-xs);
  color: var(--app-color-text-muted);
  line-height: var(--app-font-line-height-normal);
}

.sc-error {
  display: flex;
  gap: var(--app-space-1);
  font-size: var(--app-font-size-xs);
  font-weight: var(--app-font-weight-medium);
  color: var(--app-color-danger);
  line-height: var(--app-font-line-height-normal);
}
.sc-error::before { content: "\\26A0\\FE0E"; flex: none; }

.sc-form__actions {
  display: flex;
  flex-direction: column;
  gap: var(--app-space-3);
  margin-top: var(--app-space-1);
}

.sc-card__actions {
  display: flex;
  flex-direction: column;
  gap: var(--app-space-3);
  margin-top: var(--app-space-5);
}

/* ---- buttons --------------------------------------------------------------- */
.sc-button {
  display: inline-flex;
  align-items: center;
  justify-content: center;
  gap: var(--app-space-2);
  width: 100%;
  min-height: var(--app-size-control-height);
  padding: var(--app-space-2) var(--app-space-4);
  border: var(--app-size-border-width) solid var(--app-color-primary);
  border-radius: var(--app-radius-md);
  background: var(--app-color-primary);
  color: var(--app-color-primary-contrast);
  font: inherit;
  font-size: var(--app-font-size-md);
  font-weight: var(--app-font-weight-semibold);
  line-height: var(--app-font-line-height-tight);
  text-align: center;
  text-decoration: none;
  vertical-align: middle;
  cursor: pointer;
  box-shadow: var(--app-shadow-sm);
  transition: background-color var(--app-motion-duration-fast) var(--app-motion-easing),
    border-color var(--app-motion-duration-fast) var(--app-motion-easing);
}
.sc-button:hover {
  background: var(--app-color-primary-hover);
  border-color: var(--app-color-primary-hover);
  color: var(--app-color-primary-contrast);
}
.sc-button:active {
  background: var(--app-color-primary-active);
  border-color: var(--app-color-primary-active);
}
.sc-button:focus-visible {
  outline: var(--app-size-focus-ring-width) solid var(--app-color-focus-ring);
  outline-offset: 2px;
}
.sc-button:disabled,
.sc-button[aria-disabled="true"] {
  opacity: 0.72;
  cursor: not-allowed;
  box-shadow: none;
}
.sc-button:disabled:hover {
  background: var(--app-color-primary);
  border-color: var(--app-color-primary);
}
.sc-button[aria-busy="true"] { cursor: progress; }
.sc-button[aria-busy="true"]::before {
  content: "";
  width: 14px;
  height: 14px;
  border: 2px solid currentColor;
  border-right-color: transparent;
  border-radius: var(--app-radius-pill);
  animation: sc-spin 0.8s linear infinite;
}

.sc-button--secondary {
  background: var(--app-color-surface);
  color: var(--app-color-text);
  border-color: var(--app-color-border-strong);
}
.sc-button--secondary:hover {
  background: var(--app-color-surface-hover);
  border-color: var(--app-color-text-muted);
  color: var(--app-color-text);
}
.sc-button--secondary:active { background: var(--app-color-surface-sunken); }

.sc-button--inline { width: auto; }

@keyframes sc-spin { to { transform: rotate(360deg); } }

@media (prefers-reduced-motion: reduce) {
  .sc-button[aria-busy="true"]::before { animation-duration: 2.4s; }
  .sc-input,
  .sc-button { transition: none; }
}

/* ---- small screens (down to 360px) ----------------------------------------- */
@media (max-width: 520px) {
  .sc-auth {
    justify-content: flex-start;
    padding: var(--app-space-6) var(--app-space-3) var(--app-space-5);
  }
  .sc-card { padding: var(--app-space-5) var(--app-space-4); }
  .sc-card__title { font-size: var(--app-font-size-xl); }
  /* 16px inputs stop iOS Safari from zooming on focus. */
  .sc-input { font-size: var(--app-font-size-lg); }
}
"""

_COMPONENT_CSS: Final = """
/* ---- shared classes (also usable inside Panel components) ----------------- */
.sc-link,
.sc-auth a:not(.sc-button):not(.sc-brand),
.sc-prose a {
  color: var(--app-color-link);
  font-weight: var(--app-font-weight-medium);
  text-decoration: underline;
  text-decoration-thickness: 1px;
  text-underline-offset: 0.2em;
  text-decoration-color: var(--app-color-primary-subtle);
  border-radius: var(--app-radius-sm);
}
.sc-link:hover,
.sc-auth a:not(.sc-button):not(.sc-brand):hover,
.sc-prose a:hover {
  color: var(--app-color-link-hover);
  text-decoration-color: currentColor;
}
.sc-link:focus-visible,
.sc-auth a:focus-visible,
.sc-prose a:focus-visible {
  outline: var(--app-size-focus-ring-width) solid var(--app-color-focus-ring);
  outline-offset: 2px;
}

.sc-alert {
  display: flex;
  gap: var(--app-space-2);
  padding: var(--app-space-3) var(--app-space-3);
  border: var(--app-size-border-width) solid var(--app-color-info-border);
  border-left-width: 3px;
  border-radius: var(--app-radius-md);
  background: var(--app-color-info-subtle);
  color: var(--app-color-info);
  font-size: var(--app-font-size-sm);
  line-height: var(--app-font-line-height-normal);
  overflow-wrap: anywhere;
}
.sc-alert--error {
  border-color: var(--app-color-danger-border);
  border-left-color: var(--app-color-danger);
  background: var(--app-color-danger-subtle);
  color: var(--app-color-danger);
}
.sc-alert--success {
  border-color: var(--app-color-success-border);
  border-left-color: var(--app-color-success);
  background: var(--app-color-success-subtle);
  color: var(--app-color-success);
}
.sc-alert--warning {
  border-color: var(--app-color-warning-border);
  border-left-color: var(--app-color-warning);
  background: var(--app-color-warning-subtle);
  color: var(--app-color-warning);
}
.sc-alert--info {
  border-color: var(--app-color-info-border);
  border-left-color: var(--app-color-info);
  background: var(--app-color-info-subtle);
  color: var(--app-color-info);
}

.sc-badge {
  display: inline-flex;
  align-items: center;
  gap: var(--app-space-1);
  min-height: 22px;
  padding: 0 var(--app-space-2);
  border: var(--app-size-border-width) solid var(--app-color-border);
  border-radius: var(--app-radius-pill);
  background: var(--app-color-surface-sunken);
  color: var(--app-color-text-muted);
  font-family: var(--app-font-family-sans);
  font-size: var(--app-font-size-xs);
  font-weight: var(--app-font-weight-medium);
  line-height: var(--app-font-line-height-tight);
  white-space: nowrap;
  vertical-align: middle;
}
.sc-badge--manager {
  color: var(--app-color-role-manager-text);
  background: var(--app-color-role-manager-background);
  border-color: var(--app-color-role-manager-border);
}
.sc-badge--supervisor {
  color: var(--app-color-role-supervisor-text);
  background: var(--app-color-role-supervisor-background);
  border-color: var(--app-color-role-supervisor-border);
}
.sc-badge--coder {
  color: var(--app-color-role-coder-text);
  background: var(--app-color-role-coder-background);
  border-color: var(--app-color-role-coder-border);
}
.sc-badge--analyst {
  color: var(--app-color-role-analyst-text);
  background: var(--app-color-role-analyst-background);
  border-color: var(--app-color-role-analyst-border);
}
.sc-badge--active {
  color: var(--app-color-status-active-text);
  background: var(--app-color-status-active-background);
  border-color: var(--app-color-status-active-border);
}
.sc-badge--inactive {
  color: var(--app-color-status-inactive-text);
  background: var(--app-color-status-inactive-background);
  border-color: var(--app-color-status-inactive-border);
}
.sc-badge--active::before,
.sc-badge--inactive::before {
  content: "";
  width: 6px;
  height: 6px;
  border-radius: var(--app-radius-pill);
  background: currentColor;
}

.sc-page-title {
  margin: 0 0 var(--app-space-1);
  font-family: var(--app-font-family-sans);
  font-size: var(--app-font-size-2xl);
  font-weight: var(--app-font-weight-semibold);
  line-height: var(--app-font-line-height-tight);
  letter-spacing: var(--app-font-letter-spacing-tight);
  color: var(--app-color-text);
}

.sc-muted {
  color: var(--app-color-text-muted);
  font-size: var(--app-font-size-sm);
}

.sc-code {
  font-family: var(--app-font-family-mono);
  font-size: 0.95em;
  font-variant-numeric: tabular-nums;
  letter-spacing: var(--app-font-letter-spacing-normal);
}

.sc-section {
  padding: var(--app-space-5);
  background: var(--app-color-surface);
  border: var(--app-size-border-width) solid var(--app-color-border);
  border-radius: var(--app-radius-lg);
  box-shadow: var(--app-shadow-sm);
  color: var(--app-color-text);
  font-family: var(--app-font-family-sans);
  font-size: var(--app-font-size-md);
  line-height: var(--app-font-line-height-normal);
}
.sc-section + .sc-section { margin-top: var(--app-space-4); }
.sc-section__title {
  margin: 0 0 var(--app-space-3);
  font-size: var(--app-font-size-lg);
  font-weight: var(--app-font-weight-semibold);
  line-height: var(--app-font-line-height-tight);
}

.sc-kv {
  display: grid;
  grid-template-columns: minmax(120px, max-content) minmax(0, 1fr);
  gap: var(--app-space-2) var(--app-space-5);
  margin: 0;
  font-size: var(--app-font-size-md);
}
.sc-kv dt {
  color: var(--app-color-text-muted);
  font-weight: var(--app-font-weight-medium);
}
.sc-kv dd {
  margin: 0;
  color: var(--app-color-text);
  overflow-wrap: anywhere;
}
@media (max-width: 520px) {
  .sc-section { padding: var(--app-space-4); }
  .sc-kv { grid-template-columns: minmax(0, 1fr); gap: 0; }
  .sc-kv dd { margin-bottom: var(--app-space-2); }
}
"""


@functools.cache
def component_css() -> str:
    """Return only the shared ``.sc-*`` classes (alerts, badges, titles, sections, kv).

    Pass it to a Panel component's ``stylesheets=[...]``: Panel renders components in
    shadow roots, which page-level CSS does not reach.  The ``--app-*`` variables come
    from :func:`css_variables` on ``:root`` (e.g. via ``pn.extension(global_css=...)``)
    and inherit into the shadow roots.
    """
    return _COMPONENT_CSS.lstrip("\n")


@functools.cache
def app_css() -> str:
    """Return the complete stylesheet served at ``/static/app.css``.

    :func:`css_variables` first, then base/auth/form rules and the shared classes of
    :func:`component_css`; every rule refers to tokens only through ``var(--app-...)``.
    """
    return "/* SmartCoders - generated from tokens/tokens.json; do not edit */\n" + (
        css_variables() + _BASE_CSS + _COMPONENT_CSS
    )


# --------------------------------------------------------------------------- Material UI


@functools.cache
def _theme_config() -> dict[str, Any]:
    def intent(main: str, subtle: str) -> dict[str, str]:
        return {
            "main": color(main),
            "dark": color(main),
            "light": color(subtle),
            "contrastText": color("primary-contrast"),
        }

    return {
        "palette": {
            "mode": "light",
            "primary": {
                "main": color("primary"),
                "dark": color("primary-hover"),
                "light": color("primary-subtle"),
                "contrastText": color("primary-contrast"),
            },
            "secondary": {
                "main": color("text-muted"),
                "dark": color("text"),
                "light": color("surface-sunken"),
                "contrastText": color("primary-contrast"),
            },
            "error": intent("danger", "danger-subtle"),
            "warning": intent("warning", "warning-subtle"),
            "info": intent("info", "info-subtle"),
            "success": intent("success", "success-subtle"),
            "background": {"default": color("background"), "paper": color("surface")},
            "text": {
                "primary": color("text"),
                "secondary": color("text-muted"),
                "disabled": color("text-disabled"),
            },
            "divider": color("border"),
        },
        "typography": {
            "fontFamily": _tok("font-family-sans"),
            "fontSize": _px("font-size-md"),
            "fontWeightRegular": int(_tok("font-weight-regular")),
            "fontWeightMedium": int(_tok("font-weight-medium")),
            "fontWeightBold": int(_tok("font-weight-semibold")),
            "h1": {"fontSize": _tok("font-size-2xl"), "fontWeight": int(_tok("font-weight-semibold"))},
            "h2": {"fontSize": _tok("font-size-xl"), "fontWeight": int(_tok("font-weight-semibold"))},
            "h3": {"fontSize": _tok("font-size-lg"), "fontWeight": int(_tok("font-weight-semibold"))},
            "button": {"textTransform": "none", "fontWeight": int(_tok("font-weight-semibold"))},
        },
        "shape": {"borderRadius": _px("radius-md")},
        "components": {
            "MuiButton": {"defaultProps": {"disableElevation": True}},
            "MuiPaper": {"defaultProps": {"elevation": 0}},
        },
    }


def theme_config() -> dict[str, Any]:
    """Return a Material UI theme for ``pn.ui`` / ``panel_material_ui.Page(theme_config=...)``."""
    return copy.deepcopy(_theme_config())


# --------------------------------------------------------------------------- HoloViews / Bokeh


_HV_ELEMENTS: Final = (
    "Curve",
    "Scatter",
    "Bars",
    "Area",
    "Histogram",
    "Spikes",
    "BoxWhisker",
    "HeatMap",
)
_HV_COLOR_CYCLED: Final = frozenset({"Curve", "Scatter", "Bars", "Area", "Histogram", "Spikes"})


@functools.cache
def _hv_options() -> dict[str, Any]:
    cycle = list(_tokens()["color"]["chart"]["categorical"])
    fontsize = {
        "title": _tok("font-size-md"),
        "labels": _tok("font-size-sm"),
        "xlabel": _tok("font-size-sm"),
        "ylabel": _tok("font-size-sm"),
        "xticks": _tok("font-size-xs"),
        "yticks": _tok("font-size-xs"),
        "legend": _tok("font-size-xs"),
    }
    common: dict[str, Any] = {
        "fontsize": fontsize,
        "show_grid": True,
        "gridstyle": {
            "grid_line_color": color("chart-grid"),
            "grid_line_width": 1,
            "grid_line_alpha": 1.0,
            "minor_grid_line_color": None,
        },
        "bgcolor": color("chart-background"),
        "toolbar": "above",
        "default_tools": ["save", "reset"],
        "tools": ["hover"],
        "active_tools": [],
        "responsive": True,
        "min_height": 280,
    }
    elements: dict[str, dict[str, Any]] = {}
    for name in _HV_ELEMENTS:
        opts = dict(common)
        if name in {"Curve", "Area"}:
            opts["line_width"] = 2
        if name in {"Bars", "Histogram"}:
            opts.update(line_color=color("chart-background"), fill_alpha=0.9)
        if name == "Area":
            opts["fill_alpha"] = 0.25
        if name == "Scatter":
            opts.update(size=7, alpha=0.85)
        if name == "BoxWhisker":
            opts.update(box_fill_color=color("primary-subtle"), box_line_color=color("primary"))
        if name == "HeatMap":
            opts.update(cmap=[color("surface"), color("primary-subtle"), color("primary")], colorbar=True)
            opts["show_grid"] = False
        elements[name] = opts
    text = {
        "text_font": _tok("font-family-sans"),
        "text_color": color("chart-label"),
    }
    bokeh_theme = {
        "attrs": {
            "Plot": {
                "background_fill_color": color("chart-background"),
                "border_fill_color": color("chart-background"),
                "outline_line_color": None,
            },
            "Axis": {
                "axis_line_color": color("chart-axis"),
                "major_tick_line_color": color("chart-axis"),
                "minor_tick_line_color": None,
                "axis_label_text_font": _tok("font-family-sans"),
                "axis_label_text_color": color("chart-label"),
                "axis_label_text_font_style": "normal",
                "axis_label_text_font_size": _tok("font-size-sm"),
                "major_label_text_font": _tok("font-family-sans"),
                "major_label_text_color": color("chart-label"),
                "major_label_text_font_size": _tok("font-size-xs"),
            },
            "Grid": {"grid_line_color": color("chart-grid"), "minor_grid_line_color": None},
            "Title": {
                "text_font": _tok("font-family-sans"),
                "text_color": color("chart-title"),
                "text_font_size": _tok("font-size-md"),
                "text_font_style": "bold",
            },
            "Legend": {
                "label_text_font": text["text_font"],
                "label_text_color": color("text"),
                "label_text_font_size": _tok("font-size-xs"),
                "background_fill_alpha": 0.9,
                "border_line_color": color("border"),
            },
            "Text": text,
        }
    }
    return {
        "cycle": cycle,
        "color_cycled_elements": sorted(_HV_COLOR_CYCLED),
        "common": common,
        "elements": elements,
        "bokeh_theme": bokeh_theme,
    }


def hv_options() -> dict[str, Any]:
    """Return default HoloViews/Bokeh plot options derived from the tokens.

    Keys:

    * ``"cycle"`` - the categorical colour cycle (wrap in ``hv.Cycle(values=...)``);
    * ``"color_cycled_elements"`` - element names whose ``color`` should use that cycle;
    * ``"common"`` - plot options shared by every element (``fontsize``, ``gridstyle``,
      ``show_grid``, ``bgcolor``, toolbar, responsive sizing);
    * ``"elements"`` - ``{"Curve": {...}, "Bars": {...}, ...}`` ready for
      ``hv.opts.<Element>(**opts)``;
    * ``"bokeh_theme"`` - Bokeh theme JSON (fonts, axis and grid colours) for
      ``bokeh.themes.Theme(json=...)``.

    :func:`apply_hv_defaults` wires all of it into HoloViews in one call.
    """
    return copy.deepcopy(_hv_options())


def apply_hv_defaults() -> None:
    """Install :func:`hv_options` as HoloViews' Bokeh defaults (idempotent).

    HoloViews is imported lazily so that importing ``tokens`` stays cheap.
    """
    hv = importlib.import_module("holoviews")
    importlib.import_module("holoviews.plotting.bokeh")  # registers the Bokeh backend
    if hv.Store.current_backend != "bokeh":
        hv.Store.set_current_backend("bokeh")
    themes = importlib.import_module("bokeh.themes")
    options = hv_options()
    cycle = hv.Cycle(values=options["cycle"])
    cycled = set(options["color_cycled_elements"])
    defaults = {
        name: {**opts, "color": cycle} if name in cycled else opts for name, opts in options["elements"].items()
    }
    hv.opts.defaults(defaults, backend="bokeh")
    hv.renderer("bokeh").theme = themes.Theme(json=options["bokeh_theme"])
