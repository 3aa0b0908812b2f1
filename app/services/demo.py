"""``serve --demo``: the "Demo Health" organisation (slug ``demo``) with one user per role.

The password is ``SMARTCODERS_DEMO_PASSWORD`` when set, otherwise generated on every start and
printed; existing demo users get it too, so the printed logins always work.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from app.authz import Role
from app.context import AppContext
from app.errors import ConfigError
from app.security.passwords import policy_problems
from app.services import audit
from app.services.audit import Actor
from app.services.auth import create_organisation
from app.services.imports import ImportSummary
from datalayer.queries import orgs, users
from datalayer.scope import auth_scope, org_scope

DEMO_SLUG = "demo"
DEMO_NAME = "Demo Health"
DEMO_USERS = (
    ("manager@demo.test", "Maya Manager", Role.MANAGER),
    ("supervisor@demo.test", "Sam Supervisor", Role.SUPERVISOR),
    ("coder@demo.test", "Casey Coder", Role.CODER),
    ("analyst@demo.test", "Avery Analyst", Role.ANALYST),
)


@dataclass(frozen=True)
class DemoLogins:
    emails: tuple[str, ...]
    password: str
    generated: bool


def seed(ctx: AppContext) -> DemoLogins:
    configured = ctx.settings.smartcoders_demo_password
    password = configured.get() if configured else f"demo-{secrets.token_urlsafe(12)}"
    if configured and policy_problems(password):
        raise ConfigError(f"SMARTCODERS_DEMO_PASSWORD is not acceptable: {policy_problems(password)[0]}")
    password_hash = ctx.hasher.hash(password)
    system = Actor(None, "system")
    with auth_scope() as scope:
        org_id = orgs.id_by_slug(scope, DEMO_SLUG)
    if org_id is None:
        org_id = create_organisation(
            name=DEMO_NAME, manager_email=None, manager_name=None, password_hash=None, actor=system, slug=DEMO_SLUG
        )
    now = datetime.now(UTC)
    with org_scope(org_id) as scope:
        existing = {u.email: u for u in users.list_for_org(scope)}
        for email, name, role in DEMO_USERS:
            if email in existing:
                users.set_password(scope, existing[email].id, password_hash, now)
                continue
            user = users.insert(
                scope, user_id=uuid.uuid4(), email=email, name=name, role=role, password_hash=password_hash, now=now
            )
            audit.record(
                scope,
                action="user_created",
                actor=system,
                object_type="user",
                object_id=user.id,
                details={"role": role.value, "via": "demo"},
            )
        audit.record(scope, action="demo_seeded", actor=system, object_type="organization", object_id=org_id)
    return DemoLogins(tuple(e for e, _, _ in DEMO_USERS), password, generated=configured is None)


def import_charts() -> ImportSummary:
    """Import the bundled Synthea sample (``app/demo_data/synthea``) into Demo Health.

    Idempotent: on a restart every encounter is already there and counted as skipped.
    """
    from app.demo_data import SYNTHEA_DIR
    from app.services.imports import import_paths

    with auth_scope() as scope:
        org_id = orgs.id_by_slug(scope, DEMO_SLUG)
    if org_id is None:
        raise ConfigError("the demo organisation does not exist yet: seed() it first")
    return import_paths(org_id, [SYNTHEA_DIR], source="demo")


# Left unassigned so the demo manager has charts to try /assign with.
DEMO_UNASSIGNED = 12


def assign_charts() -> int:
    """Give the demo coder work: the imported charts, oldest encounter first, except the newest
    ``DEMO_UNASSIGNED`` (left for the manager). Idempotent: once the coder has any chart, nothing
    changes. Audited, notified and emitted like a manager's assignment. Returns the charts assigned.
    """
    from app.services.charts import assign_as_system

    with auth_scope() as scope:
        org_id = orgs.id_by_slug(scope, DEMO_SLUG)
    if org_id is None:
        raise ConfigError("the demo organisation does not exist yet: seed() it first")
    with org_scope(org_id) as scope:
        coder = next((u for u in users.list_for_org(scope) if u.email == "coder@demo.test" and u.is_active), None)
        if coder is None:
            return 0
        return assign_as_system(scope, coder.id, keep_unassigned=DEMO_UNASSIGNED, reason="demo")
