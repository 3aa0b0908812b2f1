"""SECURITY B14: two-step sign-in with a time-based one-time code (TOTP, RFC 6238).

- turning it on needs the current password and a code from the app (which proves it has the key);
- signing in: the right password opens no session, only a five-minute pending sign-in; the code
  step opens it;
- a code is accepted once (replay within its window is refused), only within one step of now;
- code guesses are limited per account (TWO_STEP_LIMIT), before any check;
- neither a password change nor a manager's reset link turns it off; a manager can turn it off
  for a user who lost their phone, which signs that user out everywhere;
- over real HTTP: /login answers with the code step, /login/code signs in.
"""

from __future__ import annotations

import uuid
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import text

from app import bootstrap
from app.authz import Principal, Role
from app.errors import Conflict, PermissionDenied, RateLimited, ValidationFailed
from app.security import tokens, totp
from app.services import two_step
from app.services import users as user_actions
from app.services.auth import CodeRejected, LoginFailed, SecondFactorRequired, TwoStepExpired
from datalayer.queries import users as user_rows
from datalayer.scope import org_scope
from tests.conftest import PASSWORD, Client, LiveServer, make_org, make_user

pytestmark = pytest.mark.slow

T0 = datetime(2026, 11, 26, 9, 0, 5, tzinfo=UTC)  # 5 s into a 30-second step
STEP = timedelta(seconds=totp.STEP_SECONDS)
IP = "192.0.2.140"


def _sign_in(runtime: bootstrap.Runtime, email: str, password: str = PASSWORD) -> Any:
    return runtime.ctx.auth.login(email=email, password=password, client_ip=IP, user_agent=None)


def _person(runtime: bootstrap.Runtime, role: Role = Role.CODER) -> tuple[str, Principal]:
    email = f"two-step-{uuid.uuid4().hex[:8]}@example.test"
    make_user(runtime.ctx, make_org(), role, email=email)
    return email, _sign_in(runtime, email).principal


def _pending(runtime: bootstrap.Runtime, email: str) -> str:
    with pytest.raises(SecondFactorRequired) as raised:
        _sign_in(runtime, email)
    return raised.value.pending


def _turn_on(runtime: bootstrap.Runtime, who: Principal, at: datetime) -> str:
    enrolment = two_step.start_enrolment(who, "Test Org")
    code = totp.code_at(enrolment.secret, at)
    two_step.enable(who, secret=enrolment.secret, code=code, current=PASSWORD, hasher=runtime.ctx.hasher)
    return enrolment.secret


def _sessions(org_id: uuid.UUID, user_id: uuid.UUID) -> int:
    with org_scope(org_id) as scope:
        return int(
            scope.conn.execute(
                text("SELECT count(*) FROM sessions WHERE user_id = :u AND revoked_at IS NULL"), {"u": user_id}
            ).scalar_one()
        )


def _actions(org_id: uuid.UUID, user_id: uuid.UUID) -> list[str]:
    with org_scope(org_id) as scope:
        rows = scope.conn.execute(
            text("SELECT action FROM audit_log WHERE object_id = :u ORDER BY seq"), {"u": str(user_id)}
        )
        return [r[0] for r in rows]


def test_turning_it_on_needs_the_password_and_a_code_from_the_app(runtime: bootstrap.Runtime) -> None:
    _, who = _person(runtime)
    enrolment = two_step.start_enrolment(who, "Test Org")
    assert enrolment.uri.startswith("otpauth://totp/")
    assert who.email.replace("@", "%40") in enrolment.uri
    assert "<svg" in enrolment.qr_svg
    assert enrolment.grouped.replace(" ", "") == enrolment.secret
    good = totp.code_at(enrolment.secret, datetime.now(UTC))
    with pytest.raises(ValidationFailed) as wrong_password:
        two_step.enable(who, secret=enrolment.secret, code=good, current="not my password", hasher=runtime.ctx.hasher)
    assert "current" in wrong_password.value.fields
    bad = f"{(int(good) + 1) % 1_000_000:06d}"
    with pytest.raises(ValidationFailed) as wrong_code:
        two_step.enable(who, secret=enrolment.secret, code=bad, current=PASSWORD, hasher=runtime.ctx.hasher)
    assert "code" in wrong_code.value.fields
    assert two_step.status(who) is None
    two_step.enable(who, secret=enrolment.secret, code=good, current=PASSWORD, hasher=runtime.ctx.hasher)
    assert two_step.status(who) is not None
    with pytest.raises(Conflict):
        two_step.enable(who, secret=enrolment.secret, code=good, current=PASSWORD, hasher=runtime.ctx.hasher)
    assert "authn_two_step_enabled" in _actions(who.org_id, who.user_id)


def test_b14_the_code_step_opens_the_session_and_a_code_works_once(runtime: bootstrap.Runtime) -> None:
    email, who = _person(runtime)
    with time_machine.travel(T0, tick=False) as clock:
        secret = _turn_on(runtime, who, T0)
        before = _sessions(who.org_id, who.user_id)
        pending = _pending(runtime, email)
        assert _sessions(who.org_id, who.user_id) == before  # the password alone opened nothing
        auth = runtime.ctx.auth
        # The code used to turn it on is spent: the same code again is a replay.
        with pytest.raises(CodeRejected):
            auth.complete_two_step(pending, totp.code_at(secret, T0), client_ip=IP, user_agent=None)
        clock.move_to(T0 + STEP)
        code = totp.code_at(secret, T0 + STEP)
        session = auth.complete_two_step(pending, f"{code[:3]} {code[3:]}", client_ip=IP, user_agent=None)
        assert session.principal.user_id == who.user_id
        assert auth.authenticate(session.token, touch=False) is not None
        with pytest.raises(CodeRejected):  # replayed within its window, on a new pending sign-in
            auth.complete_two_step(_pending(runtime, email), code, client_ip=IP, user_agent=None)
        clock.move_to(T0 + 2 * STEP)
        with pytest.raises(CodeRejected):  # two steps ahead: outside the drift window
            auth.complete_two_step(
                _pending(runtime, email), totp.code_at(secret, T0 + 4 * STEP), client_ip=IP, user_agent=None
            )
        late = _pending(runtime, email)
        clock.move_to(T0 + 2 * STEP + timedelta(seconds=tokens.TWO_STEP_LIFETIME_SECONDS + 1))
        with pytest.raises(TwoStepExpired):  # the pending sign-in lasts five minutes
            auth.complete_two_step(late, totp.code_at(secret, datetime.now(UTC)), client_ip=IP, user_agent=None)
    with pytest.raises(TwoStepExpired):  # a session token is not a pending sign-in
        auth.complete_two_step(session.token, "123456", client_ip=IP, user_agent=None)
    actions = _actions(who.org_id, who.user_id)
    assert actions.count("authn_two_step_fail") == 3


def test_b14_code_guesses_are_limited_per_account(runtime: bootstrap.Runtime) -> None:
    email, who = _person(runtime)
    limit = runtime.settings.two_step_limit.limit
    with time_machine.travel(T0, tick=False) as clock:
        secret = _turn_on(runtime, who, T0)
        clock.move_to(T0 + STEP)
        right = totp.code_at(secret, T0 + STEP)
        wrong = f"{(int(right) + 1) % 1_000_000:06d}"
        for _ in range(limit):
            with pytest.raises(CodeRejected):
                runtime.ctx.auth.complete_two_step(_pending(runtime, email), wrong, client_ip=IP, user_agent=None)
        with pytest.raises(RateLimited):  # counted before it is checked: even the right code
            runtime.ctx.auth.complete_two_step(_pending(runtime, email), right, client_ip=IP, user_agent=None)


def test_b14_password_change_and_reset_link_do_not_turn_it_off(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    email, who = _person(runtime)
    _turn_on(runtime, who, datetime.now(UTC))
    new = "another long passphrase 7"
    user_actions.change_password(who, current=PASSWORD, new=new, confirm=new, hasher=runtime.ctx.hasher)
    with pytest.raises(SecondFactorRequired):
        _sign_in(runtime, email, new)
    manager_email = f"mgr-{uuid.uuid4().hex[:8]}@example.test"
    make_user(runtime.ctx, who.org_id, Role.MANAGER, email=manager_email)
    manager = _sign_in(runtime, manager_email).principal
    token = user_actions.send_password_reset(manager, who.user_id, settings=runtime.settings)
    user_actions.accept_invitation(token, password=PASSWORD, confirm=PASSWORD, hasher=runtime.ctx.hasher)
    with pytest.raises(SecondFactorRequired):
        _sign_in(runtime, email)
    with pytest.raises(LoginFailed):  # the old password went with the reset
        _sign_in(runtime, email, new)


def test_a_manager_turns_it_off_for_a_user_who_lost_their_phone(runtime: bootstrap.Runtime) -> None:
    email, who = _person(runtime)
    with time_machine.travel(T0, tick=False) as clock:
        secret = _turn_on(runtime, who, T0)
        clock.move_to(T0 + STEP)
        session = runtime.ctx.auth.complete_two_step(
            _pending(runtime, email), totp.code_at(secret, T0 + STEP), client_ip=IP, user_agent=None
        )
    manager_email = f"mgr-{uuid.uuid4().hex[:8]}@example.test"
    make_user(runtime.ctx, who.org_id, Role.MANAGER, email=manager_email)
    manager = _sign_in(runtime, manager_email).principal
    with pytest.raises(PermissionDenied):
        two_step.reset_for_user(who, who.user_id)  # a coder cannot
    assert two_step.reset_for_user(manager, who.user_id) >= 1
    assert runtime.ctx.auth.authenticate(session.token, touch=False) is None  # signed out everywhere
    assert _sign_in(runtime, email).principal.user_id == who.user_id  # the password alone again
    with pytest.raises(Conflict):
        two_step.reset_for_user(manager, who.user_id)
    assert "authn_two_step_reset" in _actions(who.org_id, who.user_id)


def test_turning_it_off_needs_the_password_and_a_fresh_code(runtime: bootstrap.Runtime) -> None:
    _, who = _person(runtime)
    with time_machine.travel(T0, tick=False) as clock:
        secret = _turn_on(runtime, who, T0)
        hasher = runtime.ctx.hasher
        with pytest.raises(ValidationFailed):  # the code that turned it on is spent
            two_step.disable(who, code=totp.code_at(secret, T0), current=PASSWORD, hasher=hasher)
        clock.move_to(T0 + STEP)
        code = totp.code_at(secret, T0 + STEP)
        with pytest.raises(ValidationFailed):
            two_step.disable(who, code=code, current="wrong password", hasher=hasher)
        two_step.disable(who, code=code, current=PASSWORD, hasher=hasher)
    assert two_step.status(who) is None
    with org_scope(who.org_id) as scope:
        state = user_rows.two_step(scope, who.user_id)
    assert (state.secret, state.last_step) == (None, None)


def test_b14_two_step_sign_in_over_http(live_server: LiveServer) -> None:
    org = make_org()
    email = f"two-step-http-{uuid.uuid4().hex[:8]}@example.test"
    user_id = make_user(live_server.ctx, org, Role.CODER, email=email)
    secret = totp.new_secret()
    now = datetime.now(UTC)
    with org_scope(org) as scope:  # on since a while ago (its last code several steps back)
        user_rows.enable_two_step(scope, user_id, secret=secret, step=int(now.timestamp()) // 30 - 5, now=now)
    settings = live_server.ctx.settings
    with closing(Client(base_url=live_server.url, follow_redirects=False, timeout=10)) as c:
        first = c.login(email)
        assert first.status_code == 200
        assert first.json() == {"redirect": "/login/code", "two_step": True}
        assert settings.cookie_name not in c.cookies  # no session yet
        assert c.get("/api/v1/me").status_code == 401
        page = c.get("/login/code")
        assert page.status_code == 200
        assert 'autocomplete="one-time-code"' in page.text
        wrong = c.post(
            "/login/code",
            data={
                "code": "000000" if totp.code_at(secret, now) != "000000" else "111111",
                "_xsrf": c.cookies.get("_xsrf", ""),
            },
        )
        assert wrong.status_code == 401
        assert "That code did not work" in wrong.text
        code = totp.code_at(secret, datetime.now(UTC))
        done = c.post("/login/code", data={"code": code, "_xsrf": c.cookies.get("_xsrf", "")})
        assert done.status_code == 303
        assert done.headers["location"] == "/queue"
        me = c.get("/api/v1/me")
        assert me.status_code == 200
        assert me.json()["email"] == email
    with closing(Client(base_url=live_server.url, follow_redirects=False, timeout=10)) as other:
        assert other.get("/login/code").headers.get("location") == "/login?notice=expired"  # no pending sign-in


def test_the_account_card_sets_it_up_and_turns_it_off(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pages.account import AccountPage
    from pages.registry import NAV
    from tests.page_fixtures import page_session, run_settled

    email = f"card-{uuid.uuid4().hex[:8]}@example.test"
    make_user(runtime.ctx, make_org(), Role.SUPERVISOR, email=email)
    who = page_session(runtime.ctx, monkeypatch, email)
    card = AccountPage(principal=who, ctx=runtime.ctx, nav=NAV).two_step
    assert card.set_up.visible
    assert not card.turn_on.visible
    assert "Off." in card.status.object

    card.set_up.param.update(clicks=1)  # a plain callback: the key and QR code appear
    assert card.enrolment is not None
    assert card.qr.visible
    assert "<svg" in card.qr.object
    assert card.enrolment.grouped in card.qr.object
    card.current.value, card.code.value = "wrong password", totp.code_at(card.enrolment.secret, datetime.now(UTC))
    run_settled(card._enable(None))
    assert card.notice.alert_type == "error"
    assert "current password" in card.notice.object
    assert card.current.value == "wrong password"  # kept; the code is cleared (each works once)
    assert card.code.value == ""

    with time_machine.travel(T0, tick=False) as clock:
        secret = card.enrolment.secret
        card.current.value, card.code.value = PASSWORD, totp.code_at(secret, T0)
        run_settled(card._enable(None))
        assert card.notice.alert_type == "success", card.notice.object
        assert card.enabled_at is not None
        assert card.turn_off.visible
        assert not card.qr.visible
        assert (card.current.value, card.code.value) == ("", "")
        clock.move_to(T0 + STEP)
        card.current.value, card.code.value = PASSWORD, totp.code_at(secret, T0 + STEP)
        run_settled(card._disable(None))
    assert card.notice.object == "Two-step sign-in is off."
    assert card.enabled_at is None
    assert card.set_up.visible


def test_b14_a_reset_link_over_http_still_asks_for_the_code(live_server: LiveServer) -> None:
    org = make_org()
    email = f"two-step-reset-{uuid.uuid4().hex[:8]}@example.test"
    user_id = make_user(live_server.ctx, org, Role.CODER, email=email)
    manager_email = f"mgr-{uuid.uuid4().hex[:8]}@example.test"
    make_user(live_server.ctx, org, Role.MANAGER, email=manager_email)
    now = datetime.now(UTC)
    with org_scope(org) as scope:
        user_rows.enable_two_step(scope, user_id, secret=totp.new_secret(), step=int(now.timestamp()) // 30, now=now)
    manager = live_server.ctx.auth.login(email=manager_email, password=PASSWORD, client_ip=IP, user_agent=None)
    token = user_actions.send_password_reset(manager.principal, user_id, settings=live_server.ctx.settings)
    new = "a reset passphrase that is long"
    with closing(Client(base_url=live_server.url, follow_redirects=False, timeout=10)) as c:
        assert c.get(f"/invite?token={token}").status_code == 200
        done = c.post(
            f"/invite?token={token}",
            data={"token": token, "password": new, "password_confirm": new, "_xsrf": c.cookies.get("_xsrf", "")},
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/login/code"  # the password is set; the code is still asked for
        assert live_server.ctx.settings.cookie_name not in c.cookies
        assert c.get("/api/v1/me").status_code == 401
