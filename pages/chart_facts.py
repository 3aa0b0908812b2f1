"""The chart as a coder reads it: patient, encounter and the imported clinical facts, as HTML.

Reads the payload the Synthea import stores (``app.fhir.charts``, schema 1): conditions with their
SNOMED code and display, procedures, observations (vitals, labs, the rest), medications,
immunizations, the conditions active at the time and the allergies known by then, and the
decoded clinical note. Sections are native ``<details>``: collapsible by mouse and keyboard with
no server round trip. Every value goes through ``html.escape``.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from app.services.chart_types import ChartStatus, ChartView

CLASS_LABELS: Final = {
    "AMB": "Ambulatory",
    "IMP": "Inpatient",
    "EMER": "Emergency",
    "ACUTE": "Inpatient acute",
    "NONAC": "Inpatient non-acute",
    "OBSENC": "Observation",
    "PRENC": "Pre-admission",
    "SS": "Short stay",
    "VR": "Virtual",
    "HH": "Home health",
    "FLD": "Field",
}
STATUS_LABELS: Final = {
    ChartStatus.DRAFT: "Draft",
    ChartStatus.RETURNED: "Returned",
    ChartStatus.PENDING_AUDIT: "Waiting for audit",
    ChartStatus.COMPLETED: "Completed",
}
SEX_LABELS: Final = {"F": "Female", "M": "Male", "U": "Sex unknown"}
_UNITS: Final = {"mm[Hg]": "mmHg", "{score}": "", "[lb_av]": "lb", "kg/m2": "kg/m²", "Cel": "°C", "/min": "/min"}
_VITALS_ORDER: Final = ("85354-9", "8867-4", "9279-1", "8310-5", "59408-5", "2708-6", "29463-7", "8302-2", "39156-5")
# Short tile labels for the vitals Synthea records (LOINC code -> label); the full display is the tooltip.
_VITAL_LABELS: Final = {
    "8867-4": "Heart rate",
    "9279-1": "Respiratory rate",
    "8310-5": "Temperature",
    "59408-5": "SpO₂",
    "2708-6": "SpO₂ (arterial)",
    "29463-7": "Weight",
    "8302-2": "Height",
    "39156-5": "BMI",
    "59576-9": "BMI percentile",
    "72514-3": "Pain (0-10)",
    "9843-4": "Head circumference",
    "8289-1": "Head circ. percentile",
    "77606-2": "Weight-for-length %ile",
}

CSS: Final = """
:host { display: block; }
.cf { font-family: var(--app-font-family-sans); font-size: var(--app-font-size-sm); color: var(--app-color-text);
  line-height: var(--app-font-line-height-snug); }
.cf-card { background: var(--app-color-surface); border: var(--app-size-border-width) solid var(--app-color-border);
  border-radius: var(--app-radius-lg); padding: var(--app-space-3) var(--app-space-4); }
.cf-card + .cf-card { margin-top: var(--app-space-3); }
.cf-kv { display: grid; grid-template-columns: 92px minmax(0, 1fr); gap: 3px var(--app-space-3); margin: 0; }
.cf-kv dt { color: var(--app-color-text-muted); }
.cf-kv dd { margin: 0; overflow-wrap: anywhere; }
.cf-lead { font-size: var(--app-font-size-md); font-weight: var(--app-font-weight-semibold); margin: 0 0 var(--app-space-2); }
details { border-top: var(--app-size-border-width) solid var(--app-color-border-muted); }
details:first-of-type { border-top: 0; }
summary { display: flex; align-items: baseline; gap: var(--app-space-2); padding: 7px 0; cursor: pointer; list-style: none;
  font-weight: var(--app-font-weight-semibold); border-radius: var(--app-radius-sm); }
summary::-webkit-details-marker { display: none; }
summary::before { content: "\\25B8"; color: var(--app-color-text-subtle); font-size: 10px; width: 10px; transition: transform var(--app-motion-duration-fast); }
details[open] > summary::before { transform: rotate(90deg); }
summary:focus-visible { outline: var(--app-size-focus-ring-width) solid var(--app-color-focus-ring); outline-offset: 2px; }
.cf-count { color: var(--app-color-text-muted); font-weight: var(--app-font-weight-regular); font-size: var(--app-font-size-xs); }
.cf-list { list-style: none; margin: 0 0 var(--app-space-2); padding: 0; display: grid; gap: 2px; }
.cf-item { display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: 0 var(--app-space-2); padding: 3px 0; }
.cf-item__main { min-width: 0; }
.cf-item__side { color: var(--app-color-text-muted); font-size: var(--app-font-size-xs); text-align: right; white-space: nowrap; }
.cf-item__sub { grid-column: 1 / -1; color: var(--app-color-text-muted); font-size: var(--app-font-size-xs); }
.cf-code { font-family: var(--app-font-family-mono); font-size: var(--app-font-size-xs); color: var(--app-color-text-muted); }
.cf-tag { display: inline-block; font-size: 11px; line-height: 15px; padding: 0 5px; margin-left: 4px; border-radius: var(--app-radius-pill);
  border: var(--app-size-border-width) solid var(--app-color-border); color: var(--app-color-text-muted); background: var(--app-color-surface-sunken); vertical-align: 1px; }
.cf-tag--disorder { color: var(--app-color-danger); background: var(--app-color-danger-subtle); border-color: var(--app-color-danger-border); }
.cf-tag--resolved { color: var(--app-color-text-muted); }
.cf-vitals { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: var(--app-space-2); margin: 0 0 var(--app-space-2); }
.cf-vital { background: var(--app-color-surface-sunken); border-radius: var(--app-radius-md); padding: 6px var(--app-space-2); min-width: 0; }
.cf-vital__label { display: block; color: var(--app-color-text-muted); font-size: var(--app-font-size-xs); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.cf-vital__value { font-weight: var(--app-font-weight-semibold); font-variant-numeric: tabular-nums; }
.cf-vital__unit { color: var(--app-color-text-muted); font-size: var(--app-font-size-xs); margin-left: 2px; }
.cf-table { width: 100%; border-collapse: collapse; margin: 0 0 var(--app-space-2); font-variant-numeric: tabular-nums; }
.cf-table td { padding: 2px 0; border-bottom: var(--app-size-border-width) solid var(--app-color-border-muted); vertical-align: baseline; }
.cf-table td:last-child { text-align: right; white-space: nowrap; padding-left: var(--app-space-3); }
.cf-note { white-space: pre-wrap; font-family: var(--app-font-family-sans); margin: 0 0 var(--app-space-2); padding: var(--app-space-3);
  background: var(--app-color-surface-sunken); border-radius: var(--app-radius-md); max-height: 420px; overflow: auto;
  line-height: var(--app-font-line-height-normal); }
.cf-empty { color: var(--app-color-text-muted); margin: 0 0 var(--app-space-2); }
.cf-sub { margin: var(--app-space-2) 0 4px; font-size: var(--app-font-size-xs); font-weight: var(--app-font-weight-semibold);
  color: var(--app-color-text-muted); text-transform: uppercase; letter-spacing: var(--app-font-letter-spacing-wide); }
"""


def e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _when(raw: Any, *, time: bool = False) -> str:
    if isinstance(raw, datetime):
        moment = raw
    else:
        try:
            moment = datetime.fromisoformat(str(raw))
        except ValueError:
            return e(raw) if raw else "—"
    return moment.strftime("%d %b %Y %H:%M" if time else "%d %b %Y")


def _duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None or end < start:
        return ""
    minutes = int((end - start).total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return e(value)
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"


def _unit(unit: Any) -> str:
    text = "" if unit is None else str(unit)
    return _UNITS.get(text, text)


def _text(fact: Mapping[str, Any]) -> str:
    return str(fact.get("text") or fact.get("display") or fact.get("code") or "Unnamed")


def _section(title: str, count: int, body: str, *, open_: bool = False, key: str = "") -> str:
    flag = " open" if open_ else ""
    return (
        f'<details class="cf-section cf-section--{e(key)}"{flag}><summary>{e(title)}'
        f'<span class="cf-count">{count}</span></summary>{body}</details>'
    )


def _empty(text: str) -> str:
    return f'<p class="cf-empty">{e(text)}</p>'


def age_text(view: ChartView) -> str:
    """Age at the encounter: years, or days for an infant (newborn edits read days)."""
    days = ((view.payload or {}).get("patient") or {}).get("age_days")
    if view.patient_age_years == 0 and isinstance(days, int):
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{view.patient_age_years} y" if view.patient_age_years is not None else "age unknown"


def header_html(view: ChartView) -> str:
    """Patient and encounter: the facts every code depends on, always visible."""
    payload = view.payload or {}
    encounter = payload.get("encounter") or {}
    sex = SEX_LABELS.get(view.patient_sex or "U", "Sex unknown")
    age = age_text(view)
    alive = {True: "Alive at discharge", False: "Died during the encounter", None: "Discharge status unknown"}[
        view.discharged_alive
    ]
    klass = CLASS_LABELS.get(view.encounter_class or "", view.encounter_class or "Encounter")
    span = _duration(view.encounter_start, view.encounter_end)
    dates = f"{_when(view.encounter_start, time=True)} → {_when(view.encounter_end, time=True)}"
    rows = [
        ("Patient", f"{e(sex)} · {e(age)} · {e(alive)}"),
        ("Encounter", f"{e(klass)} · {e(view.encounter_type or '—')}"),
        ("Reason", e(view.encounter_reason or "None recorded")),
        ("Dates", f"{e(dates)}{f' ({e(span)})' if span else ''}"),
        ("Provider", e(view.provider_name or "—")),
        ("Facility", e(view.facility_name or "—")),
        (
            "Work",
            f"{e(view.specialty or 'General')} · difficulty {e(view.difficulty or '—')}/5 · "
            f"{e(view.record_type)} record",
        ),
    ]
    if encounter.get("discharge"):
        rows.insert(4, ("Discharge", e(_text(encounter["discharge"]))))
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return f'<div class="cf"><div class="cf-card cf-header"><dl class="cf-kv">{body}</dl></div></div>'


def _conditions(facts: Sequence[Mapping[str, Any]], *, since: bool = False) -> str:
    if not facts:
        return ""
    items = []
    for fact in facts:
        tag = str(fact.get("tag") or fact.get("kind") or "")
        status = str(fact.get("clinical_status") or "")
        side = f"since {_when(fact.get('onset'))}" if since else _when(fact.get("onset"))
        if status and status != "active":
            side = f"{status} · {side}"
        chips = f'<span class="cf-tag cf-tag--{e(tag)}">{e(tag)}</span>' if tag else ""
        items.append(
            '<li class="cf-item">'
            f'<span class="cf-item__main">{e(_text(fact))}{chips}</span>'
            f'<span class="cf-item__side">{e(side)}</span>'
            f'<span class="cf-item__sub">SNOMED <span class="cf-code">{e(fact.get("code"))}</span>'
            f" · {e(fact.get('display'))}</span></li>"
        )
    return f'<ul class="cf-list">{"".join(items)}</ul>'


def _procedures(facts: Sequence[Mapping[str, Any]]) -> str:
    items = []
    for fact in facts:
        reason = fact.get("reason") or {}
        why = reason.get("display") or reason.get("text") if isinstance(reason, Mapping) else None
        sub = f'SNOMED <span class="cf-code">{e(fact.get("code"))}</span>'
        if why:
            sub += f" · for {e(why)}"
        items.append(
            '<li class="cf-item">'
            f'<span class="cf-item__main">{e(_text(fact))}</span>'
            f'<span class="cf-item__side">{e(_when(fact.get("start"), time=True))}</span>'
            f'<span class="cf-item__sub">{sub}</span></li>'
        )
    return f'<ul class="cf-list">{"".join(items)}</ul>'


def _vital(fact: Mapping[str, Any]) -> tuple[str, str, str]:
    components = fact.get("components") or []
    if fact.get("code") == "85354-9" and components:
        by_code = {c.get("code"): c for c in components}
        systolic, diastolic = by_code.get("8480-6", {}), by_code.get("8462-4", {})
        value = f"{_number(systolic.get('value'))}/{_number(diastolic.get('value'))}"
        return "Blood pressure", value, _unit(systolic.get("unit"))
    label = _VITAL_LABELS.get(str(fact.get("code")), str(fact.get("display") or fact.get("code") or ""))
    return label.split(" [", maxsplit=1)[0], _number(fact.get("value")), _unit(fact.get("unit"))


def _observations(facts: Sequence[Mapping[str, Any]]) -> tuple[str, int]:
    vitals = [f for f in facts if f.get("category") == "vital-signs"]
    labs = [f for f in facts if f.get("category") == "laboratory"]
    others = [f for f in facts if f.get("category") not in ("vital-signs", "laboratory")]
    order = {code: i for i, code in enumerate(_VITALS_ORDER)}
    vitals.sort(key=lambda f: (order.get(str(f.get("code")), 99), str(f.get("display"))))
    parts = []
    if vitals:
        tiles = "".join(
            f'<div class="cf-vital" title="{e(f.get("display"))} (LOINC {e(f.get("code"))})">'
            f'<span class="cf-vital__label">{e(label)}</span><span class="cf-vital__value">{value}</span>'
            f'<span class="cf-vital__unit">{e(unit)}</span></div>'
            for f in vitals
            for label, value, unit in [_vital(f)]
        )
        parts.append(f'<div class="cf-vitals">{tiles}</div>')
    if labs:
        rows = "".join(
            f'<tr><td title="LOINC {e(f.get("code"))}">{e(str(f.get("display") or "").split(" [", maxsplit=1)[0])}</td>'
            f'<td>{_number(f.get("value"))} <span class="cf-code">{e(_unit(f.get("unit")))}</span></td></tr>'
            for f in labs
        )
        parts.append(f'<p class="cf-sub">Laboratory</p><table class="cf-table">{rows}</table>')
    if others:
        rows = "".join(_other_observation(f) for f in others)
        parts.append(f'<p class="cf-sub">Other observations</p><table class="cf-table">{rows}</table>')
    return "".join(parts), len(facts)


def _other_observation(fact: Mapping[str, Any]) -> str:
    components = fact.get("components") or []
    value = fact.get("value")
    shown = (
        f"{_number(value)} {e(_unit(fact.get('unit')))}".strip()
        if value is not None
        else f"{len(components)} answers"
        if components
        else "—"
    )
    return f'<tr><td title="LOINC {e(fact.get("code"))}">{e(fact.get("display"))}</td><td>{shown}</td></tr>'


def _medications(facts: Sequence[Mapping[str, Any]]) -> str:
    items = []
    for fact in facts:
        reason = fact.get("reason") or {}
        why = reason.get("display") or reason.get("text") if isinstance(reason, Mapping) else None
        sub = f'RxNorm <span class="cf-code">{e(fact.get("code"))}</span> · {e(fact.get("status") or "")}'
        if why:
            sub += f" · for {e(why)}"
        items.append(
            '<li class="cf-item">'
            f'<span class="cf-item__main">{e(_text(fact))}</span>'
            f'<span class="cf-item__side">{e(_when(fact.get("date")))}</span>'
            f'<span class="cf-item__sub">{sub}</span></li>'
        )
    return f'<ul class="cf-list">{"".join(items)}</ul>'


def _simple(facts: Iterable[Mapping[str, Any]], system: str) -> str:
    items = "".join(
        '<li class="cf-item">'
        f'<span class="cf-item__main">{e(_text(fact))}</span>'
        f'<span class="cf-item__side">{e(_when(fact.get("date")) if fact.get("date") else "")}</span>'
        f'<span class="cf-item__sub">{e(system)} <span class="cf-code">{e(fact.get("code"))}</span></span></li>'
        for fact in facts
    )
    return f'<ul class="cf-list">{items}</ul>'


def facts_html(view: ChartView) -> str:
    """The clinical facts recorded at the encounter, in collapsible sections."""
    payload = view.payload or {}
    conditions = list(payload.get("conditions") or [])
    procedures = list(payload.get("procedures") or [])
    observations = list(payload.get("observations") or [])
    medications = list(payload.get("medications") or [])
    immunizations = list(payload.get("immunizations") or [])
    context = payload.get("context") or {}
    active = list(context.get("conditions") or [])
    allergies = list(context.get("allergies") or [])
    observed, n_obs = _observations(observations)
    sections = [
        _section(
            "Conditions at this encounter",
            len(conditions),
            _conditions(conditions) or _empty("No conditions were recorded at this encounter."),
            open_=True,
            key="conditions",
        ),
        _section(
            "Procedures",
            len(procedures),
            _procedures(procedures) if procedures else _empty("No procedures were recorded."),
            open_=True,
            key="procedures",
        ),
        _section(
            "Observations and vitals",
            n_obs,
            observed or _empty("No observations were recorded."),
            open_=bool(observations) and len(observations) <= 30,
            key="observations",
        ),
        _section(
            "Medications",
            len(medications),
            _medications(medications) if medications else _empty("No medications were recorded."),
            open_=bool(medications),
            key="medications",
        ),
        _section(
            "Immunizations",
            len(immunizations),
            _simple(immunizations, "CVX") if immunizations else _empty("No immunizations were given."),
            key="immunizations",
        ),
        _section(
            "Conditions active at the time",
            len(active) + len(allergies),
            (_conditions(active, since=True) or _empty("No other active conditions."))
            + (f'<p class="cf-sub">Allergies</p>{_simple(allergies, "SNOMED")}' if allergies else ""),
            open_=bool(active) and len(active) <= 8,
            key="context",
        ),
        _section(
            "Clinical note",
            1 if view.clinical_note else 0,
            f'<pre class="cf-note">{e(view.clinical_note.strip())}</pre>'
            if view.clinical_note
            else _empty("No clinical note came with this encounter."),
            open_=True,
            key="note",
        ),
    ]
    return f'<div class="cf"><div class="cf-card cf-facts">{"".join(sections)}</div></div>'
