"""The Synthea import against the suite's real PostgreSQL: counts, idempotency, bad files, the
outbox and audit rows written with the charts, the CLI, the worker's resume, and SECURITY F9
(kill -9 mid-import, re-run completes with the same final counts and no partial file).

Each test imports into its own new organisation, so counts are exact.
"""

from __future__ import annotations

import inspect
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from app import bootstrap
from app.errors import ValidationFailed
from app.fhir.model import BundleError
from app.fhir.sources import SourceSet
from app.services import import_queue, imports
from app.services.audit import Actor
from app.services.auth import create_organisation
from datalayer.queries import import_jobs
from datalayer.queries.import_jobs import LeaseLost
from datalayer.scope import org_scope
from tests.conftest import make_org
from tests.synthea_data import (
    DEMO,
    PROVIDER_FILES,
    SHARED,
    SHARED_RUN_FILES,
    demo_file,
    expected_charts,
    patient_id,
    raw,
    renumber,
)

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / ".venv" / "bin" / "smartcoders"


def _count(org_id: uuid.UUID, sql: str, params: Mapping[str, Any] | None = None) -> Any:
    with org_scope(org_id) as scope:
        return scope.conn.execute(text(sql), dict(params or {})).scalar_one()


def _charts_by_patient(org_id: uuid.UUID) -> dict[str, int]:
    with org_scope(org_id) as scope:
        rows = scope.conn.execute(text("SELECT source_patient_id, count(*) FROM charts GROUP BY 1")).all()
    return {str(r[0]): int(r[1]) for r in rows}


def _audit_created(org_id: uuid.UUID) -> tuple[int, set[str]]:
    """Charts the import_file audit rows say were created: their sum and their ids."""
    with org_scope(org_id) as scope:
        rows = scope.conn.execute(
            text("SELECT details FROM audit_log WHERE action = 'import_file' AND outcome = 'success'")
        ).all()
    return sum(int(r[0]["charts_created"]) for r in rows), {c for r in rows for c in r[0]["chart_ids"]}


def _chart_ids(org_id: uuid.UUID) -> set[str]:
    with org_scope(org_id) as scope:
        return {str(r[0]) for r in scope.conn.execute(text("SELECT id FROM charts"))}


# -- the pinned service function ---------------------------------------------------------------------


def test_import_bundle_signature_is_pinned() -> None:
    params = inspect.signature(imports.import_bundle).parameters
    assert list(params) == ["scope", "name", "data", "job_id", "source", "context_files"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for n, p in params.items() if n != "scope")
    assert (params["job_id"].default, params["source"].default, params["context_files"].default) == (None, "cli", None)
    fields = imports.FileResult.__dataclass_fields__
    assert {"name", "charts_created", "charts_skipped", "encounters", "error"} <= set(fields)
    assert imports.FileResult.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert issubclass(BundleError, ValidationFailed)


@pytest.mark.slow
def test_import_bundle_writes_charts_events_and_audit_in_the_callers_transaction(runtime: bootstrap.Runtime) -> None:
    org = make_org()
    context = {p.name: p.read_bytes() for p in PROVIDER_FILES}
    with org_scope(org) as scope:
        result = imports.import_bundle(
            scope, name="Conchita.json", data=raw("Conchita9"), source="webhook", context_files=context
        )
    assert (result.charts_created, result.charts_skipped, result.encounters, result.error) == (4, 0, 7, None)
    assert len(result.chart_ids) == 4
    assert _chart_ids(org) == {str(c) for c in result.chart_ids}
    with org_scope(org) as scope:
        events = scope.conn.execute(
            text("SELECT aggregate_id, payload FROM outbox_events WHERE event_type = 'chart.imported'")
        ).all()
        provider = scope.conn.execute(text("SELECT payload->'encounter'->'provider' FROM charts LIMIT 1")).scalar_one()
    assert {e[0] for e in events} == {str(c) for c in result.chart_ids}
    assert all(e[1]["source"] == "webhook" and e[1]["import_job_id"] is None for e in events)
    assert provider["resolved"] is True  # the context files resolved the conditional references
    # No PHI in events: neither the patient id nor a name.
    assert patient_id(raw("Conchita9")) not in json.dumps([e[1] for e in events])
    assert _audit_created(org) == (4, {str(c) for c in result.chart_ids})
    # Idempotent: the same bundle again creates nothing, emits nothing.
    with org_scope(org) as scope:
        again = imports.import_bundle(scope, name="Conchita.json", data=raw("Conchita9"), source="webhook")
    assert (again.charts_created, again.charts_skipped) == (0, 4)
    assert _count(org, "SELECT count(*) FROM outbox_events WHERE event_type = 'chart.imported'") == 4


def test_import_bundle_rolls_back_with_the_caller(runtime: bootstrap.Runtime) -> None:
    org = make_org()

    class Abort(Exception):
        pass

    def import_then_fail() -> None:
        with org_scope(org) as scope:
            imports.import_bundle(scope, name="c.json", data=raw("Conchita9"))
            raise Abort

    with pytest.raises(Abort):
        import_then_fail()
    assert _count(org, "SELECT count(*) FROM charts") == 0
    assert _count(org, "SELECT count(*) FROM outbox_events") == 0
    assert _count(org, "SELECT count(*) FROM audit_log WHERE action = 'import_file'") == 0


def test_import_bundle_bad_file_raises_naming_the_file(runtime: bootstrap.Runtime) -> None:
    org = make_org()
    with pytest.raises(BundleError) as info, org_scope(org) as scope:
        imports.import_bundle(scope, name="Broken_Bundle.json", data=raw("Conchita9")[:1000])
    assert info.value.message.startswith("Broken_Bundle.json: not valid JSON")
    nul = raw("Conchita9").replace(b'"Medication review due (situation)"', b'"Medication review\\u0000due"', 1)
    with pytest.raises(BundleError, match="NUL characters"), org_scope(org) as scope:
        imports.import_bundle(scope, name="nul.json", data=nul)
    with org_scope(org) as scope:
        skipped = imports.import_bundle(scope, name=PROVIDER_FILES[0].name, data=PROVIDER_FILES[0].read_bytes())
    assert skipped.skipped is not None
    assert skipped.charts_created == 0


# -- counts against the shared bundles ---------------------------------------------------------------


@pytest.mark.slow
def test_chart_counts_match_the_shared_bundles(runtime: bootstrap.Runtime) -> None:
    folder = SHARED if SHARED.is_dir() else DEMO
    files = sorted(folder.glob("*.json"))
    expected = {
        patient_id(p.read_bytes()): expected_charts(p.read_bytes()) for p in files if "Information" not in p.name
    }
    org = make_org()
    inputs = [folder, SHARED_RUN_FILES] if folder == SHARED and SHARED_RUN_FILES.is_dir() else [folder]
    summary = imports.import_paths(org, inputs)
    assert summary.job.status == "succeeded", summary.job.errors
    assert _charts_by_patient(org) == {p: n for p, n in expected.items() if n}
    if folder == SHARED:
        assert len(expected) == 25
        assert summary.job.charts_created == sum(expected.values()) == 656  # the figure documented in README
        assert {f["file"] for f in summary.as_json()["skipped_files"]} == {
            f"fhir_run_files/{p.name}" for p in SHARED_RUN_FILES.glob("*.json")
        }
    # Both variants, and every chart is complete enough to code.
    with org_scope(org) as scope:
        rows = scope.conn.execute(
            text(
                "SELECT payload->'source'->>'bundle_type', count(*), count(*) FILTER (WHERE patient_age_years IS NULL "
                "OR patient_sex IS NULL OR encounter_start IS NULL OR specialty IS NULL OR difficulty IS NULL) "
                "FROM charts GROUP BY 1"
            )
        ).all()
        codes = scope.conn.execute(text("SELECT count(*) FROM chart_codes")).scalar_one()
    assert {r[0] for r in rows} == {"transaction", "collection"}
    assert all(r[2] == 0 for r in rows)
    assert codes == 0  # SNOMED is not pre-filled as codes (quirk 16): coders enter ICD-10-CM


@pytest.mark.slow
def test_reimport_is_idempotent(runtime: bootstrap.Runtime) -> None:
    org = make_org()
    first = imports.import_paths(org, [DEMO])
    before = (
        _charts_by_patient(org),
        _count(org, "SELECT count(*) FROM outbox_events WHERE event_type = 'chart.imported'"),
    )
    second = imports.import_paths(org, [DEMO])
    assert first.job.charts_created > 0
    assert (second.job.charts_created, second.job.charts_skipped) == (0, first.job.charts_created)
    assert second.job.status == "succeeded"
    after = (
        _charts_by_patient(org),
        _count(org, "SELECT count(*) FROM outbox_events WHERE event_type = 'chart.imported'"),
    )
    assert after == before
    assert _audit_created(org)[0] == sum(after[0].values())
    assert _count(org, "SELECT count(*) FROM outbox_events WHERE event_type = 'import.finished'") == 2


@pytest.mark.slow
def test_bad_file_among_good_ones(runtime: bootstrap.Runtime, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a_good.json").write_bytes(raw("Conchita9"))
    (folder / "b_truncated.json").write_bytes(raw("Johnie961")[:20000])
    (folder / "c_list.json").write_bytes(b"[1, 2, 3]")
    (folder / "d_observation.json").write_bytes(b'{"resourceType": "Observation", "id": "x"}')
    (folder / "e_good.json").write_bytes(raw("Tarra676"))
    (folder / "notes.txt").write_text("ignored: not an input")
    org = make_org()
    summary = imports.import_paths(org, [folder, tmp_path / "missing.json"])
    data = summary.as_json()
    assert summary.failed
    assert data["status"] == "failed"
    assert data["files"] == 6
    errors = {e["file"]: e["error"] for e in data["errors"]}
    assert set(errors) == {"mixed/b_truncated.json", "mixed/c_list.json", "mixed/d_observation.json", "missing.json"}
    assert errors["mixed/b_truncated.json"].startswith("not valid JSON")
    assert "not a FHIR Bundle" in errors["mixed/c_list.json"]
    assert "resourceType 'Observation'" in errors["mixed/d_observation.json"]
    assert errors["missing.json"] == "no such file or folder"
    assert set(_charts_by_patient(org)) == {patient_id(raw("Conchita9")), patient_id(raw("Tarra676"))}
    assert data["charts_created"] == expected_charts(raw("Conchita9")) + expected_charts(raw("Tarra676"))
    with org_scope(org) as scope:
        failures = scope.conn.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'import_file' AND outcome = 'failure'")
        ).scalar_one()
    assert failures == 4


def test_outbox_import_finished_carries_the_counts(runtime: bootstrap.Runtime) -> None:
    org = make_org()
    summary = imports.import_paths(org, [demo_file("Conchita9")])
    with org_scope(org) as scope:
        finished = scope.conn.execute(
            text("SELECT aggregate_id, payload FROM outbox_events WHERE event_type = 'import.finished'")
        ).one()
        charts = scope.conn.execute(text("SELECT count(*) FROM outbox_events WHERE event_type = 'chart.imported'"))
    assert finished[0] == str(summary.job.id)
    payload = dict(finished[1])
    assert payload.pop("import_job_id") == str(summary.job.id)
    assert payload == {
        "status": "succeeded",
        "source": "cli",
        "files": 1,
        "files_done": 1,
        "charts_created": 4,
        "charts_skipped": 0,
        "errors": 0,
    }
    assert charts.scalar_one() == 4


@pytest.mark.slow
def test_zip_archives_are_imported_member_by_member(runtime: bootstrap.Runtime, tmp_path: Path) -> None:
    import zipfile

    archive = tmp_path / "run.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("fhir/Conchita9_Ramón841.json", raw("Conchita9"))
        zf.writestr("fhir/inner.zip", b"PK\x05\x06" + b"\x00" * 18)
        zf.writestr("fhir/" + PROVIDER_FILES[0].name, PROVIDER_FILES[0].read_bytes())
        zf.writestr("README.txt", "not an input")
    org = make_org()
    data = imports.import_paths(org, [archive]).as_json()
    assert data["files"] == 3
    assert data["charts_created"] == 4
    assert data["errors"] == [{"file": "run.zip/fhir/inner.zip", "error": "nested archives are not imported"}]
    assert [f["file"] for f in data["skipped_files"]] == [f"run.zip/fhir/{PROVIDER_FILES[0].name}"]


@pytest.mark.slow
def test_demo_import_is_idempotent(runtime: bootstrap.Runtime) -> None:
    from app.services.demo import import_charts, seed

    seed(runtime.ctx)
    first = import_charts().as_json()
    second = import_charts().as_json()
    assert first["files"] == second["files"] == 11  # nine patients + two provider files
    assert first["errors"] == second["errors"] == []
    assert second["charts_created"] == 0
    assert second["charts_skipped"] == first["charts_created"] + first["charts_skipped"]
    assert second["charts_skipped"] == sum(expected_charts(p.read_bytes()) for p in DEMO.glob("*_*-*.json"))


# -- the worker: claims, batches, resume -------------------------------------------------------------


def _queue(runtime: bootstrap.Runtime, org: uuid.UUID, files: list[tuple[str, bytes]]) -> import_jobs.ImportJob:
    from app.authz import Role
    from app.services.auth import AuthService
    from tests.conftest import PASSWORD, make_user

    email = f"mgr-{uuid.uuid4().hex[:8]}@example.test"
    make_user(runtime.ctx, org, Role.MANAGER, email=email)
    auth: AuthService = runtime.ctx.auth
    principal = auth.login(email=email, password=PASSWORD, client_ip="192.0.2.9", user_agent=None).principal
    return import_queue.queue_upload(principal, files=files, home=runtime.settings.smartcoders_home)


def _claim(org: uuid.UUID) -> import_jobs.ImportJob:
    with org_scope(org) as scope:
        job = import_jobs.claim_next(scope, lease_s=imports.LEASE_SECONDS)
    assert job is not None
    return job


def _expire(superuser_url: str, job_id: uuid.UUID) -> None:
    with psycopg.connect(superuser_url) as conn:
        conn.execute("UPDATE import_jobs SET locked_until = now() - interval '1 second' WHERE id = %s", (job_id,))


@pytest.mark.slow
def test_worker_resumes_a_crashed_job_without_duplicates(runtime: bootstrap.Runtime, superuser_url: str) -> None:
    org = make_org()
    names = ["Conchita9", "Johnie961", "Tarra676", "Tuyet839"]
    job = _queue(runtime, org, [(f"{n}.json", raw(n)) for n in names])
    assert (job.status, job.file_count) == ("queued", 4)
    home = runtime.settings.smartcoders_home
    # Worker A claims the job, imports two files, then dies without giving the claim back.
    claimed = _claim(org)
    assert claimed.id == job.id
    with SourceSet(sorted((home / "imports" / str(job.id)).iterdir())) as sources:
        run = imports.Run(org, claimed, claimed.locked_until, sources.sources, "upload", Actor(None, "worker"))  # type: ignore[arg-type]
        imports.process(run, start=0, stop=2)
    stale_token = run.token
    with org_scope(org) as scope:
        assert import_jobs.claim_next(scope, lease_s=60) is None  # still leased: nobody else takes it
    assert _count(org, "SELECT files_done FROM import_jobs WHERE id = :id", {"id": job.id}) == 2
    # The lease runs out; the next worker run resumes at file 3.
    _expire(superuser_url, job.id)
    stats = import_queue.run_pending_jobs(home)
    assert stats["finished"] >= 1
    with org_scope(org) as scope:
        done = import_jobs.get(scope, job.id)
        # Worker A wakes up: its writes are refused (fenced by the lease token).
        with pytest.raises(LeaseLost):
            import_jobs.record_file(
                scope,
                job_id=job.id,
                token=stale_token,
                index=2,
                charts_created=1,
                charts_skipped=0,
                error=None,
                lease_s=60,
            )
    total = sum(expected_charts(raw(n)) for n in names)
    assert (done.status, done.files_done, done.charts_created, done.charts_skipped) == ("succeeded", 4, total, 0)
    assert done.attempts == 2
    assert sum(_charts_by_patient(org).values()) == total
    assert _audit_created(org)[0] == total
    assert not (home / "imports" / str(job.id)).exists()  # uploaded files removed when done


@pytest.mark.slow
def test_worker_imports_in_batches_and_gives_up_after_repeated_crashes(
    runtime: bootstrap.Runtime, superuser_url: str
) -> None:
    org = make_org()
    job = _queue(runtime, org, [(f"copy{n}.json", renumber(raw("Conchita9"), n)) for n in range(1, 6)])
    home = runtime.settings.smartcoders_home
    claimed = _claim(org)
    assert import_queue.process_claimed(org, claimed, home, batch_files=2) is None  # one batch, then released
    with org_scope(org) as scope:
        partial = import_jobs.get(scope, job.id)
    assert (partial.status, partial.files_done, partial.locked_until, partial.attempts) == ("running", 2, None, 0)
    while (finished := import_queue.process_claimed(org, _claim(org), home, batch_files=2)) is None:
        pass
    assert (finished.status, finished.files_done, finished.charts_created) == ("succeeded", 5, 20)
    # A job whose worker keeps dying is given up, not retried forever.
    poison = _queue(runtime, org, [("p.json", raw("Conchita9"))])
    for _ in range(import_queue.MAX_ATTEMPTS):
        _claim(org)
        _expire(superuser_url, poison.id)
    given_up = import_queue.process_claimed(org, _claim(org), home)
    assert given_up is not None
    assert given_up.status == "failed"
    assert given_up.errors[-1]["error"].startswith("gave up after")


# -- the command line --------------------------------------------------------------------------------


def _env(runtime: bootstrap.Runtime) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTCODERS_", "DATABASE_", "REDIS_"))}
    env.update(
        {
            "SMARTCODERS_ENV": "test",
            "SMARTCODERS_HOME": str(runtime.settings.smartcoders_home),
            "APP_URL": runtime.settings.app_url,
            "LOG_LEVEL": "WARNING",
        }
    )
    return env


def _slug_org(label: str) -> tuple[str, uuid.UUID]:
    slug = f"{label}-{uuid.uuid4().hex[:8]}"
    org = create_organisation(
        name=f"Import {slug}",
        manager_email=None,
        manager_name=None,
        password_hash=None,
        actor=Actor(None, "test"),
        slug=slug,
    )
    return slug, org


def _cli(runtime: bootstrap.Runtime, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args], capture_output=True, text=True, timeout=180, cwd=cwd, env=_env(runtime), check=False
    )


@pytest.mark.slow
def test_cli_import_json_summary_and_exit_codes(runtime: bootstrap.Runtime, tmp_path: Path) -> None:
    slug, org = _slug_org("cli")
    good = tmp_path / "good"
    good.mkdir()
    (good / "Conchita9_Ramón841.json").write_bytes(raw("Conchita9"))
    (good / PROVIDER_FILES[0].name).write_bytes(PROVIDER_FILES[0].read_bytes())
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"resourceType": "Bundle", "entry": [')
    result = _cli(runtime, tmp_path, "import", str(good), str(bad), "--org", slug, "--json")
    assert result.returncode == 2, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1  # the JSON object is the whole of stdout
    data = json.loads(lines[0])
    assert {"files", "charts_created", "charts_skipped", "errors"} <= set(data)
    assert (data["files"], data["charts_created"], data["charts_skipped"]) == (3, 4, 0)
    assert data["errors"] == [{"file": "bad.json", "error": data["errors"][0]["error"]}]
    assert data["errors"][0]["error"].startswith("not valid JSON")
    assert "bad.json: not valid JSON" in result.stderr
    again = _cli(runtime, tmp_path, "import", str(good), "--org", slug, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["charts_skipped"] == 4
    text_mode = _cli(runtime, tmp_path, "import", str(good), "--org", slug)
    assert text_mode.returncode == 0
    assert "0 charts created, 4 already present" in text_mode.stdout
    unknown = _cli(runtime, tmp_path, "import", str(good), "--org", "no-such-org")
    assert unknown.returncode == 2
    assert "no organisation" in unknown.stderr
    assert sum(_charts_by_patient(org).values()) == 4


@pytest.mark.slow
def test_f9_import_killed_mid_way_rerun_completes_with_no_partial_file(
    runtime: bootstrap.Runtime, tmp_path: Path, superuser_url: str
) -> None:
    """SECURITY F9: SIGKILL an import of many files mid-way; each file is all-or-nothing, the audit
    rows match the imported rows, and a re-run completes with the same final counts."""
    copies, per_file = 120, expected_charts(raw("Conchita9"))
    folder = tmp_path / "bundles"
    folder.mkdir()
    for n in range(1, copies + 1):
        (folder / f"copy{n:03d}.json").write_bytes(renumber(raw("Conchita9"), n))
    slug, org = _slug_org("f9")
    proc = subprocess.Popen(
        [str(CLI), "import", str(folder), "--org", slug, "--json"],
        cwd=tmp_path,
        env=_env(runtime),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    count = 0
    try:
        with psycopg.connect(superuser_url, autocommit=True) as conn:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:
                count = conn.execute("SELECT count(*) FROM charts WHERE org_id = %s", (org,)).fetchone()[0]  # type: ignore[index]
                if count >= 5 * per_file:
                    break
                time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    assert 0 < count < copies * per_file, f"the kill did not land mid-import ({count} charts)"
    after_kill = _charts_by_patient(org)
    assert set(after_kill.values()) == {per_file}  # whole files only
    committed = len(after_kill)
    with org_scope(org) as scope:
        job = scope.conn.execute(text("SELECT status, files_done, charts_created FROM import_jobs")).one()
    assert (job[0], job[1], job[2]) == ("running", committed, committed * per_file)  # progress committed with them
    assert _audit_created(org) == (committed * per_file, _chart_ids(org))
    assert _count(org, "SELECT count(*) FROM outbox_events WHERE event_type = 'chart.imported'") == committed * per_file
    # The re-run completes: the files already there are skipped, the rest created, nothing twice.
    rerun = _cli(runtime, tmp_path, "import", str(folder), "--org", slug, "--json")
    assert rerun.returncode == 0, rerun.stderr
    data = json.loads(rerun.stdout)
    assert (data["charts_created"], data["charts_skipped"]) == ((copies - committed) * per_file, committed * per_file)
    final = _charts_by_patient(org)
    assert len(final) == copies
    assert set(final.values()) == {per_file}
    assert _audit_created(org) == (copies * per_file, _chart_ids(org))
    # The killed run's job row is marked failed by the worker once its lease has expired.
    with psycopg.connect(superuser_url) as conn:
        conn.execute(
            "UPDATE import_jobs SET locked_until = now() - interval '1 second' WHERE org_id = %s AND status = 'running'",
            (org,),
        )
    assert import_queue.run_pending_jobs(runtime.settings.smartcoders_home)["abandoned"] >= 1
    with org_scope(org) as scope:
        statuses = sorted(r[0] for r in scope.conn.execute(text("SELECT status FROM import_jobs")))
    assert statuses == ["failed", "succeeded"]


# -- the benchmark -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_bench_import_reports_its_figures(
    runtime: bootstrap.Runtime, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.cli import main
    from app.settings import installed_settings

    monkeypatch.setenv("DATABASE_URL", runtime.services.app_url)
    monkeypatch.setenv("DATABASE_OWNER_URL", runtime.services.owner_url)
    monkeypatch.setenv("REDIS_URL", runtime.services.redis_url)
    capsys.readouterr()
    assert main(["bench", "import", str(demo_file("Conchita9")), "--services-from-env", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out.strip())
    assert figures["bench"] == "import"
    assert (figures["files"], figures["charts_created"], figures["reimport_charts_skipped"]) == (1, 4, 4)
    # Only presence and sign: the ratio between two timings is noise-prone on a shared machine
    # (a single small file parses in well under a millisecond), so no test asserts its size.
    for name in (
        "import_s",
        "mb_per_s",
        "encounters_per_s",
        "charts_per_s",
        "orjson_parse_s",
        "import_over_orjson_parse",
        "peak_rss_mb",
    ):
        assert figures[name] > 0, name
    assert installed_settings() is runtime.settings  # the suite's runtime is back
    assert _count(make_org(), "SELECT count(*) FROM charts") == 0
