"""B13: a successful sign-in rewrites a hash made with weaker argon2id parameters.

The suite's runtime hashes at the OWASP floor (m=19456 KiB, t=2, p=1). Here a user's hash is
made at that floor, then they sign in through an ``AuthService`` configured with stronger
parameters: the stored hash must then carry the new parameters, still verify, and not be
rewritten again at the next sign-in. A failed sign-in never touches the hash.
"""

from __future__ import annotations

import dataclasses
import uuid
from types import SimpleNamespace

import pytest
from argon2 import extract_parameters

from app import bootstrap
from app.authz import Role
from app.security.passwords import Hasher
from app.services.auth import AuthService, LoginFailed
from datalayer.queries import users
from datalayer.scope import org_scope
from tests.conftest import PASSWORD, make_org, make_user

WEAK = {"memory_kib": 19456, "time_cost": 2, "parallelism": 1}
STRONG = {"memory_kib": 24576, "time_cost": 3, "parallelism": 2}


def _stored(org_id: uuid.UUID, user_id: uuid.UUID) -> str:
    with org_scope(org_id) as scope:
        stored = users.password_hash(scope, user_id)
    assert stored is not None
    return stored


def _params(stored: str) -> tuple[int, int, int]:
    p = extract_parameters(stored)
    return p.memory_cost, p.time_cost, p.parallelism


@pytest.mark.slow
def test_b13_login_upgrades_weaker_hash(runtime: bootstrap.Runtime) -> None:
    org = make_org()
    email = f"b13-{uuid.uuid4().hex[:8]}@example.test"
    user_id = make_user(SimpleNamespace(hasher=Hasher(**WEAK)), org, Role.CODER, email=email)
    weak_hash = _stored(org, user_id)
    assert _params(weak_hash) == (19456, 2, 1)

    settings = dataclasses.replace(
        runtime.settings,
        password_hash_memory_kib=STRONG["memory_kib"],
        password_hash_time_cost=STRONG["time_cost"],
        password_hash_parallelism=STRONG["parallelism"],
    )
    strong = Hasher(**STRONG)
    auth = AuthService(settings, strong)
    assert strong.needs_rehash(weak_hash)

    with pytest.raises(LoginFailed):
        auth.login(email=email, password="Not-The-Password-123", client_ip="203.0.113.13", user_agent=None)
    assert _stored(org, user_id) == weak_hash, "a failed sign-in must not rewrite the hash"

    auth.login(email=email, password=PASSWORD, client_ip="203.0.113.13", user_agent=None)
    upgraded = _stored(org, user_id)
    assert upgraded != weak_hash
    assert _params(upgraded) == (24576, 3, 2)
    assert not strong.needs_rehash(upgraded)
    assert strong.verify(upgraded, PASSWORD)

    # The upgraded hash signs in, and an up-to-date hash is left alone.
    session = auth.login(email=email, password=PASSWORD, client_ip="203.0.113.13", user_agent=None)
    assert session.principal.user_id == user_id
    assert _stored(org, user_id) == upgraded
    # Parameters live in the hash, so the suite's own (weaker) service still signs the user in; it
    # then stores a hash with *its* parameters: a hash always follows the configuration, so every
    # account costs what the dummy hash of an unknown email costs (C3).
    runtime.ctx.auth.login(email=email, password=PASSWORD, client_ip="203.0.113.14", user_agent=None)
    assert _params(_stored(org, user_id)) == (19456, 2, 1)
