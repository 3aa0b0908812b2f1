"""What the engine reads (a chart's code list and context) and what it answers (findings, summary).

Row numbers in findings are 1-based positions in the order the coder entered the codes, so the
UI, the API and the metrics all point at the same row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, Literal

from app.codesets.frozen import fast_init
from app.codesets.types import Sex


class Category(StrEnum):
    FORMAT = "format"
    SEQUENCING = "sequencing"
    COMORBIDITY = "comorbidity"


class Level(StrEnum):
    """Finding severity. Only unresolved errors block submission."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class RecordType(StrEnum):
    MATERNAL = "maternal"
    NEWBORN = "newborn"
    OTHER = "other"


class Setting(StrEnum):
    """Where the encounter happened. The MCE and MS-DRG are inpatient tools: an outpatient visit
    gets no admission edits (R-MCE-08) and Z codes may be first-listed (Guidelines Section IV)."""

    INPATIENT = "inpatient"
    OUTPATIENT = "outpatient"


# FHIR v3-ActCode encounter classes of an inpatient stay (Synthea uses IMP); everything else,
# including emergency (EMER) and ambulatory (AMB) visits, is outpatient.
_INPATIENT_CLASSES = frozenset({"IMP", "ACUTE", "NONAC", "INPATIENT"})


def setting_for(encounter_class: str | None) -> Setting:
    return Setting.INPATIENT if (encounter_class or "").upper() in _INPATIENT_CLASSES else Setting.OUTPATIENT


ProcedureSystem = Literal["ICD-10-PCS", "other"]


@dataclass(frozen=True, slots=True)
class DiagnosisRow:
    code: str
    principal: bool = False
    override_rationale: str | None = None


@dataclass(frozen=True, slots=True)
class ProcedureRow:
    code: str
    code_system: ProcedureSystem = "ICD-10-PCS"
    override_rationale: str | None = None


@dataclass(frozen=True, slots=True)
class ChartInput:
    """One encounter's codes and the context the rules need (CODING-RULES "Context a chart needs").

    `record_type` None means "not stated": record-type rules then stay silent rather than guess.
    `setting` defaults to inpatient, the setting the MCE and MS-DRG are defined for.
    """

    age: int
    sex: Sex
    discharge_date: date
    diagnoses: tuple[DiagnosisRow, ...]
    procedures: tuple[ProcedureRow, ...] = ()
    record_type: RecordType | None = None
    discharged_alive: bool = True
    id: Any = None
    setting: Setting = Setting.INPATIENT


@fast_init
@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    category: Category
    severity: Level
    rows: tuple[int, ...]
    message: str
    guideline_ref: str
    overridable: bool
    procedure_rows: tuple[int, ...] = ()
    overridden: bool = False

    @property
    def blocking(self) -> bool:
        return self.severity is Level.ERROR and not self.overridden

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule_id": self.rule_id,
            "category": self.category.value,
            "severity": self.severity.value,
            "rows": list(self.rows),
            "message": self.message,
            "guideline_ref": self.guideline_ref,
            "overridable": self.overridable,
        }
        if self.procedure_rows:
            out["procedure_rows"] = list(self.procedure_rows)
        if self.overridden:
            out["overridden"] = True
        return out


@fast_init
@dataclass(frozen=True, slots=True)
class Summary:
    errors: int
    warnings: int
    infos: int
    blocking: int
    overridden: int
    ms_drg: int | None = None
    drg_title: str | None = None
    drg_weight: float | None = None
    mdc: int | None = None
    grouper_version: str | None = None
    cc_count: int = 0
    mcc_count: int = 0
    charlson_index: int | None = None
    elixhauser_mortality: int | None = None
    charlson_age_adjusted: int | None = None
    notes: tuple[str, ...] = ()

    @property
    def can_submit(self) -> bool:
        return self.blocking == 0

    def as_json(self) -> dict[str, Any]:
        return {
            "errors": self.errors,
            "warnings": self.warnings,
            "infos": self.infos,
            "blocking": self.blocking,
            "overridden": self.overridden,
            "can_submit": self.can_submit,
            "ms_drg": self.ms_drg,
            "drg_title": self.drg_title,
            "drg_weight": self.drg_weight,
            "mdc": self.mdc,
            "grouper_version": self.grouper_version,
            "cc_count": self.cc_count,
            "mcc_count": self.mcc_count,
            "charlson_index": self.charlson_index,
            "elixhauser_mortality": self.elixhauser_mortality,
            "charlson_age_adjusted": self.charlson_age_adjusted,
            "notes": list(self.notes),
        }


@fast_init
@dataclass(frozen=True, slots=True)
class ValidationResult:
    id: Any
    code_set_version: str
    findings: tuple[Finding, ...]
    summary: Summary
    normalised: tuple[str | None, ...] = field(default=())

    def for_row(self, row: int) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if row in f.rows)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code_set_version": self.code_set_version,
            "findings": [f.as_json() for f in self.findings],
            "summary": self.summary.as_json(),
        }
