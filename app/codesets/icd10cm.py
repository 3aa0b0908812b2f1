"""The ICD-10-CM code set (`CodeSet`): lookup, notes at every level, 7th characters and search.

Data comes from `simple-icd-10-cm` (CDC tabular, FY2026 April-1-2026 release), compiled once and
cached on disk by `app.codesets.icd10cm_build`; a warm start reads the cache in a fraction of a
second. `CodeInfo` objects are made on first lookup of each item and kept, so the engine's hot
path — `lookup(key)` with an undotted upper-case key — is one dict get.

Every item of the tabular is an item here: chapters ("4"), blocks ("E08-E13"; "B99-B99" for a
block holding the single category B99), categories ("E11"), subcategories ("E11.6") and codes
("E11.65", "S72.001A"). Billable means a leaf below block level: `is_valid_item("E11")` is true in
`simple_icd_10_cm` for a category, but a category is billable only when it has no children (I10).
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Final, NamedTuple

from app.codesets.icd10cm_build import BLOCK, CATEGORY, CHAPTER, Compiled, NoteRow, display_code, load_or_build
from app.codesets.icd10cm_search import SearchIndex
from app.codesets.types import CodeInfo, CodeMatcher, ItemKind, Note, NoteKind, SearchHit

_NO_SEVENTH: Final[Mapping[str, str]] = MappingProxyType({})


def normalise(code: str) -> str:
    """Any spelling of a code to its key: " e11.9 " -> "E119"."""
    return code.strip().replace(".", "").upper()


class Icd10cmCodeSet:
    """One loaded ICD-10-CM release; immutable after construction and safe to share across threads.

    Use `default_codeset()` in application code, `Icd10cmCodeSet.load(cache_dir)` in tests and tools.
    """

    def __init__(self, compiled: Compiled, *, source: str = "memory") -> None:
        self._c = compiled
        self.source = source  # "cache" or "built": how this instance was loaded (for logs and benches)
        self._parents = array("i")
        self._parents.frombytes(compiled.parents)
        self._seventh_of = array("i")
        self._seventh_of.frombytes(compiled.seventh_of)
        self._index: dict[str, int] = {key: i for i, key in enumerate(compiled.keys)}
        self._billable_keys: tuple[str, ...] = tuple(
            k for k, b in zip(compiled.keys, compiled.billable, strict=True) if b
        )
        self._billable: frozenset[str] = frozenset(self._billable_keys)
        self._own_notes: dict[int, tuple[int, ...]] = dict(compiled.note_refs)
        self._sevenths: tuple[Mapping[str, str], ...] = tuple(MappingProxyType(dict(s)) for s in compiled.sevenths)
        self._notes: list[Note | None] = [None] * len(compiled.notes)
        self._info: dict[str, CodeInfo] = {}
        self._lock = threading.Lock()  # one search index build; the other lazy caches tolerate races
        self._categories: list[str] | None = None
        self._search: SearchIndex | None = None

    @classmethod
    def load(cls, cache_dir: Path | None = None) -> Icd10cmCodeSet:
        """From the disk cache (`cache_dir`, default ``$SMARTCODERS_HOME/cache``), building it if needed."""
        compiled, source = load_or_build(cache_dir)
        return cls(compiled, source=source)

    @property
    def compiled(self) -> Compiled:
        """The flat columns this instance reads (for exports and tests)."""
        return self._c

    # -- CodeSet -------------------------------------------------------------------------------

    @property
    def version(self) -> str:
        return self._c.release

    def lookup(self, code: str) -> CodeInfo | None:
        info = self._info.get(code)
        if info is not None:
            return info
        key = normalise(code)
        info = self._info.get(key)
        if info is not None:
            return info
        index = self._index.get(key)
        return None if index is None else self._make(index)

    def search(self, query: str, limit: int = 20) -> list[SearchHit]:
        return [
            SearchHit(
                code=display_code(self._c.keys[i], self._c.kinds[i]),
                description=self._c.descriptions[i],
                billable=bool(self._c.billable[i]),
            )
            for i in self.search_index().search(query, limit)
        ]

    # -- helpers for the validation engine -------------------------------------------------------

    def is_billable(self, key: str) -> bool:
        """True for a reportable code; `key` undotted upper case (use `lookup` for other spellings)."""
        return key in self._billable

    def all_billable_keys(self) -> tuple[str, ...]:
        """Every billable key, in tabular order (74,719 in the FY2026 April release)."""
        return self._billable_keys

    def exists(self, key: str) -> bool:
        return key in self._index

    def chapter_of(self, key: str) -> str | None:
        """The chapter number ("4") of any item key, or None for an unknown key."""
        index = self._index.get(key)
        if index is None:
            return None
        while self._parents[index] >= 0:
            index = self._parents[index]
        return self._c.keys[index]

    def category_keys_between(self, lo: str, hi: str) -> list[str]:
        """Category keys in the block-style range lo..hi inclusive ("E08", "E13" -> E08 … E13)."""
        categories = self._category_keys()
        return categories[bisect_left(categories, lo[:3]) : bisect_right(categories, hi[:3])]

    def keys_matching(self, matcher: CodeMatcher) -> list[str]:
        """Every billable key a note target names (for reports and tests; the engine calls `matches`)."""
        return [k for k in self._billable_keys if matcher.matches(k)]

    def records(self) -> Iterator[ItemRecord]:
        """Every item in tabular order with its own notes and 7th characters, without making
        `CodeInfo` objects (bulk export to `code_reference`)."""
        c = self._c
        chapter = [-1] * len(c.keys)
        block = [-1] * len(c.keys)
        for i in self._parents_first():
            parent = self._parents[i]
            kind = c.kinds[i]
            chapter[i] = i if kind == CHAPTER else chapter[parent]
            block[i] = i if kind == BLOCK else (block[parent] if kind > BLOCK else -1)
        for i, key in enumerate(c.keys):
            parent = self._parents[i]
            seventh_id = self._seventh_of[i]
            yield ItemRecord(
                key=key,
                code=display_code(key, c.kinds[i]),
                description=c.descriptions[i],
                kind=_KIND_NAMES[c.kinds[i]],
                billable=bool(c.billable[i]),
                parent=c.keys[parent] if parent >= 0 else None,
                chapter=c.keys[chapter[i]],
                block=c.keys[block[i]] if block[i] >= 0 else None,
                notes=tuple(self._note(n) for n in self._own_notes.get(i, ())),
                seventh=self._sevenths[seventh_id] if seventh_id >= 0 else _NO_SEVENTH,
            )

    def search_index(self) -> SearchIndex:
        """The autocomplete index, built on first use (about 0.5 s) so that loading stays fast."""
        index = self._search
        if index is None:
            with self._lock:
                if self._search is None:
                    self._search = SearchIndex(
                        self._c.keys, self._c.descriptions, self._c.kinds, self._c.billable, self._parents
                    )
                index = self._search
        return index

    def __len__(self) -> int:
        return len(self._c.keys)

    # -- internals -------------------------------------------------------------------------------

    def _parents_first(self) -> list[int]:
        """Item numbers ordered so that every parent precedes its children (blocks were re-parented
        under header blocks, which the XML does not always list first)."""
        depth = [0] * len(self._c.keys)
        for i in range(len(depth)):
            j = i
            while self._parents[j] >= 0:
                j = self._parents[j]
                depth[i] += 1
        return sorted(range(len(depth)), key=depth.__getitem__)

    def _category_keys(self) -> list[str]:
        if self._categories is None:
            self._categories = sorted(
                k for k, kind in zip(self._c.keys, self._c.kinds, strict=True) if kind == CATEGORY
            )
        return self._categories

    def _note(self, note_id: int) -> Note:
        note = self._notes[note_id]
        if note is None:
            note = _note_from_row(self._c.notes[note_id])
            self._notes[note_id] = note
        return note

    def _make(self, index: int) -> CodeInfo:
        """Build (once) the CodeInfo of item `index` and of its ancestors, which it reuses."""
        c = self._c
        key = c.keys[index]
        cached = self._info.get(key)
        if cached is not None:
            return cached
        parent_index = self._parents[index]
        parent = self._make(parent_index) if parent_index >= 0 else None
        kind = c.kinds[index]
        own = tuple(self._note(n) for n in self._own_notes.get(index, ()))
        inherited = parent.notes_with_ancestors if parent is not None else ()
        seventh_id = self._seventh_of[index]
        if seventh_id >= 0:
            seventh = self._sevenths[seventh_id]
        else:
            seventh = parent.seventh if parent is not None and kind > BLOCK else _NO_SEVENTH
        code = display_code(key, kind)
        info = CodeInfo(
            code=code,
            key=key,
            description=c.descriptions[index],
            kind=_KIND_NAMES[kind],
            billable=bool(c.billable[index]),
            parent=parent.code if parent is not None else None,
            category=key[:3] if kind >= CATEGORY else None,
            block=code if kind == BLOCK else (parent.block if parent is not None and kind > BLOCK else None),
            chapter=code if kind == CHAPTER else (parent.chapter if parent is not None else None),
            lineage=(parent.code, *parent.lineage) if parent is not None else (),
            seventh=seventh,
            notes=own,
            notes_with_ancestors=own + inherited if own else inherited,
        )
        # Publishing into a dict is atomic; two threads racing here build equal objects.
        self._info[key] = info
        return info


class ItemRecord(NamedTuple):
    """One tabular item as flat data: keys for `parent`, `chapter` and `block`; own notes only."""

    key: str
    code: str
    description: str
    kind: ItemKind
    billable: bool
    parent: str | None
    chapter: str
    block: str | None
    notes: tuple[Note, ...]
    seventh: Mapping[str, str]


_KIND_NAMES: Final[tuple[ItemKind, ...]] = ("chapter", "block", "category", "subcategory", "code")


def _note_from_row(row: NoteRow) -> Note:
    kind, text, source, targets, unparsed = row
    return Note(
        kind=NoteKind(kind),
        text=text,
        source=source,
        targets=tuple(CodeMatcher(lo, hi, None if pos < 0 else pos, chars) for lo, hi, pos, chars in targets),
        unparsed=unparsed,
    )


_default: list[Icd10cmCodeSet] = []
_default_lock = threading.Lock()


def default_codeset(cache_dir: Path | None = None) -> Icd10cmCodeSet:
    """The process-wide code set, loaded on first call (other threads wait for that one load).

    `cache_dir` matters only on the first call; later calls return the same instance.
    """
    if _default:
        return _default[0]
    with _default_lock:
        if not _default:
            _default.append(Icd10cmCodeSet.load(cache_dir))
        return _default[0]
