"""Autocomplete over the ICD-10-PCS list: by code prefix, or by words of the description.

ICD-10-CM has its own index (`app.codesets.icd10cm_search`); the PCS list (`app.codesets.pcs`)
has only existence and descriptions, so this small index adds search for the coding page's
procedure rows. A code-like query ("0DT", "0dtj4") is a prefix match on the sorted code list
(bisection: microseconds). A query of words ("resection colon") keeps the codes whose
description contains every word as a word prefix: an inverted index from each description word
to the codes using it (ranked shortest description first, so the most general procedure leads),
a bisection into the sorted vocabulary per query word, and a set intersection (~1 ms).

Built on first use (under a second for the 78,638 codes) and read-only afterwards: safe to share.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left
from typing import Final

from app.codesets.pcs import PcsCodes, default_pcs
from app.codesets.types import SearchHit

_CODE_LIKE: Final = re.compile(r"^[0-9A-HJ-NP-Z]{1,7}$")
_WORD: Final = re.compile(r"[a-z0-9]+")


class PcsSearch:
    def __init__(self, codes: PcsCodes) -> None:
        self._pcs = codes
        self._lock = threading.Lock()
        self._codes: list[str] | None = None
        self._descriptions: dict[str, str] = {}
        self._ranked: list[str] = []  # codes, shortest description first
        self._vocabulary: list[str] = []  # sorted description words
        self._postings: list[frozenset[int]] = []  # per vocabulary word: ranks of the codes using it

    @property
    def version(self) -> str:
        return self._pcs.version

    def _ready(self) -> list[str]:
        codes = self._codes
        if codes is None:
            with self._lock:
                if self._codes is None:
                    table = dict(self._pcs.items())
                    ranked = sorted(table, key=lambda code: (len(table[code]), code))
                    postings: dict[str, set[int]] = {}
                    for rank, code in enumerate(ranked):
                        for word in set(_WORD.findall(table[code].lower())):
                            postings.setdefault(word, set()).add(rank)
                    self._descriptions, self._ranked = table, ranked
                    self._vocabulary = sorted(postings)
                    self._postings = [frozenset(postings[w]) for w in self._vocabulary]
                    self._codes = sorted(table)
                codes = self._codes
        return codes

    def search(self, query: str, limit: int = 20) -> list[SearchHit]:
        text = query.strip()
        if not text or limit <= 0:
            return []
        codes = self._ready()
        key = text.replace(".", "").replace(" ", "").upper()
        if _CODE_LIKE.match(key):
            found: list[SearchHit] = []
            for code in codes[bisect_left(codes, key) :]:
                if not code.startswith(key) or len(found) >= limit:
                    break
                found.append(SearchHit(code, self._descriptions[code], billable=True))
            if found or not any(ch.isalpha() for ch in key[1:]):
                return found
        words = _WORD.findall(text.lower())
        if not words:
            return []
        matches: set[int] | None = None
        for word in sorted(set(words), key=len, reverse=True):  # the longest word is the most selective
            ranks = self._ranks_for_prefix(word)
            matches = ranks if matches is None else matches & ranks
            if not matches:
                return []
        assert matches is not None  # noqa: S101 - `words` is not empty
        return [
            SearchHit(self._ranked[r], self._descriptions[self._ranked[r]], billable=True)
            for r in sorted(matches)[:limit]
        ]

    def _ranks_for_prefix(self, prefix: str) -> set[int]:
        vocabulary = self._vocabulary
        found: set[int] = set()
        for i in range(bisect_left(vocabulary, prefix), len(vocabulary)):
            if not vocabulary[i].startswith(prefix):
                break
            found |= self._postings[i]
        return found


_DEFAULT: PcsSearch | None = None
_DEFAULT_LOCK: Final = threading.Lock()


def default_pcs_search() -> PcsSearch:
    """The process-wide PCS index over `default_pcs()` (built on the first search)."""
    global _DEFAULT  # noqa: PLW0603 - one read-only index per process, built lazily
    if _DEFAULT is None:
        with _DEFAULT_LOCK:
            if _DEFAULT is None:
                _DEFAULT = PcsSearch(default_pcs())
    return _DEFAULT
