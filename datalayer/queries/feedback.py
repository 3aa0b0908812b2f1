"""The coder's side of an audit, read: the feedback a coder received with its findings, and the
organisation's disputed findings waiting for a supervisor.

A coder's *feedback item* is one decided audit of their work that has something to say: training
feedback text (a ``feedback`` row) or at least one finding that is not ``correct``. An approval
with findings but no text is listed too (there is then nothing to acknowledge, but the findings
may be disputed). The writes (acknowledge, dispute, resolve) live in ``datalayer.queries.audits``.

Every filter column is qualified with its table alias and the tenant predicate ``org_id = :org``
is explicit (seed ADR-015); row-level security enforces it as well. A coder's reads also filter on
``a.coder_id``: another coder's feedback is not in the list and not found by id.

A finding's ``code`` is the linked code row's *current* code: rows keep their id when the coder
edits them after a return (``charts.replace_codes``), so an old finding may show the code the
coder has since put in its place; a removed row reads as None.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from datalayer.queries._util import one, rows
from datalayer.scope import Scope

# ``audits.resolve`` appends the supervisor's resolution note to the finding's note on a line of
# its own, after this prefix (there is no column of its own for it).
RESOLUTION_PREFIX: Final = "Resolution: "


@dataclass(frozen=True)
class Finding:
    """One finding of a decided audit, with the coder's dispute and its resolution."""

    id: UUID
    audit_id: UUID
    chart_code_id: UUID | None
    code: str | None  # the linked row's current code; None for a missing code or a removed row
    kind: str | None
    sequence: int | None
    verdict: str
    expected_code: str | None
    category: str | None
    severity: str | None
    note: str | None  # the auditor's note, without the resolution note
    disputed_at: datetime | None
    dispute_comment: str | None
    resolution: str | None  # upheld | overturned
    resolution_note: str | None
    resolved_at: datetime | None
    resolved_by_name: str | None

    @property
    def dispute_status(self) -> str:
        """``none``, ``open`` (waiting for a supervisor), ``upheld`` or ``overturned``."""
        if self.disputed_at is None:
            return "none"
        return self.resolution or "open"

    @property
    def disputable(self) -> bool:
        return self.verdict != "correct" and self.disputed_at is None


@dataclass(frozen=True)
class FeedbackItem:
    """One decided audit of the coder's work, its feedback text (if any) and its findings."""

    audit_id: UUID
    feedback_id: UUID | None  # None: the supervisor wrote no text (nothing to acknowledge)
    chart_id: UUID
    encounter_type: str | None
    encounter_class: str | None
    encounter_reason: str | None
    encounter_start: datetime | None
    submission_no: int
    decision: str
    decided_at: datetime
    code_accuracy: float | None
    principal_correct: bool | None
    drg_correct: bool | None
    supervisor_id: UUID
    supervisor_name: str | None
    body: str | None
    acknowledged_at: datetime | None
    findings: tuple[Finding, ...] = ()

    @property
    def needs_acknowledgement(self) -> bool:
        return self.feedback_id is not None and self.acknowledged_at is None


@dataclass(frozen=True)
class DisputedFinding:
    """A disputed, unresolved finding with its chart, coder and auditor, for the supervisors."""

    finding: Finding
    chart_id: UUID
    encounter_type: str | None
    encounter_class: str | None
    encounter_reason: str | None
    encounter_start: datetime | None
    submission_no: int
    decision: str
    decided_at: datetime
    coder_id: UUID
    coder_name: str | None
    supervisor_id: UUID
    supervisor_name: str | None


def split_resolution_note(note: str | None, resolved: bool) -> tuple[str | None, str | None]:
    """(the auditor's note, the resolution note) out of a stored ``audit_findings.note``.

    ``audits.resolve`` stores ``concat_ws(E'\\n', note, 'Resolution: ' || resolution note)``; the
    first line that starts with the prefix begins the resolution note (the audit page's note is one
    line, a resolution note may have several).
    """
    if not resolved or not note:
        return note, None
    if note.startswith(RESOLUTION_PREFIX):
        return None, note[len(RESOLUTION_PREFIX) :] or None
    marker = "\n" + RESOLUTION_PREFIX
    at = note.find(marker)
    if at < 0:
        return note, None
    return note[:at] or None, note[at + len(marker) :] or None


_FINDING_COLUMNS: Final = """af.id, af.audit_id, af.chart_code_id, cc.code, cc.kind, cc.sequence, af.verdict,
       af.expected_code, af.category, af.severity, af.note, af.disputed_at, af.dispute_comment, af.resolution,
       af.resolved_at, r.name AS resolved_by_name"""
_FINDING_JOINS: Final = """LEFT JOIN chart_codes AS cc ON cc.id = af.chart_code_id AND cc.org_id = af.org_id
  LEFT JOIN users AS r ON r.id = af.resolved_by AND r.org_id = af.org_id"""
# Coded rows in the chart's order (diagnoses, then procedures), then the codes the coder missed.
_FINDING_ORDER: Final = "(af.chart_code_id IS NULL), cc.kind, cc.sequence, af.created_at, af.id"
_FINDING_FIELDS: Final = (
    "id",
    "audit_id",
    "chart_code_id",
    "code",
    "kind",
    "sequence",
    "verdict",
    "expected_code",
    "category",
    "severity",
    "disputed_at",
    "dispute_comment",
    "resolution",
    "resolved_at",
    "resolved_by_name",
)


def _finding(r: Any) -> Finding:
    note, resolution_note = split_resolution_note(r["note"], r["resolved_at"] is not None)
    return Finding(**{k: r[k] for k in _FINDING_FIELDS}, note=note, resolution_note=resolution_note)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


# One decided audit of the coder with its latest feedback row (the audit writes at most one).
_ITEMS_FROM: Final = """FROM audits AS a
  JOIN charts AS c ON c.id = a.chart_id AND c.org_id = a.org_id
  LEFT JOIN users AS s ON s.id = a.supervisor_id AND s.org_id = a.org_id
  LEFT JOIN LATERAL (
        SELECT f.id, f.body, f.acknowledged_at FROM feedback AS f
         WHERE f.org_id = a.org_id AND f.audit_id = a.id AND f.coder_id = a.coder_id
         ORDER BY f.created_at DESC, f.id LIMIT 1) AS fb ON true
 WHERE a.org_id = :org AND a.coder_id = :coder AND a.decision IS NOT NULL
   AND (fb.id IS NOT NULL OR EXISTS (
        SELECT 1 FROM audit_findings AS x
         WHERE x.org_id = a.org_id AND x.audit_id = a.id AND x.verdict <> 'correct'))"""
_ITEMS_COLUMNS: Final = """a.id AS audit_id, fb.id AS feedback_id, a.chart_id, c.encounter_type, c.encounter_class,
       c.encounter_reason, c.encounter_start, a.submission_no, a.decision, a.decided_at, a.code_accuracy,
       a.principal_correct, a.drg_correct, a.supervisor_id, s.name AS supervisor_name, fb.body, fb.acknowledged_at"""


def _items(scope: Scope, coder_id: UUID, tail: str, params: dict[str, Any]) -> list[FeedbackItem]:
    """Feedback items of the coder (``tail``: extra conditions, order and limit), with their findings."""
    items: list[FeedbackItem] = []
    for r in rows(
        scope,
        f"SELECT {_ITEMS_COLUMNS} {_ITEMS_FROM} {tail}",
        {"org": scope.require_org(), "coder": coder_id, **params},
    ):
        data = dict(r)
        data["code_accuracy"] = _float(data["code_accuracy"])
        items.append(FeedbackItem(**data))
    if not items:
        return []
    by_audit: dict[UUID, list[Finding]] = {i.audit_id: [] for i in items}
    for r in rows(
        scope,
        f"""SELECT {_FINDING_COLUMNS}
              FROM audit_findings AS af
              {_FINDING_JOINS}
             WHERE af.org_id = :org AND af.audit_id = ANY(:audits)
             ORDER BY af.audit_id, {_FINDING_ORDER}""",
        {"org": scope.require_org(), "audits": list(by_audit)},
    ):
        by_audit[r["audit_id"]].append(_finding(r))
    return [replace(i, findings=tuple(by_audit[i.audit_id])) for i in items]


def for_coder(scope: Scope, coder_id: UUID, *, limit: int, offset: int) -> list[FeedbackItem]:
    """The coder's feedback items: those still to acknowledge first, then newest decision first;
    each with all its findings (``correct`` verdicts included), coded rows first."""
    return _items(
        scope,
        coder_id,
        """ORDER BY (fb.id IS NOT NULL AND fb.acknowledged_at IS NULL) DESC, a.decided_at DESC, a.id
           LIMIT :limit OFFSET :offset""",
        {"limit": limit, "offset": offset},
    )


def count_for_coder(scope: Scope, coder_id: UUID) -> int:
    row = one(scope, f"SELECT count(*) AS n {_ITEMS_FROM}", {"org": scope.require_org(), "coder": coder_id})
    return int(row["n"])


@dataclass(frozen=True)
class CoderCounts:
    unacknowledged: int  # feedback texts not yet acknowledged
    open_disputes: int  # the coder's disputes no supervisor has resolved yet


def coder_counts(scope: Scope, coder_id: UUID) -> CoderCounts:
    row = one(
        scope,
        """SELECT (SELECT count(*) FROM feedback AS f
                    WHERE f.org_id = :org AND f.coder_id = :coder AND f.acknowledged_at IS NULL) AS unacknowledged,
                  (SELECT count(*) FROM audit_findings AS af
                     JOIN audits AS a ON a.id = af.audit_id AND a.org_id = af.org_id
                    WHERE af.org_id = :org AND a.coder_id = :coder
                      AND af.disputed_at IS NOT NULL AND af.resolved_at IS NULL) AS open_disputes""",
        {"org": scope.require_org(), "coder": coder_id},
    )
    return CoderCounts(unacknowledged=int(row["unacknowledged"]), open_disputes=int(row["open_disputes"]))


def feedback_item(scope: Scope, feedback_id: UUID, *, coder_id: UUID) -> FeedbackItem:
    """The coder's feedback item of one feedback row; NotFound for a missing, another coder's or
    another organisation's."""
    row = one(
        scope,
        "SELECT f.audit_id FROM feedback AS f WHERE f.org_id = :org AND f.id = :id AND f.coder_id = :coder",
        {"org": scope.require_org(), "id": feedback_id, "coder": coder_id},
        what="Feedback",
    )
    (item,) = _items(scope, coder_id, "AND a.id = :audit", {"audit": row["audit_id"]})
    return item


def finding(scope: Scope, finding_id: UUID, *, coder_id: UUID | None = None) -> Finding:
    """One finding; ``coder_id`` limits it to that coder's audits. NotFound otherwise, exactly like
    a missing one or another organisation's."""
    mine = "AND a.coder_id = :coder" if coder_id is not None else ""
    row = one(
        scope,
        f"""SELECT {_FINDING_COLUMNS}
              FROM audit_findings AS af
              JOIN audits AS a ON a.id = af.audit_id AND a.org_id = af.org_id
              {_FINDING_JOINS}
             WHERE af.org_id = :org AND af.id = :id {mine}""",
        {"org": scope.require_org(), "id": finding_id, "coder": coder_id},
        what="Finding",
    )
    return _finding(row)


_DISPUTED_WHERE: Final = "af.org_id = :org AND af.disputed_at IS NOT NULL AND af.resolved_at IS NULL"


def disputed(scope: Scope, *, limit: int, offset: int) -> list[DisputedFinding]:
    """The organisation's disputed findings no supervisor has resolved, oldest dispute first."""
    out: list[DisputedFinding] = []
    for r in rows(
        scope,
        f"""SELECT {_FINDING_COLUMNS},
                   a.chart_id, c.encounter_type, c.encounter_class, c.encounter_reason, c.encounter_start,
                   a.submission_no, a.decision, a.decided_at, a.coder_id, cu.name AS coder_name,
                   a.supervisor_id, su.name AS supervisor_name
              FROM audit_findings AS af
              JOIN audits AS a ON a.id = af.audit_id AND a.org_id = af.org_id
              JOIN charts AS c ON c.id = a.chart_id AND c.org_id = a.org_id
              LEFT JOIN users AS cu ON cu.id = a.coder_id AND cu.org_id = a.org_id
              LEFT JOIN users AS su ON su.id = a.supervisor_id AND su.org_id = a.org_id
              {_FINDING_JOINS}
             WHERE {_DISPUTED_WHERE}
             ORDER BY af.disputed_at, af.id
             LIMIT :limit OFFSET :offset""",
        {"org": scope.require_org(), "limit": limit, "offset": offset},
    ):
        out.append(
            DisputedFinding(
                finding=_finding(r),
                chart_id=r["chart_id"],
                encounter_type=r["encounter_type"],
                encounter_class=r["encounter_class"],
                encounter_reason=r["encounter_reason"],
                encounter_start=r["encounter_start"],
                submission_no=r["submission_no"],
                decision=r["decision"],
                decided_at=r["decided_at"],
                coder_id=r["coder_id"],
                coder_name=r["coder_name"],
                supervisor_id=r["supervisor_id"],
                supervisor_name=r["supervisor_name"],
            )
        )
    return out


def disputed_count(scope: Scope) -> int:
    row = one(
        scope, f"SELECT count(*) AS n FROM audit_findings AS af WHERE {_DISPUTED_WHERE}", {"org": scope.require_org()}
    )
    return int(row["n"])
