"""Audit scores (``app.services.audits.code_scores`` and ``corrected_codes``) against worked examples.

Pure functions: no database. The formula, in the ``code_scores`` docstring:
code-over-code accuracy = coder's correct codes / codes in the reviewer's final list.
"""

from __future__ import annotations

import uuid

import pytest

from app.services.audits import MissingCode, RowVerdict, code_scores, corrected_codes
from app.validation import DiagnosisRow, ProcedureRow
from datalayer.queries.charts import StoredCode


def _code(code: str, sequence: int, *, principal: bool = False, kind: str = "diagnosis") -> StoredCode:
    return StoredCode(
        id=uuid.uuid4(),
        kind=kind,
        code_system="ICD-10-CM" if kind == "diagnosis" else "ICD-10-PCS",
        code=code,
        description=None,
        rationale="why",
        override_rationale=None,
        sequence=sequence,
        is_principal=principal,
    )


def _verdicts(codes: list[StoredCode], *verdicts: str, expected: dict[int, str] | None = None) -> list[RowVerdict]:
    expected = expected or {}
    return [
        RowVerdict(c.id, v, expected_code=expected.get(i)) for i, (c, v) in enumerate(zip(codes, verdicts, strict=True))
    ]


def test_docstring_example_three_of_five() -> None:
    # 5 coded: 3 correct, 1 wrong code (replaced), 1 should-not-code; 1 missing added.
    # Final list 3 + 1 + 1 = 5, coder right on 3: 3/5 = 0.6.
    codes = [
        _code("J18.9", 1, principal=True),
        _code("E11.9", 2),
        _code("I10", 3),
        _code("E78.5", 4),
        _code("Z87.891", 5),
    ]
    verdicts = _verdicts(codes, "correct", "correct", "correct", "wrong_code", "should_not_code", expected={3: "E78.0"})
    scores = code_scores(codes, verdicts, [MissingCode("E87.1")])
    assert (scores.coder_correct, scores.final_count, scores.code_accuracy) == (3, 5, 0.6)
    assert scores.principal_correct is True


def test_all_correct_is_one() -> None:
    codes = [_code("J18.9", 1, principal=True), _code("E11.9", 2)]
    scores = code_scores(codes, _verdicts(codes, "correct", "correct"), [])
    assert (scores.code_accuracy, scores.principal_correct) == (1.0, True)


def test_wrong_sequence_keeps_the_code_right_but_not_the_principal() -> None:
    # The principal is right as a code but belongs second: 2/2 codes right, principal wrong.
    codes = [_code("E11.9", 1, principal=True), _code("J18.9", 2)]
    scores = code_scores(codes, _verdicts(codes, "wrong_sequence", "correct"), [])
    assert (scores.code_accuracy, scores.principal_correct) == (1.0, False)


def test_under_coding_grows_the_denominator() -> None:
    # 2 coded, both right, 2 missing: 2 / 4 = 0.5.
    codes = [_code("J18.9", 1, principal=True), _code("E11.9", 2)]
    scores = code_scores(codes, _verdicts(codes, "correct", "correct"), [MissingCode("E87.1"), MissingCode("I10")])
    assert scores.code_accuracy == 0.5


def test_over_coding_only_costs_the_displaced_code() -> None:
    # 3 coded: 2 right, 1 not supported; final list 2: 2/2 = 1.0 (case-level scores catch the rest).
    codes = [_code("J18.9", 1, principal=True), _code("E11.9", 2), _code("I50.9", 3)]
    scores = code_scores(codes, _verdicts(codes, "correct", "correct", "not_supported"), [])
    assert scores.code_accuracy == 1.0


def test_a_missing_principal_makes_the_principal_wrong() -> None:
    # Coder's principal is replaced (wrong code), the secondary should not be coded, and a missing
    # diagnosis becomes principal: final list = 1 (the expected code) + 1 missing = 2, right 0 → 0.0.
    codes = [_code("J18.9", 1, principal=True), _code("E11.9", 2)]
    verdicts = _verdicts(codes, "wrong_code", "should_not_code", expected={0: "J15.9"})
    scores = code_scores(codes, verdicts, [MissingCode("A41.9", is_principal=True)])
    assert (scores.coder_correct, scores.final_count, scores.code_accuracy) == (0, 2, 0.0)
    assert scores.principal_correct is False


def test_rounded_to_four_places() -> None:
    codes = [_code("J18.9", 1, principal=True), _code("E11.9", 2)]
    scores = code_scores(
        codes, _verdicts(codes, "correct", "not_supported"), [MissingCode("I10"), MissingCode("E87.1")]
    )
    assert scores.code_accuracy == pytest.approx(0.3333)


def test_nothing_to_code_and_nothing_coded_is_one() -> None:
    assert code_scores([], [], []).code_accuracy == 1.0


def test_corrected_codes_apply_every_verdict() -> None:
    codes = [
        _code("J18.9", 1, principal=True),
        _code("E11.9", 2),
        _code("I50.9", 3),
        _code("0BH17EZ", 1, kind="procedure"),
    ]
    verdicts = _verdicts(codes, "correct", "wrong_code", "not_supported", "correct", expected={1: "E11.65"})
    dx, px = corrected_codes(codes, verdicts, [MissingCode("E87.1"), MissingCode("5A1955Z", kind="procedure")])
    assert dx == (DiagnosisRow("J18.9", True), DiagnosisRow("E11.65", False), DiagnosisRow("E87.1", False))
    assert px == (ProcedureRow("0BH17EZ", "ICD-10-PCS"), ProcedureRow("5A1955Z", "ICD-10-PCS"))


def test_corrected_codes_move_the_principal() -> None:
    codes = [_code("E11.9", 1, principal=True), _code("J18.9", 2)]
    # wrong sequence with no missing principal: the first other kept diagnosis becomes principal
    dx, _ = corrected_codes(codes, _verdicts(codes, "wrong_sequence", "correct"), [])
    assert dx == (DiagnosisRow("J18.9", True), DiagnosisRow("E11.9", False))
    # a missing code marked principal takes the place
    dx, _ = corrected_codes(codes, _verdicts(codes, "correct", "correct"), [MissingCode("A41.9", is_principal=True)])
    assert dx[0] == DiagnosisRow("A41.9", True)
    assert [d.principal for d in dx] == [True, False, False]
