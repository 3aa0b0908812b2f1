"""Supervisor audits: the review queue, claims, decided audits with their findings and feedback,
and the coder's acknowledgements and disputes.

Every filter column is qualified with its table alias and the tenant predicate ``org_id = :org``
is explicit (seed ADR-015); row-level security enforces it as well.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from datalayer.queries._util import execute, maybe, one, rows
from datalayer.scope import Scope


@dataclass(frozen=True)
class QueueItem:
    """One ``pending_audit`` chart in the review queue, with its current claim (if any)."""

    chart_id: UUID
    version: int
    coder_id: UUID | None
    coder_name: str | None
    specialty: str | None
    difficulty: int | None
    submitted_at: datetime | None
    errors: int
    warnings: int
    overrides: int
    code_count: int
    claimed_by: UUID | None
    claimed_by_name: str | None
    claim_expires_at: datetime | None
    audit_reason: str  # why it was sampled (``app.services.sampling.AuditReason``)


def review_queue(scope: Scope, *, now: datetime, limit: int, offset: int) -> list[QueueItem]:
    """The organisation's ``pending_audit`` charts, oldest submission first; a claim shows only while
    it has not expired. Validation counts are those stored for the chart's current version. A chart
    submitted before sampling existed (migration 0002) has no ``audit_reason``: it reads as 'all'."""
    return [
        QueueItem(**r)
        for r in rows(
            scope,
            """SELECT c.id AS chart_id, c.version, c.assignee_id AS coder_id, u.name AS coder_name, c.specialty,
                      c.difficulty, c.submitted_at,
                      (SELECT count(*) FROM validation_results AS vr
                        WHERE vr.org_id = c.org_id AND vr.chart_id = c.id AND vr.chart_version = c.version
                          AND vr.severity = 'error' AND NOT vr.overridden) AS errors,
                      (SELECT count(*) FROM validation_results AS vr
                        WHERE vr.org_id = c.org_id AND vr.chart_id = c.id AND vr.chart_version = c.version
                          AND vr.severity = 'warning') AS warnings,
                      (SELECT count(*) FROM validation_results AS vr
                        WHERE vr.org_id = c.org_id AND vr.chart_id = c.id AND vr.chart_version = c.version
                          AND vr.overridden) AS overrides,
                      (SELECT count(*) FROM chart_codes AS cc
                        WHERE cc.org_id = c.org_id AND cc.chart_id = c.id) AS code_count,
                      a.supervisor_id AS claimed_by, s.name AS claimed_by_name, a.claim_expires_at,
                      COALESCE(c.audit_reason, 'all') AS audit_reason
                 FROM charts AS c
                 LEFT JOIN users AS u ON u.id = c.assignee_id AND u.org_id = c.org_id
                 LEFT JOIN audits AS a ON a.chart_id = c.id AND a.org_id = c.org_id
                                      AND a.decision IS NULL AND a.claim_expires_at > :now
                 LEFT JOIN users AS s ON s.id = a.supervisor_id AND s.org_id = a.org_id
                WHERE c.org_id = :org AND c.status = 'pending_audit'
                ORDER BY c.submitted_at NULLS LAST, c.id
                LIMIT :limit OFFSET :offset""",
            {"org": scope.require_org(), "now": now, "limit": limit, "offset": offset},
        )
    ]


def queue_count(scope: Scope) -> int:
    row = one(
        scope,
        "SELECT count(*) AS n FROM charts AS c WHERE c.org_id = :org AND c.status = 'pending_audit'",
        {"org": scope.require_org()},
    )
    return int(row["n"])


def sampling_settings(scope: Scope, *, for_update: bool = False) -> Any:
    """The organisation's stored audit-sampling policy (``settings -> 'audit_sampling'``, decoded
    JSON), or None when it never set one; ``for_update`` locks the organisation row."""
    lock = " FOR UPDATE OF o" if for_update else ""
    row = one(
        scope,
        f"SELECT o.settings -> 'audit_sampling' AS value FROM organizations AS o WHERE o.id = :org{lock}",
        {"org": scope.require_org()},
        what="Organisation",
    )
    return row["value"]


def set_sampling_settings(scope: Scope, value: dict[str, Any]) -> None:
    """Store the audit-sampling policy, leaving the organisation's other settings as they are."""
    execute(
        scope,
        """UPDATE organizations AS o
              SET settings = jsonb_set(o.settings, '{audit_sampling}', CAST(:value AS jsonb))
            WHERE o.id = :org""",
        {"org": scope.require_org(), "value": orjson.dumps(value).decode()},
    )


@dataclass(frozen=True)
class OpenAudit:
    id: UUID
    submission_no: int
    supervisor_id: UUID
    coder_id: UUID
    claimed_at: datetime
    claim_expires_at: datetime


def lock_open(scope: Scope, chart_id: UUID) -> OpenAudit | None:
    """The chart's undecided audit (a claim), locked ``FOR UPDATE``; at most one exists (``audits_one_open_uq``)."""
    row = maybe(
        scope,
        """SELECT a.id, a.submission_no, a.supervisor_id, a.coder_id, a.claimed_at, a.claim_expires_at
             FROM audits AS a
            WHERE a.org_id = :org AND a.chart_id = :chart AND a.decision IS NULL
            FOR UPDATE OF a""",
        {"org": scope.require_org(), "chart": chart_id},
    )
    return OpenAudit(**row) if row is not None else None


def decided_count(scope: Scope, chart_id: UUID) -> int:
    row = one(
        scope,
        "SELECT count(*) AS n FROM audits AS a WHERE a.org_id = :org AND a.chart_id = :chart AND a.decision IS NOT NULL",
        {"org": scope.require_org(), "chart": chart_id},
    )
    return int(row["n"])


def insert_claim(
    scope: Scope,
    *,
    chart_id: UUID,
    submission_no: int,
    supervisor_id: UUID,
    coder_id: UUID,
    now: datetime,
    expires: datetime,
) -> UUID:
    audit_id = uuid.uuid4()
    execute(
        scope,
        """INSERT INTO audits (id, org_id, chart_id, submission_no, supervisor_id, coder_id, claimed_at, claim_expires_at)
           VALUES (:id, :org, :chart, :no, :sup, :coder, :now, :expires)""",
        {
            "id": audit_id,
            "org": scope.require_org(),
            "chart": chart_id,
            "no": submission_no,
            "sup": supervisor_id,
            "coder": coder_id,
            "now": now,
            "expires": expires,
        },
    )
    return audit_id


def renew_claim(scope: Scope, audit_id: UUID, *, supervisor_id: UUID, now: datetime, expires: datetime) -> None:
    execute(
        scope,
        """UPDATE audits AS a SET supervisor_id = :sup, claimed_at = :now, claim_expires_at = :expires
            WHERE a.org_id = :org AND a.id = :id AND a.decision IS NULL""",
        {"org": scope.require_org(), "id": audit_id, "sup": supervisor_id, "now": now, "expires": expires},
    )


def decide(scope: Scope, audit_id: UUID, *, values: dict[str, Any], decision: str, now: datetime) -> None:
    """Store the scores and the decision of an open audit."""
    execute(
        scope,
        """UPDATE audits AS a
              SET code_accuracy = :code_accuracy, principal_correct = :principal_correct,
                  drg_correct = :drg_correct, drg_before = :drg_before, drg_after = :drg_after,
                  weight_before = :weight_before, weight_after = :weight_after,
                  decision = :decision, decided_at = :now
            WHERE a.org_id = :org AND a.id = :id AND a.decision IS NULL""",
        {"org": scope.require_org(), "id": audit_id, "decision": decision, "now": now, **values},
    )


def insert_finding(scope: Scope, *, audit_id: UUID, values: dict[str, Any], now: datetime) -> UUID:
    finding_id = uuid.uuid4()
    execute(
        scope,
        """INSERT INTO audit_findings (id, org_id, audit_id, chart_code_id, verdict, expected_code, category,
                                       severity, note, created_at)
           VALUES (:id, :org, :audit, :chart_code_id, :verdict, :expected_code, :category, :severity, :note, :now)""",
        {"id": finding_id, "org": scope.require_org(), "audit": audit_id, "now": now, **values},
    )
    return finding_id


def insert_feedback(
    scope: Scope, *, audit_id: UUID, chart_id: UUID, coder_id: UUID, supervisor_id: UUID, body: str, now: datetime
) -> UUID:
    feedback_id = uuid.uuid4()
    execute(
        scope,
        """INSERT INTO feedback (id, org_id, audit_id, chart_id, coder_id, supervisor_id, body, created_at)
           VALUES (:id, :org, :audit, :chart, :coder, :sup, :body, :now)""",
        {
            "id": feedback_id,
            "org": scope.require_org(),
            "audit": audit_id,
            "chart": chart_id,
            "coder": coder_id,
            "sup": supervisor_id,
            "body": body,
            "now": now,
        },
    )
    return feedback_id


def set_chart_status(scope: Scope, chart_id: UUID, *, status: str, version: int, now: datetime) -> None:
    """The audit's decision on the chart: ``completed`` (sets ``completed_at``) or ``returned``."""
    execute(
        scope,
        """UPDATE charts AS c
              SET status = :status, version = :version, updated_at = :now,
                  completed_at = CASE WHEN :status = 'completed' THEN :now ELSE c.completed_at END
            WHERE c.org_id = :org AND c.id = :id""",
        {"org": scope.require_org(), "id": chart_id, "status": status, "version": version, "now": now},
    )


@dataclass(frozen=True)
class FeedbackState:
    id: UUID
    coder_id: UUID
    acknowledged_at: datetime | None


def lock_feedback(scope: Scope, feedback_id: UUID, *, coder_id: UUID) -> FeedbackState:
    """The coder's own feedback, locked; NotFound for a missing, another coder's or another organisation's."""
    row = one(
        scope,
        """SELECT f.id, f.coder_id, f.acknowledged_at FROM feedback AS f
            WHERE f.org_id = :org AND f.id = :id AND f.coder_id = :coder FOR UPDATE OF f""",
        {"org": scope.require_org(), "id": feedback_id, "coder": coder_id},
        what="Feedback",
    )
    return FeedbackState(**row)


def acknowledge(scope: Scope, feedback_id: UUID, *, now: datetime) -> None:
    execute(
        scope,
        "UPDATE feedback AS f SET acknowledged_at = :now WHERE f.org_id = :org AND f.id = :id",
        {"org": scope.require_org(), "id": feedback_id, "now": now},
    )


@dataclass(frozen=True)
class FindingState:
    id: UUID
    audit_id: UUID
    chart_id: UUID
    coder_id: UUID
    supervisor_id: UUID
    verdict: str
    disputed_at: datetime | None
    resolution: str | None


def lock_finding(scope: Scope, finding_id: UUID, *, coder_id: UUID | None = None) -> FindingState:
    """A finding with its audit's chart and people, locked; ``coder_id`` limits it to that coder's
    audits (NotFound otherwise, like a missing one or another organisation's)."""
    mine = "AND a.coder_id = :coder" if coder_id is not None else ""
    row = one(
        scope,
        f"""SELECT af.id, af.audit_id, a.chart_id, a.coder_id, a.supervisor_id, af.verdict, af.disputed_at,
                   af.resolution
              FROM audit_findings AS af
              JOIN audits AS a ON a.id = af.audit_id AND a.org_id = af.org_id
             WHERE af.org_id = :org AND af.id = :id {mine}
             FOR UPDATE OF af""",
        {"org": scope.require_org(), "id": finding_id, "coder": coder_id},
        what="Finding",
    )
    return FindingState(**row)


def dispute(scope: Scope, finding_id: UUID, *, comment: str, now: datetime) -> None:
    execute(
        scope,
        """UPDATE audit_findings AS af SET disputed_at = :now, dispute_comment = :comment
            WHERE af.org_id = :org AND af.id = :id""",
        {"org": scope.require_org(), "id": finding_id, "comment": comment, "now": now},
    )


def resolve(scope: Scope, finding_id: UUID, *, resolution: str, note: str, by: UUID, now: datetime) -> None:
    execute(
        scope,
        """UPDATE audit_findings AS af
              SET resolution = :resolution, resolved_at = :now, resolved_by = :by,
                  note = CASE WHEN :note = '' THEN af.note
                              ELSE concat_ws(E'\\n', af.note, 'Resolution: ' || :note) END
            WHERE af.org_id = :org AND af.id = :id""",
        {"org": scope.require_org(), "id": finding_id, "resolution": resolution, "note": note, "by": by, "now": now},
    )


@dataclass(frozen=True)
class AuditRow:
    """One audit for ``GET /api/v1/audits``."""

    id: UUID
    chart_id: UUID
    submission_no: int
    supervisor_id: UUID
    coder_id: UUID
    claimed_at: datetime
    claim_expires_at: datetime
    code_accuracy: float | None
    principal_correct: bool | None
    drg_correct: bool | None
    drg_before: int | None
    drg_after: int | None
    weight_before: float | None
    weight_after: float | None
    decision: str | None
    decided_at: datetime | None


def list_audits(
    scope: Scope, *, chart_id: UUID | None, coder_id: UUID | None, decided_only: bool, limit: int, offset: int
) -> list[AuditRow]:
    """Audits of the organisation, newest first, optionally for one chart or one coder."""
    clauses = ["a.org_id = :org"]
    if chart_id is not None:
        clauses.append("a.chart_id = :chart")
    if coder_id is not None:
        clauses.append("a.coder_id = :coder")
    if decided_only:
        clauses.append("a.decision IS NOT NULL")
    out = []
    for r in rows(
        scope,
        f"""SELECT a.id, a.chart_id, a.submission_no, a.supervisor_id, a.coder_id, a.claimed_at, a.claim_expires_at,
                   a.code_accuracy, a.principal_correct, a.drg_correct, a.drg_before, a.drg_after,
                   a.weight_before, a.weight_after, a.decision, a.decided_at
              FROM audits AS a
             WHERE {" AND ".join(clauses)}
             ORDER BY a.claimed_at DESC, a.id
             LIMIT :limit OFFSET :offset""",
        {"org": scope.require_org(), "chart": chart_id, "coder": coder_id, "limit": limit, "offset": offset},
    ):
        data = dict(r)
        for key in ("code_accuracy", "weight_before", "weight_after"):
            data[key] = None if data[key] is None else float(data[key])
        out.append(AuditRow(**data))
    return out
