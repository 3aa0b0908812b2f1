"""The prepared view of one chart that every rule reads: rows looked up once, claim results once."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

from app.codesets.types import CodeInfo, CodeSet, ComorbidityResult, DrgResult, MceHit, Note, NoteKind
from app.validation.model import ChartInput, ProcedureRow
from app.validation.syntax import Spelling, pcs_problem


@dataclass(frozen=True, slots=True)
class NoteGroup:
    """The notes of one kind that one source (code, category, block or chapter) puts on a code,
    indexed by the 3-character categories they can name, so a pair check is a dict lookup.

    One instruction often spans several lines ("code first ... such as:" then one line per
    condition); they share a source and are judged together.
    """

    source: str
    notes: tuple[Note, ...]
    by_category: dict[str, tuple[Note, ...]]

    def naming(self, key: str) -> Note | None:
        for note in self.by_category.get(key[:3], ()):
            if note.names(key):
                return note
        return None

    @property
    def requires_etiology(self) -> bool:
        """Whether the note asks for an etiology that must be on the chart.

        "Code first the underlying condition, such as: …" (manifestations, I.A.13) requires one;
        a bare list ("code first: heart failure due to hypertension (I11.0); …") only says what
        goes first when present, and "if applicable" says so outright.
        """
        text = " ".join(n.text.lower() for n in self.notes)
        return "if applicable" not in text and ("such as" in text or "underlying" in text)


# Excludes2 notes on a chapter or block ("this chapter excludes: endocrine diseases (E00-E88)")
# mark classification boundaries, not a pair worth a coder's attention: R-EXC-02 reads only the
# notes on the code, its subcategories and its category. Excludes1 reads every level.
_PAIR_LEVELS = frozenset({"code", "subcategory", "category"})


PairIndex = dict[str, tuple[tuple[str, Note], ...]]
_EMPTY_INDEX: PairIndex = {}


@dataclass(slots=True)
class Shared:
    """Per-engine caches that outlive one chart: note groups by (code, kind)."""

    codes: CodeSet
    categories: list[str]
    pcs_version: str
    groups: dict[tuple[str, NoteKind], tuple[NoteGroup, ...]] = field(default_factory=dict)
    pairs: dict[tuple[str, NoteKind], dict[str, tuple[tuple[str, Note], ...]]] = field(default_factory=dict)
    facts: dict[str, tuple[PairIndex, PairIndex, tuple[NoteGroup, ...]]] = field(default_factory=dict)

    def categories_between(self, lo: str, hi: str) -> list[str]:
        return self.categories[bisect_left(self.categories, lo[:3]) : bisect_right(self.categories, hi[:3])]

    def note_groups(self, info: CodeInfo, kind: NoteKind) -> tuple[NoteGroup, ...]:
        cache_key = (info.key, kind)
        found = self.groups.get(cache_key)
        if found is None:
            found = self._build_groups(info, kind)
            self.groups[cache_key] = found
        return found

    def attach(self, row: Row) -> None:
        """Give a valid row its code's cached note indexes (one dict lookup per row and chart)."""
        assert row.info is not None  # noqa: S101 - only called for valid rows
        facts = self.facts.get(row.key)
        if facts is None:
            facts = (
                self.pair_index(row.info, NoteKind.EXCLUDES1),
                self.pair_index(row.info, NoteKind.EXCLUDES2),
                self.note_groups(row.info, NoteKind.CODE_FIRST),
            )
            self.facts[row.key] = facts
        row.ex1, row.ex2, row.code_first = facts

    def pair_index(self, info: CodeInfo, kind: NoteKind) -> dict[str, tuple[tuple[str, Note], ...]]:
        """All groups of `kind` on a code merged into category -> (source, note): one dict
        lookup decides most pairs (the hot path of the Excludes rules)."""
        cache_key = (info.key, kind)
        found = self.pairs.get(cache_key)
        if found is None:
            merged: dict[str, list[tuple[str, Note]]] = {}
            for group in self.note_groups(info, kind):
                for category, notes in group.by_category.items():
                    merged.setdefault(category, []).extend((group.source, n) for n in notes)
            found = {k: tuple(v) for k, v in merged.items()}
            self.pairs[cache_key] = found
        return found

    def _build_groups(self, info: CodeInfo, kind: NoteKind) -> tuple[NoteGroup, ...]:
        by_source: dict[str, list[Note]] = {}
        for note in info.notes_of(kind):
            by_source.setdefault(note.source, []).append(note)
        groups: list[NoteGroup] = []
        for source, notes in by_source.items():
            if kind is NoteKind.EXCLUDES2:
                where = self.codes.lookup(source)
                if where is None or where.kind not in _PAIR_LEVELS:
                    continue
            index: dict[str, list[Note]] = {}
            for note in notes:
                for target in note.targets:
                    for category in self.categories_between(target.lo, target.hi):
                        bucket = index.setdefault(category, [])
                        if note not in bucket:
                            bucket.append(note)
            if index:
                groups.append(NoteGroup(source, tuple(notes), {k: tuple(v) for k, v in index.items()}))
        return tuple(groups)


class Row:
    """One diagnosis row. `n` is the 1-based row number; `info` the tabular item if one exists
    (even a non-billable category); `valid` only for a complete, billable code. `key`/`code`
    are the undotted and display spellings (empty when the text is not a code shape), `cat` the
    3-character category. A plain slotted class: the engine builds eight of these per keystroke.
    """

    __slots__ = (
        "cat",
        "code",
        "code_first",
        "ex1",
        "ex2",
        "flagged_principal",
        "info",
        "key",
        "n",
        "overridden",
        "spelling",
        "title",
        "valid",
    )

    def __init__(
        self, n: int, spelling: Spelling, info: CodeInfo | None, *, flagged_principal: bool, overridden: bool
    ) -> None:
        self.n = n
        self.spelling = spelling
        self.info = info
        self.valid = info is not None and info.billable
        self.flagged_principal = flagged_principal
        self.overridden = overridden
        self.key = spelling.key
        self.code = spelling.code
        self.cat = spelling.key[:3]
        self.title = info.description if info is not None else ""
        # Filled by the engine from per-code caches for valid rows (the hot paths read these).
        self.ex1: PairIndex = _EMPTY_INDEX
        self.ex2: PairIndex = _EMPTY_INDEX
        self.code_first: tuple[NoteGroup, ...] = ()

    def label(self) -> str:
        return f"{self.code} ({self.title})" if self.title else self.code


@dataclass(slots=True)
class ProcRow:
    n: int
    row: ProcedureRow
    code: str
    valid: bool
    overridden: bool


@dataclass(slots=True)
class Context:
    chart: ChartInput
    codes: CodeSet
    rows: list[Row]
    procedures: list[ProcRow]
    principal: Row | None
    shared: Shared
    mce: list[MceHit] = field(default_factory=list)
    drg: DrgResult | None = None
    comorbidity: ComorbidityResult | None = None
    # claim position (0-based, principal first) -> chart row / procedure row
    claim_rows: list[Row] = field(default_factory=list)
    claim_procs: list[ProcRow] = field(default_factory=list)
    # rows whose correction would change the MS-DRG, with a sentence saying how
    drg_changes: list[tuple[Row, str]] = field(default_factory=list)
    valid_rows: list[Row] = field(default_factory=list)
    # valid rows by 3-character category, in entry order
    valid_by_cat: dict[str, list[Row]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.valid_rows = [r for r in self.rows if r.valid]
        for row in self.valid_rows:
            self.valid_by_cat.setdefault(row.cat, []).append(row)

    @property
    def pcs_version(self) -> str:
        return self.shared.pcs_version

    @staticmethod
    def pcs_problem(proc: ProcRow) -> str | None:
        return pcs_problem(proc.code)

    def secondaries(self) -> list[Row]:
        return [r for r in self.rows if r.valid and r is not self.principal]

    def pair_index(self, row: Row, kind: NoteKind) -> dict[str, tuple[tuple[str, Note], ...]]:
        return self.shared.pair_index(row.info, kind) if row.info is not None else {}

    def note_groups(self, row: Row, kind: NoteKind) -> tuple[NoteGroup, ...]:
        """Groups of `kind` notes on the row's code and every ancestor that name some code."""
        return self.shared.note_groups(row.info, kind) if row.info is not None else ()
