"""``GET /api/v1/export/{charts,audits,metrics}.{csv,parquet}`` over real HTTP: streamed, one
organisation's rows only (SECURITY A6), CSV safe against formula injection with RFC 4180 quoting
(H5), filters and their clear 400s, an audit-log row per export (D1), the per-user rate limit
(H7), managers only; and ``produce`` emitting batch by batch (never the whole table at once).

Data: two fresh organisations with login-able people (``make_team(logins=True)``), charts written
by the importer's insert, one audited chart made through the real actions, metric rollup rows
written directly (the rollup job is not part of this module).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest
from sqlalchemy import text

from app import bootstrap
from app.errors import ValidationFailed
from app.services import audits as audit_actions
from app.services import charts as chart_actions
from app.services import exports
from app.services.audits import RowVerdict
from app.services.chart_types import CodeRowInput
from datalayer.scope import org_scope
from tests.chart_fixtures import Team, chart_row, insert_charts, make_team
from tests.conftest import Client, LiveServer

pytestmark = pytest.mark.slow

PNEUMONIA = CodeRowInput("diagnosis", "J18.9", "Chest X-ray shows lobar consolidation.", is_principal=True)
DIABETES = CodeRowInput("diagnosis", "E11.9", "Type 2 diabetes on metformin.")
NASTY = {
    "encounter_reason": '=HYPERLINK("http://evil.example","click")',
    "provider_name": "+cmd|' /C calc'!A0",
    "facility_name": "-2+3",
    "encounter_type": "@SUM(1+1)",
    "specialty": "\tTabbed",
    "encounter_class": "\rCR",
}
QUOTED = 'Smith, "Bob"\nsecond line'


def _client(live_server: LiveServer, email: str | None = None) -> Client:
    c = Client(base_url=live_server.url, follow_redirects=False, timeout=30)
    if email:
        assert c.login(email).status_code == 200
    return c


def _audited(team: Team) -> uuid.UUID:
    (chart_id,) = team.charts(1)
    chart_actions.assign(team.manager, [chart_id], [team.coder_a.user_id])
    saved = chart_actions.save_codes(team.coder_a, chart_id, version=1, rows=[PNEUMONIA, DIABETES])
    chart_actions.submit(team.coder_a, chart_id, version=saved.version)
    audit_actions.claim(team.supervisor, chart_id)
    view = chart_actions.get_chart(team.supervisor, chart_id)
    audit_actions.audit(
        team.supervisor,
        chart_id,
        submission_no=1,
        verdicts=[RowVerdict(c.id, "correct") for c in view.codes],
        feedback="Clean chart.",
        decision="approve",
    )
    return chart_id


def _metric(org_id: uuid.UUID, metric: str, value: float, day: int) -> None:
    with org_scope(org_id) as scope:
        scope.conn.execute(
            text(
                "INSERT INTO metric_rollups (org_id, metric, bucket_start, dimension, value, sample_size) "
                "VALUES (:org, :metric, :bucket, '', :value, 3)"
            ),
            {"org": org_id, "metric": metric, "bucket": datetime(2026, 1, day, tzinfo=UTC), "value": value},
        )


@pytest.fixture(scope="module")
def world(runtime: bootstrap.Runtime, live_server: LiveServer) -> Iterator[dict[str, Any]]:
    alpha, beta = make_team(runtime.ctx, logins=True), make_team(runtime.ctx, logins=True)
    plain = alpha.charts(3)
    (nasty,) = insert_charts(alpha.org_id, [chart_row(7, **NASTY, patient_sex="M")])
    (quoted,) = insert_charts(alpha.org_id, [chart_row(8, encounter_reason=QUOTED)])
    audited = _audited(alpha)
    beta_charts = beta.charts(2)
    _audited(beta)
    _metric(alpha.org_id, "throughput", 4.0, 1)
    _metric(alpha.org_id, "accuracy", 0.9, 2)
    _metric(beta.org_id, "throughput", 99.0, 1)
    manager = _client(live_server, alpha.manager.email)
    yield {
        "alpha": alpha,
        "beta": beta,
        "alpha_charts": {*plain, nasty, quoted, audited},
        "nasty": nasty,
        "quoted": quoted,
        "audited": audited,
        "beta_charts": set(beta_charts),
        "manager": manager,
    }
    manager.close()


def _csv(r: Any) -> list[dict[str, str]]:
    assert r.status_code == 200, r.text
    return list(csv.DictReader(io.StringIO(r.text, newline="")))


# -- charts -------------------------------------------------------------------------------------


def test_a6_charts_csv_is_streamed_and_holds_only_the_callers_charts(world: dict[str, Any]) -> None:
    r = world["manager"].get("/api/v1/export/charts.csv")
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"].startswith('attachment; filename="smartcoders-charts-')
    assert r.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in r.headers
    assert r.headers["cache-control"] == "no-store"
    rows = _csv(r)
    assert list(rows[0]) == list(exports.DATASETS["charts"].schema.names())
    ids = {uuid.UUID(row["chart_id"]) for row in rows}
    assert ids == world["alpha_charts"]
    assert not ids & world["beta_charts"]
    audited = next(row for row in rows if uuid.UUID(row["chart_id"]) == world["audited"])
    assert (audited["status"], audited["principal_diagnosis"], audited["diagnosis_codes"]) == (
        "completed",
        "J18.9",
        "J18.9 E11.9",
    )
    assert "clinical_note" not in rows[0]
    assert "payload" not in rows[0]


def test_h5_csv_cells_that_would_run_as_formulas_are_neutralised(world: dict[str, Any]) -> None:
    rows = _csv(world["manager"].get("/api/v1/export/charts.csv"))
    nasty = next(row for row in rows if uuid.UUID(row["chart_id"]) == world["nasty"])
    for column, value in NASTY.items():
        assert nasty[column] == "'" + value, column
    assert nasty["patient_sex"] == "M"  # ordinary text is untouched
    quoted = next(row for row in rows if uuid.UUID(row["chart_id"]) == world["quoted"])
    assert quoted["encounter_reason"] == QUOTED  # RFC 4180 quoting round-trips commas, quotes, newlines


def test_charts_parquet_is_typed_and_unaltered(world: dict[str, Any]) -> None:
    r = world["manager"].get("/api/v1/export/charts.parquet")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.apache.parquet"
    frame = pl.read_parquet(io.BytesIO(r.content))
    assert frame.schema == exports.DATASETS["charts"].schema
    assert {uuid.UUID(v) for v in frame["chart_id"]} == world["alpha_charts"]
    reasons = frame.filter(pl.col("chart_id") == str(world["nasty"]))["encounter_reason"].to_list()
    assert reasons == [NASTY["encounter_reason"]]  # typed data, not a spreadsheet: no quote added


def test_chart_filters(world: dict[str, Any]) -> None:
    alpha: Team = world["alpha"]
    m = world["manager"]
    completed = _csv(m.get("/api/v1/export/charts.csv", params={"status": "completed"}))
    assert [uuid.UUID(r["chart_id"]) for r in completed] == [world["audited"]]
    by_coder = _csv(m.get("/api/v1/export/charts.csv", params={"coder": str(alpha.coder_a.user_id)}))
    assert {uuid.UUID(r["chart_id"]) for r in by_coder} == {world["audited"]}
    # chart_row(n) starts its encounter on 2025-01-01 + n days: n = 7 and 8 are 8 and 9 January.
    january = _csv(m.get("/api/v1/export/charts.csv", params={"from": "2025-01-08", "to": "2025-01-08"}))
    assert [uuid.UUID(r["chart_id"]) for r in january] == [world["nasty"]]
    cardiology = _csv(m.get("/api/v1/export/charts.csv", params={"specialty": "Cardiology"}))
    assert cardiology
    assert all(r["specialty"] == "Cardiology" for r in cardiology)
    none = _csv(m.get("/api/v1/export/charts.csv", params={"specialty": "Nothing"}))
    assert none == []


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/api/v1/export/charts.csv", {"from": "yesterday"}, "`from` must be a date"),
        ("/api/v1/export/charts.csv", {"from": "2026-02-01", "to": "2026-01-01"}, "must not be after"),
        ("/api/v1/export/charts.csv", {"status": "draft,lost"}, "`status` takes draft, pending_audit"),
        ("/api/v1/export/charts.csv", {"coder": "bob"}, "`coder` must be a user id"),
        ("/api/v1/export/charts.csv", {"limit": "5"}, "has no filter limit"),
        ("/api/v1/export/metrics.csv", {"specialty": "Cardiology"}, "metrics export has no filter specialty"),
        ("/api/v1/export/audits.parquet", {"status": "completed"}, "`status` takes approve, return, open"),
    ],
)
def test_bad_queries_get_a_clear_400(world: dict[str, Any], path: str, params: dict[str, str], message: str) -> None:
    r = world["manager"].get(path, params=params)
    assert r.status_code == 400
    assert message in r.json()["error"]["message"]


# -- audits and metrics ---------------------------------------------------------------------------


def test_a6_audits_csv(world: dict[str, Any]) -> None:
    alpha: Team = world["alpha"]
    rows = _csv(world["manager"].get("/api/v1/export/audits.csv"))
    assert [uuid.UUID(r["chart_id"]) for r in rows] == [world["audited"]]
    row = rows[0]
    assert (row["decision"], row["code_accuracy"], row["principal_correct"], row["findings"]) == (
        "approve",
        "1.0",
        "true",
        "0",
    )
    assert (row["coder_id"], row["supervisor_name"]) == (str(alpha.coder_a.user_id), "Sam Supervisor")
    assert _csv(world["manager"].get("/api/v1/export/audits.csv", params={"status": "return"})) == []
    assert len(_csv(world["manager"].get("/api/v1/export/audits.csv", params={"status": "approve,open"}))) == 1


def test_a6_metrics_export_whatever_rollups_exist(world: dict[str, Any]) -> None:
    m = world["manager"]
    rows = _csv(m.get("/api/v1/export/metrics.csv"))
    assert [(r["metric"], float(r["value"])) for r in rows] == [("accuracy", 0.9), ("throughput", 4.0)]
    only = pl.read_parquet(io.BytesIO(m.get("/api/v1/export/metrics.parquet", params={"metric": "throughput"}).content))
    assert only["value"].to_list() == [4.0]
    assert _csv(m.get("/api/v1/export/metrics.csv", params={"from": "2026-01-02"}))[0]["metric"] == "accuracy"


def test_empty_exports_have_a_header_or_a_schema(runtime: bootstrap.Runtime, live_server: LiveServer) -> None:
    empty = make_team(runtime.ctx, logins=True)
    with closing(_client(live_server, empty.manager.email)) as c:
        r = c.get("/api/v1/export/audits.csv")
        assert r.status_code == 200
        assert r.text.strip() == ",".join(exports.DATASETS["audits"].schema.names())
        frame = pl.read_parquet(io.BytesIO(c.get("/api/v1/export/metrics.parquet").content))
        assert frame.height == 0
        assert frame.schema == exports.DATASETS["metrics"].schema


# -- audit, rate limit, permissions ---------------------------------------------------------------


def test_d1_every_export_is_audited(world: dict[str, Any]) -> None:
    alpha: Team = world["alpha"]
    r = world["manager"].get("/api/v1/export/charts.parquet", params={"status": "draft", "from": "2025-01-01"})
    assert r.status_code == 200
    request_id = r.headers["x-request-id"]
    with org_scope(alpha.org_id) as scope:
        row = (
            scope.conn.execute(
                text(
                    "SELECT actor_id, action, object_type, object_id, details, request_id FROM audit_log "
                    "WHERE org_id = :org AND action = 'data_exported' ORDER BY seq DESC LIMIT 1"
                ),
                {"org": alpha.org_id},
            )
            .mappings()
            .one()
        )
    assert (row["actor_id"], row["object_type"], row["object_id"]) == (alpha.manager.user_id, "export", "charts")
    assert row["details"] == {
        "dataset": "charts",
        "format": "parquet",
        "filters": {"status": "draft", "from": "2025-01-01"},
    }
    assert row["request_id"] == request_id


def test_h7_exports_are_rate_limited_per_user(runtime: bootstrap.Runtime, live_server: LiveServer) -> None:
    team = make_team(runtime.ctx, logins=True)
    limit = runtime.settings.export_limit_user.limit
    with closing(_client(live_server, team.manager.email)) as c:
        statuses = [c.get("/api/v1/export/metrics.csv").status_code for _ in range(limit)]
        assert statuses == [200] * limit
        refused = c.get("/api/v1/export/metrics.csv")
        assert refused.status_code == 429
        assert "Too many exports" in refused.json()["error"]["message"]
    with org_scope(team.org_id) as scope:
        audited = scope.conn.execute(
            text("SELECT count(*) FROM audit_log WHERE org_id = :org AND action = 'data_exported'"),
            {"org": team.org_id},
        ).scalar_one()
    assert audited == limit  # the refused export wrote nothing


def test_only_managers_export(world: dict[str, Any], live_server: LiveServer) -> None:
    alpha: Team = world["alpha"]
    with _client(live_server) as anonymous:
        r = anonymous.get("/api/v1/export/charts.csv")
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "not_authenticated"
    for person in (alpha.coder_a, alpha.supervisor, alpha.analyst):
        with closing(_client(live_server, person.email)) as c:
            r = c.get("/api/v1/export/charts.csv")
            assert r.status_code == 403
            assert r.json()["error"]["code"] == "forbidden"


# -- produce: batch by batch ------------------------------------------------------------------------


def test_produce_emits_one_chunk_per_batch(world: dict[str, Any]) -> None:
    alpha: Team = world["alpha"]
    chunks: list[bytes] = []
    request = exports.parse_request("charts", "csv", {})
    rows = exports.produce(alpha.manager, request, chunks.append, batch_rows=2)
    assert rows == len(world["alpha_charts"]) == 6
    assert len(chunks) == 3  # 6 rows in batches of 2: never more than one batch in memory
    assert chunks[0].startswith(b"chart_id,status,")
    assert not chunks[1].startswith(b"chart_id")
    parquet: list[bytes] = []
    assert (
        exports.produce(alpha.manager, exports.parse_request("charts", "parquet", {}), parquet.append, batch_rows=2)
        == 6
    )
    assert len(parquet) > 3  # row groups written as the batches arrive, then the footer
    assert pl.read_parquet(io.BytesIO(b"".join(parquet))).height == 6


def test_parse_request_rejects_unknown_datasets() -> None:
    with pytest.raises(ValidationFailed, match="Unknown export"):
        exports.parse_request("users", "csv", {})
    with pytest.raises(ValidationFailed, match="csv or parquet"):
        exports.parse_request("charts", "xlsx", {})


def test_openapi_documents_events_and_exports(live_server: LiveServer) -> None:
    with _client(live_server) as anonymous:
        doc = anonymous.get("/api/v1/openapi.json").json()
    events = doc["paths"]["/api/v1/events"]["get"]
    assert set(events["responses"]["200"]["content"]) == {"text/event-stream", "application/json"}
    assert "LiveCounters" in doc["components"]["schemas"]
    export = doc["paths"]["/api/v1/export/{dataset}.{format}"]["get"]
    assert {p["name"] for p in export["parameters"]} == {
        "dataset",
        "format",
        "from",
        "to",
        "specialty",
        "coder",
        "status",
        "metric",
    }
    assert {"200", "400", "401", "403", "429"} <= set(export["responses"])
