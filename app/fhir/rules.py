"""The documented rules that classify a chart: record type, specialty, difficulty.

Every rule keys on codes (SNOMED CT, HL7 v3 ActCode), never on display text, because Synthea
displays differ across versions and modules for the same code and can be malformed (quirk 13).
Each function returns its answer and a short reason, which the chart keeps in
``payload.rules`` so a manager can see why a chart landed where it did.

Record type (drives CODING-RULES R-SEQ-09 and the MCE age edits):

1. ``newborn`` — the encounter starts within 28 days of the birth date (the neonatal period).
2. ``maternal`` — the patient is female and the encounter is a pregnancy encounter: an
   obstetric encounter type (prenatal, postnatal, obstetric emergency admission), or a
   Condition or Procedure recorded at it from the pregnancy tables below. "History of"
   situations (e.g. past miscarriage) do not count.
3. ``other`` — everything else.

Specialty (first rule that matches wins):

1. ``obstetrics`` — maternal record.        2. ``neonatology`` — newborn record.
3. ``emergency`` — class EMER or an emergency admission type.
4. ``surgery`` — inpatient (IMP) admission to a surgical/orthopaedic department.
5. ``behavioral_health`` — a drug rehabilitation/detox encounter, or a substance-use or anxiety
   disorder recorded at the encounter.
6. ``inpatient_medicine`` — any other inpatient (IMP) encounter.
7. ``urgent_care`` — encounter type "Urgent care clinic" (Encounter.class says only AMB, quirk 15).
8. ``home_health`` — class HH, a home visit, or a domiciliary/rest-home evaluation.
9. ``dental`` — a dental condition or dental procedure recorded at the encounter.
10. ``allergy_immunology`` — an allergy assessment type, or allergy testing/immunotherapy.
11. ``pediatrics`` — patient younger than 18.          12. ``primary_care`` — everything else.

Difficulty, 1 (easiest) to 5: start at 1 and add one point for each of

- 2 or more distinct condition codes recorded at the encounter (diagnoses to code and to
  sequence), and one more for 4 or more;
- 4 or more distinct procedure codes recorded at it;
- an inpatient or emergency encounter (principal-diagnosis selection and sequencing);
- a maternal or newborn record (chapter 15/16 conventions);
- 3 or more other disorders active at the time (comorbidity, CC/MCC considerations);
- the patient did not leave alive (CC exclusions for deaths, cause-of-death documentation);

capped at 5. On the 25 shared bundles: 259 charts at 1, 234 at 2, 115 at 3, 46 at 4, 2 at 5
(Synthea's ambulatory visits are mostly simple).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

NEONATAL_DAYS: Final = 28
ADULT_AGE: Final = 18

# -- code tables (SNOMED CT unless noted) ---------------------------------------------------------

OBSTETRIC_ENCOUNTER_TYPES: Final = frozenset(
    {
        "424619006",  # Prenatal visit
        "424441002",  # Prenatal initial visit
        "169762003",  # Postnatal visit
        "183460006",  # Obstetric emergency hospital admission
    }
)
PREGNANCY_CONDITIONS: Final = frozenset(
    {
        "72892002",  # Normal pregnancy
        "47200007",  # Non-low risk pregnancy
        "398254007",  # Pre-eclampsia
        "198992004",  # Eclampsia in pregnancy
        "11687002",  # Gestational diabetes
        "19169002",  # Miscarriage in first trimester
        "156073000",  # Complete miscarriage
        "79586000",  # Tubal pregnancy
        "267253006",  # Fetus with unknown complication
        "58532003",  # Unwanted pregnancy
    }
)
PREGNANCY_PROCEDURES: Final = frozenset(
    {
        "11466000",  # Cesarean section
        "85548006",  # Episiotomy
        "31208007",  # Medical induction of labor
        "386216000",  # Human parturition, function
        "177184002",  # Normal delivery procedure
        "714812005",  # Induced termination of pregnancy
        "386394001",  # Pregnancy termination care
        "10383002",  # Counseling for termination of pregnancy
        "225158009",  # Auscultation of the fetal heart
        "274804006",  # Evaluation of uterine fundal height
        "169230002",  # Ultrasound scan for fetal viability
        "271442007",  # Fetal anatomy study
        "275833003",  # Alpha-fetoprotein test - antenatal
        "443529005",  # Prenatal aneuploidy detection (FISH)
    }
)
EMERGENCY_TYPES: Final = frozenset({"50849002", "183452005", "183460006"})  # ER / emergency admissions
SURGICAL_ADMISSION_TYPES: Final = frozenset({"305408004", "305428000"})  # surgical / orthopedic dept
REHAB_DETOX_TYPES: Final = frozenset({"56876005"})  # Drug rehabilitation and detoxification
BEHAVIORAL_CONDITIONS: Final = frozenset(
    {
        "5602001",  # Opioid abuse
        "6525002",  # Dependent drug abuse
        "361055000",  # Misuses drugs
        "80583007",  # Severe anxiety (panic)
        "55680006",  # Drug overdose
        "1149222004",  # Overdose
        "7200002",  # Alcoholism
        "370143000",  # Major depressive disorder
        "36923009",  # Major depression, single episode
    }
)
URGENT_CARE_TYPES: Final = frozenset({"702927004"})  # "Urgent care clinic" (environment or procedure)
HOME_TYPES: Final = frozenset({"439708006", "210098006"})  # Home visit; Domiciliary or rest home evaluation
DENTAL_CONDITIONS: Final = frozenset(
    {
        "66383009",  # Gingivitis
        "18718003",  # Gingival disease
        "109570002",  # Primary dental caries
        "80967001",  # Dental caries
        "196416002",  # Impacted molars
        "427898007",  # Infection of tooth
        "37320007",  # Loss of teeth
        "278602001",  # Loose dental filling
        "278598003",  # Leaking dental filling
        "278588009",  # Fractured dental filling
    }
)
DENTAL_PROCEDURES: Final = frozenset(
    {
        "225362009",  # Dental care
        "34043003",  # Dental consultation and report
        "68071007",  # Dental fluoride treatment
        "241046008",  # Dental plain X-ray bitewing
        "81733005",  # Dental surgical procedure
        "274788003",  # Examination of gingivae
        "1260010008",  # Removal of subgingival plaque and calculus
        "1260009003",  # Removal of supragingival plaque and calculus
        "1256042007",  # Restoration of tooth, all cusps
        "1259293006",  # Composite filling after fracture
        "3802001",  # Dental application of desensitizing medicament
        "64544008",  # Gingivectomy or gingivoplasty
        "456191000124101",  # Postoperative care for dental procedure
        "173291009",  # Simple extraction of tooth
        "234745004",  # Take oral or dental impression
        "1269321004",  # Fitting of denture
    }
)
ALLERGY_TYPES: Final = frozenset({"170837001", "170838006"})  # Allergic disorder initial / follow-up assessment
ALLERGY_PROCEDURES: Final = frozenset({"180256009", "395142003"})  # Subcutaneous immunotherapy; allergy screening

# Semantic tags that mark a Condition as something other than a disorder (quirk 12).
NON_DISORDER_TAGS: Final = frozenset({"finding", "situation", "person"})


@dataclass(frozen=True, slots=True)
class Facts:
    """The codes and context a rule looks at, gathered once per encounter."""

    sex: str
    age_years: int | None
    age_days: int | None
    class_code: str | None
    type_code: str | None
    condition_codes: frozenset[str]
    procedure_codes: frozenset[str]
    context_disorders: int
    discharged_alive: bool | None


def record_type(f: Facts) -> tuple[str, str]:
    if f.age_days is not None and 0 <= f.age_days <= NEONATAL_DAYS:
        return "newborn", f"encounter {f.age_days} days after birth (neonatal period <= {NEONATAL_DAYS} days)"
    if f.sex == "F":
        if f.type_code in OBSTETRIC_ENCOUNTER_TYPES:
            return "maternal", f"obstetric encounter type {f.type_code}"
        hit = sorted(f.condition_codes & PREGNANCY_CONDITIONS) or sorted(f.procedure_codes & PREGNANCY_PROCEDURES)
        if hit:
            return "maternal", f"pregnancy code {hit[0]} recorded at the encounter"
    return "other", "not a neonatal or pregnancy encounter"


def specialty(f: Facts, record: str) -> tuple[str, str]:  # noqa: PLR0911 - one return per documented rule
    if record == "maternal":
        return "obstetrics", "maternal record"
    if record == "newborn":
        return "neonatology", "newborn record"
    if f.class_code == "EMER" or f.type_code in EMERGENCY_TYPES:
        return "emergency", f"class {f.class_code}, type {f.type_code}"
    if f.class_code == "IMP" and f.type_code in SURGICAL_ADMISSION_TYPES:
        return "surgery", f"surgical admission type {f.type_code}"
    if f.type_code in REHAB_DETOX_TYPES or f.condition_codes & BEHAVIORAL_CONDITIONS:
        return "behavioral_health", "detox encounter or substance-use/anxiety disorder"
    if f.class_code == "IMP":
        return "inpatient_medicine", "inpatient encounter"
    if f.type_code in URGENT_CARE_TYPES:
        return "urgent_care", f"urgent care encounter type {f.type_code}"
    if f.class_code == "HH" or f.type_code in HOME_TYPES:
        return "home_health", f"class {f.class_code}, type {f.type_code}"
    if f.condition_codes & DENTAL_CONDITIONS or f.procedure_codes & DENTAL_PROCEDURES:
        return "dental", "dental condition or procedure"
    if f.type_code in ALLERGY_TYPES or f.procedure_codes & ALLERGY_PROCEDURES:
        return "allergy_immunology", "allergy assessment or immunotherapy"
    if f.age_years is not None and f.age_years < ADULT_AGE:
        return "pediatrics", f"patient aged {f.age_years}"
    return "primary_care", "ambulatory adult encounter"


def difficulty(f: Facts, record: str) -> tuple[int, list[str]]:
    points: list[str] = []
    if len(f.condition_codes) >= 2:
        points.append(f"{len(f.condition_codes)} conditions to code")
    if len(f.condition_codes) >= 4:
        points.append("4 or more conditions")
    if len(f.procedure_codes) >= 4:
        points.append(f"{len(f.procedure_codes)} procedures")
    if f.class_code in ("IMP", "EMER"):
        points.append(f"{f.class_code} encounter")
    if record in ("maternal", "newborn"):
        points.append(f"{record} record")
    if f.context_disorders >= 3:
        points.append(f"{f.context_disorders} active comorbid disorders")
    if f.discharged_alive is False:
        points.append("patient died")
    return min(5, 1 + len(points)), points
