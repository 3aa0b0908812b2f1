"""The pinned interfaces of the engine: `smartcoders validate`, `POST /api/v1/validate`, and the
`validate_chart` service that stores findings for the coding page."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from app.cli import main
from app.errors import NotFound
from app.services.validation import validate_chart
from datalayer.queries import validation_results
from datalayer.scope import org_scope
from tests.conftest import ROOT, Universe, make_org

pytestmark = pytest.mark.slow

CHART = {
    "id": "any",
    "age": 70,
    "sex": "F",
    "discharge_date": "2026-05-01",
    "diagnoses": [{"code": "J18.9", "principal": True}, {"code": "I10"}, {"code": "I10"}],
    "procedures": [{"code": "0DTJ4ZZ"}],
}


def _run_cli(capsysbinary: pytest.CaptureFixture[bytes], path: Path) -> tuple[int, list[dict[str, Any]], str]:
    status = main(["validate", str(path)])
    captured = capsysbinary.readouterr()
    return status, [orjson.loads(line) for line in captured.out.splitlines()], captured.err.decode()


def test_cli_one_object_follows_the_pinned_format(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    path = tmp_path / "chart.json"
    path.write_bytes(orjson.dumps(CHART, option=orjson.OPT_INDENT_2))  # one object over many lines
    status, out, err = _run_cli(capsysbinary, path)
    assert status == 0, err
    assert len(out) == 1
    result = out[0]
    assert set(result) == {"id", "code_set_version", "findings", "summary"}
    assert result["id"] == "any"
    dup = next(f for f in result["findings"] if f["rule_id"] == "R-FMT-05")
    assert dup["rows"] == [2, 3]
    assert dup["category"] == "format"
    assert dup["severity"] == "error"
    assert dup["guideline_ref"]
    assert "I10" in dup["message"]
    assert result["summary"]["errors"] >= 1
    assert {"ms_drg", "drg_weight", "cc_count", "mcc_count", "charlson_index"} <= set(result["summary"])


def test_cli_batch_reports_every_bad_line_and_goes_on(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    good = orjson.dumps(CHART).decode()
    bad_fields = orjson.dumps({"id": 2, "sex": "X", "discharge_date": "2026-13-01", "diagnoses": [{"code": 5}]})
    lines = [good, bad_fields.decode(), "{not json", "", good.replace('"any"', '"last"')]
    path = tmp_path / "batch.jsonl"
    path.write_text("\n".join(lines) + "\n")
    status, out, err = _run_cli(capsysbinary, path)
    assert status == 2
    assert [o.get("id") for o in out] == ["any", 2, None, "last"]
    assert "line 2: age: required" in err
    assert "line 2: sex: must be M, F or U" in err
    assert "line 2: discharge_date: must be a date" in err
    assert "line 2: diagnoses[1].code: must be a string" in err
    assert "line 3: $: not JSON" in err
    assert out[1]["error"]["fields"]["diagnoses[1].code"].startswith("must be a string")
    assert "findings" in out[3]


def test_cli_missing_file_is_a_clear_error(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["validate", str(tmp_path / "nope.json")]) == 2
    assert b"cannot read" in capsysbinary.readouterr().err


def test_cli_reads_stdin_as_a_real_process() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "smartcoders"), "validate", "-"],
        input=orjson.dumps(CHART) + b"\n" + orjson.dumps({**CHART, "id": "two"}),
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert [orjson.loads(line)["id"] for line in proc.stdout.splitlines()] == ["any", "two"]


# --- HTTP ------------------------------------------------------------------------------------


def test_api_validate_for_a_signed_in_user(client: Any, universe: Universe) -> None:
    assert client.login("coder@alpha.test").status_code == 200
    resp = client.post("/api/v1/validate", json=CHART, headers=client.csrf())
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["id"] == "any"
    assert any(f["rule_id"] == "R-FMT-05" and f["rows"] == [2, 3] for f in body["findings"])


def test_api_validate_refuses_anonymous_and_bad_input(client: Any, new_client: Any, universe: Universe) -> None:
    anonymous = new_client()
    anonymous.get("/login")
    resp = anonymous.post("/api/v1/validate", json=CHART, headers=anonymous.csrf())
    assert resp.status_code == 401
    assert resp.json()["error"]["code"]

    assert client.login("analyst@alpha.test").status_code == 200
    bad = client.post(
        "/api/v1/validate", json={"age": "old", "diagnoses": "E11.9", "setting": "home"}, headers=client.csrf()
    )
    assert bad.status_code == 400
    fields = bad.json()["error"]["fields"]
    assert fields["age"].startswith("must be a whole number")
    assert fields["diagnoses"].startswith("must be an array")
    assert "sex" in fields
    assert fields["setting"] == "must be inpatient or outpatient"
    assert "discharge_date" in fields
    no_csrf = client.post("/api/v1/validate", json=CHART)
    assert no_csrf.status_code == 403


def test_code_search_api(client: Any, new_client: Any, universe: Universe) -> None:
    assert client.login("coder@alpha.test").status_code == 200
    body = client.get("/api/v1/codes", params={"q": "e11.6", "limit": 5}).json()
    assert body["version"].startswith("ICD-10-CM")
    assert body["items"][0]["code"].startswith("E11.6")
    assert len(body["items"]) <= 5
    words = client.get("/api/v1/codes", params={"q": "diabetes kidney"}).json()["items"]
    assert any(i["code"] == "E11.22" and i["billable"] for i in words)
    assert client.get("/api/v1/codes", params={"q": "x", "limit": "500"}).status_code == 400
    assert (
        new_client().get("/api/v1/codes", params={"q": "e11"}, headers={"Accept": "application/json"}).status_code
        == 401
    )


def test_openapi_documents_validate(client: Any) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    op = doc["paths"]["/api/v1/validate"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("ChartCodes")
    assert "ValidationResult" in doc["components"]["schemas"]


# --- Service ---------------------------------------------------------------------------------


def _chart_with_codes(org_id: uuid.UUID, codes: list[tuple[str, bool, str | None]]) -> uuid.UUID:
    chart_id = uuid.uuid4()
    with org_scope(org_id) as scope:
        scope.conn.execute(
            text(
                "INSERT INTO charts (id, org_id, source_patient_id, source_encounter_id, patient_age_years, "
                "patient_sex, record_type, discharged_alive, encounter_end) VALUES (:id, :org, 'p', :enc, 67, "
                "'M', 'other', true, '2026-03-02T10:00:00Z')"
            ),
            {"id": chart_id, "org": org_id, "enc": str(chart_id)},
        )
        for seq, (code, principal, why) in enumerate(codes, start=1):
            scope.conn.execute(
                text(
                    "INSERT INTO chart_codes (id, org_id, chart_id, kind, code_system, code, sequence, is_principal, "
                    "override_rationale) VALUES (:id, :org, :chart, 'diagnosis', 'ICD-10-CM', :code, :seq, :p, :why)"
                ),
                {
                    "id": uuid.uuid4(),
                    "org": org_id,
                    "chart": chart_id,
                    "code": code,
                    "seq": seq,
                    "p": principal,
                    "why": why,
                },
            )
    return chart_id


def test_validate_chart_stores_findings_per_version(runtime: Any) -> None:
    org = make_org()
    chart_id = _chart_with_codes(
        org, [("J18.9", True, None), ("E11.9", False, None), ("E10.9", False, "Unrelated, both documented.")]
    )
    with org_scope(org) as scope:
        result = validate_chart(scope, chart_id)
    excl = next(f for f in result.findings if f.rule_id == "R-EXC-01")
    assert excl.rows == (2, 3)
    assert excl.overridden
    with org_scope(org) as scope:
        stored = validation_results.for_version(scope, chart_id, 1)
    assert {s.rule_id for s in stored} == {f.rule_id for f in result.findings}
    assert next(s for s in stored if s.rule_id == "R-EXC-01").overridden
    # Re-validating the same version replaces, never duplicates.
    with org_scope(org) as scope:
        validate_chart(scope, chart_id)
        assert len(validation_results.for_version(scope, chart_id, 1)) == len(stored)
    # Another organisation cannot see the chart (RLS): the same answer as a missing id.
    other = make_org()
    with org_scope(other) as scope, pytest.raises(NotFound, match="Chart not found"):
        validate_chart(scope, chart_id)


def test_bench_validate_reports_its_figures(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["bench", "validate", "--charts", "40", "--json"]) == 0
    figures = orjson.loads(capsysbinary.readouterr().out)
    assert figures["bench"] == "validate"
    assert figures["eight_mean_codes"] == pytest.approx(8, abs=0.5)
    for name in ("load_s", "mixed_charts_per_s", "eight_charts_per_s", "eight_p50_ms", "eight_p99_ms"):
        assert figures[name] > 0, name
    assert figures["eight_p50_ms"] <= figures["eight_p99_ms"]
