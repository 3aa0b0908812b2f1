"""A user who forgot their password: a manager sends a reset link from /users (there is no
self-service reset). The old password works until the link is used; using it sets the new one and
signs the user out everywhere. Invitations and reset links share one mechanism and one page."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from app import bootstrap
from app.authz import Role
from app.errors import Conflict, PermissionDenied
from app.services import users as user_actions
from app.services.auth import LoginFailed
from datalayer.scope import org_scope
from pages.registry import NAV
from pages.users import UsersPage
from tests.conftest import PASSWORD, make_user
from tests.page_fixtures import new_manager, page_session

pytestmark = pytest.mark.slow

NEW_PASSWORD = "a brand new passphrase 42"


def _mail(org_id: uuid.UUID, to: str) -> list[dict[str, Any]]:
    with org_scope(org_id) as scope:
        rows = scope.conn.execute(
            text("SELECT template, subject, body_text FROM pending_emails WHERE to_address = :to ORDER BY created_at"),
            {"to": to},
        )
        return [dict(r._mapping) for r in rows]


def _login(runtime: bootstrap.Runtime, email: str, password: str) -> Any:
    return runtime.ctx.auth.login(email=email, password=password, client_ip="192.0.2.91", user_agent=None)


def _click(button: Any) -> None:
    async def run() -> None:
        button.param.update(clicks=button.clicks + 1)
        await asyncio.gather(*(asyncio.all_tasks() - {asyncio.current_task()}))

    asyncio.run(run())


def test_manager_sends_a_reset_link_and_using_it_signs_the_user_out_everywhere(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = new_manager(runtime, monkeypatch)
    email = f"forgot-{uuid.uuid4().hex[:8]}@example.test"
    user_id = make_user(runtime.ctx, manager.org_id, Role.CODER, email=email, name="Fern Forgot")
    old_session = _login(runtime, email, PASSWORD)

    page = UsersPage(principal=manager, ctx=runtime.ctx, nav=NAV)
    page._show(user_actions.list_users(manager), keep=user_id)
    assert page._target() is not None
    assert (page.resend.label, page.resend.disabled) == ("Send password reset link", False)
    _click(page.resend)
    assert "Fern Forgot was sent a link to choose a new password" in page.edit_notice.object

    (mail,) = _mail(manager.org_id, email)
    assert mail["template"] == "password_reset"
    assert manager.name in mail["body_text"]
    token = mail["body_text"].split("/invite?token=", 1)[1].split()[0]
    assert _login(runtime, email, PASSWORD) is not None  # the old password works until the link is used
    with org_scope(manager.org_id) as scope:
        action = scope.conn.execute(
            text("SELECT action FROM audit_log WHERE object_id = :u ORDER BY seq DESC LIMIT 1"), {"u": str(user_id)}
        ).scalar_one()
    assert action == "user_password_reset_sent"

    assert user_actions.view_invitation(token).name == "Fern Forgot"
    user_actions.accept_invitation(token, password=NEW_PASSWORD, confirm=NEW_PASSWORD, hasher=runtime.ctx.hasher)
    assert runtime.ctx.auth.authenticate(old_session.token, touch=False) is None  # signed out everywhere
    with pytest.raises(LoginFailed):
        _login(runtime, email, PASSWORD)
    assert _login(runtime, email, NEW_PASSWORD).principal.user_id == user_id
    with pytest.raises(Exception, match="invalid or has expired"):
        user_actions.view_invitation(token)  # single use


def test_reset_and_invitation_each_only_where_they_fit(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = new_manager(runtime, monkeypatch)
    settings = runtime.ctx.settings
    invited = user_actions.create_user(
        manager,
        email=f"invited-{uuid.uuid4().hex[:8]}@example.test",
        name="Ivy Invited",
        role="coder",
        settings=settings,
    ).user
    with pytest.raises(Conflict, match="has not set a password yet"):
        user_actions.send_password_reset(manager, invited.id, settings=settings)
    page = UsersPage(principal=manager, ctx=runtime.ctx, nav=NAV)
    page._show(user_actions.list_users(manager), keep=invited.id)
    assert page.resend.label == "Resend invitation"

    member = make_user(runtime.ctx, manager.org_id, Role.CODER)
    with pytest.raises(Conflict, match="already set a password"):
        user_actions.resend_invitation(manager, member, settings=settings)
    user_actions.set_active(manager, member, False)
    with pytest.raises(Conflict, match="deactivated"):
        user_actions.send_password_reset(manager, member, settings=settings)

    coder_email = f"coder-{uuid.uuid4().hex[:8]}@example.test"
    make_user(runtime.ctx, manager.org_id, Role.CODER, email=coder_email)
    coder = page_session(runtime.ctx, monkeypatch, coder_email)
    with pytest.raises(PermissionDenied):
        user_actions.send_password_reset(coder, invited.id, settings=settings)
