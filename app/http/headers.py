"""Security headers on every response — our handlers, Panel pages, Bokeh static files and errors —
added by one Tornado output transform (OWASP ASVS 14.4, SECURITY.md I2/I6)."""

from __future__ import annotations

from typing import Final

from tornado.httputil import HTTPHeaders, HTTPServerRequest
from tornado.web import OutputTransform

# Our own server-rendered pages: no inline script or style at all.
STRICT_CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'"
)
# Panel/Bokeh pages embed their document and bootstrap code inline and compile some model code at
# run time, so scripts and styles need 'unsafe-inline'/'unsafe-eval'; everything still loads from
# our own origin only, and framing, plugins and <base> are forbidden.
PANEL_CSP: Final = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self' {ws}; worker-src 'self' blob:; "
    "form-action 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'"
)


def make_transform(*, page_paths: frozenset[str], public_host: str, tls: bool) -> type[OutputTransform]:
    ws = f"{'wss' if tls else 'ws'}://{public_host}"
    panel_csp = PANEL_CSP.format(ws=ws)

    class SecurityHeaders(OutputTransform):
        def __init__(self, request: HTTPServerRequest) -> None:
            super().__init__(request)
            self.path = request.path

        def transform_first_chunk(
            self, status_code: int, headers: HTTPHeaders, chunk: bytes, finishing: bool
        ) -> tuple[int, HTTPHeaders, bytes]:
            if "Server" in headers:
                del headers["Server"]
            headers["X-Content-Type-Options"] = "nosniff"
            headers["Referrer-Policy"] = headers.get("Referrer-Policy", "same-origin")
            headers["X-Frame-Options"] = "DENY"
            headers["Cross-Origin-Opener-Policy"] = "same-origin"
            headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
            static = self.path.startswith(("/static/", "/assets/")) or self.path.endswith("favicon.ico")
            if not static:
                headers["Cache-Control"] = "no-store"
            page = self.path.rstrip("/") in page_paths or self.path.split("/ws")[0] in page_paths
            headers["Content-Security-Policy"] = panel_csp if page else STRICT_CSP
            if tls:
                headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
            return status_code, headers, chunk

    return SecurityHeaders
