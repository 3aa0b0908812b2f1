"""The coder's side of an audit: feedback received, its acknowledgement, disputes and their resolution.

Reads live here; the state changes are ``app.services.audits``' actions (``acknowledge_feedback``,
``dispute_finding``, ``resolve_dispute``), which write the audit-log row, the outbox event and the
in-app notification of the other side in their transaction. The functions below that change state
call those actions, then read the result back for the caller.

Who may do what:

- ``charts:code`` (coder): ``received``, ``acknowledge``, ``dispute`` — the caller's own feedback
  only: the coder is the principal, never an argument, and another coder's feedback or finding is
  ``NotFound`` exactly like another organisation's or one that does not exist.
- ``audits:view`` (supervisor, manager): ``disputed``, the organisation's open disputes.
- ``audits:perform`` (supervisor): ``resolve``.

Acknowledging is idempotent: acknowledging again changes nothing and says so (``changed``).
Disputing a finding twice, disputing a ``correct`` verdict, and resolving a finding that is not
disputed or already resolved are ``Conflict``. Every read runs in the caller's ``user_scope``.

Exceptions (``app.errors``): ``PermissionDenied``, ``NotFound``, ``Conflict``, ``ValidationFailed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal
from uuid import UUID

from app.authz import Permission, Principal
from app.errors import ValidationFailed
from app.services import audits
from datalayer.queries import feedback
from datalayer.queries.feedback import CoderCounts, DisputedFinding, FeedbackItem, Finding
from datalayer.scope import user_scope

__all__ = [
    "MAX_PAGE_SIZE",
    "Acknowledged",
    "CoderCounts",
    "DisputeQueue",
    "DisputedFinding",
    "FeedbackInbox",
    "FeedbackItem",
    "Finding",
    "acknowledge",
    "counts",
    "dispute",
    "disputed",
    "received",
    "resolve",
]

MAX_PAGE_SIZE: Final = 100
MAX_COMMENT: Final = audits.MAX_TEXT


def _paging(page: int, page_size: int) -> None:
    problems: dict[str, str] = {}
    if not 1 <= page <= 100_000:
        problems["page"] = "Pages start at 1."
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        problems["page_size"] = f"A whole number from 1 to {MAX_PAGE_SIZE}."
    if problems:
        raise ValidationFailed(fields=problems)


@dataclass(frozen=True)
class FeedbackInbox:
    """One page of the coder's feedback items, and the coder's counts over all of them."""

    items: list[FeedbackItem]
    total: int
    page: int
    page_size: int
    unacknowledged: int
    open_disputes: int


def received(principal: Principal, *, page: int = 1, page_size: int = 20) -> FeedbackInbox:
    """The caller's feedback items (``datalayer.queries.feedback.FeedbackItem``): those still to
    acknowledge first, then newest decision first, each with its findings."""
    principal.require(Permission.CHARTS_CODE)
    _paging(page, page_size)
    with user_scope(principal.org_id, principal.user_id) as scope:
        items = feedback.for_coder(scope, principal.user_id, limit=page_size, offset=(page - 1) * page_size)
        total = feedback.count_for_coder(scope, principal.user_id)
        numbers = feedback.coder_counts(scope, principal.user_id)
    return FeedbackInbox(
        items=items,
        total=total,
        page=page,
        page_size=page_size,
        unacknowledged=numbers.unacknowledged,
        open_disputes=numbers.open_disputes,
    )


def counts(principal: Principal) -> CoderCounts:
    """How much of the caller's feedback waits for acknowledgement, and how many disputes are open."""
    principal.require(Permission.CHARTS_CODE)
    with user_scope(principal.org_id, principal.user_id) as scope:
        return feedback.coder_counts(scope, principal.user_id)


@dataclass(frozen=True)
class Acknowledged:
    item: FeedbackItem
    changed: bool  # False: it was already acknowledged (nothing written)


def acknowledge(principal: Principal, feedback_id: UUID) -> Acknowledged:
    """Acknowledge feedback addressed to the caller (``audits.acknowledge_feedback``: audit-log row
    ``feedback_acknowledged``, outbox ``feedback.acknowledged``); idempotent."""
    changed = audits.acknowledge_feedback(principal, feedback_id)
    with user_scope(principal.org_id, principal.user_id) as scope:
        item = feedback.feedback_item(scope, feedback_id, coder_id=principal.user_id)
    return Acknowledged(item=item, changed=changed)


def dispute(principal: Principal, finding_id: UUID, comment: str) -> Finding:
    """Dispute a finding of one of the caller's audits with a comment (1 to ``MAX_COMMENT``
    characters). ``audits.dispute_finding`` records it and notifies the supervisor who audited."""
    audits.dispute_finding(principal, finding_id, comment)
    with user_scope(principal.org_id, principal.user_id) as scope:
        return feedback.finding(scope, finding_id, coder_id=principal.user_id)


@dataclass(frozen=True)
class DisputeQueue:
    items: list[DisputedFinding]
    total: int
    page: int
    page_size: int


def disputed(principal: Principal, *, page: int = 1, page_size: int = 50) -> DisputeQueue:
    """The organisation's disputed findings no supervisor has resolved yet, oldest dispute first,
    with the chart, the coder, the supervisor who audited, the finding and the coder's comment."""
    principal.require(Permission.AUDITS_VIEW)
    _paging(page, page_size)
    with user_scope(principal.org_id, principal.user_id) as scope:
        items = feedback.disputed(scope, limit=page_size, offset=(page - 1) * page_size)
        total = feedback.disputed_count(scope)
    return DisputeQueue(items=items, total=total, page=page, page_size=page_size)


def resolve(
    principal: Principal, finding_id: UUID, resolution: Literal["upheld", "overturned"], note: str = ""
) -> Finding:
    """Resolve a disputed finding: ``upheld`` (it stands) or ``overturned``, with an optional note.
    ``audits.resolve_dispute`` records it and notifies the coder; the audit's scores stay as
    decided (docs/adr/0013)."""
    audits.resolve_dispute(principal, finding_id, resolution, note)
    with user_scope(principal.org_id, principal.user_id) as scope:
        return feedback.finding(scope, finding_id)
