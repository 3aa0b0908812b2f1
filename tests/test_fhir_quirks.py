"""The Synthea FHIR parser and chart builder, one test per quirk of ``shared/synthea/README.md``.

Pure: no database (``test_imports.py`` covers the writes). Every input is a real Synthea bundle
from ``app/demo_data/synthea`` or a variant edited from one (``tests/synthea_data.py``). Test
names carry the quirk number and name from the README.
"""

from __future__ import annotations

import base64
import gc
import itertools
import re
import time
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from app.fhir import rules
from app.fhir.charts import build_charts
from app.fhir.model import BundleError, NotPatientBundle, split_semantic_tag
from app.fhir.parse import parse_bundle, parse_instant
from app.fhir.providers import build_directory
from app.fhir.sources import SourceSet
from tests.synthea_data import PROVIDER_FILES, doc, dump, expected_charts, raw, renumber, resources


def _directory() -> Any:
    return build_directory({p.name: p.read_bytes() for p in PROVIDER_FILES})


def _charts(data: bytes, name: str = "bundle.json", *, directory: Any = None) -> list[Any]:
    return build_charts(parse_bundle(data, name=name, directory=directory))


def _by_encounter(charts: list[Any]) -> dict[str, Any]:
    return {c.source_encounter_id: c for c in charts}


# -- 1. two bundle types ---------------------------------------------------------------------------


@pytest.mark.slow
def test_quirk01_two_bundle_types_transaction_and_collection() -> None:
    transaction = parse_bundle(raw("Tama137"), name="t.json")
    collection = parse_bundle(raw("Harry448"), name="c.json")
    assert (transaction.bundle_type, collection.bundle_type) == ("transaction", "collection")
    assert all("request" in e for e in doc("Tama137")["entry"])
    assert not any("request" in e for e in doc("Harry448")["entry"])
    assert len(build_charts(transaction)) == expected_charts(raw("Tama137")) == 21
    assert len(build_charts(collection)) == expected_charts(raw("Harry448")) == 25
    # entry.request is never read: dropping it changes nothing.
    stripped = doc("Tama137")
    for entry in stripped["entry"]:
        entry.pop("request")
    stripped["type"] = "collection"
    assert [c.row() for c in _charts(dump(stripped))] == [
        {**c.row(), "payload": {**c.payload, "source": {**c.payload["source"], "bundle_type": "collection"}}}
        for c in build_charts(transaction)
    ]


# -- 2. urn:uuid references ------------------------------------------------------------------------


def test_quirk02_urn_uuid_references_resolve_through_full_url() -> None:
    record = parse_bundle(raw("Conchita9"), name="c.json")
    assert record.unlinked == 0
    linked = sum(len(e.recorded("Condition")) + len(e.recorded("Procedure")) for e in record.encounters)
    bundle = doc("Conchita9")
    assert linked == len(resources(bundle, "Condition")) + len(resources(bundle, "Procedure"))
    # Type/id references (other producers) resolve too; an unknown encounter is counted, not fatal.
    for entry in bundle["entry"]:
        enc = entry["resource"].get("encounter")
        if isinstance(enc, dict):
            enc["reference"] = enc["reference"].replace("urn:uuid:", "Encounter/")
    resources(bundle, "Condition")[0]["encounter"]["reference"] = "urn:uuid:no-such-encounter"
    relinked = parse_bundle(dump(bundle), name="c.json")
    assert relinked.unlinked == 1
    assert sum(len(e.recorded("Condition")) for e in relinked.encounters) == len(resources(bundle, "Condition")) - 1


# -- 3. conditional provider references ------------------------------------------------------------


def test_quirk03_conditional_provider_references_resolved_from_provider_files() -> None:
    chart = _charts(raw("Conchita9"), directory=_directory())[0]
    provider = chart.payload["encounter"]["provider"]
    assert provider["resolved"] is True
    assert provider["npi"]
    assert provider["npi"].startswith("9999")
    assert provider["specialty"] == "General Practice Physician"  # from PractitionerRole
    facility = chart.payload["encounter"]["facility"]
    assert facility["resolved"] is True
    assert facility["state"] == "MA"
    assert chart.provider_name == provider["name"]


def test_quirk03_without_provider_files_the_display_is_used() -> None:
    bundle = doc("Conchita9")
    first = resources(bundle, "Encounter")[0]
    chart = _by_encounter(_charts(dump(bundle)))[first["id"]]
    assert chart.payload["encounter"]["provider"]["resolved"] is False
    assert chart.provider_name == first["participant"][0]["individual"]["display"]
    assert chart.facility_name == first["serviceProvider"]["display"]
    # With the directory, a reference without display still gets its name.
    del first["participant"][0]["individual"]["display"]
    resolved = _by_encounter(_charts(dump(bundle), directory=_directory()))[first["id"]]
    assert resolved.provider_name
    assert resolved.provider_name.startswith("Dr. ")


@pytest.mark.slow
def test_quirk03_v3_inline_organization_and_practitioner_by_urn_uuid() -> None:
    bundle = doc("Harry448")
    assert resources(bundle, "Practitioner")
    assert resources(bundle, "Organization")
    chart = _charts(raw("Harry448"))[0]  # no provider files: everything is inline
    assert chart.payload["encounter"]["provider"]["resolved"] is True
    assert chart.payload["encounter"]["facility"]["resolved"] is True
    assert chart.payload["encounter"]["provider"]["npi"]


# -- 4. EOB contained resources and local references -----------------------------------------------


def test_quirk04_eob_contained_and_local_references_are_not_looked_up() -> None:
    bundle = doc("Conchita9")
    eob = resources(bundle, "ExplanationOfBenefit")[0]
    assert {c["id"] for c in eob["contained"]} == {"referral", "coverage"}
    first = resources(bundle, "Encounter")[0]
    # A local reference never resolves against the bundle, even to a resource that has that id.
    first["serviceProvider"] = {"reference": "#coverage", "display": "Contained Clinic"}
    chart = _by_encounter(_charts(dump(bundle)))[first["id"]]
    assert chart.facility_name == "Contained Clinic"
    assert chart.payload["encounter"]["facility"]["resolved"] is False
    # Payer comes from the claim's display-only coverage; billing resources are not chart resources.
    assert chart.payload["encounter"]["payer"] == resources(bundle, "Claim")[0]["insurance"][0]["coverage"]["display"]
    assert not {"Claim", "ExplanationOfBenefit"} & set(chart.payload["resources"])


# -- 5. non-patient files in a Synthea output folder -----------------------------------------------


def test_quirk05_provider_and_metadata_files_are_not_patient_bundles() -> None:
    for path in PROVIDER_FILES:
        with pytest.raises(NotPatientBundle, match="batch bundle without a Patient"):
            parse_bundle(path.read_bytes(), name=path.name)
    metadata = dump({"runID": "0295022d", "seed": 1758306633125, "version": "3a65f56\n"})
    with pytest.raises(NotPatientBundle, match="run metadata"):
        parse_bundle(metadata, name="metadata/2025_09_19T18_30_33Z.json")
    with pytest.raises(BundleError, match="not a FHIR Bundle"):
        parse_bundle(dump({"resourceType": "Patient", "id": "x"}), name="patient.json")


def test_quirk05_folder_lists_only_json_and_zip_inputs(tmp_path: Path) -> None:
    (tmp_path / "fhir").mkdir()
    (tmp_path / "fhir" / "metadata").mkdir()
    (tmp_path / "fhir" / "b.json").write_bytes(b"{}")
    (tmp_path / "fhir" / "a.json").write_bytes(b"{}")
    (tmp_path / "fhir" / "metadata" / "run.json").write_bytes(b"{}")
    (tmp_path / "fhir" / "SOURCES.md").write_text("not an input")
    (tmp_path / "fhir" / ".hidden.json").write_bytes(b"{}")
    with SourceSet([tmp_path / "fhir"]) as sources:
        assert [s.name for s in sources] == ["fhir/a.json", "fhir/b.json", "fhir/metadata/run.json"]


# -- 6. file names ---------------------------------------------------------------------------------


def test_quirk06_file_names_are_never_parsed_for_the_patient(tmp_path: Path) -> None:
    patient = resources(doc("Conchita9"), "Patient")[0]
    names = [
        "D'Amore443_Ñandú12_0580b365-60f4-faeb-30d1-7107ebd06450.json",  # apostrophe, ñ, ú
        "0580b365-60f4-faeb-30d1-7107ebd06450.json",  # exporter.use_uuid_filenames
        "Someone9_Else8_6b01025b-43b4-a9e4-525b-872995031987.json",  # names another patient
    ]
    for name in names:
        (tmp_path / name).write_bytes(raw("Conchita9"))
    with SourceSet([tmp_path]) as sources:
        for src in sources:
            record = parse_bundle(src.read(), name=src.name)
            assert record.patient.id == patient["id"]
            assert record.file == src.name
    assert {s.name for s in SourceSet([tmp_path])} == {f"{tmp_path.name}/{n}" for n in names}


# -- 7. digits appended to names -------------------------------------------------------------------


def test_quirk07_names_with_digits_are_kept_as_given_and_never_relied_on() -> None:
    bundle = doc("Conchita9")
    first = resources(bundle, "Encounter")[0]
    display = first["participant"][0]["individual"]["display"]
    assert any(ch.isdigit() for ch in display)
    with_digits = _by_encounter(_charts(dump(bundle)))[first["id"]]
    assert with_digits.provider_name == display  # kept verbatim, digits included
    # A run with generate.append_numbers_to_person_names=false: same charts, same keys.
    for entry in bundle["entry"]:
        for name in entry["resource"].get("name", []) if isinstance(entry["resource"].get("name"), list) else []:
            name["given"] = ["".join(c for c in g if not c.isdigit()) for g in name.get("given", [])]
            name["family"] = "".join(c for c in name.get("family", "") if not c.isdigit())
    first["participant"][0]["individual"]["display"] = "".join(c for c in display if not c.isdigit())
    without = _by_encounter(_charts(dump(bundle)))[first["id"]]
    assert without.provider_name == "".join(c for c in display if not c.isdigit())
    assert (without.source_patient_id, without.patient_age_years, without.specialty, without.difficulty) == (
        with_digits.source_patient_id,
        with_digits.patient_age_years,
        with_digits.specialty,
        with_digits.difficulty,
    )


def test_patient_name_and_identifiers_are_not_copied_into_charts() -> None:
    patient = resources(doc("Tama137"), "Patient")[0]
    family = patient["name"][0]["family"]
    ssn = next(i["value"] for i in patient["identifier"] if i["value"].startswith("999-"))
    for chart in _charts(raw("Tama137")):
        payload = orjson.dumps(chart.payload).decode()
        assert family not in payload  # Encounter.subject.display, CareTeam members: removed
        assert ssn not in payload
        assert patient["address"][0]["line"][0] not in payload


# -- 8. timestamps with the generating machine's offset --------------------------------------------


@pytest.mark.parametrize(
    ("value", "utc"),
    [
        ("2014-12-03T21:43:13+00:00", datetime(2014, 12, 3, 21, 43, 13, tzinfo=UTC)),
        ("1944-08-12T17:43:59+10:00", datetime(1944, 8, 12, 7, 43, 59, tzinfo=UTC)),
        ("2022-05-23T09:41:12.831+05:30", datetime(2022, 5, 23, 4, 11, 12, 831000, tzinfo=UTC)),
        ("2021-03-01T08:00:00-05:00", datetime(2021, 3, 1, 13, 0, tzinfo=UTC)),
        ("2021-07-01T08:00:00-04:00", datetime(2021, 7, 1, 12, 0, tzinfo=UTC)),
        ("2021-07-01T08:00:00Z", datetime(2021, 7, 1, 8, 0, tzinfo=UTC)),
        ("2014-01-03", datetime(2014, 1, 3, tzinfo=UTC)),
    ],
)
def test_quirk08_timestamps_parse_timezone_aware(value: str, utc: datetime) -> None:
    parsed = parse_instant(value)
    assert parsed is not None
    assert parsed.tzinfo is not None
    assert parsed == utc


def test_quirk08_age_uses_the_encounter_local_date_and_plain_birth_date() -> None:
    bundle = doc("Conchita9")
    patient = resources(bundle, "Patient")[0]
    patient["birthDate"] = "2000-05-24"
    first = resources(bundle, "Encounter")[0]
    # 23:30 on 23 May in UTC-5 is already 24 May in UTC: the patient is still 17 locally.
    first["period"] = {"start": "2018-05-23T23:30:00.125-05:00", "end": "2018-05-23T23:45:00-05:00"}
    chart = _by_encounter(_charts(dump(bundle)))[first["id"]]
    assert chart.encounter_start == datetime(2018, 5, 24, 4, 30, 0, 125000, tzinfo=UTC)
    assert chart.encounter_start.utcoffset() == timedelta(hours=-5)
    assert chart.patient_age_years == 17
    assert parse_bundle(dump(bundle), name="x").patient.birth_date == date(2000, 5, 24)


# -- 9. encounters out of file order ---------------------------------------------------------------


def test_quirk09_encounters_sorted_by_period_start() -> None:
    bundle = doc("Tuyet839")
    starts = [parse_instant(e["period"]["start"]) for e in resources(bundle, "Encounter")]
    assert any(b < a for a, b in itertools.pairwise(starts)), "the sample is out of order"
    record = parse_bundle(dump(bundle), name="t.json")
    assert [e.start for e in record.encounters] == sorted(e.start for e in record.encounters)
    # File order does not matter at all: reversed entries give identical charts.
    reversed_bundle = {**bundle, "entry": list(reversed(bundle["entry"]))}
    assert [c.row() for c in _charts(dump(reversed_bundle))] == [c.row() for c in build_charts(record)]


# -- 10. years_of_history --------------------------------------------------------------------------


def test_quirk10_old_encounters_kept_by_years_of_history_are_charts_too() -> None:
    charts = _charts(raw("Rodney21"))
    first, second = charts[0], charts[1]
    assert first.encounter_start.year == 2010
    assert (second.encounter_start - first.encounter_start).days > 3 * 365  # irregular history
    assert first.patient_age_years == 18
    assert len(charts) == expected_charts(raw("Rodney21"))


# -- 11. future dates ------------------------------------------------------------------------------


def test_quirk11_future_dates_elsewhere_are_not_judged() -> None:
    bundle = doc("Conchita9")
    future = (datetime.now(UTC) + timedelta(days=3650)).isoformat()
    bundle["entry"].append(
        {
            "fullUrl": "urn:uuid:dev-1",
            "resource": {"resourceType": "Device", "id": "dev-1", "expirationDate": "2050-07-12T21:43:13+00:00"},
        }
    )
    for eob in resources(bundle, "ExplanationOfBenefit"):
        eob["billablePeriod"]["end"] = future
    charts = _charts(dump(bundle))
    assert len(charts) == expected_charts(raw("Conchita9"))
    now = datetime.now(UTC)
    for chart in charts:
        assert chart.encounter_end <= now
        assert "2050" not in orjson.dumps(chart.payload).decode()


# -- 12. conditions that are not diseases ----------------------------------------------------------


def test_quirk12_findings_and_situations_are_kept_for_the_coder() -> None:
    charts = _charts(raw("Conchita9"))
    only_situation = [c for c in charts if [x["kind"] for x in c.payload["conditions"]] == ["situation"]]
    assert only_situation, "a chart whose only condition is 'Medication review due (situation)'"
    assert only_situation[0].payload["conditions"][0]["text"] == "Medication review due"
    kinds = {x["kind"] for c in _charts(raw("Rodney21")) for x in c.payload["conditions"]}
    assert {"finding", "disorder"} <= kinds


# -- 13. semantic tags, inconsistent and malformed displays ----------------------------------------


@pytest.mark.parametrize(
    ("display", "text", "tag"),
    [
        ("Gingivitis (disorder)", "Gingivitis", "disorder"),
        ("Severe anxiety (panic) (finding", "Severe anxiety (panic)", "finding"),
        ("Severe anxiety (panic)", "Severe anxiety (panic)", None),
        ("Sprain (morphologic abnormality)", "Sprain", "morphologic abnormality"),
        ("Prenatal visit (regime/therapy)", "Prenatal visit", "regime/therapy"),
        ("Encounter for 'check-up'", "Encounter for 'check-up'", None),
        ("Hyperlipidemia", "Hyperlipidemia", None),
    ],
)
def test_quirk13_semantic_tags_split_from_displays(display: str, text: str, tag: str | None) -> None:
    assert split_semantic_tag(display) == (text, tag)


@pytest.mark.slow
def test_quirk13_malformed_display_in_a_real_bundle() -> None:
    conditions = [x for c in _charts(raw("Harry448")) for x in c.payload["conditions"]]
    panic = [x for x in conditions if x["code"] == "80583007"]
    assert panic
    assert panic[0]["display"] == "Severe anxiety (panic) (finding"
    assert (panic[0]["text"], panic[0]["kind"]) == ("Severe anxiety (panic)", "finding")


def test_quirk13_rules_key_on_codes_not_displays() -> None:
    bundle = doc("Tama137")
    baseline = _charts(dump(bundle))
    for entry in bundle["entry"]:
        resource = entry["resource"]
        for field in ("type", "code", "reasonCode"):
            concept = resource.get(field)
            for c in concept if isinstance(concept, list) else [concept]:
                for coding in c.get("coding", []) if isinstance(c, dict) else []:
                    coding["display"] = "Something else entirely (finding"
    scrambled = _charts(dump(bundle))
    assert [(c.record_type, c.specialty, c.difficulty) for c in scrambled] == [
        (c.record_type, c.specialty, c.difficulty) for c in baseline
    ]
    assert {c.record_type for c in baseline} == {"maternal", "other"}


# -- 14. clinical status and category --------------------------------------------------------------


@pytest.mark.slow
def test_quirk14_status_and_category_context_follows_abatement() -> None:
    v3 = [x for c in _charts(raw("Harry448")) for x in c.payload["conditions"]]
    assert {x["category"] for x in v3} == {None}  # no category in v3.0.0
    assert {x["clinical_status"] for x in v3} <= {"active", "resolved"}
    record = parse_bundle(raw("Harry448"), name="h.json")
    for chart in build_charts(record):
        start = chart.encounter_start
        for ctx in chart.payload["context"]["conditions"]:
            assert ctx["recorded_at"] != chart.source_encounter_id
            assert parse_instant(ctx["onset"]) <= start  # type: ignore[operator]
            abatement = parse_instant(ctx["abatement"])
            assert abatement is None or abatement > start
            assert ctx["clinical_status"] == "active" or abatement is not None
    # A chronic condition recorded once shows up as context at later visits.
    assert sum(len(c.payload["context"]["conditions"]) for c in build_charts(record)) > 0


@pytest.mark.slow
def test_quirk14_resolved_without_abatement_is_not_active_later() -> None:
    bundle = doc("Harry448")
    first_condition = resources(bundle, "Condition")[0]
    first_condition.pop("abatementDateTime", None)
    first_condition["clinicalStatus"]["coding"][0]["code"] = "resolved"
    charts = _charts(dump(bundle))
    assert all(ctx["id"] != first_condition["id"] for c in charts for ctx in c.payload["context"]["conditions"])


# -- 15. odd encounter types; class loses detail ---------------------------------------------------


def _facts(**kw: Any) -> rules.Facts:
    base: dict[str, Any] = {
        "sex": "M",
        "age_years": 40,
        "age_days": 40 * 365,
        "class_code": "AMB",
        "type_code": "185349003",
        "condition_codes": frozenset(),
        "procedure_codes": frozenset(),
        "context_disorders": 0,
        "discharged_alive": True,
    }
    return rules.Facts(**(base | kw))


def test_quirk15_odd_encounter_types_and_class_only_amb() -> None:
    stroke = _facts(class_code="EMER", type_code="230690007")  # "Stroke" as an encounter type
    assert rules.specialty(stroke, "other")[0] == "emergency"
    urgent = _facts(class_code="AMB", type_code="702927004")  # urgent care: only the type says so
    assert rules.specialty(urgent, "other")[0] == "urgent_care"
    assert rules.specialty(_facts(), "other")[0] == "primary_care"
    assert rules.specialty(_facts(age_years=9), "other")[0] == "pediatrics"
    types = {c.payload["encounter"]["type"]["code"] for c in _charts(raw("Rodney21"))}
    assert types  # every chart keeps its encounter type code


# -- 16. claims --------------------------------------------------------------------------------------


def test_quirk16_claims_are_not_a_source_of_diagnoses() -> None:
    bundle = doc("Tama137")
    claims = resources(bundle, "Claim")
    assert len(claims) == len(resources(bundle, "Encounter")) + len(resources(bundle, "MedicationRequest"))
    charts = _charts(dump(bundle))
    conditions = sum(len(c.payload["conditions"]) for c in charts)
    assert conditions == len(resources(bundle, "Condition"))  # not the claim's SNOMED lines
    payloads = orjson.dumps([c.payload for c in charts]).decode()
    assert "principal" not in payloads  # the EOB "principal" diagnosis type is not carried over


# -- 17. v3.0.0 vs 2025 differences ----------------------------------------------------------------


@pytest.mark.slow
def test_quirk17_version_differences_discharge_code_and_notes() -> None:
    old, new = doc("Harry448"), doc("Tama137")
    for bundle, code in ((old, "1"), (new, "01")):
        enc = next(
            e
            for e in resources(bundle, "Encounter")
            if e["id"] in {c.source_encounter_id for c in _charts(dump(bundle))}
        )
        enc["hospitalization"] = {
            "dischargeDisposition": {"coding": [{"system": "http://www.nubc.org/patient-discharge", "code": code}]}
        }
        chart = _by_encounter(_charts(dump(bundle)))[enc["id"]]
        assert chart.payload["encounter"]["discharge"]["code"] == "01"
    assert all(c.clinical_note is None for c in _charts(raw("Harry448")))  # v3.0.0: no notes
    assert parse_bundle(raw("Harry448"), name="h").patient.synthea_version == "v3.0.0"
    assert parse_bundle(raw("Tama137"), name="t").patient.synthea_version == "3a65f56"


def test_clinical_note_is_decoded_from_the_document_reference() -> None:
    bundle = doc("Tama137")
    note_doc = resources(bundle, "DocumentReference")[0]
    expected = base64.b64decode(note_doc["content"][0]["attachment"]["data"]).decode()
    encounter_id = note_doc["context"]["encounter"][0]["reference"].removeprefix("urn:uuid:")
    chart = _by_encounter(_charts(dump(bundle))).get(encounter_id)
    if chart is None:  # that encounter had nothing to code; any chart's note is decoded the same way
        chart = _charts(dump(bundle))[0]
    else:
        assert chart.clinical_note == expected
    assert chart.clinical_note
    assert chart.clinical_note.lstrip().startswith(str(chart.encounter_start.year))
    assert "# Assessment and Plan" in chart.clinical_note
    # Stored once: the base64 bodies are gone from the kept resources.
    assert '"data"' not in orjson.dumps(chart.payload["resources"]).decode()


# -- 18. sizes: no quadratic work --------------------------------------------------------------------


def _scaled(copies: int) -> bytes:
    """One patient with Conchita9's history repeated ``copies`` times, a year apart, fresh ids.

    Each Condition abates after 30 days, so the conditions active at any encounter stay as few as
    in a real record: the chart context (which lists them) is then output of constant size per
    chart, and any growth beyond linear comes from the parser and builder themselves.
    """
    bundle = doc("Conchita9")
    for condition in resources(bundle, "Condition"):
        onset = parse_instant(condition["onsetDateTime"])
        assert onset is not None
        condition["abatementDateTime"] = (onset + timedelta(days=30)).isoformat()
    patient, rest = bundle["entry"][0], dump(bundle["entry"][1:])
    entries = [patient]
    for n in range(copies):
        shifted = _YEAR.sub(lambda m, n=n: b'"%d-' % (int(m[1]) + n) + m[2], renumber(rest, n + 1))
        entries.extend(orjson.loads(shifted))
    return dump({**bundle, "entry": entries})


_YEAR = re.compile(rb'"(\d{4})-(\d\d-\d\dT)')


@pytest.mark.slow
def test_quirk18_big_bundles_cost_linear_time() -> None:
    small, big = _scaled(10), _scaled(40)

    def best_of_three(data: bytes) -> float:
        times = []
        for _ in range(3):
            gc.collect()
            gc.disable()  # a collection landing in one run but not another is noise, not complexity
            try:
                started = time.perf_counter()
                build_charts(parse_bundle(data, name="big.json"))
                times.append(time.perf_counter() - started)
            finally:
                gc.enable()
        return min(times)

    charts = build_charts(parse_bundle(big, name="big.json"))
    assert len(charts) == 40 * expected_charts(raw("Conchita9"))
    assert max(len(c.payload["context"]["conditions"]) for c in charts) <= 3
    ratio = best_of_three(big) / best_of_three(small)
    # Four times the input: ~4x when linear, ~16x when quadratic.
    assert ratio < 8, f"4x the encounters took {ratio:.1f}x the time"


# -- 19. multipleBirthInteger ------------------------------------------------------------------------


def test_quirk19_multiple_birth_integer_replaces_boolean() -> None:
    bundle = doc("Conchita9")
    patient = resources(bundle, "Patient")[0]
    assert patient.pop("multipleBirthBoolean") is False
    patient["multipleBirthInteger"] = 3
    charts = _charts(dump(bundle))
    assert parse_bundle(dump(bundle), name="x").patient.multiple_birth == 3
    assert {c.payload["patient"]["multiple_birth"] for c in charts} == {3}
    assert len(charts) == expected_charts(raw("Conchita9"))


# -- the deceased patient ----------------------------------------------------------------------------


@pytest.mark.slow
def test_deceased_patient_alive_at_every_charted_discharge() -> None:
    record = parse_bundle(raw("Yang129"), name="y.json")
    death = record.patient.deceased_at
    assert death == datetime(2014, 1, 3, 5, 43, 59, tzinfo=timezone(timedelta(hours=10)))
    charts = build_charts(record)
    assert charts
    assert all(c.discharged_alive is True and c.encounter_end < death for c in charts)
    # The fatal ER visit and the death certification (after death) have nothing coded: no chart.
    after = [e for e in record.encounters if e.end >= death]
    assert [e.type.code for e in after if e.type] == ["50849002", "308646001"]
    assert not {e.id for e in after} & {c.source_encounter_id for c in charts}


@pytest.mark.slow
def test_deceased_patient_not_alive_when_a_diagnosis_is_recorded_at_the_fatal_visit() -> None:
    bundle = doc("Yang129")
    fatal = next(e for e in resources(bundle, "Encounter") if e["period"]["start"].startswith("2014-01-03"))
    overdose = next(c for c in resources(bundle, "Condition") if c["code"]["coding"][0]["code"] == "55680006")
    overdose["encounter"]["reference"] = f"urn:uuid:{fatal['id']}"
    chart = _by_encounter(_charts(dump(bundle)))[fatal["id"]]
    assert chart.discharged_alive is False
    assert chart.specialty == "emergency"
    assert "patient died" in chart.payload["rules"]["difficulty"]
    # deceasedBoolean without a date: unknown, not alive.
    patient = resources(bundle, "Patient")[0]
    patient.pop("deceasedDateTime")
    patient["deceasedBoolean"] = True
    assert {c.discharged_alive for c in _charts(dump(bundle))} == {None}


# -- record type, specialty, difficulty (documented rules) ------------------------------------------


def test_record_types_newborn_and_maternal() -> None:
    newborn = _charts(raw("Conchita9"))[0]
    assert (newborn.record_type, newborn.specialty, newborn.patient_age_years) == ("newborn", "neonatology", 0)
    maternal = [c for c in _charts(raw("Tama137")) if c.record_type == "maternal"]
    assert maternal
    assert all(c.specialty == "obstetrics" and c.patient_sex == "F" for c in maternal)
    male_prenatal = _facts(sex="M", type_code="424619006")
    assert rules.record_type(male_prenatal)[0] == "other"


def test_difficulty_rule_points_and_cap() -> None:
    easy = _facts()
    assert rules.difficulty(easy, "other") == (1, [])
    hard = _facts(
        class_code="IMP",
        condition_codes=frozenset({"1", "2", "3", "4"}),
        procedure_codes=frozenset({"a", "b", "c", "d"}),
        context_disorders=5,
        discharged_alive=False,
    )
    score, points = rules.difficulty(hard, "maternal")
    assert score == 5
    assert len(points) == 7
    for chart in _charts(raw("Tama137")):
        assert 1 <= chart.difficulty <= 5
        assert chart.difficulty == min(5, 1 + len(chart.payload["rules"]["difficulty"]))


def test_chart_rule_only_encounters_with_a_condition_or_procedure() -> None:
    record = parse_bundle(raw("Tuyet839"), name="t.json")
    charts = build_charts(record)
    assert len(record.encounters) == 12
    assert len(charts) == 3 == expected_charts(raw("Tuyet839"))
    for enc in record.encounters:
        has_code = bool(enc.recorded("Condition") or enc.recorded("Procedure"))
        assert has_code == (enc.id in {c.source_encounter_id for c in charts})


def test_bad_json_and_structure_raise_bundle_error_naming_the_file() -> None:
    with pytest.raises(BundleError, match=r"^broken\.json: not valid JSON") as info:
        parse_bundle(raw("Conchita9")[:5000], name="broken.json")
    assert info.value.file == "broken.json"
    two = doc("Conchita9")
    two["entry"].append({"resource": {**resources(two, "Patient")[0], "id": "other"}})
    with pytest.raises(BundleError, match="2 Patient resources"):
        parse_bundle(dump(two), name="two.json")
    no_start = doc("Conchita9")
    resources(no_start, "Encounter")[0]["period"] = {}
    with pytest.raises(BundleError, match=r"no period\.start"):
        parse_bundle(dump(no_start), name="x.json")
    with pytest.raises(BundleError, match="malformed FHIR content"):
        parse_bundle(
            dump(
                {
                    "resourceType": "Bundle",
                    "entry": [{"resource": {"resourceType": "Patient", "id": "p", "birthDate": "nope"}}],
                }
            ),
            name="y.json",
        )
