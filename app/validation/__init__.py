"""The validation engine: CODING-RULES.md as registered rules over a chart's code list.

Pure Python with no I/O once the code sets are loaded. Entry points: `default_engine()` and
`Engine.validate(ChartInput)`; `parse_chart` reads the pinned JSON shape at a boundary.
"""

from app.validation.engine import Engine, default_engine
from app.validation.model import ChartInput, DiagnosisRow, Finding, ProcedureRow, RecordType, ValidationResult
from app.validation.schema import InputError, parse_chart

__all__ = [
    "ChartInput",
    "DiagnosisRow",
    "Engine",
    "Finding",
    "InputError",
    "ProcedureRow",
    "RecordType",
    "ValidationResult",
    "default_engine",
    "parse_chart",
]
