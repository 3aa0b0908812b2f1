"""Parse one instructional note line of the ICD-10-CM tabular into a `types.Note`.

The tabular writes code references as free text, so the parser reads a small grammar instead of
a fixed pattern:

* a code: "P70.2", "E10.-", "O24.4-", "S06.0X-", "I69." (the bare dot means "any code in I69");
* a range of codes joined by "-", "to" or "through": "E08-E13", "N18.1-N18.4", "I10-I1A",
  "M05.00 to M05.8A", "S32.1--S32.9" (a wildcard dash followed by the range dash);
* a list of codes or ranges joined by ",", ";", ".", "and" or "or": "(N18.1-N18.4, N18.9)";
* an optional qualifier after a list, which narrows every code of the list:
  "with .42" (the characters after the dot), "with fifth character 1", "with fifth or sixth
  character 1-4 or 6", "with final characters -20", and three worded qualifiers that the FY2026
  data uses once each ("with ketoacidosis", "with open fracture 7th character", "with fifth or
  sixth character to indicate intent"), translated in `_WORDED` and checked against the real
  data by the tests.

Typing slips in the source data are accepted where the meaning is plain: "D29.2.-" for "D29.2-",
"I60.-. I61.-" for "I60.-, I61.-", "(Z89.52-" with no closing bracket, "(E87.8}".

Which references are targets: when a line has code references inside brackets, those are the
targets and any code outside brackets is descriptive ("pneumoconiosis with tuberculosis, any type
in A15 (J65)" names J65, not A15; "vitamin B12 deficiency anemia (D51.-)" names D51). A line
without bracketed codes names the codes in its text ("code from category E11 to further identify
any manifestations"). A list introduced by "for codes" says where a note applies, not what it asks
for, so it is descriptive too. A list followed by a "with …" the parser cannot read gives no
targets at all: a guess that is too broad would raise false Excludes1 errors.

Everything that is not a target stays in `Note.unparsed` (the line without its target references,
tidied), so nothing is silently dropped; a line without any code keeps its full text there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from app.codesets.types import CodeMatcher, Note, NoteKind

# A code reference: letter, digit, alphanumeric, then optionally a dot and 1-4 alphanumerics, then
# an optional wildcard suffix. The dash is a wildcard only when no code follows it directly (then
# it is a range dash); a lone trailing dot ("I69.") is a wildcard too. The reference may not be part
# of a longer word ("G6PD"), except that a wildcard dash may touch a word ("S06.8-code").
_CODE: Final = re.compile(
    r"(?<![A-Za-z0-9])"
    r"(?P<base>[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?)"
    r"(?P<wild>\.?-(?![A-Z][0-9])|\.(?![0-9A-Z]))?"
    r"(?:(?<=-)|(?![A-Za-z0-9]))"
)
_RANGE_JOIN: Final = re.compile(r"\s*(?:-|\bto\b|\bthrough\b)\s*")
_LIST_JOIN: Final = re.compile(r"\s*(?:[,;.]\s*(?:(?:and|or)\s+)?|(?:and|or)\s+)")
_WITH: Final = re.compile(r"\s*,?\s*with\b", re.IGNORECASE)

_ORDINALS: Final[dict[str, int]] = {
    "fourth": 3,
    "4th": 3,
    "fifth": 4,
    "5th": 4,
    "sixth": 5,
    "six": 5,  # "T36-T50 with fifth or six character 5"
    "6th": 5,
    "seventh": 6,
    "7th": 6,
    "final": -1,  # resolved per value, see _final_position
}
# Ordinal words in any case; the characters they name are upper case, as in the tabular.
_ORD: Final = r"(?i:fourth|fifth|sixth|six|seventh|final|4th|5th|6th|7th)"
_VALUE: Final = r"[.-]*[0-9A-Z]+(?:\s*-\s*\.?[0-9A-Z]+)?-?"
_QUAL_ORDINAL: Final = re.compile(
    rf"\s*(?i:the\s+)?(?P<ords>{_ORD}(?:\s*(?i:or|to|-)\s*{_ORD})*)[\s-]+(?i:characters?)\s+"
    rf"(?P<values>{_VALUE}(?:\s*(?:,|or)\s*{_VALUE})*)(?![0-9A-Za-z])",
)
_QUAL_DOTTED: Final = re.compile(
    rf"\s*(?P<values>\.{_VALUE}(?:\s*(?:,|\.|or)\s*\.{_VALUE})*)(?![0-9A-Za-z])",
)

# Worded qualifiers of the FY2026 tabular, translated to (positions, characters). The tests check
# each against the code titles and 7th-character definitions they stand for.
_WORDED: Final[dict[str, tuple[tuple[int, ...], tuple[str, ...]]]] = {
    # E87.2 Excludes1 "diabetic acidosis - see categories E08-E10, E11, E13 with ketoacidosis":
    # E08.1-, E09.1-, E10.1-, E11.1-, E13.1- are the "with ketoacidosis" subcategories.
    "ketoacidosis": ((3,), ("1",)),
    # S51 Excludes1 "(S52.- with open fracture 7th character)": the S52 7th characters whose
    # definition reads "… open fracture …".
    "open fracture 7th character": ((6,), ("B", "C", "E", "F", "H", "J", "M", "N", "Q", "R")),
    # J84.89 Code first "(T51-T65 with fifth or sixth character to indicate intent)": the intent
    # characters 1-4 (accidental, intentional self-harm, assault, undetermined).
    "fifth or sixth character to indicate intent": ((4, 5), ("1", "2", "3", "4")),
}
_QUAL_WORDED: Final = re.compile(
    r"\s*(?P<words>" + "|".join(re.escape(w) for w in _WORDED) + r")(?![0-9A-Za-z])", re.IGNORECASE
)
_FOR_CODES: Final = re.compile(r"\bfor\s+codes?\s*$", re.IGNORECASE)
_BRACKETS: Final = {"(": ")", "[": "]"}


def undot(code: str) -> str:
    """The lookup key of a code in any spelling: no dots, no spaces, upper case."""
    return code.strip().replace(".", "").upper()


@dataclass(frozen=True, slots=True)
class _Group:
    """A list of code references found in the text, with its qualifier, before the target decision."""

    start: int
    end: int
    matchers: tuple[CodeMatcher, ...]
    in_brackets: bool
    descriptive: bool


def parse_note(kind: NoteKind, text: str, source: str) -> Note:
    """Parse one note line; `source` is the display code of the item the note sits on."""
    brackets = _bracket_spans(text)
    groups = list(_groups(text, brackets))
    bracketed = any(g.in_brackets and g.matchers for g in groups)
    targets: list[CodeMatcher] = []
    consumed: list[tuple[int, int]] = []
    for group in groups:
        if not group.matchers or group.descriptive or (bracketed and not group.in_brackets):
            continue
        targets.extend(group.matchers)
        consumed.append((group.start, group.end))
    unparsed = _remainder(text, consumed, brackets) if consumed else text
    return Note(kind=kind, text=text, source=source, targets=tuple(dict.fromkeys(targets)), unparsed=unparsed)


def _bracket_spans(text: str) -> list[tuple[int, int]]:
    """(open, close) index pairs; an unclosed bracket runs to the end, "}" closes a "(" too."""
    spans: list[tuple[int, int]] = []
    stack: list[tuple[int, str]] = []
    for i, ch in enumerate(text):
        if ch in _BRACKETS:
            stack.append((i, _BRACKETS[ch]))
        elif ch in ")]}" and stack:
            start, _ = stack.pop()
            spans.append((start, i))
    spans.extend((start, len(text)) for start, _ in stack)
    return spans


def _inside(pos: int, brackets: list[tuple[int, int]]) -> bool:
    return any(start < pos < end for start, end in brackets)


def _groups(text: str, brackets: list[tuple[int, int]]) -> Iterator[_Group]:
    pos = 0
    while (first := _CODE.search(text, pos)) is not None:
        ranges: list[tuple[str, str]] = []
        end = first.end()
        lo = first
        while True:
            hi = lo
            join = _RANGE_JOIN.match(text, end)
            if join is not None and (nxt := _CODE.match(text, join.end())) is not None:
                hi = nxt
                end = nxt.end()
            ranges.append((undot(lo.group("base")), undot(hi.group("base"))))
            join = _LIST_JOIN.match(text, end)
            if join is None or (nxt := _CODE.match(text, join.end())) is None:
                break
            lo = nxt
            end = nxt.end()
        qualifiers: tuple[tuple[int | None, str], ...] | None = ((None, ""),)
        with_match = _WITH.match(text, end)
        if with_match is not None:
            qualified = _qualifier(text, with_match.end())
            # An unreadable "with …" narrows the list in a way we cannot express: no targets.
            qualifiers = None if qualified is None else qualified[0]
            end = end if qualified is None else qualified[1]
        matchers = tuple(
            CodeMatcher(lo_key, hi_key, position, chars)
            for lo_key, hi_key in ranges
            for position, chars in (qualifiers or ())
        )
        yield _Group(
            start=first.start(),
            end=end,
            matchers=matchers,
            in_brackets=_inside(first.start(), brackets),
            descriptive=_FOR_CODES.search(text, 0, first.start()) is not None,
        )
        pos = end


def _qualifier(text: str, pos: int) -> tuple[tuple[tuple[int | None, str], ...], int] | None:
    """The (position, characters) alternatives of a "with …" qualifier at `pos`, and where it ends."""
    if (m := _QUAL_WORDED.match(text, pos)) is not None:
        positions, characters = _WORDED[m.group("words").lower()]
        return tuple((p, c) for p in positions for c in characters), m.end()
    if (m := _QUAL_ORDINAL.match(text, pos)) is not None:
        ords = re.split(r"\s*(?:or|to|-)\s*", m.group("ords").lower())
        # "fifth to sixth characters 51": the characters start at the first ordinal.
        if re.search(r"\bto\b", m.group("ords"), re.IGNORECASE):
            ords = ords[:1]
        values = _values(m.group("values"))
        if values is None:
            return None
        out: list[tuple[int | None, str]] = []
        for word in ords:
            for raw, chars in values:
                position = _ORDINALS[word]
                if position < 0:
                    position = _final_position(raw, chars)
                out.append((position, chars))
        return tuple(out), m.end()
    if (m := _QUAL_DOTTED.match(text, pos)) is not None:
        values = _values(m.group("values"))
        if values is None:
            return None
        return tuple((_final_position(raw, chars), chars) for raw, chars in values), m.end()
    return None


def _values(raw: str) -> list[tuple[str, str]] | None:
    """Split "1-4 or 6" / ".14, .24, .94" / ".51-.52" into (raw value, characters), ranges expanded."""
    out: list[tuple[str, str]] = []
    for part in re.split(r"\s*(?:,|\bor\b|\.(?=\s))\s*", raw.strip()):
        if not part:
            continue
        lead = re.match(r"[.-]*", part)
        prefix = lead.group(0) if lead else ""
        body = part[len(prefix) :].rstrip("-")
        if "-" in body:
            lo, _, hi = (s.strip().lstrip(".") for s in body.partition("-"))
            expanded = _expand(lo, hi)
            if expanded is None:
                return None
            out.extend((prefix + chars, chars) for chars in expanded)
        else:
            out.append((prefix + body, body))
    return out or None


def _expand(lo: str, hi: str) -> list[str] | None:
    """Expand a character range: "1"-"4" -> 1, 2, 3, 4 and "51"-"52" -> 51, 52 (same length and
    stem, digits in the last place); None when the range is not of that shape."""
    if len(lo) != len(hi) or lo[:-1] != hi[:-1] or not (lo[-1].isdigit() and hi[-1].isdigit()) or lo > hi:
        return None
    return [lo[:-1] + str(d) for d in range(int(lo[-1]), int(hi[-1]) + 1)]


def _final_position(raw: str, chars: str) -> int:
    """Where a value starts: ".42" after the dot (index 3), "-20" one place later per dash, and a bare
    "final character 6" ends just before the 7th character (index 5)."""
    if raw.startswith("."):
        return 3
    dashes = len(raw) - len(raw.lstrip("-"))
    if dashes:
        return 3 + dashes
    return 6 - len(chars)


def _remainder(text: str, consumed: list[tuple[int, int]], brackets: list[tuple[int, int]]) -> str:
    """The line without its target references; brackets left empty by that are dropped too."""
    keep = [True] * len(text)
    for start, end in consumed:
        for i in range(start, end):
            keep[i] = False
    for start, end in brackets:
        inner = "".join(text[i] for i in range(start + 1, min(end, len(text))) if keep[i])
        if not inner.strip(" ,;.:-"):
            for i in range(start, min(end + 1, len(text))):
                keep[i] = False
    out = _drop_unmatched_closers("".join(ch for ch, k in zip(text, keep, strict=True) if k))
    out = re.sub(r"\s+", " ", out)
    out = re.sub(r"\s+([,;.:)])", r"\1", out)
    out = re.sub(r"([,;:])(?=[,;:])", "", out)
    return out.strip(" ,;-")


def _drop_unmatched_closers(text: str) -> str:
    """Drop closing brackets without an opener: "(J91.0))" leaves a stray ")" once the reference is gone: drop closers without an opener."""
    depth = 0
    out: list[str] = []
    for ch in text:
        if ch in _BRACKETS:
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                continue
            depth -= 1
        out.append(ch)
    return "".join(out)
