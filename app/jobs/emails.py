"""The email drain: send ``pending_emails`` with back-off, dead-letter and no double sends.

Requests never send mail: they queue a row in ``pending_emails`` in their own transaction
(``app.services.emails.enqueue``); this job sends it. One run, for each organisation
(``system_scope``; row-level security stays on):

1. **claim** up to ``EMAIL_BATCH_SIZE`` due rows in one short transaction (``FOR UPDATE SKIP
   LOCKED`` plus a ``locked_until`` lease), so two workers never take the same row and no
   transaction is open while a message is on the wire;
2. **send** each with the configured sender (``app.services.mailer``), always with the row's
   Message-ID, so every retry of one email is recognisably the same message;
3. **record** each outcome at once, in its own short transaction (a worker killed mid-batch
   re-sends at most the one message it was sending): sent; or a transient failure, retried after
   ``uniform(0, min(cap, base * 2**attempt))`` seconds (full jitter) until ``EMAIL_MAX_ATTEMPTS``
   attempts, then dead-lettered; or a permanent failure (SMTP 5xx), dead-lettered at once.

A message's lease must outlast its send. Before each send after the first, the drain checks that
the lease still has room for a worst-case send (``SEND_BUDGET_TIMEOUTS`` socket timeouts); if
not, it gives the rest of the batch back unsent and uncounted, and a later claim picks them up.

The drain's clock is injectable (``clock``) and is the one that ``enqueue`` used, so tests step
through the back-off without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from uuid import UUID

from app.context import AppContext
from app.jobs.backoff import Uniform, default_rng, full_jitter
from app.logs import get_logger
from app.services.mailer import EmailSender, OutgoingEmail, PermanentSendError, SendError, make_sender
from app.settings import Settings
from datalayer.queries import emails
from datalayer.queries.emails import QueuedEmail
from datalayer.scope import SystemScope, system_scope

log = get_logger(__name__)

# A send makes several socket operations (connect, EHLO, STARTTLS, MAIL, RCPT, DATA), each
# bounded by the timeout; budget four full timeouts for one worst-case send.
SEND_BUDGET_TIMEOUTS: Final = 4
# One run keeps claiming while batches come back full, for at most this long.
RUN_BUDGET_SECONDS: Final = 60.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DrainPolicy:
    batch_size: int
    lease_seconds: float
    max_attempts: int
    backoff_base_seconds: float
    backoff_cap_seconds: float
    send_timeout_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> DrainPolicy:
        return cls(
            batch_size=settings.email_batch_size,
            lease_seconds=settings.email_lease_seconds,
            max_attempts=settings.email_max_attempts,
            backoff_base_seconds=settings.email_backoff_base_seconds,
            backoff_cap_seconds=settings.email_backoff_cap_seconds,
            send_timeout_seconds=settings.smtp_timeout_seconds,
        )


@dataclass
class DrainResult:
    sent: int = 0
    retried: int = 0
    dead_lettered: int = 0
    released: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def drain(
    policy: DrainPolicy,
    sender: EmailSender,
    *,
    clock: Callable[[], datetime] = utc_now,
    rng: Uniform | None = None,
    only_orgs: Collection[UUID] | None = None,
    budget_seconds: float = RUN_BUDGET_SECONDS,
) -> DrainResult:
    """One drain run over every organisation (or ``only_orgs``); see the module docstring."""
    deadline = time.monotonic() + budget_seconds
    with system_scope("email-drain") as system:
        run = _Drain(system, policy, sender, clock, rng or default_rng())
        # Round-robin: one batch per organisation per round, so a busy tenant cannot starve the others.
        pending = [o for o in system.org_ids() if only_orgs is None or o in only_orgs]
        while pending and time.monotonic() < deadline:
            pending = [org_id for org_id in pending if run.batch(org_id)]
    return run.result


@dataclass
class _Drain:
    system: SystemScope
    policy: DrainPolicy
    sender: EmailSender
    clock: Callable[[], datetime]
    rng: Uniform
    result: DrainResult = field(default_factory=DrainResult)

    def batch(self, org_id: UUID) -> bool:
        """Claim and send one batch; True if it was full and every row was attempted (more may be due)."""
        policy = self.policy
        with self.system.org(org_id) as scope:
            batch = emails.claim_due(
                scope, now=self.clock(), limit=policy.batch_size, lease_seconds=policy.lease_seconds
            )
        claimed_at = time.monotonic()
        send_budget = SEND_BUDGET_TIMEOUTS * policy.send_timeout_seconds
        for index, queued in enumerate(batch):
            if index and time.monotonic() - claimed_at + send_budget > policy.lease_seconds:
                rest = [q.id for q in batch[index:]]
                with self.system.org(org_id) as scope:
                    emails.release(scope, rest)
                self.result.released += len(rest)
                log.warning("email_lease_exhausted", released=len(rest))
                return False
            self.send_one(org_id, queued)
        return len(batch) == policy.batch_size

    def send_one(self, org_id: UUID, queued: QueuedEmail) -> None:
        message = OutgoingEmail(
            message_id=queued.message_id, to=queued.to_address, subject=queued.subject, body_text=queued.body_text
        )
        attempt = queued.attempts + 1
        error: SendError | None = None
        try:
            self.sender.send(message)
        except SendError as exc:
            error = exc
        except Exception as exc:  # noqa: BLE001 - an unexpected sender bug is retried like a transient fault, never fatal to the batch
            error = SendError(f"{type(exc).__name__}: {exc}")
        now = self.clock()
        result = self.result
        with self.system.org(org_id) as scope:
            if error is None:
                emails.mark_sent(scope, queued.id, now=now)
                result.sent += 1
                log.info(
                    "email_sent",
                    message_id=queued.message_id,
                    template=queued.template,
                    sender=self.sender.name,
                    attempt=attempt,
                )
                return
            # Recipients and server replies can carry addresses: the log gets the code, the row the text.
            permanent = isinstance(error, PermanentSendError)
            if permanent or attempt >= self.policy.max_attempts:
                emails.record_failure(scope, queued.id, now=now, error=error.detail, retry_at=None)
                result.dead_lettered += 1
                log.error(
                    "email_dead_lettered",
                    message_id=queued.message_id,
                    attempt=attempt,
                    code=error.code,
                    permanent=permanent,
                )
                return
            delay = full_jitter(
                queued.attempts,
                base=self.policy.backoff_base_seconds,
                cap=self.policy.backoff_cap_seconds,
                rng=self.rng,
            )
            retry_at = now + timedelta(seconds=delay)
            emails.record_failure(scope, queued.id, now=now, error=error.detail, retry_at=retry_at)
            result.retried += 1
            log.warning(
                "email_send_failed",
                message_id=queued.message_id,
                attempt=attempt,
                code=error.code,
                retry_in=round(delay, 3),
            )


def drain_job(ctx: AppContext) -> dict[str, Any]:
    """The scheduled job (``email-drain``)."""
    return drain(DrainPolicy.from_settings(ctx.settings), make_sender(ctx.settings)).as_dict()
