"""The email drain and its senders (SECURITY F6, F7; F5 for email) against real servers.

SMTP is a real ``aiosmtpd`` server on loopback whose replies each test scripts per message. The
Resend sender talks to a local HTTP server that checks the exact request (the only fake, and only
of Resend's HTTP API). The mailbox sender writes real files. The queue is the suite's real
PostgreSQL; the drain's clock is injected, so back-off is stepped through without sleeping.

Proved here:

- F6: 4xx k times then accepted: each retry waits within the full-jitter bound
  ``[0, min(cap, base * 2**n)]`` (never above the cap), carries the same Message-ID, and exactly
  one message is delivered; always 4xx: dead-lettered after ``max_attempts`` with the last error
  and never sent again; 5xx: dead-lettered after one attempt, no retry.
- F7: a hung SMTP server costs one socket timeout, counts as a transient failure, and the other
  messages of the batch are still sent.
- Two drains at once never send the same row (SKIP LOCKED + lease); a drain short of lease time
  gives the rest of its batch back unsent and uncounted.
"""

from __future__ import annotations

import asyncio
import email
import json
import smtplib
import socket
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from app import bootstrap
from app.jobs import backoff
from app.jobs.emails import DrainPolicy, drain
from app.services import emails as email_service
from app.services.mailer import (
    MailboxSender,
    OutgoingEmail,
    PermanentSendError,
    ResendSender,
    SmtpSender,
    TransientSendError,
    _smtp_error,
    make_sender,
)
from app.settings import Secret, SmtpTls, load_settings
from datalayer.queries import emails
from datalayer.scope import org_scope
from tests.conftest import make_org

FROM = "SmartCoders <no-reply@smartcoders.test>"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- a scripted SMTP server ---------------------------------------------------------------------


@dataclass
class Delivery:
    message_id: str
    to: list[str]
    message: Message
    reply: str


@dataclass
class ScriptedSmtp:
    """aiosmtpd handler: ``script(message_id, nth_attempt, rcpt)`` returns the DATA reply."""

    port: int
    script: Callable[[str, int, list[str]], str] = lambda _mid, _n, _rcpt: "250 2.0.0 OK"
    hang_for: set[str] = field(default_factory=set)  # recipients whose DATA never gets a reply
    attempts: list[Delivery] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def accepted(self) -> list[Delivery]:
        return [d for d in self.attempts if d.reply.startswith("250")]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook name
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        message_id = str(message["Message-ID"])
        if set(envelope.rcpt_tos) & self.hang_for:
            while not self.release.is_set():  # a hung server: never answers while the test runs
                await asyncio.sleep(0.05)
            return "451 4.3.0 gave up"
        nth = sum(1 for d in self.attempts if d.message_id == message_id)
        reply = self.script(message_id, nth, list(envelope.rcpt_tos))
        self.attempts.append(Delivery(message_id, list(envelope.rcpt_tos), message, reply))
        return reply


@pytest.fixture
def smtp() -> Iterator[ScriptedSmtp]:
    handler = ScriptedSmtp(port=_free_port())
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port)
    controller.start()
    yield handler
    handler.release.set()
    controller.stop()


def _smtp_sender(server: ScriptedSmtp, *, timeout: float = 5.0) -> SmtpSender:
    return SmtpSender(host="127.0.0.1", port=server.port, from_address=FROM, timeout=timeout, tls=SmtpTls.NONE)


# --- queue helpers -------------------------------------------------------------------------------


class Clock:
    """The drain's injected clock."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)  # after the rows' enqueue time

    def __call__(self) -> datetime:
        return self.now


class RecordingRandom:
    """``random.Random`` that records the bounds it was asked for."""

    def __init__(self, pick: Callable[[float, float], float]) -> None:
        self.calls: list[tuple[float, float]] = []
        self._pick = pick

    def uniform(self, a: float, b: float) -> float:
        self.calls.append((a, b))
        return self._pick(a, b)


def _queue(org_id: uuid.UUID, to: str = "coder@example.test", subject: str = "Welcome") -> str:
    with org_scope(org_id) as scope:
        return email_service.enqueue(scope, to=to, subject=subject, body="Hello there.\n", template="test")


def _status(org_id: uuid.UUID, message_id: str) -> dict[str, Any]:
    with org_scope(org_id) as scope:
        return emails.status(scope, message_id)


def _policy(**overrides: Any) -> DrainPolicy:
    values: dict[str, Any] = {
        "batch_size": 10,
        "lease_seconds": 300,
        "max_attempts": 6,
        "backoff_base_seconds": 10.0,
        "backoff_cap_seconds": 25.0,
        "send_timeout_seconds": 5.0,
    }
    values.update(overrides)
    return DrainPolicy(**values)


# --- F6 -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_f6_transient_failures_back_off_with_full_jitter_then_one_delivery(
    runtime: bootstrap.Runtime, smtp: ScriptedSmtp
) -> None:
    """451 three times, then 250. Each failure n (0-based) schedules the next try at
    ``uniform(0, min(cap, base * 2**n))`` — bounds 10, 20, then 25 (the cap, not 40) — and a
    drain before that moment sends nothing. The jitter draws are real random numbers."""
    failures = 3
    smtp.script = lambda _mid, nth, _rcpt: "451 4.3.0 Try again later" if nth < failures else "250 2.0.0 OK"
    org_id = make_org()
    message_id = _queue(org_id)
    clock, rng = Clock(), RecordingRandom(backoff.default_rng().uniform)
    policy = _policy()

    for n in range(failures):
        failed_at = clock.now
        result = drain(policy, _smtp_sender(smtp), clock=clock, rng=rng, only_orgs={org_id})
        assert (result.sent, result.retried) == (0, 1)
        row = _status(org_id, message_id)
        bound = min(policy.backoff_cap_seconds, policy.backoff_base_seconds * 2**n)
        assert rng.calls[n] == (0.0, bound)
        delay = (row["next_attempt_at"] - failed_at).total_seconds()
        assert 0 <= delay <= bound <= policy.backoff_cap_seconds
        assert row["attempts"] == n + 1
        assert row["last_error"].startswith("SMTP 451")
        assert row["dead_lettered_at"] is None
        clock.now = row["next_attempt_at"] - timedelta(milliseconds=1)
        idle = drain(policy, _smtp_sender(smtp), clock=clock, rng=rng, only_orgs={org_id})
        assert idle.as_dict() == {"sent": 0, "retried": 0, "dead_lettered": 0, "released": 0}, "retried too early"
        clock.now = row["next_attempt_at"]

    assert drain(policy, _smtp_sender(smtp), clock=clock, rng=rng, only_orgs={org_id}).sent == 1
    clock.now += timedelta(days=1)
    assert drain(policy, _smtp_sender(smtp), clock=clock, rng=rng, only_orgs={org_id}).sent == 0
    assert [d.message_id for d in smtp.attempts] == [message_id] * (failures + 1), "same Message-ID on every retry"
    assert len(smtp.accepted()) == 1, "exactly one delivered message"
    row = _status(org_id, message_id)
    assert row["sent_at"] == clock.now - timedelta(days=1)
    assert row["attempts"] == failures + 1
    assert row["last_error"] is None


def test_f6_delay_never_exceeds_the_cap_at_any_attempt() -> None:
    """The largest possible draw at every attempt up to far past the cap (and past float range
    without the exponent clamp) stays within ``[0, cap]``."""
    highest = RecordingRandom(lambda _a, b: b)
    for attempt in range(0, 2000):
        delay = backoff.full_jitter(attempt, base=30.0, cap=3600.0, rng=highest)
        assert 0 <= delay <= min(3600.0, 30.0 * 2 ** min(attempt, 60))
    assert highest.calls[0] == (0.0, 30.0)
    assert highest.calls[-1] == (0.0, 3600.0)


@pytest.mark.slow
def test_f6_always_transient_is_dead_lettered_after_max_attempts(
    runtime: bootstrap.Runtime, smtp: ScriptedSmtp
) -> None:
    smtp.script = lambda _mid, _n, _rcpt: "421 4.7.0 Try again later"
    org_id = make_org()
    message_id = _queue(org_id)
    clock, policy = Clock(), _policy(max_attempts=3)
    outcomes = []
    for _ in range(5):
        outcomes.append(drain(policy, _smtp_sender(smtp), clock=clock, only_orgs={org_id}).as_dict())
        clock.now += timedelta(hours=1)
    assert [(o["retried"], o["dead_lettered"]) for o in outcomes] == [(1, 0), (1, 0), (0, 1), (0, 0), (0, 0)]
    assert len(smtp.attempts) == 3, "no send after the dead-letter"
    row = _status(org_id, message_id)
    assert row["attempts"] == 3
    assert row["dead_lettered_at"] is not None
    assert row["sent_at"] is None
    assert row["last_error"].startswith("SMTP 421")


def test_f6_permanent_failure_is_dead_lettered_without_retry(runtime: bootstrap.Runtime, smtp: ScriptedSmtp) -> None:
    smtp.script = lambda _mid, _n, _rcpt: "550 5.1.1 Mailbox unavailable"
    org_id = make_org()
    message_id = _queue(org_id)
    clock = Clock()
    first = drain(_policy(), _smtp_sender(smtp), clock=clock, only_orgs={org_id})
    assert (first.dead_lettered, first.retried) == (1, 0)
    clock.now += timedelta(days=1)
    assert drain(_policy(), _smtp_sender(smtp), clock=clock, only_orgs={org_id}).as_dict()["dead_lettered"] == 0
    assert len(smtp.attempts) == 1
    row = _status(org_id, message_id)
    assert (row["attempts"], row["sent_at"]) == (1, None)
    assert row["dead_lettered_at"] is not None
    assert row["last_error"] == "SMTP 550 5.1.1 Mailbox unavailable"


# --- F7 -------------------------------------------------------------------------------------------


class TimedSender:
    def __init__(self, inner: SmtpSender) -> None:
        self.inner = inner
        self.name = inner.name
        self.seconds: dict[str, float] = {}

    def send(self, message: OutgoingEmail) -> None:
        started = time.monotonic()
        try:
            self.inner.send(message)
        finally:
            self.seconds[message.to] = time.monotonic() - started


@pytest.mark.slow
def test_f7_hung_smtp_server_times_out_as_transient_and_others_are_sent(
    runtime: bootstrap.Runtime, smtp: ScriptedSmtp
) -> None:
    """The server never answers DATA for one recipient (it would hold the connection for the
    whole test). With a 0.5 s socket timeout that send fails on its own, is retried later, and the
    two messages queued after it in the same batch are delivered in the same run."""
    timeout = 0.5
    smtp.hang_for = {"hang@example.test"}
    org_id = make_org()
    hung = _queue(org_id, to="hang@example.test")
    others = [_queue(org_id, to=f"ok{i}@example.test") for i in range(2)]
    sender = TimedSender(_smtp_sender(smtp, timeout=timeout))
    result = drain(_policy(send_timeout_seconds=timeout), sender, clock=Clock(), only_orgs={org_id})

    hung_seconds = sender.seconds["hang@example.test"]
    assert (result.sent, result.retried, result.dead_lettered) == (2, 1, 0)
    assert hung_seconds >= timeout, "the send waited for the server"
    assert hung_seconds < 10 * timeout, f"the hung send took {hung_seconds:.2f}s: the socket timeout did not fire"
    row = _status(org_id, hung)
    assert row["last_error"] == "SMTP send timed out"
    assert (row["attempts"], row["dead_lettered_at"], row["sent_at"]) == (1, None, None)
    assert {d.message_id for d in smtp.accepted()} == set(others)


def test_smtp_connection_refused_is_transient() -> None:
    sender = SmtpSender(host="127.0.0.1", port=_free_port(), from_address=FROM, timeout=1, tls=SmtpTls.NONE)
    with pytest.raises(TransientSendError, match="connect failed: ConnectionRefusedError"):
        sender.send(OutgoingEmail("<x@smartcoders>", "a@example.test", "Hi", "Body"))


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (smtplib.SMTPDataError(552, b"5.3.4 Message too big"), PermanentSendError),
        (smtplib.SMTPDataError(451, b"4.3.0 Try later"), TransientSendError),
        (smtplib.SMTPSenderRefused(553, b"5.7.1 Sender rejected", "no-reply@x"), PermanentSendError),
        (smtplib.SMTPRecipientsRefused({"a@x": (550, b"5.1.1 unknown")}), PermanentSendError),
        (smtplib.SMTPRecipientsRefused({"a@x": (450, b"4.2.0 greylisted")}), TransientSendError),
        # A bad login or a missing STARTTLS is the operator's to fix; every message would fail alike.
        (smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials"), TransientSendError),
        (smtplib.SMTPResponseException(530, b"5.7.0 Must issue a STARTTLS command first"), TransientSendError),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), TransientSendError),
        (TimeoutError("timed out"), TransientSendError),
    ],
)
def test_smtp_failures_are_classified(exc: BaseException, kind: type) -> None:
    assert type(_smtp_error(exc, "send")) is kind


# --- two workers, leases --------------------------------------------------------------------------


@pytest.mark.slow
def test_two_drains_at_once_never_send_the_same_email(runtime: bootstrap.Runtime, smtp: ScriptedSmtp) -> None:
    org_id = make_org()
    queued = {_queue(org_id, to=f"user{i}@example.test") for i in range(30)}
    policy = _policy(batch_size=3)
    barrier = threading.Barrier(2)
    results: list[dict[str, int]] = []

    def worker() -> None:
        barrier.wait()
        results.append(drain(policy, _smtp_sender(smtp), clock=Clock(), only_orgs={org_id}).as_dict())

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(r["sent"] for r in results)[0] > 0, "both drains should have taken part"
    assert sum(r["sent"] for r in results) == 30
    delivered = [d.message_id for d in smtp.accepted()]
    assert sorted(delivered) == sorted(queued), "each queued email delivered exactly once"


def test_a_drain_short_of_lease_time_gives_the_rest_back(runtime: bootstrap.Runtime, smtp: ScriptedSmtp) -> None:
    """A 10 s socket timeout needs 40 s of lease per send; with a 30 s lease only the first message
    of a claimed batch may be sent, and the others are released unsent and uncounted."""
    org_id = make_org()
    queued = [_queue(org_id, to=f"user{i}@example.test") for i in range(3)]
    clock = Clock()
    result = drain(
        _policy(lease_seconds=30, send_timeout_seconds=10), _smtp_sender(smtp), clock=clock, only_orgs={org_id}
    )
    assert (result.sent, result.released) == (1, 2)
    rest = [_status(org_id, m) for m in queued[1:]]
    assert all(r["attempts"] == 0 and r["locked_until"] is None and r["sent_at"] is None for r in rest)
    assert drain(_policy(), _smtp_sender(smtp), clock=clock, only_orgs={org_id}).sent == 2


# --- mailbox --------------------------------------------------------------------------------------


def test_mailbox_sender_writes_one_file_per_message_atomically(runtime: bootstrap.Runtime, tmp_path: Path) -> None:
    org_id = make_org()
    message_id = _queue(org_id, to="manager@example.test", subject="You are invited")
    sender = MailboxSender(tmp_path / "mailbox", from_address=FROM)
    assert drain(_policy(), sender, clock=Clock(), only_orgs={org_id}).sent == 1
    sender.send(OutgoingEmail(message_id, "manager@example.test", "You are invited", "Hello there.\n"))  # a retry

    (path,) = (tmp_path / "mailbox").iterdir()  # no temporary file left, one file per Message-ID
    assert path == sender.path_for(message_id)
    assert path.suffix == ".eml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    parsed = email.message_from_bytes(path.read_bytes(), policy=default_policy)
    assert parsed["Message-ID"] == message_id
    assert parsed["To"] == "manager@example.test"
    assert parsed["From"] == FROM
    assert parsed["Subject"] == "You are invited"
    body = parsed.get_body()
    assert body is not None
    assert body.get_content() == "Hello there.\n"


def test_header_injection_is_refused_as_permanent(tmp_path: Path) -> None:
    sender = MailboxSender(tmp_path, from_address=FROM)
    with pytest.raises(PermanentSendError):
        sender.send(OutgoingEmail("<x@smartcoders>", "a@example.test", "Hi\r\nBcc: evil@example.test", "Body"))
    assert list(tmp_path.iterdir()) == []


# --- Resend -------------------------------------------------------------------------------------


@dataclass
class FakeResend:
    """A local stand-in for Resend's HTTP API that records each request and answers as scripted."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    replies: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


@pytest.fixture
def resend_api() -> Iterator[FakeResend]:
    fake = FakeResend(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            fake.requests.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
            status, reply = fake.replies.pop(0) if fake.replies else (200, {"id": str(uuid.uuid4())})
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(5)


API_KEY = "re_test_0123456789abcdef"


def test_resend_sender_sends_the_exact_request(runtime: bootstrap.Runtime, resend_api: FakeResend) -> None:
    org_id = make_org()
    message_id = _queue(org_id, to="supervisor@example.test", subject="Chart returned")
    sender = ResendSender(api_key=Secret(API_KEY), from_address=FROM, timeout=5, base_url=resend_api.url)
    assert drain(_policy(), sender, clock=Clock(), only_orgs={org_id}).sent == 1

    (request,) = resend_api.requests
    assert request["path"] == "/emails"
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["authorization"] == f"Bearer {API_KEY}"
    assert headers["content-type"] == "application/json"
    assert headers["idempotency-key"] == message_id
    assert request["json"] == {
        "from": FROM,
        "to": ["supervisor@example.test"],
        "subject": "Chart returned",
        "text": "Hello there.\n",
        "headers": {"Message-ID": message_id},
    }


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (422, PermanentSendError),
        (400, PermanentSendError),
        (429, TransientSendError),
        (500, TransientSendError),
        (503, TransientSendError),
        (401, TransientSendError),  # a wrong key is fixed by the operator; the queue then drains
    ],
)
def test_resend_failures_are_classified(resend_api: FakeResend, status: int, kind: type) -> None:
    resend_api.replies.append((status, {"name": "error", "message": "scripted"}))
    sender = ResendSender(api_key=Secret(API_KEY), from_address=FROM, timeout=5, base_url=resend_api.url)
    with pytest.raises(kind) as caught:
        sender.send(OutgoingEmail("<x@smartcoders>", "a@example.test", "Hi", "Body"))
    assert caught.value.code == status
    assert API_KEY not in str(caught.value)


def test_resend_unreachable_is_transient() -> None:
    sender = ResendSender(
        api_key=Secret(API_KEY), from_address=FROM, timeout=1, base_url=f"http://127.0.0.1:{_free_port()}"
    )
    with pytest.raises(TransientSendError, match="unreachable"):
        sender.send(OutgoingEmail("<x@smartcoders>", "a@example.test", "Hi", "Body"))


# --- choosing the sender --------------------------------------------------------------------------


def test_sender_is_resend_then_smtp_then_mailbox(tmp_path: Path) -> None:
    base = {"SMARTCODERS_HOME": str(tmp_path)}
    mailbox = make_sender(load_settings(base, env_file=None))
    assert isinstance(mailbox, MailboxSender)
    assert mailbox.folder == tmp_path.resolve() / "mailbox"
    smtp_settings = load_settings({**base, "SMTP_HOST": "mail.example.test", "SMTP_PORT": "2525"}, env_file=None)
    smtp_sender = make_sender(smtp_settings)
    assert isinstance(smtp_sender, SmtpSender)
    assert (smtp_sender.host, smtp_sender.port, smtp_sender.tls) == ("mail.example.test", 2525, SmtpTls.STARTTLS)
    both = load_settings({**base, "SMTP_HOST": "mail.example.test", "RESEND_API_KEY": API_KEY}, env_file=None)
    assert isinstance(make_sender(both), ResendSender)
    assert API_KEY not in repr(both)
