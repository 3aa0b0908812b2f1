"""INV-9 and INV-1: one settings registry, documented in ``.env.example``; only datalayer/ talks to
the database or Redis; and the linters and type checker run as part of the suite.

- INV-9: every name in ``app.settings.SETTINGS`` is in ``.env.example`` and vice versa; the
  precedence is environment > ``.env`` > default; a bad value is a ``ConfigError`` naming the
  setting; secrets never show in ``repr``/``redacted()``; production refuses missing, weak or
  duplicated secrets, plain-HTTP ``APP_URL`` and embedded services, and accepts a strong
  complete configuration; argon2 memory below the OWASP floor is refused in every mode.
- INV-1: ruff's banned-api rule (TID251) passes for app/pages/pipelines, and really fires on a
  probe file that imports ``sqlalchemy`` (so the rule is not silently disabled).
- Lint runs in the suite: ``ruff check .``, ``ruff format --check .`` and ``mypy`` (slow).
"""

from __future__ import annotations

import re
import secrets
import subprocess
from pathlib import Path

import pytest

from app.errors import ConfigError
from app.settings import MASK, SETTINGS, Environment, Secret, load_settings

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
NAMES = [spec.name for spec in SETTINGS]
SECRET_NAMES = ("JWT_SECRET", "COOKIE_SECRET", "SESSION_SECRET", "WEBHOOK_SIGNING_SECRET")


def _base(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        "SMARTCODERS_ENV": "test",
        "SMARTCODERS_HOME": str(tmp_path / "home"),
        "PASSWORD_HASH_MEMORY_KIB": "19456",
        "PASSWORD_HASH_TIME_COST": "2",
    }
    env.update(extra)
    return env


def _strong() -> str:
    return secrets.token_urlsafe(48)


def _production(**overrides: str) -> dict[str, str]:
    env = {
        "SMARTCODERS_ENV": "production",
        "SMARTCODERS_HOME": "/tmp/smartcoders-prod-test",  # noqa: S108 - nothing is written in production mode
        "APP_URL": "https://coding.example.org",
        "DATABASE_URL": "postgresql://smartcoders_app@db.internal/smartcoders",
        "REDIS_URL": "redis://cache.internal:6379/0",
        **{name: _strong() for name in SECRET_NAMES},
    }
    env.update(overrides)
    return env


# --- INV-9: registry <-> .env.example ----------------------------------------------------------


def test_inv9_env_example_lists_exactly_the_settings() -> None:
    path = ROOT / ".env.example"
    assert path.exists(), ".env.example is missing"
    listed = re.findall(r"^([A-Z][A-Z0-9_]*)=", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert sorted(set(NAMES) - set(listed)) == [], "settings missing from .env.example"
    assert sorted(set(listed) - set(NAMES)) == [], ".env.example names no setting"
    assert len(listed) == len(set(listed)), "a name is listed twice in .env.example"


def test_inv9_env_example_loads_cleanly(tmp_path: Path) -> None:
    settings = load_settings({"SMARTCODERS_HOME": str(tmp_path / "home")}, env_file=ROOT / ".env.example")
    assert settings.smartcoders_env is Environment.DEVELOPMENT


# --- precedence and parsing --------------------------------------------------------------------


def test_inv9_precedence_env_beats_dotenv_beats_default(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=7001\nLOG_LEVEL=DEBUG\n", encoding="utf-8")
    from_dotenv = load_settings(_base(tmp_path), env_file=env_file)
    assert from_dotenv.port == 7001
    assert from_dotenv.sources["PORT"] == ".env"
    from_env = load_settings(_base(tmp_path, PORT="7002"), env_file=env_file)
    assert from_env.port == 7002
    assert from_env.sources["PORT"] == "environment"
    assert from_env.log_level == "DEBUG"
    default = load_settings(_base(tmp_path), env_file=None)
    assert default.port == 5006
    assert default.sources["PORT"] == "default"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "not-a-number"),
        ("PORT", "0"),
        ("USE_XHEADERS", "maybe"),
        ("APP_URL", "ftp://x"),
        ("LOGIN_LIMIT_IP", "10 per minute"),
        ("SMARTCODERS_ENV", "staging"),
        ("LOG_FORMAT", "xml"),
    ],
)
def test_inv9_bad_value_is_config_error_naming_the_setting(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(_base(tmp_path, **{name: value}), env_file=None)


def test_inv9_bad_secret_value_is_not_echoed(tmp_path: Path) -> None:
    # A Secret accepts any text; a bad URL-ish secret must still never be printed in an error.
    with pytest.raises(ConfigError) as info:
        load_settings(
            _base(tmp_path, PASSWORD_HASH_MEMORY_KIB="1024", JWT_SECRET="hunter2-super-private"), env_file=None
        )
    assert "hunter2-super-private" not in str(info.value)


def test_inv9_secrets_masked_in_repr_and_redacted(tmp_path: Path) -> None:
    values = {name: _strong() for name in SECRET_NAMES}
    settings = load_settings(_base(tmp_path, DATABASE_URL="postgresql://u:dbpass-xyz@h/db", **values), env_file=None)
    shown = repr(settings) + str(settings)
    redacted = settings.redacted()
    for value in [*values.values(), "dbpass-xyz"]:
        assert value not in shown
        assert value not in str(redacted)
    for name in (*SECRET_NAMES, "DATABASE_URL"):
        assert redacted[name] == MASK
    assert redacted["PORT"] == "5006"
    assert settings.jwt_secret.get() == values["JWT_SECRET"]
    assert repr(Secret("abc")) == f"Secret('{MASK}')"
    assert set(redacted) == set(NAMES)


# --- production refusals -----------------------------------------------------------------------


def test_inv9_production_accepts_strong_complete_config() -> None:
    settings = load_settings(_production(), env_file=None)
    assert settings.is_production
    assert settings.uses_tls
    assert settings.cookie_name.startswith("__Host-")


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_inv9_production_refuses_missing_secret(name: str) -> None:
    env = _production()
    del env[name]
    with pytest.raises(ConfigError, match=name):
        load_settings(env, env_file=None)


@pytest.mark.parametrize(
    "weak", ["short-secret", "changeme", "changeme" * 5, "a" * 64, "placeholder-" + "x1y2z3w4" * 4, "password"]
)
def test_inv9_production_refuses_weak_secret(weak: str) -> None:
    with pytest.raises(ConfigError, match="JWT_SECRET is weak"):
        load_settings(_production(JWT_SECRET=weak), env_file=None)


def test_inv9_production_refuses_duplicate_secrets() -> None:
    shared = _strong()
    with pytest.raises(ConfigError, match="must differ"):
        load_settings(_production(JWT_SECRET=shared, COOKIE_SECRET=shared), env_file=None)


def test_inv9_production_refuses_http_app_url() -> None:
    with pytest.raises(ConfigError, match="APP_URL must be https"):
        load_settings(_production(APP_URL="http://coding.example.org"), env_file=None)


@pytest.mark.parametrize("name", ["DATABASE_URL", "REDIS_URL"])
def test_inv9_production_refuses_embedded_services(name: str) -> None:
    env = _production()
    del env[name]
    with pytest.raises(ConfigError, match=f"{name} must be set in production"):
        load_settings(env, env_file=None)


def test_inv9_production_empty_value_counts_as_missing() -> None:
    with pytest.raises(ConfigError, match="SESSION_SECRET must be set"):
        load_settings(_production(SESSION_SECRET=""), env_file=None)


@pytest.mark.parametrize("mode", ["test", "development", "production"])
def test_inv14_argon2_memory_below_owasp_floor_refused(tmp_path: Path, mode: str) -> None:
    env = _production() if mode == "production" else _base(tmp_path, SMARTCODERS_ENV=mode)
    env["PASSWORD_HASH_MEMORY_KIB"] = "19455"
    with pytest.raises(ConfigError, match="PASSWORD_HASH_MEMORY_KIB"):
        load_settings(env, env_file=None)
    env["PASSWORD_HASH_MEMORY_KIB"] = "19456"
    load_settings(env, env_file=None)


# --- INV-1: only datalayer/ imports the drivers --------------------------------------------------


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "ruff"), *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def test_inv1_no_banned_imports_outside_datalayer() -> None:
    result = _ruff("check", "--select", "TID251", "--output-format", "concise", "app", "pages", "pipelines")
    assert result.returncode == 0, result.stdout + result.stderr


def test_inv1_rule_really_fires_on_a_probe() -> None:
    probe = ROOT / "app" / "_inv1_probe.py"
    try:
        probe.write_text(
            '"""INV-1 probe written by tests/test_settings_and_lint.py."""\n\nimport sqlalchemy\n\nprint(sqlalchemy)\n',
            encoding="utf-8",
        )
        result = _ruff("check", "--select", "TID251", "--output-format", "concise", str(probe))
    finally:
        probe.unlink(missing_ok=True)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "TID251" in result.stdout
    assert "_inv1_probe.py" in result.stdout
    assert "INV-1" in result.stdout


# --- lint runs in the suite ----------------------------------------------------------------------


@pytest.mark.slow
def test_lint_ruff_check() -> None:
    result = _ruff("check", ".")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr


@pytest.mark.slow
def test_lint_ruff_format() -> None:
    result = _ruff("format", "--check", ".")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr


@pytest.mark.slow
def test_lint_mypy() -> None:
    result = subprocess.run(
        [str(VENV_BIN / "mypy")], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr
