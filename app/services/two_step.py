"""Turning two-step sign-in on and off (ADR 0019). The sign-in itself is in ``app.services.auth``.

- A user turns it on from ``/account``: the page shows a fresh key (QR code and text); the user
  adds it to an authenticator app and confirms with their current password and a code, which
  proves the app has the key. The code's time step is recorded as used.
- Turning it off needs the current password and a code (someone at an unlocked screen cannot).
- A manager turns it off for a user of their organisation who lost their phone (audited, and all
  of that user's sessions end); a password change or a reset link never turns it off.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from app.authz import Permission, Principal
from app.errors import Conflict, ValidationFailed
from app.security import totp
from app.security.passwords import Hasher
from app.services import audit
from app.services.audit import Actor
from datalayer.queries import sessions, users
from datalayer.scope import Scope, user_scope


@dataclass(frozen=True)
class Enrolment:
    """What the account page shows to set two-step sign-in up (the key is not stored yet)."""

    secret: str
    uri: str
    qr_svg: str
    grouped: str


def status(principal: Principal) -> datetime | None:
    """Since when the caller signs in in two steps, or None."""
    principal.require(Permission.ACCOUNT_VIEW)
    with user_scope(principal.org_id, principal.user_id) as scope:
        return users.two_step(scope, principal.user_id).enabled_at


def start_enrolment(principal: Principal, organisation: str) -> Enrolment:
    principal.require(Permission.ACCOUNT_VIEW)
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, account=principal.email, organisation=organisation)
    return Enrolment(secret=secret, uri=uri, qr_svg=totp.qr_svg(uri), grouped=totp.grouped(secret))


def _check_password(principal: Principal, hasher: Hasher, current: str) -> None:
    with user_scope(principal.org_id, principal.user_id) as scope:
        stored = users.password_hash(scope, principal.user_id)
    if not hasher.verify(stored, current):
        raise ValidationFailed(fields={"current": "Your current password is not correct."})


def enable(
    principal: Principal, *, secret: str, code: str, current: str, hasher: Hasher, client_ip: str | None = None
) -> None:
    """Turn two-step sign-in on with ``secret`` (from ``start_enrolment``), once the current
    password and a code from the app are right."""
    principal.require(Permission.ACCOUNT_VIEW)
    _check_password(principal, hasher, current)
    now = datetime.now(UTC)
    step = totp.matched_step(secret, code, now)
    if step is None:
        raise ValidationFailed(
            fields={"code": "That code does not match: check the app shows SmartCoders' newest code."}
        )
    with user_scope(principal.org_id, principal.user_id) as scope:
        if users.two_step(scope, principal.user_id).secret is not None:
            raise Conflict("Two-step sign-in is already on.")
        users.enable_two_step(scope, principal.user_id, secret=secret, step=step, now=now)
        _audit(scope, principal, "authn_two_step_enabled", principal.user_id, client_ip)


def disable(principal: Principal, *, code: str, current: str, hasher: Hasher, client_ip: str | None = None) -> None:
    """Turn it off for oneself: the current password and a fresh code."""
    principal.require(Permission.ACCOUNT_VIEW)
    _check_password(principal, hasher, current)
    now = datetime.now(UTC)
    with user_scope(principal.org_id, principal.user_id) as scope:
        secret = users.two_step(scope, principal.user_id).secret
        if secret is None:
            raise Conflict("Two-step sign-in is already off.")
        step = totp.matched_step(secret, code, now)
        if step is None or not users.accept_step(scope, principal.user_id, step):
            raise ValidationFailed(fields={"code": "That code did not work (each code works once): try the next one."})
        users.disable_two_step(scope, principal.user_id, now=now)
        _audit(scope, principal, "authn_two_step_disabled", principal.user_id, client_ip)


def reset_for_user(principal: Principal, user_id: UUID, *, client_ip: str | None = None) -> int:
    """A manager turns two-step sign-in off for a user who lost their authenticator; the user's
    sessions end. Returns how many sessions were signed out."""
    principal.require(Permission.USERS_MANAGE)
    now = datetime.now(UTC)
    with user_scope(principal.org_id, principal.user_id) as scope:
        target = users.get(scope, user_id)
        if not users.disable_two_step(scope, user_id, now=now):
            raise Conflict(f"{target.name} does not use two-step sign-in.")
        revoked = sessions.revoke_for_user(scope, user_id, now=now, reason="password_changed")
        _audit(scope, principal, "authn_two_step_reset", user_id, client_ip, details={"sessions_revoked": revoked})
    return revoked


def _audit(
    scope: Scope,
    principal: Principal,
    action: str,
    user_id: UUID,
    client_ip: str | None,
    *,
    details: dict[str, int] | None = None,
) -> None:
    audit.record(
        scope,
        action=action,
        actor=Actor(principal.user_id, principal.role, client_ip),
        object_type="user",
        object_id=user_id,
        details=details,
    )
