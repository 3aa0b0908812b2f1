"""Publishing domain events on Redis pub/sub, one channel per organisation.

The channel name carries the organisation id, so a subscriber (the live dashboard's per-process
hub) can listen to exactly the tenants it serves and nothing in a message has to be trusted to say
whose it is. Pub/sub is fire-and-forget: a subscriber that is not connected misses the message,
which is why the outbox, not Redis, is the record of what happened.
"""

from __future__ import annotations

from typing import Final
from uuid import UUID

import redis

from app.errors import ServiceUnavailable
from datalayer.redis_client import get_redis

CHANNEL_PREFIX: Final = "sc:events:"
CHANNEL_PATTERN: Final = CHANNEL_PREFIX + "*"


def channel(org_id: UUID) -> str:
    return f"{CHANNEL_PREFIX}{org_id}"


def publish(org_id: UUID, message: bytes) -> int:
    """Publish one message on the organisation's channel; returns the number of subscribers reached.

    Raises ServiceUnavailable when Redis does not answer within the client's timeout, so the relay
    can tell "the bus is down" (give the batch back) from "this event is bad" (count an attempt).
    """
    try:
        return int(get_redis().publish(channel(org_id), message))
    except redis.RedisError as exc:
        raise ServiceUnavailable("event bus unavailable") from exc
