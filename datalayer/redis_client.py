"""Redis helpers with explicit timeouts and a small retry budget.

redis-py's default retries stall about 9 s on a hung server even with a short socket timeout;
every client here retries a dropped connection once and never retries a timeout, so a call fails in
about one ``timeout`` and callers can fail closed (rate limits) or open (caches) deliberately.
Keys never contain PHI: emails and IPs are hashed before they become part of a key.
"""

from __future__ import annotations

import contextlib
import time

import redis
from redis.backoff import ConstantBackoff
from redis.retry import Retry

from app.errors import ServiceUnavailable


def make_redis(url: str, *, timeout: float = 0.25, ca_certs: str | None = None) -> redis.Redis:
    """A client for ``url``; a ``rediss://`` server must present a certificate valid for its host name,
    signed by ``ca_certs`` (a PEM file) or, without it, by a CA in the system store."""
    tls: dict[str, object] = {}
    if url.startswith("rediss://"):
        tls = {"ssl_cert_reqs": "required", "ssl_check_hostname": True, "ssl_ca_certs": ca_certs}
    return redis.Redis.from_url(
        url,
        **tls,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(ConstantBackoff(0.01), retries=1, supported_errors=(redis.ConnectionError,)),
        retry_on_timeout=False,  # a hung server must not cost more than one timeout per call
        health_check_interval=30,
        decode_responses=True,
    )


_client: redis.Redis | None = None


def install_redis(client: redis.Redis) -> None:
    global _client
    _client = client


def get_redis() -> redis.Redis:
    if _client is None:
        raise RuntimeError("redis client not installed; call datalayer.db.connect() first")
    return _client


def count_in_windows(keys: list[tuple[str, int]], *, now: float | None = None) -> list[int]:
    """Atomically add one to each fixed-window counter ``(key, window_seconds)``; return the new counts.

    Raises ServiceUnavailable when Redis cannot answer in time, so callers fail closed.
    """
    now = time.time() if now is None else now
    try:
        pipe = get_redis().pipeline(transaction=True)
        for key, window in keys:
            bucket = f"{key}:{int(now // window)}"
            pipe.incr(bucket)
            pipe.expire(bucket, window + 5)
        results = pipe.execute()
    except redis.RedisError as exc:
        raise ServiceUnavailable("rate limiter unavailable") from exc
    return [int(results[i * 2]) for i in range(len(keys))]


def reset_windows(keys: list[tuple[str, int]], *, now: float | None = None) -> None:
    now = time.time() if now is None else now
    with contextlib.suppress(redis.RedisError):  # best effort: the window expires on its own
        get_redis().delete(*[f"{key}:{int(now // window)}" for key, window in keys])


def ping() -> bool:
    try:
        return bool(get_redis().ping())
    except redis.RedisError:
        return False
