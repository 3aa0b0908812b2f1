"""``/account`` (every role): who am I, where am I signed in, change my password; for coders,
first, the feedback they received (``pages.feedback_panel``).

The two buttons run async callbacks: the session check, the database work and the argon2
verify and hash (~100 ms each at the default parameters) run in the context's executor through
``SecurePage.run_action``, so the Tornado IOLoop keeps serving every other session meanwhile.
The button is disabled, with its spinner on, until the action has finished.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any, Final

import panel as pn
import panel_material_ui as pmui

from app.authz import ROLE_LABELS, Permission, Principal
from app.errors import NotAuthenticated, ValidationFailed
from app.services import two_step
from app.services import users as user_actions
from app.services.users import AccountOverview
from pages.base import SecurePage, busy
from pages.feedback_panel import FeedbackPanel
from pages.two_step_card import TwoStepCard

FEEDBACK_SHOWN: Final = 10  # to acknowledge first, then newest; the API pages through all


def _when(value: datetime | None) -> str:
    return value.strftime("%d %b %Y, %H:%M UTC") if value else "—"


def _browser(user_agent: str | None) -> str:
    ua = user_agent or ""
    for name in ("Edg", "Firefox", "Chrome", "Safari"):
        if name in ua:
            return {"Edg": "Edge"}.get(name, name)
    return ua[:40] or "Unknown"


class AccountPage(SecurePage):
    title = "Account"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.profile = pn.pane.HTML(sizing_mode="stretch_width", css_classes=["sc-profile"])
        self.sessions = pn.pane.HTML(sizing_mode="stretch_width", css_classes=["sc-sessions"])
        self.sign_out_others = pmui.Button(
            label="Sign out other sessions", variant="outlined", css_classes=["sc-sign-out-others"]
        )
        self.sign_out_others.on_click(self._sign_out_others)
        self.current = pmui.PasswordInput(
            label="Current password", sizing_mode="stretch_width", css_classes=["sc-current-password"]
        )
        self.new = pmui.PasswordInput(
            label="New password",
            description="At least 12 characters. A passphrase works well.",
            sizing_mode="stretch_width",
            css_classes=["sc-new-password"],
        )
        self.confirm = pmui.PasswordInput(
            label="Repeat new password", sizing_mode="stretch_width", css_classes=["sc-confirm-password"]
        )
        self.change = pmui.Button(label="Change password", color="primary", css_classes=["sc-change-password"])
        self.change.on_click(self._change_password)
        self.sessions_notice = pmui.Alert(object="", alert_type="success", visible=False, sizing_mode="stretch_width")
        self.password_notice = pmui.Alert(
            object="",
            alert_type="error",
            visible=False,
            sizing_mode="stretch_width",
            css_classes=["sc-password-notice"],
        )
        overview = user_actions.account_overview(self.principal)
        self._show(overview)
        self.two_step = TwoStepCard(
            self, organisation=overview.organization, enabled_at=two_step.status(self.principal)
        )
        # Coders: the feedback they received, read while the page is built (pages/feedback_panel.py).
        self.feedback = (
            FeedbackPanel(self, title="Feedback received", limit=FEEDBACK_SHOWN, collapsible=False, now=True)
            if self.principal.can(Permission.CHARTS_CODE)
            else None
        )

    def _show(self, overview: AccountOverview) -> None:
        user = overview.user
        self.profile.object = (
            '<dl class="sc-kv">'
            f"<dt>Name</dt><dd>{html.escape(user.name)}</dd>"
            f"<dt>Email</dt><dd>{html.escape(user.email)}</dd>"
            f"<dt>Organisation</dt><dd>{html.escape(overview.organization)}</dd>"
            f'<dt>Role</dt><dd><span class="sc-badge sc-badge--{user.role}">'
            f"{html.escape(ROLE_LABELS[self.principal.role])}</span></dd>"
            f"<dt>Last sign-in</dt><dd>{_when(user.last_login_at)}</dd>"
            "</dl>"
        )
        rows = "".join(
            "<tr>"
            f"<td>{_browser(s.user_agent)}{' <span class="sc-badge sc-badge--active">This session</span>' if s.id == self.principal.session_id else ''}</td>"
            f"<td>{html.escape(s.client_ip or '—')}</td><td>{_when(s.created_at)}</td><td>{_when(s.last_seen_at)}</td>"
            "</tr>"
            for s in overview.sessions
        )
        self.sessions.object = (
            '<table class="sc-table"><thead><tr><th>Browser</th><th>IP address</th><th>Signed in</th>'
            f"<th>Last active</th></tr></thead><tbody>{rows}</tbody></table>"
        )
        self.sign_out_others.disabled = len(overview.sessions) <= 1

    async def _sign_out_others(self, _: object) -> None:
        def work(principal: Principal) -> tuple[int, AccountOverview]:
            count = user_actions.sign_out_other_sessions(principal)
            return count, user_actions.account_overview(principal)

        try:
            with busy(self.sign_out_others):
                count, overview = await self.run_action(Permission.ACCOUNT_VIEW, work)
        except NotAuthenticated:
            return  # the session watchdog sends the browser to /login
        self.sessions_notice.object = f"Signed out {count} other session{'s' if count != 1 else ''}."
        self.sessions_notice.visible = True
        self._show(overview)

    async def _change_password(self, _: object) -> None:
        if self.change.disabled:
            return  # a click that arrived while the previous change was still running
        current, new, confirm = self.current.value or "", self.new.value or "", self.confirm.value or ""

        def work(principal: Principal) -> AccountOverview:
            user_actions.change_password(principal, current=current, new=new, confirm=confirm, hasher=self.ctx.hasher)
            return user_actions.account_overview(principal)

        try:
            with busy(self.change):
                overview = await self.run_action(Permission.ACCOUNT_VIEW, work)
        except NotAuthenticated:
            return
        except ValidationFailed as exc:
            self.password_notice.alert_type = "error"
            self.password_notice.object = " ".join(exc.fields.values()) or exc.message
            self.password_notice.visible = True
            return
        self.current.value = self.new.value = self.confirm.value = ""
        self.password_notice.alert_type = "success"
        self.password_notice.object = "Password changed. Your other sessions were signed out."
        self.password_notice.visible = True
        self._show(overview)

    def body(self) -> list[Any]:
        feedback = [self.feedback.panel] if self.feedback is not None else []
        return [
            *feedback,
            pmui.Paper(
                pn.pane.HTML('<h2 class="sc-section">Profile</h2>'),
                self.profile,
                sizing_mode="stretch_width",
                css_classes=["sc-card-section"],
            ),
            pmui.Paper(
                pn.pane.HTML('<h2 class="sc-section">Where you are signed in</h2>'),
                self.sessions,
                self.sessions_notice,
                self.sign_out_others,
                sizing_mode="stretch_width",
                css_classes=["sc-card-section"],
            ),
            pmui.Paper(
                pn.pane.HTML('<h2 class="sc-section">Change password</h2>'),
                pn.Column(
                    self.current,
                    self.new,
                    self.confirm,
                    self.password_notice,
                    self.change,
                    max_width=480,
                    sizing_mode="stretch_width",
                ),
                sizing_mode="stretch_width",
                css_classes=["sc-card-section"],
            ),
            self.two_step.panel,
        ]
