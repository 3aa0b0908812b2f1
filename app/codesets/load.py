"""Load the code sets into `code_reference`, once per code-set version.

`code_reference` keeps, per version, every ICD-10-CM item (chapters, blocks, categories,
subcategories, codes: about 98,500 rows) and every ICD-10-PCS code of the shipped list (78,638),
so reports and SQL can join on codes without loading the tabular in Python. `code` and
`parent_code` hold undotted keys ("E119"; chapters "4", blocks "E08-E13"), as everywhere in the
engine. `notes` is a JSON object with the item's own notes, parsed —
``{"notes": [{"kind", "text", "source", "targets": [{"lo", "hi", "position", "chars"}],
"unparsed"}], "seventh": {"A": "initial encounter", …}}`` — each key present only when non-empty;
notes of ancestors are on the ancestors' rows.

Loading is idempotent per version: a version already present is skipped, `force=True` replaces
it. Each version loads in its own owner transaction under an advisory lock, so `migrate` and
`serve` starting together load it once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from app.codesets.icd10cm import Icd10cmCodeSet, default_codeset
from app.codesets.pcs import PcsCodes, default_pcs
from app.codesets.types import Note
from app.logs import get_logger
from datalayer.queries import code_reference
from datalayer.queries.code_reference import CodeReferenceRow

log = get_logger(__name__)

CM_SYSTEM = "ICD-10-CM"
PCS_SYSTEM = "ICD-10-PCS"


@dataclass(frozen=True, slots=True)
class VersionLoad:
    version: str
    system: str
    rows: int
    loaded: bool  # False: the version was already present and left alone
    seconds: float


@dataclass(frozen=True, slots=True)
class LoadResult:
    versions: tuple[VersionLoad, ...]

    @property
    def loaded_any(self) -> bool:
        return any(v.loaded for v in self.versions)

    def summary(self) -> str:
        """One line per version, e.g. "ICD-10-CM FY2026 (2026-04-01): loaded 98,505 rows in 1.9 s"."""
        return "\n".join(
            f"{v.version}: loaded {v.rows:,} rows in {v.seconds:.1f} s"
            if v.loaded
            else f"{v.version}: already present ({v.rows:,} rows)"
            for v in self.versions
        )


def load_code_reference(
    owner_url: str,
    *,
    force: bool = False,
    codeset: Icd10cmCodeSet | None = None,
    pcs: PcsCodes | None = None,
    cache_dir: Path | None = None,
) -> LoadResult:
    """Load ICD-10-CM and ICD-10-PCS into `code_reference` as the schema owner.

    `codeset`/`pcs` default to the process-wide instances (`cache_dir` is where the ICD-10-CM
    cache lives if it still has to be loaded). Raises `MigrationError` on a database error.
    """
    cm = codeset if codeset is not None else default_codeset(cache_dir)
    procedures = pcs if pcs is not None else default_pcs()
    results = (
        _load_version(owner_url, cm.version, CM_SYSTEM, lambda: cm_rows(cm), force=force),
        _load_version(owner_url, procedures.version, PCS_SYSTEM, lambda: pcs_rows(procedures), force=force),
    )
    for r in results:
        if r.loaded:
            log.info("code_reference_loaded", version=r.version, rows=r.rows, seconds=round(r.seconds, 2))
    return LoadResult(results)


def _load_version(
    owner_url: str, version: str, system: str, rows: Callable[[], Iterable[CodeReferenceRow]], *, force: bool
) -> VersionLoad:
    started = time.perf_counter()
    with code_reference.owner_transaction(owner_url) as tx:
        code_reference.lock_version(tx, version)
        present = code_reference.owner_count(tx, version=version)
        if present and not force:
            return VersionLoad(version, system, present, loaded=False, seconds=time.perf_counter() - started)
        if present:
            code_reference.delete_version(tx, version=version)
        written = code_reference.copy_rows(tx, rows())
    return VersionLoad(version, system, written, loaded=True, seconds=time.perf_counter() - started)


def cm_rows(codeset: Icd10cmCodeSet) -> Iterator[CodeReferenceRow]:
    version = codeset.version
    for item in codeset.records():
        payload: dict[str, Any] = {}
        if item.notes:
            payload["notes"] = [note_json(n) for n in item.notes]
        if item.seventh:
            payload["seventh"] = dict(item.seventh)
        yield CodeReferenceRow(
            code_set_version=version,
            code=item.key,
            code_system=CM_SYSTEM,
            description=item.description,
            is_billable=item.billable,
            parent_code=item.parent,
            chapter=item.chapter,
            block=item.block,
            notes=orjson.dumps(payload).decode(),
        )


def pcs_rows(pcs: PcsCodes) -> Iterator[CodeReferenceRow]:
    # PCS codes are all complete (billable) codes; the list carries no hierarchy or notes.
    version = pcs.version
    for code, description in pcs.items():
        yield CodeReferenceRow(version, code, PCS_SYSTEM, description, True, None, None, None, "{}")


def note_json(note: Note) -> dict[str, Any]:
    return {
        "kind": note.kind.value,
        "text": note.text,
        "source": note.source,
        "targets": [{"lo": t.lo, "hi": t.hi, "position": t.position, "chars": t.chars} for t in note.targets],
        "unparsed": note.unparsed,
    }
