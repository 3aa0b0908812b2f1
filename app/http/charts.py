"""``/api/v1/charts``: the coder workflow over JSON (documented in ``app/http/chart_openapi.py``).

Thin: parse, call ``app.services.charts`` off the event loop, shape the answer. The services
decide who sees what; in short:

- coders see only the charts assigned to them: another coder's chart answers **404**, exactly
  like another organisation's chart or one that does not exist (same status, same body);
- managers, supervisors and analysts read every chart of their organisation; changing codes or
  submitting needs ``charts:code`` (**403** otherwise), assigning needs ``charts:assign``;
- a stale ``version`` or a chart that is not draft/returned answers **409** and stores nothing.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from datetime import date
from typing import Any, Final, TypeVar, cast
from uuid import UUID

from tornado.ioloop import IOLoop

from app.authz import Permission, Principal
from app.errors import NotFound, ValidationFailed
from app.http.base import JsonHandler
from app.services import charts as chart_actions
from app.services import sampling
from app.services.chart_types import ChartPage, ChartView, CodeKind, CodeRowInput, SaveResult
from datalayer.queries.charts import ChartSummary, StoredCode

T = TypeVar("T")

LIST_PARAMS: Final = frozenset(
    {
        "status",
        "assignee",
        "specialty",
        "difficulty",
        "unassigned",
        "import_job_id",
        "encounter_from",
        "encounter_to",
        "sort",
        "page",
        "page_size",
    }
)
ROW_FIELDS: Final = frozenset({"kind", "code", "rationale", "override_rationale", "is_principal", "code_system"})


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _id(value: UUID | None) -> str | None:
    return str(value) if value is not None else None


def summary_json(c: ChartSummary) -> dict[str, Any]:
    return {
        "id": str(c.id),
        "status": c.status,
        "version": c.version,
        "assignee": {"id": str(c.assignee_id), "name": c.assignee_name} if c.assignee_id else None,
        "patient": {"age": c.patient_age_years, "sex": c.patient_sex},
        "encounter": {
            "class": c.encounter_class,
            "type": c.encounter_type,
            "reason": c.encounter_reason,
            "start": _iso(c.encounter_start),
            "end": _iso(c.encounter_end),
        },
        "specialty": c.specialty,
        "difficulty": c.difficulty,
        "import_job_id": _id(c.import_job_id),
        "code_count": c.code_count,
        "created_at": _iso(c.created_at),
        "assigned_at": _iso(c.assigned_at),
        "updated_at": _iso(c.updated_at),
        "submitted_at": _iso(c.submitted_at),
        "returned": (
            {
                "at": _iso(c.returned_at),
                "by": c.returned_by,
                "feedback": c.feedback,
                "open_findings": c.open_findings,
            }
            if c.returned_at is not None
            else None
        ),
    }


def page_json(page: ChartPage) -> dict[str, Any]:
    return {
        "items": [summary_json(c) for c in page.items],
        "total": page.total,
        "page": page.page,
        "page_size": page.page_size,
        "pages": page.pages,
        "sort": page.sort,
        "counts": page.counts,
    }


def code_json(c: StoredCode) -> dict[str, Any]:
    return {
        "id": str(c.id),
        "kind": c.kind,
        "code_system": c.code_system,
        "code": c.code,
        "description": c.description,
        "rationale": c.rationale or "",
        "override_rationale": c.override_rationale,
        "sequence": c.sequence,
        "is_principal": c.is_principal,
    }


def chart_json(v: ChartView) -> dict[str, Any]:
    review = None
    if v.review is not None:
        s = v.review.summary
        review = {
            "audit_id": str(s.audit_id),
            "decision": s.decision,
            "decided_at": _iso(s.decided_at),
            "supervisor": {"id": str(s.supervisor_id), "name": s.supervisor_name},
            "code_accuracy": s.code_accuracy,
            "feedback": s.feedback,
            "findings": [
                {
                    "id": str(f.id),
                    "chart_code_id": _id(f.chart_code_id),
                    "code": f.code,
                    "kind": f.kind,
                    "sequence": f.sequence,
                    "verdict": f.verdict,
                    "expected_code": f.expected_code,
                    "category": f.category,
                    "severity": f.severity,
                    "note": f.note,
                }
                for f in v.review.findings
            ],
        }
    return {
        "id": str(v.id),
        "status": v.status.value,
        "version": v.version,
        "editable": v.editable,
        "assignee": {"id": str(v.assignee_id), "name": v.assignee_name} if v.assignee_id else None,
        "assigned_at": _iso(v.assigned_at),
        "submitted_at": _iso(v.submitted_at),
        "completed_at": _iso(v.completed_at),
        "patient": {"age": v.patient_age_years, "sex": v.patient_sex, "discharged_alive": v.discharged_alive},
        "record_type": v.record_type,
        "encounter": {
            "class": v.encounter_class,
            "type": v.encounter_type,
            "reason": v.encounter_reason,
            "start": _iso(v.encounter_start),
            "end": _iso(v.encounter_end),
            "provider": v.provider_name,
            "facility": v.facility_name,
        },
        "specialty": v.specialty,
        "difficulty": v.difficulty,
        "clinical_note": v.clinical_note,
        "payload": v.payload,
        "source": {"patient_id": v.source_patient_id, "encounter_id": v.source_encounter_id},
        "import_job_id": _id(v.import_job_id),
        "created_at": _iso(v.created_at),
        "updated_at": _iso(v.updated_at),
        "codes": [code_json(c) for c in v.codes],
        "findings": [
            {
                "rule_id": f.rule_id,
                "category": f.category,
                "severity": f.severity,
                "rows": list(f.rows),
                "procedure_rows": list(f.procedure_rows),
                "message": f.message,
                "guideline_ref": f.guideline_ref,
                "overridable": f.overridable,
                "overridden": f.overridden,
            }
            for f in v.findings
        ],
        "review": review,
    }


def save_json(result: SaveResult) -> dict[str, Any]:
    validation = result.result.as_json()
    return {
        "chart_id": str(result.chart_id),
        "version": result.version,
        "codes": [code_json(c) for c in result.codes],
        "code_set_version": validation["code_set_version"],
        "findings": validation["findings"],
        "summary": validation["summary"],
    }


def _chart_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        # A malformed id answers exactly like an unknown or foreign one.
        raise NotFound("Chart not found.") from None


def _only(body: dict[str, Any], allowed: frozenset[str], where: str = "") -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValidationFailed(
            f"Unknown field(s): {', '.join(unknown)}.", fields={f"{where}{k}": "Not allowed." for k in unknown}
        )


def _version(body: dict[str, Any]) -> int:
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValidationFailed(fields={"version": "The chart version you edited (a whole number from 1)."})
    return version


def _rows(raw: Any) -> list[CodeRowInput]:
    if not isinstance(raw, list) or len(raw) > 2 * chart_actions.MAX_ROWS_PER_KIND:
        raise ValidationFailed(fields={"rows": "A list of at most 200 code rows."})
    out: list[CodeRowInput] = []
    for index, item in enumerate(raw, start=1):
        where = f"rows[{index}]."
        if not isinstance(item, dict):
            raise ValidationFailed(fields={f"rows[{index}]": "Each row is an object."})
        _only(item, ROW_FIELDS, where)
        kind, code = item.get("kind"), item.get("code")
        rationale, override = item.get("rationale", ""), item.get("override_rationale")
        principal, system = item.get("is_principal", False), item.get("code_system", "ICD-10-CM")
        problems: dict[str, str] = {}
        if kind not in ("diagnosis", "procedure"):
            problems[where + "kind"] = "Use diagnosis or procedure."
        if not isinstance(code, str):
            problems[where + "code"] = "Required text."
        if not isinstance(rationale, str):
            problems[where + "rationale"] = "Text."
        if override is not None and not isinstance(override, str):
            problems[where + "override_rationale"] = "Text or null."
        if not isinstance(principal, bool):
            problems[where + "is_principal"] = "true or false."
        if system not in ("ICD-10-CM", "ICD-10-PCS", "other"):
            problems[where + "code_system"] = "Use ICD-10-CM, ICD-10-PCS or other."
        if problems:
            raise ValidationFailed("Some code rows need attention.", fields=problems)
        out.append(
            CodeRowInput(
                kind=cast(CodeKind, kind),
                code=str(code),
                rationale=rationale,
                override_rationale=override,
                is_principal=principal,
                code_system=system,
            )
        )
    return out


def _uuid_list(raw: Any, field: str) -> list[UUID]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise ValidationFailed(fields={field: "A list of ids."})
    try:
        return [UUID(x) for x in raw]
    except ValueError:
        raise ValidationFailed(fields={field: "A list of ids."}) from None


def _whole(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 7:
        raise ValueError("A whole number.")
    return int(raw)


def _an_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise ValueError("An id.") from None


def _a_date(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError("A date, YYYY-MM-DD.") from None


def _a_bool(raw: str) -> bool:
    if raw not in ("true", "false"):
        raise ValueError("true or false.")
    return raw == "true"


_PARSERS: Final[dict[str, Callable[[str], Any]]] = {
    "difficulty": _whole,
    "page": _whole,
    "page_size": _whole,
    "assignee": _an_id,
    "import_job_id": _an_id,
    "encounter_from": _a_date,
    "encounter_to": _a_date,
    "unassigned": _a_bool,
}


class _ChartsHandler(JsonHandler):
    async def off_loop(self, work: Callable[[Principal], T]) -> T:
        """Run ``work(principal)`` in the context's executor (the first save loads the code sets:
        seconds), with this request's log context."""
        principal = self.principal
        assert principal is not None  # noqa: S101 - prepare() guarantees it
        context = contextvars.copy_context()
        return await IOLoop.current().run_in_executor(self.ctx.executor, lambda: context.run(work, principal))


class ChartsHandler(_ChartsHandler):
    """GET /api/v1/charts: one page of the charts the caller may see (coders: their own)."""

    permission = Permission.CHARTS_VIEW

    def _params(self) -> dict[str, Any]:
        args = self.request.query_arguments
        _only(dict.fromkeys(args), LIST_PARAMS)
        if any(len(v) > 1 for v in args.values()):
            raise ValidationFailed("Send each query parameter once.")
        out: dict[str, Any] = {}
        problems: dict[str, str] = {}
        for name, values in args.items():
            raw = values[0].decode("utf-8", "replace").strip()
            if not raw:
                continue
            try:
                out[name] = _PARSERS.get(name, str)(raw)
            except ValueError as exc:
                problems[name] = str(exc)
        if problems:
            raise ValidationFailed(fields=problems)
        return out

    async def get(self) -> None:
        params = self._params()
        page = await self.off_loop(lambda p: chart_actions.list_charts(p, **params))
        self.write_json(page_json(page))


class ChartHandler(_ChartsHandler):
    """GET /api/v1/charts/{id}: the chart, its codes, current findings and latest review."""

    permission = Permission.CHARTS_VIEW

    async def get(self, chart_id: str) -> None:
        wanted = _chart_id(chart_id)
        self.write_json(chart_json(await self.off_loop(lambda p: chart_actions.get_chart(p, wanted))))


class ChartCodesHandler(_ChartsHandler):
    """PUT /api/v1/charts/{id}/codes: replace the code rows, validate, answer the findings."""

    permission = Permission.CHARTS_CODE

    async def put(self, chart_id: str) -> None:
        wanted = _chart_id(chart_id)
        body = self.json_body()
        _only(body, frozenset({"version", "rows"}))
        version, rows = _version(body), _rows(body.get("rows"))
        result = await self.off_loop(lambda p: chart_actions.save_codes(p, wanted, version=version, rows=rows))
        self.write_json(save_json(result))


class ChartSubmitHandler(_ChartsHandler):
    """POST /api/v1/charts/{id}/submit: send the chart to audit."""

    permission = Permission.CHARTS_CODE

    async def post(self, chart_id: str) -> None:
        wanted = _chart_id(chart_id)
        body = self.json_body()
        _only(body, frozenset({"version"}))
        version = _version(body)
        view = await self.off_loop(lambda p: chart_actions.submit(p, wanted, version=version))
        # The status says whether it went to audit or was accepted without one; the message says so in words.
        self.write_json({**chart_json(view), "message": sampling.submit_message(view.status.value)})


class ChartAssignHandler(_ChartsHandler):
    """POST /api/v1/charts/assign: assign or reassign charts to one coder or round-robin."""

    permission = Permission.CHARTS_ASSIGN

    async def post(self) -> None:
        body = self.json_body()
        _only(body, frozenset({"chart_ids", "coder_ids", "mode"}))
        chart_ids = _uuid_list(body.get("chart_ids"), "chart_ids")
        coder_ids = _uuid_list(body.get("coder_ids"), "coder_ids")
        mode = body.get("mode", "single")
        if mode not in ("single", "round_robin"):
            raise ValidationFailed(fields={"mode": "Use single or round_robin."})
        app_url = self.ctx.settings.app_url
        result = await self.off_loop(
            lambda p: chart_actions.assign(p, chart_ids, coder_ids, mode=mode, app_url=app_url)
        )
        self.write_json(
            {
                "count": result.count,
                "assigned": [
                    {"coder_id": str(coder), "chart_ids": [str(c) for c in charts]}
                    for coder, charts in result.assigned.items()
                ],
                "reassigned": [str(c) for c in result.reassigned],
                "unchanged": [str(c) for c in result.unchanged],
            }
        )
