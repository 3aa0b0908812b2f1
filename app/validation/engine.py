"""The validation engine: pure Python, no I/O, built once per process from the loaded code sets.

`Engine.validate(chart)` reads the rows once (spelling, lookup, principal), asks the claim
editor (MCE + MS-DRG) and the comorbidity scorer once, then runs the registered rules over
that prepared context. Overridable findings are cleared by an override rationale on any of the
rows they name; the summary counts what is left.

Throughput (ADR 0006): what does not depend on the chart is cached per engine, so per code-set
version (a typed text's reading, tabular item, note indexes and title facts: `Shared`), and
preparing a row is one dict lookup. The one pass that builds the rows also sorts them into the
lists the rules read (`Context`), and a rule that declares when it can fire (`Rule.mce_edit`,
`needs_categories`, `needs`) is not called on a chart where it cannot.
"""

from __future__ import annotations

import threading
from dataclasses import fields
from datetime import date
from itertools import product
from string import ascii_uppercase, digits

from app.codesets.types import Claim, ClaimEditor, CodeSet, ComorbidityScorer, DrgResult, ProcedureCodes
from app.validation import rules as _rules  # noqa: F401 - registers the catalogue
from app.validation.context import Context, ProcRow, Row, Shared
from app.validation.model import ChartInput, Finding, Level, ProcedureSystem, Setting, Summary, ValidationResult
from app.validation.registry import RULES, Rule
from app.validation.syntax import pcs_problem

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
        # Rules that declare when they can fire are checked against the chart before they run.
        self._ungated = tuple(r for r in self.rules if not _gated(r))
        self._gated = tuple(r for r in self.rules if _gated(r))
        self._needs = frozenset(name for r in self.rules for name in r.needs)
        lists = {f.name for f in fields(Context) if f.type in {"list[Row]", "list[ProcRow]"}}
        if not self._needs <= lists:
            raise ValueError(f"rules need Context row lists that do not exist: {sorted(self._needs - lists)}")
        self._procedures: dict[tuple[str, ProcedureSystem], tuple[str, bool]] = {}

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
        known, facts_for = self.shared.spellings, self.shared.facts_for
        rows: list[Row] = []
        valid: list[Row] = []
        by_cat: dict[str, list[Row]] = {}
        irregular: list[Row] = []
        code_first: list[Row] = []
        keys: set[str] = set()
        repeated: list[Row] = []
        principal: Row | None = None
        for n, dx in enumerate(chart.diagnoses, start=1):
            facts = known.get(dx.code) or facts_for(dx.code)  # a text seen before: one dict lookup
            why = dx.override_rationale
            row = Row(n, facts, dx.principal, bool(why and why.strip()))
            rows.append(row)
            if facts.valid:
                valid.append(row)
                family = by_cat.get(facts.cat)
                if family is None:
                    by_cat[facts.cat] = [row]
                else:
                    family.append(row)
                if facts.code_first:
                    code_first.append(row)
            if not facts.regular:
                irregular.append(row)
            if facts.key:
                if facts.key in keys:
                    repeated.append(row)
                else:
                    keys.add(facts.key)
            if principal is None and dx.principal:
                principal = row
        if principal is None and rows:
            principal = rows[0]
        present = by_cat.keys()
        pairs = [r for r in valid if r.facts.ex_cats and not r.facts.ex_cats.isdisjoint(present)]
        procs, bad_pcs = self._procedure_rows(chart)
        return Context(
            chart,
            self.codes,
            rows,
            procs,
            principal,
            self.shared,
            valid,
            by_cat,
            irregular,
            bad_pcs,
            repeated,
            code_first,
            pairs,
        )

    def _procedure_rows(self, chart: ChartInput) -> tuple[list[ProcRow], list[ProcRow]]:
        """Every procedure row, and the ICD-10-PCS rows that are not valid codes."""
        procs: list[ProcRow] = []
        bad_pcs: list[ProcRow] = []
        for n, px in enumerate(chart.procedures, start=1):
            code, ok = self._procedure(px.code, px.code_system)
            why = px.override_rationale
            proc = ProcRow(n, px, code, ok, bool(why and why.strip()))
            procs.append(proc)
            if not ok and px.code_system == "ICD-10-PCS":
                bad_pcs.append(proc)
        return procs, bad_pcs

    def _procedure(self, raw: str, system: ProcedureSystem) -> tuple[str, bool]:
        """A procedure text's code and whether it is valid, remembered per (text, system)."""
        found = self._procedures.get((raw, system))
        if found is None:
            code = raw.strip().upper()
            if system == "ICD-10-PCS":
                found = (code, pcs_problem(code) is None and self.procedures.exists(code))
            else:
                found = (code, bool(code))
            if len(self._procedures) >= self.shared.limit:
                self._procedures.clear()
            self._procedures[(raw, system)] = found
        return found

    def _claim(self, ctx: Context, drop: Row | None = None) -> Claim | None:
        principal = ctx.principal
        if principal is None or not principal.valid or principal is drop:
            return None
        seen = {principal.key}
        claim_rows = [principal]
        for row in ctx.valid_rows:
            if row.key not in seen and row is not drop:
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
            diagnoses=tuple([r.key for r in claim_rows]),
            procedures=tuple([p.code for p in claim_procs]),
        )

    # --- validation ------------------------------------------------------------------------

    def validate(self, chart: ChartInput) -> ValidationResult:
        ctx = self._context(chart)
        claim = self._claim(ctx)
        if claim is not None:
            ctx.mce = self.claims.edits(claim)
            ctx.drg = self.claims.group(claim)
            claim_rows = ctx.claim_rows
            ctx.severity_rows = [
                (claim_rows[i], sev)
                for i, sev in enumerate(ctx.drg.rows)
                if i and sev.level != "NONE" and i < len(claim_rows)
            ]
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
            normalised=tuple([r.code or None for r in ctx.rows]),
        )

    def _run(self, ctx: Context) -> list[Finding]:
        findings: list[Finding] = []
        rows, procs = ctx.rows, ctx.procedures
        for rule in self._applicable(ctx):
            for hit in rule.check(ctx):
                overridden = rule.overridable and (
                    any(rows[n - 1].overridden for n in hit.rows)
                    or any(procs[n - 1].overridden for n in hit.procedure_rows)
                )
                findings.append(
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
        # The order rules ran in does not show: findings are ordered by row, then rule id.
        findings.sort(key=_finding_order)
        return findings

    def _applicable(self, ctx: Context) -> list[Rule]:
        """The rules that may fire on this chart: every rule, less those whose declared
        condition (MCE edit fired, a category present, a row list non-empty) does not hold."""
        applicable = list(self._ungated)
        fired = {hit.edit for hit in ctx.mce}
        present = ctx.valid_by_cat.keys()
        ready = {name for name in self._needs if getattr(ctx, name)}
        for rule in self._gated:
            if rule.mce_edit is not None and rule.mce_edit not in fired:
                continue
            if rule.needs_categories is not None and rule.needs_categories.isdisjoint(present):
                continue
            if rule.needs and rule.needs.isdisjoint(ready):
                continue
            applicable.append(rule)
        return applicable

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
        errors = warnings = infos = blocking = overridden = 0
        for f in findings:
            if f.severity is Level.ERROR:
                errors += 1
                blocking += not f.overridden
            elif f.severity is Level.WARNING:
                warnings += 1
            else:
                infos += 1
            overridden += f.overridden
        cc = mcc = 0
        for _, s in ctx.severity_rows:  # the secondaries rated CC or MCC
            if not s.excluded:
                cc += s.level == "CC"
                mcc += s.level == "MCC"
        return Summary(
            errors=errors,
            warnings=warnings,
            infos=infos,
            blocking=blocking,
            overridden=overridden,
            cc_count=cc,
            mcc_count=mcc,
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


def _gated(rule: Rule) -> bool:
    return rule.mce_edit is not None or rule.needs_categories is not None or bool(rule.needs)


def _finding_order(f: Finding) -> tuple[int, str, tuple[int, ...], tuple[int, ...]]:
    return (min(f.rows) if f.rows else 0, f.rule_id, f.rows, f.procedure_rows)


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
