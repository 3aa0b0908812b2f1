"""Plain dataclasses for what the importer reads out of a Synthea FHIR R4 bundle.

No FHIR model library: raw resources stay ``dict`` (as orjson parsed them) and only the fields
the charts need are lifted into typed values here. Two errors: ``BundleError`` (the file cannot
be imported; a ``ValidationFailed`` that names the file and the reason) and ``NotPatientBundle``
(a file that is fine but holds no patient, e.g. Synthea's ``hospitalInformation*.json``: it is
skipped with its reason, not reported as an error).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

from app.errors import ValidationFailed

Resource = dict[str, Any]

# SNOMED CT semantic tags seen in Synthea displays (quirk 13). Only these count as a tag, so a
# display that merely ends in parentheses, like "Severe anxiety (panic)", keeps its text.
SEMANTIC_TAGS: Final = frozenset(
    {
        "body structure",
        "disorder",
        "environment",
        "event",
        "finding",
        "morphologic abnormality",
        "observable entity",
        "occupation",
        "person",
        "physical object",
        "procedure",
        "qualifier value",
        "regime/therapy",
        "situation",
        "substance",
    }
)
# The closing parenthesis is optional: two real Conditions read "Severe anxiety (panic) (finding".
_TAG_RE: Final = re.compile(r"^(?P<text>.*?)\s*\((?P<tag>[a-z][a-z /-]*[a-z])\)?\s*$")


def split_semantic_tag(display: str | None) -> tuple[str | None, str | None]:
    """``"Gingivitis (disorder)"`` -> ``("Gingivitis", "disorder")``; no known tag -> ``(display, None)``."""
    if not display:
        return display, None
    match = _TAG_RE.match(display)
    if match is None or match["tag"] not in SEMANTIC_TAGS or not match["text"]:
        return display.strip(), None
    return match["text"], match["tag"]


class BundleError(ValidationFailed):
    """A file that cannot be imported. The message names the file and says why."""

    def __init__(self, file: str, reason: str) -> None:
        super().__init__(f"{file}: {reason}", fields={"file": reason})
        self.file = file
        self.reason = reason


class NotPatientBundle(Exception):
    """A well-formed file without a patient (provider directory, run metadata): skipped."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Coded:
    """One coding: the first coding of a CodeableConcept (Synthea writes exactly one)."""

    system: str | None
    code: str | None
    display: str | None

    @property
    def text(self) -> str | None:
        return split_semantic_tag(self.display)[0]

    @property
    def tag(self) -> str | None:
        return split_semantic_tag(self.display)[1]

    def as_json(self) -> dict[str, Any]:
        text, tag = split_semantic_tag(self.display)
        return {"system": self.system, "code": self.code, "display": self.display, "text": text, "tag": tag}


@dataclass(frozen=True, slots=True)
class Party:
    """A provider, organisation or location an encounter points at.

    ``resolved`` says whether the target was found (inline in the bundle, or in a provider
    directory file of the same import); otherwise only the reference's ``display`` is known.
    """

    name: str | None
    reference: str | None
    resolved: bool
    npi: str | None = None
    specialty: str | None = None
    city: str | None = None
    state: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "resolved": self.resolved,
            "npi": self.npi,
            "specialty": self.specialty,
            "city": self.city,
            "state": self.state,
        }


@dataclass(frozen=True, slots=True)
class PatientInfo:
    """Only what charts need. Names, addresses and identifiers other than the id are not kept."""

    id: str
    sex: str  # F, M or U (the charts_sex_ck values)
    birth_date: date | None
    deceased_at: datetime | None
    deceased: bool  # deceasedDateTime or deceasedBoolean true
    multiple_birth: bool | int | None  # multipleBirthBoolean or multipleBirthInteger (quirk 19)
    synthea_version: str | None


@dataclass(slots=True)
class EncounterRecord:
    """One Encounter with everything recorded at it, grouped by resource type."""

    id: str
    resource: Resource
    start: datetime
    end: datetime
    class_code: str | None
    type: Coded | None
    reason: Coded | None
    discharge: Coded | None
    provider: Party | None
    facility: Party | None
    location: Party | None
    linked: dict[str, list[Resource]] = field(default_factory=dict)
    note: str | None = None
    payer: str | None = None  # the encounter claim's insurance display (quirk 4: display-only)

    def recorded(self, resource_type: str) -> list[Resource]:
        return self.linked.get(resource_type, [])


@dataclass(slots=True)
class PatientRecord:
    """A parsed patient bundle: the patient, encounters sorted by start, patient-level resources."""

    file: str
    bundle_type: str
    patient: PatientInfo
    encounters: list[EncounterRecord]
    conditions: list[tuple[Resource, EncounterRecord | None]]  # every Condition, with where it was recorded
    allergies: list[Resource]
    medications: dict[str, Resource]  # Medication resources by reference key, for medicationReference
    resource_counts: dict[str, int]
    unlinked: int  # resources whose encounter reference did not resolve (0 in real Synthea output)
