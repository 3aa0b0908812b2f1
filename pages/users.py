"""``/users`` (manager): the organisation's people — invite, change role, deactivate."""

from __future__ import annotations

import html
from typing import Any
from uuid import UUID

import pandas as pd
import panel as pn
import panel_material_ui as pmui

from app.authz import ROLE_LABELS, Permission, Role
from app.errors import Conflict, NotAuthenticated, NotFound, ValidationFailed
from app.services import two_step
from app.services import users as user_actions
from datalayer.queries.users import User
from pages.base import SecurePage, busy

ROLE_OPTIONS = {ROLE_LABELS[r]: r.value for r in Role}


def _status(user: User) -> str:
    if not user.is_active:
        return "Deactivated"
    return "Invitation pending" if not user.has_password else "Active"


class UsersPage(SecurePage):
    title = "Users"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.users: list[User] = []
        self.table = pn.widgets.Tabulator(
            pd.DataFrame(),
            disabled=True,
            selectable=1,
            show_index=False,
            sizing_mode="stretch_width",
            layout="fit_columns",
            pagination="local",
            page_size=25,
            css_classes=["sc-users-table"],
            header_filters={
                "Name": {"type": "input", "func": "like", "placeholder": "Filter"},
                "Email": {"type": "input", "func": "like", "placeholder": "Filter"},
            },
        )
        self.table.param.watch(self._selected, "selection")
        self.new_name = pmui.TextInput(label="Full name", sizing_mode="stretch_width", css_classes=["sc-new-name"])
        self.new_email = pmui.TextInput(label="Email", sizing_mode="stretch_width", css_classes=["sc-new-email"])
        self.new_role = pmui.Select(
            label="Role",
            options=ROLE_OPTIONS,
            value=Role.CODER.value,
            sizing_mode="stretch_width",
            css_classes=["sc-new-role"],
        )
        self.create = pmui.Button(label="Add user and send invitation", color="primary", css_classes=["sc-create-user"])
        self.create.on_click(self._create)
        self.create_notice = pmui.Alert(
            object="",
            alert_type="success",
            visible=False,
            sizing_mode="stretch_width",
            css_classes=["sc-create-notice"],
        )
        self.selected_label = pn.pane.HTML(
            '<p class="sc-muted">Select a user in the table to change their role or access.</p>',
            sizing_mode="stretch_width",
        )
        self.edit_role = pmui.Select(
            label="Role", options=ROLE_OPTIONS, disabled=True, width=220, css_classes=["sc-edit-role"]
        )
        self.save_role = pmui.Button(
            label="Change role", disabled=True, variant="outlined", css_classes=["sc-save-role"]
        )
        self.save_role.on_click(self._change_role)
        self.toggle = pmui.Button(
            label="Deactivate", disabled=True, variant="outlined", color="error", css_classes=["sc-toggle-active"]
        )
        self.toggle.on_click(self._toggle_active)
        self.resend = pmui.Button(label="Resend invitation", disabled=True, variant="text", css_classes=["sc-resend"])
        self.resend.on_click(self._resend)
        self.reset_two_step = pmui.Button(
            label="Turn off two-step sign-in",
            disabled=True,
            visible=False,
            variant="text",
            color="error",
            css_classes=["sc-reset-two-step"],
        )
        self.reset_two_step.on_click(self._reset_two_step)
        self.edit_notice = pmui.Alert(
            object="", alert_type="success", visible=False, sizing_mode="stretch_width", css_classes=["sc-edit-notice"]
        )
        self._reload()

    # -- data ---------------------------------------------------------------------------

    def _reload(self, keep: UUID | None = None) -> None:
        self._show(user_actions.list_users(self.principal), keep)

    async def _reload_off_loop(self, keep: UUID | None = None) -> None:
        self._show(await self.run_action(Permission.USERS_MANAGE, user_actions.list_users), keep)

    def _show(self, users: list[User], keep: UUID | None) -> None:
        self.users = users
        self.table.value = pd.DataFrame(
            {
                "Name": [u.name for u in self.users],
                "Email": [u.email for u in self.users],
                "Role": [ROLE_LABELS[Role(u.role)] for u in self.users],
                "Status": [_status(u) for u in self.users],
                "Two-step": ["On" if u.two_step else "Off" for u in self.users],
                "Last sign-in": [
                    u.last_login_at.strftime("%d %b %Y %H:%M") if u.last_login_at else "Never" for u in self.users
                ],
            }
        )
        index = next((i for i, u in enumerate(self.users) if u.id == keep), None)
        self.table.selection = [index] if index is not None else []
        self._selected()

    def _target(self) -> User | None:
        selection = self.table.selection
        return self.users[selection[0]] if selection and selection[0] < len(self.users) else None

    def _selected(self, *_: object) -> None:
        user = self._target()
        enabled = user is not None
        for widget in (self.edit_role, self.save_role, self.toggle):
            widget.disabled = not enabled
        self.resend.disabled = user is None or not user.is_active
        uses_two_step = user is not None and user.two_step
        self.reset_two_step.param.update(visible=uses_two_step, disabled=not uses_two_step)
        self.resend.label = (
            "Send password reset link" if user is not None and user.has_password else "Resend invitation"
        )
        if user is None:
            self.selected_label.object = (
                '<p class="sc-muted">Select a user in the table to change their role or access.</p>'
            )
            return
        self.selected_label.object = f"<p><strong>{html.escape(user.name)}</strong> · {html.escape(user.email)}</p>"
        self.edit_role.value = user.role
        self.toggle.label = "Deactivate" if user.is_active else "Reactivate"
        self.toggle.color = "error" if user.is_active else "primary"

    def _notify(self, alert: Any, message: str, kind: str = "success") -> None:
        alert.alert_type = kind
        alert.object = message
        alert.visible = True

    # -- actions ------------------------------------------------------------------------

    async def _create(self, _: object) -> None:
        email, name, role = self.new_email.value or "", self.new_name.value or "", self.new_role.value or ""
        try:
            with busy(self.create):
                created = await self.run_action(
                    Permission.USERS_MANAGE,
                    lambda p: user_actions.create_user(
                        p, email=email, name=name, role=role, settings=self.ctx.settings
                    ),
                )
        except NotAuthenticated:
            return
        except ValidationFailed as exc:
            self._notify(self.create_notice, " ".join(exc.fields.values()) or exc.message, "error")
            return
        except Conflict as exc:
            self._notify(self.create_notice, exc.message, "error")
            return
        self.new_name.value = self.new_email.value = ""
        self._notify(
            self.create_notice,
            f"{created.user.name} was added as {ROLE_LABELS[Role(created.user.role)]}. "
            "An invitation email is on its way.",
        )
        await self._reload_off_loop(keep=created.user.id)

    async def _run(self, button: Any, action: Any, message: str) -> None:
        """One change to the selected user: database work off the event loop, the button busy."""
        user = self._target()
        if user is None:
            return
        try:
            with busy(button):
                await self.run_action(Permission.USERS_MANAGE, lambda p: action(p, user))
        except NotAuthenticated:
            return
        except (Conflict, ValidationFailed, NotFound) as exc:
            self._notify(self.edit_notice, exc.message, "error")
            return
        self._notify(self.edit_notice, message.format(name=user.name))
        await self._reload_off_loop(keep=user.id)

    async def _change_role(self, _: object) -> None:
        role = self.edit_role.value or ""
        await self._run(
            self.save_role,
            lambda p, u: user_actions.change_role(p, u.id, role),
            f"{{name}} is now {ROLE_LABELS.get(Role(role), role) if role in set(ROLE_OPTIONS.values()) else role}.",
        )

    async def _toggle_active(self, _: object) -> None:
        user = self._target()
        if user is None:
            return
        active = not user.is_active
        await self._run(
            self.toggle,
            lambda p, u: user_actions.set_active(p, u.id, active),
            "{name} can sign in again." if active else "{name} was deactivated and signed out everywhere.",
        )

    async def _resend(self, _: object) -> None:
        user = self._target()
        if user is not None and user.has_password:
            await self._run(
                self.resend,
                lambda p, u: user_actions.send_password_reset(p, u.id, settings=self.ctx.settings),
                "{name} was sent a link to choose a new password (valid 72 hours).",
            )
            return
        await self._run(
            self.resend,
            lambda p, u: user_actions.resend_invitation(p, u.id, settings=self.ctx.settings),
            "A new invitation was sent to {name}.",
        )

    async def _reset_two_step(self, _: object) -> None:
        # For a user who lost their authenticator: they sign in with their password alone again
        # and are signed out everywhere now.
        await self._run(
            self.reset_two_step,
            lambda p, u: two_step.reset_for_user(p, u.id),
            "Two-step sign-in is off for {name}; they were signed out everywhere.",
        )

    def body(self) -> list[Any]:
        return [
            pmui.Paper(
                pn.pane.HTML('<h2 class="sc-section">People in your organisation</h2>'),
                self.table,
                self.selected_label,
                pn.Row(self.edit_role, self.save_role, self.toggle, self.resend, self.reset_two_step, align="center"),
                self.edit_notice,
                sizing_mode="stretch_width",
                css_classes=["sc-card-section"],
            ),
            pmui.Paper(
                pn.pane.HTML('<h2 class="sc-section">Add a user</h2>'),
                pn.Row(self.new_name, self.new_email, self.new_role, sizing_mode="stretch_width"),
                self.create_notice,
                self.create,
                sizing_mode="stretch_width",
                css_classes=["sc-card-section"],
            ),
        ]
