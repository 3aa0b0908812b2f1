"""Charts and their code rows: what the validation service reads, the Synthea import writes, and the
coder workflow (queue, chart, codes, assignment, workload) reads and changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import exc, text

from app.errors import ValidationFailed
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
        "SELECT c.id, c.version, c.patient_age_years, c.patient_sex, c.record_type, c.discharged_alive, "
        "c.encounter_start, c.encounter_end FROM charts AS c WHERE c.id = :id",
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
            "SELECT cc.id, cc.kind, cc.code_system, cc.code, cc.sequence, cc.is_principal, cc.override_rationale "
            "FROM chart_codes AS cc WHERE cc.chart_id = :id ORDER BY cc.kind, cc.sequence",
            {"id": chart_id},
        )
    ]


# -- Synthea import -------------------------------------------------------------------------------

_IMPORT_COLUMNS = (
    "id uuid, source_patient_id text, source_encounter_id text, patient_age_years integer, patient_sex text, "
    "record_type text, discharged_alive boolean, encounter_class text, encounter_type text, "
    "encounter_reason text, encounter_start timestamptz, encounter_end timestamptz, provider_name text, "
    "facility_name text, specialty text, difficulty smallint, payload jsonb, clinical_note text"
)
_IMPORT_NAMES = ", ".join(c.split()[0] for c in _IMPORT_COLUMNS.split(", "))


def insert_imported(scope: Scope, *, rows_json: bytes, import_job_id: UUID | None) -> dict[str, UUID]:
    """Insert one file's charts in one statement; returns ``{source_encounter_id: chart id}`` of the
    rows actually created.

    ``rows_json`` is a JSON array of objects with the ``_IMPORT_COLUMNS`` keys. An encounter this
    organisation already has (the natural key ``charts_source_encounter_uq``) is left untouched
    and not returned, so a re-import creates nothing and the caller counts it as skipped — also
    when two imports of the same file race: the second waits on the unique index, then skips.
    """
    statement = text(
        f"""INSERT INTO charts (org_id, import_job_id, {_IMPORT_NAMES})
                SELECT :org, :job, {", ".join(f"r.{n}" for n in _IMPORT_NAMES.split(", "))}
                  FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({_IMPORT_COLUMNS})
                ON CONFLICT ON CONSTRAINT charts_source_encounter_uq DO NOTHING
                RETURNING source_encounter_id, id"""
    )
    params = {"org": scope.require_org(), "job": import_job_id, "rows": rows_json.decode()}
    try:
        with scope.conn.begin_nested():
            return {str(r[0]): r[1] for r in scope.conn.execute(statement, params)}
    except (exc.DataError, exc.IntegrityError) as err:
        # A value PostgreSQL refuses (a check constraint, an unstorable character): the file's
        # fault, reported for that file; the savepoint leaves the caller's transaction usable.
        raise ValidationFailed(f"the database refused a chart ({type(err.orig).__name__})") from err
