"""The prepared view of one chart that every rule reads: rows looked up once, claim results once.

What does not depend on the chart (a typed text's reading, its tabular item, its notes indexed
by category) is cached per engine in `Shared`, so preparing a row is one dict lookup."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Final

from app.codesets.types import CodeInfo, CodeSet, ComorbidityResult, DrgResult, DxSeverity, MceHit, Note, NoteKind
from app.validation.model import ChartInput, ProcedureRow
from app.validation.syntax import Spelling, pcs_problem, read_icd10cm


@dataclass(frozen=True, slots=True)
class NoteGroup:
    """The notes of one kind that one source (code, category, block or chapter) puts on a code,
    indexed by the 3-character categories they can name, so a pair check is a dict lookup.

    One instruction often spans several lines ("code first ... such as:" then one line per
    condition); they share a source and are judged together. `requires_etiology` says whether
    the note asks for an etiology that must be on the chart (see `requires_etiology`);
    `examples` lists the conditions the notes name, for a message (see `examples`).
    """

    source: str
    notes: tuple[Note, ...]
    by_category: dict[str, tuple[Note, ...]]
    requires_etiology: bool = False
    examples: str = ""

    def naming(self, key: str) -> Note | None:
        for note in self.by_category.get(key[:3], ()):
            if note.names(key):
                return note
        return None


def requires_etiology(notes: tuple[Note, ...]) -> bool:
    """Whether a note group asks for an etiology that must be on the chart.

    "Code first the underlying condition, such as: …" (manifestations, I.A.13) requires one;
    a bare list ("code first: heart failure due to hypertension (I11.0); …") only says what
    goes first when present, and "if applicable" says so outright.
    """
    text = " ".join(n.text.lower() for n in notes)
    return "if applicable" not in text and ("such as" in text or "underlying" in text)


def examples(notes: tuple[Note, ...]) -> str:
    """The first four note lines that name codes, on one line each, and how many more."""
    named = [" ".join(n.text.split()) for n in notes if n.targets]
    more = f" and {len(named) - 4} more" if len(named) > 4 else ""
    return f"{'; '.join(named[:4])}{more}"


# Excludes2 notes on a chapter or block ("this chapter excludes: endocrine diseases (E00-E88)")
# mark classification boundaries, not a pair worth a coder's attention: R-EXC-02 reads only the
# notes on the code, its subcategories and its category. Excludes1 reads every level.
_PAIR_LEVELS = frozenset({"code", "subcategory", "category"})


PairIndex = dict[str, tuple[tuple[str, Note], ...]]
_EMPTY_INDEX: PairIndex = {}
# Distinct typed texts an engine remembers per cache before that cache starts afresh: what
# coders type is unbounded, so these caches are bounded; per-code caches are bounded by the
# code set itself.
SPELLING_CACHE_LIMIT: Final = 65_536
_ELSEWHERE = "in diseases classified elsewhere"
_UNCOMPLICATED = ("without complication", "uncomplicated")


class CodeFacts:
    """What the engine knows about one typed diagnosis text, whatever the chart: its reading
    (R-FMT-06), its tabular item and, for a billable code, the note indexes and title facts the
    rules read. Built once per text by `Shared.facts_for`, then only read: the cache is per
    engine, and an engine keeps one code set (one version) for its life.
    """

    __slots__ = (
        "cat",
        "code",
        "code_first",
        "elsewhere",
        "ex1",
        "ex2",
        "ex_cats",
        "info",
        "key",
        "label",
        "regular",
        "spelling",
        "title",
        "uncomplicated",
        "valid",
    )

    def __init__(
        self,
        spelling: Spelling,
        info: CodeInfo | None,
        notes: tuple[PairIndex, PairIndex, tuple[NoteGroup, ...]] | None,
    ) -> None:
        self.spelling = spelling
        self.info = info
        self.valid = info is not None and info.billable
        self.key = spelling.key
        self.code = spelling.code
        self.cat = spelling.key[:3]
        self.title = info.description if info is not None else ""
        self.label = f"{self.code} ({self.title})" if self.title else self.code
        # A billable code typed in its display spelling: no format rule has anything to say.
        self.regular = self.valid and not spelling.changes
        self.ex1, self.ex2, self.code_first = notes if notes is not None else (_EMPTY_INDEX, _EMPTY_INDEX, ())
        # Every category an Excludes1 or Excludes2 note of the code can name.
        self.ex_cats = frozenset(self.ex1.keys() | self.ex2.keys())
        title = self.title.lower()
        self.elsewhere = _ELSEWHERE in title
        self.uncomplicated = any(t in title for t in _UNCOMPLICATED)


@dataclass(slots=True)
class Shared:
    """Per-engine caches that outlive one chart: note groups by (code, kind), note indexes by
    code, and `CodeFacts` by typed text. All of them depend only on the engine's code set, so
    they live and die with the engine (a new code-set version means a new engine). The caches
    keyed by typed text hold at most `limit` entries and then start afresh; the others are
    bounded by the code set."""

    codes: CodeSet
    categories: list[str]
    pcs_version: str
    groups: dict[tuple[str, NoteKind], tuple[NoteGroup, ...]] = field(default_factory=dict)
    pairs: dict[tuple[str, NoteKind], dict[str, tuple[tuple[str, Note], ...]]] = field(default_factory=dict)
    facts: dict[str, tuple[PairIndex, PairIndex, tuple[NoteGroup, ...]]] = field(default_factory=dict)
    spellings: dict[str, CodeFacts] = field(default_factory=dict)
    limit: int = SPELLING_CACHE_LIMIT

    def categories_between(self, lo: str, hi: str) -> list[str]:
        return self.categories[bisect_left(self.categories, lo[:3]) : bisect_right(self.categories, hi[:3])]

    def note_groups(self, info: CodeInfo, kind: NoteKind) -> tuple[NoteGroup, ...]:
        cache_key = (info.key, kind)
        found = self.groups.get(cache_key)
        if found is None:
            found = self._build_groups(info, kind)
            self.groups[cache_key] = found
        return found

    def facts_for(self, raw: str) -> CodeFacts:
        """The `CodeFacts` of a typed diagnosis text: one dict lookup once the text was seen."""
        found = self.spellings.get(raw)
        if found is None:
            spelling = read_icd10cm(raw)
            info = self.codes.lookup(spelling.key) if spelling.key else None
            found = CodeFacts(spelling, info, self.code_notes(info) if info is not None and info.billable else None)
            if len(self.spellings) >= self.limit:
                self.spellings.clear()
            self.spellings[raw] = found
        return found

    def code_notes(self, info: CodeInfo) -> tuple[PairIndex, PairIndex, tuple[NoteGroup, ...]]:
        """A billable code's Excludes1 and Excludes2 pair indexes and its code-first groups."""
        found = self.facts.get(info.key)
        if found is None:
            found = (
                self.pair_index(info, NoteKind.EXCLUDES1),
                self.pair_index(info, NoteKind.EXCLUDES2),
                self.note_groups(info, NoteKind.CODE_FIRST),
            )
            self.facts[info.key] = found
        return found

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
                own = tuple(notes)
                by_category = {k: tuple(v) for k, v in index.items()}
                groups.append(NoteGroup(source, own, by_category, requires_etiology(own), examples(own)))
        return tuple(groups)


class Row:
    """One diagnosis row. `n` is the 1-based row number; `info` the tabular item if one exists
    (even a non-billable category); `valid` only for a complete, billable code. `key`/`code`
    are the undotted and display spellings (empty when the text is not a code shape), `cat` the
    3-character category. What does not depend on the chart comes from the text's cached
    `CodeFacts` (`facts`); the most read of it is copied into slots. A plain slotted class: the
    engine builds eight of these per keystroke.
    """

    __slots__ = ("cat", "code", "facts", "flagged_principal", "key", "n", "overridden", "valid")

    def __init__(self, n: int, facts: CodeFacts, flagged_principal: bool, overridden: bool) -> None:
        self.n = n
        self.facts = facts
        self.flagged_principal = flagged_principal
        self.overridden = overridden
        self.key = facts.key
        self.code = facts.code
        self.valid = facts.valid
        self.cat = facts.cat

    @property
    def spelling(self) -> Spelling:
        return self.facts.spelling

    @property
    def info(self) -> CodeInfo | None:
        return self.facts.info

    @property
    def title(self) -> str:
        return self.facts.title

    @property
    def ex1(self) -> PairIndex:
        """The code's Excludes1 notes by the categories they name (empty unless billable)."""
        return self.facts.ex1

    @property
    def ex2(self) -> PairIndex:
        return self.facts.ex2

    @property
    def code_first(self) -> tuple[NoteGroup, ...]:
        return self.facts.code_first

    def label(self) -> str:
        return self.facts.label


@dataclass(slots=True)
class ProcRow:
    n: int
    row: ProcedureRow
    code: str
    valid: bool
    overridden: bool


@dataclass(slots=True)
class Context:
    """One chart prepared for the rules. The engine fills the row lists in the one pass that
    builds the rows: `valid_rows` (billable codes, in entry order), `valid_by_cat` (the same by
    3-character category), `irregular` (rows a format rule may speak about: not billable, or
    respelt), `bad_pcs` (ICD-10-PCS rows that are not valid codes), `repeated` (rows whose code
    an earlier row already has), `code_first_rows` (valid rows with a code-first note) and
    `pair_rows` (valid rows with an Excludes1 or Excludes2 note naming a category on the chart).
    Each list keeps entry order; rules name them in `needs` (see `Rule`)."""

    chart: ChartInput
    codes: CodeSet
    rows: list[Row]
    procedures: list[ProcRow]
    principal: Row | None
    shared: Shared
    valid_rows: list[Row]
    valid_by_cat: dict[str, list[Row]]
    irregular: list[Row]
    bad_pcs: list[ProcRow]
    repeated: list[Row]
    code_first_rows: list[Row]
    pair_rows: list[Row]
    mce: list[MceHit] = field(default_factory=list)
    drg: DrgResult | None = None
    comorbidity: ComorbidityResult | None = None
    # claim position (0-based, principal first) -> chart row / procedure row
    claim_rows: list[Row] = field(default_factory=list)
    claim_procs: list[ProcRow] = field(default_factory=list)
    # rows whose correction would change the MS-DRG, with a sentence saying how
    drg_changes: list[tuple[Row, str]] = field(default_factory=list)
    # secondary claim rows the grouper rates CC or MCC (excluded or not), with its facts
    severity_rows: list[tuple[Row, DxSeverity]] = field(default_factory=list)

    @property
    def pcs_version(self) -> str:
        return self.shared.pcs_version

    @staticmethod
    def pcs_problem(proc: ProcRow) -> str | None:
        return pcs_problem(proc.code)

    def secondaries(self) -> list[Row]:
        return [r for r in self.valid_rows if r is not self.principal]
