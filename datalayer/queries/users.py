"""Users. Login-time lookups go through the ``auth_find_user`` SECURITY DEFINER function."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import exc

from app.errors import Conflict
from datalayer.queries._util import execute, maybe, one, rows
from datalayer.scope import Scope

_COLUMNS = (
    "u.id, u.org_id, u.email, u.name, u.role, u.is_active, u.created_at, u.last_login_at, "
    "u.password_changed_at, (u.password_hash IS NOT NULL) AS has_password, "
    "(u.totp_enabled_at IS NOT NULL) AS two_step"
)


@dataclass(frozen=True)
class User:
    id: UUID
    org_id: UUID
    email: str
    name: str
    role: str
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None
    password_changed_at: datetime | None
    has_password: bool
    two_step: bool  # signs in with a one-time code after the password


@dataclass(frozen=True)
class LoginCandidate:
    id: UUID
    org_id: UUID
    role: str
    name: str
    password_hash: str | None
    is_active: bool
    password_changed_at: datetime | None
    two_step: bool


def find_for_login(scope: Scope, email: str) -> LoginCandidate | None:
    row = maybe(scope, "SELECT * FROM auth_find_user(:email)", {"email": email})
    return None if row is None else LoginCandidate(**row)


def insert(
    scope: Scope,
    *,
    user_id: UUID,
    email: str,
    name: str,
    role: str,
    password_hash: str | None,
    now: datetime,
) -> User:
    try:
        with scope.conn.begin_nested():
            row = one(
                scope,
                f"""INSERT INTO users AS u (id, org_id, email, name, role, password_hash, password_changed_at,
                                            created_at, updated_at)
                    VALUES (:id, :org_id, :email, :name, :role, :hash, :changed, :now, :now)
                    RETURNING {_COLUMNS}""",
                {
                    "id": user_id,
                    "org_id": scope.require_org(),
                    "email": email,
                    "name": name,
                    "role": role,
                    "hash": password_hash,
                    "changed": now if password_hash else None,
                    "now": now,
                },
            )
    except exc.IntegrityError as err:
        raise Conflict("An account with that email already exists.") from err
    return User(**row)


def get(scope: Scope, user_id: UUID) -> User:
    return User(**one(scope, f"SELECT {_COLUMNS} FROM users AS u WHERE u.id = :id", {"id": user_id}, what="User"))


def list_for_org(scope: Scope) -> list[User]:
    return [
        User(**r)
        for r in rows(scope, f"SELECT {_COLUMNS} FROM users AS u ORDER BY u.is_active DESC, lower(u.name), u.id")
    ]


def password_hash(scope: Scope, user_id: UUID) -> str | None:
    row = one(scope, "SELECT u.password_hash FROM users AS u WHERE u.id = :id", {"id": user_id}, what="User")
    return row["password_hash"]  # type: ignore[no-any-return]


def set_password(scope: Scope, user_id: UUID, password_hash: str, now: datetime) -> None:
    execute(
        scope,
        "UPDATE users AS u SET password_hash = :hash, password_changed_at = :now, updated_at = :now WHERE u.id = :id",
        {"hash": password_hash, "now": now, "id": user_id},
    )


def rehash(scope: Scope, user_id: UUID, password_hash: str) -> None:
    """Store a stronger hash of the same password (parameters upgraded); sessions stay valid."""
    execute(
        scope, "UPDATE users AS u SET password_hash = :hash WHERE u.id = :id", {"hash": password_hash, "id": user_id}
    )


def set_role(scope: Scope, user_id: UUID, role: str, now: datetime) -> None:
    execute(
        scope,
        "UPDATE users AS u SET role = :role, updated_at = :now WHERE u.id = :id",
        {"role": role, "now": now, "id": user_id},
    )


def set_active(scope: Scope, user_id: UUID, active: bool, now: datetime) -> None:
    execute(
        scope,
        "UPDATE users AS u SET is_active = :active, updated_at = :now WHERE u.id = :id",
        {"active": active, "now": now, "id": user_id},
    )


def record_login(scope: Scope, user_id: UUID, now: datetime) -> None:
    execute(scope, "UPDATE users AS u SET last_login_at = :now WHERE u.id = :id", {"now": now, "id": user_id})


def count_active_managers(scope: Scope) -> int:
    row = one(scope, "SELECT count(*) AS n FROM users AS u WHERE u.role = 'manager' AND u.is_active")
    return int(row["n"])


# -- two-step sign-in (TOTP) --------------------------------------------------------------------------


@dataclass(frozen=True)
class TwoStep:
    """A user's one-time-code key (None when two-step sign-in is off) and the last time step
    accepted (a code is accepted only for a later one)."""

    secret: str | None
    enabled_at: datetime | None
    last_step: int | None
    is_active: bool


def two_step(scope: Scope, user_id: UUID) -> TwoStep:
    row = one(
        scope,
        """SELECT u.totp_secret AS secret, u.totp_enabled_at AS enabled_at, u.totp_last_step AS last_step,
                  u.is_active
             FROM users AS u WHERE u.id = :id""",
        {"id": user_id},
    )
    return TwoStep(**row)


def enable_two_step(scope: Scope, user_id: UUID, *, secret: str, step: int, now: datetime) -> None:
    execute(
        scope,
        """UPDATE users AS u SET totp_secret = :secret, totp_enabled_at = :now, totp_last_step = :step,
                                 updated_at = :now
            WHERE u.id = :id""",
        {"secret": secret, "now": now, "step": step, "id": user_id},
    )


def disable_two_step(scope: Scope, user_id: UUID, *, now: datetime) -> bool:
    """Turn it off; False when it was not on."""
    return (
        maybe(
            scope,
            """UPDATE users AS u SET totp_secret = NULL, totp_enabled_at = NULL, totp_last_step = NULL,
                                     updated_at = :now
                WHERE u.id = :id AND u.totp_secret IS NOT NULL
            RETURNING u.id""",
            {"now": now, "id": user_id},
        )
        is not None
    )


def accept_step(scope: Scope, user_id: UUID, step: int) -> bool:
    """Record ``step`` as the last code accepted, only if it is later than the one before: False
    means the code's step was already used (a replay) or two-step sign-in is off. Atomic, so two
    requests with the same code cannot both pass."""
    return (
        maybe(
            scope,
            """UPDATE users AS u SET totp_last_step = :step
                WHERE u.id = :id AND u.totp_secret IS NOT NULL
                  AND (u.totp_last_step IS NULL OR u.totp_last_step < :step)
            RETURNING u.id""",
            {"step": step, "id": user_id},
        )
        is not None
    )
