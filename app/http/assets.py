"""Our own static assets: the stylesheet generated from design tokens, and the sign-in script."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import tokens
from app.http.base import PUBLIC, BaseHandler

STATIC_DIR = Path(__file__).resolve().parent / "static"


@cache
def _asset(name: str) -> tuple[bytes, str]:
    if name == "app.css":
        return tokens.app_css().encode(), "text/css; charset=utf-8"
    if name == "auth.js":
        return (STATIC_DIR / "auth.js").read_bytes(), "text/javascript; charset=utf-8"
    raise KeyError(name)


class AssetHandler(BaseHandler):
    permission = PUBLIC

    def prepare(self) -> None:
        """Static files need no session."""

    def get(self, name: str) -> None:
        try:
            body, ctype = _asset(name)
        except KeyError:
            self.set_status(404)
            self.finish()
            return
        self.set_header("Content-Type", ctype)
        self.set_header("Cache-Control", "public, max-age=3600")
        self.finish(body)
