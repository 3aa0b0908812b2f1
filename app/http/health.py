"""``/healthz``: each dependency's status (INV-11); 200 when all are up, 503 otherwise."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from app.http.base import PUBLIC, BaseHandler
from datalayer import health
from datalayer.queries import heartbeats
from datalayer.scope import auth_scope


def check(heartbeat_seconds: int) -> tuple[bool, dict[str, object]]:
    db = health.database_ok()
    checks: dict[str, object] = {"database": "ok" if db else "down", "redis": "ok" if health.redis_ok() else "down"}
    if db:
        latest, pending = health.migrations_state()
        checks["migrations"] = {"status": "ok" if not pending else "pending", "version": latest, "pending": pending}
        with auth_scope() as scope:
            beat = heartbeats.latest(scope)
        fresh = beat is not None and datetime.now(UTC) - beat < timedelta(seconds=3 * heartbeat_seconds)
        checks["scheduler"] = {"status": "ok" if fresh else "stale", "last_beat": beat.isoformat() if beat else None}
    else:
        checks["migrations"] = {"status": "unknown"}
        checks["scheduler"] = {"status": "unknown"}
    ok = db and checks["redis"] == "ok" and checks["migrations"]["status"] == "ok"  # type: ignore[index]
    return ok, checks


class HealthHandler(BaseHandler):
    permission = PUBLIC
    api = True

    def prepare(self) -> None:
        # No session lookup: health must answer even when the database is down.
        self.set_header("X-Request-Id", self.request_id)

    async def get(self) -> None:
        loop = asyncio.get_running_loop()
        ok, checks = await loop.run_in_executor(None, check, self.ctx.settings.scheduler_heartbeat_seconds)
        self.write_json({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)
