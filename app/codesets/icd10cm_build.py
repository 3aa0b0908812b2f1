"""Compile the ICD-10-CM tabular from `simple-icd-10-cm` into plain data, and cache it on disk.

Importing `simple_icd_10_cm` parses a 10 MB XML file into a tree of Python objects: about 2.5 s
and 200 MB, on every process start. The validation engine needs a fraction of that, read-only,
so it is compiled once into a few flat columns (`Compiled`), written to
``$SMARTCODERS_HOME/cache/`` and read back with `marshal` in well under a second on later starts.

The cache file name carries the package version, `PARSER_VERSION`, a digest of this module and
the note parser, and the Python version, so a new release, a parser change or an interpreter
upgrade each build a fresh file. The file starts
with a magic string and a BLAKE2b digest of its body: a truncated or corrupted file fails that
check before `marshal` reads a byte of it, and is rebuilt. Writing goes through a temporary file
and an atomic rename, so two processes building at once cannot leave a half-written cache.

Tree shape. The CDC XML lists "header" sections such as V00-V99 "Transport accidents" or
T20-T32 "Burns and corrosions" as empty siblings of the blocks they head, although their notes
(V00-V99 has Excludes1 and use-additional notes) apply to every code in their range. The compiler
therefore makes each block a child of the narrowest empty section of its chapter whose range
contains it, so those notes reach the codes through `notes_with_ancestors`. A section that holds
a single category shares the category's name in the XML ("B99"); its key here is "B99-B99", so
the block and the category are distinct items.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import marshal
import os
import re
import sys
import tempfile
import warnings
from array import array
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

from app.codesets.notes import parse_note
from app.codesets.types import Note, NoteKind
from app.logs import get_logger

log = get_logger(__name__)

# Bump when the compiled shape or the note parser changes: old cache files are then ignored.
PARSER_VERSION: Final = 1
PACKAGE: Final = "simple-icd-10-cm"
_MAGIC: Final = b"SCICD10CM\x01"
_DIGEST_SIZE: Final = 32

KINDS: Final = ("chapter", "block", "category", "subcategory", "code")
CHAPTER, BLOCK, CATEGORY, SUBCATEGORY, CODE = range(5)

NoteRow = tuple[str, str, str, tuple[tuple[str, str, int, str], ...], str]
"""(kind, text, source, targets as (lo, hi, position or -1, chars), unparsed): marshal-friendly."""


@dataclass(frozen=True, slots=True)
class Compiled:
    """The tabular as flat columns indexed by item number (tree pre-order).

    `parents` and `seventh_of` are `array('i')` buffers (-1 for none); `kinds` and `billable` hold
    one byte per item. `note_refs` lists (item, note ids) only for items that carry notes.
    """

    release: str
    keys: tuple[str, ...]
    descriptions: tuple[str, ...]
    kinds: bytes
    billable: bytes
    parents: bytes
    seventh_of: bytes
    sevenths: tuple[tuple[tuple[str, str], ...], ...]
    notes: tuple[NoteRow, ...]
    note_refs: tuple[tuple[int, tuple[int, ...]], ...]

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            self.release,
            self.keys,
            self.descriptions,
            self.kinds,
            self.billable,
            self.parents,
            self.seventh_of,
            self.sevenths,
            self.notes,
            self.note_refs,
        )


def package_version() -> str:
    return importlib.metadata.version(PACKAGE)


def default_cache_dir() -> Path:
    """``$SMARTCODERS_HOME/cache`` from the environment, without requiring configured settings.

    Processes that have settings pass ``settings.smartcoders_home / "cache"`` explicitly; this
    default serves scripts, benchmarks and tests (``./.smartcoders/cache``, as settings default).
    """
    home = os.environ.get("SMARTCODERS_HOME") or ".smartcoders"
    return Path(home).expanduser().resolve() / "cache"


def cache_path(cache_dir: Path, version: str) -> Path:
    py = f"{sys.version_info.major}{sys.version_info.minor}"
    return cache_dir / f"icd10cm-{version}-p{PARSER_VERSION}.{_source_fingerprint()}-py{py}.marshal"


@functools.cache
def _source_fingerprint() -> str:
    """A digest of the parser and compiler sources: an edit that forgets to bump PARSER_VERSION
    still gets a fresh cache instead of stale notes."""
    digest = hashlib.blake2b(digest_size=4)
    for module in (Path(__file__), Path(__file__).with_name("notes.py")):
        digest.update(module.read_bytes())
    return digest.hexdigest()


def load_or_build(cache_dir: Path | None = None) -> tuple[Compiled, str]:
    """The compiled tabular and where it came from ("cache" or "built"); never fails on a bad cache."""
    directory = cache_dir if cache_dir is not None else default_cache_dir()
    path = cache_path(directory, package_version())
    compiled = read_cache(path)
    if compiled is not None:
        return compiled, "cache"
    compiled = build()
    write_cache(path, compiled)
    return compiled, "built"


def read_cache(path: Path) -> Compiled | None:
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    head = len(_MAGIC) + _DIGEST_SIZE
    if len(blob) <= head or not blob.startswith(_MAGIC):
        log.warning("icd10cm_cache_invalid", path=str(path), reason="bad header")
        return None
    body = blob[head:]
    if hashlib.blake2b(body, digest_size=_DIGEST_SIZE).digest() != blob[len(_MAGIC) : head]:
        log.warning("icd10cm_cache_invalid", path=str(path), reason="checksum mismatch")
        return None
    try:
        # The body was written by write_cache and its digest checked above: marshal only ever reads
        # bytes this module produced (marshal is unsafe only on crafted or corrupted input).
        data = marshal.loads(body)  # noqa: S302 - integrity checked with BLAKE2b just above
        return Compiled(*data)
    except (ValueError, EOFError, TypeError) as exc:
        log.warning("icd10cm_cache_invalid", path=str(path), reason=str(exc))
        return None


def write_cache(path: Path, compiled: Compiled) -> None:
    """Write atomically; a read-only or full disk only costs the next start a rebuild."""
    body = marshal.dumps(compiled.as_tuple())
    digest = hashlib.blake2b(body, digest_size=_DIGEST_SIZE).digest()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(_MAGIC + digest + body)
            os.chmod(tmp, 0o644)  # public data; mkstemp's 0600 would hide it from other service users
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.warning("icd10cm_cache_not_written", path=str(path), reason=str(exc))


def release_name() -> str:
    """The release name, e.g. "ICD-10-CM FY2026 (2026-04-01)", from the tabular file the package
    ships (read from the package metadata: no import, no XML parsing)."""
    files = importlib.metadata.files(PACKAGE) or []
    for f in files:
        m = re.search(r"tabular-([A-Za-z]+)-(\d+)-(\d{4})\.xml$", str(f))
        if m:
            month = _MONTHS.index(m.group(1).lower()[:3]) + 1
            effective = date(int(m.group(3)), month, int(m.group(2)))
            # The US federal fiscal year starts on 1 October: an October release opens the next FY.
            fiscal = effective.year + 1 if effective.month >= 10 else effective.year
            return f"ICD-10-CM FY{fiscal} ({effective.isoformat()})"
    return f"ICD-10-CM ({PACKAGE} {package_version()})"


_MONTHS: Final = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


@dataclass(slots=True)
class _Node:
    key: str
    kind: int
    description: str
    parent: int
    children: int
    seventh: tuple[tuple[str, str], ...]
    lines: list[tuple[NoteKind, str]]


def build() -> Compiled:
    """Walk the tabular through the public `simple_icd_10_cm` API (the slow, 2.5 s path)."""
    with warnings.catch_warnings():
        # Importing parses the XML. simple_icd_10_cm 1.5.0 calls importlib.resources.read_text,
        # deprecated since Python 3.11, and may warn about empty XML nodes: neither is ours to fix.
        # (catch_warnings is process-wide; this runs once, before the cache exists.)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        import simple_icd_10_cm as cm  # type: ignore[import-untyped]  # ships no type information

    nodes: list[_Node] = []

    def visit(name: str, kind: int, parent: int) -> None:
        # A block that shares its name with its only category is read with prioritize_blocks.
        block = kind == BLOCK
        index = len(nodes)
        children: list[str] = cm.get_children(name, prioritize_blocks=block)
        key = name.replace(".", "")
        if block and "-" not in key:
            key = f"{key}-{key}"
        lines: list[tuple[NoteKind, str]] = []
        for note_kind, getter in (
            (NoteKind.CODE_FIRST, cm.get_code_first),
            (NoteKind.USE_ADDITIONAL, cm.get_use_additional_code),
            (NoteKind.CODE_ALSO, cm.get_code_also),
        ):
            text: str = getter(name, prioritize_blocks=block)
            lines.extend((note_kind, line) for line in text.split("\n") if line.strip())
        for note_kind, list_getter in ((NoteKind.EXCLUDES1, cm.get_excludes1), (NoteKind.EXCLUDES2, cm.get_excludes2)):
            items: list[str] = list_getter(name, prioritize_blocks=block)
            lines.extend((note_kind, line) for line in items if line.strip())
        seventh: dict[str, str] = cm.get_seven_chr_def(name, prioritize_blocks=block)
        nodes.append(
            _Node(
                key=key,
                kind=kind,
                description=_clean(cm.get_description(name, prioritize_blocks=block)),
                parent=parent,
                children=len(children),
                seventh=tuple((c, _clean(d)) for c, d in seventh.items()),
                lines=lines,
            )
        )
        child_kind = {CHAPTER: BLOCK, BLOCK: CATEGORY}.get(kind, SUBCATEGORY)
        for child in children:
            visit(child, child_kind, index)

    for chapter in (c for c in cm.get_all_codes() if cm.is_chapter(c)):
        visit(chapter, CHAPTER, -1)
    _nest_header_blocks(nodes)
    return _compile(nodes, release_name())


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _block_range(key: str) -> tuple[str, str]:
    lo, _, hi = key.partition("-")
    return lo, hi or lo


def _nest_header_blocks(nodes: list[_Node]) -> None:
    """Re-parent each block under the narrowest empty section of its chapter that spans it."""
    by_chapter: dict[int, list[int]] = {}
    for i, node in enumerate(nodes):
        if node.kind == BLOCK:
            by_chapter.setdefault(node.parent, []).append(i)
    for blocks in by_chapter.values():
        headers = [i for i in blocks if nodes[i].children == 0]
        for i in blocks:
            lo, hi = _block_range(nodes[i].key)
            best: int | None = None
            for h in headers:
                h_lo, h_hi = _block_range(nodes[h].key)
                if h == i or not (h_lo <= lo and hi <= h_hi):
                    continue
                # Spans that contain a block nest inside each other: keep the innermost.
                if best is None or (
                    _block_range(nodes[best].key)[0] <= h_lo and h_hi <= _block_range(nodes[best].key)[1]
                ):
                    best = h
            if best is not None:
                nodes[i].parent = best


def _leaf_kind(node: _Node) -> int:
    if node.kind == SUBCATEGORY and node.children == 0:
        return CODE
    return node.kind


def _compile(nodes: list[_Node], release: str) -> Compiled:
    kinds = bytes(_leaf_kind(n) for n in nodes)
    billable = bytes(1 if n.children == 0 and n.kind >= CATEGORY else 0 for n in nodes)
    seventh_ids: dict[tuple[tuple[str, str], ...], int] = {}
    seventh_of = array("i")
    notes: list[NoteRow] = []
    note_ids: dict[NoteRow, int] = {}
    refs: list[tuple[int, tuple[int, ...]]] = []
    for i, node in enumerate(nodes):
        seventh_of.append(seventh_ids.setdefault(node.seventh, len(seventh_ids)) if node.seventh else -1)
        source = display_code(node.key, kinds[i])
        ids: dict[int, None] = {}
        for note_kind, text in node.lines:
            row = note_row(parse_note(note_kind, text, source))
            note_id = note_ids.get(row)
            if note_id is None:
                note_id = note_ids[row] = len(notes)
                notes.append(row)
            ids[note_id] = None
        if ids:
            refs.append((i, tuple(ids)))
    return Compiled(
        release=release,
        keys=tuple(n.key for n in nodes),
        descriptions=tuple(n.description for n in nodes),
        kinds=kinds,
        billable=billable,
        parents=array("i", (n.parent for n in nodes)).tobytes(),
        seventh_of=seventh_of.tobytes(),
        sevenths=tuple(seventh_ids),
        notes=tuple(notes),
        note_refs=tuple(refs),
    )


def display_code(key: str, kind: int) -> str:
    """The display form: "E119" -> "E11.9"; chapters ("4") and blocks ("E08-E13") as keyed."""
    if kind <= BLOCK or len(key) <= 3:
        return key
    return f"{key[:3]}.{key[3:]}"


def note_row(note: Note) -> NoteRow:
    targets = tuple((t.lo, t.hi, -1 if t.position is None else t.position, t.chars) for t in note.targets)
    return (note.kind.value, note.text, note.source, targets, note.unparsed)
