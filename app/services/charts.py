"""The coder workflow's actions: list, read, code, submit and assign charts.

Every function takes the caller's ``Principal``, checks its permission first and runs in the
caller's tenant scope (``user_scope``: row-level security on top of the explicit
``c.org_id = :org`` predicates). Each state change writes its audit-log row and its outbox event
in the same transaction as the change (INV-5, INV-12).

Who sees what (the rules the pages and ``/api/v1/charts`` share):

- A principal who can code (``charts:code``, the coder) sees **only the charts assigned to
  them**. Another coder's chart, another organisation's chart and a chart that does not exist
  all raise the same ``NotFound`` (404) — for reading, saving and submitting alike.
- Other roles with ``charts:view`` (manager, supervisor, analyst) see every chart of their
  organisation, read-only: ``save_codes``/``submit`` refuse them with ``PermissionDenied`` (403).
- Codes can be changed and a chart submitted only by its assigned coder while it is ``draft`` or
  ``returned`` (seed ADR-016); any other status is a ``Conflict`` (409), as is a stale ``version``
  (optimistic locking: nothing is stored).
- ``assign`` and ``workload`` need ``charts:assign`` (manager). Only ``draft`` and ``returned``
  charts can be (re)assigned; a chart being audited or completed is a ``Conflict``.

Exceptions (``app.errors``): ``PermissionDenied``, ``NotFound``, ``Conflict``, ``ValidationFailed``
(bad input, a missing rationale, or unresolved validation errors on submit).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from uuid import UUID

from app.authz import Permission, Principal
from app.errors import Conflict, NotFound, ValidationFailed
from app.logs import get_logger
from app.services import audit, emails, outbox, sampling
from app.services.audit import Actor
from app.services.chart_types import (
    ASSIGNABLE_STATUSES,
    EDITABLE_STATUSES,
    MAX_PAGE_SIZE,
    SORTS,
    AssignMode,
    AssignResult,
    ChartPage,
    ChartStatus,
    ChartView,
    CodeRowInput,
    CoderWorkload,
    Review,
    SaveResult,
    StoredCode,
)
from app.services.validation import validate_chart
from app.settings import Settings, get_settings
from app.validation import default_engine
from datalayer.queries import charts, notifications, validation_results
from datalayer.queries.charts import ChartFilter, ImportOption
from datalayer.scope import Scope, user_scope

log = get_logger(__name__)

MAX_ASSIGN: Final = 1000  # charts per assign call
MAX_ROWS_PER_KIND: Final = 100
MAX_TEXT: Final = 2000
_CODE_RE: Final = re.compile(r"[A-Z0-9][A-Z0-9.\-]{0,15}")


def _actor(principal: Principal) -> Actor:
    return Actor(principal.user_id, principal.role)


def _own_only(principal: Principal) -> UUID | None:
    """Coders (who can code) see only their own charts; other viewers see the organisation's."""
    return principal.user_id if principal.can(Permission.CHARTS_CODE) else None


# -- reading ----------------------------------------------------------------------------------------


def _statuses(raw: str | None) -> tuple[str, ...]:
    if raw is None or not raw.strip():
        return ()
    wanted: list[str] = []
    for part in raw.split(","):
        value = part.strip()
        try:
            status = ChartStatus(value)
        except ValueError:
            raise ValidationFailed(
                fields={"status": "Use draft, pending_audit, completed or returned (comma-separated for several)."}
            ) from None
        if status.value not in wanted:
            wanted.append(status.value)
    return tuple(wanted)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def list_charts(
    principal: Principal,
    *,
    status: str | None = None,
    assignee: UUID | None = None,
    specialty: str | None = None,
    difficulty: int | None = None,
    unassigned: bool = False,
    import_job_id: UUID | None = None,
    encounter_from: date | None = None,
    encounter_to: date | None = None,
    sort: str = "queue",
    page: int = 1,
    page_size: int = 50,
) -> ChartPage:
    """One page of the charts the caller may see, filtered and sorted on the server.

    ``status`` is one status or several, comma-separated (``"draft,returned"``). Coders get only
    charts assigned to them whatever the filters say (an ``assignee`` other than themselves, or
    ``unassigned``, gives an empty page). ``encounter_to`` is inclusive. ``sort`` is one of
    ``chart_types.SORTS``; ``"queue"`` puts returned charts first, then drafts, then submitted
    and completed ones, the oldest first within each.
    """
    principal.require(Permission.CHARTS_VIEW)
    problems: dict[str, str] = {}
    if sort not in SORTS:
        problems["sort"] = f"Use one of: {', '.join(SORTS)}."
    if page < 1:
        problems["page"] = "Pages start at 1."
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        problems["page_size"] = f"A whole number from 1 to {MAX_PAGE_SIZE}."
    if difficulty is not None and not 1 <= difficulty <= 5:
        problems["difficulty"] = "A whole number from 1 to 5."
    if specialty is not None and len(specialty) > 200:
        problems["specialty"] = "At most 200 characters."
    if encounter_from and encounter_to and encounter_to < encounter_from:
        problems["encounter_to"] = "The end date is before the start date."
    if page > 100_000:
        problems["page"] = "Narrow the filters instead of paging this far."
    if problems:
        raise ValidationFailed(fields=problems)
    filters = ChartFilter(
        statuses=_statuses(status),
        assignee_id=assignee,
        only_assignee=_own_only(principal),
        unassigned=unassigned,
        specialty=specialty or None,
        difficulty=difficulty,
        import_job_id=import_job_id,
        encounter_from=_day_start(encounter_from) if encounter_from else None,
        encounter_before=_day_start(encounter_to + timedelta(days=1)) if encounter_to else None,
    )
    with user_scope(principal.org_id, principal.user_id) as scope:
        counts = charts.status_counts(scope, filters)
        total = sum(n for s, n in counts.items() if not filters.statuses or s in filters.statuses)
        items = (
            charts.list_page(scope, filters, sort=sort, limit=page_size, offset=(page - 1) * page_size)
            if (page - 1) * page_size < total
            else []
        )
    return ChartPage(
        items=items,
        total=total,
        page=page,
        page_size=page_size,
        counts={s.value: counts.get(s.value, 0) for s in ChartStatus},
        sort=sort,
    )


def _view(scope: Scope, principal: Principal, chart_id: UUID) -> ChartView:
    record = charts.get_record(scope, chart_id, only_assignee=_own_only(principal))
    summary = charts.latest_review(scope, chart_id)
    review = None if summary is None else Review(summary, tuple(charts.review_findings(scope, summary.audit_id)))
    editable = (
        principal.can(Permission.CHARTS_CODE)
        and record.assignee_id == principal.user_id
        and record.status in EDITABLE_STATUSES
    )
    return ChartView.build(
        record,
        codes=charts.stored_codes(scope, chart_id),
        findings=validation_results.for_version(scope, chart_id, record.version),
        review=review,
        editable=editable,
    )


def get_chart(principal: Principal, chart_id: UUID) -> ChartView:
    """The chart with its codes, current findings and latest supervisor review.

    ``NotFound`` for a chart that does not exist, belongs to another organisation, or — for a
    coder — is not assigned to them.
    """
    principal.require(Permission.CHARTS_VIEW)
    with user_scope(principal.org_id, principal.user_id) as scope:
        return _view(scope, principal, chart_id)


@dataclass(frozen=True)
class FilterOptions:
    specialties: list[str]
    imports: list[ImportOption]


def filter_options(principal: Principal) -> FilterOptions:
    """Values for the list filters: specialties (a coder's: of their own charts) and, except for
    coders, recent imports."""
    principal.require(Permission.CHARTS_VIEW)
    own = _own_only(principal)
    with user_scope(principal.org_id, principal.user_id) as scope:
        return FilterOptions(
            charts.specialties(scope, only_assignee=own),
            [] if own is not None else charts.recent_imports(scope),
        )


# -- coding -----------------------------------------------------------------------------------------


def _clean_rows(rows: Sequence[CodeRowInput]) -> list[StoredCode]:
    """Check and normalise the rows; ids are placeholders until matched with the stored rows."""
    problems: dict[str, str] = {}
    out: list[StoredCode] = []
    sequence = {"diagnosis": 0, "procedure": 0}
    principals = 0
    for index, row in enumerate(rows, start=1):
        if row.kind not in sequence:
            problems[f"rows[{index}].kind"] = "Use diagnosis or procedure."
            continue
        sequence[row.kind] += 1
        where = f"{row.kind}[{sequence[row.kind]}]"
        code = (row.code or "").strip().upper()
        if not _CODE_RE.fullmatch(code):
            problems[f"{where}.code"] = "Enter a code (letters, digits and dots, at most 16)."
        system = row.code_system
        if row.kind == "diagnosis" and system != "ICD-10-CM":
            problems[f"{where}.code_system"] = "Diagnoses are ICD-10-CM codes."
        if row.kind == "procedure" and system == "ICD-10-CM":
            system = "ICD-10-PCS"
        if system not in ("ICD-10-CM", "ICD-10-PCS", "other"):
            problems[f"{where}.code_system"] = "Use ICD-10-CM, ICD-10-PCS or other."
        if row.is_principal and row.kind != "diagnosis":
            problems[f"{where}.is_principal"] = "Only a diagnosis can be principal."
        principals += bool(row.is_principal)
        rationale = (row.rationale or "").strip()
        override = (row.override_rationale or "").strip() or None
        if len(rationale) > MAX_TEXT:
            problems[f"{where}.rationale"] = f"At most {MAX_TEXT} characters."
        if override is not None and len(override) > MAX_TEXT:
            problems[f"{where}.override_rationale"] = f"At most {MAX_TEXT} characters."
        out.append(
            StoredCode(
                id=uuid.uuid4(),
                kind=row.kind,
                code_system=system,
                code=code,
                description=None,
                rationale=rationale,
                override_rationale=override,
                sequence=sequence[row.kind],
                is_principal=bool(row.is_principal),
            )
        )
    if principals > 1:
        problems["rows"] = "Mark one diagnosis as principal, not several."
    if max(sequence.values()) > MAX_ROWS_PER_KIND:
        problems["rows"] = f"At most {MAX_ROWS_PER_KIND} diagnoses and {MAX_ROWS_PER_KIND} procedures."
    if problems:
        raise ValidationFailed("Some code rows need attention.", fields=problems)
    return out


def _describe(codes: list[StoredCode]) -> list[StoredCode]:
    engine = default_engine()
    out = []
    for c in codes:
        description: str | None = None
        if c.kind == "diagnosis":
            info = engine.codes.lookup(c.code)
            description = info.description if info is not None else None
        elif c.code_system == "ICD-10-PCS":
            description = engine.procedures.description(c.code)
        out.append(replace(c, description=description))
    return out


def _keep_ids(existing: list[StoredCode], wanted: list[StoredCode]) -> list[StoredCode]:
    """Reuse a stored row's id for the same kind and code, so a supervisor's finding stays on it."""
    pool: dict[tuple[str, str], list[UUID]] = {}
    for c in existing:
        pool.setdefault((c.kind, c.code), []).append(c.id)
    out = []
    for c in wanted:
        ids = pool.get((c.kind, c.code))
        out.append(replace(c, id=ids.pop(0)) if ids else c)
    return out


def _editable(state: charts.ChartLock, version: int) -> None:
    if state.status not in EDITABLE_STATUSES:
        label = {"pending_audit": "is waiting for audit", "completed": "is completed"}.get(state.status, "is locked")
        raise Conflict(f"This chart {label}; its codes can no longer be changed.")
    if version != state.version:
        raise Conflict(
            f"This chart changed since you opened it (you have version {version}, it is now at "
            f"version {state.version}). Nothing was saved; reload it to see the changes."
        )


def save_codes(principal: Principal, chart_id: UUID, *, version: int, rows: Sequence[CodeRowInput]) -> SaveResult:
    """Replace the chart's code rows (the assigned coder, draft or returned, current ``version``),
    store version + 1, validate it and keep its findings; audit row and ``chart.codes_saved`` event
    in the same transaction. A stale version raises ``Conflict`` and stores nothing."""
    principal.require(Permission.CHARTS_CODE)
    wanted = _describe(_clean_rows(rows))
    now = datetime.now(UTC)
    with user_scope(principal.org_id, principal.user_id) as scope:
        state = charts.lock(scope, chart_id, only_assignee=principal.user_id)
        _editable(state, version)
        codes = _keep_ids(charts.stored_codes(scope, chart_id), wanted)
        charts.replace_codes(scope, chart_id, codes, user_id=principal.user_id, now=now)
        new_version = state.version + 1
        charts.set_state(scope, chart_id, version=new_version, now=now)
        result = validate_chart(scope, chart_id)
        counts = {
            "diagnoses": sum(c.kind == "diagnosis" for c in codes),
            "procedures": sum(c.kind == "procedure" for c in codes),
            "errors": result.summary.errors,
            "blocking": result.summary.blocking,
        }
        audit.record(
            scope,
            action="chart_codes_saved",
            actor=_actor(principal),
            object_type="chart",
            object_id=chart_id,
            details={"version": new_version, **counts},
        )
        outbox.emit(
            scope,
            event_type="chart.codes_saved",
            aggregate_type="chart",
            aggregate_id=chart_id,
            payload={"chart_id": str(chart_id), "version": new_version, "coder_id": str(principal.user_id), **counts},
        )
        stored = charts.stored_codes(scope, chart_id)
    return SaveResult(chart_id=chart_id, version=new_version, codes=tuple(stored), result=result)


def submit(principal: Principal, chart_id: UUID, *, version: int, rng: sampling.Rng | None = None) -> ChartView:
    """Send the chart to audit (``pending_audit``) — or, when the organisation's audit sampling
    does not select it, accept it without audit (``completed``).

    Only its assigned coder, only from draft or returned, only at the current ``version``; the
    chart needs at least one diagnosis, a rationale on every row and — after validating it again —
    no unresolved error. Then ``app.services.sampling`` decides (a resubmission is always audited)
    and ``charts.audit_reason`` records why it was sampled (None: not sampled). ``rng`` is the
    random draw (default: ``secrets.SystemRandom``). Audit row ``chart_submitted`` and event
    ``chart.submitted`` (both with the status and reason), plus ``chart.accepted_without_audit``
    for a chart not sampled, in the same transaction.
    """
    principal.require(Permission.CHARTS_CODE)
    now = datetime.now(UTC)
    with user_scope(principal.org_id, principal.user_id) as scope:
        state = charts.lock(scope, chart_id, only_assignee=principal.user_id)
        _editable(state, version)
        codes = charts.stored_codes(scope, chart_id)
        if not any(c.kind == "diagnosis" for c in codes):
            raise ValidationFailed("Add at least one diagnosis code before submitting.", fields={"rows": "Required."})
        missing = {
            f"{c.kind}[{c.sequence}].rationale": "Write a rationale for this code."
            for c in codes
            if not (c.rationale or "").strip()
        }
        if missing:
            raise ValidationFailed(
                f"Write a rationale for every code before submitting ({len(missing)} missing).", fields=missing
            )
        new_version = state.version + 1
        charts.set_state(scope, chart_id, version=new_version, now=now, status=ChartStatus.PENDING_AUDIT.value)
        result = validate_chart(scope, chart_id)
        if result.summary.blocking:
            fields = {}
            for finding in result.findings:
                if finding.blocking:
                    for row in finding.rows:
                        fields[f"diagnosis[{row}].code"] = finding.message
                    for row in finding.procedure_rows:
                        fields[f"procedure[{row}].code"] = finding.message
            n = result.summary.blocking
            raise ValidationFailed(
                f"Fix {n} error{'s' if n != 1 else ''} (or override with a rationale) before submitting.",
                fields=fields or {"rows": "Unresolved errors."},
            )
        resubmission = state.status == ChartStatus.RETURNED
        overrides = sum(1 for c in codes if c.override_rationale)
        reason = sampling.reason_at_submit(
            scope, chart_id, resubmission=resubmission, overrides=overrides, now=now, rng=rng
        )
        charts.set_audit_outcome(scope, chart_id, reason=reason, now=now)
        status = ChartStatus.PENDING_AUDIT if reason is not None else ChartStatus.COMPLETED
        outcome = {"status": status.value, "audit_reason": reason.value if reason is not None else None}
        audit.record(
            scope,
            action="chart_submitted",
            actor=_actor(principal),
            object_type="chart",
            object_id=chart_id,
            details={
                "version": new_version,
                "resubmission": resubmission,
                "warnings": result.summary.warnings,
                **outcome,
            },
        )
        payload = {
            "chart_id": str(chart_id),
            "version": new_version,
            "coder_id": str(principal.user_id),
            "resubmission": resubmission,
            **outcome,
        }
        outbox.emit(scope, event_type="chart.submitted", aggregate_type="chart", aggregate_id=chart_id, payload=payload)
        if reason is None:
            outbox.emit(
                scope,
                event_type="chart.accepted_without_audit",
                aggregate_type="chart",
                aggregate_id=chart_id,
                payload=payload,
            )
        return _view(scope, principal, chart_id)


# -- assignment -------------------------------------------------------------------------------------


def _unique(ids: Sequence[UUID]) -> list[UUID]:
    return list(dict.fromkeys(ids))


def assign(
    principal: Principal,
    chart_ids: Sequence[UUID],
    coder_ids: Sequence[UUID],
    *,
    mode: AssignMode = "single",
    app_url: str | None = None,
) -> AssignResult:
    """Assign charts to one coder (``single``) or spread them over several in turn (``round_robin``,
    in the order given). Reassigning is the same call. All or nothing: an unknown chart is
    ``NotFound``, a chart under audit or completed is a ``Conflict``, and nothing changes.

    Each chart that changes hands gets an audit row and a ``chart.assigned`` event; each coder who
    received charts gets one in-app notification and one email (``pending_emails``), and a coder
    who lost charts an in-app notification — all in the same transaction. ``app_url`` makes the
    email's link absolute.
    """
    principal.require(Permission.CHARTS_ASSIGN)
    charts_wanted, coders_wanted = _unique(chart_ids), _unique(coder_ids)
    problems: dict[str, str] = {}
    if not charts_wanted:
        problems["chart_ids"] = "Choose at least one chart."
    elif len(charts_wanted) > MAX_ASSIGN:
        problems["chart_ids"] = f"Assign at most {MAX_ASSIGN} charts at a time."
    if mode not in ("single", "round_robin"):
        problems["mode"] = "Use single or round_robin."
    elif mode == "single" and len(coders_wanted) != 1:
        problems["coder_ids"] = "Choose exactly one coder."
    elif not coders_wanted:
        problems["coder_ids"] = "Choose at least one coder."
    if problems:
        raise ValidationFailed(fields=problems)
    with user_scope(principal.org_id, principal.user_id) as scope:
        return _assign(
            scope,
            charts_wanted,
            coders_wanted,
            actor=_actor(principal),
            actor_name=principal.name,
            mode=mode,
            app_url=app_url,
        )


def _assign(
    scope: Scope,
    chart_ids: list[UUID],
    coder_ids: list[UUID],
    *,
    actor: Actor,
    actor_name: str,
    mode: str,
    app_url: str | None,
) -> AssignResult:
    people = {p.id: p for p in charts.users_by_ids(scope, coder_ids)}
    if any(people.get(c) is None or people[c].role != "coder" or not people[c].is_active for c in coder_ids):
        # Another organisation's user id answers exactly like an unknown one.
        raise ValidationFailed(fields={"coder_ids": "Choose active coders of your organisation."})
    locked = {c.id: c for c in charts.lock_many(scope, chart_ids)}
    if len(locked) != len(chart_ids):
        raise NotFound("Chart not found.")
    busy = [c for c in chart_ids if locked[c].status not in ASSIGNABLE_STATUSES]
    if busy:
        raise Conflict(
            f"{len(busy)} of the selected charts {'is' if len(busy) == 1 else 'are'} being audited or completed "
            "and cannot be reassigned."
        )
    result = AssignResult()
    pairs: list[tuple[UUID, UUID]] = []
    lost: dict[UUID, int] = {}
    for index, chart_id in enumerate(chart_ids):
        coder = coder_ids[index % len(coder_ids)]
        previous = locked[chart_id].assignee_id
        if previous == coder:
            result.unchanged.append(chart_id)
            continue
        pairs.append((chart_id, coder))
        result.assigned.setdefault(coder, []).append(chart_id)
        if previous is not None:
            result.reassigned.append(chart_id)
            lost[previous] = lost.get(previous, 0) + 1
    now = datetime.now(UTC)
    charts.set_assignees(scope, pairs, now)
    for chart_id, coder in pairs:
        previous = locked[chart_id].assignee_id
        details = {
            "coder_id": str(coder),
            "previous_assignee_id": str(previous) if previous else None,
            "mode": mode,
        }
        audit.record(
            scope, action="chart_assigned", actor=actor, object_type="chart", object_id=chart_id, details=details
        )
        outbox.emit(
            scope,
            event_type="chart.assigned",
            aggregate_type="chart",
            aggregate_id=chart_id,
            payload={"chart_id": str(chart_id), **details},
        )
    for coder, assigned in result.assigned.items():
        _notify_assigned(scope, people[coder], len(assigned), actor_name=actor_name, app_url=app_url, now=now)
    for previous, count in lost.items():
        charts_word = "chart was" if count == 1 else "charts were"
        notifications.insert(
            scope,
            notification_id=uuid.uuid4(),
            user_id=previous,
            kind="charts_unassigned",
            title=f"{count} {charts_word} reassigned to another coder",
            body=f"{actor_name} moved {count} of your charts to another coder.",
            link="/queue",
            now=now,
        )
    return result


def _notify_assigned(
    scope: Scope, coder: charts.Assignee, count: int, *, actor_name: str, app_url: str | None, now: datetime
) -> None:
    noun = "chart" if count == 1 else "charts"
    title = f"{count} new {noun} assigned to you"
    notifications.insert(
        scope,
        notification_id=uuid.uuid4(),
        user_id=coder.id,
        kind="charts_assigned",
        title=title,
        body=f"{actor_name} assigned you {count} {noun}. They are in your queue.",
        link="/queue",
        now=now,
    )
    link = f"{app_url.rstrip('/')}/queue" if app_url else "your queue in SmartCoders"
    # No PHI in email: a count and a link; the charts themselves are behind the sign-in.
    emails.enqueue(
        scope,
        to=coder.email,
        template="charts_assigned",
        subject=f"SmartCoders: {title}",
        body=f"Hello {coder.name},\n\n{actor_name} assigned you {count} {noun} to code.\n\nOpen {link} to start.\n",
    )


def workload(principal: Principal) -> list[CoderWorkload]:
    """Every active coder of the organisation with their charts by status (manager)."""
    principal.require(Permission.CHARTS_ASSIGN)
    with user_scope(principal.org_id, principal.user_id) as scope:
        return charts.workload(scope)


def auto_assign_new(
    scope: Scope, chart_ids: Sequence[UUID], *, settings: Settings | None = None
) -> AssignResult | None:
    """Importer hook: with ``AUTO_ASSIGN_IMPORTS`` on, spread newly imported charts round-robin over
    the organisation's active coders, least open work first — in the importer's transaction, with
    the same audit rows, events, notifications and emails as a manager's assignment.

    Returns None (and changes nothing) when the setting is off, there are no charts or no coders.
    ``settings`` defaults to the process settings (``app.settings.get_settings``).
    """
    settings = settings or get_settings()
    if not settings.auto_assign_imports or not chart_ids:
        return None
    loads = sorted(charts.workload(scope), key=lambda w: (w.open, w.name.lower(), str(w.coder_id)))
    if not loads:
        log.info("auto_assign_skipped", reason="no active coders", charts=len(chart_ids))
        return None
    return _assign(
        scope,
        _unique(chart_ids),
        [w.coder_id for w in loads],
        actor=Actor(scope.user_id, "system"),
        actor_name="SmartCoders",
        mode="round_robin",
        app_url=settings.app_url,
    )


def assign_as_system(scope: Scope, coder_id: UUID, *, keep_unassigned: int = 0, reason: str) -> int:
    """Assign unassigned draft charts to one coder, oldest encounter first, leaving the newest
    ``keep_unassigned``; does nothing once the coder has any chart (idempotent seeding, e.g. the
    demo). Returns how many charts were assigned."""
    mine = charts.status_counts(scope, ChartFilter(only_assignee=coder_id))
    if sum(mine.values()):
        return 0
    waiting = ChartFilter(statuses=(ChartStatus.DRAFT.value,), unassigned=True)
    total = sum(charts.status_counts(scope, waiting).values())
    take = min(MAX_ASSIGN, max(0, total - keep_unassigned))
    if not take:
        return 0
    chosen = charts.list_page(scope, waiting, sort="encounter", limit=take, offset=0)
    result = _assign(
        scope,
        [c.id for c in chosen],
        [coder_id],
        actor=Actor(scope.user_id, "system"),
        actor_name="SmartCoders",
        mode=f"system:{reason}",
        app_url=None,
    )
    return result.count
