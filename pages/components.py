"""Pieces shared by the pages' own browser components (``panel.custom.JSComponent`` subclasses)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class DictMessages:
    """Mixin for a ``JSComponent`` whose browser side sends dict messages (``model.send_msg``).

    Each dict goes to ``on_message``, which the page owning the component sets; anything else
    (or a message before the page has set it) is dropped. List it before ``JSComponent``.
    """

    on_message: Callable[[dict[str, Any]], None] | None = None

    def __init__(self, **params: Any) -> None:
        # Typed, so the pages construct their components in typed code (param's own is not).
        super().__init__(**params)

    def _handle_msg(self, msg: Any) -> None:
        if isinstance(msg, dict) and self.on_message is not None:
            self.on_message(msg)
