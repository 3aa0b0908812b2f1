"""User and account actions. Each takes the caller's principal, checks permission, writes its audit
row (and any email) in the same transaction."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from uuid import UUID

from app.authz import Permission, Principal, Role
from app.errors import Conflict, NotFound, ValidationFailed
from app.security.passwords import Hasher, policy_problems
from app.services import audit, emails
from app.services.audit import Actor
from app.services.auth import EMAIL_RE, normalise_email
from app.settings import Settings
from datalayer.queries import invitations, orgs, sessions, users
from datalayer.queries.sessions import SessionRow
from datalayer.queries.users import User
from datalayer.scope import Scope, auth_scope, user_scope

INVITATION_LIFETIME: Final = timedelta(hours=72)


def _actor(principal: Principal, client_ip: str | None = None) -> Actor:
    return Actor(principal.user_id, principal.role, client_ip)


def _role(raw: str) -> Role:
    try:
        return Role(raw)
    except ValueError:
        raise ValidationFailed(fields={"role": "Choose manager, supervisor, coder or analyst."}) from None


def list_users(principal: Principal) -> list[User]:
    principal.require(Permission.USERS_MANAGE)
    with user_scope(principal.org_id, principal.user_id) as scope:
        return users.list_for_org(scope)


@dataclass(frozen=True)
class CreatedUser:
    user: User
    invitation_token: str


def create_user(
    principal: Principal, *, email: str, name: str, role: str, settings: Settings, client_ip: str | None = None
) -> CreatedUser:
    """Add a user to the caller's organisation and email them a single-use invitation link."""
    principal.require(Permission.USERS_MANAGE)
    email, name = normalise_email(email), name.strip()
    problems: dict[str, str] = {}
    if not EMAIL_RE.match(email) or len(email) > 254:
        problems["email"] = "Enter a valid email address."
    if not 1 <= len(name) <= 200:
        problems["name"] = "Enter the person's name (up to 200 characters)."
    try:
        checked_role = Role(role)
    except ValueError:
        problems["role"] = "Choose manager, supervisor, coder or analyst."
    if problems:
        raise ValidationFailed(fields=problems)
    with auth_scope() as scope:
        if users.find_for_login(scope, email) is not None:
            raise Conflict("That email cannot be used: it already belongs to an account.")
    now = datetime.now(UTC)
    with user_scope(principal.org_id, principal.user_id) as scope:
        org = orgs.get(scope)
        user = users.insert(
            scope, user_id=uuid.uuid4(), email=email, name=name, role=checked_role, password_hash=None, now=now
        )
        token = _issue_invitation(scope, user_id=user.id, created_by=principal.user_id, now=now)
        emails.enqueue(
            scope,
            to=email,
            template="invitation",
            subject=f"You're invited to {org.name} on SmartCoders",
            body=(
                f"Hello {name},\n\n{principal.name} added you to {org.name} on SmartCoders as "
                f"{checked_role.value}.\n\nSet your password within 72 hours:\n"
                f"{settings.app_url}/invite?token={token}\n\nIf you were not expecting this, ignore this email.\n"
            ),
        )
        audit.record(
            scope,
            action="user_created",
            actor=_actor(principal, client_ip),
            object_type="user",
            object_id=user.id,
            details={"role": checked_role.value},
        )
    return CreatedUser(user, token)


def resend_invitation(principal: Principal, user_id: UUID, *, settings: Settings, client_ip: str | None = None) -> str:
    """A new invitation link for a user who has not set a password yet (the old links stop working)."""
    return _send_password_link(principal, user_id, settings=settings, client_ip=client_ip, reset=False)


def send_password_reset(
    principal: Principal, user_id: UUID, *, settings: Settings, client_ip: str | None = None
) -> str:
    """A link to choose a new password, for a user who forgot theirs (there is no self-service
    reset: a manager vouches for the request). The current password keeps working until the link
    is used; using it signs the user out everywhere."""
    return _send_password_link(principal, user_id, settings=settings, client_ip=client_ip, reset=True)


def _send_password_link(
    principal: Principal, user_id: UUID, *, settings: Settings, client_ip: str | None, reset: bool
) -> str:
    principal.require(Permission.USERS_MANAGE)
    now = datetime.now(UTC)
    with user_scope(principal.org_id, principal.user_id) as scope:
        user = users.get(scope, user_id)
        if not user.is_active:
            raise Conflict(f"{user.name} is deactivated.")
        if user.has_password and not reset:
            raise Conflict(f"{user.name} has already set a password.")
        if reset and not user.has_password:
            raise Conflict(f"{user.name} has not set a password yet: resend the invitation instead.")
        org = orgs.get(scope)
        invitations.revoke_open_for_user(scope, user.id, now)
        token = _issue_invitation(scope, user_id=user.id, created_by=principal.user_id, now=now)
        link = f"{settings.app_url}/invite?token={token}"
        if reset:
            subject = "Choose a new SmartCoders password"
            body = (
                f"Hello {user.name},\n\n{principal.name} sent you a link to choose a new password for "
                f"SmartCoders at {org.name} (valid 72 hours):\n{link}\n\nYour current password works "
                "until you use it. If you did not ask for this, tell your manager.\n"
            )
        else:
            subject = f"You're invited to {org.name} on SmartCoders"
            body = (
                f"Hello {user.name},\n\nHere is a new link to set your SmartCoders password (valid 72 hours):\n{link}\n"
            )
        emails.enqueue(
            scope,
            to=user.email,
            template="password_reset" if reset else "invitation",
            subject=subject,
            body=body,
        )
        audit.record(
            scope,
            action="user_password_reset_sent" if reset else "user_invitation_resent",
            actor=_actor(principal, client_ip),
            object_type="user",
            object_id=user.id,
        )
    return token


def _issue_invitation(scope: Scope, *, user_id: UUID, created_by: UUID, now: datetime) -> str:
    """Store a new single-use invitation (its SHA-256 only) and return the token for the email link."""
    token = secrets.token_urlsafe(32)
    invitations.insert(
        scope,
        invitation_id=uuid.uuid4(),
        user_id=user_id,
        token_hash=hashlib.sha256(token.encode()).digest(),
        created_by=created_by,
        now=now,
        expires_at=now + INVITATION_LIFETIME,
    )
    return token


def _guard_last_manager(scope_users: list[User], target: User) -> None:
    managers = [u for u in scope_users if u.role == Role.MANAGER and u.is_active]
    if target.role == Role.MANAGER and target.is_active and len(managers) <= 1:
        raise Conflict("An organisation needs at least one active manager.")


def change_role(principal: Principal, user_id: UUID, role: str, *, client_ip: str | None = None) -> User:
    principal.require(Permission.USERS_MANAGE)
    new_role = _role(role)
    with user_scope(principal.org_id, principal.user_id) as scope:
        target = users.get(scope, user_id)
        if target.role == new_role:
            return target
        if new_role != Role.MANAGER:
            _guard_last_manager(users.list_for_org(scope), target)
        users.set_role(scope, target.id, new_role, datetime.now(UTC))
        audit.record(
            scope,
            action="privilege_permissions_changed",
            actor=_actor(principal, client_ip),
            object_type="user",
            object_id=target.id,
            details={"from": target.role, "to": new_role.value},
        )
        return users.get(scope, target.id)


def set_active(principal: Principal, user_id: UUID, active: bool, *, client_ip: str | None = None) -> User:
    """Deactivate (revoking every session and open invitation at once) or reactivate a user."""
    principal.require(Permission.USERS_MANAGE)
    if user_id == principal.user_id and not active:
        raise Conflict("You cannot deactivate your own account.")
    now = datetime.now(UTC)
    with user_scope(principal.org_id, principal.user_id) as scope:
        target = users.get(scope, user_id)
        if target.is_active == active:
            return target
        if not active:
            _guard_last_manager(users.list_for_org(scope), target)
            sessions.revoke_for_user(scope, target.id, now=now, reason="deactivated")
            invitations.revoke_open_for_user(scope, target.id, now)
        users.set_active(scope, target.id, active, now)
        audit.record(
            scope,
            action="user_deactivated" if not active else "user_reactivated",
            actor=_actor(principal, client_ip),
            object_type="user",
            object_id=target.id,
        )
        return users.get(scope, target.id)


def get_user(principal: Principal, user_id: UUID) -> User:
    principal.require(Permission.USERS_MANAGE)
    with user_scope(principal.org_id, principal.user_id) as scope:
        return users.get(scope, user_id)


# -- the signed-in user's own account ----------------------------------------------------


@dataclass(frozen=True)
class AccountOverview:
    user: User
    organization: str
    sessions: list[SessionRow]


def account_overview(principal: Principal) -> AccountOverview:
    principal.require(Permission.ACCOUNT_VIEW)
    with user_scope(principal.org_id, principal.user_id) as scope:
        return AccountOverview(
            user=users.get(scope, principal.user_id),
            organization=orgs.get(scope).name,
            sessions=sessions.active_for_user(scope, principal.user_id, now=datetime.now(UTC)),
        )


def sign_out_other_sessions(principal: Principal, *, client_ip: str | None = None) -> int:
    principal.require(Permission.ACCOUNT_VIEW)
    with user_scope(principal.org_id, principal.user_id) as scope:
        count = sessions.revoke_for_user(
            scope, principal.user_id, now=datetime.now(UTC), reason="signed_out_elsewhere", keep=principal.session_id
        )
        audit.record(
            scope,
            action="authn_token_revoked",
            actor=_actor(principal, client_ip),
            object_type="user",
            object_id=principal.user_id,
            details={"sessions": count},
        )
        return count


def change_password(
    principal: Principal, *, current: str, new: str, confirm: str, hasher: Hasher, client_ip: str | None = None
) -> None:
    """Change the caller's password (current one required); every other session is signed out."""
    principal.require(Permission.ACCOUNT_VIEW)
    if new != confirm:
        raise ValidationFailed(fields={"confirm": "The two new passwords do not match."})
    with user_scope(principal.org_id, principal.user_id) as scope:
        stored = users.password_hash(scope, principal.user_id)
    if not hasher.verify(stored, current):
        raise ValidationFailed(fields={"current": "Your current password is not correct."})
    problems = policy_problems(new, user_inputs=(principal.email, principal.name))
    if problems:
        raise ValidationFailed(fields={"new": problems[0]})
    new_hash = hasher.hash(new)
    now = datetime.now(UTC)
    with user_scope(principal.org_id, principal.user_id) as scope:
        users.set_password(scope, principal.user_id, new_hash, now)
        revoked = sessions.revoke_for_user(
            scope, principal.user_id, now=now, reason="password_changed", keep=principal.session_id
        )
        audit.record(
            scope,
            action="authn_password_change",
            actor=_actor(principal, client_ip),
            object_type="user",
            object_id=principal.user_id,
            details={"sessions_revoked": revoked},
        )


# -- invitations (before sign-in) ---------------------------------------------------------


@dataclass(frozen=True)
class InvitationView:
    name: str
    organization: str


def _open_invitation(token: str) -> invitations.Invitation:
    with auth_scope() as scope:
        found = invitations.find(scope, hashlib.sha256(token.encode()).digest())
    if found is None or found.used_at is not None or found.expires_at <= datetime.now(UTC):
        raise NotFound("This invitation link is invalid or has expired. Ask your manager for a new one.")
    return found


def view_invitation(token: str) -> InvitationView:
    inv = _open_invitation(token)
    with user_scope(inv.org_id, inv.user_id) as scope:
        user = users.get(scope, inv.user_id)
        if not user.is_active:
            raise NotFound("This invitation link is invalid or has expired. Ask your manager for a new one.")
        return InvitationView(name=user.name, organization=orgs.get(scope).name)


def accept_invitation(token: str, *, password: str, confirm: str, hasher: Hasher, client_ip: str | None = None) -> str:
    """Set the invited user's password; returns their email so the caller can sign them in."""
    inv = _open_invitation(token)
    if password != confirm:
        raise ValidationFailed(fields={"password_confirm": "The two passwords do not match."})
    now = datetime.now(UTC)
    with user_scope(inv.org_id, inv.user_id) as scope:
        user = users.get(scope, inv.user_id)
        problems = policy_problems(password, user_inputs=(user.email, user.name))
        if problems:
            raise ValidationFailed(fields={"password": problems[0]})
        if not invitations.mark_used(scope, inv.id, now) or not user.is_active:
            raise NotFound("This invitation link is invalid or has expired. Ask your manager for a new one.")
        users.set_password(scope, user.id, hasher.hash(password), now)
        # A reset link used: whoever held a session with the old password is signed out.
        revoked = sessions.revoke_for_user(scope, user.id, now=now, reason="password_changed")
        audit.record(
            scope,
            action="user_invitation_accepted",
            actor=Actor(user.id, user.role, client_ip),
            object_type="user",
            object_id=user.id,
            details={"sessions_revoked": revoked},
        )
        return user.email
