"""Inbound webhooks: ``POST /webhooks/synthea/<org slug>`` takes one signed Synthea FHIR bundle.

Machine-to-machine, so no session and no cookie CSRF: the caller is authenticated by a
Standard Webhooks HMAC-SHA256 signature over ``{webhook-id}.{webhook-timestamp}.{raw body}``
with the organisation's own key (``app/security/webhook_signing.py`` explains the scheme, the
per-organisation key derivation and rotation). The order is the point (INV-6):

1. ``prepare`` (headers only, before any body byte is read): cap the body at
   ``WEBHOOK_MAX_BODY_BYTES`` (a larger ``Content-Length`` → 413 at once; a chunked body that
   grows past it → Tornado closes the connection with a bare 400) and give it
   ``WEBHOOK_BODY_TIMEOUT_SECONDS`` to arrive (a trickle is cut off, no response);
2. ``post``: verify id, timestamp (± ``WEBHOOK_TOLERANCE_SECONDS``) and signature in constant
   time — any failure is the same 401, before the body is parsed and before any SQL runs;
3. only then the effect, off the event loop: dedupe and import in one transaction
   (``app.services.webhooks``). A duplicate delivery answers 200 ``duplicate``.

``BaseHandler.prepare`` is deliberately not called: it reads the session cookie (a database
read, before the signature is checked) and enforces cookie CSRF, neither of which applies here.
"""

from __future__ import annotations

import contextvars
import re
import time
from contextlib import AbstractContextManager
from typing import Final

from tornado.http1connection import HTTP1Connection
from tornado.ioloop import IOLoop
from tornado.web import stream_request_body

from app.errors import NotAuthenticated, PayloadTooLarge, UnsupportedMediaType
from app.http.base import PUBLIC, JsonHandler
from app.logs import bind_context, get_logger
from app.security.webhook_signing import SignatureInvalid, org_secret, verify
from app.services import webhooks as webhook_actions
from app.settings import Settings

log = get_logger(__name__)

SIGNATURE_FAILED: Final = "The webhook signature could not be verified."
_SLUG: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")  # organizations_slug_ck
_JSON_TYPES: Final = frozenset({"application/json", "application/fhir+json"})


def accepted_secrets(settings: Settings, org_slug: str) -> list[str]:
    """The organisation's signing secrets accepted now: from the current and, while set, previous server secret."""
    servers = [settings.webhook_signing_secret, settings.webhook_signing_secret_previous]
    return [org_secret(server.get(), org_slug) for server in servers if server]


@stream_request_body
class SyntheaWebhookHandler(JsonHandler):
    # PUBLIC at the session layer: a sending system has no user, role or cookie. It is
    # authenticated instead by the HMAC signature made with its organisation's key, checked in
    # post() before anything else; without a valid one every request ends in 401.
    permission = PUBLIC

    _body: bytearray

    # The log context is bound per phase, never across phases as BaseHandler does: a body that
    # never completes ends in on_connection_close, in another asyncio context, where a binding
    # left open by prepare() could not be undone.
    def _logging(self, **extra: str) -> AbstractContextManager[None]:
        return bind_context(request_id=self.request_id, path=self.request.path, **extra)

    def prepare(self) -> None:
        """Headers only: no body byte has been read yet, nothing is verified, nothing queried."""
        self.set_header("X-Request-Id", self.request_id)
        self._body = bytearray()
        limit = self.ctx.settings.webhook_max_body_bytes
        connection = self.request.connection
        if isinstance(connection, HTTP1Connection):
            connection.set_max_body_size(limit)
            connection.set_body_timeout(self.ctx.settings.webhook_body_timeout_seconds)
        declared = self.request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            with self._logging():
                log.warning("webhook_body_too_large", declared=int(declared), limit=limit)
            raise PayloadTooLarge(f"A webhook body may be at most {limit} bytes.")

    def data_received(self, chunk: bytes) -> None:
        self._body += chunk

    async def post(self, org_slug: str | None = None) -> None:
        body = bytes(self._body)
        self._body.clear()  # one copy of the body in memory, not two
        with self._logging():
            org_slug, msg_id = self._verify(org_slug, body)
        ctype = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype not in _JSON_TYPES:
            raise UnsupportedMediaType()
        with self._logging(webhook_id=msg_id, org_slug=org_slug):
            # The import can take a second: off the event loop, with this request's log context.
            run = contextvars.copy_context().run
            delivery = await IOLoop.current().run_in_executor(
                self.ctx.executor,
                lambda: run(webhook_actions.receive_synthea_bundle, org_slug=org_slug, event_id=msg_id, body=body),
            )
        self.write_json(
            {
                "status": delivery.status,
                "event_id": delivery.event_id,
                "charts_created": delivery.charts_created,
                "charts_skipped": delivery.charts_skipped,
                "encounters": delivery.encounters,
            }
        )

    def on_finish(self) -> None:
        with self._logging():
            super().on_finish()

    def on_connection_close(self) -> None:
        """The sender hung up, or Tornado cut a body off (too large, too slow); nothing was done."""
        with self._logging():
            log.info("webhook_connection_closed", received=len(self._body) if hasattr(self, "_body") else 0)
        super().on_connection_close()

    def _verify(self, org_slug: str | None, body: bytes) -> tuple[str, str]:
        """INV-6: nothing but headers, settings and the raw body; every failure is the same 401.

        Returns the organisation slug and event id the signature vouches for.
        """
        msg_id = self.request.headers.get("webhook-id")
        try:
            if org_slug is None or not _SLUG.fullmatch(org_slug):
                raise SignatureInvalid("no organisation slug in the path")
            if msg_id is None:
                raise SignatureInvalid("missing webhook-id")
            verify(
                accepted_secrets(self.ctx.settings, org_slug),
                msg_id=msg_id,
                timestamp=self.request.headers.get("webhook-timestamp"),
                signature=self.request.headers.get("webhook-signature"),
                body=body,
                now=time.time(),
                tolerance_seconds=self.ctx.settings.webhook_tolerance_seconds,
            )
        except SignatureInvalid as exc:
            log.warning("webhook_signature_invalid", reason=exc.reason)
            raise NotAuthenticated(SIGNATURE_FAILED) from None
        return org_slug, msg_id
