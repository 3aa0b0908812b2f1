"""The Redis copy of each organisation's live counters (``app.services.live_counters``).

One key per organisation, ``sc:live:<org id>``: the tenant is part of the key, and the value holds
counts only (no PHI). The cache is an optimisation, never the truth: every call fails open —
a Redis error reads as a miss and a failed write is dropped — and the caller falls back to the
database.
"""

from __future__ import annotations

import contextlib
from typing import Final
from uuid import UUID

import redis

from datalayer.redis_client import get_redis

KEY_PREFIX: Final = "sc:live:"


def key(org_id: UUID) -> str:
    return f"{KEY_PREFIX}{org_id}"


def get(org_id: UUID) -> str | None:
    try:
        value = get_redis().get(key(org_id))
    except redis.RedisError:
        return None
    return None if value is None else str(value)


def put(org_id: UUID, value: str, *, ttl_seconds: float) -> None:
    with contextlib.suppress(redis.RedisError):
        get_redis().set(key(org_id), value, px=max(1, int(ttl_seconds * 1000)))


def forget(org_id: UUID) -> None:
    with contextlib.suppress(redis.RedisError):
        get_redis().delete(key(org_id))
