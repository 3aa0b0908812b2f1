"""`smartcoders bench chart-change` runs end to end on a few charts (shape only, never a duration:
the figures are for reading, not for asserting)."""

from __future__ import annotations

import json

import pytest

from app.cli import main

pytestmark = pytest.mark.slow


def test_bench_chart_change_reports_every_figure(capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["bench", "chart-change", "--charts", "4", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out  # the JSON object is the whole answer
    figures = json.loads(out[0])
    assert figures["bench"] == "chart-change"
    assert figures["charts"] == 4
    assert figures["changes"] >= 4 * 8  # at least two codes, a procedure and six edits per chart
    for name in ("change_p50_ms", "change_p95_ms", "change_p99_ms", "engine_p50_ms", "add_p95_ms", "move_p95_ms"):
        assert figures[name] > 0, name
    assert figures["change_p50_ms"] <= figures["change_p95_ms"] <= figures["change_p99_ms"]
    assert figures["meets_target"] in ("yes", "no")
