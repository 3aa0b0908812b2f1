"""Audit sampling: which submitted charts a supervisor reviews, per organisation.

The policy is ``SamplingSettings``, stored in ``organizations.settings`` under ``audit_sampling``
and changed only through ``update_settings`` (``audits:configure``: supervisor, manager), which
writes its audit-log row and outbox event in the same transaction. Reading it needs
``audits:view``. Input from outside (the JSON API, the ``/review`` card) goes through
``parse_settings``, which names every bad field.

At submission (``app.services.charts.submit``) ``choose_reason`` decides, in this order — the
first rule that matches is recorded as ``charts.audit_reason``:

1. ``resubmission`` — a returned chart sent back is always audited, whatever the policy;
2. ``all`` — ``review_all`` is on (the default: nothing escapes audit);
3. ``new_coder`` — ``always_new_coders`` and the coder's account is younger than
   ``new_coder_days`` (an unknown account age counts as new);
4. ``overrides`` — ``always_with_overrides`` and a code row carries an override rationale;
5. ``difficulty`` — ``always_min_difficulty`` is set and the chart's difficulty is at or above it;
6. ``random`` — a draw below ``random_percent``: each coder's remaining charts are sampled at
   that rate, independently (the draw comes from an injectable ``Rng``; by default
   ``secrets.SystemRandom``, so nobody can predict which chart is drawn).

No match: the chart is accepted without audit (``completed``) and never enters the review queue.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final, Protocol
from uuid import UUID

from app.authz import Permission, Principal
from app.errors import ValidationFailed
from app.logs import get_logger
from app.services import audit as audit_log
from app.services import outbox
from app.services.audit import Actor
from datalayer.queries import audits, charts
from datalayer.scope import Scope, user_scope

__all__ = [
    "ACCEPTED_WITHOUT_AUDIT",
    "FIELDS",
    "REASON_LABELS",
    "SENT_FOR_AUDIT",
    "AuditReason",
    "Rng",
    "SamplingSettings",
    "SubmissionFacts",
    "choose_reason",
    "describe",
    "describe_parts",
    "get_settings",
    "parse_settings",
    "reason_at_submit",
    "submit_message",
    "update_settings",
]

log = get_logger(__name__)

SETTINGS_KEY: Final = "audit_sampling"
MAX_NEW_CODER_DAYS: Final = 3650
SENT_FOR_AUDIT: Final = "Submitted for audit."
ACCEPTED_WITHOUT_AUDIT: Final = "Accepted without audit: this chart was not selected for review and is now completed."


class AuditReason(StrEnum):
    """Why a submitted chart was sampled (``charts.audit_reason``), in the order the rules apply."""

    RESUBMISSION = "resubmission"
    ALL = "all"
    NEW_CODER = "new_coder"
    OVERRIDES = "overrides"
    DIFFICULTY = "difficulty"
    RANDOM = "random"


REASON_LABELS: Final[dict[str, str]] = {
    AuditReason.RESUBMISSION: "Resubmission",
    AuditReason.ALL: "All charts",
    AuditReason.NEW_CODER: "New coder",
    AuditReason.OVERRIDES: "Override used",
    AuditReason.DIFFICULTY: "High difficulty",
    AuditReason.RANDOM: "Random sample",
}


class Rng(Protocol):
    """Where the random draw comes from: ``random()`` in [0, 1). Tests pass a seeded one."""

    def random(self) -> float: ...


_SYSTEM_RNG: Final = secrets.SystemRandom()  # stateless (os.urandom): safe to share between sessions


@dataclass(frozen=True)
class SamplingSettings:
    """One organisation's sampling policy. The defaults review every chart; the other fields only
    matter once ``review_all`` is off, and their defaults are what a supervisor usually wants then."""

    review_all: bool = True
    random_percent: int = 10
    always_new_coders: bool = True
    new_coder_days: int = 90
    always_with_overrides: bool = True
    always_min_difficulty: int | None = None  # 1 to 5; None = off

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


FIELDS: Final = tuple(SamplingSettings.__dataclass_fields__)
DEFAULT: Final = SamplingSettings()


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _problems(s: SamplingSettings, *, consistency: bool = True) -> dict[str, str]:
    """Range and (with ``consistency``) whole-policy checks, shared by ``parse_settings`` and
    ``update_settings``."""
    problems: dict[str, str] = {}
    if not _whole(s.random_percent) or not 0 <= s.random_percent <= 100:
        problems["random_percent"] = "A whole number from 0 to 100 (percent of each coder's charts)."
    if not _whole(s.new_coder_days) or not 1 <= s.new_coder_days <= MAX_NEW_CODER_DAYS:
        problems["new_coder_days"] = f"A whole number of days from 1 to {MAX_NEW_CODER_DAYS}."
    if s.always_min_difficulty is not None and (
        not _whole(s.always_min_difficulty) or not 1 <= s.always_min_difficulty <= 5
    ):
        problems["always_min_difficulty"] = "A difficulty from 1 to 5, or null to switch this rule off."
    nothing_sampled = (
        not s.review_all
        and s.random_percent == 0
        and not s.always_new_coders
        and not s.always_with_overrides
        and s.always_min_difficulty is None
    )
    if consistency and nothing_sampled and not problems:
        problems["random_percent"] = (
            "With review all off and no rule on, no chart would ever be audited: choose a percentage above 0 "
            "or switch on a rule."
        )
    return problems


def parse_settings(raw: Any) -> SamplingSettings:
    """Validate a settings object from outside (every field required); ``ValidationFailed`` names
    each bad, missing or unknown field."""
    if not isinstance(raw, Mapping):
        raise ValidationFailed("The sampling settings must be a JSON object.")
    problems: dict[str, str] = {f"{k}": "Not a sampling setting." for k in sorted(set(raw) - set(FIELDS))}
    for name in FIELDS:
        if name not in raw:
            problems[name] = "Required."
    for name in ("review_all", "always_new_coders", "always_with_overrides"):
        if name in raw and not isinstance(raw[name], bool):
            problems[name] = "true or false."
    for name in ("random_percent", "new_coder_days"):
        if name in raw and not _whole(raw[name]):
            problems[name] = {
                "random_percent": "A whole number from 0 to 100 (percent of each coder's charts).",
                "new_coder_days": f"A whole number of days from 1 to {MAX_NEW_CODER_DAYS}.",
            }[name]
    difficulty = raw.get("always_min_difficulty")
    if difficulty is not None and not _whole(difficulty):
        problems["always_min_difficulty"] = "A difficulty from 1 to 5, or null to switch this rule off."
    # Ranges of the well-typed fields too (the others keep their default here), so every problem is
    # named at once; whether the policy audits anything only once each field is right.
    typed = SamplingSettings(**{n: raw[n] for n in FIELDS if n in raw and n not in problems})
    for name, message in _problems(typed, consistency=not problems).items():
        problems.setdefault(name, message)
    if problems:
        raise ValidationFailed("Some sampling settings need attention.", fields=problems)
    return typed


def stored_settings(raw: Any) -> SamplingSettings:
    """The policy as stored (``organizations.settings -> 'audit_sampling'``); nothing stored, or
    something unreadable, is the default — review all — so a bad row never lets a chart skip audit."""
    if raw is None:
        return DEFAULT
    try:
        return parse_settings(raw)
    except ValidationFailed as exc:
        log.warning("audit_sampling_unreadable", fields=sorted(exc.fields))
        return DEFAULT


# -- the decision --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmissionFacts:
    """What the rules look at when a chart is submitted."""

    resubmission: bool
    coder_since: datetime | None  # the coder's account creation
    overrides: int  # code rows carrying an override rationale
    difficulty: int | None


def choose_reason(settings: SamplingSettings, facts: SubmissionFacts, *, now: datetime, rng: Rng) -> AuditReason | None:
    """The first rule (module docstring order) that samples this submission, or None: accepted
    without audit. ``rng`` is drawn only when the random rule is reached."""
    new_coder = facts.coder_since is None or now - facts.coder_since < timedelta(days=settings.new_coder_days)
    min_difficulty = settings.always_min_difficulty
    rules = (
        (AuditReason.RESUBMISSION, facts.resubmission),
        (AuditReason.ALL, settings.review_all),
        (AuditReason.NEW_CODER, settings.always_new_coders and new_coder),
        (AuditReason.OVERRIDES, settings.always_with_overrides and facts.overrides > 0),
        (
            AuditReason.DIFFICULTY,
            min_difficulty is not None and facts.difficulty is not None and facts.difficulty >= min_difficulty,
        ),
    )
    for reason, applies in rules:
        if applies:
            return reason
    if settings.random_percent > 0 and rng.random() * 100 < settings.random_percent:
        return AuditReason.RANDOM
    return None


def reason_at_submit(
    scope: Scope, chart_id: UUID, *, resubmission: bool, overrides: int, now: datetime, rng: Rng | None = None
) -> AuditReason | None:
    """``choose_reason`` for a chart being submitted in ``scope``: reads the organisation's policy,
    the chart's difficulty and its coder's account age (one query)."""
    facts = charts.sampling_facts(scope, chart_id)
    return choose_reason(
        stored_settings(facts.settings),
        SubmissionFacts(
            resubmission=resubmission,
            coder_since=facts.coder_since,
            overrides=overrides,
            difficulty=facts.difficulty,
        ),
        now=now,
        rng=rng or _SYSTEM_RNG,
    )


def submit_message(status: str) -> str:
    """What the coder is told after a successful submit, by the chart's new status."""
    return ACCEPTED_WITHOUT_AUDIT if status == "completed" else SENT_FOR_AUDIT


# -- the policy in words ---------------------------------------------------------------------------------


def _join(parts: list[str]) -> str:
    if len(parts) <= 2:
        return " and ".join(parts)
    return ", ".join(parts[:-1]) + ", and " + parts[-1]


def describe_parts(s: SamplingSettings) -> tuple[str, list[str]]:
    """The policy as a headline ("Reviewing: all new coders' charts, charts with overrides,
    difficulty ≥ 4, and 10% of the rest.") and the notes that qualify it."""
    if s.review_all:
        return "Reviewing: every submitted chart.", ["Each chart a coder submits waits in the review queue."]
    notes = ["Resubmitted charts are always reviewed."]
    rules: list[str] = []
    if s.always_new_coders:
        rules.append("all new coders' charts")
    if s.always_with_overrides:
        rules.append("charts with overrides")
    if s.always_min_difficulty is not None:
        rules.append(f"difficulty ≥ {s.always_min_difficulty}")
    if s.random_percent >= 100:
        rules.append("all the rest" if rules else "every submitted chart")
    elif s.random_percent > 0:
        rules.append(
            f"{s.random_percent}% of the rest" if rules else f"a random {s.random_percent}% of each coder's charts"
        )
    if s.always_new_coders:
        days = f"{s.new_coder_days} day{'' if s.new_coder_days == 1 else 's'}"
        notes.insert(0, f"A coder is new for {days} after their account is created.")
    if s.random_percent < 100:
        notes.append("Charts not selected are accepted without audit.")
    return f"Reviewing: {_join(rules) if rules else 'resubmissions only'}.", notes


def describe(s: SamplingSettings) -> str:
    """The policy in plain sentences (``describe_parts`` joined)."""
    headline, notes = describe_parts(s)
    return " ".join([headline, *notes])


# -- reading and changing the policy ------------------------------------------------------------------


def get_settings(principal: Principal) -> SamplingSettings:
    """The caller's organisation's policy (``audits:view``)."""
    principal.require(Permission.AUDITS_VIEW)
    with user_scope(principal.org_id, principal.user_id) as scope:
        return stored_settings(audits.sampling_settings(scope))


def update_settings(principal: Principal, settings: SamplingSettings) -> tuple[SamplingSettings, bool]:
    """Replace the organisation's policy (``audits:configure``); returns it and whether it changed.

    A change writes the audit-log row ``audit_sampling_changed`` (before and after) and the outbox
    event ``audit_sampling.changed`` in its transaction; saving the same policy again writes nothing.
    The new policy applies to submissions from then on; charts already waiting stay in the queue.
    """
    principal.require(Permission.AUDITS_CONFIGURE)
    problems = _problems(settings)
    if problems:
        raise ValidationFailed("Some sampling settings need attention.", fields=problems)
    with user_scope(principal.org_id, principal.user_id) as scope:
        before = stored_settings(audits.sampling_settings(scope, for_update=True))
        if before == settings:
            return settings, False
        audits.set_sampling_settings(scope, settings.as_json())
        details = {"before": before.as_json(), "after": settings.as_json()}
        audit_log.record(
            scope,
            action="audit_sampling_changed",
            actor=Actor(principal.user_id, principal.role),
            object_type="organization",
            object_id=principal.org_id,
            details=details,
        )
        outbox.emit(
            scope,
            event_type="audit_sampling.changed",
            aggregate_type="organization",
            aggregate_id=principal.org_id,
            payload={"org_id": str(principal.org_id), "changed_by": str(principal.user_id), **details},
        )
    return settings, True
