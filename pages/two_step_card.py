"""The "Two-step sign-in" card of ``/account`` (``app.services.two_step``, ADR 0019).

Off: a button starts the set-up, which shows a fresh key as a QR code and as text; the user adds
it to an authenticator app and confirms with the current password and a code. On: the current
password and a code turn it off. Every action runs off the event loop with its button busy; a
refused action keeps what was typed, except the code (each works once).
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

import panel as pn
import panel_material_ui as pmui

from app.authz import Permission, Principal
from app.errors import Conflict, NotAuthenticated, ValidationFailed
from app.services import two_step
from app.services.two_step import Enrolment
from pages.base import SecurePage, busy

_OFF = (
    "<p><strong>Off.</strong> With two-step sign-in on, signing in also asks for a 6-digit code from "
    "an authenticator app on your phone (Google Authenticator, Microsoft Authenticator, 1Password, …), "
    "so a stolen password alone is not enough.</p>"
)
_SET_UP = (
    "<ol class='sc-steps'><li>Scan this code with your authenticator app, or type the key below into it.</li>"
    "<li>Enter your current password and the 6-digit code the app now shows for SmartCoders.</li></ol>"
)


class TwoStepCard:
    def __init__(self, page: SecurePage, *, organisation: str, enabled_at: datetime | None) -> None:
        self.page, self.organisation = page, organisation
        self.enabled_at = enabled_at
        self.enrolment: Enrolment | None = None
        self.status = pn.pane.HTML(sizing_mode="stretch_width", css_classes=["sc-two-step-status"])
        self.set_up = pmui.Button(
            label="Set up two-step sign-in", variant="outlined", css_classes=["sc-two-step-set-up"]
        )
        self.set_up.on_click(self._start)
        self.qr = pn.pane.HTML("", visible=False, css_classes=["sc-two-step-qr"])
        self.current = pmui.PasswordInput(
            label="Current password", visible=False, sizing_mode="stretch_width", css_classes=["sc-two-step-password"]
        )
        self.code = pmui.TextInput(
            label="6-digit code", visible=False, max_length=7, width=160, css_classes=["sc-two-step-code"]
        )
        self.turn_on = pmui.Button(label="Turn on", color="primary", visible=False, css_classes=["sc-two-step-on"])
        self.turn_on.on_click(self._enable)
        self.cancel = pmui.Button(label="Cancel", variant="text", visible=False, css_classes=["sc-two-step-cancel"])
        self.cancel.on_click(self._cancel)
        self.turn_off = pmui.Button(
            label="Turn off", variant="outlined", color="error", visible=False, css_classes=["sc-two-step-off"]
        )
        self.turn_off.on_click(self._disable)
        self.notice = pmui.Alert(object="", alert_type="error", visible=False, sizing_mode="stretch_width")
        self._render()

    def _render(self) -> None:
        on, enrolling = self.enabled_at is not None, self.enrolment is not None
        if on:
            when = self.enabled_at.strftime("%d %b %Y") if self.enabled_at else ""
            self.status.object = (
                f"<p><strong>On</strong> since {html.escape(when)}: signing in asks for a code from your "
                "authenticator app. To turn it off, enter your current password and a code.</p>"
            )
        elif enrolling and self.enrolment is not None:
            self.status.object = _SET_UP
            self.qr.object = (
                f'<div class="sc-qr">{self.enrolment.qr_svg}</div>'
                f'<p class="sc-muted">Key: <code class="sc-key">{html.escape(self.enrolment.grouped)}</code></p>'
            )
        else:
            self.status.object = _OFF
        self.set_up.visible = not on and not enrolling
        self.qr.visible = enrolling and not on
        self.current.visible = self.code.visible = on or enrolling
        self.turn_on.visible = self.cancel.visible = enrolling and not on
        self.turn_off.visible = on

    def _say(self, message: str, kind: str = "error") -> None:
        self.notice.param.update(object=message, alert_type=kind, visible=True)

    def _start(self, _: object) -> None:
        self.enrolment = two_step.start_enrolment(self.page.principal, self.organisation)
        self.notice.visible = False
        self._render()

    def _cancel(self, _: object) -> None:
        self.enrolment = None
        self.current.value = self.code.value = ""
        self.notice.visible = False
        self._render()

    async def _act(self, button: Any, work: Any, done: str) -> bool:
        try:
            with busy(button):
                self.enabled_at = await self.page.run_action(Permission.ACCOUNT_VIEW, work)
        except NotAuthenticated:
            return False  # the session watchdog sends the browser to /login
        except ValidationFailed as exc:
            self.code.value = ""
            self._say(" ".join(exc.fields.values()) or exc.message)
            return False
        except Conflict as exc:
            self._say(exc.message)
            return False
        self.enrolment = None
        self.current.value = self.code.value = ""
        self._say(done, "success")
        self._render()
        return True

    async def _enable(self, _: object) -> None:
        enrolment = self.enrolment
        if enrolment is None or self.turn_on.disabled:
            return
        current, code, hasher = self.current.value or "", self.code.value or "", self.page.ctx.hasher

        def work(principal: Principal) -> datetime | None:
            two_step.enable(principal, secret=enrolment.secret, code=code, current=current, hasher=hasher)
            return two_step.status(principal)

        await self._act(self.turn_on, work, "Two-step sign-in is on. Keep the app: you will need a code every time.")

    async def _disable(self, _: object) -> None:
        if self.turn_off.disabled:
            return
        current, code, hasher = self.current.value or "", self.code.value or "", self.page.ctx.hasher

        def work(principal: Principal) -> datetime | None:
            two_step.disable(principal, code=code, current=current, hasher=hasher)
            return two_step.status(principal)

        await self._act(self.turn_off, work, "Two-step sign-in is off.")

    @property
    def panel(self) -> Any:
        return pmui.Paper(
            pn.pane.HTML('<h2 class="sc-section">Two-step sign-in</h2>'),
            self.status,
            self.set_up,
            self.qr,
            pn.Column(
                self.current,
                self.code,
                self.notice,
                pn.Row(self.turn_on, self.cancel, self.turn_off),
                max_width=480,
                sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
            css_classes=["sc-card-section", "sc-two-step"],
        )
