"""R-FMT-06: the shape of an ICD-10-CM code, and the spelling fixes the engine makes silently-but-said.

A code is a letter, a digit, an alphanumeric, then an optional dot and up to four more
alphanumerics (Guidelines I.A). Coders type "e119", "E11.9 " or "E119": the engine normalises
case, whitespace and the dot before looking a code up, and reports what it changed so the row
can be corrected in place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_KEY = re.compile(r"[A-Z][0-9][A-Z0-9][A-Z0-9]{0,4}")
_PCS = re.compile(r"[0-9A-HJ-NP-Z]{7}")
_MAX_RAW = 32


@dataclass(frozen=True, slots=True)
class Spelling:
    """The result of reading what the coder typed.

    `key` is the undotted upper-case form used for lookups ("E119"), `code` the display form
    ("E11.9"); `changes` says what normalisation did; `problem` is set (and `key` empty) when
    the text is not an ICD-10-CM code shape at all.
    """

    raw: str
    key: str
    code: str
    changes: tuple[str, ...] = ()
    problem: str | None = None


def display(key: str) -> str:
    return key if len(key) <= 3 else f"{key[:3]}.{key[3:]}"


@lru_cache(maxsize=65536)
def read_icd10cm(raw: str) -> Spelling:
    text = raw.strip()
    if not text:
        return Spelling(raw, "", "", problem="The code is empty.")
    if len(text) > _MAX_RAW:
        return Spelling(raw, "", "", problem=f"'{text[:_MAX_RAW]}…' is too long to be an ICD-10-CM code.")
    changes: list[str] = []
    if text != raw:
        changes.append("removed surrounding spaces")
    if any(ch.isspace() for ch in text):
        text = "".join(text.split())
        changes.append("removed inner spaces")
    upper = text.upper()
    if upper != text:
        changes.append("upper-cased")
    key = upper.replace(".", "")
    dots = upper.count(".")
    if dots > 1:
        changes.append("removed extra dots")
    elif dots == 1 and upper.index(".") != 3 and len(key) > 3:
        changes.append("moved the dot after the third character")
    elif dots == 0 and len(key) > 3:
        changes.append("added the dot after the third character")
    elif dots == 1 and len(key) == 3:
        changes.append("removed the trailing dot")
    if not _KEY.fullmatch(key):
        return Spelling(raw, "", "", problem=_shape_problem(text, key))
    return Spelling(raw, key, display(key), tuple(changes))


def _shape_problem(text: str, key: str) -> str:
    if not key[:1].isalpha() or not key[:1].isascii():
        return f"'{text}' must start with a letter (ICD-10-CM codes look like E11.9)."
    if len(key) < 3:
        return f"'{text}' is too short: an ICD-10-CM code has at least three characters (e.g. I10)."
    if len(key) > 7:
        return f"'{text}' is too long: an ICD-10-CM code has at most seven characters."
    if not key[1:2].isdigit():
        return f"'{text}': the second character of an ICD-10-CM code is a digit."
    return f"'{text}' is not an ICD-10-CM code: use letters and digits only, like E11.9 or S72.001A."


def pcs_problem(raw: str) -> str | None:
    """ICD-10-PCS shape: seven characters, digits and letters except I and O."""
    text = raw.strip().upper()
    if len(text) != 7:
        return f"'{raw.strip()}' is not an ICD-10-PCS code: it has {len(text)} characters, PCS codes have 7."
    if not _PCS.fullmatch(text):
        bad = sorted({ch for ch in text if not _PCS.fullmatch(ch * 7)})
        return f"'{raw.strip()}' is not an ICD-10-PCS code: {', '.join(repr(c) for c in bad)} not allowed (digits and letters except I and O)."
    return None
