"""Every rule of CODING-RULES.md: a positive case that fires on the right rows and a negative case
that stays silent, built from the guideline text and the FY2026 tabular (no copied test data).

Charts are written as lists of codes; the first is flagged principal unless a test says
otherwise. Rows in assertions are 1-based, as the coder sees them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.validation import ChartInput, DiagnosisRow, Engine, ProcedureRow, RecordType, ValidationResult
from app.validation.engine import default_engine
from app.validation.model import Setting, setting_for
from app.validation.registry import RULES

pytestmark = pytest.mark.slow  # the first test in a process loads the code sets


@pytest.fixture(scope="module")
def engine() -> Engine:
    return default_engine()


def chart(
    codes: Iterable[str],
    *,
    age: int = 60,
    sex: str = "F",
    discharge: date = date(2026, 5, 1),
    principal: int | None = 1,
    overrides: dict[int, str] | None = None,
    procedures: Iterable[str] = (),
    record_type: RecordType | None = RecordType.OTHER,
    alive: bool = True,
) -> ChartInput:
    overrides = overrides or {}
    return ChartInput(
        age=age,
        sex=sex,  # type: ignore[arg-type]
        discharge_date=discharge,
        diagnoses=tuple(
            DiagnosisRow(c, principal=(n == principal), override_rationale=overrides.get(n))
            for n, c in enumerate(codes, start=1)
        ),
        procedures=tuple(ProcedureRow(p) for p in procedures),
        record_type=record_type,
        discharged_alive=alive,
    )


def fired(result: ValidationResult, rule_id: str) -> list[tuple[int, ...]]:
    return [f.rows for f in result.findings if f.rule_id == rule_id]


def severities(result: ValidationResult, rule_id: str) -> set[str]:
    return {f.severity.value for f in result.findings if f.rule_id == rule_id}


def run(engine: Engine, *codes: str, **kw: Any) -> ValidationResult:
    return engine.validate(chart(codes, **kw))


CATALOGUE = [
    "R-FMT-01",
    "R-FMT-02",
    "R-FMT-03",
    "R-FMT-04",
    "R-FMT-05",
    "R-FMT-06",
    "R-SEQ-00",
    "R-SEQ-01",
    "R-SEQ-02",
    "R-SEQ-03",
    "R-SEQ-04",
    "R-SEQ-05",
    "R-SEQ-06",
    "R-SEQ-08",
    "R-SEQ-09",
    "R-EXC-01",
    "R-EXC-02",
    "R-CMB-01",
    "R-MCE-04",
    "R-MCE-05",
    "R-MCE-08",
    "R-MCE-09",
    "R-MCE-18",
    "R-MCE-20",
    "R-DRG-01",
    "R-DRG-02",
    "R-DRG-03",
    "R-COM-01",
    "R-COM-02",
]


def test_every_catalogue_rule_is_registered_with_its_metadata() -> None:
    assert sorted(RULES) == sorted(CATALOGUE)
    for rule in RULES.values():
        assert rule.guideline_ref
        assert rule.category.value in {"format", "sequencing", "comorbidity"}
    assert RULES["R-EXC-01"].overridable
    assert RULES["R-EXC-02"].severity.value == "info"
    assert RULES["R-SEQ-03"].severity.value == "warning"


def test_a_clean_chart_has_no_errors_and_a_drg(engine: Engine) -> None:
    result = run(engine, "J18.9", "I10", "E78.5")
    assert result.summary.errors == 0, result.findings
    assert result.summary.can_submit
    assert result.summary.ms_drg in {193, 194, 195}
    assert result.code_set_version.startswith("ICD-10-CM FY2026")


# --- Format ----------------------------------------------------------------------------------


def test_fmt06_syntax_errors_and_normalisation(engine: Engine) -> None:
    result = run(engine, "J18.9", "1E11.9", "E1", "E11.99999", "E11-9")
    assert fired(result, "R-FMT-06") == [(2,), (3,), (4,), (5,)]
    assert severities(result, "R-FMT-06") == {"error"}
    assert not fired(result, "R-FMT-01")  # one typo, one finding

    normalised = run(engine, "j189", " e11.9 ")
    info = [f for f in normalised.findings if f.rule_id == "R-FMT-06"]
    assert [f.rows for f in info] == [(1,), (2,)]
    assert {f.severity.value for f in info} == {"info"}
    assert "J18.9" in info[0].message
    assert "upper-cased" in info[0].message
    assert normalised.summary.errors == 0

    assert not fired(run(engine, "J18.9", "E11.9"), "R-FMT-06")


def test_fmt01_categories_and_unknown_codes_are_not_reportable(engine: Engine) -> None:
    result = run(engine, "J18.9", "E11", "E11.6", "J18.7")
    assert fired(result, "R-FMT-01") == [(2,), (3,), (4,)]
    messages = [f.message for f in result.findings if f.rule_id == "R-FMT-01"]
    assert "category" in messages[0]
    assert "subcategory" in messages[1]
    assert "not a code" in messages[2]
    assert not fired(run(engine, "J18.9", "E11.9", "E11.65"), "R-FMT-01")


def test_fmt02_seventh_character_required(engine: Engine) -> None:
    result = run(engine, "S72.001", "W19.XXXA", principal=1)
    assert fired(result, "R-FMT-02") == [(1,)]
    assert not fired(result, "R-FMT-01")
    assert "7th character" in result.findings[0].message
    # Needs placeholder padding too: S72.0 has no 6th character.
    assert "placeholder" in next(f.message for f in run(engine, "S02.0").findings if f.rule_id == "R-FMT-02")
    assert not fired(run(engine, "S72.001A"), "R-FMT-02")


def test_fmt03_placeholder_x_before_the_seventh_character(engine: Engine) -> None:
    result = run(engine, "T36.01A")
    assert fired(result, "R-FMT-03") == [(1,)]
    assert "T36.0X1A" in result.findings[0].message
    assert not fired(result, "R-FMT-01")
    assert not fired(run(engine, "T36.0X1A"), "R-FMT-03")


def test_fmt04_seventh_character_must_be_defined(engine: Engine) -> None:
    result = run(engine, "S72.001Z")
    assert fired(result, "R-FMT-04") == [(1,)]
    assert "'Z'" in result.findings[0].message
    assert not fired(result, "R-FMT-01")
    assert not fired(run(engine, "S72.001A"), "R-FMT-04")


def test_fmt05_each_code_once_after_normalisation(engine: Engine) -> None:
    result = run(engine, "J18.9", "I10", "E78.5", "i10")
    assert fired(result, "R-FMT-05") == [(2, 4)]
    assert not fired(run(engine, "J18.9", "I10", "E78.5"), "R-FMT-05")


def test_pcs_procedures_are_checked_for_shape_and_existence(engine: Engine) -> None:
    result = run(engine, "J18.9", procedures=["0DTJ4ZZ", "0DTJ4Z", "0DTJ4ZI", "0DTJZZZ"])
    by_rule = {(f.rule_id, f.procedure_rows) for f in result.findings if f.procedure_rows}
    assert ("R-FMT-06", (2,)) in by_rule
    assert ("R-FMT-06", (3,)) in by_rule
    assert ("R-FMT-01", (4,)) in by_rule
    assert not any(1 in f.procedure_rows for f in result.findings if f.severity.value == "error")


# --- Sequencing ------------------------------------------------------------------------------


def test_seq00_exactly_one_principal(engine: Engine) -> None:
    assert fired(run(engine, "J18.9", "I10", principal=None), "R-SEQ-00") == [(1,)]
    two = engine.validate(
        ChartInput(60, "F", date(2026, 5, 1), (DiagnosisRow("J18.9", True), DiagnosisRow("I10", True)))
    )
    assert fired(two, "R-SEQ-00") == [(1, 2)]
    assert not fired(run(engine, "J18.9", "I10"), "R-SEQ-00")


def test_seq01_external_cause_is_never_principal(engine: Engine) -> None:
    assert fired(run(engine, "W19.XXXA", "S72.001A"), "R-SEQ-01") == [(1,)]
    assert not fired(run(engine, "S72.001A", "W19.XXXA"), "R-SEQ-01")


def test_seq02_manifestation_is_never_principal(engine: Engine) -> None:
    result = run(engine, "F02.80", "G30.9", age=80)
    assert fired(result, "R-SEQ-02") == [(1,)]
    assert not fired(run(engine, "G30.9", "F02.80", age=80), "R-SEQ-02")


def test_seq03_code_first_note_on_the_category(engine: Engine) -> None:
    # F02's "code first the underlying physiological condition" sits on the category, not F02.80.
    missing = run(engine, "J18.9", "F02.80", age=80)
    assert fired(missing, "R-SEQ-03") == [(2,)]
    assert severities(missing, "R-SEQ-03") == {"warning"}
    assert "F02" in next(f.message for f in missing.findings if f.rule_id == "R-SEQ-03")
    after = run(engine, "J18.9", "F02.80", "G30.9", age=80)
    assert fired(after, "R-SEQ-03") == [(2, 3)]
    assert not fired(run(engine, "J18.9", "G30.9", "F02.80", age=80), "R-SEQ-03")


def test_seq03_a_plain_code_first_list_only_orders_what_is_present(engine: Engine) -> None:
    # I50 lists conditions that go first *when present* (no "such as", no "underlying"):
    # heart failure alone is fine; with hypertensive heart disease I11.0 after it, it is not.
    assert not fired(run(engine, "J18.9", "I50.21"), "R-SEQ-03")
    assert fired(run(engine, "J18.9", "I50.21", "I11.0"), "R-SEQ-03") == [(2, 3)]
    # D63.1 "code first underlying chronic kidney disease (N18.-)" requires the CKD code.
    assert fired(run(engine, "J18.9", "D63.1"), "R-SEQ-03") == [(2,)]
    assert not fired(run(engine, "J18.9", "N18.4", "D63.1"), "R-SEQ-03")


def test_seq04_hypertensive_ckd_needs_a_stage(engine: Engine) -> None:
    result = run(engine, "J18.9", "I12.9")
    assert fired(result, "R-SEQ-04") == [(2,)]
    assert "N18" in result.findings[-1].message or any("N18" in f.message for f in result.findings)
    assert not fired(run(engine, "J18.9", "I12.9", "N18.30"), "R-SEQ-04")
    assert fired(run(engine, "I13.0", "N18.30"), "R-SEQ-04") == [(1,)]  # I13.0 also needs I50.-
    assert not fired(run(engine, "I13.0", "N18.30", "I50.22"), "R-SEQ-04")
    assert fired(run(engine, "J18.9", "E11.22"), "R-SEQ-04") == [(2,)]


def test_seq05_first_listed_only_z_codes(engine: Engine) -> None:
    assert fired(run(engine, "J18.9", "Z00.00"), "R-SEQ-05") == [(2,)]
    assert fired(run(engine, "J18.9", "Z51.11"), "R-SEQ-05") == [(2,)]
    assert not fired(run(engine, "Z00.00", "I10"), "R-SEQ-05")
    assert not fired(run(engine, "J18.9", "Z00.6"), "R-SEQ-05")  # the listed exception
    assert not fired(run(engine, "J18.9", "Z52.9"), "R-SEQ-05")


def test_seq06_severe_sepsis_is_never_principal(engine: Engine) -> None:
    assert fired(run(engine, "R65.20", "A41.9"), "R-SEQ-06") == [(1,)]
    assert not fired(run(engine, "A41.9", "R65.20"), "R-SEQ-06")


def test_seq08_normal_delivery(engine: Engine) -> None:
    maternal = {"record_type": RecordType.MATERNAL, "age": 28}
    assert fired(run(engine, "O80", "Z37.0", "Z3A.39", **maternal), "R-SEQ-08") == []
    assert fired(run(engine, "Z3A.39", "O80", "Z37.0", **maternal), "R-SEQ-08") == [(2,)]
    assert fired(run(engine, "O80", "O99.891", "Z37.0", **maternal), "R-SEQ-08") == [(1, 2)]
    assert fired(run(engine, "O80", "Z37.2", **maternal), "R-SEQ-08") == [(1, 2)]


def test_seq09_record_types_and_outcome_of_delivery(engine: Engine) -> None:
    assert fired(run(engine, "O80", "Z37.0", record_type=RecordType.NEWBORN, age=0), "R-SEQ-09") == [(1,), (2,)]
    assert fired(run(engine, "O26.899", "P07.30", record_type=RecordType.MATERNAL, age=30), "R-SEQ-09") == [(2,)]
    no_outcome = run(engine, "O80", "Z3A.39", record_type=RecordType.MATERNAL, age=30)
    assert fired(no_outcome, "R-SEQ-09") == [(1,)]
    assert not fired(run(engine, "O80", "Z37.0", record_type=RecordType.MATERNAL, age=30), "R-SEQ-09")
    assert not fired(run(engine, "P07.30", "Z38.00", record_type=RecordType.NEWBORN, age=0), "R-SEQ-09")
    # A cesarean procedure makes it a delivery record too.
    cesarean = run(engine, "O32.1XX0", procedures=["10D00Z1"], record_type=RecordType.MATERNAL, age=30)
    assert [f.procedure_rows for f in cesarean.findings if f.rule_id == "R-SEQ-09"] == [(1,)]


# --- Excludes and combinations ---------------------------------------------------------------


def test_exc01_excludes1_pair_and_override(engine: Engine) -> None:
    result = run(engine, "J18.9", "E11.9", "I10", "E10.9")
    assert fired(result, "R-EXC-01") == [(2, 4)]
    finding = next(f for f in result.findings if f.rule_id == "R-EXC-01")
    assert finding.severity.value == "error"
    assert finding.blocking
    assert "E11" in finding.message
    overridden = run(engine, "J18.9", "E11.9", "I10", "E10.9", overrides={4: "Documented as two unrelated conditions."})
    finding = next(f for f in overridden.findings if f.rule_id == "R-EXC-01")
    assert finding.overridden
    assert not finding.blocking
    assert not fired(run(engine, "J18.9", "E11.9", "I10"), "R-EXC-01")


def test_exc01_note_that_sits_only_on_the_block(engine: Engine) -> None:
    # Block I10-I1A (hypertensive diseases) carries Excludes1 "neonatal hypertension (P29.2)";
    # neither I10 nor its category says it.
    info = engine.codes.lookup("I10")
    assert info is not None
    own = {n.text for n in info.notes}
    assert not any("P29.2" in t for t in own)
    result = run(engine, "I10", "P29.2", record_type=None)
    assert fired(result, "R-EXC-01") == [(1, 2)]


def test_exc02_excludes2_is_never_an_error(engine: Engine) -> None:
    result = run(engine, "S72.001A", "S82.001A", "W19.XXXA")
    assert fired(result, "R-EXC-02") == [(1, 2)]
    assert severities(result, "R-EXC-02") == {"info"}
    assert not fired(result, "R-EXC-01")


def test_cmb01_without_complications_contradicts_a_complication(engine: Engine) -> None:
    result = run(engine, "J18.9", "E11.9", "E11.65")
    assert fired(result, "R-CMB-01") == [(2, 3)]
    assert not fired(run(engine, "J18.9", "E11.65", "E11.22", "N18.30"), "R-CMB-01")


# --- Medicare Code Editor --------------------------------------------------------------------


def test_mce04_age_conflict(engine: Engine) -> None:
    result = run(engine, "O80", "Z37.0", age=70, record_type=RecordType.MATERNAL)
    assert fired(result, "R-MCE-04") == [(1, 2)]  # O80 and Z37.0 are both maternity codes (9-64)
    assert not fired(run(engine, "O80", "Z37.0", age=30, record_type=RecordType.MATERNAL), "R-MCE-04")


def test_mce05_sex_conflict_follows_the_discharge_date(engine: Engine) -> None:
    before = run(engine, "N40.0", "I10", sex="F", age=70, discharge=date(2024, 5, 1))
    assert fired(before, "R-MCE-05") == [(1,)]
    assert not fired(run(engine, "N40.0", "I10", sex="F", age=70, discharge=date(2025, 5, 1)), "R-MCE-05")
    assert not fired(run(engine, "N40.0", "I10", sex="M", age=70, discharge=date(2024, 5, 1)), "R-MCE-05")


def test_mce08_questionable_admission_is_a_warning_on_the_principal(engine: Engine) -> None:
    result = run(engine, "I10", "E78.5")
    assert fired(result, "R-MCE-08") == [(1,)]
    assert severities(result, "R-MCE-08") == {"warning"}
    assert result.summary.can_submit
    assert not fired(run(engine, "E78.5", "I10"), "R-MCE-08")  # only as principal


def test_mce20_unspecified_laterality(engine: Engine) -> None:
    result = run(engine, "S72.009A", "W19.XXXA")
    assert fired(result, "R-MCE-20") == [(1,)]
    assert severities(result, "R-MCE-20") == {"warning"}
    assert not fired(run(engine, "S72.001A", "W19.XXXA"), "R-MCE-20")


def test_outpatient_visits_get_no_inpatient_admission_edits(engine: Engine) -> None:
    # Z00.00 opens a wellness visit (Guidelines Section IV) but is an unacceptable inpatient
    # principal (MCE edit 9); I10 is a questionable admission (edit 8) but a fine visit reason.
    def visit(*codes: str) -> ValidationResult:
        return engine.validate(replace(chart(codes), setting=Setting.OUTPATIENT))

    assert fired(run(engine, "Z00.00", "I10"), "R-MCE-09") == [(1,)]
    wellness = visit("Z00.00", "I10")
    assert not fired(wellness, "R-MCE-09")
    assert wellness.summary.can_submit
    assert any("inpatient stays" in note for note in wellness.summary.notes)
    assert not fired(visit("I10", "E78.5"), "R-MCE-08")
    # Never first-listed in any setting: B95-B97, Z37, Z3A, Z68.
    assert fired(visit("B95.0", "L03.115"), "R-MCE-09") == [(1,)]


def test_setting_follows_the_encounter_class() -> None:
    assert setting_for("IMP") is Setting.INPATIENT
    for outpatient in ("AMB", "EMER", "HH", None, ""):
        assert setting_for(outpatient) is Setting.OUTPATIENT


def test_mce09_unacceptable_principal(engine: Engine) -> None:
    assert fired(run(engine, "B95.0", "L03.115"), "R-MCE-09") == [(1,)]
    assert not fired(run(engine, "L03.115", "B95.0"), "R-MCE-09")


def test_mce18_wrong_procedure_any_position(engine: Engine) -> None:
    assert fired(run(engine, "S72.001A", "I10", "Y65.51"), "R-MCE-18") == [(3,)]
    assert not fired(run(engine, "S72.001A", "I10"), "R-MCE-18")


# --- Severity and comorbidity ----------------------------------------------------------------


def test_drg01_03_cc_mcc_and_the_drg(engine: Engine) -> None:
    result = run(engine, "J18.9", "I50.21", "I10")
    assert fired(result, "R-DRG-01") == [(2,)]
    assert "MCC" in next(f.message for f in result.findings if f.rule_id == "R-DRG-01")
    assert result.summary.ms_drg == 193
    assert result.summary.mcc_count == 1
    assert result.summary.drg_weight is not None
    assert result.summary.drg_weight > 1
    assert fired(result, "R-DRG-03") == [(1,)]
    plain = run(engine, "J18.9", "I10")
    assert plain.summary.ms_drg == 195
    assert not fired(plain, "R-DRG-01")


def test_com01_02_comorbidity_indices_name_their_rows(engine: Engine) -> None:
    result = run(engine, "J18.9", "I50.21", "E11.22", "N18.30", "I10")
    charlson = next(f for f in result.findings if f.rule_id == "R-COM-01")
    assert 2 in charlson.rows
    assert 3 in charlson.rows
    assert result.summary.charlson_index is not None
    assert result.summary.charlson_index >= 2
    assert fired(result, "R-COM-02")
    assert not fired(run(engine, "J18.9", "I10"), "R-COM-01")


# --- Properties ------------------------------------------------------------------------------

EXCLUDES_POOL = (
    "E10.9", "E11.9", "E11.65", "E13.9", "E08.9", "I10", "P29.2", "I27.0", "J18.9", "J44.1",
    "N18.30", "I12.9", "K21.9", "F32.A", "E78.5", "S72.001A", "S82.001A", "R73.9", "E16.2", "O24.419",
)  # fmt: skip


@given(
    principal=st.sampled_from(("J18.9", "I21.4", "N39.0", "A41.9")),
    secondaries=st.lists(st.sampled_from(EXCLUDES_POOL), min_size=1, max_size=8, unique=True),
    data=st.data(),
)
@settings(max_examples=150, deadline=None)
def test_reordering_secondaries_never_changes_excludes1(
    engine: Engine, principal: str, secondaries: list[str], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(secondaries))

    def pairs(codes: list[str]) -> set[frozenset[str]]:
        result = run(engine, principal, *codes)
        return {frozenset(result.normalised[n - 1] for n in f.rows) for f in result.findings if f.rule_id == "R-EXC-01"}

    assert pairs(secondaries) == pairs(list(shuffled))


@pytest.fixture(scope="module")
def billable(engine: Engine) -> list[str]:
    return list(engine.codes.all_billable_keys())  # type: ignore[attr-defined]


@given(index=st.integers(min_value=0), dotted=st.booleans(), lower=st.booleans())
@settings(max_examples=300, deadline=None)
def test_a_single_valid_billable_principal_never_raises_a_format_error(
    engine: Engine, billable: list[str], index: int, dotted: bool, lower: bool
) -> None:
    key = billable[index % len(billable)]
    code = f"{key[:3]}.{key[3:]}" if dotted and len(key) > 3 else key
    result = run(engine, code.lower() if lower else code, record_type=None)
    errors = [f for f in result.findings if f.rule_id.startswith("R-FMT") and f.severity.value == "error"]
    assert errors == [], (code, errors)


@given(
    codes=st.lists(st.sampled_from((*EXCLUDES_POOL, "E11", "S72.001", "T36.01A", "W19.XXXA", "Z00.00")), max_size=10)
)
@settings(max_examples=100, deadline=None)
def test_results_are_deterministic(engine: Engine, codes: list[str]) -> None:
    first = run(engine, *codes).as_json()
    assert run(engine, *codes).as_json() == first
