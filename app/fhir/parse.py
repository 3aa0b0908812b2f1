"""Parse one Synthea FHIR R4 patient bundle into a ``PatientRecord``, in linear time.

One pass indexes every entry by ``fullUrl`` (``urn:uuid:<id>``, quirk 2) and by ``Type/id``;
a second pass attaches each clinical resource to the encounter its ``encounter`` /
``context`` reference names (the link is on the child, never on the Encounter). Both are dict
lookups, so a bundle of any size costs O(entries) — no scan per encounter (quirk 18).

Handled here, per the notes in ``shared/synthea/README.md``:

- both bundle types, ``transaction`` and ``collection``; ``entry.request`` is never read (1);
- ``urn:uuid:`` references, plus ``Type/id`` for other producers (2);
- conditional provider references resolved through a ``ProviderDirectory`` when the run's
  provider files are in the same import, inline v3.0.0 Organization/Practitioner through the
  bundle itself, and the reference's ``display`` otherwise (3);
- contained resources and ``#local`` references (EOB ``#coverage``) are never looked up in the
  bundle index; payer names are read from ``display`` (4);
- files without a Patient (provider batches, run metadata) raise ``NotPatientBundle`` (5);
- the file name is never parsed; the patient comes from the Patient resource (6, 7);
- timestamps are parsed timezone-aware with their own offset, milliseconds or not; plain dates
  stay dates (8); encounters are sorted by ``period.start`` (9); first encounter dates and
  future dates elsewhere are not judged (10, 11);
- ``multipleBirthInteger`` as well as ``multipleBirthBoolean`` (19).

The Patient's name, address and identifiers are not carried over: charts need the id, sex,
birth date (for the age) and death date only. The patient's name is also removed where a
reference repeats it as ``display``, and the street address and ZIP answers of the PRAPARE
social-needs survey (Observations) are replaced by ``[redacted]``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any, Final

import orjson

from app.fhir.model import (
    BundleError,
    Coded,
    EncounterRecord,
    NotPatientBundle,
    Party,
    PatientInfo,
    PatientRecord,
    Resource,
)
from app.fhir.providers import ProviderDirectory, party_from_resource

_VERSION_RE: Final = re.compile(r"Version identifier:\s*(\S+)")
_SEX: Final = {"female": "F", "male": "M"}
_NUBC: Final = "http://www.nubc.org/patient-discharge"
# Raw resources kept for the chart are stripped of bulky or duplicated fields: the note text is
# decoded into the chart once, not stored again as base64.
_NOTE_TYPES: Final = frozenset({"DocumentReference", "DiagnosticReport"})


# -- small value parsers ----------------------------------------------------------------------


def parse_instant(value: Any) -> datetime | None:
    """A FHIR ``dateTime``/``instant`` as an aware datetime (quirk 8).

    The offset written by Synthea (the generating machine's: +00:00, +10:00, +05:30, -05:00 …)
    is kept; milliseconds are optional. A date-only or partial value (``2014``, ``2014-01``,
    ``2014-01-03``) means the start of that day in UTC, as does a time without an offset (not
    valid FHIR, but harmless to accept).
    """
    if not isinstance(value, str) or not value:
        return None
    if len(value) in (4, 7):
        value = value + ("-01-01" if len(value) == 4 else "-01")
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_date(value: Any) -> date | None:
    """A FHIR ``date`` (``birthDate``): a plain calendar date, no time zone (quirk 8)."""
    if not isinstance(value, str) or not value:
        return None
    if len(value) in (4, 7):
        value = value + ("-01-01" if len(value) == 4 else "-01")
    return date.fromisoformat(value[:10])


def first_coding(concept: Any) -> Coded | None:
    """The first coding of a CodeableConcept (or a bare Coding); ``text`` when it has none."""
    if isinstance(concept, list):
        concept = concept[0] if concept else None
    if not isinstance(concept, dict):
        return None
    codings = concept.get("coding")
    if isinstance(codings, list) and codings and isinstance(codings[0], dict):
        c = codings[0]
        return Coded(c.get("system"), c.get("code"), c.get("display") or concept.get("text"))
    if "code" in concept or "system" in concept:
        return Coded(concept.get("system"), concept.get("code"), concept.get("display"))
    text = concept.get("text")
    return Coded(None, None, text) if isinstance(text, str) else None


def _discharge(resource: Resource) -> Coded | None:
    """Discharge disposition, NUBC codes normalised to two digits ("1" in v3.0.0 = "01", quirk 17)."""
    hospitalization = resource.get("hospitalization")
    if not isinstance(hospitalization, dict):
        return None
    coded = first_coding(hospitalization.get("dischargeDisposition"))
    if coded and coded.system == _NUBC and coded.code and coded.code.isdigit():
        return Coded(coded.system, coded.code.zfill(2), coded.display)
    return coded


def _decode_note(attachment: Any) -> str | None:
    if not isinstance(attachment, dict) or not isinstance(attachment.get("data"), str):
        return None
    content_type = str(attachment.get("contentType", ""))
    charset = "utf-8"
    if "charset=" in content_type:
        charset = content_type.split("charset=", 1)[1].split(";", maxsplit=1)[0].strip() or "utf-8"
    try:
        raw = base64.b64decode(attachment["data"], validate=False)
        text = raw.decode(charset, errors="replace")
    except (binascii.Error, LookupError):
        return None
    # PostgreSQL text cannot hold NUL; a note never needs one.
    return text.replace("\x00", "")


def _strip_note_data(resource: Resource) -> None:
    """Drop base64 note bodies from a kept DocumentReference/DiagnosticReport (decoded once)."""
    holders: list[Any] = []
    if resource.get("resourceType") == "DocumentReference":
        holders = [c.get("attachment") for c in resource.get("content", []) if isinstance(c, dict)]
    else:
        holders = list(resource.get("presentedForm", []))
    for attachment in holders:
        if isinstance(attachment, dict) and "data" in attachment:
            attachment["size"] = len(attachment.pop("data"))


def _scrub_patient_display(resource: Resource, patient_refs: frozenset[str]) -> None:
    """Remove the patient's name where a reference to the patient carries it as ``display``.

    The patient id is the chart's natural key; the name is not needed beyond the Patient
    resource, which is not stored (charts do not duplicate PHI-bearing identifiers). Synthea
    puts such references at the top level (``Encounter.subject``, ``Claim.patient``) or one list
    level down (``CareTeam.participant[].member``), so only those two levels are visited: a full
    walk of every kept resource would cost more than parsing the file.
    """
    for value in resource.values():
        if isinstance(value, dict):
            if value.get("reference") in patient_refs:
                value.pop("display", None)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    for inner in item.values():
                        if isinstance(inner, dict) and inner.get("reference") in patient_refs:
                            inner.pop("display", None)


# PRAPARE survey answers that repeat the patient's street address (LOINC 56799-0 "What address
# do you live at?", as a component in Synthea) and ZIP code: PHI the coder does not need.
PHI_OBSERVATION_CODES: Final = frozenset({"56799-0", "56798-2"})
REDACTED: Final = "[redacted]"


def _redact_observation(resource: Resource) -> None:
    for node in (resource, *(c for c in resource.get("component", []) if isinstance(c, dict))):
        coded = first_coding(node.get("code"))
        if coded is not None and coded.code in PHI_OBSERVATION_CODES:
            for key in [k for k in node if k.startswith("value")]:
                del node[key]
            node["valueString"] = REDACTED


# -- the parser ---------------------------------------------------------------------------------


def load_json(data: bytes, *, name: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BundleError(name, f"not valid JSON ({exc})") from None


def parse_bundle(data: bytes | Any, *, name: str, directory: ProviderDirectory | None = None) -> PatientRecord:
    """Parse one patient bundle (bytes, or an already loaded JSON value).

    Raises ``BundleError`` for a file that cannot be imported and ``NotPatientBundle`` for a
    well-formed file without a patient.
    """
    doc = load_json(data, name=name) if isinstance(data, bytes) else data
    try:
        return _Parser(doc, name, directory or ProviderDirectory()).parse()
    except (BundleError, NotPatientBundle):
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise BundleError(name, f"malformed FHIR content ({type(exc).__name__}: {exc})") from None


def _classify(doc: Any, name: str) -> list[Any]:
    """The bundle's entries, or why this file is not a patient bundle."""
    if not isinstance(doc, dict):
        raise BundleError(name, f"not a FHIR Bundle (the top level is a JSON {type(doc).__name__})")
    rtype = doc.get("resourceType")
    if rtype != "Bundle":
        # Synthea writes run metadata (runID, seed, …) next to the bundles (quirk 5).
        if rtype is None and ("runID" in doc or "/metadata/" in f"/{name}"):
            raise NotPatientBundle("Synthea run metadata, not a bundle")
        raise BundleError(name, f"not a FHIR Bundle (resourceType {rtype!r})")
    entries = doc.get("entry", [])
    if not isinstance(entries, list):
        raise BundleError(name, "Bundle.entry is not a list")
    return entries


class _Parser:
    def __init__(self, doc: Any, name: str, directory: ProviderDirectory) -> None:
        self.doc = doc
        self.name = name
        self.directory = directory
        self.index: dict[str, Resource] = {}
        self.counts: Counter[str] = Counter()
        self.by_type: dict[str, list[Resource]] = {}

    def fail(self, reason: str) -> BundleError:
        return BundleError(self.name, reason)

    def parse(self) -> PatientRecord:
        entries = _classify(self.doc, self.name)
        self._index(entries)
        patients = self.by_type.get("Patient", [])
        bundle_type = str(self.doc.get("type", ""))
        if not patients:
            kinds = ", ".join(sorted(self.counts)) or "no resources"
            raise NotPatientBundle(f"{bundle_type or 'untyped'} bundle without a Patient ({kinds})")
        if len(patients) > 1:
            raise self.fail(f"holds {len(patients)} Patient resources; expected one patient per file")
        patient = self._patient(patients[0])
        patient_refs = frozenset(
            {f"urn:uuid:{patient.id}", f"Patient/{patient.id}", *(k for k, v in self.index.items() if v is patients[0])}
        )
        encounters = [self._encounter(r) for r in self.by_type.get("Encounter", [])]
        encounters.sort(key=lambda e: (e.start, e.id))  # file order is not chronological (quirk 9)
        # Every key an encounter is indexed under (fullUrl, Type/id), by identity of its resource.
        by_object = {id(enc.resource): enc for enc in encounters}
        by_ref = {f"urn:uuid:{enc.id}": enc for enc in encounters}
        by_ref.update((key, by_object[id(r)]) for key, r in self.index.items() if id(r) in by_object)
        unlinked = self._link(by_ref, patient_refs)
        for enc in encounters:  # chronological within an encounter, whatever the file order
            for linked in enc.linked.values():
                linked.sort(key=_chronological)
        self._payers(by_ref)
        for enc in encounters:
            _scrub_patient_display(enc.resource, patient_refs)
        conditions = [(c, by_ref.get(_encounter_ref(c) or "")) for c in self.by_type.get("Condition", [])]
        medications = {}
        for med in self.by_type.get("Medication", []):
            medications[f"urn:uuid:{med['id']}"] = med
            medications[f"Medication/{med['id']}"] = med
        return PatientRecord(
            file=self.name,
            bundle_type=bundle_type,
            patient=patient,
            encounters=encounters,
            conditions=conditions,
            allergies=self.by_type.get("AllergyIntolerance", []),
            medications=medications,
            resource_counts=dict(self.counts),
            unlinked=unlinked,
        )

    def _index(self, entries: list[Any]) -> None:
        seen: set[tuple[str, str]] = set()
        for position, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise self.fail(f"entry {position} is not a JSON object")
            resource = entry.get("resource")
            if resource is None:
                continue  # batch responses, deleted entries: nothing to read
            if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
                raise self.fail(f"entry {position} has no resourceType")
            rtype = resource["resourceType"]
            rid = resource.get("id")
            if not isinstance(rid, str) or not rid:
                raise self.fail(f"entry {position} ({rtype}) has no id")
            if (rtype, rid) in seen:
                raise self.fail(f"{rtype} {rid} appears twice")
            seen.add((rtype, rid))
            self.counts[rtype] += 1
            self.by_type.setdefault(rtype, []).append(resource)
            full_url = entry.get("fullUrl")
            if isinstance(full_url, str) and full_url:
                self.index[full_url] = resource
            self.index[f"{rtype}/{rid}"] = resource

    def _patient(self, resource: Resource) -> PatientInfo:
        birth = parse_date(resource.get("birthDate"))
        deceased_at = parse_instant(resource.get("deceasedDateTime"))
        deceased = deceased_at is not None or resource.get("deceasedBoolean") is True
        multiple: bool | int | None = None
        if isinstance(resource.get("multipleBirthInteger"), int):
            multiple = int(resource["multipleBirthInteger"])
        elif isinstance(resource.get("multipleBirthBoolean"), bool):
            multiple = bool(resource["multipleBirthBoolean"])
        div = resource.get("text", {}).get("div", "") if isinstance(resource.get("text"), dict) else ""
        version = _VERSION_RE.search(div) if isinstance(div, str) else None
        return PatientInfo(
            id=str(resource["id"]),
            sex=_SEX.get(str(resource.get("gender", "")).lower(), "U"),
            birth_date=birth,
            deceased_at=deceased_at,
            deceased=deceased,
            multiple_birth=multiple,
            synthea_version=version.group(1) if version else None,
        )

    def _party(self, ref: Any) -> Party | None:
        """Resolve a provider/organisation/location reference, or fall back to its display (quirk 3)."""
        if not isinstance(ref, dict):
            return None
        target = ref.get("reference")
        display = ref.get("display")
        if isinstance(target, str) and target:
            found = None
            if target.startswith("#"):
                found = None  # contained: local to its resource (quirk 4)
            elif "?" in target:
                found = self.directory.resolve(target)
            elif target in self.index:
                found = party_from_resource(self.index[target], target)
            if found is not None:
                return found if found.name else Party(display, target, True, found.npi, found.specialty)
        if display is None and target is None:
            return None
        return Party(name=display, reference=target if isinstance(target, str) else None, resolved=False)

    def _encounter(self, resource: Resource) -> EncounterRecord:
        raw_period = resource.get("period")
        period: dict[str, Any] = raw_period if isinstance(raw_period, dict) else {}
        start = parse_instant(period.get("start"))
        if start is None:
            raise self.fail(f"Encounter {resource['id']} has no period.start")
        end = parse_instant(period.get("end")) or start
        participants = [p for p in resource.get("participant", []) if isinstance(p, dict) and p.get("individual")]
        primary = next(
            (
                p
                for p in participants
                if any(c.get("code") == "PPRF" for t in p.get("type", []) for c in t.get("coding", []))
            ),
            participants[0] if participants else None,
        )
        locations = resource.get("location") or []
        location_ref = locations[0].get("location") if locations and isinstance(locations[0], dict) else None
        type_coded = first_coding(resource.get("type"))
        return EncounterRecord(
            id=str(resource["id"]),
            resource=resource,
            start=start,
            end=end,
            class_code=(resource.get("class") or {}).get("code"),
            type=type_coded,
            reason=first_coding(resource.get("reasonCode")),
            discharge=_discharge(resource),
            provider=self._party(primary.get("individual")) if primary else None,
            facility=self._party(resource.get("serviceProvider")),
            location=self._party(location_ref),
        )

    def _link(self, by_ref: dict[str, EncounterRecord], patient_refs: frozenset[str]) -> int:
        """Attach every resource that names an encounter to it; count the ones that name none known."""
        unlinked = 0
        for rtype, resources in self.by_type.items():
            if rtype in _NOT_LINKED:
                continue
            for resource in resources:
                ref = _encounter_ref(resource)
                if ref is None:
                    continue
                enc = by_ref.get(ref)
                if enc is None:
                    unlinked += 1
                    continue
                if rtype in _NOTE_TYPES:
                    self._take_note(enc, resource)
                elif rtype == "Observation":
                    _redact_observation(resource)
                _scrub_patient_display(resource, patient_refs)
                enc.linked.setdefault(rtype, []).append(resource)
        return unlinked

    @staticmethod
    def _take_note(enc: EncounterRecord, resource: Resource) -> None:
        """The clinical note: DocumentReference first (US Core), else DiagnosticReport.presentedForm."""
        if resource["resourceType"] == "DocumentReference":
            attachments = [c.get("attachment") for c in resource.get("content", []) if isinstance(c, dict)]
        else:
            attachments = list(resource.get("presentedForm", []))
        for attachment in attachments:
            text = _decode_note(attachment)
            if text and (enc.note is None or resource["resourceType"] == "DocumentReference"):
                enc.note = text
                break
        _strip_note_data(resource)

    def _payers(self, by_ref: dict[str, EncounterRecord]) -> None:
        """Payer display of each encounter's claim (Claim.item.encounter -> Encounter)."""
        for claim in self.by_type.get("Claim", []):
            insurance = claim.get("insurance") or []
            payer = (insurance[0].get("coverage") or {}).get("display") if insurance else None
            for item in claim.get("item", []):
                for ref in item.get("encounter", []) if isinstance(item, dict) else []:
                    enc = by_ref.get(ref.get("reference", "")) if isinstance(ref, dict) else None
                    if enc is not None and enc.payer is None and isinstance(payer, str):
                        enc.payer = payer


# Billing and bookkeeping resources are not part of a chart: a Claim lists the same Conditions as
# SNOMED lines and every EOB diagnosis is typed "principal" (quirk 16); Provenance targets all.
_NOT_LINKED: Final = frozenset(
    {"Patient", "Encounter", "Claim", "ExplanationOfBenefit", "Provenance", "Organization", "Practitioner", "Location"}
)


_TIME_FIELDS: Final = ("onsetDateTime", "effectiveDateTime", "occurrenceDateTime", "authoredOn", "date", "started")


def _chronological(resource: Resource) -> tuple[datetime, str]:
    """Sort key: when the resource happened (its own time field), then its id."""
    when: Any = next((resource[f] for f in _TIME_FIELDS if f in resource), None)
    if when is None:
        period = resource.get("performedPeriod") or resource.get("period")
        when = period.get("start") if isinstance(period, dict) else None
    try:
        moment = parse_instant(when)
    except ValueError:
        moment = None
    return (moment or _EPOCH, str(resource.get("id", "")))


_EPOCH: Final = datetime(1, 1, 1, tzinfo=UTC)


def _encounter_ref(resource: Resource) -> str | None:
    """Where a resource says it was recorded: ``encounter`` or ``context`` (MedicationAdministration,
    DocumentReference.context.encounter[])."""
    enc = resource.get("encounter")
    if isinstance(enc, dict) and isinstance(enc.get("reference"), str):
        return str(enc["reference"])
    ctx = resource.get("context")
    if isinstance(ctx, dict):
        if isinstance(ctx.get("reference"), str):
            return str(ctx["reference"])
        encounters = ctx.get("encounter")
        if isinstance(encounters, list) and encounters and isinstance(encounters[0], dict):
            ref = encounters[0].get("reference")
            return ref if isinstance(ref, str) else None
    return None
