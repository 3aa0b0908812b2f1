"""Process start-up for the data layer: resolve URLs (embedded or external), build the engine and
the Redis client, and stop embedded servers cleanly on shutdown."""

from __future__ import annotations

import atexit
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import redis
from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool

from app.settings import Settings, redis_is_plaintext_over_network
from datalayer import embedded
from datalayer.engine import make_engine
from datalayer.redis_client import install_redis, make_redis
from datalayer.scope import install_engine

log = logging.getLogger(__name__)

# How long retiring an engine waits for connections other threads still hold.
RETIRE_WAIT_SECONDS = 5.0


@dataclass
class Services:
    app_url: str
    owner_url: str
    redis_url: str
    embedded_pg: embedded.EmbeddedPostgres | None = None
    embedded_redis: embedded.EmbeddedRedis | None = None
    _stopped: bool = field(default=False, repr=False)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        from datalayer.scope import get_engine

        with contextlib.suppress(RuntimeError):
            get_engine().dispose()
        if self.embedded_redis is not None:
            self.embedded_redis.stop()
        if self.embedded_pg is not None:
            self.embedded_pg.stop()

    def shutdown_private(self) -> None:
        """Stop, then shut the embedded servers down too, whoever is still attached.

        Only for services on a private, temporary ``SMARTCODERS_HOME`` that no other process
        shares (the test suite): ``stop`` leaves a Redis running while another client is
        connected, as this process's own Redis client still is, and PostgreSQL running while a
        process that attached to it was killed before it could let go.
        """
        from datalayer.redis_client import get_redis

        self.stop()
        with contextlib.suppress(RuntimeError):
            get_redis().connection_pool.disconnect()
        self.shutdown_embedded()

    def shutdown_embedded(self) -> None:
        """Shut the embedded servers down now, leaving the process's engine and Redis client alone.

        For a private runtime inside a process that runs another one (a benchmark run by the
        suite), once ``connections_restored`` has put the process's own engine and client back
        and retired this runtime's.
        """
        self._stopped = True
        if self.embedded_redis is not None:
            self.embedded_redis.shutdown()
        if self.embedded_pg is not None:
            self.embedded_pg.shutdown()


@contextlib.contextmanager
def connections_restored() -> Iterator[None]:
    """Put back the process engine and Redis client that were installed before the block.

    For a second, private runtime started inside a process that already runs one (a benchmark
    run by the test suite): its ``connect`` replaces both, and its ``stop`` ends them.
    """
    from datalayer import redis_client, scope

    saved_engine, saved_client = scope._engine, redis_client._client
    try:
        yield
    finally:
        engine, client = scope._engine, redis_client._client
        scope._engine, redis_client._client = saved_engine, saved_client
        # Close what the block installed: an engine left to the garbage collector closes its
        # pooled connections whenever a collection happens to run (a ResourceWarning inside
        # whatever test runs then).
        if engine is not None and engine is not saved_engine:
            retire_engine(engine)
        if client is not None and client is not saved_client:
            with contextlib.suppress(OSError, redis.RedisError):
                client.close()
                client.connection_pool.disconnect()


def retire_engine(engine: Engine, *, wait_seconds: float = RETIRE_WAIT_SECONDS) -> None:
    """Close every connection of an engine that is no longer installed but that other threads may
    still be using (a session's watchdog or the live-counters thread took it while it was).

    ``dispose`` closes only the connections checked in at that moment; one checked out then goes
    back, open, to the pool ``dispose`` dropped, and is closed by the garbage collector whenever
    it runs. So wait (bounded) for those to come back first.
    """
    pool = engine.pool
    deadline = time.monotonic() + wait_seconds
    while isinstance(pool, QueuePool) and pool.checkedout() and time.monotonic() < deadline:
        time.sleep(0.005)
    if isinstance(pool, QueuePool) and pool.checkedout():
        log.warning("engine_retired_in_use", extra={"checked_out": pool.checkedout()})
    engine.dispose()


def resolve(settings: Settings) -> Services:
    """Start embedded PostgreSQL/Redis for whatever URL is not configured."""
    pg = None
    rd = None
    if settings.database_url is None:
        pg = embedded.start_postgres(settings.smartcoders_home)
        app_url, owner_url = pg.app_url, pg.owner_url
        log.info("embedded_postgres_started", extra={"socket_dir": pg.socket_dir})
    else:
        # sslmode/sslrootcert from the settings (verify-full by default in production, ADR 0017)
        app_url = settings.database_url_with_tls(settings.database_url.get())
        owner_url = (
            settings.database_url_with_tls(settings.database_owner_url.get())
            if settings.database_owner_url
            else app_url
        )
    if settings.redis_url is None:
        rd = embedded.start_redis(settings.smartcoders_home)
        redis_url = rd.url
        log.info("embedded_redis_started")
    else:
        redis_url = settings.redis_url.get()
        if settings.is_production and redis_is_plaintext_over_network(redis_url):
            # Redis holds no PHI (hashed keys; events carry ids and counts), so this is a warning,
            # not a refusal like the database's; the compose stack uses rediss:// (ADR 0017).
            log.warning("redis_without_tls: REDIS_URL reaches a server over the network as redis://; use rediss://")
    services = Services(app_url=app_url, owner_url=owner_url, redis_url=redis_url, embedded_pg=pg, embedded_redis=rd)
    atexit.register(services.stop)
    return services


def connect(settings: Settings, services: Services, **engine_options: Any) -> None:
    """Install the process engine (as the app role) and Redis client."""
    install_engine(
        make_engine(
            services.app_url,
            pool_size=settings.db_pool_size,
            pool_timeout=settings.db_pool_timeout_seconds,
            statement_timeout_ms=settings.db_statement_timeout_ms,
            **engine_options,
        )
    )
    install_redis(
        make_redis(services.redis_url, timeout=settings.redis_timeout_seconds, ca_certs=settings.redis_tls_ca_cert)
    )
