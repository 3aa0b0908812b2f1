"""The coder's side of an audit over JSON (documented in ``app/http/feedback_openapi.py``).

Thin: parse, call ``app.services.feedback`` off the event loop, shape the answer. In short:

- ``GET /api/v1/feedback``, acknowledging and disputing need ``charts:code`` and act on the
  caller's own audits only: another coder's feedback or finding answers **404**, exactly like
  another organisation's or an id that does not exist (same status, same body);
- ``GET /api/v1/findings/disputed`` needs ``audits:view`` (supervisor, manager); resolving needs
  ``audits:perform`` (supervisor; **403** for coders, managers and analysts);
- acknowledging twice is **200** both times (``"changed": false`` the second time): the
  acknowledgement is a state the coder asserts, so a retried request must not fail;
- disputing a finding twice (or a ``correct`` verdict), and resolving a finding that is not
  disputed or already resolved, answer **409**; a missing or too long comment or note, or an
  unknown resolution, **400** with the field named (the API's one status for invalid input).
"""

from __future__ import annotations

from typing import Any, Final, Literal, cast
from uuid import UUID

from app.authz import Permission
from app.errors import NotFound, ValidationFailed
from app.http.audits import _paging, _query
from app.http.charts import _ChartsHandler, _iso, _only
from app.services import feedback as feedback_actions
from app.services.feedback import DisputedFinding, FeedbackItem, Finding

PAGE_PARAMS: Final = frozenset({"page", "page_size"})
RESOLUTIONS: Final = ("upheld", "overturned")


def _uuid(raw: str, what: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        # A malformed id answers exactly like an unknown or foreign one.
        raise NotFound(f"{what} not found.") from None


def _encounter(x: FeedbackItem | DisputedFinding) -> dict[str, Any]:
    return {
        "class": x.encounter_class,
        "type": x.encounter_type,
        "reason": x.encounter_reason,
        "start": _iso(x.encounter_start),
    }


def finding_json(f: Finding) -> dict[str, Any]:
    return {
        "id": str(f.id),
        "audit_id": str(f.audit_id),
        "row": (
            {"chart_code_id": str(f.chart_code_id), "code": f.code, "kind": f.kind, "sequence": f.sequence}
            if f.chart_code_id is not None
            else None
        ),
        "verdict": f.verdict,
        "expected_code": f.expected_code,
        "category": f.category,
        "severity": f.severity,
        "note": f.note,
        "disputable": f.disputable,
        "dispute": (
            {
                "status": f.dispute_status,
                "comment": f.dispute_comment,
                "disputed_at": _iso(f.disputed_at),
                "resolution": f.resolution,
                "resolution_note": f.resolution_note,
                "resolved_at": _iso(f.resolved_at),
                "resolved_by": f.resolved_by_name,
            }
            if f.disputed_at is not None
            else None
        ),
    }


def item_json(i: FeedbackItem) -> dict[str, Any]:
    return {
        "id": str(i.feedback_id) if i.feedback_id else None,
        "audit_id": str(i.audit_id),
        "chart": {"id": str(i.chart_id), "link": f"/chart?id={i.chart_id}", "encounter": _encounter(i)},
        "submission_no": i.submission_no,
        "decision": i.decision,
        "decided_at": _iso(i.decided_at),
        "scores": {
            "code_accuracy": i.code_accuracy,
            "principal_correct": i.principal_correct,
            "drg_correct": i.drg_correct,
        },
        "supervisor": {"id": str(i.supervisor_id), "name": i.supervisor_name},
        "body": i.body,
        "acknowledged_at": _iso(i.acknowledged_at),
        "findings": [finding_json(f) for f in i.findings],
    }


def disputed_json(d: DisputedFinding) -> dict[str, Any]:
    return {
        "finding": finding_json(d.finding),
        "chart": {"id": str(d.chart_id), "link": f"/chart?id={d.chart_id}", "encounter": _encounter(d)},
        "submission_no": d.submission_no,
        "decision": d.decision,
        "decided_at": _iso(d.decided_at),
        "coder": {"id": str(d.coder_id), "name": d.coder_name},
        "supervisor": {"id": str(d.supervisor_id), "name": d.supervisor_name},
    }


def _page_args(handler: _ChartsHandler) -> dict[str, int]:
    problems: dict[str, str] = {}
    paging = _paging(_query(handler, PAGE_PARAMS), problems)
    if problems:
        raise ValidationFailed(fields=problems)
    return paging


def _text_field(body: dict[str, Any], name: str, *, required: bool) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ValidationFailed(fields={name: "Required text." if required else "Text or null."})
    return value


class FeedbackHandler(_ChartsHandler):
    """GET /api/v1/feedback: the caller's feedback, to acknowledge first, then newest first."""

    permission = Permission.CHARTS_CODE

    async def get(self) -> None:
        paging = _page_args(self)
        inbox = await self.off_loop(lambda p: feedback_actions.received(p, **paging))
        self.write_json(
            {
                "items": [item_json(i) for i in inbox.items],
                "total": inbox.total,
                "page": inbox.page,
                "page_size": inbox.page_size,
                "unacknowledged": inbox.unacknowledged,
                "open_disputes": inbox.open_disputes,
            }
        )


class FeedbackAcknowledgeHandler(_ChartsHandler):
    """POST /api/v1/feedback/{id}/acknowledge: the coder has read it (idempotent)."""

    permission = Permission.CHARTS_CODE

    async def post(self, feedback_id: str) -> None:
        wanted = _uuid(feedback_id, "Feedback")
        _only(self.json_body(), frozenset())
        done = await self.off_loop(lambda p: feedback_actions.acknowledge(p, wanted))
        self.write_json({"changed": done.changed, "feedback": item_json(done.item)})


class FindingDisputeHandler(_ChartsHandler):
    """POST /api/v1/findings/{id}/dispute ``{"comment": …}``: the coder disputes a finding."""

    permission = Permission.CHARTS_CODE

    async def post(self, finding_id: str) -> None:
        wanted = _uuid(finding_id, "Finding")
        body = self.json_body()
        _only(body, frozenset({"comment"}))
        comment = _text_field(body, "comment", required=True)
        found = await self.off_loop(lambda p: feedback_actions.dispute(p, wanted, comment))
        self.write_json(finding_json(found))


class DisputedFindingsHandler(_ChartsHandler):
    """GET /api/v1/findings/disputed: the organisation's open disputes, oldest first."""

    permission = Permission.AUDITS_VIEW

    async def get(self) -> None:
        paging = _page_args(self)
        queue = await self.off_loop(lambda p: feedback_actions.disputed(p, **paging))
        self.write_json(
            {
                "items": [disputed_json(d) for d in queue.items],
                "total": queue.total,
                "page": queue.page,
                "page_size": queue.page_size,
            }
        )


class FindingResolveHandler(_ChartsHandler):
    """POST /api/v1/findings/{id}/resolve ``{"resolution": "upheld"|"overturned", "note": …}``."""

    permission = Permission.AUDITS_PERFORM

    async def post(self, finding_id: str) -> None:
        wanted = _uuid(finding_id, "Finding")
        body = self.json_body()
        _only(body, frozenset({"resolution", "note"}))
        resolution = body.get("resolution")
        if resolution not in RESOLUTIONS:
            raise ValidationFailed(fields={"resolution": "Use upheld or overturned."})
        note = _text_field(body, "note", required=False)
        chosen = cast(Literal["upheld", "overturned"], resolution)
        found = await self.off_loop(lambda p: feedback_actions.resolve(p, wanted, chosen, note))
        self.write_json(finding_json(found))
