"""Autocomplete over the ICD-10-CM tabular: code prefixes and words of the titles.

Results come in this order, each group sorted as stated:

1. the exact code typed ("E11" for "e11");
2. billable codes whose key starts with the typed code, shorter first, then alphabetically;
3. billable codes whose title has, for every typed word, a word starting with it — titles where
   every typed word is a whole word first, then shorter titles ("closer" matches), then by key;
4. and 5. the same two lists for non-billable items (categories and subcategories).

Chapters and blocks are not offered: a coder picks codes. Rank numbers are assigned once so that
sorting a candidate set is sorting small integers; postings are `array('I')` to keep the index to
a few megabytes, and the union of postings for a typed prefix is cached (people type "fra",
"frac", "fract" in a row).
"""

from __future__ import annotations

import heapq
import re
import threading
from array import array
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Final, Protocol

from app.codesets.icd10cm_build import CATEGORY

_WORD: Final = re.compile(r"[a-z0-9]+")
_CODE_PREFIX: Final = re.compile(r"[A-Z](?:[0-9][0-9A-Z]{0,5})?")
_MAX_LENGTH: Final = 7
_PREFIX_CACHE: Final = 128


def words_of(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class SearchIndex:
    """Built from the compiled columns in about half a second; read-only and thread-safe afterwards."""

    def __init__(
        self, keys: Sequence[str], descriptions: Sequence[str], kinds: bytes, billable: bytes, parents: Sequence[int]
    ) -> None:
        items = [i for i, kind in enumerate(kinds) if kind >= CATEGORY]
        self._is_item: dict[str, int] = {keys[i]: i for i in items}
        # Code prefixes: per (billable, key length) a sorted list of keys and their item numbers.
        self._by_length: dict[tuple[bool, int], tuple[list[str], list[int]]] = {}
        for billable_flag in (True, False):
            for length in range(3, _MAX_LENGTH + 1):
                pairs = sorted(
                    (keys[i], i) for i in items if bool(billable[i]) is billable_flag and len(keys[i]) == length
                )
                self._by_length[(billable_flag, length)] = ([k for k, _ in pairs], [i for _, i in pairs])

        # Words: rank = position in (non-billable last, shorter title first, key) order. A 7-character
        # code is ranked by its parent's title so that "…, initial encounter" (A) precedes "…, sequela".
        def title_length(i: int) -> int:
            return len(descriptions[parents[i] if len(keys[i]) == _MAX_LENGTH else i])

        ranked = sorted(items, key=lambda i: (not billable[i], title_length(i), keys[i]))
        self._item_of_rank = array("I", ranked)
        self._billable_ranks = sum(1 for i in ranked if billable[i])
        postings: dict[str, list[int]] = {}
        for rank, i in enumerate(ranked):
            for word in set(words_of(descriptions[i])):
                postings.setdefault(word, []).append(rank)
        self._postings: dict[str, array[int]] = {w: array("I", r) for w, r in postings.items()}
        self._vocabulary: list[str] = sorted(postings)
        self._cache: OrderedDict[str, frozenset[int]] = OrderedDict()
        self._cache_lock = threading.Lock()

    def search(self, query: str, limit: int = 20) -> list[int]:
        """Item numbers of the best `limit` matches for `query`, best first."""
        if limit <= 0:
            return []
        key = query.strip().replace(".", "").replace(" ", "").upper()
        code_like = _CODE_PREFIX.fullmatch(key) is not None
        words = list(dict.fromkeys(words_of(query)))
        out: list[int] = []
        seen: set[int] = set()

        def take(found: Iterator[int]) -> bool:
            for item in found:
                if item not in seen:
                    seen.add(item)
                    out.append(item)
                    if len(out) >= limit:
                        return True
            return False

        exact = self._is_item.get(key) if code_like else None
        if exact is not None and take(iter((exact,))):
            return out
        if code_like and take(self._prefixed(key, billable=True)):
            return out
        word_hits = self._word_matches(words) if words else None
        if word_hits is not None and take(word_hits.billable(limit)):
            return out
        if code_like and take(self._prefixed(key, billable=False)):
            return out
        if word_hits is not None:
            take(word_hits.others(limit))
        return out

    def _prefixed(self, prefix: str, *, billable: bool) -> Iterator[int]:
        for length in range(max(3, len(prefix)), _MAX_LENGTH + 1):
            keys, items = self._by_length[(billable, length)]
            start = bisect_left(keys, prefix)
            stop = bisect_left(keys, prefix + "~", start)  # "~" sorts after every key character
            yield from items[start:stop]

    def _word_matches(self, words: list[str]) -> _Hits | None:
        if len(words) == 1:
            return self._one_word(words[0])
        sets = [self._prefix_set(w) for w in words]
        if not all(sets):
            return None
        sets.sort(key=len)
        candidates = set(sets[0]).intersection(*sets[1:]) if len(sets) > 1 else set(sets[0])
        whole: set[int] = set()
        if candidates and all(w in self._postings for w in words):
            whole = candidates.intersection(*(self._postings[w] for w in words))
        return _WordHits(candidates, whole, self._billable_ranks, self._item_of_rank)

    def _one_word(self, prefix: str) -> _Hits | None:
        """One typed word: merge the sorted postings lazily instead of building their union."""
        start = bisect_left(self._vocabulary, prefix)
        stop = bisect_left(self._vocabulary, prefix + "\x7f", start)
        if start == stop:
            return None
        whole = self._postings.get(prefix, array("I"))
        rest = [self._postings[w] for w in self._vocabulary[start:stop] if w != prefix]
        return _OneWordHits(whole, rest, self._billable_ranks, self._item_of_rank)

    def _prefix_set(self, prefix: str) -> frozenset[int]:
        with self._cache_lock:
            cached = self._cache.get(prefix)
            if cached is not None:
                self._cache.move_to_end(prefix)
                return cached
        start = bisect_left(self._vocabulary, prefix)
        stop = bisect_left(self._vocabulary, prefix + "\x7f", start)
        union: set[int] = set()
        for word in self._vocabulary[start:stop]:
            union.update(self._postings[word])
        found = frozenset(union)
        with self._cache_lock:
            self._cache[prefix] = found
            if len(self._cache) > _PREFIX_CACHE:
                self._cache.popitem(last=False)
        return found


class _Hits(Protocol):
    def billable(self, limit: int) -> Iterator[int]: ...

    def others(self, limit: int) -> Iterator[int]: ...


class _WordHits:
    """Candidate ranks of a word query, split into billable and other, whole-word matches first."""

    def __init__(self, candidates: set[int], whole: set[int], billable_ranks: int, item_of_rank: array[int]) -> None:
        self._candidates = candidates
        self._whole = whole
        self._cut = billable_ranks  # ranks below this are billable codes
        self._item_of_rank = item_of_rank

    def billable(self, limit: int) -> Iterator[int]:
        return self._ordered(limit, billable=True)

    def others(self, limit: int) -> Iterator[int]:
        return self._ordered(limit, billable=False)

    def _ordered(self, limit: int, *, billable: bool) -> Iterator[int]:
        cut = self._cut
        first = heapq.nsmallest(limit, (r for r in self._whole if (r < cut) is billable))
        yield from (self._item_of_rank[r] for r in first)
        rest = heapq.nsmallest(limit, (r for r in self._candidates if (r < cut) is billable and r not in self._whole))
        yield from (self._item_of_rank[r] for r in rest)


class _OneWordHits:
    """Ranks of a one-word query read in order from sorted postings: whole word first, then prefixes."""

    def __init__(
        self, whole: array[int], rest: list[array[int]], billable_ranks: int, item_of_rank: array[int]
    ) -> None:
        self._whole = whole
        self._rest = rest
        self._cut = billable_ranks
        self._item_of_rank = item_of_rank

    def billable(self, limit: int) -> Iterator[int]:
        return self._ordered(billable=True)

    def others(self, limit: int) -> Iterator[int]:
        return self._ordered(billable=False)

    def _ordered(self, *, billable: bool) -> Iterator[int]:
        # The caller stops after `limit` distinct items, so only the first few ranks are ever read.
        # Postings are sorted: billable ranks (below the cut) come first in each of them.
        cut = self._cut

        def part(postings: array[int]) -> memoryview:
            split = bisect_left(postings, cut)
            view = memoryview(postings)
            return view[:split] if billable else view[split:]

        yield from (self._item_of_rank[r] for r in part(self._whole))
        if self._rest:
            yield from (self._item_of_rank[r] for r in heapq.merge(*(part(p) for p in self._rest)))
