"""A private runtime inside the process (a benchmark run by the suite) closes the engine and Redis
client it installed when it ends: left to the garbage collector, their open connections raised a
ResourceWarning in whichever test happened to run during the next collection."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import text

from app import bootstrap
from datalayer import db, redis_client, scope
from datalayer.engine import make_engine
from datalayer.redis_client import make_redis


def test_connections_restored_closes_what_the_block_installed(runtime: bootstrap.Runtime) -> None:
    suite_engine, suite_client = scope.get_engine(), redis_client.get_redis()
    private_engine = make_engine(runtime.services.app_url, pool_size=1)
    private_client = make_redis(runtime.services.redis_url, timeout=5)
    with db.connections_restored():
        scope.install_engine(private_engine)
        redis_client.install_redis(private_client)
        with scope.get_engine().connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
        assert redis_client.get_redis().ping()
        assert private_engine.pool.checkedin() == 1  # pooled, open
    assert (scope.get_engine(), redis_client.get_redis()) == (suite_engine, suite_client)
    assert private_engine.pool.checkedin() == 0  # disposed: its connections are closed
    pooled = private_client.connection_pool._available_connections  # type: ignore[attr-defined]
    assert pooled
    assert all(c._sock is None for c in pooled)  # disconnected
    assert suite_client.ping()  # the suite's own client and engine are untouched
    with scope.get_engine().connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1


@pytest.mark.slow
def test_a_connection_another_thread_still_holds_is_closed_too(runtime: bootstrap.Runtime) -> None:
    # A session's watchdog (or the live-counters thread) took the private engine while it was
    # installed and gives its connection back just after the block ends. Disposing at once
    # would leave that connection open in a pool nobody holds, for the garbage collector to
    # close in whatever test runs then (a ResourceWarning that failed test_browser in CI).
    private_engine = make_engine(runtime.services.app_url, pool_size=1)
    taken, release = threading.Event(), threading.Event()
    held: list[Any] = []

    def watchdog() -> None:
        with scope.get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
            held.append(conn.connection.dbapi_connection)
            taken.set()
            release.wait(5)

    with db.connections_restored():
        scope.install_engine(private_engine)
        thread = threading.Thread(target=watchdog)
        thread.start()
        assert taken.wait(5)
        threading.Timer(0.2, release.set).start()  # gives it back while the block is ending
    thread.join(5)
    (dbapi_connection,) = held
    assert dbapi_connection.closed
    assert private_engine.pool.checkedout() == 0
