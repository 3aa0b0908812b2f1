"""Provider directory: resolves Synthea's conditional provider references (quirk 3).

Patient bundles of US Core runs point at practitioners, organisations and locations with
conditional references such as ``Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999893792``.
The targets live in the run's ``hospitalInformation<ts>.json`` (Organization, Location) and
``practitionerInformation<ts>.json`` (Practitioner, PractitionerRole), both ``batch`` bundles.
When those files are part of the same import, the directory built from them resolves the
references (name, NPI, specialty, city and state); when they are not, the parser falls back to
the reference's ``display``. v3.0.0 bundles inline Organization/Practitioner and reference them
by ``urn:uuid:``, which the parser resolves from the bundle itself with ``party_from_resource``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote

import orjson

from app.fhir.model import Party, Resource

DIRECTORY_FILE_PREFIXES: Final = ("hospitalInformation", "practitionerInformation")
_PARTY_TYPES: Final = frozenset({"Practitioner", "Organization", "Location"})


def is_directory_file(name: str) -> bool:
    """Synthea's provider files, by their (fixed) base name: ``hospitalInformation<ts>.json``…"""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return base.startswith(DIRECTORY_FILE_PREFIXES) and base.lower().endswith(".json")


def _practitioner_name(resource: Resource) -> str | None:
    names = resource.get("name")
    if not isinstance(names, list) or not names or not isinstance(names[0], dict):
        return None
    first = names[0]
    parts = [*first.get("prefix", []), *first.get("given", []), first.get("family", "")]
    text = " ".join(str(p) for p in parts if p)
    return text or None


def _address(resource: Resource) -> tuple[str | None, str | None]:
    address = resource.get("address")
    if isinstance(address, list):
        address = address[0] if address else None
    if not isinstance(address, dict):
        return None, None
    return address.get("city"), address.get("state")


def party_from_resource(resource: Resource, reference: str | None, *, specialty: str | None = None) -> Party:
    """A Party from a Practitioner, Organization or Location resource."""
    rtype = resource.get("resourceType")
    name = _practitioner_name(resource) if rtype == "Practitioner" else resource.get("name")
    npi = None
    if rtype == "Practitioner":
        for ident in resource.get("identifier", []):
            if isinstance(ident, dict) and ident.get("system") == "http://hl7.org/fhir/sid/us-npi":
                npi = ident.get("value")
    city, state = _address(resource)
    return Party(
        name=name if isinstance(name, str) else None,
        reference=reference,
        resolved=True,
        npi=npi,
        specialty=specialty,
        city=city,
        state=state,
    )


@dataclass
class ProviderDirectory:
    """Conditional-reference string -> the resource it names, plus practitioner specialties."""

    resources: dict[str, Resource] = field(default_factory=dict)
    specialties: dict[str, str] = field(default_factory=dict)  # NPI -> PractitionerRole specialty
    files: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.resources)

    def add_bundle(self, name: str, doc: Any) -> int:
        """Index one batch bundle's Practitioner/Organization/Location entries; returns how many."""
        if not isinstance(doc, dict) or not isinstance(doc.get("entry"), list):
            return 0
        added = 0
        for entry in doc["entry"]:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                continue
            rtype = resource.get("resourceType")
            if rtype == "PractitionerRole":
                self._add_role(resource)
                continue
            if rtype not in _PARTY_TYPES:
                continue
            for ident in resource.get("identifier", []):
                if isinstance(ident, dict) and ident.get("system") and ident.get("value"):
                    self.resources[f"{rtype}?identifier={ident['system']}|{ident['value']}"] = resource
                    added += 1
            request = entry.get("request")
            if isinstance(request, dict) and isinstance(request.get("ifNoneExist"), str):
                self.resources[f"{rtype}?{request['ifNoneExist']}"] = resource
        if added:
            self.files.append(name)
        return added

    def _add_role(self, role: Resource) -> None:
        practitioner = role.get("practitioner", {})
        ident = practitioner.get("identifier", {}) if isinstance(practitioner, dict) else {}
        npi = ident.get("value") if isinstance(ident, dict) else None
        for concept in role.get("specialty", []):
            for coding in concept.get("coding", []) if isinstance(concept, dict) else []:
                if npi and isinstance(coding, dict) and coding.get("display"):
                    self.specialties[npi] = coding["display"]
                    return

    def resolve(self, reference: str) -> Party | None:
        resource = self.resources.get(reference) or self.resources.get(unquote(reference))
        if resource is None:
            return None
        party = party_from_resource(resource, reference)
        if party.npi and party.npi in self.specialties:
            party = party_from_resource(resource, reference, specialty=self.specialties[party.npi])
        return party


def build_directory(files: Mapping[str, bytes] | Iterable[tuple[str, bytes]]) -> ProviderDirectory:
    """A directory from provider files given as name -> bytes; unreadable files are ignored.

    A broken provider file must not stop the import: references then fall back to ``display``.
    """
    directory = ProviderDirectory()
    items = files.items() if isinstance(files, Mapping) else files
    for name, data in items:
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        directory.add_bundle(name, doc)
    return directory
