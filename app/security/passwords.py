"""Password hashing (argon2id only, INV-14) and the password policy (OWASP ASVS V2/V6).

Policy: 12 to 128 characters, any Unicode (normalised NFKC, never truncated), not one of the
30,000 most common passwords, and not trivially guessable from the user's own details
(zxcvbn score >= 3). No composition rules, as ASVS advises.
"""

from __future__ import annotations

import secrets
import unicodedata
from functools import cache
from typing import Final

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH: Final = 12
MAX_LENGTH: Final = 128


def normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


@cache
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(p.lower() for p in FREQUENCY_LISTS["passwords"])


def policy_problems(password: str, *, user_inputs: tuple[str, ...] = ()) -> list[str]:
    """Plain-English reasons the password is not acceptable; empty when it is."""
    pw = normalise(password)
    if len(pw) < MIN_LENGTH:
        return [f"Use at least {MIN_LENGTH} characters."]
    if len(pw) > MAX_LENGTH:
        return [f"Use at most {MAX_LENGTH} characters."]
    if pw.lower() in _common_passwords():
        return ["This password is too common. Choose another."]
    from zxcvbn import zxcvbn

    result = zxcvbn(pw[:100], user_inputs=[u for u in user_inputs if u])
    if result["score"] < 3:
        warning = result["feedback"].get("warning") or "This password is easy to guess."
        return [f"{warning.rstrip('.')}. Try a longer passphrase of unrelated words."]
    return []


class Hasher:
    """argon2id with configured parameters, a dummy hash for work equalisation, and rehash checks."""

    def __init__(self, *, memory_kib: int, time_cost: int, parallelism: int) -> None:
        self._ph = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID)
        # Verifying an unknown account against this costs exactly what a real verify costs.
        self._dummy = self._ph.hash(secrets.token_urlsafe(24))
        self.verify_calls = 0  # counted for the C2 work-equalisation test

    def hash(self, password: str) -> str:
        return self._ph.hash(normalise(password))

    def verify(self, stored: str | None, password: str) -> bool:
        """One argon2 verify, always: against ``stored``, or the dummy hash when there is none."""
        self.verify_calls += 1
        try:
            return self._ph.verify(stored or self._dummy, normalise(password)) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self._ph.check_needs_rehash(stored)
