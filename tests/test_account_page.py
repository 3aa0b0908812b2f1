"""The /account page's buttons, driven as plain objects without a browser (CONVENTIONS 15).

A click is what the browser's click does to the Python widget (``clicks`` goes up by one); the
async callback then runs on this test's event loop as it would on the server's IOLoop. The
session identity normally comes from the Bokeh session token (``pages.identity``); here it is
the identity of a session created by a real sign-in. A recording hasher shows on which thread
each argon2 call ran and what the button looked like meanwhile: every argon2 call must run off
the loop's thread, with the button disabled and spinning, and the button must be usable again
afterwards.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import uuid
from typing import Any

import pytest

import pages.base
import pages.identity
from app import bootstrap
from app.authz import Role
from app.security.passwords import Hasher
from app.services.auth import LoginFailed, NewSession
from app.settings import Settings
from pages.account import AccountPage
from pages.registry import NAV
from tests.conftest import PASSWORD, make_org, make_user

NEW_PASSWORD = "Amber-Sextant-Willow-305"

pytestmark = pytest.mark.slow


class RecordingHasher(Hasher):
    """The suite's argon2 parameters; each call records (method, thread id, button disabled, loading)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            memory_kib=settings.password_hash_memory_kib,
            time_cost=settings.password_hash_time_cost,
            parallelism=settings.password_hash_parallelism,
        )
        self.calls: list[tuple[str, int, bool, bool]] = []
        self.button: Any = None

    def _record(self, name: str) -> None:
        self.calls.append((name, threading.get_ident(), self.button.disabled, self.button.loading))

    def hash(self, password: str) -> str:
        self._record("hash")
        return super().hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        self._record("verify")
        return super().verify(stored, password)


@dataclasses.dataclass
class Signed:
    email: str
    page: AccountPage
    hasher: RecordingHasher
    this: NewSession
    other: NewSession


@pytest.fixture
def signed(runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch) -> Signed:
    ctx = runtime.ctx
    email = f"acct-{uuid.uuid4().hex[:8]}@example.test"
    make_user(ctx, make_org(), Role.CODER, email=email)
    this = ctx.auth.login(email=email, password=PASSWORD, client_ip="198.51.100.7", user_agent="Firefox/140")
    other = ctx.auth.login(email=email, password=PASSWORD, client_ip="198.51.100.8", user_agent="Chrome/150")
    p = this.principal
    identity = {"sub": str(p.user_id), "org": str(p.org_id), "sid": str(p.session_id)}
    for module in (pages.base, pages.identity):  # where a page reads its session's token payload
        monkeypatch.setattr(module, "session_identity", lambda: identity)
    hasher = RecordingHasher(runtime.settings)
    page = AccountPage(principal=p, ctx=dataclasses.replace(ctx, hasher=hasher), nav=NAV)
    return Signed(email, page, hasher, this, other)


def _click(button: Any) -> int:
    """Click on a fresh event loop, wait for the callback's task; return the loop's thread id."""

    async def run() -> int:
        button.param.update(clicks=button.clicks + 1)
        await asyncio.gather(*(asyncio.all_tasks() - {asyncio.current_task()}))
        return threading.get_ident()

    return asyncio.run(run())


def test_change_password_hashes_off_the_loop_and_resets_the_button(runtime: bootstrap.Runtime, signed: Signed) -> None:
    page = signed.page
    signed.hasher.button = page.change
    page.current.value, page.new.value, page.confirm.value = PASSWORD, NEW_PASSWORD, NEW_PASSWORD
    assert not page.sign_out_others.disabled  # two sessions are listed

    loop_thread = _click(page.change)

    assert [c[0] for c in signed.hasher.calls] == ["verify", "hash"]
    for name, thread, disabled, loading in signed.hasher.calls:
        assert thread != loop_thread, f"{name} ran on the event loop"
        assert (disabled, loading) == (True, True), f"button usable during {name}"
    assert (page.change.disabled, page.change.loading) == (False, False)
    assert page.password_notice.visible
    assert page.password_notice.alert_type == "success"
    assert "Password changed" in page.password_notice.object
    assert (page.current.value, page.new.value, page.confirm.value) == ("", "", "")
    assert page.sign_out_others.disabled  # the other session is gone from the list

    auth = runtime.ctx.auth
    assert auth.authenticate(signed.this.token) is not None
    assert auth.authenticate(signed.other.token) is None
    assert auth.login(email=signed.email, password=NEW_PASSWORD, client_ip="198.51.100.9", user_agent=None)
    with pytest.raises(LoginFailed):
        auth.login(email=signed.email, password=PASSWORD, client_ip="198.51.100.9", user_agent=None)


def test_change_password_wrong_current_shows_error_and_reenables(signed: Signed) -> None:
    page = signed.page
    signed.hasher.button = page.change
    page.current.value, page.new.value, page.confirm.value = "Not-My-Password-42", NEW_PASSWORD, NEW_PASSWORD

    loop_thread = _click(page.change)

    assert [(c[0], c[1] != loop_thread, c[2]) for c in signed.hasher.calls] == [("verify", True, True)]
    assert (page.change.disabled, page.change.loading) == (False, False)
    assert page.password_notice.alert_type == "error"
    assert "current password is not correct" in page.password_notice.object
    assert page.current.value == "Not-My-Password-42"  # nothing is cleared on failure

    # A click arriving while the button is disabled (a change still running) does nothing.
    page.change.disabled = True
    _click(page.change)
    assert len(signed.hasher.calls) == 1


def test_sign_out_other_sessions(runtime: bootstrap.Runtime, signed: Signed) -> None:
    page = signed.page
    _click(page.sign_out_others)

    assert page.sessions_notice.visible
    assert page.sessions_notice.object == "Signed out 1 other session."
    assert (page.sign_out_others.disabled, page.sign_out_others.loading) == (True, False)  # one session left
    assert runtime.ctx.auth.authenticate(signed.other.token) is None
    assert runtime.ctx.auth.authenticate(signed.this.token) is not None


def test_revoked_session_does_nothing(runtime: bootstrap.Runtime, signed: Signed) -> None:
    runtime.ctx.auth.logout(signed.this.principal)
    page = signed.page
    signed.hasher.button = page.change
    page.current.value, page.new.value, page.confirm.value = PASSWORD, NEW_PASSWORD, NEW_PASSWORD

    _click(page.change)

    assert signed.hasher.calls == []
    assert not page.password_notice.visible
    assert (page.change.disabled, page.change.loading) == (False, False)
    assert runtime.ctx.auth.authenticate(signed.other.token) is not None
