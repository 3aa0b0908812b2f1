"""Email senders behind one small Protocol, chosen once from the settings.

``EmailSender.send(message)`` delivers one message or raises one of:

SendError
├── TransientSendError   worth retrying later: SMTP 4xx, timeouts, refused or dropped connections,
│                        provider 429/5xx, and configuration faults (bad SMTP login, bad API key)
│                        that affect every message alike and are fixed by an operator, not by
│                        giving up on the message
└── PermanentSendError   retrying cannot help: SMTP 5xx for this message, a provider's 4xx
                         validation error, a header that cannot be encoded; dead-lettered at once

Implementations:

- ``SmtpSender``: smtplib with a socket timeout on every operation, STARTTLS or implicit TLS,
  one connection per message (a timed-out connection is never reused for the next one).
- ``ResendSender``: the Resend HTTP API, only when ``RESEND_API_KEY`` is set; the Message-ID is
  also the ``Idempotency-Key``, so a retry after an ambiguous failure is not sent twice.
- ``MailboxSender``: no provider configured (laptop, demo, tests): one ``.eml`` file per message
  under ``$SMARTCODERS_HOME/mailbox/``, written atomically and named after the Message-ID, so a
  retry rewrites the same file.

Every sender sets the queued Message-ID on the message, so every retry of one queued email
carries the same Message-ID and receivers can recognise a duplicate.
"""

from __future__ import annotations

import contextlib
import os
import re
import smtplib
import ssl
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import Final, Protocol
from urllib.parse import urlsplit

import orjson

from app.settings import Secret, Settings, SmtpTls

RESEND_API_URL: Final = "https://api.resend.com"
# SMTP replies in the 5xx range that mean "your credentials or TLS setup are wrong", not "this
# message is undeliverable": every message would fail alike, so they are retried, not parked.
_SMTP_CONFIG_CODES: Final = frozenset({530, 534, 535, 538})
_MAX_DETAIL: Final = 300


class SendError(Exception):
    """A message was not delivered. ``code`` is the SMTP or HTTP status when there was one."""

    def __init__(self, detail: str, *, code: int | None = None) -> None:
        super().__init__(detail[:_MAX_DETAIL])
        self.detail = detail[:_MAX_DETAIL]
        self.code = code


class TransientSendError(SendError):
    pass


class PermanentSendError(SendError):
    pass


@dataclass(frozen=True)
class OutgoingEmail:
    message_id: str
    to: str
    subject: str
    body_text: str

    def to_mime(self, from_address: str) -> EmailMessage:
        """The RFC 5322 message. Header values with CR/LF are refused by the email policy (H6)."""
        try:
            mime = EmailMessage()
            mime["From"] = from_address
            mime["To"] = self.to
            mime["Subject"] = self.subject
            mime["Message-ID"] = self.message_id
            mime["Date"] = formatdate(localtime=False, usegmt=True)
            # RFC 3834: an automatic message; well-behaved auto-responders stay quiet.
            mime["Auto-Submitted"] = "auto-generated"
            mime.set_content(self.body_text)
        except (ValueError, TypeError) as exc:
            raise PermanentSendError(f"message cannot be encoded: {type(exc).__name__}") from exc
        return mime


class EmailSender(Protocol):
    """Deliver one message or raise ``TransientSendError`` / ``PermanentSendError``."""

    name: str

    def send(self, message: OutgoingEmail) -> None: ...


def _address(value: str) -> str:
    return parseaddr(value)[1]


class SmtpSender:
    name = "smtp"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        from_address: str,
        timeout: float,
        tls: SmtpTls = SmtpTls.STARTTLS,
        username: str | None = None,
        password: Secret | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.from_address = from_address
        self.timeout = timeout
        self.tls = tls
        self.username = username
        self._password = password
        self._ssl_context = ssl_context

    def _context(self) -> ssl.SSLContext:
        return self._ssl_context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        if self.tls is SmtpTls.SSL:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._context())
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)

    def send(self, message: OutgoingEmail) -> None:
        mime = message.to_mime(self.from_address)
        try:
            client = self._connect()
        except (smtplib.SMTPException, OSError) as exc:
            raise _smtp_error(exc, "connect") from exc
        try:
            if self.tls is SmtpTls.STARTTLS:
                client.starttls(context=self._context())
            if self.username:
                client.login(self.username, self._password.get() if self._password else "")
            client.send_message(mime, from_addr=_address(self.from_address), to_addrs=[message.to])
        except (smtplib.SMTPException, OSError) as exc:
            raise _smtp_error(exc, "send") from exc
        else:
            # Delivered: a server that then stalls on QUIT must not turn this into a failure.
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()
        finally:
            # Never QUIT after an error: on a hung server QUIT would wait out a second timeout.
            client.close()


def _smtp_error(exc: BaseException, stage: str) -> SendError:
    """Classify an smtplib failure: 5xx for this message is permanent, everything else transient."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        code = codes[0] if codes else None
        detail = f"SMTP {code} recipient refused"
        if codes and all(500 <= c < 600 for c in codes):
            return PermanentSendError(detail, code=code)
        return TransientSendError(detail, code=code)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _smtp_reply_error(exc)
    # smtplib reports a read that timed out as SMTPServerDisconnected, raised from the TimeoutError.
    if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
        return TransientSendError(f"SMTP {stage} timed out")
    return TransientSendError(f"SMTP {stage} failed: {type(exc).__name__}: {exc}")


def _smtp_reply_error(exc: smtplib.SMTPResponseException) -> SendError:
    code = int(exc.smtp_code)
    reply = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    detail = f"SMTP {code} {reply}"
    config_fault = isinstance(exc, smtplib.SMTPAuthenticationError) or code in _SMTP_CONFIG_CODES
    if 500 <= code < 600 and not config_fault:
        return PermanentSendError(detail, code=code)
    return TransientSendError(detail, code=code)


class ResendSender:
    name = "resend"

    def __init__(self, *, api_key: Secret, from_address: str, timeout: float, base_url: str = RESEND_API_URL) -> None:
        if urlsplit(base_url).scheme not in {"https", "http"}:
            raise ValueError("the Resend API URL must be http(s)")
        self._api_key = api_key
        self.from_address = from_address
        self.timeout = timeout
        self.url = base_url.rstrip("/") + "/emails"

    def send(self, message: OutgoingEmail) -> None:
        message.to_mime(self.from_address)  # the same header checks as every other sender (H6)
        body = orjson.dumps(
            {
                "from": self.from_address,
                "to": [message.to],
                "subject": message.subject,
                "text": message.body_text,
                "headers": {"Message-ID": message.message_id},
            }
        )
        request = urllib.request.Request(  # noqa: S310 - the URL's scheme is checked in __init__
            self.url,
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {self._api_key.get()}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                # Resend sends a request with a key it has seen in the last 24 h only once.
                "Idempotency-Key": message.message_id,
                "User-Agent": "smartcoders",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - checked scheme
                response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                detail = exc.read(_MAX_DETAIL).decode("utf-8", "replace")
            raise _resend_error(exc.code, detail) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise TransientSendError(f"Resend API unreachable: {type(exc).__name__}") from exc


def _resend_error(status: int, detail: str) -> SendError:
    text = f"Resend HTTP {status} {detail}"
    # 401/403: a missing or wrong key or an unverified domain: an operator fixes it, then the
    # queue drains. 409: a concurrent request with the same idempotency key. 429 and 5xx: later.
    if status in {401, 403, 408, 409, 429} or status >= 500:
        return TransientSendError(text, code=status)
    return PermanentSendError(text, code=status)


_UNSAFE_FILE_CHARS: Final = re.compile(r"[^A-Za-z0-9@._-]")


class MailboxSender:
    name = "mailbox"

    def __init__(self, folder: Path, *, from_address: str) -> None:
        self.folder = folder
        self.from_address = from_address

    def path_for(self, message_id: str) -> Path:
        return self.folder / (_UNSAFE_FILE_CHARS.sub("_", message_id.strip("<>")) + ".eml")

    def send(self, message: OutgoingEmail) -> None:
        # RFC 5322 with local line endings: the file is for people and local mail tools to read.
        data = message.to_mime(self.from_address).as_bytes()
        target = self.path_for(message.message_id)
        tmp: str | None = None
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            # mkstemp creates the file 0600: messages carry invitation links.
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            # Readers see the old file or the whole new one, never a partial message.
            Path(tmp).replace(target)
            tmp = None
        except OSError as exc:
            raise TransientSendError(f"mailbox write failed: {type(exc).__name__}") from exc
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    Path(tmp).unlink()


def make_sender(settings: Settings) -> EmailSender:
    """Resend when ``RESEND_API_KEY`` is set, else SMTP when ``SMTP_HOST`` is set, else the mailbox."""
    if settings.resend_api_key:
        return ResendSender(
            api_key=settings.resend_api_key, from_address=settings.email_from, timeout=settings.smtp_timeout_seconds
        )
    if settings.smtp_host:
        return SmtpSender(
            host=settings.smtp_host,
            port=settings.smtp_port,
            from_address=settings.email_from,
            timeout=settings.smtp_timeout_seconds,
            tls=settings.smtp_tls,
            username=settings.smtp_user,
            password=settings.smtp_password,
        )
    return MailboxSender(settings.smartcoders_home / "mailbox", from_address=settings.email_from)
