"""`smartcoders bench queue` runs end to end with a small organisation (shape only, never timings).

Through ``app.cli.main`` against the suite's own PostgreSQL and Redis (``--services-from-env``);
afterwards the suite's engine, Redis client and Panel options are the suite's again.
"""

from __future__ import annotations

import json
from typing import Any

import panel as pn
import pytest

from app import bootstrap
from app.cli import main
from datalayer.redis_client import get_redis
from datalayer.scope import get_engine

pytestmark = pytest.mark.slow


def test_bench_queue(runtime: bootstrap.Runtime, capsys: pytest.CaptureFixture[str], monkeypatch: Any) -> None:
    monkeypatch.setenv("DATABASE_URL", runtime.services.app_url)
    monkeypatch.setenv("DATABASE_OWNER_URL", runtime.services.owner_url)
    monkeypatch.setenv("REDIS_URL", runtime.services.redis_url)
    capsys.readouterr()
    before = (get_engine(), get_redis(), pn.config.authorize_callback, pn.config.global_css)
    args = ["bench", "queue", "--charts", "600", "--coders", "3", "--iterations", "2", "--services-from-env", "--json"]
    assert main(args) == 0
    assert (get_engine(), get_redis(), pn.config.authorize_callback, pn.config.global_css) == before
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    figures = json.loads(out[0])
    assert figures["charts"] == 600
    assert figures["coders"] == 3
    assert figures["coder_charts"] == 160  # 480 assigned charts over 3 coders
    assert 0 < figures["coder_open_charts"] < figures["coder_charts"]
    for name in ("queue_query", "queue_all_query", "queue_page", "assign_query", "assign_page"):
        assert figures[f"{name}_p50_ms"] > 0
        assert figures[f"{name}_p95_ms"] >= figures[f"{name}_p50_ms"]
