"""The pinned JSON shape of `smartcoders validate` and `POST /api/v1/validate`, read at the boundary.

Input:  {"id": any, "age": 70, "sex": "F", "discharge_date": "2026-05-01",
         "diagnoses": [{"code": "J18.9", "principal": true, "override_rationale": "…"}, …],
         "procedures": [{"code": "0DTJ4ZZ"}], "record_type": "maternal|newborn|other",
         "discharged_alive": true}
Every problem is collected (not just the first) and named by its field path, e.g.
`diagnoses[2].code`, so a batch user can fix a line in one go.
"""

from __future__ import annotations

from datetime import date
from typing import Any, cast

from app.codesets.types import Sex
from app.validation.model import ChartInput, DiagnosisRow, ProcedureRow, ProcedureSystem, RecordType, Setting

MAX_ROWS = 100
MAX_AGE = 124
MAX_RATIONALE = 2000
MAX_CODE = 32
_SEX: dict[str, Sex] = {"M": "M", "MALE": "M", "F": "F", "FEMALE": "F", "U": "U", "UNKNOWN": "U"}
_TOP = {"id", "age", "sex", "discharge_date", "diagnoses", "procedures", "record_type", "discharged_alive", "setting"}
_DX = {"code", "principal", "override_rationale", "rationale", "description"}
_PX = {"code", "code_system", "override_rationale", "rationale", "description"}


class InputError(ValueError):
    """Bad input: `fields` maps a field path to what is wrong with it."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


def _text(value: Any, path: str, problems: dict[str, str], *, limit: int, required: bool) -> str | None:
    if value is None:
        if required:
            problems[path] = "required"
        return None
    if not isinstance(value, str):
        problems[path] = f"must be a string, got {_kind(value)}"
        return None
    if len(value) > limit:
        problems[path] = f"longer than {limit} characters"
        return None
    return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", bool: "a boolean", str: "a string", type(None): "null"}.get(
        type(value), "a number"
    )


def _bool(value: Any, path: str, problems: dict[str, str], default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        problems[path] = f"must be true or false, got {_kind(value)}"
        return default
    return value


def _rows(body: dict[str, Any], name: str, problems: dict[str, str], *, required: bool) -> list[dict[str, Any]]:
    value = body.get(name)
    if value is None:
        if required:
            problems[name] = "required: an array of objects with a code"
        return []
    if not isinstance(value, list):
        problems[name] = f"must be an array, got {_kind(value)}"
        return []
    if len(value) > MAX_ROWS:
        problems[name] = f"at most {MAX_ROWS} rows"
        return []
    good: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            problems[f"{name}[{i + 1}]"] = f"must be an object with a code, got {_kind(item)}"
        else:
            good.append(item)
    return good if len(good) == len(value) else []


def _unknown(obj: dict[str, Any], allowed: set[str], prefix: str, problems: dict[str, str]) -> None:
    for key in sorted(set(obj) - allowed):
        problems[f"{prefix}{key}"] = "unknown field"


def _age(body: dict[str, Any], problems: dict[str, str]) -> int | None:
    age = body.get("age")
    if age is None:
        problems["age"] = "required: age in years at the encounter"
    elif isinstance(age, bool) or not isinstance(age, int):
        problems["age"] = f"must be a whole number of years, got {_kind(age)}"
    elif not 0 <= age <= MAX_AGE:
        problems["age"] = f"must be between 0 and {MAX_AGE}"
    else:
        return age
    return None


def _sex(body: dict[str, Any], problems: dict[str, str]) -> Sex:
    raw = body.get("sex")
    if raw is None:
        problems["sex"] = "required: M, F or U"
    elif not isinstance(raw, str) or raw.strip().upper() not in _SEX:
        problems["sex"] = "must be M, F or U"
    else:
        return _SEX[raw.strip().upper()]
    return "U"


def _discharge(body: dict[str, Any], problems: dict[str, str]) -> date | None:
    raw = _text(body.get("discharge_date"), "discharge_date", problems, limit=10, required=True)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        problems["discharge_date"] = "must be a date as YYYY-MM-DD"
        return None


def _record_type(body: dict[str, Any], problems: dict[str, str]) -> RecordType | None:
    raw = body.get("record_type")
    if raw is None:
        return None
    try:
        return RecordType(raw)
    except ValueError:
        problems["record_type"] = "must be maternal, newborn or other"
        return None


def _setting(body: dict[str, Any], problems: dict[str, str]) -> Setting:
    raw = body.get("setting")
    if raw is None:
        return Setting.INPATIENT
    try:
        return Setting(raw)
    except ValueError:
        problems["setting"] = "must be inpatient or outpatient"
        return Setting.INPATIENT


def _diagnoses(body: dict[str, Any], problems: dict[str, str]) -> list[DiagnosisRow]:
    out: list[DiagnosisRow] = []
    for i, item in enumerate(_rows(body, "diagnoses", problems, required=True), start=1):
        p = f"diagnoses[{i}]."
        _unknown(item, _DX, p, problems)
        code = _text(item.get("code"), p + "code", problems, limit=MAX_CODE, required=True)
        principal = _bool(item.get("principal"), p + "principal", problems, False)
        why = _text(
            item.get("override_rationale"), p + "override_rationale", problems, limit=MAX_RATIONALE, required=False
        )
        _text(item.get("rationale"), p + "rationale", problems, limit=MAX_RATIONALE, required=False)
        out.append(DiagnosisRow(code or "", principal, why))
    return out


def _procedures(body: dict[str, Any], problems: dict[str, str]) -> list[ProcedureRow]:
    out: list[ProcedureRow] = []
    for i, item in enumerate(_rows(body, "procedures", problems, required=False), start=1):
        p = f"procedures[{i}]."
        _unknown(item, _PX, p, problems)
        code = _text(item.get("code"), p + "code", problems, limit=MAX_CODE, required=True)
        system = item.get("code_system", "ICD-10-PCS")
        if system not in ("ICD-10-PCS", "other"):
            problems[p + "code_system"] = "must be ICD-10-PCS or other"
        why = _text(
            item.get("override_rationale"), p + "override_rationale", problems, limit=MAX_RATIONALE, required=False
        )
        _text(item.get("rationale"), p + "rationale", problems, limit=MAX_RATIONALE, required=False)
        out.append(ProcedureRow(code or "", cast(ProcedureSystem, system), why))
    return out


def parse_chart(body: Any) -> ChartInput:
    """Read one chart object or raise `InputError` naming every bad field (1-based row indexes)."""
    if not isinstance(body, dict):
        raise InputError({"$": f"expected a JSON object, got {_kind(body)}"})
    problems: dict[str, str] = {}
    _unknown(body, _TOP, "", problems)
    age, sex, discharge = _age(body, problems), _sex(body, problems), _discharge(body, problems)
    record_type = _record_type(body, problems)
    alive = _bool(body.get("discharged_alive"), "discharged_alive", problems, True)
    setting = _setting(body, problems)
    diagnoses, procedures = _diagnoses(body, problems), _procedures(body, problems)
    if problems or age is None or discharge is None:
        raise InputError(problems)
    return ChartInput(
        id=body.get("id"),
        age=age,
        sex=sex,
        discharge_date=discharge,
        diagnoses=tuple(diagnoses),
        procedures=tuple(procedures),
        record_type=record_type,
        discharged_alive=alive,
        setting=setting,
    )
