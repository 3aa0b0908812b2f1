"""The coding page's working state, without Panel: the code rows on screen, the edits a coder makes
to them, and what the validation engine says about them, mapped onto the rows.

The grid in the browser sends one message per edit (``apply``); rows keep a stable ``uid`` while
they move, so findings, supervisor notes and focus follow a row, not a position. Row numbers are
1-based within each kind (diagnoses, procedures), as the engine and ``chart_codes.sequence`` count
them. Nothing here touches the database: ``to_inputs`` is what the page hands to
``app.services.charts.save_codes``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from app.codesets.types import SearchHit, Sex
from app.services.chart_types import ChartView, CodeKind, CodeRowInput, CodeSystem, Review
from app.validation import ChartInput, DiagnosisRow, Finding, ProcedureRow, RecordType, ValidationResult
from app.validation.model import Level, setting_for

MAX_ROWS_PER_KIND: Final = 100  # the service's limit too
MAX_TEXT: Final = 2000
CODE_RE: Final = re.compile(r"[A-Z0-9][A-Z0-9.\-]{0,15}")  # what save_codes accepts
_UID_RE: Final = re.compile(r"[A-Za-z0-9-]{1,64}")
_SEXES: Final[dict[str | None, Sex]] = {"M": "M", "F": "F"}
# Chart-level summaries the engine pins on rows: shown in the summary bar, not on every row.
_CHART_LEVEL_RULES: Final = frozenset({"R-COM-01", "R-COM-02"})
_RANK: Final = {Level.ERROR: 0, Level.WARNING: 1, Level.INFO: 2}
VERDICTS: Final = {
    "wrong_code": "Wrong code",
    "wrong_sequence": "Wrong sequence",
    "not_supported": "Not supported by the documentation",
    "should_not_code": "Should not be coded",
    "missing": "Missing code",
    "extra": "Extra code: remove it",
}

Op = Literal["none", "rows", "text", "override"]


@dataclass(slots=True)
class CodeRow:
    uid: str
    kind: CodeKind
    code: str
    code_system: CodeSystem
    description: str = ""
    known: bool = False
    billable: bool = False
    rationale: str = ""
    override_rationale: str = ""
    principal: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "kind": self.kind,
            "code": self.code,
            "description": self.description,
            "known": self.known,
            "billable": self.billable,
            "rationale": self.rationale,
            "override_rationale": self.override_rationale,
            "principal": self.principal,
        }


@dataclass(frozen=True, slots=True)
class CodeFacts:
    """How a typed code reads in its code set: display spelling, title, and whether it is reportable."""

    code: str
    description: str
    known: bool
    billable: bool
    code_system: CodeSystem


def describe(kind: CodeKind, typed: str) -> CodeFacts:
    """Normalise a typed code ("e119" -> "E11.9") and look up its title in the default code sets."""
    raw = typed.strip().upper()
    if kind == "diagnosis":
        from app.codesets.icd10cm import default_codeset

        info = default_codeset().lookup(raw)
        if info is not None and info.kind in ("category", "subcategory", "code"):
            return CodeFacts(info.code, info.description, True, info.billable, "ICD-10-CM")
        return CodeFacts(raw, "", False, False, "ICD-10-CM")
    from app.codesets.pcs import default_pcs

    key = raw.replace(".", "").replace(" ", "")
    title = default_pcs().description(key)
    return CodeFacts(key if title else raw, title or "", title is not None, title is not None, "ICD-10-PCS")


def search_codes(kind: CodeKind, query: str, limit: int = 12) -> list[SearchHit]:
    """Autocomplete hits: ICD-10-CM by code or words for diagnoses, ICD-10-PCS for procedures."""
    if kind == "diagnosis":
        from app.codesets.icd10cm import default_codeset

        return default_codeset().search(query, limit)
    from app.codesets.pcs_search import default_pcs_search

    return default_pcs_search().search(query, limit)


@dataclass(frozen=True, slots=True)
class Readiness:
    """Whether the coder may submit, and in plain words what is still missing."""

    can_submit: bool
    blocking: int
    missing_rationale: int
    reasons: tuple[str, ...]


@dataclass(slots=True)
class Annotations:
    """The engine's findings and the supervisor's notes, arranged for the screen."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # uid -> note for that row
    chart: list[Finding] = field(default_factory=list)  # findings naming no row (or the whole chart)


class Workspace:
    """The rows being coded on one chart for one page session.

    Edits replace ``rows`` with a new list rather than changing it in place, so a reader in another
    thread (a save on the event loop while an edit is applied) always iterates one whole version.
    """

    def __init__(self, view: ChartView) -> None:
        self.view = view
        self.version = view.version
        self.rows: list[CodeRow] = []
        self.stored_ids: dict[str, uuid.UUID] = {}
        for stored in view.codes:
            uid = str(uuid.uuid4())
            kind: CodeKind = "procedure" if stored.kind == "procedure" else "diagnosis"
            facts = describe(kind, stored.code)
            self.rows.append(
                CodeRow(
                    uid=uid,
                    kind=kind,
                    code=stored.code,
                    code_system=_system(stored.code_system),
                    description=stored.description or facts.description,
                    known=facts.known,
                    billable=facts.billable,
                    rationale=stored.rationale or "",
                    override_rationale=stored.override_rationale or "",
                    principal=stored.is_principal,
                )
            )
            self.stored_ids[uid] = stored.id
        self.revision = 0
        self.saved_revision = 0
        self.removed: tuple[int, CodeRow] | None = None
        self.review_notes = review_notes(view.review, self.stored_ids)

    # -- reading ------------------------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        return self.revision != self.saved_revision

    def of_kind(self, kind: CodeKind) -> list[CodeRow]:
        return [r for r in self.rows if r.kind == kind]

    def find(self, uid: str) -> CodeRow | None:
        return next((r for r in self.rows if r.uid == uid), None)

    def rows_json(self) -> list[dict[str, Any]]:
        return [r.as_json() for r in self.rows]

    def chart_input(self) -> ChartInput | None:
        """The engine's view of the rows on screen; None when the chart has no patient age."""
        view = self.view
        if view.patient_age_years is None:
            return None
        when = view.encounter_end or view.encounter_start or datetime.now(UTC)
        return ChartInput(
            id=str(view.id),
            age=view.patient_age_years,
            sex=_SEXES.get(view.patient_sex, "U"),
            discharge_date=when.date(),
            record_type=RecordType(view.record_type),
            discharged_alive=view.discharged_alive is not False,
            setting=setting_for(view.encounter_class),
            diagnoses=tuple(
                DiagnosisRow(r.code, r.principal, r.override_rationale.strip() or None)
                for r in self.of_kind("diagnosis")
            ),
            procedures=tuple(
                ProcedureRow(
                    r.code,
                    "ICD-10-PCS" if r.code_system == "ICD-10-PCS" else "other",
                    r.override_rationale.strip() or None,
                )
                for r in self.of_kind("procedure")
            ),
        )

    def to_inputs(self) -> list[CodeRowInput]:
        return [
            CodeRowInput(
                kind=r.kind,
                code=r.code,
                rationale=r.rationale.strip(),
                override_rationale=r.override_rationale.strip() or None,
                is_principal=r.principal and r.kind == "diagnosis",
                code_system=r.code_system,
            )
            for r in self.rows
        ]

    # -- edits --------------------------------------------------------------------------------------

    def apply(self, msg: Mapping[str, Any]) -> Op:
        """Apply one edit from the grid. Returns what changed: "rows" (codes, order or principal:
        re-validate and send the rows back), "override" (an override rationale: re-validate),
        "text" (a rationale: nothing to re-validate) or "none" (ignored: unknown row or bad input).
        """
        action = msg.get("op")
        uid = msg.get("uid")
        uid = uid if isinstance(uid, str) and _UID_RE.fullmatch(uid) else None
        changed: Op = "none"
        if action == "add":
            changed = self._add(msg.get("kind"), msg.get("code"), uid)
        elif action == "replace" and uid is not None:
            changed = self._replace(uid, msg.get("code"))
        elif action == "delete" and uid is not None:
            changed = self._delete(uid)
        elif action == "undo":
            changed = self._undo()
        elif action == "move" and uid is not None:
            changed = self._move(uid, msg.get("index"))
        elif action == "principal" and uid is not None:
            changed = self._principal(uid)
        elif action == "text" and uid is not None:
            changed = self._text(uid, msg.get("field"), msg.get("value"))
        if changed != "none":
            self.revision += 1
        return changed

    def _add(self, kind: object, code: object, uid: str | None) -> Op:
        if kind not in ("diagnosis", "procedure") or not isinstance(code, str):
            return "none"
        kind_: CodeKind = "procedure" if kind == "procedure" else "diagnosis"
        facts = describe(kind_, code)
        if not CODE_RE.fullmatch(facts.code) or len(self.of_kind(kind_)) >= MAX_ROWS_PER_KIND:
            return "none"
        if uid is None or self.find(uid) is not None:
            uid = str(uuid.uuid4())
        principal = kind_ == "diagnosis" and not any(r.principal for r in self.rows)
        row = CodeRow(
            uid=uid,
            kind=kind_,
            code=facts.code,
            code_system=facts.code_system,
            description=facts.description,
            known=facts.known,
            billable=facts.billable,
            principal=principal,
        )
        self._insert(row, len(self.of_kind(kind_)))
        return "rows"

    def _replace(self, uid: str, code: object) -> Op:
        row = self.find(uid)
        if row is None or not isinstance(code, str):
            return "none"
        facts = describe(row.kind, code)
        if not CODE_RE.fullmatch(facts.code):
            return "none"
        row.code, row.code_system, row.description = facts.code, facts.code_system, facts.description
        row.known, row.billable = facts.known, facts.billable
        return "rows"

    def _delete(self, uid: str) -> Op:
        row = self.find(uid)
        if row is None:
            return "none"
        index = self.of_kind(row.kind).index(row)
        self.rows = [r for r in self.rows if r is not row]
        self.removed = (index, row)
        return "rows"

    def _undo(self) -> Op:
        if self.removed is None:
            return "none"
        index, row = self.removed
        self.removed = None
        if self.find(row.uid) is not None or len(self.of_kind(row.kind)) >= MAX_ROWS_PER_KIND:
            return "none"
        if row.principal and any(r.principal for r in self.rows):
            row.principal = False
        self._insert(row, index)
        return "rows"

    def _move(self, uid: str, index: object) -> Op:
        row = self.find(uid)
        if row is None or not isinstance(index, int) or isinstance(index, bool):
            return "none"
        same = self.of_kind(row.kind)
        target = max(0, min(index, len(same) - 1))
        if same.index(row) == target:
            return "none"
        self.rows = [r for r in self.rows if r is not row]
        self._insert(row, target)
        return "rows"

    def _principal(self, uid: str) -> Op:
        row = self.find(uid)
        if row is None or row.kind != "diagnosis" or row.principal:
            return "none"
        for other in self.rows:
            other.principal = other is row
        return "rows"

    def _text(self, uid: str, name: object, value: object) -> Op:
        row = self.find(uid)
        if row is None or not isinstance(value, str) or name not in ("rationale", "override_rationale"):
            return "none"
        text = value[:MAX_TEXT]
        if name == "rationale":
            if row.rationale == text:
                return "none"
            row.rationale = text
            return "text"
        if row.override_rationale == text:
            return "none"
        was_set = bool(row.override_rationale.strip())
        row.override_rationale = text
        # Only whether an override is present changes the findings; its wording does not.
        return "override" if was_set != bool(text.strip()) else "text"

    def _insert(self, row: CodeRow, index: int) -> None:
        """Put ``row`` at ``index`` among its kind; diagnoses always precede procedures."""
        same = [r for r in self.rows if r.kind == row.kind]
        same.insert(max(0, min(index, len(same))), row)
        other = [r for r in self.rows if r.kind != row.kind]
        self.rows = [*same, *other] if row.kind == "diagnosis" else [*other, *same]

    def mark_saved(self, version: int, revision: int) -> None:
        """The rows as they were at ``revision`` are stored as ``version``."""
        self.version = version
        self.saved_revision = revision

    # -- findings -----------------------------------------------------------------------------------

    def annotate(self, result: ValidationResult | None) -> Annotations:
        out = Annotations()
        dx = [r.uid for r in self.of_kind("diagnosis")]
        px = [r.uid for r in self.of_kind("procedure")]
        per_row: dict[str, list[Finding]] = {r.uid: [] for r in self.rows}
        badges: dict[str, list[str]] = {r.uid: [] for r in self.rows}
        # One override field per overridable finding, on the last row it names (any named row's
        # rationale clears it, so asking on each would only repeat the question).
        override_on: set[str] = set()
        for finding in result.findings if result is not None else ():
            uids = [dx[n - 1] for n in finding.rows if 0 < n <= len(dx)]
            uids += [px[n - 1] for n in finding.procedure_rows if 0 < n <= len(px)]
            if finding.rule_id == "R-DRG-01":
                level = "MCC" if finding.message.rstrip(".").endswith("MCC") else "CC"
                for uid in uids:
                    badges[uid].append(level)
                continue
            if finding.rule_id == "R-DRG-03" and finding.message.startswith("MS-DRG "):
                continue  # the grouping itself is in the summary bar
            if not uids or finding.rule_id in _CHART_LEVEL_RULES:
                out.chart.append(finding)
                continue
            for uid in uids:
                per_row[uid].append(finding)
            if finding.overridable and finding.severity is Level.ERROR:
                override_on.add(uids[-1])
        for row in self.rows:
            found = sorted(per_row[row.uid], key=lambda f: (_RANK[f.severity], f.rule_id))
            audit = self.review_notes.get(row.uid, [])
            out.rows[row.uid] = {
                "level": _level(found),
                "findings": [
                    {
                        "severity": f.severity.value,
                        "rule_id": f.rule_id,
                        "message": f.message,
                        "ref": f.guideline_ref,
                        "overridden": f.overridden,
                    }
                    for f in found
                ],
                "overridable": row.uid in override_on or bool(row.override_rationale.strip()),
                "badges": badges[row.uid],
                "audit": [{"text": text} for text in audit],
            }
        return out

    def readiness(self, result: ValidationResult | None, *, editable: bool) -> Readiness:
        reasons: list[str] = []
        blocking = result.summary.blocking if result is not None else 0
        missing = sum(1 for r in self.rows if not r.rationale.strip())
        if not editable:
            return Readiness(False, blocking, missing, ("This chart is read-only for you.",))
        if not self.of_kind("diagnosis"):
            reasons.append("Add the principal diagnosis.")
            if not self.rows:
                return Readiness(False, blocking, missing, tuple(reasons))
        if result is None and self.chart_input() is not None:
            reasons.append("Checking the codes…")
        if blocking:
            reasons.append(f"Fix or override {blocking} error{'s' if blocking != 1 else ''}.")
        if missing:
            reasons.append(f"Write a rationale on {missing} row{'s' if missing != 1 else ''}.")
        return Readiness(not reasons, blocking, missing, tuple(reasons))


def _system(value: str) -> CodeSystem:
    return "ICD-10-PCS" if value == "ICD-10-PCS" else "other" if value == "other" else "ICD-10-CM"


def _level(findings: Iterable[Finding]) -> str:
    found = list(findings)
    if any(f.blocking for f in found):
        return "error"
    if any(f.severity is Level.ERROR and f.overridden for f in found):
        return "overridden"
    if any(f.severity is Level.WARNING for f in found):
        return "warning"
    return "info" if found else "ok"


def review_notes(review: Review | None, stored_ids: Mapping[str, uuid.UUID]) -> dict[str, list[str]]:
    """The supervisor's findings on the rows they concern (uid -> sentences); 'correct' is left out."""
    if review is None:
        return {}
    by_id = {stored: uid for uid, stored in stored_ids.items()}
    notes: dict[str, list[str]] = {}
    for finding in review.findings:
        uid = by_id.get(finding.chart_code_id) if finding.chart_code_id else None
        if uid is None or finding.verdict == "correct":
            continue
        notes.setdefault(uid, []).append(verdict_text(finding.verdict, finding.expected_code, finding.note))
    return notes


def verdict_text(verdict: str, expected: str | None, note: str | None) -> str:
    text = VERDICTS.get(verdict, verdict.replace("_", " ").capitalize())
    if expected:
        text += f"; expected {expected}"
    return f"{text}. {note.strip()}" if note and note.strip() else f"{text}."
