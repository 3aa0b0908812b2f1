"""Who is looking at a Panel page, established the same way for the HTTP and websocket paths.

The Bokeh session token embedded in a page must not carry cookies (INV-17), so the session cookie
never reaches page code through it. Instead ``IdentityHandler.process_request`` — which Bokeh and
Panel call for the page request *and again for the websocket handshake* — verifies our signed
session cookie and puts only the resulting claims (user, organisation, session ids) into the
signed token payload. A page then resumes the session from those claims against the database.
A token lifted from another page is re-processed on the handshake, so it proves nothing by itself.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import panel as pn
from bokeh.application.handlers.handler import Handler
from bokeh.document import Document

from app.authz import Principal
from app.context import AppContext
from app.security.tokens import read_signed_cookie

PAYLOAD_KEY = "sc_identity"


class IdentityHandler(Handler):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self._ctx = ctx

    def modify_document(self, doc: Document) -> None:
        """Identity adds nothing to the document."""

    def process_request(self, request: Any) -> dict[str, Any]:
        s = self._ctx.settings
        morsel = request.cookies.get(s.cookie_name)
        token = read_signed_cookie(
            s.cookie_name, morsel.value if morsel is not None else None, s.cookie_secrets, max_age_days=1
        )
        claims = self._ctx.auth.verified_claims(token)
        if claims is None:
            return {PAYLOAD_KEY: None}
        return {PAYLOAD_KEY: {"sub": str(claims.user_id), "org": str(claims.org_id), "sid": str(claims.session_id)}}


def session_identity() -> dict[str, str] | None:
    doc = pn.state.curdoc
    context = getattr(doc, "session_context", None) if doc is not None else None
    if context is None:
        return None
    value = context.token_payload.get(PAYLOAD_KEY)
    return value if isinstance(value, dict) else None


def current_principal(ctx: AppContext, *, touch: bool = False) -> Principal | None:
    """The live principal of the current Panel session, re-checked against the database."""
    return resume_identity(ctx, session_identity(), touch=touch)


def resume_identity(ctx: AppContext, identity: dict[str, str] | None, *, touch: bool = False) -> Principal | None:
    """The live principal for a session identity read earlier with ``session_identity()``.

    Split from ``current_principal`` so a callback can read the identity on the IOLoop (it lives
    in the session's document) and resume it against the database in a worker thread.
    """
    if identity is None:
        return None
    try:
        return ctx.auth.resume(
            org_id=UUID(identity["org"]), user_id=UUID(identity["sub"]), session_id=UUID(identity["sid"]), touch=touch
        )
    except (KeyError, ValueError):
        return None
