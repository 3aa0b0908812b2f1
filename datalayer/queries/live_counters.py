"""The live counters of one organisation, in one statement of indexed counts.

Every part is answered from an index (``0001_init.sql``):

- the queue by status, unassigned drafts and aging drafts: one index-only pass over
  ``charts_assignee_queue_idx (org_id, assignee_id, status, created_at)``, which holds every column
  those counts read;
- charts waiting for audit too long: ``charts_review_queue_idx (org_id, submitted_at)`` (partial,
  pending_audit only);
- submissions today: ``audit_log_org_action_idx (org_id, action, created_at)`` — each
  ``chart_submitted`` row is one submission, resubmissions included;
- audit decisions today: ``audits_org_decided_idx (org_id, decided_at)``;
- imports: ``import_jobs_org_recent_idx (org_id, created_at)``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from datalayer.queries._util import one
from datalayer.scope import Scope

_SQL: Final = """
SELECT q.draft, q.pending_audit, q.returned, q.completed, q.unassigned, q.aging,
       (SELECT count(*) FROM charts AS r
         WHERE r.org_id = :org AND r.status = 'pending_audit' AND r.submitted_at < :aging_before) AS audit_aging,
       (SELECT count(*) FROM audit_log AS l
         WHERE l.org_id = :org AND l.action = 'chart_submitted' AND l.created_at >= :today) AS submitted_today,
       (SELECT count(*) FROM audits AS a
         WHERE a.org_id = :org AND a.decided_at >= :today AND a.decision = 'approve') AS approved_today,
       (SELECT count(*) FROM audits AS a
         WHERE a.org_id = :org AND a.decided_at >= :today AND a.decision = 'return') AS returned_today,
       (SELECT coalesce(sum(j.charts_created), 0) FROM import_jobs AS j
         WHERE j.org_id = :org AND j.created_at >= :today) AS imported_today,
       (SELECT count(*) FROM import_jobs AS j
         WHERE j.org_id = :org AND j.status IN ('queued', 'running')) AS imports_active
  FROM (SELECT count(*) FILTER (WHERE c.status = 'draft') AS draft,
               count(*) FILTER (WHERE c.status = 'pending_audit') AS pending_audit,
               count(*) FILTER (WHERE c.status = 'returned') AS returned,
               count(*) FILTER (WHERE c.status = 'completed') AS completed,
               count(*) FILTER (WHERE c.status = 'draft' AND c.assignee_id IS NULL) AS unassigned,
               count(*) FILTER (WHERE c.status = 'draft' AND c.created_at < :aging_before) AS aging
          FROM charts AS c
         WHERE c.org_id = :org) AS q
"""

FIELDS: Final = (
    "draft",
    "pending_audit",
    "returned",
    "completed",
    "unassigned",
    "aging",
    "audit_aging",
    "submitted_today",
    "approved_today",
    "returned_today",
    "imported_today",
    "imports_active",
)


def counts(scope: Scope, *, today: datetime, aging_before: datetime) -> dict[str, int]:
    """The organisation's counters (``FIELDS``); ``today`` is the start of the day they count from."""
    row = one(scope, _SQL, {"org": scope.require_org(), "today": today, "aging_before": aging_before})
    return {name: int(row[name]) for name in FIELDS}
