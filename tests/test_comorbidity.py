"""Comorbidity scoring (app.codesets.comorbidity): the fast path must answer exactly what pycomorb does.

Fast tests exercise the scoring mechanics on a hand-made table; the slow ones build the real tables
with pycomorb (~1.2 s, once per run) and compare against pycomorb's own `comorbidity()`, the
hypothesis test on random multi-code charts being the proof that the fast path is honest.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.codesets.comorbidity import (
    ComorbidityTables,
    IndexTable,
    PycomorbScorer,
    charlson_age_points,
    code_list_path,
    load_tables,
    tabular_keys,
)

# --- mechanics on a hand-made table ----------------------------------------------------------
#
#   Charlson-like index: A (1), B (2), C (4); rules in order: A suppresses B, then B suppresses C.
#   Elixhauser-like index: P (10).
#   Keys: "K1" -> A; "K2" -> B; "K3" -> C and P; prefix "Q" -> P (so "Q123" -> P).

TINY = ComorbidityTables(
    charlson=IndexTable(categories=("A", "B", "C"), weights=(1, 2, 4), rules=((0, 1), (1, 2))),
    elixhauser=IndexTable(categories=("P",), weights=(10,), rules=()),
    codes={"K1": ((0,), ()), "K2": ((1,), ()), "K3": ((2,), (0,)), "Q": ((), (0,))},
    source="built",
)


def tiny() -> PycomorbScorer:
    return PycomorbScorer(tables=TINY)


def test_categories_unite_over_rows_and_keep_their_rows() -> None:
    result = tiny().score(["K3", "Z99", "K3"], age=40)
    assert result.charlson_index == 4
    assert result.charlson_rows == {"C": (0, 2)}
    assert result.elixhauser_mortality == 10
    assert result.elixhauser_rows == {"P": (0, 2)}


def test_rules_apply_in_order_on_the_current_presence() -> None:
    # pycomorb applies A>B first; B is then absent, so B>C no longer suppresses C.
    assert tiny().score(["K1", "K2", "K3"], age=40).charlson_rows == {"A": (0,), "C": (2,)}
    assert tiny().score(["K2", "K3"], age=40).charlson_rows == {"B": (0,)}


def test_unknown_keys_take_their_prefixes_categories() -> None:
    assert tiny().score(["Q123"], age=40).elixhauser_rows == {"P": (0,)}
    assert tiny().score(["R123"], age=40).elixhauser_rows == {}


def test_keys_are_cleaned_like_pycomorb() -> None:
    assert tiny().score([" k.1 ", "", "q.5"], age=40).charlson_rows == {"A": (0,)}
    assert tiny().score([" k.1 ", "", "q.5"], age=40).elixhauser_rows == {"P": (2,)}


@pytest.mark.parametrize(("age", "points"), [(0, 0), (49, 0), (50, 1), (59, 1), (60, 2), (70, 3), (79, 3), (80, 4)])
def test_charlson_age_points(age: int, points: int) -> None:
    assert charlson_age_points(age) == points
    result = tiny().score(["K1"], age=age)
    assert (result.charlson_age_points, result.charlson_age_adjusted) == (points, 1 + points)


def test_code_list_holds_every_tabular_code() -> None:
    keys = tabular_keys(code_list_path())
    assert {"A00", "A000", "E119", "I5020", "S72001A"} <= set(keys)
    assert not any("-" in k for k in keys)  # blocks and chapters dropped


def run_fresh(code: str) -> str:
    """Run `code` in a new interpreter (to see which modules a path imports) and return its stdout."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.strip()


# --- the real tables ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("comorbidity-cache")


@pytest.fixture(scope="session")
def real(cache_dir: Path) -> PycomorbScorer:
    scorer = PycomorbScorer(cache_dir=cache_dir)
    assert scorer.warm().source == "built"
    return scorer


AGE_EDGES = (49, 50, 59, 60, 69, 70, 79, 80)


def pycomorb_scores(charts: Sequence[tuple[Sequence[str], int]]) -> list[dict[str, Any]]:
    """pycomorb's own answer, one row per chart: Charlson (quan/charlson) and Elixhauser (AHRQ ICD-10)."""
    from pycomorb import comorbidity

    ids: list[int] = []
    codes: list[str | None] = []
    ages: list[int] = []
    for n, (keys, age) in enumerate(charts):
        for key in keys or [None]:  # a chart without codes is a patient with a null code
            ids.append(n)
            codes.append(key)
            ages.append(age)
    frame = pl.DataFrame(
        {"id": ids, "code": codes, "age": ages, "year": [2026] * len(ids)},
        schema={"id": pl.Int64, "code": pl.String, "age": pl.Int64, "year": pl.Int64},
    )
    charlson = comorbidity("charlson", frame, implementation="quan", weights="charlson", return_categories=True)
    elixhauser = comorbidity(
        "elixhauser", frame, implementation="ahrq_icd10", weights="ahrq", year_col="year", return_categories=True
    )
    joined = charlson.join(elixhauser, on="id", suffix="_elix").sort("id")
    return joined.to_dicts()


def present(row: dict[str, Any], categories: Sequence[str]) -> set[str]:
    return {c for c in categories if row[c] == 1}


@pytest.mark.slow
def test_disk_cache_round_trip(real: PycomorbScorer, cache_dir: Path) -> None:
    built = real.warm()
    cached = load_tables(cache_dir)
    assert cached.source == "cache"
    assert (cached.charlson, cached.elixhauser, dict(cached.codes)) == (built.charlson, built.elixhauser, built.codes)
    (cache_file,) = cache_dir.glob("comorbidity-*.json")
    assert json.loads(cache_file.read_text())["identity"]["year"] == 2026


@pytest.mark.slow
def test_a_cached_scorer_imports_neither_pycomorb_nor_the_tabular(real: PycomorbScorer, cache_dir: Path) -> None:
    real.warm()  # the cache exists
    heavy = run_fresh(
        "import sys; from pathlib import Path; from app.codesets.comorbidity import PycomorbScorer; "
        f"s = PycomorbScorer(cache_dir=Path({str(cache_dir)!r})); "
        "print(s.warm().source, s.score(['I5020'], age=70).charlson_index, "
        "sorted(m for m in ('pycomorb', 'polars', 'pandas', 'simple_icd_10_cm') if m in sys.modules))"
    )
    assert heavy == "cache 1 []"


@pytest.mark.slow
def test_a_damaged_cache_is_rebuilt(tmp_path: Path, real: PycomorbScorer, cache_dir: Path) -> None:
    real.warm()
    (good,) = cache_dir.glob("comorbidity-*.json")
    (tmp_path / good.name).write_text("{not json")
    assert load_tables(tmp_path).source == "built"
    assert load_tables(tmp_path).source == "cache"


@pytest.mark.slow
def test_what_the_real_tables_hold(real: PycomorbScorer) -> None:
    tables = real.warm()
    assert len(tables.charlson.categories) == 18  # 17 Quan categories and pycomorb's "Age" placeholder
    assert len(set(tables.elixhauser.categories)) == 38  # AHRQ Refined measures
    charlson = dict(zip(tables.charlson.categories, tables.charlson.weights, strict=True))
    assert charlson["Metastatic solid tumor"] == 6  # Charlson 1987 weights
    assert charlson["Congestive heart failure"] == 1
    elixhauser = dict(zip(tables.elixhauser.categories, tables.elixhauser.weights, strict=True))
    assert elixhauser["Metastatic cancer"] == 22  # AHRQ mortality index
    assert elixhauser["Psychoses"] == -9


@pytest.mark.slow
@pytest.mark.parametrize("key", ["F051", "F0510", "F05"])
def test_a_prefix_of_one_index_is_scored_by_both(real: PycomorbScorer, key: str) -> None:
    # F051 is a Charlson (Quan) dementia prefix, not a tabular code; Elixhauser maps it through F05
    # (other neurological disorders). Found by the random-chart property below.
    (expected,) = pycomorb_scores([([key], 0)])
    result = real.score([key], age=0)
    assert result.charlson_index == expected["Charlson Comorbidity Index"]
    assert result.elixhauser_mortality == expected["Elixhauser Comorbidity Index"]
    assert "Other neurological disorders" in result.elixhauser_rows


@pytest.mark.slow
def test_known_chart(real: PycomorbScorer) -> None:
    # HF, type 2 diabetes without and with CKD (hierarchy keeps the complicated one), metastasis
    # to bone with breast cancer (metastatic suppresses the primary), dementia; age 83.
    keys = ["I50.20", "E11.9", "E1122", "C7951", "C50911", "F0390"]
    result = real.score(keys, age=83)
    assert result.charlson_rows == {
        "Congestive heart failure": (0,),
        "Dementia": (5,),
        "Diabetes with chronic complication": (2,),
        "Metastatic solid tumor": (3,),
    }
    assert (result.charlson_index, result.charlson_age_points) == (1 + 1 + 2 + 6, 4)
    assert "Solid tumor without metastasis, malignant" not in result.elixhauser_rows
    (expected,) = pycomorb_scores([(keys, 83)])
    assert result.charlson_age_adjusted == expected["Charlson Age-Comorbidity Score"]
    assert result.elixhauser_mortality == expected["Elixhauser Comorbidity Index"]


@pytest.mark.slow
def test_fast_path_equals_pycomorb_on_random_charts(real: PycomorbScorer) -> None:
    tables = real.warm()
    with_categories = sorted(tables.codes)
    keys = tabular_keys(code_list_path())
    without = [k for k in keys[::97] if k not in tables.codes]
    spellings = st.one_of(
        st.sampled_from(with_categories),
        st.sampled_from(without),
        st.sampled_from(with_categories).map(lambda k: f"{k[:3]}.{k[3:]}".lower()),
        st.sampled_from(with_categories).map(lambda k: k + "9"),  # not in the tabular: prefix path
        st.just(""),
    )
    charts = st.lists(
        st.tuples(st.lists(spellings, max_size=10), st.one_of(st.integers(0, 110), st.sampled_from(AGE_EDGES))),
        min_size=1,
        max_size=40,
    )

    @settings(max_examples=25, deadline=None, database=None)
    @given(charts)
    def check(batch: list[tuple[list[str], int]]) -> None:
        expected = pycomorb_scores(batch)
        singles = sorted({k for keys, _ in batch for k in keys})
        alone = dict(zip(singles, pycomorb_scores([([k], 0) for k in singles]), strict=True))
        charlson_names = tables.charlson.categories
        elixhauser_names = [f"{c}_elix" if c in charlson_names else c for c in tables.elixhauser.categories]
        for (chart, age), row in zip(batch, expected, strict=True):
            result = real.score(chart, age=age)
            assert result.charlson_index == row["Charlson Comorbidity Index"]
            assert result.charlson_age_points == row["Age Score"]
            assert result.charlson_age_adjusted == row["Charlson Age-Comorbidity Score"]
            assert set(result.charlson_rows) == present(row, charlson_names)
            assert result.elixhauser_mortality == row["Elixhauser Comorbidity Index"]
            assert {f"{c}_elix" if c in charlson_names else c for c in result.elixhauser_rows} == present(
                row, elixhauser_names
            )
            # Each category's rows are the rows whose code alone has it, by pycomorb.
            for name, rows in result.charlson_rows.items():
                assert rows == tuple(i for i, k in enumerate(chart) if alone[k][name] == 1)
            for name, rows in result.elixhauser_rows.items():
                column = f"{name}_elix" if name in charlson_names else name
                assert rows == tuple(i for i, k in enumerate(chart) if alone[k][column] == 1)

    check()
