"""The values the chart services take and return (``app.services.charts``).

Seed ADR-016: a chart's status is one of exactly four values, ``ChartStatus``; there is no
"unassigned" or "in progress" status — an unassigned chart is a ``draft`` with no assignee, and a
chart being worked on is a ``draft`` (or ``returned``) assigned to a coder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Literal
from uuid import UUID

from app.validation import ValidationResult
from datalayer.queries.charts import ChartRecord, ChartSummary, CoderLoad, ReviewFinding, ReviewSummary, StoredCode
from datalayer.queries.validation_results import StoredFinding


class ChartStatus(StrEnum):
    """The only chart statuses (seed ADR-016; the ``charts_status_ck`` constraint says the same)."""

    DRAFT = "draft"
    PENDING_AUDIT = "pending_audit"
    COMPLETED = "completed"
    RETURNED = "returned"


# The assigned coder may change codes and submit only in these statuses.
EDITABLE_STATUSES: Final = frozenset({ChartStatus.DRAFT, ChartStatus.RETURNED})
# Charts a manager may (re)assign: not while a supervisor audits them, not once completed.
ASSIGNABLE_STATUSES: Final = frozenset({ChartStatus.DRAFT, ChartStatus.RETURNED})

CodeKind = Literal["diagnosis", "procedure"]
CodeSystem = Literal["ICD-10-CM", "ICD-10-PCS", "other"]
AssignMode = Literal["single", "round_robin"]

SORTS: Final = (
    "queue",  # returned first, then drafts, then submitted and completed; oldest first within each
    "created",
    "-created",
    "encounter",
    "-encounter",
    "difficulty",
    "-difficulty",
    "specialty",
    "status",
    "assignee",
    "updated",
    "-updated",
)
MAX_PAGE_SIZE: Final = 200


@dataclass(frozen=True)
class CodeRowInput:
    """One code row as the coder entered it; the list order is the entry order within each kind.

    A procedure sent with the default ``code_system`` ("ICD-10-CM") is stored as ICD-10-PCS.
    """

    kind: CodeKind
    code: str
    rationale: str = ""
    override_rationale: str | None = None
    is_principal: bool = False
    code_system: CodeSystem = "ICD-10-CM"


@dataclass(frozen=True)
class ChartPage:
    """One page of ``list_charts``.

    ``counts`` are per status over the same filters *except* ``status`` (so tabs can show how many
    each status has); ``total`` is the number of charts matching every filter.
    """

    items: list[ChartSummary]
    total: int
    page: int
    page_size: int
    counts: dict[str, int]
    sort: str

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


@dataclass(frozen=True)
class Review:
    """The latest decided supervisor audit of a chart, its findings and the training feedback."""

    summary: ReviewSummary
    findings: tuple[ReviewFinding, ...]


@dataclass(frozen=True)
class ChartView:
    """One chart as the coding page shows it.

    Row numbers: ``codes`` are diagnoses then procedures, each by ``sequence``; a finding's
    ``rows`` are 1-based diagnosis sequences, ``procedure_rows`` procedure sequences.
    ``findings`` are the stored validation findings of the current ``version``. ``editable`` is
    true only for the assigned coder while the status is draft or returned (seed ADR-016).
    """

    id: UUID
    status: ChartStatus
    version: int
    assignee_id: UUID | None
    assignee_name: str | None
    assigned_at: datetime | None
    submitted_at: datetime | None
    completed_at: datetime | None
    patient_age_years: int | None
    patient_sex: str | None
    discharged_alive: bool | None
    record_type: str
    encounter_class: str | None
    encounter_type: str | None
    encounter_reason: str | None
    encounter_start: datetime | None
    encounter_end: datetime | None
    provider_name: str | None
    facility_name: str | None
    specialty: str | None
    difficulty: int | None
    clinical_note: str | None
    payload: dict[str, Any]
    source_patient_id: str
    source_encounter_id: str
    import_job_id: UUID | None
    code_set_version: str | None
    created_at: datetime
    updated_at: datetime
    codes: tuple[StoredCode, ...]
    findings: tuple[StoredFinding, ...]
    review: Review | None
    editable: bool

    @property
    def diagnoses(self) -> tuple[StoredCode, ...]:
        return tuple(c for c in self.codes if c.kind == "diagnosis")

    @property
    def procedures(self) -> tuple[StoredCode, ...]:
        return tuple(c for c in self.codes if c.kind == "procedure")

    @classmethod
    def build(
        cls,
        record: ChartRecord,
        *,
        codes: list[StoredCode],
        findings: list[StoredFinding],
        review: Review | None,
        editable: bool,
    ) -> ChartView:
        return cls(
            **{name: getattr(record, name) for name in _RECORD_FIELDS},
            status=ChartStatus(record.status),
            codes=tuple(codes),
            findings=tuple(findings),
            review=review,
            editable=editable,
        )


_RECORD_FIELDS: Final = tuple(
    name for name in ChartView.__dataclass_fields__ if name not in {"status", "codes", "findings", "review", "editable"}
)


@dataclass(frozen=True)
class SaveResult:
    """What ``save_codes`` answers: the new version, the stored rows and the engine's result for them."""

    chart_id: UUID
    version: int
    codes: tuple[StoredCode, ...]
    result: ValidationResult

    @property
    def findings(self) -> tuple[Any, ...]:
        return self.result.findings

    @property
    def summary(self) -> Any:
        return self.result.summary


@dataclass(frozen=True)
class AssignResult:
    """``assigned`` maps each coder to the charts now assigned to them by this call (reassignments
    included); ``unchanged`` lists charts that already belonged to the coder chosen for them."""

    assigned: dict[UUID, list[UUID]] = field(default_factory=dict)
    reassigned: list[UUID] = field(default_factory=list)
    unchanged: list[UUID] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.assigned.values())


CoderWorkload = CoderLoad

__all__ = [
    "ASSIGNABLE_STATUSES",
    "EDITABLE_STATUSES",
    "MAX_PAGE_SIZE",
    "SORTS",
    "AssignMode",
    "AssignResult",
    "ChartPage",
    "ChartStatus",
    "ChartSummary",
    "ChartView",
    "CodeKind",
    "CodeRowInput",
    "CodeSystem",
    "CoderWorkload",
    "Review",
    "ReviewFinding",
    "ReviewSummary",
    "SaveResult",
    "StoredCode",
]
