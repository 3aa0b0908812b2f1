"""Standard Webhooks signatures (https://www.standardwebhooks.com), with one key per organisation.

A delivery carries three headers::

    webhook-id:        msg_2KWPBgLlAfxdpx2AI54pPJ85f4W      (the event id; retries reuse it)
    webhook-timestamp: 1735689600                           (integer seconds since the epoch)
    webhook-signature: v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= [v1,… more, space-separated]

and ``v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{raw body}"))>`` is the signature. The raw
body is signed byte for byte: nothing is re-serialised, so a flipped byte or reordered JSON keys
no longer verify (SECURITY.md E4).

**Which organisation.** Each organisation has its own signing key, *derived* from the server
secret and the organisation's slug (``org_secret``): ``HMAC-SHA256(WEBHOOK_SIGNING_SECRET,
"smartcoders-webhook-v1\\x00" + slug)``, handed to the sender as a Standard Webhooks
``whsec_<base64>`` secret. The slug travels in the URL (``/webhooks/synthea/<slug>``) and only
chooses which key to verify with; a signature made with organisation A's key never verifies for
B, so the organisation is authenticated by the signature. Deriving the key needs no database
read, so verification runs before any (INV-6), and one organisation's key reveals nothing about
another's or about the server secret.

**Rotation.** While ``WEBHOOK_SIGNING_SECRET_PREVIOUS`` is set, keys derived from it verify too
(senders switch at their own pace, or sign with both during the overlap); unset it to retire them.

Every check fails with ``SignatureInvalid`` carrying a short reason for the server log; callers
answer every failure the same way (401) so the response is no oracle.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from typing import Final

SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - the Standard Webhooks secret format marker, not a secret
SIGNATURE_VERSION: Final = "v1"
_KDF_LABEL: Final = b"smartcoders-webhook-v1\x00"
# Event ids are opaque to us, but must not contain the "." that separates the signed fields, so
# (id, timestamp, body) can never be re-split into a different triple with the same signature.
_ID: Final = re.compile(r"[A-Za-z0-9_:\-]{1,128}")
_TIMESTAMP: Final = re.compile(r"[0-9]{1,15}")
DEFAULT_TOLERANCE_SECONDS: Final = 300


class SignatureInvalid(Exception):
    """The delivery is not authentic or not fresh; ``reason`` is for the log, never the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def org_secret(server_secret: str, org_slug: str) -> str:
    """The organisation's signing secret, ``whsec_<base64 key>``, derived from the server secret."""
    key = hmac.new(server_secret.encode(), _KDF_LABEL + org_slug.encode(), hashlib.sha256).digest()
    return SECRET_PREFIX + base64.b64encode(key).decode()


def _key(secret: str) -> bytes:
    """A ``whsec_`` secret is base64 key bytes (as in every Standard Webhooks library)."""
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    return secret.encode()


def _digest(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def sign(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The ``webhook-signature`` header value for one delivery (``v1,<base64>``).

    >>> sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='
    """
    return f"{SIGNATURE_VERSION},{_digest(_key(secret), msg_id, str(timestamp), body)}"


def verify(
    secrets: Sequence[str],
    *,
    msg_id: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Accept the delivery or raise ``SignatureInvalid``. Pure: no I/O, nothing parsed but headers.

    ``secrets`` are every secret currently accepted (current first, then previous). Each ``v1``
    signature in the header is compared with each expected one in constant time
    (``hmac.compare_digest``), all of them, so the time taken does not depend on which matched.
    The timestamp must lie within ``tolerance_seconds`` of ``now`` in either direction.
    """
    if not secrets:
        raise SignatureInvalid("no signing secret configured")
    if msg_id is None or not _ID.fullmatch(msg_id):
        raise SignatureInvalid("missing or malformed webhook-id")
    if timestamp is None or not _TIMESTAMP.fullmatch(timestamp):
        raise SignatureInvalid("missing or malformed webhook-timestamp")
    if int(timestamp) < now - tolerance_seconds:
        raise SignatureInvalid("webhook-timestamp too old")
    if int(timestamp) > now + tolerance_seconds:
        raise SignatureInvalid("webhook-timestamp too new")
    if not signature:
        raise SignatureInvalid("missing webhook-signature")
    expected = [_digest(_key(secret), msg_id, timestamp, body).encode() for secret in secrets]
    matched = False
    for candidate in signature.split(" "):
        version, _, value = candidate.partition(",")
        if version != SIGNATURE_VERSION:
            continue  # other schemes (e.g. v1a, asymmetric) are not ours to check
        presented = value.encode("utf-8", "replace")
        for wanted in expected:
            matched |= hmac.compare_digest(presented, wanted)
    if not matched:
        raise SignatureInvalid("no matching signature")
