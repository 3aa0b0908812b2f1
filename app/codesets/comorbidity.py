"""Charlson and Elixhauser comorbidity of a chart: pycomorb's answers at dictionary speed.

pycomorb (PyPI, MIT) holds the published code mappings and weights, but it is polars-based: one
call costs milliseconds, and importing it (with pandas and polars) 0.5-1 s and ~110 MB. The validation
engine scores a chart on every keystroke, so this module asks pycomorb once per process, in one
batch, which categories each ICD-10-CM code falls in, and then scores charts in pure Python with
the same weights and the same hierarchy rules, read from pycomorb's own data:

* **Charlson**: implementation "quan" (Quan et al. 2005 ICD-10 coding algorithm) with weights
  "charlson" (the original Charlson 1987 weights: 1 for MI, CHF, ... 6 for metastatic tumour and
  AIDS), pycomorb's defaults. pycomorb also offers Quan's 2011 re-weighting ("quan"); R-COM-01 names
  the 2005 mapping, whose paper uses the original weights. Age points (pycomorb's "Age Score": 0
  below 50, then one per decade up to 4 from 80) are reported separately.
* **Elixhauser**: implementation "ahrq_icd10" (AHRQ Elixhauser Comorbidity Software Refined for
  ICD-10-CM, v2026.1, 38 measures) with pycomorb's only weight column for it, the AHRQ in-hospital
  mortality index (e.g. metastatic cancer 22, psychoses -9). pycomorb ships no readmission weights,
  so there is no readmission index. pycomorb ignores present-on-admission indicators, which the AHRQ
  software uses for some measures; so does this module.

The batch covers every code of the FY2026 tabular (read as a plain list from simple-icd-10-cm's data
file, not by importing that package, which costs 2.6 s) plus every prefix pycomorb's mappings use.
A key outside that batch is scored by uniting the categories of its stored prefixes, which is
exactly pycomorb's prefix matching. Building takes ~1.2 s and leaves pycomorb, polars and pandas
loaded (~250 MB), so the result (~5,400 keys, 100 kB) is cached as JSON under
`$SMARTCODERS_HOME/cache/`, keyed on the pycomorb version, the code list's SHA-256 and the
definition year (a new release of either rebuilds it); a cached load takes ~10 ms and ~1 MB.
pycomorb's Quan table also carries a placeholder "Age" category matched by the non-code prefix
"YYYY"; it is kept, because the point is to answer exactly as pycomorb does.

`tests/test_comorbidity.py` checks with hypothesis that every score, age point and category of the
fast path equals pycomorb's own `comorbidity()` on random multi-code charts.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import importlib
import importlib.util
import json
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Final, Literal

from app.codesets.types import ComorbidityResult

__all__ = [
    "DEFINITION_YEAR",
    "ComorbidityTables",
    "IndexTable",
    "PycomorbScorer",
    "build_tables",
    "charlson_age_points",
    "clean_key",
    "code_list_path",
    "default_comorbidity_scorer",
    "load_tables",
    "tabular_keys",
]

# Definition year for pycomorb's year-gated AHRQ mappings (a code counts from the year its mapping
# row was added): the FY2026 code set in use. Every row pycomorb 1.20261001 ships is 2025 or older.
DEFINITION_YEAR: Final = 2026
_CODE_LIST: Final = "data/code-list-April-2026.txt"
_CACHE_FORMAT: Final = 2  # 2: both indices scored over one batch of keys

# (pycomorb prefix, implementation, weight column) for the two indices.
_CHARLSON: Final = ("CHARLSON", "quan", "charlson_weights")
_ELIXHAUSER: Final = ("ELIXHAUSER", "ahrq_icd10", "ahrq_icd10_weights")

# pycomorb's Charlson age score: 0 below 50, 1 below 60, 2 below 70, 3 below 80, else 4.
_AGE_STEPS: Final = (50, 60, 70, 80)
# Categories of a key in neither index (most keys), and how many spellings a scorer remembers.
_NO_CATEGORIES: Final[tuple[tuple[int, ...], tuple[int, ...]]] = ((), ())
_MEMO_LIMIT: Final = 100_000


def charlson_age_points(age: int) -> int:
    return bisect.bisect_right(_AGE_STEPS, age)  # how many of the steps the age has reached


def clean_key(code: str) -> str:
    """pycomorb's own cleaning: drop dots, trim, upper-case (skipped for keys already clean)."""
    return code if code.isalnum() and code.isupper() else code.replace(".", "").strip().upper()


@dataclass(frozen=True, slots=True)
class IndexTable:
    """One index: category names, their weights, and the (severe, mild) suppression rules in order.

    pycomorb applies the rules one after another on the current presence, so the order is kept.
    """

    categories: tuple[str, ...]
    weights: tuple[int, ...]
    rules: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class ComorbidityTables:
    """Everything `PycomorbScorer` needs: the two indices and key -> (Charlson, Elixhauser) categories.

    `codes` holds only keys with at least one category. `source` says whether the tables were
    built by running pycomorb or read from the disk cache.
    """

    charlson: IndexTable
    elixhauser: IndexTable
    codes: Mapping[str, tuple[tuple[int, ...], tuple[int, ...]]]
    source: Literal["built", "cache"]

    def categories_of(self, key: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
        found = self.codes.get(key)
        if found is not None or len(key) < 2:
            return found or ((), ())
        # Not a tabular code: unite its stored prefixes, which is what pycomorb's matching does.
        charlson: set[int] = set()
        elixhauser: set[int] = set()
        for end in range(1, len(key)):
            hit = self.codes.get(key[:end])
            if hit is not None:
                charlson.update(hit[0])
                elixhauser.update(hit[1])
        return tuple(sorted(charlson)), tuple(sorted(elixhauser))


def code_list_path() -> Path:
    """simple-icd-10-cm's plain list of every tabular item, found without importing the package."""
    spec = importlib.util.find_spec("simple_icd_10_cm")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("simple-icd-10-cm is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / _CODE_LIST


def tabular_keys(path: Path) -> list[str]:
    """Every code-like item of the list (categories, subcategories, codes); blocks and chapters dropped."""
    return [line for line in path.read_text().split() if line[0].isalpha() and "-" not in line]


def _cache_identity(code_list: Path, year: int) -> dict[str, Any]:
    return {
        "format": _CACHE_FORMAT,
        "pycomorb": metadata.version("pycomorb"),
        "code_list_sha256": hashlib.sha256(code_list.read_bytes()).hexdigest(),
        "year": year,
        "charlson": list(_CHARLSON),
        "elixhauser": list(_ELIXHAUSER),
    }


def build_tables(code_list: Path, year: int = DEFINITION_YEAR) -> ComorbidityTables:
    """Run pycomorb once over every tabular key and every mapping prefix (imports pycomorb, ~1.2 s)."""
    import polars as pl
    from pycomorb.CustomComorbidityIndex import (  # type: ignore[import-untyped]  # pycomorb ships no type information
        CustomComorbidityIndex,
        weighted_definitions,
    )

    indices: list[tuple[Any, Any, str]] = []  # (definitions frame, suppression rules, weight column)
    for prefix, implementation, weight_col in (_CHARLSON, _ELIXHAUSER):
        module = importlib.import_module(f"pycomorb.{prefix.title()}ComorbidityIndex")
        definitions, rules = weighted_definitions(
            prefix, module.DEFINITION_FILES[implementation], implementation, module.CANONICAL_RULES
        )
        if "and_group" in definitions.columns and definitions["and_group"].drop_nulls().len():
            # A category needing two codes at once cannot be read off one code at a time.
            raise NotImplementedError(f"pycomorb {implementation} uses and_group definitions")
        indices.append((definitions, rules, weight_col))
    # One batch for both indices: every tabular key and every prefix either index maps. A key in
    # `codes` is answered from its own entry, so a prefix of one index (F051, Charlson dementia)
    # must also carry what the other index gives it (F05*, Elixhauser other neurological).
    prefixes = {p.strip() for d, _, _ in indices for row in d["icd10_codes"].drop_nulls() for p in row.split("|")}
    batch = sorted(set(tabular_keys(code_list)) | prefixes)
    frame = pl.DataFrame({"id": range(len(batch)), "code": batch, "year": [year] * len(batch)})
    tables: list[IndexTable] = []
    per_index: list[dict[str, tuple[int, ...]]] = []
    for definitions, rules, weight_col in indices:
        # The same call pycomorb's Charlson/Elixhauser wrappers make, minus the suppression rules:
        # those are applied per chart, in pycomorb's order, by PycomorbScorer.
        present = CustomComorbidityIndex(
            df=frame,
            id_col="id",
            code_col="code",
            icd_version="icd10",
            definition_data=definitions,
            weight_col_name=weight_col,
            score_col_name="score",
            mutual_exclusion_rules=None,
            year_col="year" if "year" in definitions.columns else None,
            return_categories=True,
        ).sort("id")
        categories = tuple(dict.fromkeys(c for c in definitions["category"] if c is not None))
        weights = {c: w for c, w in zip(definitions["category"], definitions[weight_col], strict=True) if w is not None}
        tables.append(
            IndexTable(
                categories=categories,
                weights=tuple(int(weights.get(c, 0)) for c in categories),
                rules=tuple((categories.index(s), categories.index(m)) for s, m in rules),
            )
        )
        columns = [present[c].to_list() for c in categories]
        per_index.append(
            {
                code: hits
                for n, code in enumerate(batch)
                if (hits := tuple(i for i, column in enumerate(columns) if column[n]))
            }
        )
    charlson_codes, elixhauser_codes = per_index
    codes = {
        key: (charlson_codes.get(key, ()), elixhauser_codes.get(key, ()))
        for key in sorted(charlson_codes.keys() | elixhauser_codes.keys())
    }
    return ComorbidityTables(tables[0], tables[1], codes, "built")


def _write_cache(path: Path, identity: Mapping[str, Any], tables: ComorbidityTables) -> None:
    payload = {
        "identity": identity,
        "charlson": _index_json(tables.charlson),
        "elixhauser": _index_json(tables.elixhauser),
        "codes": {k: [list(c), list(e)] for k, (c, e) in tables.codes.items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(payload, separators=(",", ":")))
    tmp.replace(path)  # atomic: a concurrent reader sees the old file or the new one


def _index_json(index: IndexTable) -> dict[str, Any]:
    return {
        "categories": list(index.categories),
        "weights": list(index.weights),
        "rules": [list(r) for r in index.rules],
    }


def _index_from(raw: Mapping[str, Any]) -> IndexTable:
    return IndexTable(
        categories=tuple(raw["categories"]),
        weights=tuple(int(w) for w in raw["weights"]),
        rules=tuple((int(s), int(m)) for s, m in raw["rules"]),
    )


def _read_cache(path: Path, identity: Mapping[str, Any]) -> ComorbidityTables | None:
    try:
        raw = json.loads(path.read_text())
        if raw["identity"] != identity:
            return None
        codes = {k: (tuple(c), tuple(e)) for k, (c, e) in raw["codes"].items()}
        return ComorbidityTables(_index_from(raw["charlson"]), _index_from(raw["elixhauser"]), codes, "cache")
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing, unreadable or from another layout: rebuild


def load_tables(
    cache_dir: Path | None, *, code_list: Path | None = None, year: int = DEFINITION_YEAR
) -> ComorbidityTables:
    """The tables from `cache_dir` when they match this pycomorb, code list and year; else built (and cached)."""
    code_list = code_list or code_list_path()
    if cache_dir is None:
        return build_tables(code_list, year)
    identity = _cache_identity(code_list, year)
    path = cache_dir / f"comorbidity-{hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]}.json"
    cached = _read_cache(path, identity)
    if cached is not None:
        return cached
    tables = build_tables(code_list, year)
    with contextlib.suppress(OSError):  # a read-only home only costs the rebuild next time
        _write_cache(path, identity, tables)
    return tables


class PycomorbScorer:
    """`ComorbidityScorer` over precomputed pycomorb tables; safe to share between threads.

    The tables load on the first `score()` (or `warm()`): from `cache_dir` in ~10 ms when present,
    else by running pycomorb (~1.2 s) and writing the cache. `cache_dir=None` never touches the
    disk. `tables` supplies ready tables instead (tests use a small hand-made set). Each key
    spelling's categories are remembered after its first chart (at most `memo_limit` spellings,
    then the memo starts afresh), so scoring a chart is a dict lookup per code.
    """

    def __init__(
        self,
        *,
        cache_dir: Path | None = None,
        code_list: Path | None = None,
        year: int = DEFINITION_YEAR,
        tables: ComorbidityTables | None = None,
        memo_limit: int = _MEMO_LIMIT,
    ) -> None:
        self._cache_dir = cache_dir
        self._code_list = code_list
        self._year = year
        self._tables = tables
        self._lock = threading.Lock()
        # spelling -> categories; fixed for the life of the tables (a scorer never swaps them).
        self._memo: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self._memo_limit = memo_limit

    def warm(self) -> ComorbidityTables:
        if self._tables is None:
            with self._lock:
                if self._tables is None:
                    self._tables = load_tables(self._cache_dir, code_list=self._code_list, year=self._year)
        return self._tables

    def score(self, keys: Sequence[str], *, age: int) -> ComorbidityResult:
        """Both indices for one chart; `keys` in any spelling (dots and case are normalised)."""
        tables = self.warm()
        memo = self._memo
        charlson: dict[int, list[int]] = {}
        elixhauser: dict[int, list[int]] = {}
        for row, raw in enumerate(keys):
            found = memo.get(raw)
            if found is None:
                found = self._categories(tables, raw)
            if found is _NO_CATEGORIES:  # most codes: no category in either index
                continue
            in_charlson, in_elixhauser = found
            for category in in_charlson:
                charlson.setdefault(category, []).append(row)
            for category in in_elixhauser:
                elixhauser.setdefault(category, []).append(row)
        return ComorbidityResult(
            charlson_index=_apply(tables.charlson, charlson),
            charlson_rows=_named(tables.charlson, charlson),
            elixhauser_mortality=_apply(tables.elixhauser, elixhauser),
            elixhauser_rows=_named(tables.elixhauser, elixhauser),
            charlson_age_points=charlson_age_points(age),
        )

    def _categories(self, tables: ComorbidityTables, raw: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """`tables.categories_of` the cleaned key, remembered per spelling (bounded: keys come from
        users, so the memo starts afresh past `memo_limit` entries rather than grow without end)."""
        key = clean_key(raw)
        found = tables.categories_of(key) if key else _NO_CATEGORIES
        if found == _NO_CATEGORIES:
            found = _NO_CATEGORIES  # one shared object, so `score` can skip it by identity
        if len(self._memo) >= self._memo_limit:
            self._memo.clear()
        self._memo[raw] = found
        return found


def _apply(index: IndexTable, present: dict[int, list[int]]) -> int:
    """Suppress milder categories (in pycomorb's rule order, on the current presence) and sum weights."""
    if not present:
        return 0
    for severe, mild in index.rules:
        if severe in present:
            present.pop(mild, None)
    return sum(index.weights[c] for c in present)


def _named(index: IndexTable, present: Mapping[int, Iterable[int]]) -> dict[str, tuple[int, ...]]:
    return {index.categories[c]: tuple(rows) for c, rows in sorted(present.items())}


_default: PycomorbScorer | None = None
_default_lock = threading.Lock()


def default_comorbidity_scorer() -> PycomorbScorer:
    """The process-wide scorer, caching its tables under `$SMARTCODERS_HOME/cache/`."""
    global _default  # noqa: PLW0603  # one set of tables per process, created lazily and never replaced
    if _default is None:
        with _default_lock:
            if _default is None:
                from app.settings import get_settings

                _default = PycomorbScorer(cache_dir=get_settings().smartcoders_home / "cache")
    return _default
