"""The process-wide application context: settings and long-lived services, built once at start-up.

Nothing here holds per-user or per-tenant state (CONVENTIONS 15): it is shared by every session.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from app.security.passwords import Hasher
from app.services.auth import AuthService
from app.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    hasher: Hasher
    auth: AuthService
    # Password hashing and other blocking work run here, off the IOLoop (C7), bounded.
    executor: ThreadPoolExecutor = field(repr=False, default_factory=lambda: ThreadPoolExecutor(2, "sc-work"))


def build_context(settings: Settings) -> AppContext:
    hasher = Hasher(
        memory_kib=settings.password_hash_memory_kib,
        time_cost=settings.password_hash_time_cost,
        parallelism=settings.password_hash_parallelism,
    )
    return AppContext(
        settings=settings,
        hasher=hasher,
        auth=AuthService(settings, hasher),
        executor=ThreadPoolExecutor(settings.password_hash_workers, "sc-work"),
    )
