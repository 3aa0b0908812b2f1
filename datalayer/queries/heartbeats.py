"""Scheduler heartbeats (platform table, not org-owned)."""

from __future__ import annotations

from datetime import datetime

from datalayer.queries._util import execute, maybe
from datalayer.scope import Scope


def beat(scope: Scope, *, scheduler: str, now: datetime, host: str, pid: int) -> None:
    execute(
        scope,
        """INSERT INTO scheduler_heartbeats (scheduler, beat_at, host, pid) VALUES (:s, :now, :host, :pid)
           ON CONFLICT (scheduler) DO UPDATE SET beat_at = EXCLUDED.beat_at, host = EXCLUDED.host, pid = EXCLUDED.pid""",
        {"s": scheduler, "now": now, "host": host, "pid": pid},
    )


def latest(scope: Scope) -> datetime | None:
    row = maybe(scope, "SELECT max(h.beat_at) AS at FROM scheduler_heartbeats AS h")
    return None if row is None else row["at"]
