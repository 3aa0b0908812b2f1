"""The "Sampling" card on ``/review``: which submitted charts go to audit, in words, and — for
supervisors and managers (``audits:configure``) — a compact form to change it.

The policy is read while the page is built (a read, like the queue below it); "Save" runs
``app.services.sampling.update_settings`` off the event loop through ``SecurePage.run_action``.
Every widget, the form's buttons included, is part of the first document and only shown or hidden
later (a pmui button added by a later patch has its click rejected by the server, Panel 1.10).
A refused save keeps what was typed and marks each field the server named.
"""

from __future__ import annotations

import html
from typing import Any, Final

import panel as pn
import panel_material_ui as pmui

from app.authz import Permission, Principal
from app.errors import NotAuthenticated, PermissionDenied, ValidationFailed
from app.services import sampling
from app.services.sampling import SamplingSettings
from pages.base import SecurePage, busy

CSS: Final = """
:host { display: block; }
.smp { font-family: var(--app-font-family-sans); color: var(--app-color-text); }
.smp-head { display: flex; align-items: baseline; gap: var(--app-space-3); margin: 0; }
.smp-title { font-size: var(--app-font-size-lg); font-weight: var(--app-font-weight-semibold); margin: 0; }
.smp-tag { font-size: var(--app-font-size-xs); padding: 0 var(--app-space-2); border-radius: var(--app-radius-pill);
  background: var(--app-color-info-subtle); color: var(--app-color-info);
  border: var(--app-size-border-width) solid var(--app-color-info-border); }
.smp-policy { font-size: var(--app-font-size-md); margin: var(--app-space-1) 0 0; line-height: var(--app-font-line-height-snug); }
.smp-note { font-size: var(--app-font-size-sm); color: var(--app-color-text-muted); margin: var(--app-space-1) 0 0; }
.smp-rules { font-size: var(--app-font-size-sm); color: var(--app-color-text-muted); margin: var(--app-space-2) 0 0; }
"""

DIFFICULTY_OPTIONS: Final[dict[str, str]] = {"Off": "off", **{f"{n} or higher": str(n) for n in range(1, 6)}}


def why_html(reason: str) -> str:
    """The review queue's "Why" cell: the sampling rule that sent the chart to audit
    (``.rv-why`` is styled by ``pages.review``)."""
    label = sampling.REASON_LABELS.get(reason, reason.replace("_", " ").capitalize())
    return f'<span class="rv-why" title="Why this chart is in the audit sample">{html.escape(label)}</span>'


def policy_html(settings: SamplingSettings) -> str:
    """The policy in words: the headline sentence, then the notes in a muted line."""
    headline, notes = sampling.describe_parts(settings)
    tag = "All charts" if settings.review_all else "Sample"
    return (
        '<div class="smp"><p class="smp-head"><span class="smp-title">Sampling</span>'
        f'<span class="smp-tag">{html.escape(tag)}</span></p>'
        f'<p class="smp-policy">{html.escape(headline)}</p>'
        f'<p class="smp-note">{html.escape(" ".join(notes))}</p></div>'
    )


class SamplingCard:
    """The card: built with the page (``page`` gives the principal and ``run_action``)."""

    def __init__(self, page: SecurePage, settings: SamplingSettings) -> None:
        self.page = page
        self.settings = settings
        self.can_edit = page.principal.can(Permission.AUDITS_CONFIGURE)
        self.summary = pn.pane.HTML(
            policy_html(settings), stylesheets=[CSS], sizing_mode="stretch_width", css_classes=["sc-sampling-policy"]
        )
        self.edit_button = pmui.Button(
            label="Change",
            variant="outlined",
            width=110,
            visible=self.can_edit,
            css_classes=["sc-sampling-edit"],
        )
        self.review_all = pmui.Switch(label="Review every submitted chart", css_classes=["sc-sampling-all"])
        self.new_coders = pmui.Checkbox(label="All charts of new coders", css_classes=["sc-sampling-new"])
        self.new_coder_days = pmui.IntInput(
            label="New for (days)",
            start=1,
            end=sampling.MAX_NEW_CODER_DAYS,
            width=140,
            css_classes=["sc-sampling-days"],
        )
        self.overrides = pmui.Checkbox(label="Charts with an override", css_classes=["sc-sampling-overrides"])
        self.difficulty = pmui.Select(
            label="Difficulty", options=DIFFICULTY_OPTIONS, width=150, css_classes=["sc-sampling-difficulty"]
        )
        self.random_percent = pmui.IntInput(
            label="Random % of the rest", start=0, end=100, width=170, css_classes=["sc-sampling-percent"]
        )
        self.save_button = pmui.Button(label="Save", color="primary", width=110, css_classes=["sc-sampling-save"])
        self.cancel_button = pmui.Button(label="Cancel", variant="text", width=100, css_classes=["sc-sampling-cancel"])
        self.notice = pmui.Alert(
            object="", alert_type="info", visible=False, sizing_mode="stretch_width", css_classes=["sc-sampling-notice"]
        )
        self.rules_hint = pn.pane.HTML(
            '<p class="smp-rules">Always review, then sample the rest (resubmitted charts are always reviewed):</p>',
            stylesheets=[CSS],
            sizing_mode="stretch_width",
        )
        self.form = pn.Column(
            self.review_all,
            self.rules_hint,
            pn.FlexBox(
                self.new_coders,
                self.new_coder_days,
                self.overrides,
                self.difficulty,
                self.random_percent,
                flex_wrap="wrap",
                align_items="center",
                gap="0 16px",
            ),
            pn.Row(self.save_button, self.cancel_button),
            visible=False,
            sizing_mode="stretch_width",
            css_classes=["sc-sampling-form"],
        )
        self.edit_button.on_click(self._open)
        self.cancel_button.on_click(self._cancel)
        self.save_button.on_click(self._save_clicked)
        self.review_all.param.watch(lambda *_: self._sync_enabled(), "value")
        self.new_coders.param.watch(lambda *_: self._sync_enabled(), "value")
        self._fill(settings)
        self.panel = pmui.Paper(
            pn.Column(
                pn.Row(self.summary, self.edit_button, sizing_mode="stretch_width", align="start"),
                self.form,
                self.notice,
                margin=(6, 12),  # inside the card, in line with the "Disputed findings" card's title
                sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
            margin=(8, 0, 16, 0),
            css_classes=["sc-card-section", "sc-sampling-card"],
        )

    def __panel__(self) -> Any:
        return self.panel

    # -- form -----------------------------------------------------------------------------------------

    def _fill(self, s: SamplingSettings) -> None:
        self.review_all.value = s.review_all
        self.new_coders.value = s.always_new_coders
        self.new_coder_days.value = s.new_coder_days
        self.overrides.value = s.always_with_overrides
        self.difficulty.value = "off" if s.always_min_difficulty is None else str(s.always_min_difficulty)
        self.random_percent.value = s.random_percent
        self._clear_errors()
        self._sync_enabled()

    def _sync_enabled(self) -> None:
        rules_off = bool(self.review_all.value)
        for widget in (self.new_coders, self.overrides, self.difficulty, self.random_percent):
            widget.disabled = rules_off
        self.new_coder_days.disabled = rules_off or not self.new_coders.value

    def _clear_errors(self) -> None:
        for widget in (self.new_coder_days, self.random_percent):
            widget.param.update(error_state=False, helper_text="")

    def form_values(self) -> dict[str, Any]:
        """The form as the JSON the API takes (validated by ``sampling.parse_settings``)."""
        difficulty = self.difficulty.value
        return {
            "review_all": bool(self.review_all.value),
            "random_percent": self.random_percent.value,
            "always_new_coders": bool(self.new_coders.value),
            "new_coder_days": self.new_coder_days.value,
            "always_with_overrides": bool(self.overrides.value),
            "always_min_difficulty": None if difficulty in (None, "off") else int(difficulty),
        }

    def _open(self, _: object) -> None:
        self._fill(self.settings)
        self.notice.visible = False
        self.form.visible = True
        self.edit_button.visible = False

    def _cancel(self, _: object) -> None:
        self._fill(self.settings)
        self.form.visible = False
        self.edit_button.visible = self.can_edit

    async def _save_clicked(self, _: object) -> None:
        await self.save()

    async def save(self) -> bool:
        """Validate and store the form; on a refusal keep it open with each problem on its field."""
        self._clear_errors()
        try:
            wanted = sampling.parse_settings(self.form_values())
            with busy(self.save_button):
                saved, changed = await self.page.run_action(
                    Permission.AUDITS_CONFIGURE, lambda p: sampling.update_settings(p, wanted)
                )
        except (NotAuthenticated, PermissionDenied):
            self._say("Not saved: you can no longer change the sampling policy.", "error")
            return False
        except ValidationFailed as exc:
            self._show_problems(exc)
            return False
        self.settings = saved
        self.summary.object = policy_html(saved)
        self.form.visible = False
        self.edit_button.visible = self.can_edit
        self._say("Saved. It applies to charts submitted from now on." if changed else "Nothing changed.", "success")
        return True

    def _show_problems(self, exc: ValidationFailed) -> None:
        fields = {"new_coder_days": self.new_coder_days, "random_percent": self.random_percent}
        for name, message in exc.fields.items():
            widget = fields.get(name)
            if widget is not None:
                widget.param.update(error_state=True, helper_text=message)
        self._say(f"Not saved. {' '.join(dict.fromkeys(exc.fields.values())) or exc.message}", "error")

    def _say(self, message: str, kind: str) -> None:
        self.notice.param.update(object=message, alert_type=kind, visible=True)


def load(principal: Principal) -> SamplingSettings:
    """The policy the card starts with (``audits:view``)."""
    return sampling.get_settings(principal)
