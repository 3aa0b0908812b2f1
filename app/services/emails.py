"""Queue outgoing email in the triggering transaction (``pending_emails``); a worker sends it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from app.errors import ValidationFailed
from datalayer.queries import emails
from datalayer.scope import Scope


def enqueue(scope: Scope, *, to: str, subject: str, body: str, template: str) -> str:
    """Queue one message to one recipient; return its Message-ID (reused on every retry)."""
    if any(ch in to or ch in subject for ch in "\r\n") or "," in to or ";" in to:
        raise ValidationFailed("Email address and subject must be a single line with one recipient.")
    message_id = f"<{uuid.uuid4()}@smartcoders>"
    emails.enqueue(
        scope,
        email_id=uuid.uuid4(),
        message_id=message_id,
        to_address=to,
        subject=subject,
        body_text=body,
        template=template,
        now=datetime.now(UTC),
    )
    return message_id
