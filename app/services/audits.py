"""Supervisor audit actions: the review queue, claims, the audit itself, and the coder's answer.

Every function takes the caller's ``Principal``, checks its permission first and runs in the
caller's tenant scope (``user_scope``). Each state change writes its audit-log row (and, for the
decision, its outbox events, in-app notification and email) in the same transaction (INV-5, INV-12).

Who may do what:

- ``audits:view`` (supervisor, manager): ``review_queue`` and ``list_audits``.
- ``audits:perform`` (supervisor): ``claim``, ``audit``, ``resolve_dispute``. Managers watch
  quality but do not audit.
- ``charts:code`` (coder): ``acknowledge_feedback`` and ``dispute_finding``, on their own audits only.

Submissions and claims. A chart's *submission* is numbered by how many decided audits it had
before (``submission_no`` = decided audits + 1); a resubmitted chart is a new submission. To audit
a ``pending_audit`` chart a supervisor first claims it: an undecided ``audits`` row whose
``claim_expires_at`` is ``CLAIM_MINUTES`` ahead (the partial unique index ``audits_one_open_uq``
allows one per chart). While a claim is live nobody else can claim or audit the chart
(``Conflict``); claiming again one's own claim renews it; an expired claim is taken over by the
next supervisor who claims. The decision — approve (chart ``completed``) or return (chart
``returned`` to the same coder with the findings) — is final for the submission: a second audit
of it is a ``Conflict``.

Exceptions (``app.errors``): ``PermissionDenied``, ``NotFound`` (missing, another organisation's,
or — for coders — another coder's), ``Conflict``, ``ValidationFailed``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Final, Literal
from uuid import UUID

from app.authz import Permission, Principal
from app.errors import Conflict, ValidationFailed
from app.services import audit as audit_log
from app.services import emails, outbox
from app.services.audit import Actor
from app.services.chart_types import ChartStatus
from app.services.validation import chart_input
from app.validation import ChartInput, DiagnosisRow, ProcedureRow, default_engine
from datalayer.queries import audits, charts, notifications
from datalayer.queries.audits import AuditRow, QueueItem
from datalayer.queries.charts import StoredCode
from datalayer.scope import Scope, user_scope

__all__ = [
    "CLAIM_MINUTES",
    "AuditResult",
    "AuditRow",
    "Claim",
    "Decision",
    "MissingCode",
    "QueueItem",
    "ReviewQueue",
    "RowVerdict",
    "Scores",
    "acknowledge_feedback",
    "audit",
    "audit_chart_input",
    "claim",
    "code_scores",
    "corrected_codes",
    "dispute_finding",
    "drg_before_after",
    "list_audits",
    "resolve_dispute",
    "review_queue",
]

CLAIM_MINUTES: Final = 30
MAX_PAGE_SIZE: Final = 200
MAX_TEXT: Final = 2000
MAX_FEEDBACK: Final = 20000
ROW_VERDICTS: Final = frozenset(
    {"correct", "wrong_code", "wrong_sequence", "not_supported", "should_not_code", "extra"}
)
# Verdicts whose row stays in the reviewer's final code list (a wrong code stays as its expected code).
_KEPT: Final = frozenset({"correct", "wrong_sequence", "wrong_code"})
# Verdicts whose row counts as a correct code: the code itself is right (sequencing is scored by
# "principal correct", not by code-over-code accuracy).
_CODE_RIGHT: Final = frozenset({"correct", "wrong_sequence"})
SEVERITIES: Final = frozenset({"minor", "major", "critical"})

Decision = Literal["approve", "return"]


@dataclass(frozen=True)
class RowVerdict:
    """The supervisor's verdict on one of the coder's code rows (by ``chart_codes.id``).

    ``expected_code`` is required for ``wrong_code``. ``wrong_sequence`` on a diagnosis means the
    code is right but the principal should be another one (mark it with a missing code's
    ``is_principal``, or it falls to the first other diagnosis kept).
    """

    chart_code_id: UUID
    verdict: str
    expected_code: str | None = None
    category: str | None = None
    severity: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class MissingCode:
    """A code the coder omitted; ``is_principal`` makes it the principal diagnosis of the final list."""

    code: str
    kind: Literal["diagnosis", "procedure"] = "diagnosis"
    is_principal: bool = False
    category: str | None = None
    severity: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Scores:
    """The scores of one audit (see ``code_scores`` for the formula)."""

    coder_correct: int
    final_count: int
    code_accuracy: float
    principal_correct: bool


def code_scores(codes: Sequence[StoredCode], verdicts: Sequence[RowVerdict], missing: Sequence[MissingCode]) -> Scores:
    """Code-over-code accuracy and principal-diagnosis correctness.

    The reviewer's final code list is the coder's rows the reviewer keeps — ``correct``,
    ``wrong_sequence`` (the code is right, its place is not) and ``wrong_code`` (replaced by the
    expected code) — plus the missing codes; rows judged ``not_supported``, ``should_not_code`` or
    ``extra`` leave it. The coder's correct codes are the rows judged ``correct`` or
    ``wrong_sequence``::

        code_accuracy = coder's correct codes / codes in the reviewer's final list

    Worked example: the coder enters 5 codes; the supervisor marks 3 correct, 1 wrong code (an
    expected code replaces it) and 1 should-not-code, and adds 1 missing code. The final list has
    3 + 1 + 1 = 5 codes, of which the coder had 3 right: accuracy = 3 / 5 = 0.60. Over-coding
    lowers the score only through the codes it displaced; under-coding (a missing code) grows the
    denominator. An empty final list scores 1.0 (nothing to code, nothing coded).

    ``principal_correct``: the coder's principal row is judged ``correct`` and no missing code is
    marked principal.
    """
    by_id = {v.chart_code_id: v for v in verdicts}
    correct = sum(1 for c in codes if by_id[c.id].verdict in _CODE_RIGHT)
    final = sum(1 for c in codes if by_id[c.id].verdict in _KEPT) + len(missing)
    principal_row = next((c for c in codes if c.is_principal), None)
    principal_ok = (
        principal_row is not None
        and by_id[principal_row.id].verdict == "correct"
        and not any(m.is_principal for m in missing)
    )
    return Scores(
        coder_correct=correct,
        final_count=final,
        code_accuracy=round(correct / final, 4) if final else 1.0,
        principal_correct=principal_ok,
    )


def corrected_codes(
    codes: Sequence[StoredCode], verdicts: Sequence[RowVerdict], missing: Sequence[MissingCode]
) -> tuple[tuple[DiagnosisRow, ...], tuple[ProcedureRow, ...]]:
    """The reviewer's final list as engine rows: kept rows (a wrong code as its expected code), then
    the missing codes. The principal is a missing code marked principal, else the coder's principal
    row if kept and not judged ``wrong_sequence``, else the first kept diagnosis."""
    by_id = {v.chart_code_id: v for v in verdicts}
    dx: list[tuple[str, bool, str | None]] = []
    px: list[ProcedureRow] = []
    new_principal = any(m.is_principal and m.kind == "diagnosis" for m in missing)
    demoted: int | None = None  # the coder's principal judged out of sequence
    for c in codes:
        v = by_id[c.id]
        if v.verdict not in _KEPT:
            continue
        code = (v.expected_code or c.code) if v.verdict == "wrong_code" else c.code
        if c.kind == "diagnosis":
            if c.is_principal and v.verdict == "wrong_sequence":
                demoted = len(dx)
            principal = c.is_principal and v.verdict != "wrong_sequence" and not new_principal
            dx.append((code, principal, c.override_rationale))
        else:
            system: Literal["ICD-10-PCS", "other"] = "ICD-10-PCS" if c.code_system == "ICD-10-PCS" else "other"
            px.append(ProcedureRow(code, system, c.override_rationale))
    for m in missing:
        if m.kind == "diagnosis":
            dx.append((m.code, m.is_principal, None))
        else:
            px.append(ProcedureRow(m.code, "ICD-10-PCS"))
    if dx and not any(p for _, p, _ in dx):
        first = next((i for i in range(len(dx)) if i != demoted), 0)
        dx[first] = (dx[first][0], True, dx[first][2])
    # The principal first: the engine reads sequence from the order as well as from the flag.
    dx.sort(key=lambda row: not row[1])
    return tuple(DiagnosisRow(code, principal, override) for code, principal, override in dx), tuple(px)


# -- review queue -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewQueue:
    items: list[QueueItem]
    total: int
    page: int
    page_size: int


def review_queue(principal: Principal, *, page: int = 1, page_size: int = 50) -> ReviewQueue:
    """The organisation's ``pending_audit`` charts, oldest submission first, with coder, specialty,
    difficulty, submitted time, the validation counts of the submitted version (unresolved errors,
    warnings, overrides used) and any live claim."""
    principal.require(Permission.AUDITS_VIEW)
    problems: dict[str, str] = {}
    if not 1 <= page <= 100_000:
        problems["page"] = "Pages start at 1."
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        problems["page_size"] = f"A whole number from 1 to {MAX_PAGE_SIZE}."
    if problems:
        raise ValidationFailed(fields=problems)
    with user_scope(principal.org_id, principal.user_id) as scope:
        total = audits.queue_count(scope)
        items = audits.review_queue(scope, now=datetime.now(UTC), limit=page_size, offset=(page - 1) * page_size)
    return ReviewQueue(items=items, total=total, page=page, page_size=page_size)


def list_audits(
    principal: Principal,
    *,
    chart_id: UUID | None = None,
    coder_id: UUID | None = None,
    decided_only: bool = False,
    page: int = 1,
    page_size: int = 50,
) -> list[AuditRow]:
    """The organisation's audits (claims and decisions) with their scores, newest claim first."""
    principal.require(Permission.AUDITS_VIEW)
    if not 1 <= page <= 100_000 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationFailed(fields={"page_size": f"Pages start at 1; a page holds 1 to {MAX_PAGE_SIZE}."})
    with user_scope(principal.org_id, principal.user_id) as scope:
        return audits.list_audits(
            scope,
            chart_id=chart_id,
            coder_id=coder_id,
            decided_only=decided_only,
            limit=page_size,
            offset=(page - 1) * page_size,
        )


# -- claim --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    audit_id: UUID
    chart_id: UUID
    submission_no: int
    version: int
    expires_at: datetime
    taken_over_from: UUID | None = None


def _actor(principal: Principal) -> Actor:
    return Actor(principal.user_id, principal.role)


def claim(principal: Principal, chart_id: UUID) -> Claim:
    """Claim a ``pending_audit`` chart for ``CLAIM_MINUTES`` (renewing one's own claim, taking over
    an expired one). ``Conflict`` if the chart is not waiting for audit or another supervisor's
    claim is live. Audit-log row ``chart_claimed`` in the same transaction."""
    principal.require(Permission.AUDITS_PERFORM)
    now = datetime.now(UTC)
    expires = now + timedelta(minutes=CLAIM_MINUTES)
    with user_scope(principal.org_id, principal.user_id) as scope:
        state = charts.lock(scope, chart_id)
        if state.status != ChartStatus.PENDING_AUDIT or state.assignee_id is None:
            raise Conflict("This chart is not waiting for audit.")
        current = audits.lock_open(scope, chart_id)
        previous: UUID | None = None
        if current is None:
            submission_no = audits.decided_count(scope, chart_id) + 1
            audit_id = audits.insert_claim(
                scope,
                chart_id=chart_id,
                submission_no=submission_no,
                supervisor_id=principal.user_id,
                coder_id=state.assignee_id,
                now=now,
                expires=expires,
            )
        else:
            if current.supervisor_id != principal.user_id and current.claim_expires_at > now:
                raise Conflict("Another supervisor is auditing this chart.")
            if current.supervisor_id != principal.user_id:
                previous = current.supervisor_id
            audit_id, submission_no = current.id, current.submission_no
            audits.renew_claim(scope, audit_id, supervisor_id=principal.user_id, now=now, expires=expires)
        audit_log.record(
            scope,
            action="chart_claimed",
            actor=_actor(principal),
            object_type="chart",
            object_id=chart_id,
            details={
                "audit_id": str(audit_id),
                "submission_no": submission_no,
                "taken_over_from": str(previous) if previous else None,
            },
        )
    return Claim(audit_id, chart_id, submission_no, state.version, expires, previous)


# -- audit --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditResult:
    audit_id: UUID
    chart_id: UUID
    submission_no: int
    decision: Decision
    scores: Scores
    drg_before: int | None
    drg_after: int | None
    weight_before: float | None
    weight_after: float | None
    drg_correct: bool | None
    finding_ids: list[UUID] = field(default_factory=list)
    feedback_id: UUID | None = None


def _text(value: str | None, where: str, problems: dict[str, str], limit: int = MAX_TEXT) -> str | None:
    cleaned = (value or "").strip() or None
    if cleaned is not None and len(cleaned) > limit:
        problems[where] = f"At most {limit} characters."
    return cleaned


def _check_verdicts(
    codes: Sequence[StoredCode], verdicts: Sequence[RowVerdict], problems: dict[str, str]
) -> list[RowVerdict]:
    ids = {c.id for c in codes}
    seen: set[UUID] = set()
    clean: list[RowVerdict] = []
    for i, v in enumerate(verdicts, start=1):
        where = f"verdicts[{i}]"
        if v.chart_code_id not in ids:
            problems[f"{where}.chart_code_id"] = "Not a code row of this submission."
        if v.chart_code_id in seen:
            problems[f"{where}.chart_code_id"] = "One verdict per code row."
        seen.add(v.chart_code_id)
        if v.verdict not in ROW_VERDICTS:
            problems[f"{where}.verdict"] = f"Use one of: {', '.join(sorted(ROW_VERDICTS))}."
        expected = (v.expected_code or "").strip().upper() or None
        if v.verdict == "wrong_code" and expected is None:
            problems[f"{where}.expected_code"] = "Enter the code that should have been used."
        if v.severity is not None and v.severity not in SEVERITIES:
            problems[f"{where}.severity"] = "Use minor, major or critical."
        clean.append(
            replace(
                v,
                expected_code=None if v.verdict == "correct" else expected,
                category=_text(v.category, f"{where}.category", problems, 200),
                note=_text(v.note, f"{where}.note", problems),
            )
        )
    if ids - seen:
        problems["verdicts"] = f"Give a verdict on every code row ({len(ids - seen)} without one)."
    return clean


def _check_missing(missing: Sequence[MissingCode], problems: dict[str, str]) -> list[MissingCode]:
    clean: list[MissingCode] = []
    for i, m in enumerate(missing, start=1):
        where = f"missing[{i}]"
        code = (m.code or "").strip().upper()
        if not code or len(code) > 16:
            problems[f"{where}.code"] = "Enter a code (at most 16 characters)."
        if m.kind not in ("diagnosis", "procedure"):
            problems[f"{where}.kind"] = "Use diagnosis or procedure."
        if m.is_principal and m.kind != "diagnosis":
            problems[f"{where}.is_principal"] = "Only a diagnosis can be principal."
        if m.severity is not None and m.severity not in SEVERITIES:
            problems[f"{where}.severity"] = "Use minor, major or critical."
        clean.append(
            replace(
                m,
                code=code,
                category=_text(m.category, f"{where}.category", problems, 200),
                note=_text(m.note, f"{where}.note", problems),
            )
        )
    if sum(m.is_principal for m in clean) > 1:
        problems["missing"] = "Mark at most one missing diagnosis as principal."
    return clean


def _check_input(
    codes: Sequence[StoredCode],
    verdicts: Sequence[RowVerdict],
    missing: Sequence[MissingCode],
    decision: str,
    feedback: str | None,
) -> tuple[list[RowVerdict], list[MissingCode], str | None]:
    problems: dict[str, str] = {}
    clean_v = _check_verdicts(codes, verdicts, problems)
    clean_m = _check_missing(missing, problems)
    if decision not in ("approve", "return"):
        problems["decision"] = "Use approve or return."
    body = _text(feedback, "feedback", problems, MAX_FEEDBACK)
    if decision == "return" and body is None:
        problems["feedback"] = "Tell the coder what to fix before returning the chart."
    if problems:
        raise ValidationFailed("Some findings need attention.", fields=problems)
    return clean_v, clean_m, body


def audit(
    principal: Principal,
    chart_id: UUID,
    *,
    submission_no: int,
    verdicts: Sequence[RowVerdict],
    missing: Sequence[MissingCode] = (),
    feedback: str | None = None,
    decision: Decision,
    app_url: str | None = None,
) -> AuditResult:
    """Record the audit of the submission the caller has claimed, and decide it.

    Needs a live claim by the caller on submission ``submission_no`` (``Conflict`` otherwise: not
    claimed, claimed by another, claim expired and taken over, a later or already decided
    submission). A verdict is required on every code row; ``return`` requires feedback text.

    Stores the findings (one per row, one per missing code), the feedback, the scores
    (``code_scores``) and the MS-DRG and weight before (the coder's codes) and after (the
    corrected codes, ``corrected_codes``) — both grouped by the validation engine; ``drg_correct``
    is whether they agree (None when either does not group). Then moves the chart: ``approve`` →
    ``completed``, ``return`` → ``returned`` to the same coder (version + 1 either way). In the same
    transaction: audit-log row ``chart_audited``; outbox ``chart.audited`` and ``chart.approved``
    or ``chart.returned``; an in-app notification and an email (no PHI) to the coder.
    """
    principal.require(Permission.AUDITS_PERFORM)
    now = datetime.now(UTC)
    with user_scope(principal.org_id, principal.user_id) as scope:
        state = charts.lock(scope, chart_id)
        current = audits.lock_open(scope, chart_id)
        if state.status != ChartStatus.PENDING_AUDIT:
            raise Conflict("This submission has already been audited; its decision is final.")
        if current is None or current.submission_no != submission_no:
            decided = audits.decided_count(scope, chart_id)
            if submission_no <= decided:
                raise Conflict("This submission has already been audited; its decision is final.")
            raise Conflict("Claim the chart before auditing it.")
        if current.supervisor_id != principal.user_id:
            raise Conflict("Another supervisor is auditing this chart.")
        if current.claim_expires_at <= now:
            raise Conflict("Your claim on this chart expired; claim it again.")
        codes = charts.stored_codes(scope, chart_id)
        clean_v, clean_m, body = _check_input(codes, verdicts, missing, decision, feedback)
        scores = code_scores(codes, clean_v, clean_m)
        before, after = _drg(scope, chart_id, codes, clean_v, clean_m)
        drg_correct = None if before[0] is None or after[0] is None else before[0] == after[0]
        audits.decide(
            scope,
            current.id,
            values={
                "code_accuracy": scores.code_accuracy,
                "principal_correct": scores.principal_correct,
                "drg_correct": drg_correct,
                "drg_before": before[0],
                "drg_after": after[0],
                "weight_before": before[1],
                "weight_after": after[1],
            },
            decision=decision,
            now=now,
        )
        finding_ids = [
            audits.insert_finding(
                scope,
                audit_id=current.id,
                values={
                    "chart_code_id": v.chart_code_id,
                    "verdict": v.verdict,
                    "expected_code": v.expected_code,
                    "category": v.category,
                    "severity": v.severity,
                    "note": v.note,
                },
                now=now,
            )
            for v in clean_v
        ]
        finding_ids += [
            audits.insert_finding(
                scope,
                audit_id=current.id,
                values={
                    "chart_code_id": None,
                    "verdict": "missing",
                    "expected_code": m.code,
                    "category": m.category,
                    "severity": m.severity,
                    "note": m.note,
                },
                now=now,
            )
            for m in clean_m
        ]
        feedback_id = None
        if body is not None:
            feedback_id = audits.insert_feedback(
                scope,
                audit_id=current.id,
                chart_id=chart_id,
                coder_id=current.coder_id,
                supervisor_id=principal.user_id,
                body=body,
                now=now,
            )
        status = ChartStatus.COMPLETED if decision == "approve" else ChartStatus.RETURNED
        audits.set_chart_status(scope, chart_id, status=status.value, version=state.version + 1, now=now)
        findings = sum(v.verdict != "correct" for v in clean_v) + len(clean_m)
        details = {
            "audit_id": str(current.id),
            "submission_no": current.submission_no,
            "decision": decision,
            "code_accuracy": scores.code_accuracy,
            "principal_correct": scores.principal_correct,
            "drg_correct": drg_correct,
            "findings": findings,
        }
        audit_log.record(
            scope,
            action="chart_audited",
            actor=_actor(principal),
            object_type="chart",
            object_id=chart_id,
            details=details,
        )
        payload = {"chart_id": str(chart_id), "coder_id": str(current.coder_id), **details}
        outbox.emit(scope, event_type="chart.audited", aggregate_type="chart", aggregate_id=chart_id, payload=payload)
        outbox.emit(
            scope,
            event_type="chart.approved" if decision == "approve" else "chart.returned",
            aggregate_type="chart",
            aggregate_id=chart_id,
            payload=payload,
        )
        _notify_coder(
            scope,
            coder_id=current.coder_id,
            chart_id=chart_id,
            decision=decision,
            findings=findings,
            supervisor=principal.name,
            app_url=app_url,
            now=now,
        )
    return AuditResult(
        audit_id=current.id,
        chart_id=chart_id,
        submission_no=current.submission_no,
        decision=decision,
        scores=scores,
        drg_before=before[0],
        drg_after=after[0],
        weight_before=before[1],
        weight_after=after[1],
        drg_correct=drg_correct,
        finding_ids=finding_ids,
        feedback_id=feedback_id,
    )


def _drg(
    scope: Scope,
    chart_id: UUID,
    codes: Sequence[StoredCode],
    verdicts: Sequence[RowVerdict],
    missing: Sequence[MissingCode],
) -> tuple[tuple[int | None, float | None], tuple[int | None, float | None]]:
    """(MS-DRG, weight) for the coder's codes and for the corrected codes, grouped by the engine."""
    try:
        _, chart = chart_input(scope, chart_id)
    except ValidationFailed:  # no patient age: the grouper cannot run
        return (None, None), (None, None)
    return drg_before_after(chart, codes, verdicts, missing)


def drg_before_after(
    chart: ChartInput,
    codes: Sequence[StoredCode],
    verdicts: Sequence[RowVerdict],
    missing: Sequence[MissingCode],
) -> tuple[tuple[int | None, float | None], tuple[int | None, float | None]]:
    """(MS-DRG, weight) for the coder's codes (``chart``) and for the corrected codes: pure, no
    database — the audit page computes it live with the same function the decision stores."""
    engine = default_engine()
    first = engine.validate(chart).summary
    dx, px = corrected_codes(codes, verdicts, missing)
    second = engine.validate(replace(chart, diagnoses=dx, procedures=px)).summary
    return (first.ms_drg, first.drg_weight), (second.ms_drg, second.drg_weight)


def audit_chart_input(principal: Principal, chart_id: UUID) -> ChartInput | None:
    """The engine's input for the chart's current codes, for ``drg_before_after`` on the audit page;
    None when the chart cannot be grouped (no patient age). ``audits:view``; NotFound as elsewhere."""
    principal.require(Permission.AUDITS_VIEW)
    with user_scope(principal.org_id, principal.user_id) as scope:
        try:
            _, chart = chart_input(scope, chart_id)
        except ValidationFailed:
            return None
    return chart


def _notify_coder(
    scope: Scope,
    *,
    coder_id: UUID,
    chart_id: UUID,
    decision: str,
    findings: int,
    supervisor: str,
    app_url: str | None,
    now: datetime,
) -> None:
    people = charts.users_by_ids(scope, [coder_id])
    if not people:
        return
    coder = people[0]
    noun = f"{findings} finding{'s' if findings != 1 else ''}"
    if decision == "approve":
        title = "A chart you coded was approved"
        body = f"{supervisor} approved your chart with {noun}."
    else:
        title = "A chart was returned to you with findings"
        body = f"{supervisor} returned your chart with {noun} to fix."
    link = f"/chart?id={chart_id}"
    notifications.insert(
        scope,
        notification_id=uuid.uuid4(),
        user_id=coder.id,
        kind=f"chart_{'approved' if decision == 'approve' else 'returned'}",
        title=title,
        body=body,
        link=link,
        now=now,
    )
    where = f"{app_url.rstrip('/')}{link}" if app_url else "your queue in SmartCoders"
    # No PHI in email: the decision, a count and a link behind the sign-in.
    emails.enqueue(
        scope,
        to=coder.email,
        template=f"chart_{'approved' if decision == 'approve' else 'returned'}",
        subject=f"SmartCoders: {title}",
        body=f"Hello {coder.name},\n\n{body}\n\nOpen {where} to read the findings and feedback.\n",
    )


# -- coder side and disputes ---------------------------------------------------------------------------


def acknowledge_feedback(principal: Principal, feedback_id: UUID) -> bool:
    """The coder acknowledges feedback addressed to them; True if this call acknowledged it (False
    if it already was: nothing is written). Another coder's feedback is ``NotFound``. Audit-log row
    ``feedback_acknowledged`` and outbox ``feedback.acknowledged``."""
    principal.require(Permission.CHARTS_CODE)
    with user_scope(principal.org_id, principal.user_id) as scope:
        state = audits.lock_feedback(scope, feedback_id, coder_id=principal.user_id)
        if state.acknowledged_at is not None:
            return False
        audits.acknowledge(scope, feedback_id, now=datetime.now(UTC))
        audit_log.record(
            scope,
            action="feedback_acknowledged",
            actor=_actor(principal),
            object_type="feedback",
            object_id=feedback_id,
        )
        outbox.emit(
            scope,
            event_type="feedback.acknowledged",
            aggregate_type="feedback",
            aggregate_id=feedback_id,
            payload={"feedback_id": str(feedback_id), "coder_id": str(state.coder_id)},
        )
    return True


def dispute_finding(principal: Principal, finding_id: UUID, comment: str) -> None:
    """The coder disputes a finding of one of their audits with a comment; it then waits for a
    supervisor (``resolve_dispute``). ``Conflict`` if already disputed or a ``correct`` verdict.
    Audit-log row ``finding_disputed``, outbox ``finding.disputed``, and an in-app notification to
    the supervisor who audited."""
    principal.require(Permission.CHARTS_CODE)
    text = (comment or "").strip()
    if not text or len(text) > MAX_TEXT:
        raise ValidationFailed(fields={"comment": f"Explain the dispute (1 to {MAX_TEXT} characters)."})
    with user_scope(principal.org_id, principal.user_id) as scope:
        state = audits.lock_finding(scope, finding_id, coder_id=principal.user_id)
        if state.verdict == "correct":
            raise Conflict("This row was judged correct; there is nothing to dispute.")
        if state.disputed_at is not None:
            raise Conflict("This finding is already disputed.")
        now = datetime.now(UTC)
        audits.dispute(scope, finding_id, comment=text, now=now)
        audit_log.record(
            scope,
            action="finding_disputed",
            actor=_actor(principal),
            object_type="audit_finding",
            object_id=finding_id,
            details={"chart_id": str(state.chart_id), "audit_id": str(state.audit_id)},
        )
        outbox.emit(
            scope,
            event_type="finding.disputed",
            aggregate_type="audit_finding",
            aggregate_id=finding_id,
            payload={"finding_id": str(finding_id), "chart_id": str(state.chart_id), "coder_id": str(state.coder_id)},
        )
        # No PHI in the notification: who disputed, and a link to the supervisors' queue.
        notifications.insert(
            scope,
            notification_id=uuid.uuid4(),
            user_id=state.supervisor_id,
            kind="finding_disputed",
            title="A coder disputed one of your findings",
            body=f"{principal.name} disputed a finding on a chart you audited.",
            link="/review",
            now=now,
        )


def resolve_dispute(
    principal: Principal, finding_id: UUID, resolution: Literal["upheld", "overturned"], note: str = ""
) -> None:
    """A supervisor resolves a disputed finding: ``upheld`` (the finding stands) or ``overturned``.
    The stored scores are not recomputed (the audit is final); the resolution is recorded on the
    finding. ``Conflict`` if not disputed or already resolved. Audit-log row ``finding_resolved``,
    outbox ``finding.resolved``, and an in-app notification to the coder."""
    principal.require(Permission.AUDITS_PERFORM)
    if resolution not in ("upheld", "overturned"):
        raise ValidationFailed(fields={"resolution": "Use upheld or overturned."})
    text = (note or "").strip()
    if len(text) > MAX_TEXT:
        raise ValidationFailed(fields={"note": f"At most {MAX_TEXT} characters."})
    now = datetime.now(UTC)
    with user_scope(principal.org_id, principal.user_id) as scope:
        state = audits.lock_finding(scope, finding_id)
        if state.disputed_at is None:
            raise Conflict("This finding is not disputed.")
        if state.resolution is not None:
            raise Conflict("This dispute is already resolved.")
        audits.resolve(scope, finding_id, resolution=resolution, note=text, by=principal.user_id, now=now)
        audit_log.record(
            scope,
            action="finding_resolved",
            actor=_actor(principal),
            object_type="audit_finding",
            object_id=finding_id,
            details={"chart_id": str(state.chart_id), "resolution": resolution},
        )
        outbox.emit(
            scope,
            event_type="finding.resolved",
            aggregate_type="audit_finding",
            aggregate_id=finding_id,
            payload={"finding_id": str(finding_id), "chart_id": str(state.chart_id), "resolution": resolution},
        )
        notifications.insert(
            scope,
            notification_id=uuid.uuid4(),
            user_id=state.coder_id,
            kind="finding_resolved",
            title=f"Your dispute was {resolution}",
            body=f"{principal.name} {resolution} the finding you disputed.",
            link=f"/chart?id={state.chart_id}",
            now=now,
        )
