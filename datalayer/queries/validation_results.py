"""Stored validation findings of a chart version (what the coding page and the metrics read)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import text

from datalayer.queries._util import execute, rows
from datalayer.scope import Scope


@dataclass(frozen=True)
class StoredFinding:
    rule_id: str
    category: str
    severity: str
    rows: list[int]
    procedure_rows: list[int]
    message: str
    guideline_ref: str | None
    overridable: bool
    overridden: bool
    code_set_version: str
    chart_version: int


def replace_for_version(
    scope: Scope, *, org_id: UUID, chart_id: UUID, chart_version: int, findings: Sequence[dict[str, Any]]
) -> int:
    """Replace the findings stored for this chart version (earlier versions stay as history)."""
    execute(
        scope,
        "DELETE FROM validation_results WHERE chart_id = :chart AND chart_version = :version",
        {"chart": chart_id, "version": chart_version},
    )
    if findings:
        scope.conn.execute(
            text(
                "INSERT INTO validation_results (id, org_id, chart_id, chart_version, rule_id, category, "
                "severity, rows, procedure_rows, message, guideline_ref, overridable, overridden, "
                "code_set_version) VALUES (:id, :org, :chart, :version, :rule_id, :category, :severity, "
                ":rows, :procedure_rows, :message, :guideline_ref, :overridable, :overridden, :code_set_version)"
            ),
            [{"id": uuid.uuid4(), "org": org_id, "chart": chart_id, "version": chart_version, **f} for f in findings],
        )
    return len(findings)


def for_version(scope: Scope, chart_id: UUID, chart_version: int) -> list[StoredFinding]:
    return [
        StoredFinding(**r)
        for r in rows(
            scope,
            "SELECT rule_id, category, severity, rows, procedure_rows, message, guideline_ref, overridable, "
            "overridden, code_set_version, chart_version FROM validation_results "
            "WHERE chart_id = :chart AND chart_version = :version ORDER BY rows[1] NULLS FIRST, rule_id",
            {"chart": chart_id, "version": chart_version},
        )
    ]
