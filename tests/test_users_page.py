"""The /users page's buttons without a browser: every action runs its database work off the event
loop with the button busy, shows its result, and reloads the table (CONVENTIONS 15).

The session identity comes from a real manager sign-in (the token payload lookup is pointed at it,
as in test_account_page); the services, database and audit log are real.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from app import bootstrap
from app.authz import Role
from datalayer.queries import users as user_rows
from datalayer.scope import org_scope
from pages.registry import NAV
from pages.users import UsersPage
from tests.page_fixtures import new_manager

pytestmark = pytest.mark.slow


@pytest.fixture
def page(runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch) -> UsersPage:
    return UsersPage(principal=new_manager(runtime, monkeypatch), ctx=runtime.ctx, nav=NAV)


def _click(button: Any, seen: list[tuple[bool, bool]] | None = None) -> None:
    async def run() -> None:
        button.param.update(clicks=button.clicks + 1)
        if seen is not None:
            await asyncio.sleep(0)
            seen.append((button.disabled, button.loading))
        await asyncio.gather(*(asyncio.all_tasks() - {asyncio.current_task()}))

    asyncio.run(run())


def test_create_then_change_role_and_deactivate(page: UsersPage, runtime: bootstrap.Runtime) -> None:
    email = f"new-{uuid.uuid4().hex[:8]}@example.test"
    page.new_name.value, page.new_email.value, page.new_role.value = "Nia New", email, Role.CODER.value
    seen: list[tuple[bool, bool]] = []
    _click(page.create, seen)
    assert seen == [(True, True)]  # busy while the work runs off the loop
    assert (page.create.disabled, page.create.loading) == (False, False)
    assert "Nia New was added as Coder" in page.create_notice.object
    assert email in list(page.table.value["Email"])
    target = page._target()
    assert target is not None
    assert target.email == email  # the new user is selected for the next action

    page.edit_role.value = Role.SUPERVISOR.value
    _click(page.save_role)
    assert "is now Supervisor" in page.edit_notice.object
    _click(page.toggle)
    assert "deactivated" in page.edit_notice.object
    with org_scope(page.principal.org_id) as scope:
        stored = user_rows.get(scope, target.id)
    assert stored.role == Role.SUPERVISOR.value
    assert not stored.is_active


def test_invalid_input_keeps_the_form(page: UsersPage) -> None:
    page.new_name.value, page.new_email.value, page.new_role.value = "No Email", "not-an-email", Role.CODER.value
    _click(page.create)
    assert page.create_notice.alert_type == "error"
    assert page.new_email.value == "not-an-email"  # the manager's input stays to be corrected
    assert "not-an-email" not in list(page.table.value["Email"])
