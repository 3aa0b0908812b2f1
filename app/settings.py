"""One typed settings registry, read once at start-up.

Every setting is declared in ``SETTINGS`` with its type, default and help text. Values come
from the process environment, then from ``.env`` in the working directory, then from the
declared default; a required setting with no value is a start-up error. Secrets are wrapped in
``Secret`` so that ``repr``, ``str`` and log output show ``**********``.

In development, secrets that are not set are generated once and kept in
``$SMARTCODERS_HOME/dev-secrets.json`` (mode 0600) so sessions survive a restart. Production
(``SMARTCODERS_ENV=production``) refuses to start with a missing or weak secret, a plain-HTTP
``APP_URL``, embedded services, or a database reached over the network without verifying its
certificate.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from email.utils import parseaddr
from enum import StrEnum
from ipaddress import ip_address
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from dotenv import dotenv_values

from app.errors import ConfigError

MASK: Final = "**********"


class Secret:
    """A secret string that never shows its value in ``repr``/``str``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and secrets.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


@dataclass(frozen=True)
class RateLimit:
    """``N/SECONDS``: at most ``limit`` events per ``window`` seconds."""

    limit: int
    window: int

    @classmethod
    def parse(cls, raw: str) -> RateLimit:
        try:
            count, _, seconds = raw.partition("/")
            parsed = cls(int(count), int(seconds))
        except ValueError:
            raise ValueError(f"expected N/SECONDS, got {raw!r}") from None
        if parsed.limit < 1 or parsed.window < 1:
            raise ValueError(f"limit and window must be positive, got {raw!r}")
        return parsed

    def __str__(self) -> str:
        return f"{self.limit}/{self.window}"


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true/false, got {raw!r}")


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError(f"must be a positive integer, got {raw!r}")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError(f"must be a positive number, got {raw!r}")
    return value


def _secret(raw: str) -> Secret:
    return Secret(raw)


def _environment(raw: str) -> Environment:
    return Environment(raw.strip().lower())


def _url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError(f"expected an http(s) URL, got {raw!r}")
    return raw.rstrip("/")


def _log_format(raw: str) -> str:
    if raw not in {"json", "console"}:
        raise ValueError(f"expected json or console, got {raw!r}")
    return raw


class SmtpTls(StrEnum):
    """How the SMTP connection is protected: STARTTLS upgrade, implicit TLS, or none (local relays only)."""

    STARTTLS = "starttls"
    SSL = "ssl"
    NONE = "none"


def _smtp_tls(raw: str) -> SmtpTls:
    return SmtpTls(raw.strip().lower())


class PgSslMode(StrEnum):
    """libpq ``sslmode``: only the two ``verify-`` modes authenticate the server."""

    DISABLE = "disable"
    ALLOW = "allow"
    PREFER = "prefer"
    REQUIRE = "require"
    VERIFY_CA = "verify-ca"
    VERIFY_FULL = "verify-full"


def _pg_sslmode(raw: str) -> PgSslMode:
    return PgSslMode(raw.strip().lower())


def is_local_host(host: str) -> bool:
    """A Unix socket path, or a loopback name or address: traffic that never leaves the machine."""
    if host == "" or host.startswith("/") or host.lower() == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _without_port(host: str) -> str:
    if host.startswith("["):  # [IPv6]:port
        return host[1 : host.find("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def pg_hosts(url: str) -> list[str]:
    """Every host a libpq URL names: the authority's (comma-separated) and any ``host=`` parameter."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    hosts = [_without_port(h) for h in netloc.split(",")]
    for value in parse_qs(parts.query).get("host", []):
        hosts.extend(value.split(","))
    return [h for h in hosts if h] or [""]


def redis_is_plaintext_over_network(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "redis" and not is_local_host(parts.hostname or "")


def _email_from(raw: str) -> str:
    # One line, one address: the value becomes the From header of every message.
    _name, address = parseaddr(raw)
    if any(ch in raw for ch in "\r\n") or "@" not in address or "," in raw:
        raise ValueError(f"expected one address like 'SmartCoders <no-reply@example.org>', got {raw!r}")
    return raw.strip()


REQUIRED: Final = object()
GENERATED: Final = object()  # a secret generated in development, required in production


@dataclass(frozen=True)
class SettingSpec:
    name: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    secret: bool = False


# The registry. `.env.example` must list every name here (INV-9, checked by a test).
SETTINGS: Final[tuple[SettingSpec, ...]] = (
    SettingSpec(
        "SMARTCODERS_ENV",
        _environment,
        Environment.DEVELOPMENT,
        "development, test or production; production enforces strong secrets, HTTPS and external services",
    ),
    SettingSpec(
        "SMARTCODERS_HOME",
        Path,
        Path(".smartcoders"),
        "Folder for the embedded PostgreSQL and Redis data, dev secrets and the audit checkpoint",
    ),
    SettingSpec(
        "DATABASE_URL",
        _secret,
        None,
        "PostgreSQL URL the app connects with (a role that owns no table and cannot bypass RLS); unset = embedded PostgreSQL",
        secret=True,
    ),
    SettingSpec(
        "DATABASE_OWNER_URL",
        _secret,
        None,
        "PostgreSQL URL of the schema owner, used only by `smartcoders migrate`; unset = DATABASE_URL",
        secret=True,
    ),
    SettingSpec(
        "REDIS_URL",
        _secret,
        None,
        "Redis URL for rate limits, caches and live fan-out; unset = embedded Redis",
        secret=True,
    ),
    SettingSpec(
        "DATABASE_SSLMODE",
        _pg_sslmode,
        None,
        "libpq sslmode for both database URLs unless a URL sets its own; unset = verify-full in production for a "
        "server reached over the network, libpq's default otherwise",
    ),
    SettingSpec(
        "DATABASE_SSLROOTCERT",
        str,
        None,
        "CA certificate file that verifies the PostgreSQL server (libpq sslrootcert), or 'system'; "
        "unset = libpq's default ~/.postgresql/root.crt",
    ),
    SettingSpec(
        "REDIS_TLS_CA_CERT",
        str,
        None,
        "CA certificate file that verifies a rediss:// Redis server (hostname checked too); unset = the system store",
    ),
    SettingSpec(
        "APP_URL",
        _url,
        "http://localhost:5006",
        "Public base URL; decides the websocket origin allow-list and whether cookies are Secure/__Host-",
    ),
    SettingSpec("HOST", str, "127.0.0.1", "Interface the web server listens on"),
    SettingSpec("PORT", _positive_int, 5006, "Port the web server listens on"),
    SettingSpec(
        "USE_XHEADERS", _bool, False, "Trust X-Forwarded-For/X-Real-IP from the reverse proxy (set true behind nginx)"
    ),
    SettingSpec("JWT_SECRET", _secret, GENERATED, "HS256 key for session JWTs (>= 32 random characters)", secret=True),
    SettingSpec(
        "COOKIE_SECRET",
        _secret,
        GENERATED,
        "Key that signs cookies and CSRF tokens (>= 32 random characters)",
        secret=True,
    ),
    SettingSpec(
        "JWT_SECRET_PREVIOUS",
        _secret,
        None,
        "The previous JWT_SECRET, still accepted for sessions it signed while set (key rotation); unset it after SESSION_ABSOLUTE_HOURS",
        secret=True,
    ),
    SettingSpec(
        "COOKIE_SECRET_PREVIOUS",
        _secret,
        None,
        "The previous COOKIE_SECRET, still accepted for cookies and CSRF tokens it signed while set (key rotation); unset it after SESSION_ABSOLUTE_HOURS",
        secret=True,
    ),
    SettingSpec(
        "SESSION_SECRET",
        _secret,
        GENERATED,
        "Key that signs Bokeh session ids and tokens (>= 32 random characters)",
        secret=True,
    ),
    SettingSpec(
        "WEBHOOK_SIGNING_SECRET",
        _secret,
        GENERATED,
        "HMAC-SHA256 key for inbound webhooks (>= 32 random characters); each organisation's signing secret is derived from it",
        secret=True,
    ),
    SettingSpec(
        "WEBHOOK_SIGNING_SECRET_PREVIOUS",
        _secret,
        None,
        "The previous WEBHOOK_SIGNING_SECRET, still accepted while set (key rotation); unset it to retire the old keys",
        secret=True,
    ),
    SettingSpec(
        "WEBHOOK_TOLERANCE_SECONDS",
        _positive_int,
        300,
        "Replay window: a webhook's webhook-timestamp may differ from now by at most this many seconds, either way",
    ),
    SettingSpec(
        "WEBHOOK_MAX_BODY_BYTES",
        _positive_int,
        16 * 1024 * 1024,
        "Largest webhook body (one Synthea bundle); a larger declared length gets 413 before any of it is read",
    ),
    SettingSpec(
        "WEBHOOK_BODY_TIMEOUT_SECONDS",
        _positive_float,
        30.0,
        "A webhook body must arrive within this many seconds or the connection is closed (slow senders)",
    ),
    SettingSpec(
        "SESSION_COOKIE_NAME",
        str,
        "smartcoders_session",
        "Session cookie name; prefixed with __Host- when APP_URL is https",
    ),
    SettingSpec("SESSION_IDLE_MINUTES", _positive_int, 15, "Sign a session out after this many idle minutes"),
    SettingSpec(
        "SESSION_ABSOLUTE_HOURS", _positive_int, 12, "Sign a session out this many hours after login, active or not"
    ),
    SettingSpec(
        "SESSION_WATCHDOG_SECONDS",
        _positive_float,
        5.0,
        "How often an open page re-checks that its session is still valid",
    ),
    SettingSpec(
        "LOGIN_LIMIT_ACCOUNT",
        RateLimit.parse,
        RateLimit(100, 3600),
        "Login attempts per normalised email (existing or not), as N/SECONDS",
    ),
    SettingSpec(
        "LOGIN_LIMIT_ACCOUNT_IP",
        RateLimit.parse,
        RateLimit(10, 900),
        "Login attempts per email and client IP, as N/SECONDS",
    ),
    SettingSpec(
        "LOGIN_LIMIT_IP",
        RateLimit.parse,
        RateLimit(300, 900),
        "Login and registration attempts per client IP, as N/SECONDS",
    ),
    SettingSpec(
        "TWO_STEP_LIMIT",
        RateLimit.parse,
        RateLimit(5, 900),
        "One-time codes tried per account at the second sign-in step, as N/SECONDS",
    ),
    SettingSpec("PASSWORD_HASH_MEMORY_KIB", _positive_int, 65536, "argon2id memory cost in KiB (OWASP floor 19456)"),
    SettingSpec("PASSWORD_HASH_TIME_COST", _positive_int, 3, "argon2id iterations (OWASP floor 2)"),
    SettingSpec("PASSWORD_HASH_PARALLELISM", _positive_int, 4, "argon2id lanes"),
    SettingSpec(
        "PASSWORD_HASH_WORKERS",
        _positive_int,
        2,
        "Threads that verify passwords, off the event loop; bounds hashing CPU",
    ),
    SettingSpec("DB_POOL_SIZE", _positive_int, 10, "Connections kept in the pool per process"),
    SettingSpec("DB_POOL_TIMEOUT_SECONDS", _positive_float, 2.0, "Wait at most this long for a pooled connection"),
    SettingSpec("DB_STATEMENT_TIMEOUT_MS", _positive_int, 15000, "statement_timeout for app connections"),
    SettingSpec(
        "REDIS_TIMEOUT_SECONDS",
        _positive_float,
        0.25,
        "Socket and connect timeout of every Redis call (one retry at most)",
    ),
    SettingSpec("AUDIT_VERIFY_MINUTES", _positive_int, 15, "How often the worker re-verifies the audit hash chain"),
    SettingSpec("SCHEDULER_HEARTBEAT_SECONDS", _positive_int, 30, "How often the scheduler records its heartbeat"),
    SettingSpec("OUTBOX_RELAY_SECONDS", _positive_int, 1, "How often the worker publishes pending outbox events"),
    SettingSpec("OUTBOX_BATCH_SIZE", _positive_int, 100, "Outbox events one relay claims per organisation at a time"),
    SettingSpec(
        "OUTBOX_LEASE_SECONDS",
        _positive_int,
        30,
        "A claimed outbox batch is re-claimable after this many seconds if its relay died (keep above one batch's publish time)",
    ),
    SettingSpec(
        "OUTBOX_MAX_ATTEMPTS", _positive_int, 10, "Failed publishes after which an outbox event is dead-lettered"
    ),
    SettingSpec(
        "OUTBOX_BACKOFF_BASE_SECONDS",
        _positive_float,
        1.0,
        "Outbox retry delay: full jitter up to min(cap, base * 2**attempt) seconds",
    ),
    SettingSpec("OUTBOX_BACKOFF_CAP_SECONDS", _positive_float, 300.0, "Longest outbox retry delay, in seconds"),
    SettingSpec("EMAIL_DRAIN_SECONDS", _positive_int, 10, "How often the worker sends queued email"),
    SettingSpec("EMAIL_BATCH_SIZE", _positive_int, 20, "Queued emails one worker claims per organisation at a time"),
    SettingSpec(
        "EMAIL_LEASE_SECONDS",
        _positive_int,
        300,
        "A claimed email is re-claimable after this many seconds if its worker died (keep well above SMTP_TIMEOUT_SECONDS)",
    ),
    SettingSpec(
        "EMAIL_MAX_ATTEMPTS", _positive_int, 8, "Send attempts after which an email is dead-lettered (5xx: at once)"
    ),
    SettingSpec(
        "EMAIL_BACKOFF_BASE_SECONDS",
        _positive_float,
        30.0,
        "Email retry delay: full jitter up to min(cap, base * 2**attempt) seconds",
    ),
    SettingSpec("EMAIL_BACKOFF_CAP_SECONDS", _positive_float, 3600.0, "Longest email retry delay, in seconds"),
    SettingSpec(
        "EMAIL_FROM",
        _email_from,
        "SmartCoders <no-reply@localhost>",
        "From address of every email SmartCoders sends",
    ),
    SettingSpec(
        "RESEND_API_KEY",
        _secret,
        None,
        "Send email through the Resend HTTP API with this key; unset = SMTP when SMTP_HOST is set, else the local mailbox folder",
        secret=True,
    ),
    SettingSpec(
        "SMTP_HOST",
        str,
        None,
        "SMTP server for outgoing email; unset (and no RESEND_API_KEY) = files in $SMARTCODERS_HOME/mailbox",
    ),
    SettingSpec("SMTP_PORT", _positive_int, 587, "SMTP server port"),
    SettingSpec("SMTP_USER", str, None, "SMTP user name; unset = no authentication"),
    SettingSpec("SMTP_PASSWORD", _secret, None, "SMTP password", secret=True),
    SettingSpec(
        "SMTP_TLS",
        _smtp_tls,
        SmtpTls.STARTTLS,
        "starttls, ssl (implicit TLS, port 465) or none (a local relay only; refused in production)",
    ),
    SettingSpec(
        "SMTP_TIMEOUT_SECONDS",
        _positive_float,
        10.0,
        "Socket timeout of each SMTP operation and of the Resend API call; a hung server counts as a transient failure",
    ),
    SettingSpec(
        "AUTO_ASSIGN_IMPORTS",
        _bool,
        False,
        "Assign newly imported charts round-robin to the organisation's active coders (least open work first)",
    ),
    SettingSpec(
        "QUEUE_AGING_HOURS",
        _positive_int,
        48,
        "A draft imported this many hours ago and not yet submitted counts as aging (live counters, dashboard alerts)",
    ),
    SettingSpec(
        "EXPORT_LIMIT_USER",
        RateLimit.parse,
        RateLimit(30, 900),
        "Exports (/api/v1/export/...) one user may start, as N/SECONDS",
    ),
    SettingSpec(
        "EXPORT_LIMIT_ORG",
        RateLimit.parse,
        RateLimit(120, 900),
        "Exports all users of one organisation together may start, as N/SECONDS",
    ),
    SettingSpec("MAX_BODY_BYTES", _positive_int, 50 * 1024 * 1024, "Largest request body accepted"),
    SettingSpec(
        "MAX_HEADER_BYTES",
        _positive_int,
        64 * 1024,
        "Largest request header block; keep in step with nginx large_client_header_buffers (INV-13)",
    ),
    SettingSpec("LOG_LEVEL", str, "INFO", "Log level: DEBUG, INFO, WARNING or ERROR"),
    SettingSpec("LOG_FORMAT", _log_format, "json", "json for machines, console for people"),
    SettingSpec(
        "SMARTCODERS_DEMO_PASSWORD",
        _secret,
        None,
        "Password for the demo logins of `serve --demo`; unset = generated and printed",
        secret=True,
    ),
)

_SECRET_NAMES: Final = ("JWT_SECRET", "COOKIE_SECRET", "SESSION_SECRET", "WEBHOOK_SIGNING_SECRET")
_WEAK_SECRETS: Final = frozenset(
    {"secret", "changeme", "change-me", "password", "development", "test", "example", "default", "placeholder"}
)
MIN_SECRET_LENGTH: Final = 32
ARGON2_MIN_MEMORY_KIB: Final = 19456
ARGON2_MIN_TIME_COST: Final = 2


@dataclass(frozen=True)
class Settings:
    smartcoders_env: Environment
    smartcoders_home: Path
    database_url: Secret | None
    database_owner_url: Secret | None
    redis_url: Secret | None
    database_sslmode: PgSslMode | None
    database_sslrootcert: str | None
    redis_tls_ca_cert: str | None
    app_url: str
    host: str
    port: int
    use_xheaders: bool
    jwt_secret: Secret
    cookie_secret: Secret
    jwt_secret_previous: Secret | None
    cookie_secret_previous: Secret | None
    session_secret: Secret
    webhook_signing_secret: Secret
    webhook_signing_secret_previous: Secret | None
    webhook_tolerance_seconds: int
    webhook_max_body_bytes: int
    webhook_body_timeout_seconds: float
    session_cookie_name: str
    session_idle_minutes: int
    session_absolute_hours: int
    session_watchdog_seconds: float
    login_limit_account: RateLimit
    login_limit_account_ip: RateLimit
    login_limit_ip: RateLimit
    two_step_limit: RateLimit
    password_hash_memory_kib: int
    password_hash_time_cost: int
    password_hash_parallelism: int
    password_hash_workers: int
    db_pool_size: int
    db_pool_timeout_seconds: float
    db_statement_timeout_ms: int
    redis_timeout_seconds: float
    audit_verify_minutes: int
    scheduler_heartbeat_seconds: int
    outbox_relay_seconds: int
    outbox_batch_size: int
    outbox_lease_seconds: int
    outbox_max_attempts: int
    outbox_backoff_base_seconds: float
    outbox_backoff_cap_seconds: float
    email_drain_seconds: int
    email_batch_size: int
    email_lease_seconds: int
    email_max_attempts: int
    email_backoff_base_seconds: float
    email_backoff_cap_seconds: float
    email_from: str
    resend_api_key: Secret | None
    smtp_host: str | None
    smtp_port: int
    smtp_user: str | None
    smtp_password: Secret | None
    smtp_tls: SmtpTls
    smtp_timeout_seconds: float
    auto_assign_imports: bool
    queue_aging_hours: int
    export_limit_user: RateLimit
    export_limit_org: RateLimit
    max_body_bytes: int
    max_header_bytes: int
    log_level: str
    log_format: str
    smartcoders_demo_password: Secret | None
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def jwt_secrets(self) -> tuple[str, ...]:
        """The key that signs session JWTs, then the previous one while a rotation is under way."""
        return _with_previous(self.jwt_secret, self.jwt_secret_previous)

    @property
    def cookie_secrets(self) -> tuple[str, ...]:
        """The key that signs cookies and CSRF tokens, then the previous one during a rotation."""
        return _with_previous(self.cookie_secret, self.cookie_secret_previous)

    @property
    def is_production(self) -> bool:
        return self.smartcoders_env is Environment.PRODUCTION

    @property
    def uses_tls(self) -> bool:
        return self.app_url.startswith("https://")

    @property
    def cookie_name(self) -> str:
        """The session cookie's real name: ``__Host-`` prefixed under TLS (Secure, Path=/, no Domain)."""
        return f"__Host-{self.session_cookie_name}" if self.uses_tls else self.session_cookie_name

    @property
    def public_host(self) -> str:
        return urlsplit(self.app_url).netloc

    def pg_sslmode_for(self, url: str) -> PgSslMode | None:
        """The sslmode a connection to ``url`` uses: the URL's own, else ``DATABASE_SSLMODE``, else
        verify-full in production for a server reached over the network (None: libpq's default)."""
        own = parse_qs(urlsplit(url).query).get("sslmode")
        if own:
            try:
                return PgSslMode(own[-1])
            except ValueError:
                return None
        if self.database_sslmode is not None:
            return self.database_sslmode
        if self.is_production and not all(is_local_host(h) for h in pg_hosts(url)):
            return PgSslMode.VERIFY_FULL
        return None

    def database_url_with_tls(self, url: str) -> str:
        """``url`` with the sslmode and sslrootcert it should use added; the URL's own parameters win."""
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        extra: dict[str, str] = {}
        mode = self.pg_sslmode_for(url)
        if "sslmode" not in query and mode is not None:
            extra["sslmode"] = mode.value
        if "sslrootcert" not in query and self.database_sslrootcert:
            extra["sslrootcert"] = self.database_sslrootcert
        if not extra:
            return url
        joined = f"{parts.query}&{urlencode(extra)}" if parts.query else urlencode(extra)
        return urlunsplit(parts._replace(query=joined))

    def redacted(self) -> dict[str, str]:
        """Every setting as text, secrets masked: safe to log or print."""
        out: dict[str, str] = {}
        for spec in SETTINGS:
            value = getattr(self, spec.name.lower())
            out[spec.name] = MASK if spec.secret and value is not None else str(value)
        return out


def _dev_secret(home: Path, name: str) -> Secret:
    path = home / "dev-secrets.json"
    home.mkdir(parents=True, exist_ok=True)
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    if name not in stored:
        stored[name] = secrets.token_urlsafe(48)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stored))
        tmp.chmod(0o600)
        tmp.replace(path)
    return Secret(stored[name])


def _with_previous(current: Secret, previous: Secret | None) -> tuple[str, ...]:
    return (current.get(),) if previous is None else (current.get(), previous.get())


def _weak(value: str) -> bool:
    return (
        len(value) < MIN_SECRET_LENGTH
        or value.lower() in _WEAK_SECRETS
        or len(set(value)) < 8
        or any(word in value.lower() for word in ("changeme", "placeholder", "example"))
    )


def _previous_secret_problems(settings: Settings) -> list[str]:
    """Production: a rotation's previous secret, while still accepted, must be strong too, and not
    the current one (a rotation that rotated nothing)."""
    problems: list[str] = []
    for name, current in (
        ("JWT_SECRET", settings.jwt_secret),
        ("COOKIE_SECRET", settings.cookie_secret),
        ("WEBHOOK_SIGNING_SECRET", settings.webhook_signing_secret),
    ):
        previous = getattr(settings, f"{name.lower()}_previous")
        if previous is None:
            continue
        if _weak(previous.get()):
            problems.append(f"{name}_PREVIOUS is weak: use at least {MIN_SECRET_LENGTH} random characters")
        elif previous.get() == current.get():
            problems.append(f"{name}_PREVIOUS must differ from {name}: it is the key being retired")
    return problems


def _delivery_problems(settings: Settings) -> list[str]:
    """The outbox relay's and the email drain's settings."""
    problems: list[str] = []
    for kind in ("OUTBOX", "EMAIL"):
        base = getattr(settings, f"{kind.lower()}_backoff_base_seconds")
        if getattr(settings, f"{kind.lower()}_backoff_cap_seconds") < base:
            problems.append(f"{kind}_BACKOFF_CAP_SECONDS must be at least {kind}_BACKOFF_BASE_SECONDS")
    if settings.is_production and settings.smtp_host and settings.smtp_tls is SmtpTls.NONE:
        problems.append("SMTP_TLS must be starttls or ssl in production (email carries invitation links)")
    return problems


def _database_tls_problems(settings: Settings) -> list[str]:
    """Production: a database reached over the network must prove who it is (verify-ca/verify-full)."""
    problems: list[str] = []
    for name in ("DATABASE_URL", "DATABASE_OWNER_URL"):
        value = getattr(settings, name.lower())
        if value is None or all(is_local_host(h) for h in pg_hosts(value.get())):
            continue
        if settings.pg_sslmode_for(value.get()) not in {PgSslMode.VERIFY_CA, PgSslMode.VERIFY_FULL}:
            problems.append(
                f"{name} must verify the database server's certificate in production: "
                "use sslmode=verify-full (DATABASE_SSLMODE) and DATABASE_SSLROOTCERT"
            )
    return problems


def _check(settings: Settings) -> None:
    problems: list[str] = []
    if settings.password_hash_memory_kib < ARGON2_MIN_MEMORY_KIB:
        problems.append(f"PASSWORD_HASH_MEMORY_KIB must be at least {ARGON2_MIN_MEMORY_KIB} (OWASP floor)")
    if settings.password_hash_time_cost < ARGON2_MIN_TIME_COST:
        problems.append(f"PASSWORD_HASH_TIME_COST must be at least {ARGON2_MIN_TIME_COST} (OWASP floor)")
    problems.extend(_delivery_problems(settings))
    if settings.is_production:
        seen: set[str] = set()
        for name in _SECRET_NAMES:
            source = settings.sources.get(name)
            value = getattr(settings, name.lower()).get()
            if source not in {"environment", ".env"}:
                problems.append(f"{name} must be set in production")
            elif _weak(value):
                problems.append(f"{name} is weak: use at least {MIN_SECRET_LENGTH} random characters")
            elif value in seen:
                problems.append(f"{name} must differ from the other secrets")
            seen.add(value)
        problems.extend(_previous_secret_problems(settings))
        if not settings.uses_tls:
            problems.append("APP_URL must be https:// in production")
        if settings.database_url is None:
            problems.append("DATABASE_URL must be set in production (no embedded PostgreSQL)")
        if settings.redis_url is None:
            problems.append("REDIS_URL must be set in production (no embedded Redis)")
        problems.extend(_database_tls_problems(settings))
    if problems:
        raise ConfigError("; ".join(problems))


def load_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> Settings:
    """Read every setting once: environment, then ``.env``, then default, else ConfigError."""
    environ = os.environ if environ is None else environ
    dotenv: dict[str, str | None] = dotenv_values(env_file) if env_file is not None and env_file.exists() else {}
    raw: dict[str, Any] = {}
    sources: dict[str, str] = {}
    errors: list[str] = []
    for spec in SETTINGS:
        if spec.name in environ and environ[spec.name] != "":
            text, source = environ[spec.name], "environment"
        elif dotenv.get(spec.name):
            text, source = str(dotenv[spec.name]), ".env"
        else:
            text, source = None, "default"
        sources[spec.name] = source
        if text is None:
            if spec.default is REQUIRED:
                errors.append(f"{spec.name} is required ({spec.help})")
            raw[spec.name] = spec.default
            continue
        try:
            raw[spec.name] = spec.parse(text)
        except (ValueError, TypeError) as exc:
            shown = MASK if spec.secret else repr(text)
            errors.append(f"{spec.name}={shown} is invalid: {exc}")
    if errors:
        raise ConfigError("; ".join(errors))
    home = Path(raw["SMARTCODERS_HOME"]).expanduser().resolve()
    raw["SMARTCODERS_HOME"] = home
    env = raw["SMARTCODERS_ENV"]
    for name in _SECRET_NAMES:
        if raw[name] is GENERATED:
            # Production gets a placeholder that _check refuses; nothing is written to disk.
            raw[name] = Secret("") if env is Environment.PRODUCTION else _dev_secret(home, name)
    settings = Settings(**{spec.name.lower(): raw[spec.name] for spec in SETTINGS}, sources=sources)
    _check(settings)
    return settings


_current: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings, loaded on first use and never changed afterwards."""
    global _current
    if _current is None:
        _current = load_settings()
    return _current


def installed_settings() -> Settings | None:
    """The settings installed so far, if any; unlike ``get_settings`` never loads them."""
    return _current


def configure(settings: Settings) -> Settings:
    """Install explicitly built settings (the CLI and the test suite do this once at start)."""
    global _current
    _current = settings
    return settings


def setting_names() -> list[str]:
    return [spec.name for spec in SETTINGS]


assert [f.name for f in fields(Settings) if f.name != "sources"] == [s.name.lower() for s in SETTINGS]
