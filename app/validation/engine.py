"""The validation engine: pure Python, no I/O, built once per process from the loaded code sets.

`Engine.validate(chart)` reads the rows once (spelling, lookup, principal), asks the claim
editor (MCE + MS-DRG) and the comorbidity scorer once, then runs every registered rule over
that prepared context. Overridable findings are cleared by an override rationale on any of the
rows they name; the summary counts what is left.
"""

from __future__ import annotations

import threading
from datetime import date
from itertools import product
from string import ascii_uppercase, digits

from app.codesets.types import Claim, ClaimEditor, CodeSet, ComorbidityScorer, DrgResult, ProcedureCodes
from app.validation import rules as _rules  # noqa: F401 - registers the catalogue
from app.validation.context import Context, ProcRow, Row, Shared
from app.validation.model import ChartInput, Finding, Level, Setting, Summary, ValidationResult
from app.validation.registry import RULES, Rule
from app.validation.syntax import pcs_problem, read_icd10cm

# The FY2026 code set covers discharges from 2025-10-01 to 2026-09-30.
FY2026 = (date(2025, 10, 1), date(2026, 9, 30))
_ALNUM = digits + ascii_uppercase


class Engine:
    def __init__(
        self,
        codes: CodeSet,
        claims: ClaimEditor,
        comorbidity: ComorbidityScorer,
        procedures: ProcedureCodes,
    ) -> None:
        self.codes = codes
        self.claims = claims
        self.comorbidity = comorbidity
        self.procedures = procedures
        self.shared = Shared(codes, categories=self._categories(codes), pcs_version=procedures.version)
        self.rules: tuple[Rule, ...] = tuple(RULES.values())

    @staticmethod
    def _categories(codes: CodeSet) -> list[str]:
        """Every 3-character category of the code set, sorted (for note-range reach)."""
        found = []
        for a, b, c in product(ascii_uppercase, digits, _ALNUM):
            info = codes.lookup(a + b + c)
            if info is not None and info.kind == "category":
                found.append(info.key)
        return sorted(found)

    @property
    def version(self) -> str:
        return self.codes.version

    # --- preparation -----------------------------------------------------------------------

    def _context(self, chart: ChartInput) -> Context:
        lookup = self.codes.lookup
        rows: list[Row] = []
        for n, dx in enumerate(chart.diagnoses, start=1):
            spelling = read_icd10cm(dx.code)
            why = dx.override_rationale
            rows.append(
                Row(
                    n,
                    spelling,
                    lookup(spelling.key) if spelling.key else None,
                    flagged_principal=dx.principal,
                    overridden=bool(why and why.strip()),
                )
            )
        procs: list[ProcRow] = []
        for n, px in enumerate(chart.procedures, start=1):
            code = px.code.strip().upper()
            if px.code_system == "ICD-10-PCS":
                valid = pcs_problem(code) is None and self.procedures.exists(code)
            else:
                valid = bool(code)
            procs.append(ProcRow(n, px, code, valid, bool(px.override_rationale and px.override_rationale.strip())))
        attach = self.shared.attach
        for row in rows:
            if row.valid:
                attach(row)
        flagged = [r for r in rows if r.flagged_principal]
        principal = flagged[0] if flagged else (rows[0] if rows else None)
        return Context(chart, self.codes, rows, procs, principal, self.shared)

    def _claim(self, ctx: Context, drop: Row | None = None) -> Claim | None:
        principal = ctx.principal
        if principal is None or not principal.valid or principal is drop:
            return None
        seen = {principal.key}
        claim_rows = [principal]
        for row in ctx.rows:
            if row.valid and row.key not in seen and row is not drop:
                seen.add(row.key)
                claim_rows.append(row)
        claim_procs = [p for p in ctx.procedures if p.valid and p.row.code_system == "ICD-10-PCS"]
        if drop is None:
            ctx.claim_rows, ctx.claim_procs = claim_rows, claim_procs
        return Claim(
            age=ctx.chart.age,
            sex=ctx.chart.sex,
            discharge_date=ctx.chart.discharge_date,
            discharged_alive=ctx.chart.discharged_alive,
            diagnoses=tuple(r.key for r in claim_rows),
            procedures=tuple(p.code for p in claim_procs),
        )

    # --- validation ------------------------------------------------------------------------

    def validate(self, chart: ChartInput) -> ValidationResult:
        ctx = self._context(chart)
        claim = self._claim(ctx)
        if claim is not None:
            ctx.mce = self.claims.edits(claim)
            ctx.drg = self.claims.group(claim)
            ctx.comorbidity = self.comorbidity.score(claim.diagnoses, age=chart.age)
        findings = self._run(ctx)
        if claim is not None and ctx.drg is not None and any(f.blocking for f in findings):
            ctx.drg_changes = self._drg_changes(ctx, findings, ctx.drg)
            if ctx.drg_changes:
                findings = self._run(ctx)
        return ValidationResult(
            id=chart.id,
            code_set_version=self.codes.version,
            findings=tuple(findings),
            summary=self._summary(ctx, findings),
            normalised=tuple(r.code or None for r in ctx.rows),
        )

    def _run(self, ctx: Context) -> list[Finding]:
        findings: list[Finding] = []
        append = findings.append
        rows, procs = ctx.rows, ctx.procedures
        fired = {hit.edit for hit in ctx.mce}
        for rule in self.rules:
            if rule.mce_edit is not None and rule.mce_edit not in fired:
                continue
            for hit in rule.check(ctx):
                overridden = rule.overridable and (
                    any(rows[n - 1].overridden for n in hit.rows)
                    or any(procs[n - 1].overridden for n in hit.procedure_rows)
                )
                append(
                    Finding(
                        rule.id,
                        rule.category,
                        hit.severity or rule.severity,
                        hit.rows,
                        hit.message,
                        hit.guideline_ref or rule.guideline_ref,
                        rule.overridable,
                        hit.procedure_rows,
                        overridden,
                    )
                )
        findings.sort(key=_finding_order)
        return findings

    def _drg_changes(self, ctx: Context, findings: list[Finding], drg: DrgResult) -> list[tuple[Row, str]]:
        """For secondary rows an unresolved error asks the coder to change, the DRG without them."""
        changes: list[tuple[Row, str]] = []
        blocking_rows = {n for f in findings if f.blocking for n in f.rows}
        for i, row in enumerate(ctx.claim_rows[1:], start=1):
            # Only a CC/MCC secondary moves the MS-DRG's severity level when it goes.
            if row.n not in blocking_rows or drg.rows[i].level == "NONE":
                continue
            claim = self._claim(ctx, drop=row)
            if claim is None:
                continue
            other = self.claims.group(claim)
            if other.ms_drg != drg.ms_drg:
                changes.append((row, f"without it {_drg_text(drg)} becomes {_drg_text(other)}"))
        return changes

    def _summary(self, ctx: Context, findings: list[Finding]) -> Summary:
        drg, com = ctx.drg, ctx.comorbidity
        counted = [s for s in (drg.rows[1:] if drg else ()) if not s.excluded]
        notes: list[str] = []
        if not FY2026[0] <= ctx.chart.discharge_date <= FY2026[1]:
            notes.append(
                f"Discharge {ctx.chart.discharge_date.isoformat()} is outside FY2026; codes were checked "
                f"against {self.codes.version}, the release loaded."
            )
        if drg is not None and ctx.chart.setting is Setting.OUTPATIENT:
            notes.append("MS-DRG is defined for inpatient stays; shown for reference on this outpatient visit.")
        if ctx.principal is None or not ctx.principal.valid:
            notes.append("No valid principal diagnosis: MS-DRG and comorbidity indices are not computed.")
        return Summary(
            errors=sum(f.severity is Level.ERROR for f in findings),
            warnings=sum(f.severity is Level.WARNING for f in findings),
            infos=sum(f.severity is Level.INFO for f in findings),
            blocking=sum(f.blocking for f in findings),
            overridden=sum(f.overridden for f in findings),
            cc_count=sum(s.level == "CC" for s in counted),
            mcc_count=sum(s.level == "MCC" for s in counted),
            notes=tuple(notes),
            ms_drg=drg.ms_drg if drg else None,
            drg_title=drg.title if drg else None,
            drg_weight=drg.weight if drg else None,
            mdc=drg.mdc if drg else None,
            grouper_version=drg.grouper_version if drg else None,
            charlson_index=com.charlson_index if com else None,
            elixhauser_mortality=com.elixhauser_mortality if com else None,
            charlson_age_adjusted=com.charlson_age_adjusted if com else None,
        )


def _finding_order(f: Finding) -> tuple[int, str, tuple[int, ...], tuple[int, ...]]:
    return (min(f.rows, default=0), f.rule_id, f.rows, f.procedure_rows)


def _drg_text(drg: DrgResult) -> str:
    weight = f" (weight {drg.weight:.4f})" if drg.weight is not None else ""
    return f"MS-DRG {drg.ms_drg}{weight}"


_default: Engine | None = None
_lock = threading.Lock()


def default_engine() -> Engine:
    """The process-wide engine over the default code sets (loaded on first use)."""
    global _default  # noqa: PLW0603 - one engine per process, built lazily
    if _default is None:
        with _lock:
            if _default is None:
                from app.codesets.comorbidity import default_comorbidity_scorer
                from app.codesets.drg import default_claim_editor
                from app.codesets.icd10cm import default_codeset
                from app.codesets.pcs import default_pcs

                _default = Engine(
                    default_codeset(), default_claim_editor(), default_comorbidity_scorer(), default_pcs()
                )
    return _default
