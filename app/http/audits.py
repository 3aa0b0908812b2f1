"""Supervisor audit over JSON (documented in ``app/http/audit_openapi.py``).

Thin: parse, call ``app.services.audits`` off the event loop, shape the answer. In short:

- claiming and auditing need ``audits:perform`` (supervisor; **403** for coders, managers and
  analysts); listing audits and the review queue need ``audits:view`` (supervisor, manager);
- another organisation's chart answers **404**, exactly like one that does not exist;
- a chart claimed by another supervisor, a chart not waiting for audit, and a second audit of a
  submission already decided answer **409**;
- the audit-sampling policy is read with ``audits:view`` and changed with ``audits:configure``
  (supervisor, manager); a bad value answers **400** with the offending fields in ``error.fields``.
"""

from __future__ import annotations

from typing import Any, Final, cast
from uuid import UUID

from app.authz import Permission
from app.errors import PermissionDenied, ValidationFailed
from app.http.charts import _an_id, _chart_id, _ChartsHandler, _iso, _only, _whole
from app.services import audits as audit_actions
from app.services import sampling
from app.services.audits import AuditResult, AuditRow, Claim, Decision, MissingCode, QueueItem, RowVerdict

AUDIT_FIELDS: Final = frozenset({"submission_no", "verdicts", "missing", "feedback", "decision"})
VERDICT_FIELDS: Final = frozenset({"chart_code_id", "verdict", "expected_code", "category", "severity", "note"})
MISSING_FIELDS: Final = frozenset({"code", "kind", "is_principal", "category", "severity", "note"})
LIST_PARAMS: Final = frozenset({"chart_id", "coder_id", "decided", "page", "page_size"})
QUEUE_PARAMS: Final = frozenset({"page", "page_size"})
MAX_ITEMS: Final = 400


def claim_json(c: Claim) -> dict[str, Any]:
    return {
        "audit_id": str(c.audit_id),
        "chart_id": str(c.chart_id),
        "submission_no": c.submission_no,
        "version": c.version,
        "expires_at": _iso(c.expires_at),
        "taken_over_from": str(c.taken_over_from) if c.taken_over_from else None,
    }


def result_json(r: AuditResult) -> dict[str, Any]:
    return {
        "audit_id": str(r.audit_id),
        "chart_id": str(r.chart_id),
        "submission_no": r.submission_no,
        "decision": r.decision,
        "scores": {
            "code_accuracy": r.scores.code_accuracy,
            "coder_correct": r.scores.coder_correct,
            "final_count": r.scores.final_count,
            "principal_correct": r.scores.principal_correct,
            "drg_correct": r.drg_correct,
        },
        "drg": {
            "before": {"ms_drg": r.drg_before, "weight": r.weight_before},
            "after": {"ms_drg": r.drg_after, "weight": r.weight_after},
        },
        "finding_ids": [str(f) for f in r.finding_ids],
        "feedback_id": str(r.feedback_id) if r.feedback_id else None,
    }


def audit_row_json(a: AuditRow) -> dict[str, Any]:
    return {
        "id": str(a.id),
        "chart_id": str(a.chart_id),
        "submission_no": a.submission_no,
        "supervisor_id": str(a.supervisor_id),
        "coder_id": str(a.coder_id),
        "claimed_at": _iso(a.claimed_at),
        "claim_expires_at": _iso(a.claim_expires_at),
        "code_accuracy": a.code_accuracy,
        "principal_correct": a.principal_correct,
        "drg_correct": a.drg_correct,
        "drg": {
            "before": {"ms_drg": a.drg_before, "weight": a.weight_before},
            "after": {"ms_drg": a.drg_after, "weight": a.weight_after},
        },
        "decision": a.decision,
        "decided_at": _iso(a.decided_at),
    }


def queue_item_json(q: QueueItem) -> dict[str, Any]:
    return {
        "chart_id": str(q.chart_id),
        "version": q.version,
        "coder": {"id": str(q.coder_id), "name": q.coder_name} if q.coder_id else None,
        "specialty": q.specialty,
        "difficulty": q.difficulty,
        "submitted_at": _iso(q.submitted_at),
        "validation": {"errors": q.errors, "warnings": q.warnings, "overrides": q.overrides},
        "code_count": q.code_count,
        "audit_reason": q.audit_reason,
        "audit_reason_label": sampling.REASON_LABELS.get(q.audit_reason, q.audit_reason),
        "claim": (
            {"by": {"id": str(q.claimed_by), "name": q.claimed_by_name}, "expires_at": _iso(q.claim_expires_at)}
            if q.claimed_by
            else None
        ),
    }


def _opt_text(item: dict[str, Any], name: str, where: str, problems: dict[str, str]) -> str | None:
    value = item.get(name)
    if value is not None and not isinstance(value, str):
        problems[where + name] = "Text or null."
        return None
    return value


def _verdicts(raw: Any) -> list[RowVerdict]:
    if not isinstance(raw, list) or len(raw) > MAX_ITEMS:
        raise ValidationFailed(fields={"verdicts": f"A list of at most {MAX_ITEMS} verdicts, one per code row."})
    out: list[RowVerdict] = []
    problems: dict[str, str] = {}
    for index, item in enumerate(raw, start=1):
        where = f"verdicts[{index}]."
        if not isinstance(item, dict):
            raise ValidationFailed(fields={f"verdicts[{index}]": "Each verdict is an object."})
        _only(item, VERDICT_FIELDS, where)
        try:
            code_id = UUID(str(item.get("chart_code_id")))
        except ValueError:
            problems[where + "chart_code_id"] = "The id of one of the chart's code rows."
            continue
        verdict = item.get("verdict")
        if not isinstance(verdict, str):
            problems[where + "verdict"] = "Required text."
            continue
        texts = {n: _opt_text(item, n, where, problems) for n in ("expected_code", "category", "severity", "note")}
        out.append(RowVerdict(code_id, verdict, **texts))
    if problems:
        raise ValidationFailed("Some verdicts need attention.", fields=problems)
    return out


def _missing(raw: Any) -> list[MissingCode]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_ITEMS:
        raise ValidationFailed(fields={"missing": f"A list of at most {MAX_ITEMS} codes."})
    out: list[MissingCode] = []
    problems: dict[str, str] = {}
    for index, item in enumerate(raw, start=1):
        where = f"missing[{index}]."
        if not isinstance(item, dict):
            raise ValidationFailed(fields={f"missing[{index}]": "Each missing code is an object."})
        _only(item, MISSING_FIELDS, where)
        code, kind, principal = item.get("code"), item.get("kind", "diagnosis"), item.get("is_principal", False)
        if not isinstance(code, str):
            problems[where + "code"] = "Required text."
        if kind not in ("diagnosis", "procedure"):
            problems[where + "kind"] = "Use diagnosis or procedure."
        if not isinstance(principal, bool):
            problems[where + "is_principal"] = "true or false."
        texts = {n: _opt_text(item, n, where, problems) for n in ("category", "severity", "note")}
        if not problems:
            out.append(MissingCode(str(code), kind, principal, **texts))
    if problems:
        raise ValidationFailed("Some missing codes need attention.", fields=problems)
    return out


def _query(handler: _ChartsHandler, allowed: frozenset[str]) -> dict[str, str]:
    args = handler.request.query_arguments
    _only(dict.fromkeys(args), allowed)
    if any(len(v) > 1 for v in args.values()):
        raise ValidationFailed("Send each query parameter once.")
    return {k: v[0].decode("utf-8", "replace").strip() for k, v in args.items() if v[0].strip()}


def _paging(raw: dict[str, str], problems: dict[str, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name in ("page", "page_size"):
        if name in raw:
            try:
                out[name] = _whole(raw[name])
            except ValueError as exc:
                problems[name] = str(exc)
    return out


class ChartClaimHandler(_ChartsHandler):
    """POST /api/v1/charts/{id}/claim: claim a submitted chart for audit (supervisor)."""

    permission = Permission.AUDITS_PERFORM

    async def post(self, chart_id: str) -> None:
        wanted = _chart_id(chart_id)
        body = self.json_body()
        _only(body, frozenset())
        self.write_json(claim_json(await self.off_loop(lambda p: audit_actions.claim(p, wanted))))


class ChartAuditHandler(_ChartsHandler):
    """POST /api/v1/charts/{id}/audit: verdicts, missing codes, feedback and the decision (supervisor)."""

    permission = Permission.AUDITS_PERFORM

    async def post(self, chart_id: str) -> None:
        wanted = _chart_id(chart_id)
        body = self.json_body()
        _only(body, AUDIT_FIELDS)
        submission_no = body.get("submission_no")
        if not isinstance(submission_no, int) or isinstance(submission_no, bool) or submission_no < 1:
            raise ValidationFailed(fields={"submission_no": "The submission you claimed (a whole number from 1)."})
        decision = body.get("decision")
        if decision not in ("approve", "return"):
            raise ValidationFailed(fields={"decision": "Use approve or return."})
        feedback = body.get("feedback")
        if feedback is not None and not isinstance(feedback, str):
            raise ValidationFailed(fields={"feedback": "Text or null."})
        verdicts, missing = _verdicts(body.get("verdicts")), _missing(body.get("missing"))
        app_url = self.ctx.settings.app_url
        result = await self.off_loop(
            lambda p: audit_actions.audit(
                p,
                wanted,
                submission_no=submission_no,
                verdicts=verdicts,
                missing=missing,
                feedback=feedback,
                decision=cast(Decision, decision),
                app_url=app_url,
            )
        )
        self.write_json(result_json(result))


class AuditsHandler(_ChartsHandler):
    """GET /api/v1/audits: the organisation's audits with their scores, newest claim first."""

    permission = Permission.AUDITS_VIEW

    async def get(self) -> None:
        raw = _query(self, LIST_PARAMS)
        problems: dict[str, str] = {}
        kwargs: dict[str, Any] = dict(_paging(raw, problems))
        for name in ("chart_id", "coder_id"):
            if name in raw:
                try:
                    kwargs[name] = _an_id(raw[name])
                except ValueError as exc:
                    problems[name] = str(exc)
        if "decided" in raw:
            if raw["decided"] not in ("true", "false"):
                problems["decided"] = "true or false."
            kwargs["decided_only"] = raw["decided"] == "true"
        if problems:
            raise ValidationFailed(fields=problems)
        items = await self.off_loop(lambda p: audit_actions.list_audits(p, **kwargs))
        self.write_json({"items": [audit_row_json(a) for a in items]})


class ReviewQueueHandler(_ChartsHandler):
    """GET /api/v1/audits/queue: the charts waiting for audit, oldest submission first."""

    permission = Permission.AUDITS_VIEW

    async def get(self) -> None:
        raw = _query(self, QUEUE_PARAMS)
        problems: dict[str, str] = {}
        paging = _paging(raw, problems)
        if problems:
            raise ValidationFailed(fields=problems)
        queue = await self.off_loop(lambda p: audit_actions.review_queue(p, **paging))
        self.write_json(
            {
                "items": [queue_item_json(q) for q in queue.items],
                "total": queue.total,
                "page": queue.page,
                "page_size": queue.page_size,
            }
        )


def sampling_json(settings: sampling.SamplingSettings) -> dict[str, Any]:
    return {"settings": settings.as_json(), "description": sampling.describe(settings)}


class AuditSamplingHandler(_ChartsHandler):
    """GET/PUT /api/v1/audits/sampling: the organisation's audit-sampling policy.

    Reading needs ``audits:view`` (the route's permission); replacing it needs ``audits:configure``,
    checked by the service (403 otherwise). PUT takes every field of ``SamplingSettings``.
    """

    permission = Permission.AUDITS_VIEW

    async def get(self) -> None:
        _query(self, frozenset())
        self.write_json(sampling_json(await self.off_loop(sampling.get_settings)))

    async def put(self) -> None:
        if self.principal is None or not self.principal.can(Permission.AUDITS_CONFIGURE):
            raise PermissionDenied()  # before reading the body (the service checks it again)
        settings = sampling.parse_settings(self.json_body())
        saved, _ = await self.off_loop(lambda p: sampling.update_settings(p, settings))
        self.write_json(sampling_json(saved))
