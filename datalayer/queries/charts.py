"""Charts and their code rows, as the validation service reads them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from datalayer.queries._util import one, rows
from datalayer.scope import Scope


@dataclass(frozen=True)
class ChartContext:
    """What the validation rules need to know about the encounter (CODING-RULES "Context")."""

    id: UUID
    version: int
    patient_age_years: int | None
    patient_sex: str | None
    record_type: str
    discharged_alive: bool | None
    encounter_start: datetime | None
    encounter_end: datetime | None


@dataclass(frozen=True)
class ChartCode:
    id: UUID
    kind: str
    code_system: str
    code: str
    sequence: int
    is_principal: bool
    override_rationale: str | None


def get_context(scope: Scope, chart_id: UUID) -> ChartContext:
    row = one(
        scope,
        "SELECT id, version, patient_age_years, patient_sex, record_type, discharged_alive, "
        "encounter_start, encounter_end FROM charts WHERE id = :id",
        {"id": chart_id},
        what="Chart",
    )
    return ChartContext(**row)


def list_codes(scope: Scope, chart_id: UUID) -> list[ChartCode]:
    """The chart's code rows in entry order: diagnoses then procedures, each by sequence."""
    return [
        ChartCode(**r)
        for r in rows(
            scope,
            "SELECT id, kind, code_system, code, sequence, is_principal, override_rationale "
            "FROM chart_codes WHERE chart_id = :id ORDER BY kind, sequence",
            {"id": chart_id},
        )
    ]
