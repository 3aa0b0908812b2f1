"""Rotating JWT_SECRET and COOKIE_SECRET without signing everyone out.

While ``JWT_SECRET_PREVIOUS`` / ``COOKIE_SECRET_PREVIOUS`` hold the old keys, sessions, cookies and
CSRF tokens signed with them still verify; new ones are signed with the new keys only; once the
previous setting is emptied, the old ones stop verifying. Production refuses a weak previous key
and one equal to the current key.
"""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from pathlib import Path
from typing import Any

import pytest
from tornado.web import create_signed_value

from app import bootstrap
from app.authz import Role
from app.errors import ConfigError
from app.security import tokens
from app.services.auth import AuthService
from app.settings import Secret, Settings, load_settings
from tests.conftest import PASSWORD, make_org, make_user

OLD, NEW = secrets.token_urlsafe(48), secrets.token_urlsafe(48)


def _auth(runtime: bootstrap.Runtime, **keys: Any) -> AuthService:
    settings = dataclasses.replace(runtime.settings, **keys)
    return AuthService(settings, runtime.ctx.hasher)


def _cookie(settings: Settings, secret: str, token: str) -> str:
    return create_signed_value(secret, settings.cookie_name, token).decode()


def test_a_session_signed_with_the_previous_jwt_secret_lives_until_the_previous_is_unset(
    runtime: bootstrap.Runtime,
) -> None:
    email = f"rotate-{uuid.uuid4().hex[:8]}@example.test"
    make_user(runtime.ctx, make_org(), Role.CODER, email=email)
    before = _auth(runtime, jwt_secret=Secret(OLD), jwt_secret_previous=None)
    session = before.login(email=email, password=PASSWORD, client_ip="192.0.2.80", user_agent=None)

    during = _auth(runtime, jwt_secret=Secret(NEW), jwt_secret_previous=Secret(OLD))
    principal = during.authenticate(session.token, touch=False)
    assert principal is not None
    assert principal.session_id == session.principal.session_id
    fresh = during.login(email=email, password=PASSWORD, client_ip="192.0.2.80", user_agent=None)
    assert tokens.decode(fresh.token, (NEW,)) is not None  # new sessions: the new key only
    assert tokens.decode(fresh.token, (OLD,)) is None

    after = _auth(runtime, jwt_secret=Secret(NEW), jwt_secret_previous=None)
    assert after.authenticate(session.token, touch=False) is None
    assert after.authenticate(fresh.token, touch=False) is not None


def test_cookies_and_csrf_tokens_signed_with_the_previous_cookie_secret(runtime: bootstrap.Runtime) -> None:
    during = dataclasses.replace(runtime.settings, cookie_secret=Secret(NEW), cookie_secret_previous=Secret(OLD))
    after = dataclasses.replace(runtime.settings, cookie_secret=Secret(NEW), cookie_secret_previous=None)
    name = during.cookie_name

    old_cookie = _cookie(during, OLD, "the-jwt")
    assert tokens.read_signed_cookie(name, old_cookie, during.cookie_secrets, max_age_days=1) == "the-jwt"
    assert tokens.read_signed_cookie(name, old_cookie, after.cookie_secrets, max_age_days=1) is None
    new_cookie = _cookie(during, NEW, "the-jwt")
    assert tokens.read_signed_cookie(name, new_cookie, after.cookie_secrets, max_age_days=1) == "the-jwt"
    forged = _cookie(during, secrets.token_urlsafe(48), "the-jwt")
    assert tokens.read_signed_cookie(name, forged, during.cookie_secrets, max_age_days=1) is None
    assert tokens.read_signed_cookie(name, None, during.cookie_secrets, max_age_days=1) is None

    sid = uuid.uuid4()
    old_csrf = tokens.csrf_token(sid, OLD)
    assert tokens.csrf_matches(sid, during.cookie_secrets, old_csrf)
    assert not tokens.csrf_matches(sid, after.cookie_secrets, old_csrf)
    assert not tokens.csrf_matches(uuid.uuid4(), during.cookie_secrets, old_csrf)  # still bound to its session


def _production(tmp_path: Path, **extra: str) -> Settings:
    env = {
        "SMARTCODERS_ENV": "production",
        "SMARTCODERS_HOME": str(tmp_path),
        "APP_URL": "https://coding.example.org",
        "DATABASE_URL": "postgresql://smartcoders_app@db.internal/smartcoders",
        "REDIS_URL": "redis://cache.internal:6379/0",
        "JWT_SECRET": NEW,
        "COOKIE_SECRET": secrets.token_urlsafe(48),
        "SESSION_SECRET": secrets.token_urlsafe(48),
        "WEBHOOK_SIGNING_SECRET": secrets.token_urlsafe(48),
    }
    return load_settings({**env, **extra}, env_file=None)


@pytest.mark.parametrize("name", ["JWT_SECRET_PREVIOUS", "COOKIE_SECRET_PREVIOUS"])
def test_production_refuses_a_weak_previous_secret(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} is weak"):
        _production(tmp_path, **{name: "changeme"})


def test_production_refuses_a_previous_secret_equal_to_the_current_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="JWT_SECRET_PREVIOUS must differ from JWT_SECRET"):
        _production(tmp_path, JWT_SECRET_PREVIOUS=NEW)


def test_production_takes_a_strong_previous_secret_and_never_shows_it(tmp_path: Path) -> None:
    settings = _production(tmp_path, JWT_SECRET_PREVIOUS=OLD, COOKIE_SECRET_PREVIOUS=OLD)
    assert settings.jwt_secrets == (NEW, OLD)
    assert settings.cookie_secrets[1] == OLD
    assert OLD not in repr(settings)
