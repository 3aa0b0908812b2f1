"""The rule catalogue of CODING-RULES.md, one registered function per rule id.

Rules read a prepared `Context` and yield `Hit`s naming 1-based rows. They never raise on odd
input: a row that failed the format rules is simply not `valid` and the clinical rules skip it,
so one typo produces one finding, not a cascade.

Out of scope (need the Alphabetic Index or Coding Clinic, not open data): "with" linkage,
acute/chronic pairing and most combination-code rules beyond the title-based R-CMB-01.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from itertools import combinations

from app.codesets.types import NoteKind
from app.validation.context import Context, Row
from app.validation.model import Category, Level, RecordType, Setting
from app.validation.registry import Hit, rule
from app.validation.syntax import display

# What the format rules read: rows that are not billable codes or were respelt, bad PCS rows.
FORMAT_WORK = ("irregular", "bad_pcs")

FMT = Category.FORMAT
SEQ = Category.SEQUENCING
COM = Category.COMORBIDITY
ERROR, WARNING, INFO = Level.ERROR, Level.WARNING, Level.INFO


def _codes(rows: list[Row]) -> str:
    return ", ".join(r.code for r in rows)


# --- Format ----------------------------------------------------------------------------------


@rule(
    "R-FMT-06",
    "Code syntax",
    category=FMT,
    severity=ERROR,
    guideline_ref="ICD-10-CM Guidelines I.A",
    needs=FORMAT_WORK,
)
def code_syntax(ctx: Context) -> Iterator[Hit]:
    for row in ctx.irregular:
        sp = row.spelling
        if sp.problem is not None:
            yield Hit((row.n,), sp.problem)
        elif sp.changes:
            yield Hit(
                (row.n,),
                f"Read '{sp.raw.strip()}' as {sp.code} ({'; '.join(sp.changes)}).",
                severity=INFO,
            )
    for proc in ctx.bad_pcs:
        if ctx.pcs_problem(proc) is not None:
            yield Hit((), ctx.pcs_problem(proc) or "", procedure_rows=(proc.n,))


def _seventh_parent(ctx: Context, key: str) -> tuple[str, dict[str, str]] | None:
    """The 6-character stem of a 7-character code and its 7th-character definitions, if any."""
    stem = ctx.codes.lookup(key[:6])
    if stem is not None and stem.seventh:
        return stem.code, dict(stem.seventh)
    return None


def _placeholder_fixes(ctx: Context, key: str) -> list[str]:
    """Billable codes made by inserting placeholder X before the 7th character of `key`."""
    if len(key) >= 7 or not key[-1].isalpha():
        return []
    stem, seventh = key[:-1], key[-1]
    missing = 6 - len(stem)
    fixes: list[str] = []
    for at in range(3, len(stem) + 1):
        candidate = stem[:at] + "X" * missing + stem[at:] + seventh
        info = ctx.codes.lookup(candidate)
        if info is not None and info.billable and candidate not in fixes:
            fixes.append(candidate)
    return fixes


@rule(
    "R-FMT-02",
    "7th character required",
    category=FMT,
    severity=ERROR,
    guideline_ref="ICD-10-CM Guidelines I.A.2, I.A.5",
    needs=FORMAT_WORK,
)
def seventh_required(ctx: Context) -> Iterator[Hit]:
    for row in ctx.irregular:
        info = row.info
        if row.valid or info is None or info.billable or not info.seventh or len(row.key) >= 7:
            continue
        letters = ", ".join(sorted(info.seventh))
        pad = "" if len(row.key) == 6 else " after placeholder X in the empty positions"
        yield Hit(
            (row.n,),
            f"{row.code} needs a 7th character{pad} ({letters}), e.g. "
            f"{display(row.key.ljust(6, 'X') + min(info.seventh))}.",
        )


@rule(
    "R-FMT-03",
    "Placeholder X",
    category=FMT,
    severity=ERROR,
    guideline_ref="ICD-10-CM Guidelines I.A.4, I.A.5",
    needs=FORMAT_WORK,
)
def placeholder(ctx: Context) -> Iterator[Hit]:
    for row in ctx.irregular:
        if row.valid or row.info is not None or not row.key:
            continue
        fixes = _placeholder_fixes(ctx, row.key)
        if fixes:
            yield Hit(
                (row.n,),
                f"{row.code} is missing placeholder X before the 7th character: "
                f"did you mean {' or '.join(display(f) for f in fixes)}?",
            )


@rule(
    "R-FMT-04",
    "Defined 7th character",
    category=FMT,
    severity=ERROR,
    guideline_ref="ICD-10-CM Guidelines I.A.5; tabular 7th-character definitions",
    needs=FORMAT_WORK,
)
def seventh_defined(ctx: Context) -> Iterator[Hit]:
    for row in ctx.irregular:
        if row.valid or row.info is not None or len(row.key) != 7:
            continue
        found = _seventh_parent(ctx, row.key)
        if found is None:
            continue
        stem, seventh = found
        if row.key[6] not in seventh:
            yield Hit(
                (row.n,),
                f"7th character '{row.key[6]}' is not defined for {stem}; use one of {', '.join(sorted(seventh))}.",
            )


def _format_explained(ctx: Context, row: Row) -> bool:
    """True when R-FMT-02/03/04/06 already explains why the row is not a billable code."""
    if row.spelling.problem is not None:
        return True
    info = row.info
    if info is not None:
        return not info.billable and bool(info.seventh) and len(row.key) < 7
    if _placeholder_fixes(ctx, row.key):
        return True
    return len(row.key) == 7 and _seventh_parent(ctx, row.key) is not None


@rule(
    "R-FMT-01",
    "Complete, billable code",
    category=FMT,
    severity=ERROR,
    guideline_ref="ICD-10-CM Guidelines I.A.3, I.B.2; MCE edit 1",
    needs=FORMAT_WORK,
)
def billable(ctx: Context) -> Iterator[Hit]:
    version = ctx.codes.version
    for row in ctx.irregular:
        if row.valid or _format_explained(ctx, row):
            continue
        info = row.info
        if info is None:
            yield Hit((row.n,), f"{row.code} is not a code in {version}.")
        elif info.kind in {"chapter", "block"}:
            yield Hit((row.n,), f"{row.code} is a {info.kind} ({info.description}), not a code.")
        else:
            yield Hit(
                (row.n,),
                f"{row.code} ({info.description}) is a {info.kind}, not a billable code: "
                "choose a complete code below it.",
            )
    for proc in ctx.bad_pcs:
        if ctx.pcs_problem(proc) is None:
            # The public PCS list we ship is older than the diagnosis release: a well-formed code
            # missing from it may be a newer code, so this is a warning, not a blocking error.
            yield Hit(
                (),
                f"{proc.code} is not in {ctx.pcs_version}; check the code (newer codes are not in this list).",
                procedure_rows=(proc.n,),
                severity=WARNING,
            )


@rule(
    "R-FMT-05",
    "Each code once",
    category=FMT,
    severity=ERROR,
    guideline_ref="ICD-10-CM Guidelines I.B.12; MCE edit 3",
    needs=("repeated",),
)
def duplicates(ctx: Context) -> Iterator[Hit]:
    seen: dict[str, list[int]] = {}
    for row in ctx.rows:
        if row.key:
            seen.setdefault(row.key, []).append(row.n)
    for key, rows in seen.items():
        if len(rows) > 1:
            yield Hit(
                tuple(rows), f"{display(key)} is reported {len(rows)} times (rows {_join(rows)}); report it once."
            )


def _join(numbers: list[int] | tuple[int, ...]) -> str:
    return ", ".join(map(str, numbers))


# --- Sequencing ------------------------------------------------------------------------------


@rule(
    "R-SEQ-00",
    "One principal diagnosis",
    category=SEQ,
    severity=ERROR,
    guideline_ref="ICD-10-CM Guidelines Section II / Section IV",
)
def one_principal(ctx: Context) -> Iterator[Hit]:
    if not ctx.rows:
        yield Hit((), "The chart has no diagnosis codes: add the principal diagnosis first.")
        return
    flagged = [r.n for r in ctx.rows if r.flagged_principal]
    if not flagged:
        yield Hit((1,), f"No row is marked principal; mark one (row 1, {ctx.rows[0].code}, is read as first-listed).")
    elif len(flagged) > 1:
        yield Hit(tuple(flagged), f"Rows {_join(flagged)} are all marked principal; exactly one may be.")


@rule(
    "R-SEQ-01",
    "External cause never principal",
    category=SEQ,
    severity=ERROR,
    guideline_ref="ICD-10-CM Guidelines I.C.20.a.6; MCE edit 2",
)
def external_cause_principal(ctx: Context) -> Iterator[Hit]:
    p = ctx.principal
    if p is not None and p.valid and p.key[0] in "VWXY":
        yield Hit(
            (p.n,),
            f"{p.label()} is an external-cause code: it is never principal or first-listed; "
            "sequence the injury or condition first.",
        )


def _mce_rows(ctx: Context, edit: int) -> Iterator[tuple[tuple[Row, ...], tuple[int, ...]]]:
    for hit in ctx.mce:
        if hit.edit == edit:
            rows = tuple(ctx.claim_rows[i] for i in hit.dx_rows if i < len(ctx.claim_rows))
            procs = tuple(ctx.claim_procs[i].n for i in hit.proc_rows if i < len(ctx.claim_procs))
            yield rows, procs


@rule(
    "R-SEQ-02",
    "Manifestation never principal",
    category=SEQ,
    severity=ERROR,
    guideline_ref="ICD-10-CM Guidelines I.A.13; MCE edit 6",
    mce_edit=6,
)
def manifestation_principal(ctx: Context) -> Iterator[Hit]:
    for rows, _ in _mce_rows(ctx, 6):
        for row in rows:
            yield Hit(
                (row.n,),
                f"{row.label()} is a manifestation code: it is never principal; "
                "sequence the underlying condition first.",
            )


@rule(
    "R-SEQ-03",
    "Code first: etiology present and first",
    category=SEQ,
    severity=WARNING,
    guideline_ref="ICD-10-CM Guidelines I.A.13 (code first notes)",
    needs=("code_first_rows",),
)
def code_first(ctx: Context) -> Iterator[Hit]:
    valid = ctx.valid_rows
    present = ctx.valid_by_cat.keys()
    for row in ctx.code_first_rows:
        if ctx.principal is row and row.key.startswith("R652"):
            continue  # R-SEQ-06 says it more precisely
        for group in row.code_first:
            named = group.by_category.keys() & present  # categories on the chart the note can name
            etiology = (
                [o for o in valid if o.cat in named and o is not row and group.naming(o.key) is not None]
                if named
                else []
            )
            if not etiology:
                if not (group.requires_etiology or row.facts.elsewhere):
                    continue
                yield Hit(
                    (row.n,),
                    f"{row.code} has a 'code first' note on {group.source} (such as {group.examples}); "
                    "no such code is on the chart.",
                )
            elif all(o.n > row.n for o in etiology):
                first = etiology[0]
                yield Hit(
                    (row.n, first.n),
                    f"{first.code} should be sequenced before {row.code} ('code first' note on {group.source}).",
                )


def _quote(text: str) -> str:
    one_line = " ".join(text.split())
    return f"'{one_line[:160]}…'" if len(one_line) > 160 else f"'{one_line}'"


# Guideline-required "use additional code" pairs: (codes needing it, codes satisfying it, why, ref).
REQUIRED_ADDITIONAL: tuple[tuple[tuple[str, ...], tuple[str, ...], str, str], ...] = (
    (("I12",), ("N18",), "a stage of chronic kidney disease (N18.-)", "ICD-10-CM Guidelines I.C.9.a.2"),
    (("I13",), ("N18",), "a stage of chronic kidney disease (N18.-)", "ICD-10-CM Guidelines I.C.9.a.3"),
    (("I130", "I132"), ("I50",), "the type of heart failure (I50.-)", "ICD-10-CM Guidelines I.C.9.a.3"),
    (("I110",), ("I50",), "the type of heart failure (I50.-)", "ICD-10-CM Guidelines I.C.9.a.1"),
    (
        ("E0822", "E0922", "E1022", "E1122", "E1322"),
        ("N18",),
        "the stage of chronic kidney disease (N18.1-N18.6)",
        "ICD-10-CM Guidelines I.A.12 use additional code; tabular note at E08-E13 .22",
    ),
)


_NEEDS_ANY = tuple(p for needs, _, _, _ in REQUIRED_ADDITIONAL for p in needs)


@rule(
    "R-SEQ-04",
    "Required additional code",
    category=SEQ,
    severity=ERROR,
    guideline_ref="ICD-10-CM Guidelines I.C.9.a.2",
    needs_categories={p[:3] for p in _NEEDS_ANY},
)
def use_additional(ctx: Context) -> Iterator[Hit]:
    valid = ctx.valid_rows
    for row in valid:
        if not row.key.startswith(_NEEDS_ANY):
            continue
        for needs, satisfied_by, what, ref in REQUIRED_ADDITIONAL:
            if row.key.startswith(needs) and not any(o.key.startswith(satisfied_by) for o in valid if o is not row):
                yield Hit((row.n,), f"{row.label()} needs an additional code for {what}.", guideline_ref=ref)


# R-SEQ-05: (prefix, exceptions) of Z codes that may only be principal / first-listed (I.C.21.c.16).
FIRST_LISTED_ONLY: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Z00", ("Z006",)),
    ("Z01", ()),
    ("Z02", ()),
    ("Z04", ()),
    ("Z3181", ()),
    ("Z3183", ()),
    ("Z3184", ()),
    ("Z332", ()),
    ("Z34", ()),
    ("Z38", ()),
    ("Z39", ()),
    ("Z40", ()),
    ("Z42", ()),
    ("Z510", ()),
    ("Z511", ()),
    ("Z52", ("Z529",)),
    ("Z761", ()),
    ("Z762", ()),
    ("Z9912", ()),
)


_FIRST_ONLY = tuple(p for p, _ in FIRST_LISTED_ONLY)
_FIRST_ONLY_EXCEPT = tuple(e for _, ex in FIRST_LISTED_ONLY for e in ex)


def first_listed_only(key: str) -> bool:
    # Each exception is longer than, and under, its own prefix, so one tuple of each is exact.
    return key.startswith(_FIRST_ONLY) and not key.startswith(_FIRST_ONLY_EXCEPT)


@rule(
    "R-SEQ-05",
    "First-listed-only Z codes",
    category=SEQ,
    severity=ERROR,
    guideline_ref="ICD-10-CM Guidelines I.C.21.c.16",
    needs_categories={p[:3] for p in _FIRST_ONLY},
)
def z_first_listed(ctx: Context) -> Iterator[Hit]:
    for row in ctx.secondaries():
        if first_listed_only(row.key):
            yield Hit(
                (row.n,),
                f"{row.label()} may only be the principal/first-listed diagnosis, not a secondary one.",
            )


@rule(
    "R-SEQ-06",
    "Severe sepsis never principal",
    category=SEQ,
    severity=ERROR,
    guideline_ref="ICD-10-CM Guidelines I.C.1.d",
    needs_categories={"R65"},
)
def severe_sepsis(ctx: Context) -> Iterator[Hit]:
    p = ctx.principal
    if p is not None and p.valid and p.key.startswith("R652"):
        yield Hit(
            (p.n,),
            f"{p.label()} is never principal: sequence the underlying systemic infection "
            "(e.g. A41.9) first and report R65.2- as secondary.",
        )


def _chapter15(key: str) -> bool:
    return key.startswith("O")


def _chapter16(key: str) -> bool:
    return key.startswith("P")


@rule(
    "R-SEQ-08",
    "O80 normal delivery",
    category=SEQ,
    severity=ERROR,
    guideline_ref="ICD-10-CM Guidelines I.C.15.n.1, I.C.15.n.3",
    needs_categories={"O80"},
)
def normal_delivery(ctx: Context) -> Iterator[Hit]:
    valid = ctx.valid_rows
    o80 = [r for r in valid if r.key == "O80"]
    if not o80:
        return
    row = o80[0]
    if ctx.principal is not row:
        yield Hit((row.n,), "O80 (normal delivery) must be the principal diagnosis.")
    others = [r for r in valid if _chapter15(r.key) and r.key != "O80"]
    if others:
        yield Hit(
            (row.n, *(r.n for r in others)),
            f"O80 (normal delivery) is never reported with another chapter-15 code: {_codes(others)}.",
        )
    outcomes = [r for r in valid if r.key.startswith("Z37") and r.key != "Z370"]
    if outcomes:
        yield Hit(
            (row.n, *(r.n for r in outcomes)),
            f"With O80 the only outcome of delivery is Z37.0 (single live birth), not {_codes(outcomes)}.",
        )


_DELIVERY_DX = ("O80", "O82")
_DELIVERY_PCS = ("10D0", "10E0")


@rule(
    "R-SEQ-09",
    "Maternal, newborn and delivery records",
    category=SEQ,
    severity=ERROR,
    guideline_ref="ICD-10-CM chapter 15 and 16 notes; Guidelines I.C.15.b.5, I.C.16.a.1",
)
def record_type(ctx: Context) -> Iterator[Hit]:
    kind = ctx.chart.record_type
    # Only chapter-15 (O), chapter-16 (P) and outcome-of-delivery (Z37) rows concern this rule,
    # besides delivery procedures on a maternal or unstated record.
    valid = [r for r in ctx.valid_rows if r.cat[0] in "OP" or r.cat == "Z37"]
    if not valid and kind in {RecordType.NEWBORN, RecordType.OTHER}:
        return
    if kind is not None and kind is not RecordType.MATERNAL:
        rows = [r for r in valid if _chapter15(r.key)]
        if rows:
            yield Hit(
                tuple(r.n for r in rows),
                f"Chapter-15 (pregnancy) codes belong only on the maternal record: {_codes(rows)} "
                f"on a {kind.value} record.",
                guideline_ref="ICD-10-CM chapter 15 note; Guidelines I.C.15.a.1",
            )
    if kind is not None and kind is not RecordType.NEWBORN:
        rows = [r for r in valid if _chapter16(r.key)]
        if rows:
            yield Hit(
                tuple(r.n for r in rows),
                f"Chapter-16 (perinatal) codes belong only on the newborn's record: {_codes(rows)} "
                f"on a {kind.value} record.",
                guideline_ref="ICD-10-CM chapter 16 note; Guidelines I.C.16.a.1",
            )
    outcome = [r for r in valid if r.key.startswith("Z37")]
    if kind is not None and kind is not RecordType.MATERNAL and outcome:
        yield Hit(
            tuple(r.n for r in outcome),
            f"Outcome of delivery ({_codes(outcome)}) is coded only on the mother's record.",
            guideline_ref="ICD-10-CM Guidelines I.C.15.b.5",
        )
    if kind in {RecordType.NEWBORN, RecordType.OTHER} or outcome:
        return
    delivery = [r for r in valid if r.key.startswith(_DELIVERY_DX)]
    procs = [p for p in ctx.procedures if p.valid and p.code.startswith(_DELIVERY_PCS)]
    if delivery or procs:
        what = _codes(delivery) if delivery else ", ".join(p.code for p in procs)
        yield Hit(
            tuple(r.n for r in delivery),
            f"A delivery is coded ({what}) but no outcome of delivery (Z37.-) is on the record.",
            procedure_rows=tuple(p.n for p in procs),
            guideline_ref="ICD-10-CM Guidelines I.C.15.b.5",
        )


# --- Excludes and combinations ---------------------------------------------------------------


def _excludes(ctx: Context, kind: NoteKind) -> Iterator[tuple[Row, Row, str, str]]:
    """Unordered pairs (a, b) where a note of `kind` on a (or its ancestors) names b.

    Each code's notes are indexed by the categories they can name; intersecting that index with
    the chart's categories (a C-level set operation) rules out almost every pair at once.
    """
    by_cat = ctx.valid_by_cat
    present = by_cat.keys()
    done: set[tuple[int, int]] = set()
    for a in ctx.pair_rows:  # the valid rows with a note naming a category on the chart
        index = a.ex1 if kind is NoteKind.EXCLUDES1 else a.ex2
        if not index or index.keys().isdisjoint(present):  # the usual case: nothing to compare
            continue
        for cat in sorted(index.keys() & present):
            for b in by_cat[cat]:
                if b.key == a.key:
                    continue
                for source, note in index[cat]:
                    if note.names(b.key):
                        pair = (a.n, b.n) if a.n < b.n else (b.n, a.n)
                        if pair not in done:
                            done.add(pair)
                            yield a, b, source, note.text
                        break


@rule(
    "R-EXC-01",
    "Excludes1",
    category=COM,
    severity=ERROR,
    guideline_ref="ICD-10-CM Guidelines I.A.12.a",
    overridable=True,
    needs=("pair_rows",),
)
def excludes1(ctx: Context) -> Iterator[Hit]:
    for a, b, source, text in _excludes(ctx, NoteKind.EXCLUDES1):
        yield Hit(
            tuple(sorted((a.n, b.n))),
            f"{a.code} and {b.code} are never reported together (Excludes1 at {source}: {_quote(text)}). "
            "If the two conditions are unrelated, record an override rationale.",
        )


@rule(
    "R-EXC-02",
    "Excludes2",
    category=COM,
    severity=INFO,
    guideline_ref="ICD-10-CM Guidelines I.A.12.b",
    needs=("pair_rows",),
)
def excludes2(ctx: Context) -> Iterator[Hit]:
    for a, b, source, text in _excludes(ctx, NoteKind.EXCLUDES2):
        yield Hit(
            tuple(sorted((a.n, b.n))),
            f"{a.code} and {b.code}: Excludes2 at {source} ({_quote(text)}) - both may be reported "
            "when the patient has both conditions.",
        )


def _uncomplicated(row: Row) -> bool:
    """The title says "without complication(s)" or "uncomplicated" (a per-code fact, cached)."""
    return row.facts.uncomplicated


@rule(
    "R-CMB-01",
    "Contradictory pair in a family",
    category=COM,
    severity=ERROR,
    guideline_ref="ICD-10-CM tabular titles; Guidelines I.C.4.a",
)
def contradictory(ctx: Context) -> Iterator[Hit]:
    if len(ctx.valid_by_cat) == len(ctx.valid_rows):
        return  # every category holds one row: no pair to compare
    for family in ctx.valid_by_cat.values():
        if len(family) < 2:
            continue
        for a, b in combinations(family, 2):
            if a.key == b.key or _uncomplicated(a) == _uncomplicated(b):
                continue
            plain, other = (a, b) if _uncomplicated(a) else (b, a)
            yield Hit(
                tuple(sorted((a.n, b.n))),
                f"{plain.label()} contradicts {other.code} ({other.title}): "
                "a condition cannot be both without and with complications; keep the codes for "
                "the documented complications only.",
            )


# --- Medicare Code Editor --------------------------------------------------------------------

SEX_EDIT_RETIRED = date(2024, 10, 1)
# Unacceptable as principal in any setting: organism, outcome of delivery, weeks of gestation, BMI.
_NEVER_FIRST_LISTED = ("B95", "B96", "B97", "Z37", "Z3A", "Z68")


@rule(
    "R-MCE-04", "Age conflict", category=FMT, severity=ERROR, guideline_ref="MCE edit 4", overridable=True, mce_edit=4
)
def mce_age(ctx: Context) -> Iterator[Hit]:
    for rows, procs in _mce_rows(ctx, 4):
        yield Hit(
            tuple(r.n for r in rows),
            f"{_codes(list(rows)) or 'A code'} conflicts with the patient's age ({ctx.chart.age}) "
            "(MCE age edit: newborn 0, pediatric 0-17, maternity 9-64, adult 15-124).",
            procedure_rows=procs,
        )


@rule(
    "R-MCE-05", "Sex conflict", category=FMT, severity=ERROR, guideline_ref="MCE edit 5", overridable=True, mce_edit=5
)
def mce_sex(ctx: Context) -> Iterator[Hit]:
    if ctx.chart.discharge_date >= SEX_EDIT_RETIRED:
        return  # CMS deactivated the sex-conflict edit for discharges from 2024-10-01.
    for rows, procs in _mce_rows(ctx, 5):
        yield Hit(
            tuple(r.n for r in rows),
            f"{_codes(list(rows)) or 'A code'} conflicts with the patient's sex ({ctx.chart.sex}).",
            procedure_rows=procs,
        )


@rule("R-MCE-08", "Questionable admission", category=SEQ, severity=WARNING, guideline_ref="MCE edit 8", mce_edit=8)
def mce_questionable(ctx: Context) -> Iterator[Hit]:
    if ctx.chart.setting is Setting.OUTPATIENT:
        return  # an admission edit: an outpatient visit admits no one
    for rows, _ in _mce_rows(ctx, 8):
        for row in rows:
            yield Hit(
                (row.n,),
                f"{row.label()} as principal diagnosis is a questionable reason for inpatient admission.",
            )


@rule(
    "R-MCE-09", "Unacceptable principal diagnosis", category=SEQ, severity=ERROR, guideline_ref="MCE edit 9", mce_edit=9
)
def mce_unacceptable(ctx: Context) -> Iterator[Hit]:
    outpatient = ctx.chart.setting is Setting.OUTPATIENT
    for rows, _ in _mce_rows(ctx, 9):
        for row in rows:
            if outpatient and not row.key.startswith(_NEVER_FIRST_LISTED):
                continue  # e.g. Z00.00 opens a wellness visit (Section IV); inpatient-only edit
            yield Hit((row.n,), f"{row.label()} is not acceptable as principal diagnosis.")


@rule("R-MCE-18", "Wrong procedure performed", category=FMT, severity=ERROR, guideline_ref="MCE edit 18", mce_edit=18)
def mce_wrong_procedure(ctx: Context) -> Iterator[Hit]:
    for rows, procs in _mce_rows(ctx, 18):
        yield Hit(
            tuple(r.n for r in rows),
            f"{_codes(list(rows))} reports a wrong procedure performed: the claim needs review "
            "and the procedures are not covered.",
            procedure_rows=procs,
        )


@rule(
    "R-MCE-20",
    "Unspecified laterality",
    category=FMT,
    severity=WARNING,
    guideline_ref="MCE edit 20; CMS Table 6P.3a",
    mce_edit=20,
)
def mce_unspecified(ctx: Context) -> Iterator[Hit]:
    for rows, _ in _mce_rows(ctx, 20):
        for row in rows:
            yield Hit((row.n,), f"{row.label()} is unspecified where a code with laterality exists.")


# --- Severity and comorbidity ----------------------------------------------------------------


@rule("R-DRG-01", "CC / MCC secondary", category=COM, severity=INFO, guideline_ref="CMS Tables 6I, 6J")
def cc_mcc(ctx: Context) -> Iterator[Hit]:
    for row, sev in ctx.severity_rows:
        if not sev.excluded:
            yield Hit((row.n,), f"{row.label()} is a{'n' if sev.level == 'MCC' else ''} {sev.level}.")


@rule("R-DRG-02", "CC / MCC excluded", category=COM, severity=WARNING, guideline_ref="CMS Table 6K")
def cc_excluded(ctx: Context) -> Iterator[Hit]:
    principal = ctx.principal
    for row, sev in ctx.severity_rows:
        if not sev.excluded or principal is None:
            continue
        if sev.exclusion == "died":
            yield Hit(
                (row.n,),
                f"{row.code} counts as an {sev.level} only when the patient is discharged alive; "
                "this patient died (CC exclusion Part 2).",
                guideline_ref="CMS Table 6K Part 2",
            )
        else:
            yield Hit(
                (row.n,),
                f"{row.code} would be an {sev.level} but does not count: the principal diagnosis "
                f"{principal.code} excludes it (CC exclusion).",
            )


@rule("R-DRG-03", "MS-DRG and weight", category=COM, severity=INFO, guideline_ref="CMS Table 5; MS-DRG")
def ms_drg(ctx: Context) -> Iterator[Hit]:
    drg, principal = ctx.drg, ctx.principal
    if drg is None or principal is None or drg.ms_drg is None:
        return
    weight = f", relative weight {drg.weight:.4f}" if drg.weight is not None else ""
    yield Hit((principal.n,), f"MS-DRG {drg.ms_drg} {drg.title or ''}{weight} ({drg.grouper_version}).")
    for row, change in ctx.drg_changes:
        yield Hit((row.n,), f"Correcting row {row.n} ({row.code}) changes the MS-DRG: {change}.")


def _categories(mapping: Mapping[str, tuple[int, ...]], ctx: Context) -> tuple[tuple[int, ...], str]:
    """All chart rows of the categories, and "name (row 3, 5); …" by category name."""
    rows: set[int] = set()
    parts: list[str] = []
    claim_rows = ctx.claim_rows
    size = len(claim_rows)
    for name in sorted(mapping):
        positions = mapping[name]
        if len(positions) == 1 and positions[0] < size:  # the usual category: one row
            n = claim_rows[positions[0]].n
            rows.add(n)
            parts.append(f"{name} (row {n})")
            continue
        chart_rows = sorted({claim_rows[i].n for i in positions if i < size})
        rows.update(chart_rows)
        parts.append(f"{name} (row {_join(chart_rows)})")
    return tuple(sorted(rows)), "; ".join(parts)


@rule(
    "R-COM-01",
    "Charlson comorbidity index",
    category=COM,
    severity=INFO,
    guideline_ref="Quan et al., Med Care 2005",
)
def charlson(ctx: Context) -> Iterator[Hit]:
    com = ctx.comorbidity
    if com is None or not com.charlson_rows:
        return
    rows, parts = _categories(com.charlson_rows, ctx)
    yield Hit(
        rows,
        f"Charlson comorbidity index {com.charlson_index} (age-adjusted {com.charlson_age_adjusted}): {parts}.",
    )


@rule(
    "R-COM-02",
    "Elixhauser comorbidity measures",
    category=COM,
    severity=INFO,
    guideline_ref="AHRQ HCUP Elixhauser Comorbidity Software Refined for ICD-10-CM",
)
def elixhauser(ctx: Context) -> Iterator[Hit]:
    com = ctx.comorbidity
    if com is None or not com.elixhauser_rows:
        return
    rows, parts = _categories(com.elixhauser_rows, ctx)
    yield Hit(
        rows,
        f"Elixhauser measures (AHRQ Refined in-hospital mortality index {com.elixhauser_mortality}): {parts}.",
    )
