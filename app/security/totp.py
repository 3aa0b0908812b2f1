"""Time-based one-time codes (TOTP, RFC 6238: HMAC-SHA1, 6 digits, 30-second steps) through pyotp,
the format every authenticator app reads.

A code is accepted for the current step or one step either side (clock drift on the phone), and
``matched_step`` says which step it was, so the caller can refuse a step already used (replay).
"""

from __future__ import annotations

import hmac
import re
from datetime import datetime
from typing import Final

import pyotp
import segno

STEP_SECONDS: Final = 30
DIGITS: Final = 6
DRIFT_STEPS: Final = 1
ISSUER: Final = "SmartCoders"
_CODE: Final = re.compile(r"[0-9]{6}")


def new_secret() -> str:
    """A fresh random key (160 bits, base32), shown once to the user's authenticator app."""
    return pyotp.random_base32(32)


def normalise_code(raw: str) -> str:
    """What people type: "123 456", "123-456" → "123456"."""
    return re.sub(r"[\s-]", "", raw or "")


def matched_step(secret: str, raw_code: str, at: datetime) -> int | None:
    """The time step whose code ``raw_code`` is (now, or one step either side), else None."""
    code = normalise_code(raw_code)
    if not _CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    now_step = int(at.timestamp()) // STEP_SECONDS
    found = None
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        # Every candidate is compared (constant work), the latest match wins.
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            found = step
    return found


def code_at(secret: str, at: datetime) -> str:
    """The code for the step of ``at`` (tests, and nothing else: the server never shows codes)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).at(int(at.timestamp()))


def provisioning_uri(secret: str, *, account: str, organisation: str) -> str:
    """The ``otpauth://`` URI an authenticator app scans: issuer SmartCoders, the account's email."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=f"{ISSUER} ({organisation})"
    )


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code (no image request, nothing sent elsewhere)."""
    return str(segno.make(uri, error="m").svg_inline(scale=4, border=2))


def grouped(secret: str) -> str:
    """The key in groups of four, for typing it into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
