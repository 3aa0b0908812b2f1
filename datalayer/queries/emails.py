"""The email outbox: rows written in the triggering transaction, drained by a worker job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from datalayer.queries._util import execute, one, rows
from datalayer.scope import Scope


def enqueue(
    scope: Scope,
    *,
    email_id: UUID,
    message_id: str,
    to_address: str,
    subject: str,
    body_text: str,
    template: str,
    now: datetime,
) -> None:
    execute(
        scope,
        """INSERT INTO pending_emails (id, org_id, message_id, to_address, subject, body_text, template,
                                       created_at, next_attempt_at)
           VALUES (:id, :org_id, :message_id, :to, :subject, :body, :template, :now, :now)""",
        {
            "id": email_id,
            "org_id": scope.require_org(),
            "message_id": message_id,
            "to": to_address,
            "subject": subject,
            "body": body_text,
            "template": template,
            "now": now,
        },
    )


def for_recipient(scope: Scope, to_address: str) -> list[dict[str, object]]:
    return [
        dict(r)
        for r in rows(
            scope,
            """SELECT e.id, e.message_id, e.to_address, e.subject, e.body_text, e.template, e.created_at
           FROM pending_emails AS e WHERE e.to_address = :to ORDER BY e.created_at""",
            {"to": to_address},
        )
    ]


# --- The drain ------------------------------------------------------------------------------
# Claims are leases (``locked_until``) taken in one short transaction, so no transaction stays
# open while a message is on the wire; ``FOR UPDATE SKIP LOCKED`` keeps two workers claiming at
# once from taking the same row. Times come from the caller (the drain's clock), the same clock
# that ``enqueue`` used for ``next_attempt_at``.


@dataclass(frozen=True)
class QueuedEmail:
    """One claimed message. ``attempts`` counts the attempts made before this one."""

    id: UUID
    org_id: UUID
    message_id: str
    to_address: str
    subject: str
    body_text: str
    template: str
    attempts: int


def claim_due(scope: Scope, *, now: datetime, limit: int, lease_seconds: float) -> list[QueuedEmail]:
    """Lease up to ``limit`` due messages of this organisation, oldest due first."""
    found = rows(
        scope,
        """WITH due AS MATERIALIZED (
               SELECT e.id FROM pending_emails AS e
               WHERE e.sent_at IS NULL AND e.dead_lettered_at IS NULL
                 AND e.next_attempt_at <= :now
                 AND (e.locked_until IS NULL OR e.locked_until <= :now)
               ORDER BY e.next_attempt_at, e.created_at
               LIMIT :limit
               FOR UPDATE SKIP LOCKED)
           UPDATE pending_emails AS p SET locked_until = :now + make_interval(secs => :lease)
           FROM due WHERE p.id = due.id
           RETURNING p.id, p.org_id, p.message_id, p.to_address, p.subject, p.body_text, p.template,
                     p.attempts, p.next_attempt_at, p.created_at""",
        {"now": now, "limit": limit, "lease": lease_seconds},
    )
    found.sort(key=lambda r: (r["next_attempt_at"], r["created_at"]))
    return [
        QueuedEmail(
            id=r["id"],
            org_id=r["org_id"],
            message_id=r["message_id"],
            to_address=r["to_address"],
            subject=r["subject"],
            body_text=r["body_text"],
            template=r["template"],
            attempts=r["attempts"],
        )
        for r in found
    ]


def mark_sent(scope: Scope, email_id: UUID, *, now: datetime) -> None:
    execute(
        scope,
        """UPDATE pending_emails SET sent_at = :now, attempts = attempts + 1, locked_until = NULL, last_error = NULL
           WHERE id = :id AND sent_at IS NULL""",
        {"id": email_id, "now": now},
    )


def record_failure(scope: Scope, email_id: UUID, *, now: datetime, error: str, retry_at: datetime | None) -> None:
    """Count one failed attempt: retry at ``retry_at``, or (None) move the message to dead-letter."""
    execute(
        scope,
        """UPDATE pending_emails
           SET attempts = attempts + 1, last_error = :error, locked_until = NULL,
               next_attempt_at = coalesce(:retry_at, next_attempt_at),
               dead_lettered_at = CASE WHEN CAST(:retry_at AS timestamptz) IS NULL THEN :now END
           WHERE id = :id AND sent_at IS NULL""",
        {"id": email_id, "now": now, "error": error[:1000], "retry_at": retry_at},
    )


def release(scope: Scope, email_ids: list[UUID]) -> None:
    """Give claimed messages back unsent and uncounted (the worker ran out of lease time)."""
    if email_ids:
        execute(
            scope,
            "UPDATE pending_emails SET locked_until = NULL WHERE id = ANY(:ids) AND sent_at IS NULL",
            {"ids": email_ids},
        )


def status(scope: Scope, message_id: str) -> dict[str, Any]:
    """The delivery state of one message, by its Message-ID (tests, support tools)."""
    return dict(
        one(
            scope,
            """SELECT e.id, e.message_id, e.attempts, e.next_attempt_at, e.locked_until, e.last_error,
                      e.sent_at, e.dead_lettered_at
               FROM pending_emails AS e WHERE e.message_id = :message_id""",
            {"message_id": message_id},
            what="Email",
        )
    )
