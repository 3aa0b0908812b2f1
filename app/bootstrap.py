"""Process start-up shared by every CLI command: settings, logging, services, migrations, context."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from app.context import AppContext, build_context
from app.logs import configure_logging, get_logger
from app.settings import Settings, configure, installed_settings, load_settings
from datalayer import db
from datalayer.migrate import migrate

log = get_logger(__name__)


@dataclass
class Runtime:
    settings: Settings
    services: db.Services
    ctx: AppContext

    def stop(self) -> None:
        from app.services.live_counters import stop_hub

        stop_hub()  # its thread reads the database the services are about to stop
        self.ctx.executor.shutdown(wait=False, cancel_futures=True)
        self.services.stop()


def start(*, apply_migrations: bool | None = True, settings: Settings | None = None) -> Runtime:
    """``apply_migrations=None`` migrates only the embedded database (external ones: `smartcoders migrate`)."""
    settings = configure(settings or load_settings())
    configure_logging(settings.log_level, settings.log_format)
    services = db.resolve(settings)
    if apply_migrations or (apply_migrations is None and services.embedded_pg is not None):
        applied = migrate(services.owner_url)
        if applied:
            log.info("migrations_applied", versions=[m.version for m in applied])
    db.connect(settings, services)
    return Runtime(settings=settings, services=services, ctx=build_context(settings))


@contextmanager
def private_runtime(settings: Settings) -> Iterator[Runtime]:
    """``start(settings=settings)`` for the length of a ``with`` block (benchmarks).

    ``settings`` must point at a private, temporary ``SMARTCODERS_HOME``: on exit its embedded
    PostgreSQL and Redis are shut down. The settings, engine and Redis client this process had
    before are then put back, so a benchmark run inside the test suite leaves the suite's own
    runtime working.
    """
    previous = installed_settings()
    services: db.Services | None = None
    try:
        with db.connections_restored():
            rt = start(settings=settings)
            services = rt.services
            try:
                yield rt
            finally:
                rt.ctx.executor.shutdown(wait=True, cancel_futures=True)
        # The process's engine and Redis client are back and this runtime's are closed (after the
        # threads still using them, a session's watchdog say, gave their connections back): only
        # now may its servers go.
    finally:
        if services is not None:
            services.shutdown_embedded()
        if previous is not None:
            configure(previous)
