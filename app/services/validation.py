"""Validate a stored chart's codes and keep the findings for the coding page and the metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from app.codesets.types import Sex
from app.errors import ValidationFailed
from app.validation import ChartInput, DiagnosisRow, ProcedureRow, RecordType, ValidationResult, default_engine
from app.validation.engine import Engine
from app.validation.model import setting_for
from datalayer.queries import charts, validation_results
from datalayer.scope import Scope

_SEXES: dict[str | None, Sex] = {"M": "M", "F": "F"}


def chart_input(scope: Scope, chart_id: UUID) -> tuple[charts.ChartContext, ChartInput]:
    """The engine's view of a stored chart: context from `charts`, rows from `chart_codes`."""
    ctx = charts.get_context(scope, chart_id)
    if ctx.patient_age_years is None:
        raise ValidationFailed("The chart has no patient age, so age-dependent edits cannot run.")
    when = ctx.encounter_end or ctx.encounter_start or datetime.now(UTC)
    codes = charts.list_codes(scope, chart_id)
    return ctx, ChartInput(
        id=str(chart_id),
        age=ctx.patient_age_years,
        sex=_SEXES.get(ctx.patient_sex, "U"),
        discharge_date=when.date(),
        record_type=RecordType(ctx.record_type),
        discharged_alive=ctx.discharged_alive is not False,
        setting=setting_for(ctx.encounter_class),
        diagnoses=tuple(
            DiagnosisRow(c.code, c.is_principal, c.override_rationale) for c in codes if c.kind == "diagnosis"
        ),
        procedures=tuple(
            ProcedureRow(c.code, "ICD-10-PCS" if c.code_system == "ICD-10-PCS" else "other", c.override_rationale)
            for c in codes
            if c.kind == "procedure"
        ),
    )


def validate_chart(scope: Scope, chart_id: UUID, *, engine: Engine | None = None) -> ValidationResult:
    """Run the engine over the chart's current codes and store the findings for its version.

    Runs inside the caller's tenant scope (RLS applies); the findings replace any stored for the
    same chart version, earlier versions stay as history.
    """
    ctx, chart = chart_input(scope, chart_id)
    result = (engine or default_engine()).validate(chart)
    validation_results.replace_for_version(
        scope,
        org_id=scope.require_org(),
        chart_id=chart_id,
        chart_version=ctx.version,
        findings=[
            {
                "rule_id": f.rule_id,
                "category": f.category.value,
                "severity": f.severity.value,
                "rows": list(f.rows),
                "procedure_rows": list(f.procedure_rows),
                "message": f.message,
                "guideline_ref": f.guideline_ref,
                "overridable": f.overridable,
                "overridden": f.overridden,
                "code_set_version": result.code_set_version,
            }
            for f in result.findings
        ],
    )
    return result
