"""Authorisation: one Permission enum, roles as data, deny by default.

Pages and HTTP handlers declare the permission they need where they are registered
(``pages/registry.py``, ``app/http/routes.py``); tests walk both registries and fail on any
entry without one. A role gets exactly the permissions listed for it here, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final
from uuid import UUID

from app.errors import PermissionDenied


class Role(StrEnum):
    MANAGER = "manager"
    SUPERVISOR = "supervisor"
    CODER = "coder"
    ANALYST = "analyst"


class Permission(StrEnum):
    """``resource:action``. Add a member here, then grant it to roles below."""

    ACCOUNT_VIEW = "account:view"  # own profile, sessions, password
    USERS_MANAGE = "users:manage"  # list, create, change role, deactivate users of the organisation
    CODES_VALIDATE = "codes:validate"  # run the validation engine on a code list
    IMPORTS_MANAGE = "imports:manage"  # upload Synthea bundles, see import jobs and their errors
    CHARTS_VIEW = "charts:view"  # read charts of the organisation (coders: only their own)
    CHARTS_ASSIGN = "charts:assign"  # assign and reassign charts to coders
    CHARTS_CODE = "charts:code"  # enter codes on, save and submit one's own assigned charts
    AUDITS_VIEW = "audits:view"  # read the review queue and the organisation's audits and scores
    AUDITS_PERFORM = "audits:perform"  # claim and audit submitted charts; resolve disputed findings
    AUDITS_CONFIGURE = "audits:configure"  # change the organisation's audit-sampling policy
    METRICS_VIEW = "metrics:view"  # live queue counters (SSE), the dashboard and the organisation's metrics
    DATA_EXPORT = "data:export"  # download the organisation's charts, audits and metrics as CSV/Parquet


ROLE_PERMISSIONS: Final[dict[Role, frozenset[Permission]]] = {
    Role.MANAGER: frozenset(
        {
            Permission.ACCOUNT_VIEW,
            Permission.USERS_MANAGE,
            Permission.CODES_VALIDATE,
            Permission.IMPORTS_MANAGE,
            Permission.CHARTS_VIEW,
            Permission.CHARTS_ASSIGN,
            # Managers watch quality but do not audit: the audit is the supervisor's judgement.
            Permission.AUDITS_VIEW,
            # How much work is audited is a staffing decision too (docs/adr/0014-audit-sampling.md).
            Permission.AUDITS_CONFIGURE,
            Permission.METRICS_VIEW,
            # Bulk PHI leaves the system only at a manager's request, audited and rate-limited (ADR 0016).
            Permission.DATA_EXPORT,
        }
    ),
    Role.SUPERVISOR: frozenset(
        {
            Permission.ACCOUNT_VIEW,
            Permission.CODES_VALIDATE,
            Permission.CHARTS_VIEW,
            Permission.AUDITS_VIEW,
            Permission.AUDITS_PERFORM,
            Permission.AUDITS_CONFIGURE,
        }
    ),
    Role.CODER: frozenset(
        {Permission.ACCOUNT_VIEW, Permission.CODES_VALIDATE, Permission.CHARTS_VIEW, Permission.CHARTS_CODE}
    ),
    Role.ANALYST: frozenset(
        {Permission.ACCOUNT_VIEW, Permission.CODES_VALIDATE, Permission.CHARTS_VIEW, Permission.METRICS_VIEW}
    ),
}

ROLE_LABELS: Final[dict[Role, str]] = {
    Role.MANAGER: "Manager",
    Role.SUPERVISOR: "Supervisor",
    Role.CODER: "Coder",
    Role.ANALYST: "Analyst (read-only)",
}

# Where `/` sends each role after sign-in.
ROLE_HOME: Final[dict[Role, str]] = {
    Role.MANAGER: "/assign",
    Role.SUPERVISOR: "/review",
    Role.CODER: "/queue",
    Role.ANALYST: "/dashboard",  # read-only: the same figures the managers see
}


@dataclass(frozen=True)
class Principal:
    """The signed-in user, as verified for this request or page session."""

    user_id: UUID
    org_id: UUID
    role: Role
    name: str
    email: str
    session_id: UUID

    def can(self, permission: Permission) -> bool:
        return has_permission(self.role, permission)

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise PermissionDenied()


def has_permission(role: Role | str | None, permission: Permission | None) -> bool:
    """Deny unless the role is known and explicitly granted the permission."""
    if role is None or permission is None:
        return False
    try:
        known = Role(role)
    except ValueError:
        return False
    return permission in ROLE_PERMISSIONS.get(known, frozenset())
