"""The email outbox: rows written in the triggering transaction, drained by a worker job."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from datalayer.queries._util import execute, rows
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
