"""Synthetic bulk data for benchmarks: many charts in one organisation, written in one statement.

Never used by the application itself. The rows are plausible enough for the planner (spread
dates, statuses, specialties and assignees) and carry no clinical content.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from uuid import UUID

import psycopg
from sqlalchemy import text

from datalayer.migrate import _psycopg_url
from datalayer.scope import Scope

SPECIALTIES = (
    "primary_care",
    "cardiology",
    "pulmonology",
    "emergency",
    "obstetrics",
    "pediatrics",
    "orthopedics",
    "behavioral_health",
)
_TABLE = re.compile(r"[a-z_]{1,63}")


def insert_charts(scope: Scope, *, count: int, coders: Sequence[UUID], unassigned_every: int = 5) -> int:
    """Insert ``count`` charts: every ``unassigned_every``-th one unassigned (draft); the others
    spread over ``coders`` in turn with 5 % returned, 15 % draft, 10 % pending audit, 70 % completed.
    Created over the past year, encounters over the past ten."""
    statement = text(
        """INSERT INTO charts AS c (id, org_id, source_patient_id, source_encounter_id, patient_age_years,
                                    patient_sex, encounter_class, encounter_type, encounter_reason, encounter_start,
                                    encounter_end, specialty, difficulty, status, assignee_id, assigned_at,
                                    submitted_at, completed_at, created_at, updated_at)
           SELECT gen_random_uuid(), :org, 'bench-patient-' || (g % 20000), 'bench-encounter-' || g, (g * 7) % 91,
                  CASE WHEN g % 2 = 0 THEN 'F' ELSE 'M' END, 'AMB', 'General examination of patient',
                  CASE WHEN g % 3 = 0 THEN 'Hypertension' END,
                  now() - ((g * 37) % 3650) * interval '1 day',
                  now() - ((g * 37) % 3650) * interval '1 day' + interval '1 hour',
                  (CAST(:specialties AS text[]))[1 + g % :n_specialties], 1 + (g / 3) % 5,
                  s.status, a.assignee, CASE WHEN a.assignee IS NOT NULL THEN created END,
                  CASE WHEN s.status IN ('pending_audit', 'completed') THEN created END,
                  CASE WHEN s.status = 'completed' THEN created END,
                  created, created
             FROM generate_series(1, :count) AS g,
                  LATERAL (SELECT now() - ((g * 13) % 365) * interval '1 day' - (g % 1440) * interval '1 minute'
                           AS created) AS t,
                  LATERAL (SELECT CASE WHEN g % :every = 0 THEN NULL
                                       ELSE (CAST(:coders AS uuid[]))[1 + (g / :every) % :n_coders] END
                           AS assignee) AS a,
                  LATERAL (SELECT CASE WHEN a.assignee IS NULL THEN 'draft'
                                       WHEN (g / 7) % 20 = 0 THEN 'returned'
                                       WHEN (g / 7) % 20 < 4 THEN 'draft'
                                       WHEN (g / 7) % 20 < 6 THEN 'pending_audit'
                                       ELSE 'completed' END AS status) AS s"""
    )
    result = scope.conn.execute(
        statement,
        {
            "org": scope.require_org(),
            "count": count,
            "coders": list(coders),
            "n_coders": len(coders),
            "every": unassigned_every,
            "specialties": list(SPECIALTIES),
            "n_specialties": len(SPECIALTIES),
        },
    )
    return int(result.rowcount)


def analyze(owner_url: str, tables: Sequence[str]) -> None:
    """Refresh the planner's statistics after a bulk load (as the schema owner: ANALYZE needs it)."""
    names = [t for t in tables if _TABLE.fullmatch(t)]
    with psycopg.connect(_psycopg_url(owner_url), autocommit=True) as conn:
        for name in names:
            conn.execute(f"ANALYZE {name}")  # names checked against _TABLE above
