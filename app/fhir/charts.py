"""Turn a parsed patient bundle into charts: the unit of work a coder codes.

**The chart rule: one chart per Encounter that has at least one Condition or Procedure
recorded at it** (``Condition.encounter`` / ``Procedure.encounter`` names it). Those are the
encounters with something to code: a diagnosis (including findings and situations, which
ICD-10-CM codes as Z codes — quirk 12: the coder decides, nothing is dropped) or a procedure.
Encounters with only observations, immunizations or a death certificate have nothing to code
and give no chart. On the 25 shared bundles this makes 656 charts out of 821 encounters.

A chart carries the patient's age at the encounter (from ``birthDate`` and the encounter's start
date in its own offset), sex, encounter class/type/reason/dates, provider and facility, the
conditions, procedures, observations, medications and immunizations recorded at it, the
patient's other conditions active at its start (context: diagnosed at an earlier or the same
time, onset reached, not yet abated) and allergies known by then, the decoded clinical note,
whether the patient left alive (death date after the encounter end), and the record type,
specialty and difficulty of ``app.fhir.rules``. ``payload.resources`` keeps the raw encounter
resources (patient name removed from references, note bodies decoded once into the note).

Synthea's SNOMED codes are *not* turned into ``chart_codes``: coders enter ICD-10-CM, and no
public SNOMED->ICD-10-CM map may be shipped. The clinical facts stay in the payload for the
coding page.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from app.fhir import rules
from app.fhir.model import Coded, EncounterRecord, PatientRecord, Resource, split_semantic_tag
from app.fhir.parse import first_coding, parse_instant

PAYLOAD_SCHEMA: Final = 1
CODED_TYPES: Final = ("Condition", "Procedure")
# Raw resources kept in payload.resources, in this order.
KEPT_TYPES: Final = (
    "Condition",
    "Procedure",
    "Observation",
    "MedicationRequest",
    "MedicationAdministration",
    "Immunization",
    "DiagnosticReport",
    "DocumentReference",
    "CarePlan",
    "CareTeam",
    "ImagingStudy",
)


@dataclass(frozen=True, slots=True)
class ChartDraft:
    """One row for the ``charts`` table (natural key: organisation + ``source_encounter_id``)."""

    source_patient_id: str
    source_encounter_id: str
    patient_age_years: int | None
    patient_sex: str
    record_type: str
    discharged_alive: bool | None
    encounter_class: str | None
    encounter_type: str | None
    encounter_reason: str | None
    encounter_start: datetime
    encounter_end: datetime
    provider_name: str | None
    facility_name: str | None
    specialty: str
    difficulty: int
    payload: dict[str, Any]
    clinical_note: str | None

    def row(self) -> dict[str, Any]:
        return {
            "source_patient_id": self.source_patient_id,
            "source_encounter_id": self.source_encounter_id,
            "patient_age_years": self.patient_age_years,
            "patient_sex": self.patient_sex,
            "record_type": self.record_type,
            "discharged_alive": self.discharged_alive,
            "encounter_class": self.encounter_class,
            "encounter_type": self.encounter_type,
            "encounter_reason": self.encounter_reason,
            "encounter_start": self.encounter_start.isoformat(),
            "encounter_end": self.encounter_end.isoformat(),
            "provider_name": self.provider_name,
            "facility_name": self.facility_name,
            "specialty": self.specialty,
            "difficulty": self.difficulty,
            "payload": self.payload,
            "clinical_note": self.clinical_note,
        }


def is_chart(enc: EncounterRecord) -> bool:
    """The chart rule (module docstring): something to code was recorded at the encounter."""
    return any(enc.linked.get(t) for t in CODED_TYPES)


def age_on(birth: date | None, day: date) -> tuple[int | None, int | None]:
    """Completed years and days between birth and ``day``; (None, None) without a birth date."""
    if birth is None:
        return None, None
    years = day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
    return max(0, min(130, years)), (day - birth).days


def build_charts(record: PatientRecord) -> list[ChartDraft]:
    """Charts for every encounter that meets the chart rule, in encounter order."""
    context = _active_conditions(record)
    allergies = _allergies_by_time(record)
    charts = []
    for enc in record.encounters:
        if is_chart(enc):
            charts.append(_chart(record, enc, context.get(enc.id, []), allergies(enc.start)))
    return charts


# -- context: conditions active at each encounter, in one sweep -------------------------------------


@dataclass(slots=True)
class _Active:
    since: datetime
    until: datetime | None
    resource: Resource
    recorded_at: str | None


def _active_conditions(record: PatientRecord) -> dict[str, list[_Active]]:
    """For each encounter, the patient's conditions active at its start, recorded elsewhere.

    A condition counts from when it was both diagnosed (its encounter started) and had its
    onset — Synthea's onset can lie up to months after the recording encounter — until its
    abatement. "resolved" without an abatement date is never counted as active later. Sorted
    sweep with a heap of end times: O((encounters + conditions) log n) plus the output.
    """
    items: list[_Active] = []
    for resource, enc in record.conditions:
        onset = parse_instant(resource.get("onsetDateTime")) or parse_instant(resource.get("recordedDate"))
        since = max(onset, enc.start) if onset and enc else (onset or (enc.start if enc else None))
        if since is None:
            continue
        until = parse_instant(resource.get("abatementDateTime"))
        status = first_coding(resource.get("clinicalStatus"))
        if until is None and status is not None and status.code == "resolved":
            continue
        items.append(_Active(since, until, resource, enc.id if enc else None))
    items.sort(key=lambda a: (a.since, str(a.resource.get("id"))))
    active: dict[int, _Active] = {}
    ending: list[tuple[datetime, int]] = []
    result: dict[str, list[_Active]] = {}
    i = 0
    for enc in record.encounters:
        while i < len(items) and items[i].since <= enc.start:
            active[i] = items[i]
            until = items[i].until
            if until is not None:
                heapq.heappush(ending, (until, i))
            i += 1
        while ending and ending[0][0] <= enc.start:
            active.pop(heapq.heappop(ending)[1], None)
        if is_chart(enc):
            result[enc.id] = [a for a in active.values() if a.recorded_at != enc.id]
    return result


def _allergies_by_time(record: PatientRecord) -> Callable[[datetime], list[Resource]]:
    """Allergies recorded by a given time: a sorted list and a bisection, not a scan per encounter."""
    known: list[tuple[datetime, Resource]] = []
    for allergy in record.allergies:
        recorded = parse_instant(allergy.get("recordedDate") or allergy.get("onsetDateTime"))
        if recorded is not None:
            known.append((recorded, allergy))
    known.sort(key=lambda p: (p[0], str(p[1].get("id"))))
    times = [t for t, _ in known]

    def at(moment: datetime) -> list[Resource]:
        return [a for _, a in known[: bisect_right(times, moment)]]

    return at


# -- one chart ------------------------------------------------------------------------------------


def _coded(concept: Any) -> dict[str, Any] | None:
    coded = first_coding(concept)
    return coded.as_json() if coded else None


def _reason(resource: Resource) -> dict[str, Any] | None:
    refs = resource.get("reasonReference")
    if isinstance(refs, list) and refs and isinstance(refs[0], dict):
        ref = str(refs[0].get("reference", ""))
        return {"condition_id": ref.rsplit(":", 1)[-1].rsplit("/", 1)[-1] or None, "display": refs[0].get("display")}
    return _coded(resource.get("reasonCode"))


def _condition_fact(resource: Resource) -> dict[str, Any]:
    code = first_coding(resource.get("code")) or Coded(None, None, None)
    category = first_coding(resource.get("category"))
    status = first_coding(resource.get("clinicalStatus"))
    return {
        "id": resource.get("id"),
        **code.as_json(),
        "kind": code.tag or "unspecified",
        "clinical_status": status.code if status else None,
        "category": category.code if category else None,  # absent in v3.0.0 files (quirk 14)
        "onset": resource.get("onsetDateTime"),
        "abatement": resource.get("abatementDateTime"),
    }


def _procedure_fact(resource: Resource) -> dict[str, Any]:
    raw_period = resource.get("performedPeriod")
    period: dict[str, Any] = raw_period if isinstance(raw_period, dict) else {}
    return {
        "id": resource.get("id"),
        **(_coded(resource.get("code")) or {}),
        "status": resource.get("status"),
        "start": period.get("start") or resource.get("performedDateTime"),
        "end": period.get("end"),
        "reason": _reason(resource),
    }


def _quantity(node: dict[str, Any]) -> tuple[Any, Any]:
    if isinstance(node.get("valueQuantity"), dict):
        return node["valueQuantity"].get("value"), node["valueQuantity"].get("unit")
    if "valueCodeableConcept" in node:
        coded = first_coding(node["valueCodeableConcept"])
        return (coded.display if coded else None), None
    for key in ("valueString", "valueBoolean", "valueInteger", "valueDateTime"):
        if key in node:
            return node[key], None
    return None, None


def _observation_fact(resource: Resource) -> dict[str, Any]:
    code = first_coding(resource.get("code"))
    category = first_coding(resource.get("category"))
    value, unit = _quantity(resource)
    fact: dict[str, Any] = {
        "id": resource.get("id"),
        "code": code.code if code else None,
        "display": code.display if code else None,
        "category": category.code if category else None,
        "value": value,
        "unit": unit,
        "effective": resource.get("effectiveDateTime"),
    }
    components = resource.get("component")
    if isinstance(components, list):
        fact["components"] = [
            {"code": c.code if c else None, "display": c.display if c else None, "value": v, "unit": u}
            for comp in components
            if isinstance(comp, dict)
            for c, (v, u) in [(first_coding(comp.get("code")), _quantity(comp))]
        ]
    return fact


def _medication_fact(resource: Resource, record: PatientRecord) -> dict[str, Any]:
    concept = resource.get("medicationCodeableConcept")
    ref = resource.get("medicationReference")
    if concept is None and isinstance(ref, dict):
        concept = record.medications.get(str(ref.get("reference", "")), {}).get("code")
    kind = "administration" if resource.get("resourceType") == "MedicationAdministration" else "request"
    return {
        "id": resource.get("id"),
        "kind": kind,
        **(_coded(concept) or {}),
        "status": resource.get("status"),
        "date": resource.get("authoredOn") or resource.get("effectiveDateTime"),
        "reason": _reason(resource),
    }


def _immunization_fact(resource: Resource) -> dict[str, Any]:
    return {
        "id": resource.get("id"),
        **(_coded(resource.get("vaccineCode")) or {}),
        "date": resource.get("occurrenceDateTime"),
    }


def _codes(resources: list[Resource]) -> frozenset[str]:
    return frozenset(c.code for r in resources if (c := first_coding(r.get("code"))) is not None and c.code)


def _is_disorder(resource: Resource) -> bool:
    coded = first_coding(resource.get("code"))
    return coded is not None and split_semantic_tag(coded.display)[1] not in rules.NON_DISORDER_TAGS


def _chart(
    record: PatientRecord, enc: EncounterRecord, context: list[_Active], allergies: list[Resource]
) -> ChartDraft:
    patient = record.patient
    age_years, age_days = age_on(patient.birth_date, enc.start.date())
    if patient.deceased_at is not None:
        alive: bool | None = enc.end < patient.deceased_at
    else:
        alive = None if patient.deceased else True
    conditions = enc.recorded("Condition")
    procedures = enc.recorded("Procedure")
    facts = rules.Facts(
        sex=patient.sex,
        age_years=age_years,
        age_days=age_days,
        class_code=enc.class_code,
        type_code=enc.type.code if enc.type else None,
        condition_codes=_codes(conditions),
        procedure_codes=_codes(procedures),
        context_disorders=sum(1 for a in context if _is_disorder(a.resource)),
        discharged_alive=alive,
    )
    record_type, record_reason = rules.record_type(facts)
    specialty, specialty_reason = rules.specialty(facts, record_type)
    difficulty, points = rules.difficulty(facts, record_type)
    medications = [*enc.recorded("MedicationRequest"), *enc.recorded("MedicationAdministration")]
    payload: dict[str, Any] = {
        "schema": PAYLOAD_SCHEMA,
        "source": {"bundle_type": record.bundle_type, "synthea_version": patient.synthea_version},
        "patient": {
            "id": patient.id,
            "sex": patient.sex,
            "age_years": age_years,
            "age_days": age_days,
            "deceased": patient.deceased,
            "multiple_birth": patient.multiple_birth,
        },
        "encounter": {
            "id": enc.id,
            "class": enc.class_code,
            "type": enc.type.as_json() if enc.type else None,
            "reason": enc.reason.as_json() if enc.reason else None,
            "start": enc.start.isoformat(),
            "end": enc.end.isoformat(),
            "discharge": enc.discharge.as_json() if enc.discharge else None,
            "provider": enc.provider.as_json() if enc.provider else None,
            "facility": enc.facility.as_json() if enc.facility else None,
            "location": enc.location.as_json() if enc.location else None,
            "payer": enc.payer,
        },
        "conditions": [_condition_fact(r) for r in conditions],
        "procedures": [_procedure_fact(r) for r in procedures],
        "observations": [_observation_fact(r) for r in enc.recorded("Observation")],
        "medications": [_medication_fact(r, record) for r in medications],
        "immunizations": [_immunization_fact(r) for r in enc.recorded("Immunization")],
        "context": {
            "conditions": [{**_condition_fact(a.resource), "recorded_at": a.recorded_at} for a in context],
            "allergies": [{"id": a.get("id"), **(_coded(a.get("code")) or {})} for a in allergies],
        },
        "rules": {
            "record_type": record_reason,
            "specialty": specialty_reason,
            "difficulty": points,
        },
        "resources": {"Encounter": enc.resource, **{t: enc.linked[t] for t in KEPT_TYPES if t in enc.linked}},
    }
    return ChartDraft(
        source_patient_id=patient.id,
        source_encounter_id=enc.id,
        patient_age_years=age_years,
        patient_sex=patient.sex,
        record_type=record_type,
        discharged_alive=alive,
        encounter_class=enc.class_code,
        encounter_type=enc.type.text if enc.type else None,
        encounter_reason=enc.reason.text if enc.reason else None,
        encounter_start=enc.start,
        encounter_end=enc.end,
        provider_name=enc.provider.name if enc.provider else None,
        facility_name=enc.facility.name if enc.facility else None,
        specialty=specialty,
        difficulty=difficulty,
        payload=payload,
        clinical_note=enc.note,
    )
