"""The metric-rollups job (``app.jobs.rollups``) and the metrics reads (``datalayer.queries.metrics``)
on the real PostgreSQL, with data made through the service actions.

Each test gets a fresh organisation (``tests.chart_fixtures.make_team``) worked like this::

    chart 1  coder A  J18.9 + E11.9, submitted, audited: both correct → approved
    chart 2  coder A  J18.9 + E11.9, submitted, audited: E11.9 wrong (E11.65), E87.1 missing →
                      returned with feedback (acknowledged); fixed and resubmitted → waiting
    chart 3  coder B  J18.9, submitted → waiting for audit
    chart 4  coder B  assigned, draft
    chart 5           unassigned

So coder A's code-over-code accuracy is (2 + 1) / (2 + 3) = 0.6 over two audits, one returned.

Proven here: the stored rows are exactly what ``pipelines.rollups`` computes from the frames the
database gives (read in one read-only snapshot, which refuses writes); a second run changes
nothing; rows the data no longer supports are deleted, other metrics and buckets before the
window are kept; two runs at once leave the same table as one (SECURITY F5); each organisation's
rollups hold only its own data (A6); the ``rollup`` and ``export-frames`` commands work.
"""

from __future__ import annotations

import os
import subprocess
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import exc, text

from app import bootstrap
from app.jobs import registry
from app.jobs import rollups as job
from app.services import audits, charts
from app.services.audits import MissingCode, RowVerdict
from app.services.chart_types import CodeRowInput
from datalayer.queries import metrics, orgs
from datalayer.scope import org_scope
from pipelines import sources
from pipelines.frames import SCHEMAS, Frames
from pipelines.rollups import METRICS, compute_rollups
from tests.chart_fixtures import Team, make_team

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / ".venv" / "bin" / "smartcoders"
PNEUMONIA = CodeRowInput("diagnosis", "J18.9", "Chest X-ray shows lobar consolidation.", is_principal=True)
DIABETES = CodeRowInput("diagnosis", "E11.9", "Type 2 diabetes on metformin.")
DIABETES_HYPERGLYCAEMIA = CodeRowInput("diagnosis", "E11.65", "Type 2 diabetes, glucose 320 mg/dL.")


def _submit(team: Team, coder: Any, chart_id: uuid.UUID, rows: tuple[CodeRowInput, ...]) -> None:
    version = charts.get_chart(coder, chart_id).version
    saved = charts.save_codes(coder, chart_id, version=version, rows=rows)
    charts.submit(coder, chart_id, version=saved.version)


def _verdicts(team: Team, chart_id: uuid.UUID, **by_code: str) -> list[RowVerdict]:
    view = charts.get_chart(team.supervisor, chart_id)
    return [
        RowVerdict(c.id, "wrong_code", expected_code=by_code[c.code], category="Specificity")
        if c.code in by_code
        else RowVerdict(c.id, "correct")
        for c in view.codes
    ]


def _worked_team(ctx: Any) -> tuple[Team, list[uuid.UUID]]:
    team = make_team(ctx)
    ids = team.charts(5)
    a, b = team.coder_a, team.coder_b
    charts.assign(team.manager, ids[:2], [a.user_id])
    charts.assign(team.manager, ids[2:4], [b.user_id])
    _submit(team, a, ids[0], (PNEUMONIA, DIABETES))
    _submit(team, a, ids[1], (PNEUMONIA, DIABETES))
    _submit(team, b, ids[2], (PNEUMONIA,))
    audits.claim(team.supervisor, ids[0])
    audits.audit(team.supervisor, ids[0], submission_no=1, verdicts=_verdicts(team, ids[0]), decision="approve")
    audits.claim(team.supervisor, ids[1])
    returned = audits.audit(
        team.supervisor,
        ids[1],
        submission_no=1,
        verdicts=_verdicts(team, ids[1], **{"E11.9": "E11.65"}),
        missing=[MissingCode("E87.1", category="Documentation support")],
        feedback="Code the hyperglycaemia and the hyponatraemia.",
        decision="return",
    )
    assert returned.feedback_id is not None
    audits.acknowledge_feedback(a, returned.feedback_id)
    _submit(team, a, ids[1], (PNEUMONIA, DIABETES_HYPERGLYCAEMIA, CodeRowInput("diagnosis", "E87.1", "Na 128.")))
    return team, ids


@pytest.fixture
def worked(runtime: bootstrap.Runtime) -> tuple[Team, list[uuid.UUID]]:
    return _worked_team(runtime.ctx)


def _stored(org_id: uuid.UUID) -> pl.DataFrame:
    with org_scope(org_id) as scope:
        return metrics.read_rollups(scope)


def _expected(org_id: uuid.UUID, now: datetime) -> pl.DataFrame:
    return compute_rollups(sources.read_database(org_id), now=now).collect()


def _today() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def test_frames_read_from_the_database(worked: tuple[Team, list[uuid.UUID]]) -> None:
    team, ids = worked
    frames = sources.read_database(team.org_id).collected()
    charts_frame = frames.charts.sort("chart_id").collect()
    assert charts_frame.height == 5
    status = dict(zip(charts_frame["chart_id"], charts_frame["status"], strict=True))
    assert [status[str(i)] for i in ids] == ["completed", "pending_audit", "pending_audit", "draft", "draft"]
    returned_at = charts_frame.filter(pl.col("chart_id") == str(ids[1]))["returned_at"][0]
    assert returned_at is not None
    subs = frames.submissions.sort("submitted_at").collect()
    assert subs.select("chart_id", "coder_id", "resubmission").rows() == [
        (str(ids[0]), str(team.coder_a.user_id), False),
        (str(ids[1]), str(team.coder_a.user_id), False),
        (str(ids[2]), str(team.coder_b.user_id), False),
        (str(ids[1]), str(team.coder_a.user_id), True),
    ]
    assert subs["version"].null_count() == 0
    decided = frames.audits.filter(pl.col("decision").is_not_null()).collect()
    assert sorted(decided["decision"]) == ["approve", "return"]
    verdicts = frames.findings.group_by("verdict").len().sort("verdict").collect()
    assert verdicts.rows() == [("correct", 3), ("missing", 1), ("wrong_code", 1)]
    feedback = frames.feedback.collect()
    assert feedback.height == 1
    assert feedback["acknowledged_at"][0] is not None
    assert frames.people.collect().height == 6
    assert frames.validation.collect().height >= 0
    for name, frame in frames.items():
        assert frame.collect_schema() == SCHEMAS[name], name


def test_analyst_snapshot_refuses_writes(worked: tuple[Team, list[uuid.UUID]]) -> None:
    team, _ = worked
    with (
        pytest.raises(exc.DBAPIError, match="read-only transaction"),
        metrics.analyst_snapshot(team.org_id) as scope,
    ):
        scope.conn.execute(
            text("INSERT INTO metric_rollups (org_id, metric, bucket_start, value) VALUES (:org, 'x', now(), 1)"),
            {"org": team.org_id},
        )


def test_rollup_stores_what_the_pipelines_compute(worked: tuple[Team, list[uuid.UUID]]) -> None:
    team, _ = worked
    now = datetime.now(UTC)
    result = job.rollup_org(team.org_id, now=now)
    assert result.since is None, "an organisation without rollups gets its whole history"
    stored = _stored(team.org_id)
    assert result.rows == stored.height == result.changed > 0
    assert_frame_equal(stored.drop("updated_at"), _expected(team.org_id, now))

    def value(metric: str, dimension: str) -> tuple[float, int]:
        row = stored.filter((pl.col("metric") == metric) & (pl.col("dimension") == dimension))
        assert row.height == 1, (metric, dimension, row)
        return row["value"][0], row["sample_size"][0]

    coder_a = f"coder:{team.coder_a.user_id}"
    assert value("charts_coded", "") == (3.0, 3)
    assert value("charts_coded", coder_a) == (2.0, 2)
    assert value("charts_resubmitted", coder_a) == (1.0, 1)
    assert value("code_accuracy", coder_a) == (0.6, 5)
    assert value("case_accuracy", coder_a) == (0.5, 2)
    assert value("return_rate", "") == (0.5, 2)
    assert value("feedback_ack_rate", coder_a) == (1.0, 1)
    assert value("finding_errors", "category:Specificity") == (1.0, 1)
    assert value("finding_errors", "category:Documentation support") == (1.0, 1)


def test_a_second_run_changes_nothing(worked: tuple[Team, list[uuid.UUID]]) -> None:
    team, _ = worked
    now = datetime.now(UTC)
    job.rollup_org(team.org_id, now=now)
    before = _stored(team.org_id)
    again = job.rollup_org(team.org_id, now=now + timedelta(minutes=5))
    assert again.since == _today() - timedelta(days=job.WINDOW_DAYS - 1), "later runs recompute the window"
    assert (again.changed, again.deleted) == (0, 0)
    assert_frame_equal(_stored(team.org_id), before)  # updated_at included: unchanged rows are not rewritten


def test_rows_the_data_no_longer_supports_are_deleted_and_others_kept(worked: tuple[Team, list[uuid.UUID]]) -> None:
    team, _ = worked
    now = datetime.now(UTC)
    job.rollup_org(team.org_id, now=now)
    today, old = _today(), _today() - timedelta(days=60)
    with org_scope(team.org_id) as scope:
        scope.conn.execute(
            text(
                """INSERT INTO metric_rollups (org_id, metric, bucket_start, dimension, value, sample_size)
                   VALUES (:org, 'charts_coded', :today, 'coder:ghost', 9, 9),
                          (:org, 'charts_coded', :old, 'coder:ghost', 9, 9),
                          (:org, 'live_queue_depth', :today, '', 9, 9)"""
            ),
            {"org": team.org_id, "today": today, "old": old},
        )
        scope.conn.execute(
            text(
                "UPDATE metric_rollups SET value = 99 WHERE org_id = :org AND metric = 'charts_coded' AND dimension = ''"
            ),
            {"org": team.org_id},
        )
    result = job.rollup_org(team.org_id, now=now)
    assert (result.changed, result.deleted) == (1, 1)  # the tampered value restored, the ghost of today removed
    stored = _stored(team.org_id)
    kept = stored.filter(pl.col("dimension") == "coder:ghost")
    assert kept["bucket_start"].to_list() == [old], "a bucket before the window is left alone"
    assert stored.filter(pl.col("metric") == "live_queue_depth").height == 1, "metrics this job does not own stay"
    assert_frame_equal(
        stored.filter(pl.col("metric").is_in(METRICS) & (pl.col("dimension") != "coder:ghost")).drop("updated_at"),
        _expected(team.org_id, now),
    )


def test_f5_two_runs_at_once_leave_the_table_of_one(worked: tuple[Team, list[uuid.UUID]]) -> None:
    team, _ = worked
    now = datetime.now(UTC)
    start = threading.Barrier(2)
    results: list[job.OrgRollup] = []
    errors: list[Exception] = []

    def run() -> None:
        start.wait()
        try:
            results.append(job.rollup_org(team.org_id, now=now))
        except Exception as e:  # noqa: BLE001 - a thread's failure is surfaced by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    # The organisation's lock serialises them: one wrote every row, the other found nothing to change.
    assert sorted(r.changed for r in results) == [0, results[0].rows]
    assert [r.deleted for r in results] == [0, 0]
    stored = _stored(team.org_id)
    assert_frame_equal(stored.drop("updated_at"), _expected(team.org_id, now))
    assert stored.select("metric", "bucket_start", "dimension").is_duplicated().sum() == 0


def test_a6_rollups_hold_only_their_organisations_data(runtime: bootstrap.Runtime) -> None:
    alpha, _ = _worked_team(runtime.ctx)
    beta = make_team(runtime.ctx)
    (beta_chart,) = beta.charts(1)
    charts.assign(beta.manager, [beta_chart], [beta.coder_a.user_id])
    _submit(beta, beta.coder_a, beta_chart, (PNEUMONIA,))
    run = job.rollup_all(org_ids=[alpha.org_id, beta.org_id])
    assert run.failed == []
    alpha_people = {str(p.user_id) for p in (alpha.coder_a, alpha.coder_b, alpha.supervisor)}
    beta_people = {str(beta.coder_a.user_id)}
    for team, own, other, coded in ((alpha, alpha_people, beta_people, 3.0), (beta, beta_people, alpha_people, 1.0)):
        with org_scope(team.org_id) as scope:
            org_ids = {r[0] for r in scope.conn.execute(text("SELECT DISTINCT org_id FROM metric_rollups"))}
            stored = metrics.read_rollups(scope, dimension_prefix="coder:")
            org_wide = metrics.read_rollups(scope, metrics=["charts_coded"], dimension_prefix="")
        assert org_ids == {team.org_id}
        people = {d.split(":", 1)[1] for d in stored["dimension"]}
        assert people <= own
        assert not people & other
        assert org_wide["value"].to_list() == [coded]


def test_read_frames_since_a_horizon_reads_only_what_changed(worked: tuple[Team, list[uuid.UUID]]) -> None:
    team, _ = worked
    tomorrow = _today() + timedelta(days=1)
    with org_scope(team.org_id) as scope:
        later = metrics.read_frames(scope, SCHEMAS, horizon=tomorrow)
        everything = metrics.read_frames(scope, SCHEMAS, horizon=_today() - timedelta(days=1))
    assert {name: f.height for name, f in later.items()} == {
        "charts": 0,
        "submissions": 0,
        "audits": 0,
        "findings": 0,
        "feedback": 0,
        "validation": 0,
        "people": 6,
    }
    assert everything["submissions"].height == 4
    assert everything["findings"].height == 5
    # A run whose window lies after every event writes nothing and keeps the earlier buckets.
    job.rollup_org(team.org_id, now=datetime.now(UTC))
    before = _stored(team.org_id)
    future = job.rollup_org(team.org_id, now=datetime.now(UTC) + timedelta(days=3), days=2)
    assert (future.rows, future.changed, future.deleted) == (0, 0, 0)
    assert_frame_equal(_stored(team.org_id), before)


def test_the_job_is_registered_as_a_leader_job() -> None:
    (entry,) = [j for j in registry.JOBS if j.id == "metric-rollups"]
    assert entry.leader
    assert entry.func is job.rollup_job


def test_frames_of_an_export_equal_the_database(worked: tuple[Team, list[uuid.UUID]], tmp_path: Path) -> None:
    team, _ = worked
    frames = sources.read_database(team.org_id)
    sources.write_parquet(frames, tmp_path)
    back = sources.read_parquet(tmp_path)
    for (name, frame), (_, again) in zip(frames.items(), back.items(), strict=True):
        assert_frame_equal(again.collect(), frame.collect()), name
    assert isinstance(back, Frames)


# -- command line -----------------------------------------------------------------------------------


def _cli(runtime: bootstrap.Runtime, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTCODERS_", "DATABASE_", "REDIS_"))}
    env |= {
        "SMARTCODERS_ENV": "test",
        "SMARTCODERS_HOME": str(runtime.settings.smartcoders_home),
        "APP_URL": runtime.settings.app_url,
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=180, cwd=cwd, env=env, check=False)


def test_cli_rollup_and_export_frames(
    runtime: bootstrap.Runtime, worked: tuple[Team, list[uuid.UUID]], tmp_path: Path
) -> None:
    team, _ = worked
    with org_scope(team.org_id) as scope:
        slug = orgs.get(scope).slug
    done = _cli(runtime, tmp_path, "rollup", "--org", slug, "--all")
    assert done.returncode == 0, done.stderr
    assert f"{team.org_id}: " in done.stdout
    assert "whole history" in done.stdout
    assert _stored(team.org_id).height > 0

    exported = _cli(runtime, tmp_path, "export-frames", str(tmp_path / "frames"), "--org", slug)
    assert exported.returncode == 0, exported.stderr
    assert "charts.parquet  5 rows" in exported.stdout
    back = sources.read_parquet(tmp_path / "frames")
    assert back.charts.collect().height == 5
    with org_scope(team.org_id) as scope:
        logged = scope.conn.execute(
            text("SELECT details FROM audit_log WHERE org_id = :org AND action = 'data_exported'"), {"org": team.org_id}
        ).scalar_one()
    assert logged["dataset"] == "metrics_frames"

    unknown = _cli(runtime, tmp_path, "rollup", "--org", "no-such-org")
    assert unknown.returncode == 2
    assert "no organisation with slug 'no-such-org'" in unknown.stderr
    bad = _cli(runtime, tmp_path, "rollup", "--days", "0")
    assert bad.returncode == 2
    assert "must be at least 1" in bad.stderr
    (tmp_path / "a-file").write_text("not a folder")
    not_a_folder = _cli(runtime, tmp_path, "export-frames", str(tmp_path / "a-file"), "--org", slug)
    assert not_a_folder.returncode == 2
    assert "exists and is not a folder" in not_a_folder.stderr


def test_bench_rollup_runs_and_pandas_agrees(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from app.cli import main

    assert main(["bench", "rollup", "--codes", "5000", "--repeats", "1", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["bench"] == "rollup"
    assert figures["chart_code_rows"] == 5000
    assert figures["audits"] == 1000
    assert figures["rollup_rows"] > 0
    assert figures["results_match"] is True, "the pandas aggregation must give polars' rows"
    assert figures["db_read_included"] is False
