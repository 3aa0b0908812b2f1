"""Session JWTs (PyJWT, HS256) and session-bound CSRF tokens.

The JWT lives in a Tornado-signed httpOnly cookie; its ``sid`` names a server-side session row,
so logout, password changes and deactivation revoke it at once. Decoding pins the algorithm,
audience and issuer and requires every claim we rely on.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from uuid import UUID

import jwt
from tornado.web import decode_signed_value

ISSUER: Final = "smartcoders"
AUDIENCE: Final = "smartcoders-web"
ALGORITHM: Final = "HS256"
LEEWAY_SECONDS: Final = 30


@dataclass(frozen=True)
class SessionClaims:
    user_id: UUID
    org_id: UUID
    role: str
    session_id: UUID
    issued_at: datetime
    expires_at: datetime


def encode(claims: SessionClaims, secret: str) -> str:
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(claims.user_id),
        "org": str(claims.org_id),
        "role": claims.role,
        "sid": str(claims.session_id),
        "jti": str(claims.session_id),
        "iat": int(claims.issued_at.timestamp()),
        "exp": int(claims.expires_at.timestamp()),
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def decode(token: str, secrets: tuple[str, ...]) -> SessionClaims | None:
    """The verified claims, or None for any invalid token (never raises).

    ``secrets``: the current key first, then the previous one during a rotation (a token it
    signed stays valid until it expires or its session ends).
    """
    for secret in secrets:
        claims = _decode(token, secret)
        if claims is not None:
            return claims
    return None


def _decode(token: str, secret: str) -> SessionClaims | None:
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "sub", "sid", "org", "role", "jti", "iss", "aud"]},
        )
        return SessionClaims(
            user_id=UUID(payload["sub"]),
            org_id=UUID(payload["org"]),
            role=str(payload["role"]),
            session_id=UUID(payload["sid"]),
            issued_at=datetime.fromtimestamp(payload["iat"], UTC),
            expires_at=datetime.fromtimestamp(payload["exp"], UTC),
        )
    except (jwt.PyJWTError, KeyError, ValueError, TypeError):
        return None


def csrf_token(session_id: UUID, secret: str) -> str:
    """The CSRF token for a session: HMAC(secret, sid). An attacker who plants a cookie cannot
    produce the token bound to the victim's session (SECURITY.md B10)."""
    return hmac.new(secret.encode(), f"csrf:{session_id}".encode(), hashlib.sha256).hexdigest()


def csrf_matches(session_id: UUID, secrets: tuple[str, ...], presented: str | None) -> bool:
    """Whether ``presented`` is the session's token under the current key or, during a rotation,
    the previous one (pages opened before the rotation keep working)."""
    if not presented:
        return False
    return any(hmac.compare_digest(csrf_token(session_id, secret), presented) for secret in secrets)


def read_signed_cookie(name: str, value: str | None, secrets: tuple[str, ...], *, max_age_days: float) -> str | None:
    """A Tornado-signed cookie's value, verified with the current key or, during a rotation, the
    previous one; None when it verifies with neither. Cookies are always signed with the current
    key (``RequestHandler.set_signed_cookie``)."""
    if not value:
        return None
    for secret in secrets:
        raw = decode_signed_value(secret, name, value, max_age_days=max_age_days)
        if raw is not None:
            return raw.decode()
    return None


# -- the pending second step of a sign-in ----------------------------------------------------------

TWO_STEP_AUDIENCE: Final = "smartcoders-two-step"
TWO_STEP_LIFETIME_SECONDS: Final = 300


def encode_two_step(user_id: UUID, org_id: UUID, now: datetime, secret: str) -> str:
    """Proof that ``user_id`` gave the right password at ``now``: good for the code step only
    (its own audience), for five minutes. It opens no session and reaches no page."""
    payload = {
        "iss": ISSUER,
        "aud": TWO_STEP_AUDIENCE,
        "sub": str(user_id),
        "org": str(org_id),
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + TWO_STEP_LIFETIME_SECONDS,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def decode_two_step(token: str | None, secrets: tuple[str, ...]) -> tuple[UUID, UUID] | None:
    """``(user_id, org_id)`` of a valid pending sign-in, else None (never raises)."""
    if not token:
        return None
    for secret in secrets:
        try:
            payload = jwt.decode(
                token,
                secret,
                algorithms=[ALGORITHM],
                audience=TWO_STEP_AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "org", "iss", "aud"]},
            )
            return UUID(payload["sub"]), UUID(payload["org"])
        except (jwt.PyJWTError, KeyError, ValueError, TypeError):
            continue
    return None
