"""Real Synthea bundles for the import tests, and helpers that derive variants from them.

``DEMO`` is the sample shipped in ``app/demo_data/synthea`` (nine patients, both bundle
variants, the deceased patient, filtered provider files); ``SHARED`` is the 25-bundle set of
``shared/synthea/fhir`` (with the run's provider files beside it) where the chart counts are
checked. Variants are made by editing the parsed JSON of a real bundle, never by hand-writing
FHIR, so every test starts from real Synthea output.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from app.demo_data import SYNTHEA_DIR as DEMO

SHARED = Path("/work/shared/synthea/fhir")
SHARED_RUN_FILES = Path("/work/shared/synthea/fhir_run_files")
PROVIDER_FILES = sorted(DEMO.glob("*Information*.json"))

_UUID = re.compile(rb"[0-9a-f]{8}(-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")


def demo_file(prefix: str) -> Path:
    (path,) = DEMO.glob(f"{prefix}*.json")
    return path


@cache
def _raw(prefix: str) -> bytes:
    return demo_file(prefix).read_bytes()


def raw(prefix: str) -> bytes:
    """The bytes of the demo bundle whose file name starts with ``prefix`` (e.g. "Tama137")."""
    return _raw(prefix)


def doc(prefix: str) -> dict[str, Any]:
    """A fresh, mutable parse of a demo bundle."""
    return copy.deepcopy(_doc(prefix))


@cache
def _doc(prefix: str) -> dict[str, Any]:
    return dict(orjson.loads(_raw(prefix)))


def dump(value: Any) -> bytes:
    return orjson.dumps(value)


def resources(bundle: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def renumber(data: bytes, copy_no: int) -> bytes:
    """The same bundle with every UUID's first block replaced: a distinct patient for the importer."""
    prefix = f"{copy_no:08x}".encode()
    return _UUID.sub(lambda m: prefix + m.group(1), data)


def expected_charts(data: bytes) -> int:
    """The chart rule computed independently from the raw JSON: encounters named by at least one
    Condition.encounter or Procedure.encounter reference."""
    bundle = orjson.loads(data)
    encounters = {f"urn:uuid:{r['id']}" for r in resources(bundle, "Encounter")}
    coded = {
        e["resource"]["encounter"]["reference"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] in ("Condition", "Procedure")
    }
    return len(encounters & coded)


def patient_id(data: bytes) -> str:
    return str(resources(orjson.loads(data), "Patient")[0]["id"])
