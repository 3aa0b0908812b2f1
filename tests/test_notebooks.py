"""The analysts' notebooks (``notebooks/*.ipynb``): stored without outputs, and run top to bottom
in a real Jupyter kernel (nbclient) on fixture data, one through each source of ``pipelines.sources``:

- ``accuracy.ipynb`` over Parquet frames: the worked organisation of ``tests/test_rollups.py``
  exported with ``write_parquet``, plus a second, blind audit of one submission by another
  supervisor (one verdict differs) so the agreement section has a pair to measure;
- ``throughput.ipynb`` over the database: ``SMARTCODERS_METRICS_ORG`` and the suite's
  ``SMARTCODERS_HOME``, read in the read-only snapshot.

A cell that raises fails the test (``CellExecutionError`` names it); the plots must render to
Bokeh output, not only build.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import nbformat
import polars as pl
import pytest
from nbclient import NotebookClient

from app import bootstrap
from datalayer.queries import orgs
from datalayer.scope import org_scope
from pipelines import sources
from pipelines.frames import Frames
from tests.test_rollups import _worked_team

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def test_notebooks_are_stored_without_outputs() -> None:
    found = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert found == ["accuracy.ipynb", "throughput.ipynb"]
    for name in found:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [], f"{name}: a cell holds outputs; clear them before committing"
                assert cell.execution_count is None, f"{name}: clear the execution counts"


def _kernel_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SMARTCODERS_", "DATABASE_", "REDIS_")) and not k.startswith("PYTEST")
    }
    return env | extra


def _run(name: str, env: dict[str, str]) -> Any:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute(env=env)
    return nb


def _bokeh_outputs(nb: Any) -> int:
    return sum(
        1
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.get("output_type") == "display_data" and "application/vnd.holoviews_exec.v0+json" in out.get("data", {})
    )


def _texts(nb: Any, mime: str) -> str:
    return "\n".join(
        str(out.get("data", {}).get(mime, "")) for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
    )


def _with_double_audit(frames: Frames) -> Frames:
    """The frames plus a second supervisor's decided audit of the first approved submission:
    the same verdicts except the first row's."""
    first = frames.audits.filter(pl.col("decision") == "approve").sort("decided_at").head(1).collect()
    second_id = str(uuid.uuid4())
    second = first.with_columns(
        audit_id=pl.lit(second_id),
        supervisor_id=pl.lit(str(uuid.uuid4())),
        decided_at=pl.col("decided_at") + pl.duration(hours=1),
    )
    findings = frames.findings.filter(pl.col("audit_id") == first["audit_id"][0]).collect()
    copied = findings.with_columns(
        finding_id=pl.Series([str(uuid.uuid4()) for _ in range(findings.height)]),
        audit_id=pl.lit(second_id),
        verdict=pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("wrong_code")).otherwise(pl.col("verdict")),
    )
    inputs: dict[str, pl.LazyFrame | pl.DataFrame] = dict(frames.items())
    inputs["audits"] = pl.concat([frames.audits.collect(), second])
    inputs["findings"] = pl.concat([frames.findings.collect(), copied])
    return Frames.of(**inputs)


@pytest.mark.slow
def test_accuracy_notebook_runs_on_parquet_frames(runtime: bootstrap.Runtime, tmp_path: Path) -> None:
    team, _ = _worked_team(runtime.ctx)
    frames = _with_double_audit(sources.read_database(team.org_id))
    sources.write_parquet(frames, tmp_path / "frames")
    nb = _run("accuracy.ipynb", _kernel_env(SMARTCODERS_METRICS_PARQUET=str(tmp_path / "frames")))
    assert _bokeh_outputs(nb) >= 5
    assert "5 charts, 4 submissions, 3 audits." in _texts(nb, "text/markdown")
    everything = _texts(nb, "text/plain") + _texts(nb, "text/html")
    assert "No submission was audited by two supervisors" not in everything
    assert "observed_agreement" in everything  # the kappa of the blind double audit is shown


@pytest.mark.slow
def test_throughput_notebook_runs_on_the_database(runtime: bootstrap.Runtime) -> None:
    team, _ = _worked_team(runtime.ctx)
    with org_scope(team.org_id) as scope:
        slug = orgs.get(scope).slug
    env = _kernel_env(
        SMARTCODERS_ENV="test",
        SMARTCODERS_HOME=str(runtime.settings.smartcoders_home),
        SMARTCODERS_METRICS_ORG=slug,
        LOG_LEVEL="WARNING",
    )
    nb = _run("throughput.ipynb", env)
    assert _bokeh_outputs(nb) >= 4
    # The worked organisation: 5 charts, 4 submissions (one a resubmission), 2 audits.
    assert "5 charts, 4 submissions, 2 audits." in _texts(nb, "text/markdown")
