"""ICD-10-CM code set, note parser, ICD-10-PCS list and the `code_reference` load.

Data facts used below come from the FY2026 April-1-2026 tabular shipped in simple-icd-10-cm 1.5.0:

    4  Endocrine, nutritional and metabolic diseases          (chapter)
    └─ E08-E13 Diabetes mellitus                               (block)
       └─ E11 Type 2 diabetes mellitus                         (category; Excludes1 "type 1 … (E10.-)")
          └─ E11.6 … other specified complications             (subcategory)
             └─ E11.65 … with hyperglycemia                    (billable code)
    19 Injury, poisoning …
    └─ S70-S79 → S72 Fracture of femur (7th characters A, B, C, D, …, S)
       └─ S72.0 → S72.00 → S72.001 (not billable) → S72.001A (billable)
    20 External causes
    └─ V00-X58 Accidents → V00-V99 Transport accidents (header blocks with notes) → V00-V09 → V00 …

The session-wide `codeset` fixture reads the compiled cache in ``./.smartcoders/cache`` (built once,
about 4 s, the first time the suite or a benchmark runs on a machine; 0.1 s afterwards).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from array import array
from bisect import bisect_left
from pathlib import Path

import psycopg
import pytest

from app import bootstrap
from app.codesets import icd10cm_build
from app.codesets.icd10cm import Icd10cmCodeSet
from app.codesets.icd10cm_build import Compiled, cache_path, default_cache_dir, read_cache, write_cache
from app.codesets.load import load_code_reference
from app.codesets.notes import parse_note
from app.codesets.pcs import PcsCodes, pcs_format_problem
from app.codesets.types import CodeMatcher, Note, NoteKind
from datalayer.queries import code_reference
from datalayer.scope import auth_scope

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / ".venv" / "bin" / "smartcoders"

# A code reference as a coder would write it; used to find code-like text the parser left behind.
CODE_LIKE = re.compile(r"(?<![A-Za-z0-9])[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?(?:\.?-)?(?![A-Za-z0-9])")


@pytest.fixture(scope="session")
def codeset() -> Icd10cmCodeSet:
    return Icd10cmCodeSet.load()


@pytest.fixture(scope="session")
def all_notes(codeset: Icd10cmCodeSet) -> list[Note]:
    """Every note of every item (each sits on exactly one item: its `source`)."""
    return [note for record in codeset.records() for note in record.notes]


@pytest.fixture(scope="session")
def pcs() -> PcsCodes:
    return PcsCodes()


def _targets(text: str) -> list[tuple[str, str, int | None, str]]:
    note = parse_note(NoteKind.EXCLUDES1, text, "X00")
    return [(t.lo, t.hi, t.position, t.chars) for t in note.targets]


# --- note parser ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "targets", "unparsed"),
    [
        ("type 1 diabetes mellitus (E10.-)", [("E10", "E10", None, "")], "type 1 diabetes mellitus"),
        ("neonatal diabetes mellitus (P70.2)", [("P702", "P702", None, "")], "neonatal diabetes mellitus"),
        (
            "code to identify the stage of chronic kidney disease (N18.1-N18.4, N18.9)",
            [("N181", "N184", None, ""), ("N189", "N189", None, "")],
            "code to identify the stage of chronic kidney disease",
        ),
        ("hypertension (I10-I1A)", [("I10", "I1A", None, "")], "hypertension"),
        ("diabetes mellitus (E08-E13 with .42)", [("E08", "E13", 3, "42")], "diabetes mellitus"),
        (
            "infectious mononucleosis complicated by polyneuropathy (B27.0-B27.9 with fifth character 1)",
            [("B270", "B279", 4, "1")],
            "infectious mononucleosis complicated by polyneuropathy",
        ),
        (
            "code to identify body mass index (BMI), if known, for adults (Z68.1-Z68.45) or pediatrics (Z68.5-)",
            [("Z681", "Z6845", None, ""), ("Z685", "Z685", None, "")],
            "code to identify body mass index (BMI), if known, for adults or pediatrics",
        ),
        (
            "at risk for fall (history of fall) Z91.81",
            [("Z9181", "Z9181", None, "")],
            "at risk for fall (history of fall)",
        ),
        (
            "code from category E11 to further identify any manifestations",
            [("E11", "E11", None, "")],
            "code from category to further identify any manifestations",
        ),
        # Codes outside brackets are descriptive when the line names its codes in brackets.
        (
            "pneumoconiosis with tuberculosis, any type in A15 (J65)",
            [("J65", "J65", None, "")],
            "pneumoconiosis with tuberculosis, any type in A15",
        ),
        ("vitamin B12 deficiency anemia (D51.-)", [("D51", "D51", None, "")], "vitamin B12 deficiency anemia"),
        ("glucose-6-phosphate dehydrogenase (G6PD) deficiency (D55.0)", [("D550", "D550", None, "")], None),
        ("code to identify:", [], "code to identify:"),
        # Slips in the source data.
        ("fracture of cervical vertebra (S12.0--S12.6.-)", [("S120", "S126", None, "")], None),
        ("eating disorders (F98.2.-F98.3)", [("F982", "F983", None, "")], None),
        ("knee prosthesis explantation (Z89.52-", [("Z8952", "Z8952", None, "")], "knee prosthesis explantation"),
        ("electrolyte imbalance (E87.8}", [("E878", "E878", None, "")], "electrolyte imbalance"),
        ("malignant pleural effusion (J91.0))", [("J910", "J910", None, "")], "malignant pleural effusion"),
        ("(I60.-. I61.-, I62.-)", [("I60", "I60", None, ""), ("I61", "I61", None, ""), ("I62", "I62", None, "")], ""),
        ("rheumatoid arthritis (M05.00 to M05.8A)", [("M0500", "M058A", None, "")], None),
        ("infections (J00-J06; J20-J22)", [("J00", "J06", None, ""), ("J20", "J22", None, "")], None),
        ("conditions classifiable to S06.0- to S06.8-code to specified injury", [("S060", "S068", None, "")], None),
        (
            "effects (A00-R94 and T80-T88.6, T88.8)",
            [("A00", "R94", None, ""), ("T80", "T886", None, ""), ("T888", "T888", None, "")],
            None,
        ),
        # Qualifiers.
        ("x (F11-F19 with fifth to sixth characters 51)", [("F11", "F19", 4, "51")], None),
        ("x (I69. with final characters -23)", [("I69", "I69", 4, "23")], None),
        ("x (T36-T50 with final character 6)", [("T36", "T50", 5, "6")], None),
        ("x (S42.- with 7th character B or C)", [("S42", "S42", 6, "B"), ("S42", "S42", 6, "C")], None),
        ("x (E08-E13 with .51-.52)", [("E08", "E13", 3, "51"), ("E08", "E13", 3, "52")], None),
        ("x (F11-F19 with .15. .25, .95)", [("F11", "F19", 3, c) for c in ("15", "25", "95")], None),
        ("x (F10-F19 with 5th character .6)", [("F10", "F19", 4, "6")], None),
        ("x (A37 with fifth-character 1)", [("A37", "A37", 4, "1")], None),
        ("x (S92.-with 7th character B)", [("S92", "S92", 6, "B")], None),
        (
            "x (E08, E09 with final characters .00 or .01)",
            [("E08", "E08", 3, "00"), ("E08", "E08", 3, "01"), ("E09", "E09", 3, "00"), ("E09", "E09", 3, "01")],
            None,
        ),
        # A "with …" the parser cannot read gives no targets rather than too broad ones.
        ("something (E11.- with an odd restriction)", [], "something (E11.- with an odd restriction)"),
    ],
)
def test_parse_note(text: str, targets: list[tuple[str, str, int | None, str]], unparsed: str | None) -> None:
    note = parse_note(NoteKind.EXCLUDES1, text, "X00")
    assert [(t.lo, t.hi, t.position, t.chars) for t in note.targets] == targets
    assert note.text == text
    assert note.kind is NoteKind.EXCLUDES1
    if unparsed is not None:
        assert note.unparsed == unparsed


def test_parse_note_range_of_alternatives() -> None:
    targets = _targets("x (T36-T65 with fifth or sixth character 1-4 or 6)")
    assert {(p, c) for _, _, p, c in targets} == {(p, c) for p in (4, 5) for c in "12346"}


def test_matcher_prefix_ranges() -> None:
    ckd = CodeMatcher("N181", "N184")
    assert [k for k in ("N181", "N1830", "N1832", "N184", "N185", "N189", "N18") if ckd.matches(k)] == [
        "N181",
        "N1830",
        "N1832",
        "N184",
    ]
    qualified = CodeMatcher("E08", "E13", 3, "42")
    assert qualified.matches("E1142")
    assert qualified.matches("E0842")
    assert not qualified.matches("E1143")
    assert not qualified.matches("E1442")


@pytest.mark.slow
def test_worded_qualifiers_agree_with_titles(codeset: Icd10cmCodeSet) -> None:
    """Each translated worded qualifier names exactly the codes whose titles say so."""
    cases = [
        ("see categories E08-E10, E11, E13 with ketoacidosis", ("E08", "E13"), ("ketoacidosis",)),
        ("(S52.- with open fracture 7th character)", ("S52", "S52"), ("open fracture",)),
        (
            "(T51-T65 with fifth or sixth character to indicate intent)",
            ("T51", "T65"),
            ("accidental", "intentional self-harm", "assault", "undetermined"),
        ),
    ]
    for text, (lo, hi), words in cases:
        note = parse_note(NoteKind.EXCLUDES1, text, "X00")
        keys = [k for k in codeset.all_billable_keys() if lo <= k[:3] <= hi]
        named = {k for k in keys if note.names(k)}
        titled = {k for k in keys if any(w in _title(codeset, k) for w in words)}
        assert named, text
        assert named == titled, text


def _title(codeset: Icd10cmCodeSet, key: str) -> str:
    info = codeset.lookup(key)
    assert info is not None
    return info.description.lower()


@pytest.mark.slow
def test_no_unread_code_references_in_the_tabular(all_notes: list[Note]) -> None:
    """Every code-like token the parser left in a note is one it deliberately treats as text:
    "any type in A15 (J65)" (A15 describes), "vitamin B12" (a vitamin), "for codes G31.0-…" (scope)."""
    left = sorted({(n.source, n.text) for n in all_notes if CODE_LIKE.search(n.unparsed)})
    assert len(left) == 12
    for source, text in left:
        assert any(word in text for word in ("any type in A15", "vitamin B12", "for codes G31.0-G31.83")), (
            source,
            text,
        )


@pytest.mark.slow
def test_every_target_names_an_existing_item(codeset: Icd10cmCodeSet, all_notes: list[Note]) -> None:
    keys = sorted(codeset.compiled.keys)

    def exists_with_prefix(prefix: str) -> bool:
        i = bisect_left(keys, prefix)
        return i < len(keys) and keys[i].startswith(prefix)

    missing = {(n.source, t.lo) for n in all_notes for t in n.targets if not exists_with_prefix(t.lo)}
    # F02 Excludes1 "other frontotemporal neurocognitive disorder (G31.90)": the tabular means G31.09.
    assert missing == {("F02", "G3190")}


@pytest.mark.slow
def test_every_note_line_is_kept(codeset: Icd10cmCodeSet, all_notes: list[Note]) -> None:
    assert len({(n.kind, n.source, n.text) for n in all_notes}) == len(all_notes)
    assert len(all_notes) == len(codeset.compiled.notes) == 10_875
    with_targets = [n for n in all_notes if n.targets]
    assert len(with_targets) / len(all_notes) > 0.9


# --- lookup ----------------------------------------------------------------------------------


def test_version_and_counts(codeset: Icd10cmCodeSet) -> None:
    assert codeset.version == "ICD-10-CM FY2026 (2026-04-01)"
    assert len(codeset.all_billable_keys()) == 74_719
    assert len(codeset) == 98_505


@pytest.mark.parametrize("spelling", ["E11.65", "e11.65", "E1165", " e1165 ", "e11.65\t"])
def test_lookup_any_spelling(codeset: Icd10cmCodeSet, spelling: str) -> None:
    info = codeset.lookup(spelling)
    assert info is not None
    assert (info.code, info.key, info.kind, info.billable) == ("E11.65", "E1165", "code", True)
    assert info is codeset.lookup("E1165")


def test_lookup_every_level(codeset: Icd10cmCodeSet) -> None:
    chapter, block, category, sub = (codeset.lookup(c) for c in ("4", "e08-e13", "E11", "E11.6"))
    assert chapter is not None
    assert block is not None
    assert category is not None
    assert sub is not None
    assert (chapter.kind, block.kind, category.kind, sub.kind) == ("chapter", "block", "category", "subcategory")
    assert not any(i.billable for i in (chapter, block, category, sub))
    assert category.lineage == ("E08-E13", "4")
    assert (category.category, category.block, category.chapter, category.parent) == ("E11", "E08-E13", "4", "E08-E13")
    leaf = codeset.lookup("E11.65")
    assert leaf is not None
    assert leaf.lineage == ("E11.6", "E11", "E08-E13", "4")
    assert codeset.lookup("I10") is not None
    assert codeset.is_billable("I10")  # a category without children is billable
    assert not codeset.is_billable("E11")


@pytest.mark.parametrize("code", ["", "E1", "E11.99X", "ZZZ", "E11.655", "U00", "E08-E14"])
def test_lookup_unknown(codeset: Icd10cmCodeSet, code: str) -> None:
    assert codeset.lookup(code) is None


def test_single_category_block_is_its_own_item(codeset: Icd10cmCodeSet) -> None:
    block, category = codeset.lookup("B99-B99"), codeset.lookup("B99")
    assert block is not None
    assert category is not None
    assert (block.kind, category.kind, category.parent) == ("block", "category", "B99-B99")


def test_category_notes(codeset: Icd10cmCodeSet) -> None:
    e11 = codeset.lookup("E11")
    assert e11 is not None
    type1 = [n for n in e11.notes_of(NoteKind.EXCLUDES1) if n.text == "type 1 diabetes mellitus (E10.-)"]
    assert len(type1) == 1
    assert type1[0].source == "E11"
    assert type1[0].targets == (CodeMatcher("E10", "E10"),)
    assert type1[0].names("E109")
    leaf = codeset.lookup("E11.9")
    assert leaf is not None
    assert type1[0] in leaf.notes_with_ancestors
    assert type1[0] not in leaf.notes


def test_use_additional_on_code(codeset: Icd10cmCodeSet) -> None:
    info = codeset.lookup("I12.9")
    assert info is not None
    ckd = [n for n in info.notes_of(NoteKind.USE_ADDITIONAL) if n.names("N1830")]
    assert [n.source for n in ckd] == ["I12.9"]
    assert not ckd[0].names("N185")
    # The block's tobacco note reaches the code too.
    assert any(n.source == "I10-I1A" and n.names("F17210") for n in info.notes_with_ancestors)


def test_qualified_excludes_on_real_code(codeset: Icd10cmCodeSet) -> None:
    info = codeset.lookup("G63")
    assert info is not None
    diabetic = [n for n in info.notes_of(NoteKind.EXCLUDES1) if n.text == "diabetes mellitus (E08-E13 with .42)"]
    assert diabetic[0].targets == (CodeMatcher("E08", "E13", 3, "42"),)
    assert diabetic[0].names("E1142")
    assert not diabetic[0].names("E1140")


def test_excludes1_only_on_block(codeset: Icd10cmCodeSet) -> None:
    """C15.3 has no Excludes1 of its own or on C15; the block C15-C26 has one (Kaposi's sarcoma)."""
    info = codeset.lookup("C15.3")
    assert info is not None
    excludes1 = info.notes_of(NoteKind.EXCLUDES1)
    assert excludes1
    assert {n.source for n in excludes1} == {"C15-C26"}
    assert any(n.names("C464") for n in excludes1)


def test_header_block_notes_reach_codes(codeset: Icd10cmCodeSet) -> None:
    """V00-V99 is an empty heading in the XML; its Excludes1 applies to every transport accident."""
    info = codeset.lookup("V00.01XA")
    assert info is not None
    assert info.lineage == ("V00.01", "V00.0", "V00", "V00-V09", "V00-V99", "V00-X58", "20")
    assert info.block == "V00-V09"
    assert any(n.source == "V00-V99" and n.names("W31") for n in info.notes_of(NoteKind.EXCLUDES1))


def test_seventh_characters_inherited(codeset: Icd10cmCodeSet) -> None:
    sub, code, category = codeset.lookup("S72.001"), codeset.lookup("S72.001A"), codeset.lookup("S72")
    assert sub is not None
    assert code is not None
    assert category is not None
    assert {"A", "B", "C", "S"} <= set(sub.seventh)
    assert sub.seventh == category.seventh
    assert sub.seventh["A"] == "initial encounter for closed fracture"
    assert not sub.billable
    assert code.billable
    assert code.seventh == sub.seventh
    e11 = codeset.lookup("E11.9")
    assert e11 is not None
    assert dict(e11.seventh) == {}


def test_helpers(codeset: Icd10cmCodeSet) -> None:
    assert codeset.chapter_of("E1165") == "4"
    assert codeset.chapter_of("V0001XA") == "20"
    assert codeset.chapter_of("NOPE") is None
    assert codeset.category_keys_between("E08", "E13") == ["E08", "E09", "E10", "E11", "E13"]
    assert codeset.category_keys_between("I10", "I1A") == ["I10", "I11", "I12", "I13", "I15", "I16", "I1A"]


# --- search ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_search_code_prefix(codeset: Icd10cmCodeSet) -> None:
    for query in ("e11.6", "E116", " E11.6 "):
        hits = codeset.search(query)
        assert hits[0].code == "E11.6"
        assert all(h.code.replace(".", "").startswith("E116") for h in hits)
        billable = [h.billable for h in hits[1:]]
        assert billable == sorted(billable, reverse=True)  # billable before non-billable
        assert hits[1].code == "E11.65"  # shortest billable first


@pytest.mark.slow
def test_search_exact_then_billable(codeset: Icd10cmCodeSet) -> None:
    hits = codeset.search("e11", limit=50)
    assert hits[0].code == "E11"
    assert hits[1].code == "E11.8"
    assert all(h.billable for h in hits[1:40])
    s72 = codeset.search("s72.0")
    assert s72[0].code == "S72.0"
    assert s72[1].code == "S72.001A"


@pytest.mark.slow
def test_search_words(codeset: Icd10cmCodeSet) -> None:
    hits = codeset.search("diabetes kidney")
    assert hits
    for hit in hits:
        words = re.findall(r"[a-z0-9]+", hit.description.lower())
        assert any(w.startswith("diabetes") for w in words)
        assert any(w.startswith("kidney") for w in words)
    assert {"E10.22", "E11.22"} <= {h.code for h in hits}
    femur = codeset.search("fract femur neck", limit=10)
    assert all(h.code.startswith("S72.") and h.billable for h in femur)
    assert codeset.search("fract femur neck") == codeset.search("fract femur neck")  # stable


@pytest.mark.slow
def test_search_limits(codeset: Icd10cmCodeSet) -> None:
    assert codeset.search("") == []
    assert codeset.search("   ") == []
    assert codeset.search("xyzzy plugh") == []
    assert len(codeset.search("fracture", limit=5)) == 5
    assert codeset.search("fracture", limit=0) == []


# --- cache -------------------------------------------------------------------------------------


def _tiny() -> Compiled:
    """A four-item tabular: chapter 1 > block A00-A09 > category A00 > billable A00.0."""
    return Compiled(
        release="ICD-10-CM TEST",
        keys=("1", "A00-A09", "A00", "A000"),
        descriptions=("Infectious", "Intestinal infectious diseases", "Cholera", "Cholera due to Vibrio cholerae 01"),
        kinds=bytes([0, 1, 2, 4]),
        billable=bytes([0, 0, 0, 1]),
        parents=array("i", [-1, 0, 1, 2]).tobytes(),
        seventh_of=array("i", [-1, -1, -1, -1]).tobytes(),
        sevenths=(),
        notes=(("excludes1", "cholera carrier (Z22.1)", "A00", (("Z221", "Z221", -1, ""),), "cholera carrier"),),
        note_refs=((2, (0,)),),
    )


def test_cache_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "c.marshal"
    write_cache(path, _tiny())
    assert read_cache(path) == _tiny()
    loaded = Icd10cmCodeSet(_tiny())
    info = loaded.lookup("a00.0")
    assert info is not None
    assert (info.lineage, [n.source for n in info.notes_with_ancestors]) == (("A00", "A00-A09", "1"), ["A00"])


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage", "empty"])
def test_corrupt_cache_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    path = cache_path(tmp_path, icd10cm_build.package_version())
    write_cache(path, _tiny())
    blob = bytearray(path.read_bytes())
    if damage == "flip":
        blob[len(blob) // 2] ^= 0xFF
    elif damage == "truncate":
        del blob[len(blob) // 2 :]
    elif damage == "garbage":
        blob = bytearray(b"not a cache at all")
    else:
        blob = bytearray()
    path.write_bytes(bytes(blob))
    assert read_cache(path) is None
    builds: list[int] = []

    def fake_build() -> Compiled:  # the real 4-second XML walk runs in test_cold_build_matches_cache
        builds.append(1)
        return _tiny()

    monkeypatch.setattr(icd10cm_build, "build", fake_build)
    loaded = Icd10cmCodeSet.load(tmp_path)
    assert builds == [1]
    assert loaded.source == "built"
    assert read_cache(path) == _tiny()  # rewritten, valid again
    assert Icd10cmCodeSet.load(tmp_path).source == "cache"


def test_unwritable_cache_dir_still_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setattr(icd10cm_build, "build", _tiny)
    loaded = Icd10cmCodeSet.load(blocker / "cache")
    assert loaded.source == "built"
    assert loaded.lookup("A00.0") is not None


@pytest.mark.slow
def test_cold_build_matches_cache(tmp_path: Path, codeset: Icd10cmCodeSet) -> None:
    built = Icd10cmCodeSet.load(tmp_path)
    assert built.source == "built"
    assert built.compiled == codeset.compiled
    assert Icd10cmCodeSet.load(tmp_path).source == "cache"


# --- ICD-10-PCS ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("0016070", None),
        (" 02703dz ", None),
        ("001607", "exactly 7 characters"),
        ("00160700", "exactly 7 characters"),
        ("0016O70", "letters I or O"),
        ("00160I0", "letters I or O"),
        ("0016-70", "only digits and letters"),
        ("", "empty"),
    ],
)
def test_pcs_format(code: str, problem: str | None) -> None:
    found = pcs_format_problem(code)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


@pytest.mark.slow
def test_pcs_list(pcs: PcsCodes) -> None:
    assert pcs.version == "ICD-10-PCS FY2024 (2024-04-01)"
    assert len(pcs) == 78_638
    assert pcs.exists("02703DZ")
    assert pcs.exists(" 02703dz")
    assert not pcs.exists("02703DY")
    assert pcs.description("0016070") == (
        "Bypass Cerebral Ventricle to Nasopharynx with Autologous Tissue Substitute, Open Approach"
    )
    assert pcs.description("ZZZZZZZ") is None


# --- code_reference -------------------------------------------------------------------------------


@pytest.mark.slow
def test_load_code_reference(
    runtime: bootstrap.Runtime, superuser_url: str, codeset: Icd10cmCodeSet, pcs: PcsCodes
) -> None:
    owner = runtime.services.owner_url
    first = load_code_reference(owner, force=True, codeset=codeset, pcs=pcs)
    assert [(v.version, v.loaded, v.rows) for v in first.versions] == [
        (codeset.version, True, len(codeset)),
        (pcs.version, True, len(pcs)),
    ]
    with auth_scope() as scope:  # the app role reads it
        assert code_reference.count(scope, version=codeset.version) == 98_505
        assert code_reference.versions(scope)[pcs.version] == 78_638
    again = load_code_reference(owner, codeset=codeset, pcs=pcs)
    assert [(v.loaded, v.rows) for v in again.versions] == [(False, 98_505), (False, 78_638)]
    assert "already present" in again.summary()
    with psycopg.connect(superuser_url) as conn:
        row = conn.execute(
            "SELECT code_system, is_billable, parent_code, chapter, block FROM code_reference"
            " WHERE code_set_version = %s AND code = 'E119'",
            (codeset.version,),
        ).fetchone()
        assert row == ("ICD-10-CM", True, "E11", "4", "E08-E13")
        notes = conn.execute(
            "SELECT notes FROM code_reference WHERE code_set_version = %s AND code = 'E11'", (codeset.version,)
        ).fetchone()
        assert notes is not None
        type1 = [n for n in notes[0]["notes"] if n["text"] == "type 1 diabetes mellitus (E10.-)"]
        assert type1 == [
            {
                "kind": "excludes1",
                "text": "type 1 diabetes mellitus (E10.-)",
                "source": "E11",
                "targets": [{"lo": "E10", "hi": "E10", "position": None, "chars": ""}],
                "unparsed": "type 1 diabetes mellitus",
            }
        ]
        seventh = conn.execute(
            "SELECT notes -> 'seventh' ->> 'A' FROM code_reference WHERE code_set_version = %s AND code = 'S72'",
            (codeset.version,),
        ).fetchone()
        assert seventh == ("initial encounter for closed fracture",)


@pytest.mark.slow
def test_load_code_reference_force_replaces(
    runtime: bootstrap.Runtime, superuser_url: str, codeset: Icd10cmCodeSet, pcs: PcsCodes
) -> None:
    owner = runtime.services.owner_url
    load_code_reference(owner, codeset=codeset, pcs=pcs)
    with psycopg.connect(superuser_url) as conn:
        conn.execute("DELETE FROM code_reference WHERE code_set_version = %s AND code LIKE '0%%'", (pcs.version,))
    partial = load_code_reference(owner, codeset=codeset, pcs=pcs)
    assert partial.versions[1].loaded is False  # present (even partly): left alone without force
    forced = load_code_reference(owner, force=True, codeset=codeset, pcs=pcs)
    assert [(v.loaded, v.rows) for v in forced.versions] == [(True, 98_505), (True, 78_638)]
    with auth_scope() as scope:
        assert code_reference.count(scope, version=pcs.version) == 78_638


@pytest.mark.slow
def test_cli_load_codes(runtime: bootstrap.Runtime, tmp_path: Path, codeset: Icd10cmCodeSet) -> None:
    home = runtime.settings.smartcoders_home
    # Give the CLI's home the compiled cache the suite already has, so it skips the 4 s build.
    source = cache_path(default_cache_dir(), icd10cm_build.package_version())
    target = cache_path(home / "cache", icd10cm_build.package_version())
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTCODERS_", "DATABASE_", "REDIS_"))}
    env.update(
        {
            "SMARTCODERS_ENV": "test",
            "SMARTCODERS_HOME": str(home),
            "APP_URL": runtime.settings.app_url,
            "PASSWORD_HASH_MEMORY_KIB": "19456",
            "PASSWORD_HASH_TIME_COST": "2",
            "PASSWORD_HASH_PARALLELISM": "1",
            "LOG_LEVEL": "WARNING",
        }
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CLI), "load-codes", *args],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=tmp_path,
            env=env,
            check=False,
        )

    forced = run("--force")
    assert forced.returncode == 0, forced.stderr
    assert "ICD-10-CM FY2026 (2026-04-01): loaded 98,505 rows" in forced.stdout
    assert "ICD-10-PCS FY2024 (2024-04-01): loaded 78,638 rows" in forced.stdout
    again = run()
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("already present") == 2


@pytest.mark.slow
def test_bench_search_runs(capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main

    capsys.readouterr()
    assert main(["bench", "search", "--no-cold", "--queries", "200", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["queries"] == 200
    for name in ("warm_load_s", "p50_ms", "p95_ms", "p99_ms", "queries_per_s", "lookup_warm_ns"):
        assert figures[name] > 0, name
