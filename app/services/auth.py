"""Sign-in, sessions, sign-out and registration (ARCHITECTURE §5).

Sign-in order, for every attempt (INV-7):
  1. normalise the email;
  2. count the attempt against three fixed windows in Redis — per email (existing or not), per
     email and client IP, per client IP — and stop here, without hashing, when any is exceeded;
     Redis not answering in time fails closed (ServiceUnavailable) within ~2 x REDIS_TIMEOUT;
  3. exactly one argon2id verify: against the account's hash, or a dummy hash when the account
     is unknown, disabled or has no password yet;
  4. any failure raises the same LoginFailed, whatever the cause (C1/C2).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from uuid import UUID

from app.authz import Principal, Role
from app.errors import NotAuthenticated, RateLimited, SmartCodersError, ValidationFailed
from app.logs import get_logger
from app.security import tokens, totp
from app.security.passwords import Hasher, policy_problems
from app.services import audit, emails
from app.services.audit import Actor
from app.settings import Settings
from datalayer import redis_client
from datalayer.queries import orgs, sessions, users
from datalayer.scope import auth_scope, org_scope

log = get_logger(__name__)

TOUCH_EVERY: Final = timedelta(seconds=30)
EMAIL_RE: Final = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,}$")


class LoginFailed(SmartCodersError):
    """Wrong email or password, unknown or disabled account, or throttled: one answer for all."""

    status = 401
    public_message = "Sign-in failed. Check your email and password, or try again in a few minutes."


class SecondFactorRequired(Exception):
    """The account signs in in two steps: ``pending`` carries this sign-in to the code step
    (``AuthService.complete_two_step``). No session exists yet."""

    def __init__(self, pending: str) -> None:
        super().__init__("two-step sign-in")
        self.pending = pending


class CodeRejected(SmartCodersError):
    """A wrong code, or one already used."""

    status = 401
    public_message = "That code did not work. Codes change every 30 seconds and each works once: try the next one."


class TwoStepExpired(SmartCodersError):
    """No pending sign-in (none, expired after five minutes, or the account changed): start again."""

    status = 401
    public_message = "Your sign-in took too long. Sign in again with your email and password."


def normalise_email(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw).strip().lower()


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class NewSession:
    principal: Principal
    token: str
    csrf_token: str


class AuthService:
    """Stateless apart from the hasher; one instance per process."""

    def __init__(self, settings: Settings, hasher: Hasher) -> None:
        self.settings = settings
        self.hasher = hasher

    # -- sign-in ------------------------------------------------------------------------

    def _limit_keys(self, email: str, client_ip: str) -> list[tuple[str, int, int]]:
        s = self.settings
        return [
            (f"rl:login:acct:{_digest(email)}", s.login_limit_account.window, s.login_limit_account.limit),
            (
                f"rl:login:acctip:{_digest(email, client_ip)}",
                s.login_limit_account_ip.window,
                s.login_limit_account_ip.limit,
            ),
            (f"rl:login:ip:{_digest(client_ip)}", s.login_limit_ip.window, s.login_limit_ip.limit),
        ]

    def _throttled(self, email: str, client_ip: str) -> bool:
        keys = self._limit_keys(email, client_ip)
        counts = redis_client.count_in_windows([(k, w) for k, w, _ in keys])
        return any(count > limit for count, (_, _, limit) in zip(counts, keys, strict=True))

    def login(self, *, email: str, password: str, client_ip: str, user_agent: str | None) -> NewSession:
        email = normalise_email(email)
        if self._throttled(email, client_ip):  # before any hash (INV-7)
            log.warning("excess_rate_limit_exceeded", kind="login", email_hash=_digest(email))
            raise LoginFailed()
        with auth_scope() as scope:
            candidate = users.find_for_login(scope, email)
        usable = candidate is not None and candidate.is_active and candidate.password_hash is not None
        ok = self.hasher.verify(candidate.password_hash if usable and candidate else None, password)
        if not ok or candidate is None:
            self._record_failure(
                email, candidate.org_id if candidate else None, candidate.id if candidate else None, client_ip
            )
            raise LoginFailed()
        keys = self._limit_keys(email, client_ip)
        redis_client.reset_windows([(k, w) for k, w, _ in keys[:2]])
        now = datetime.now(UTC)
        # Parameters differ from the configuration (B13): store a fresh hash of the same password,
        # computed before the transaction so no connection is held through the argon2 work.
        rehashed = (
            self.hasher.hash(password)
            if candidate.password_hash and self.hasher.needs_rehash(candidate.password_hash)
            else None
        )
        if candidate.two_step:
            # The password is right; the session waits for the code (complete_two_step).
            if rehashed is not None:
                with org_scope(candidate.org_id) as scope:
                    users.rehash(scope, candidate.id, rehashed)
            pending = tokens.encode_two_step(candidate.id, candidate.org_id, now, self.settings.jwt_secret.get())
            raise SecondFactorRequired(pending)
        return self._start_session(
            candidate.id, candidate.org_id, now=now, client_ip=client_ip, user_agent=user_agent, rehashed=rehashed
        )

    def complete_two_step(
        self, pending: str | None, code: str, *, client_ip: str, user_agent: str | None
    ) -> NewSession:
        """The second step of a two-step sign-in: ``pending`` from ``SecondFactorRequired`` and the
        code from the user's authenticator app. Codes are counted per user before they are checked
        (``TWO_STEP_LIMIT``); a code is accepted once (its time step must be later than the last
        one accepted) and only within one step of now."""
        found = tokens.decode_two_step(pending, self.settings.jwt_secrets)
        if found is None:
            raise TwoStepExpired()
        user_id, org_id = found
        limit = self.settings.two_step_limit
        window = [(f"rl:2step:{_digest(str(user_id))}", limit.window)]
        if redis_client.count_in_windows(window)[0] > limit.limit:
            log.warning("excess_rate_limit_exceeded", kind="two_step", user=str(user_id))
            raise RateLimited("Too many codes tried. Wait a few minutes, then sign in again.")
        now = datetime.now(UTC)
        with org_scope(org_id) as scope:
            state = users.two_step(scope, user_id)
        if not state.is_active or state.secret is None:
            raise TwoStepExpired()  # deactivated, or two-step turned off meanwhile: start again
        step = totp.matched_step(state.secret, code, now)
        with org_scope(org_id) as scope:
            accepted = step is not None and users.accept_step(scope, user_id, step)
            if not accepted:
                audit.record(
                    scope,
                    action="authn_two_step_fail",
                    actor=Actor(user_id, None, client_ip),
                    outcome="failure",
                    object_type="user",
                    object_id=user_id,
                    details={"reused_code": step is not None},
                )
        if not accepted:
            raise CodeRejected()
        redis_client.reset_windows(window)
        return self._start_session(user_id, org_id, now=now, client_ip=client_ip, user_agent=user_agent, two_step=True)

    def _start_session(
        self,
        user_id: UUID,
        org_id: UUID,
        *,
        now: datetime,
        client_ip: str,
        user_agent: str | None,
        rehashed: str | None = None,
        two_step: bool = False,
    ) -> NewSession:
        session_id = uuid.uuid4()
        absolute = now + timedelta(hours=self.settings.session_absolute_hours)
        with org_scope(org_id) as scope:
            if rehashed is not None:
                users.rehash(scope, user_id, rehashed)
            sessions.insert(
                scope,
                session_id=session_id,
                user_id=user_id,
                now=now,
                idle_expires_at=self._idle_expiry(now, absolute),
                absolute_expires_at=absolute,
                client_ip=client_ip,
                user_agent=user_agent,
            )
            users.record_login(scope, user_id, now)
            user = users.get(scope, user_id)
            audit.record(
                scope,
                action="authn_login_success",
                actor=Actor(user_id, user.role, client_ip),
                object_type="session",
                object_id=session_id,
                details={"two_step": True} if two_step else None,
            )
        principal = Principal(
            user_id=user.id,
            org_id=user.org_id,
            role=Role(user.role),
            name=user.name,
            email=user.email,
            session_id=session_id,
        )
        return NewSession(
            principal,
            self._token(principal, now, absolute),
            tokens.csrf_token(session_id, self.settings.cookie_secret.get()),
        )

    def _record_failure(self, email: str, org_id: UUID | None, user_id: UUID | None, client_ip: str) -> None:
        log.info("authn_login_fail", email_hash=_digest(email))
        details = {"email_hash": _digest(email)}
        if org_id is not None:
            with org_scope(org_id) as scope:
                audit.record(
                    scope,
                    action="authn_login_fail",
                    actor=Actor(None, None, client_ip),
                    outcome="failure",
                    object_type="user",
                    object_id=user_id,
                    details=details,
                )
        else:
            with auth_scope() as scope:
                audit.record(
                    scope,
                    action="authn_login_fail",
                    actor=Actor(None, None, client_ip),
                    outcome="failure",
                    details=details,
                    org_id=None,
                )

    def _idle_expiry(self, now: datetime, absolute: datetime) -> datetime:
        return min(now + timedelta(minutes=self.settings.session_idle_minutes), absolute)

    def _token(self, principal: Principal, now: datetime, absolute: datetime) -> str:
        claims = tokens.SessionClaims(
            user_id=principal.user_id,
            org_id=principal.org_id,
            role=principal.role,
            session_id=principal.session_id,
            issued_at=now,
            expires_at=absolute,
        )
        return tokens.encode(claims, self.settings.jwt_secret.get())

    # -- every request ------------------------------------------------------------------

    def authenticate(self, token: str | None, *, touch: bool = True) -> Principal | None:
        """The principal for a session JWT, or None: bad token, revoked, expired or deactivated."""
        if not token:
            return None
        claims = tokens.decode(token, self.settings.jwt_secrets)
        if claims is None:
            return None
        return self.resume(org_id=claims.org_id, user_id=claims.user_id, session_id=claims.session_id, touch=touch)

    def verified_claims(self, token: str | None) -> tokens.SessionClaims | None:
        """Cryptographic check only (no database): for the Bokeh session-token payload."""
        return tokens.decode(token, self.settings.jwt_secrets) if token else None

    def ended_by_logout(self, *, org_id: UUID, session_id: UUID) -> bool:
        """Whether the session ended because its user signed out (an open page then says so)."""
        with org_scope(org_id) as scope:
            return sessions.revoked_reason(scope, session_id) == "logout"

    def resume(self, *, org_id: UUID, user_id: UUID, session_id: UUID, touch: bool) -> Principal | None:
        """The principal if the session row is live: not revoked, not idle or past its lifetime, user active."""
        now = datetime.now(UTC)
        with org_scope(org_id) as scope:
            found = sessions.get_with_user(scope, session_id)
            if found is None or found.session.user_id != user_id or found.session.revoked_at is not None:
                return None
            if not found.is_active:
                return None
            row = found.session
            if now >= row.idle_expires_at or now >= row.absolute_expires_at:
                if sessions.revoke(scope, row.id, now=now, reason="expired"):
                    audit.record(
                        scope,
                        action="authn_session_expired",
                        actor=Actor(row.user_id, found.role),
                        object_type="session",
                        object_id=row.id,
                        details={"limit": "idle" if now >= row.idle_expires_at else "absolute"},
                    )
                return None
            if touch:
                sessions.touch(
                    scope,
                    row.id,
                    now=now,
                    idle_expires_at=self._idle_expiry(now, row.absolute_expires_at),
                    not_since=now - TOUCH_EVERY,
                )
        return Principal(
            user_id=row.user_id,
            org_id=row.org_id,
            role=Role(found.role),
            name=found.name,
            email=found.email,
            session_id=row.id,
        )

    def csrf_token(self, principal: Principal) -> str:
        return tokens.csrf_token(principal.session_id, self.settings.cookie_secret.get())

    def csrf_matches(self, principal: Principal, presented: str | None) -> bool:
        return tokens.csrf_matches(principal.session_id, self.settings.cookie_secrets, presented)

    def logout(self, principal: Principal, *, client_ip: str | None = None) -> None:
        with org_scope(principal.org_id) as scope:
            if sessions.revoke(scope, principal.session_id, now=datetime.now(UTC), reason="logout"):
                audit.record(
                    scope,
                    action="authn_logout",
                    actor=Actor(principal.user_id, principal.role, client_ip),
                    object_type="session",
                    object_id=principal.session_id,
                )

    # -- registration -------------------------------------------------------------------

    def register(self, *, organization: str, name: str, email: str, password: str, client_ip: str) -> None:
        """Create an organisation and its first manager — or, for an email that already has an
        account, change nothing and tell the owner by email. Both return the same way."""
        email = normalise_email(email)
        organization, name = organization.strip(), name.strip()
        problems: dict[str, str] = {}
        if not 1 <= len(organization) <= 200:
            problems["organization"] = "Enter your organisation's name (up to 200 characters)."
        if not 1 <= len(name) <= 200:
            problems["name"] = "Enter your name (up to 200 characters)."
        if not EMAIL_RE.match(email) or len(email) > 254:
            problems["email"] = "Enter a valid email address."
        pw_problems = policy_problems(password, user_inputs=(email, name, organization))
        if pw_problems:
            problems["password"] = pw_problems[0]
        if problems:
            raise ValidationFailed(fields=problems)
        s = self.settings
        counts = redis_client.count_in_windows([(f"rl:register:ip:{_digest(client_ip)}", s.login_limit_ip.window)])
        if counts[0] > s.login_limit_ip.limit:
            raise RateLimited()
        password_hash = self.hasher.hash(password)  # both paths pay for one hash
        with auth_scope() as scope:
            existing = users.find_for_login(scope, email)
        if existing is not None:
            with org_scope(existing.org_id) as scope:
                emails.enqueue(
                    scope,
                    to=email,
                    template="registration_existing",
                    subject="Someone tried to register with your email",
                    body=(
                        f"Hello {existing.name},\n\nSomeone tried to create a new SmartCoders organisation "
                        "with this email address, which already has an account. Nothing was changed.\n\n"
                        f"If it was you, sign in at {s.app_url}/login instead.\n"
                        "If it was not, you can ignore this message.\n"
                    ),
                )
                audit.record(
                    scope,
                    action="authn_register_existing",
                    actor=Actor(None, None, client_ip),
                    object_type="user",
                    object_id=existing.id,
                )
            return
        create_organisation(
            name=organization,
            manager_email=email,
            manager_name=name,
            password_hash=password_hash,
            actor=Actor(None, None, client_ip),
        )


def _slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40].strip("-")
    return slug or "org"


def create_organisation(
    *,
    name: str,
    manager_email: str | None,
    manager_name: str | None,
    password_hash: str | None,
    actor: Actor,
    slug: str | None = None,
) -> UUID:
    """Create an organisation (and optionally its first manager) in one transaction, audited."""
    org_id = uuid.uuid4()
    base = slug or _slugify(name)
    with org_scope(org_id) as scope:
        candidate = base
        for attempt in range(2, 50):
            if not orgs.slug_taken(scope, candidate):
                break
            if slug:
                raise ValidationFailed(fields={"slug": f"The short name {slug!r} is taken."})
            candidate = f"{base}-{attempt}" if attempt < 20 else f"{base}-{secrets.token_hex(3)}"
        org = orgs.insert(scope, name=name, slug=candidate)
        audit.record(
            scope,
            action="org_created",
            actor=actor,
            object_type="organization",
            object_id=org.id,
            details={"slug": org.slug},
        )
        if manager_email and manager_name:
            user = users.insert(
                scope,
                user_id=uuid.uuid4(),
                email=manager_email,
                name=manager_name,
                role=Role.MANAGER,
                password_hash=password_hash,
                now=datetime.now(UTC),
            )
            audit.record(
                scope,
                action="user_created",
                actor=actor,
                object_type="user",
                object_id=user.id,
                details={"role": Role.MANAGER},
            )
    return org_id


def require(principal: Principal | None) -> Principal:
    if principal is None:
        raise NotAuthenticated()
    return principal
