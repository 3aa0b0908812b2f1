"""The validation engine's speed-ups must not change a single answer (ADR 0006, "Throughput").

* msdrg is called through `_Grouper` / `_MceEditor`, which skip the library's per-call type checks:
  they must answer exactly as `MsdrgGrouper.group` / `MceEditor.edit` on every kind of claim.
* Per-engine caches (facts per typed text, procedure validity) and the comorbidity scorer's memo
  are bounded, answer alike after eviction, and belong to one code-set version: an engine over
  another release never sees the first engine's facts.
* Rules that declare when they can fire (`needs`, `needs_categories`) are skipped only when they
  could not have fired: the engine answers as if every rule ran.
* `fast_init` gives the hot frozen value types a cheaper `__init__` with the dataclass's own
  parameters, defaults, values, equality, hash and immutability.

Speed itself is measured by `smartcoders bench validate`, never asserted here.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import MISSING, FrozenInstanceError, dataclass, field, fields, make_dataclass, replace
from datetime import date
from functools import cache
from typing import Any

import msdrg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.codesets import drg as drg_module
from app.codesets.comorbidity import ComorbidityTables, IndexTable, PycomorbScorer, default_comorbidity_scorer
from app.codesets.drg import MsdrgClaimEditor, _Grouper, _MceContext, _MceEditor, default_claim_editor
from app.codesets.frozen import fast_init
from app.codesets.icd10cm import default_codeset
from app.codesets.pcs import default_pcs
from app.codesets.types import Claim, CodeInfo, ComorbidityResult, DrgResult, SearchHit
from app.validation import ChartInput, DiagnosisRow, Engine, Finding, ProcedureRow, RecordType, ValidationResult
from app.validation.engine import default_engine
from app.validation.model import Setting, Summary

pytestmark = pytest.mark.slow  # loads the code sets and msdrg's native contexts


# --- msdrg without its per-call checks ---------------------------------------------------------

DX = ("J189", "J9601", "N179", "E1122", "N184", "I129", "O80", "Z370", "I469", "I2119", "F0280", "V0001XA")
DX += ("Y6551", "S72009A", "H05019", "E11", "XXXX", "B952", "Z5189", "N186", "E119", "I5023", "A419", "R6520")
PROCS = ("0DTJ4ZZ", "5A1955Z", "02703DZ", "10D00Z1", "0TY00Z0", "0FYG0Z0", "ZZZZZZZ")


def requests() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(grouper request, MCE request) pairs over every shipped grouper, ages, sexes, statuses."""
    versions = sorted(msdrg.MsdrgGrouper.available_versions())
    for n in range(120):
        dx = [DX[(n * 7 + k * 5) % len(DX)] for k in range(1 + n % 9)]
        procs = [PROCS[(n + k) % len(PROCS)] for k in range(n % 3)]
        age, sex, status = (0, 1, 9, 15, 30, 65, 90, 130)[n % 8], n % 3, (1, 20)[n % 2]
        codes = {
            "pdx": {"code": dx[0]},
            "sdx": [{"code": c} for c in dx[1:]],
            "procedures": [{"code": p} for p in procs],
        }
        when = (2016 + n % 11) * 10000 + (1 + n % 12) * 100 + 1 + n % 28  # YYYYMMDD, 2016-2026
        base = {"age": age, "sex": sex, "discharge_status": status}
        yield {"version": versions[n % len(versions)], **base, **codes}, {"discharge_date": when, **base, **codes}


def test_grouper_and_mce_answer_exactly_as_the_library() -> None:
    with msdrg.MsdrgGrouper() as public, _Grouper() as fast, msdrg.MceEditor() as mce, _MceEditor() as fast_mce:
        for group_request, mce_request in requests():
            assert fast.group(group_request) == public.group(group_request)  # type: ignore[arg-type]
            assert fast_mce.edit(mce_request) == mce.edit(mce_request)  # type: ignore[arg-type]


def test_a_closed_fast_grouper_raises_the_library_error() -> None:
    grouper, editor = _Grouper(), _MceEditor()
    grouper.close()
    editor.close()
    with pytest.raises(RuntimeError, match="closed"):
        grouper.group({"version": 431, "age": 65, "sex": 0, "discharge_status": 1, "pdx": {"code": "J189"}})
    with pytest.raises(RuntimeError, match="closed"):
        editor.edit({"discharge_date": 20260115, "age": 65, "sex": 0, "pdx": {"code": "J189"}})


def test_grouper_versions_by_date_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drg_module, "_VERSION_CACHE_LIMIT", 3)
    with MsdrgClaimEditor() as editor:
        for day in range(1, 8):
            on = date(2025, 10 + day % 3, day)
            result = editor.group(Claim(65, "M", on, True, ("J189", "J9601")))
            assert result.grouper_version == editor.grouper_version_for(on)
            assert len(editor._version_by_date) <= 3


# --- per-engine caches -------------------------------------------------------------------------


def fresh_engine() -> Engine:
    return Engine(default_codeset(), default_claim_editor(), default_comorbidity_scorer(), default_pcs())


@cache
def every_rule_engine() -> Engine:
    """An engine that runs every rule on every chart (its gates switched off)."""
    engine = fresh_engine()
    engine._ungated, engine._gated = engine.rules, ()
    return engine


def chart(*codes: str, procedures: tuple[str, ...] = ()) -> ChartInput:
    return ChartInput(
        age=70,
        sex="F",
        discharge_date=date(2026, 5, 1),
        diagnoses=tuple(DiagnosisRow(c, principal=n == 0) for n, c in enumerate(codes)),
        procedures=tuple(ProcedureRow(p) for p in procedures),
        record_type=RecordType.OTHER,
    )


def test_the_typed_text_caches_are_bounded_and_answer_alike_after_eviction() -> None:
    engine = fresh_engine()
    engine.shared.limit = 16
    first = chart("J18.9", "j9601", " N17.9", "E11.22", procedures=("0dtj4zz", "BADCODE"))
    before = engine.validate(first).as_json()
    spellings = [f"{k[:3]}.{k[3:]}" for k in default_codeset().all_billable_keys()[:60:3]]
    for n in range(0, len(spellings), 4):
        engine.validate(chart(*spellings[n : n + 4], procedures=(f"0DTJ{n % 10}ZZ",)))
        assert len(engine.shared.spellings) <= 16
        assert len(engine._procedures) <= 16
    assert engine.validate(first).as_json() == before == default_engine().validate(first).as_json()


class ReleaseWithNewTitles:
    """The default release under another version name, with two titles reworded (a later release
    may reword a title; the engine's per-code facts must come from the release it was built on)."""

    version = "ICD-10-CM TEST (titles reworded)"

    def __init__(self) -> None:
        self.real = default_codeset()
        self.titles = {"E119": "Type 2 diabetes mellitus, unspecified", "J9601": "Acute hypoxic respiratory failure"}

    def lookup(self, code: str) -> CodeInfo | None:
        info = self.real.lookup(code)
        if info is not None and info.key in self.titles:
            return replace(info, description=self.titles[info.key])
        return info

    def search(self, query: str, limit: int = 20) -> list[SearchHit]:
        return self.real.search(query, limit)


def messages(result: Any, rule_id: str) -> list[str]:
    return [f.message for f in result.findings if f.rule_id == rule_id]


def test_code_facts_belong_to_the_release_an_engine_was_built_on() -> None:
    reworded = Engine(ReleaseWithNewTitles(), default_claim_editor(), default_comorbidity_scorer(), default_pcs())
    default = default_engine()
    # E11.9 "without complications" contradicts E11.65; in the reworded release its title no
    # longer says so, so R-CMB-01 (read from titles) is silent there, and only there.
    contradiction = chart("J18.9", "J96.01", "E11.9", "E11.65")
    for _ in range(2):  # either order of first use: neither engine sees the other's facts
        for engine in (default, reworded, default):
            result = engine.validate(contradiction)
            mine = engine is reworded
            assert result.code_set_version == (ReleaseWithNewTitles.version if mine else default.version)
            assert bool(messages(result, "R-CMB-01")) is not mine
            title = "Acute hypoxic respiratory failure" if mine else "Acute respiratory failure with hypoxia"
            assert messages(result, "R-DRG-01") == [f"J96.01 ({title}) is an MCC."]


def test_the_comorbidity_memo_is_bounded_and_belongs_to_its_tables() -> None:
    one = ComorbidityTables(
        charlson=IndexTable(categories=("A",), weights=(1,), rules=()),
        elixhauser=IndexTable(categories=("P",), weights=(10,), rules=()),
        codes={"K1": ((0,), ()), "Q": ((), (0,))},
        source="built",
    )
    other = replace(one, codes={"K1": ((), (0,))})
    small = PycomorbScorer(tables=one, memo_limit=2)
    spellings = ["K1", " k.1 ", "Q1", "Q22", "Z99", "k1", "K1"]
    expected = [PycomorbScorer(tables=one).score([s], age=40) for s in spellings]
    assert [small.score([s], age=40) for s in spellings] == expected
    assert len(small._memo) <= 2
    assert PycomorbScorer(tables=other).score(["K1"], age=40).elixhauser_rows == {"P": (0,)}
    assert small.score(["K1"], age=40).charlson_rows == {"A": (0,)}


# --- rule gates are necessary conditions -------------------------------------------------------

EDGE_CODES = (
    *("J18.9", "J96.01", "N17.9", "E11.22", "N18.4", "I12.9", "I12.0", "N18.6", "I13.0", "I50.23", "E11.9"),
    *("E11.65", "E10.9", "O80", "Z37.0", "Z37.1", "O24.410", "P07.30", "R65.20", "A41.9", "G30.9", "F02.80"),
    *("Z00.00", "Z51.11", "Z38.00", "B96.20", "Y65.51", "W19.XXXA", "S72.001", "S7200A", "S72.001Z", "E11"),
    *("e119", " I10 ", "12345", "E11..9", "T36.0X1A", "T3601A", "K21.9", "K21.00", "D63.1", "J44.1", "J44.0"),
)
EDGE_PROCS = ("0DTJ4ZZ", "10D00Z1", "10E0XZZ", "0TY00Z0", "0FYG0Z0", "ABCDEFG", "123", "5A1955Z")


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    codes=st.lists(st.sampled_from(EDGE_CODES), max_size=9),
    procedures=st.lists(st.sampled_from(EDGE_PROCS), max_size=3),
    principal=st.integers(min_value=-1, max_value=3),
    age=st.sampled_from((0, 5, 30, 70)),
    sex=st.sampled_from(("M", "F")),
    record_type=st.sampled_from((None, *RecordType)),
    setting=st.sampled_from(tuple(Setting)),
    alive=st.booleans(),
)
def test_gated_rules_answer_as_if_every_rule_ran(
    *,
    codes: list[str],
    procedures: list[str],
    principal: int,
    age: int,
    sex: str,
    record_type: RecordType | None,
    setting: Setting,
    alive: bool,
) -> None:
    subject = ChartInput(
        age=age,
        sex=sex,  # type: ignore[arg-type]
        discharge_date=date(2024, 3, 1) if age == 5 else date(2026, 5, 1),
        diagnoses=tuple(DiagnosisRow(c, principal=n == principal) for n, c in enumerate(codes)),
        procedures=tuple(ProcedureRow(p) for p in procedures),
        record_type=record_type,
        discharged_alive=alive,
        setting=setting,
    )
    assert default_engine().validate(subject) == every_rule_engine().validate(subject)


# --- fast_init ---------------------------------------------------------------------------------

FAST_INIT = (Finding, Summary, ValidationResult, Claim, DrgResult, ComorbidityResult, _MceContext)


@pytest.mark.parametrize("cls", FAST_INIT, ids=lambda c: c.__name__)
def test_fast_init_builds_what_the_dataclass_init_builds(cls: type[Any]) -> None:
    reference = make_dataclass(
        cls.__name__,
        [(f.name, f.type, field(default=f.default, default_factory=f.default_factory)) for f in fields(cls)],
        frozen=True,
        slots=True,
    )
    ours, theirs = inspect.signature(cls), inspect.signature(reference)
    assert list(ours.parameters) == list(theirs.parameters)
    for f in fields(cls):
        mine, expected = ours.parameters[f.name], theirs.parameters[f.name]
        assert mine.kind == expected.kind
        assert (mine.default is inspect.Parameter.empty) == (expected.default is inspect.Parameter.empty)
        if f.default_factory is MISSING:
            assert mine.default == expected.default
    required = [
        f"value {n}" for n, f in enumerate(fields(cls)) if f.default is MISSING and f.default_factory is MISSING
    ]
    everything = [f"value {n}" for n in range(len(fields(cls)))]
    for args in (required, everything):
        built, expected_value = cls(*args), reference(*args)
        assert [getattr(built, f.name) for f in fields(cls)] == [getattr(expected_value, f.name) for f in fields(cls)]
        assert hashed(built) == hashed(expected_value)  # or both unhashable (a dict field)
        assert built == replace(built)
        with pytest.raises(FrozenInstanceError):
            setattr(built, fields(cls)[0].name, "changed")
    keywords = {f.name: f"keyword {f.name}" for f in fields(cls)}
    assert cls(**keywords) == cls(*keywords.values())
    factories = [f.name for f in fields(cls) if f.default_factory is not MISSING]
    for name in factories:  # a fresh default per instance, as the dataclass does
        assert getattr(cls(*required), name) is not getattr(cls(*required), name)


def hashed(value: object) -> int | str:
    try:
        return hash(value)
    except TypeError as unhashable:
        return str(unhashable)


def test_fast_init_refuses_what_it_cannot_build_alike() -> None:
    @dataclass(slots=True)
    class Mutable:
        a: int

    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(frozen=True, slots=True)
    class PostInit:
        a: int

        def __post_init__(self) -> None: ...

    @dataclass(frozen=True, slots=True)
    class KeywordOnly:
        a: int = field(kw_only=True)

    for cls in (Mutable, NoSlots, PostInit, KeywordOnly):
        with pytest.raises(TypeError):
            fast_init(cls)
