"""The input frames every pipeline reads, and their schemas: the contract between the sources
(PostgreSQL through ``datalayer.queries.metrics``, or Parquet files through ``pipelines.sources``)
and the pure functions of this package.

Ids are strings (UUIDs as text), times are UTC ``Datetime("us", "UTC")``. One organisation's
rows only: the sources read inside that organisation's scope, so no frame carries ``org_id``.

- ``charts``: one row per chart, its current state. ``assigned_at`` is the latest assignment,
  ``submitted_at`` the latest submission, ``returned_at`` the latest audit decided ``return``.
- ``submissions``: one row per submission (``chart_submitted`` in the audit log), including
  resubmissions of returned charts; ``version`` is the chart version that was submitted.
- ``audits``: supervisor audits (claims and decisions); undecided rows have no ``decision``.
- ``findings``: one row per verdict of an audit: one per code row the coder entered
  (``chart_code_id`` set) and one per missing code (``verdict == "missing"``, no code row);
  ``disputed`` when the coder disputed it, ``resolution`` once a supervisor resolved that.
- ``feedback``: training feedback to coders and when they acknowledged it.
- ``validation``: stored validation-engine findings, per chart version (history kept).
- ``people``: the organisation's users, to put names on ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Final

import polars as pl

UTC_TIME: Final = pl.Datetime("us", "UTC")

CHARTS: Final = pl.Schema(
    {
        "chart_id": pl.String(),
        "status": pl.String(),
        "specialty": pl.String(),
        "encounter_class": pl.String(),
        "difficulty": pl.Int64(),
        "assignee_id": pl.String(),
        "created_at": UTC_TIME,
        "assigned_at": UTC_TIME,
        "submitted_at": UTC_TIME,
        "completed_at": UTC_TIME,
        "returned_at": UTC_TIME,
        "updated_at": UTC_TIME,
    }
)
SUBMISSIONS: Final = pl.Schema(
    {
        "chart_id": pl.String(),
        "coder_id": pl.String(),
        "submitted_at": UTC_TIME,
        "version": pl.Int64(),
        "resubmission": pl.Boolean(),
    }
)
AUDITS: Final = pl.Schema(
    {
        "audit_id": pl.String(),
        "chart_id": pl.String(),
        "submission_no": pl.Int64(),
        "supervisor_id": pl.String(),
        "coder_id": pl.String(),
        "claimed_at": UTC_TIME,
        "decided_at": UTC_TIME,
        "decision": pl.String(),
        "code_accuracy": pl.Float64(),
        "principal_correct": pl.Boolean(),
        "drg_correct": pl.Boolean(),
    }
)
FINDINGS: Final = pl.Schema(
    {
        "finding_id": pl.String(),
        "audit_id": pl.String(),
        "chart_code_id": pl.String(),
        "verdict": pl.String(),
        "category": pl.String(),
        "severity": pl.String(),
        "disputed": pl.Boolean(),
        "resolution": pl.String(),
    }
)
FEEDBACK: Final = pl.Schema(
    {
        "feedback_id": pl.String(),
        "audit_id": pl.String(),
        "chart_id": pl.String(),
        "coder_id": pl.String(),
        "supervisor_id": pl.String(),
        "created_at": UTC_TIME,
        "acknowledged_at": UTC_TIME,
    }
)
VALIDATION: Final = pl.Schema(
    {
        "chart_id": pl.String(),
        "chart_version": pl.Int64(),
        "rule_id": pl.String(),
        "category": pl.String(),
        "severity": pl.String(),
        "overridable": pl.Boolean(),
        "overridden": pl.Boolean(),
        "created_at": UTC_TIME,
    }
)
PEOPLE: Final = pl.Schema(
    {
        "user_id": pl.String(),
        "name": pl.String(),
        "role": pl.String(),
        "is_active": pl.Boolean(),
    }
)

SCHEMAS: Final[Mapping[str, pl.Schema]] = {
    "charts": CHARTS,
    "submissions": SUBMISSIONS,
    "audits": AUDITS,
    "findings": FINDINGS,
    "feedback": FEEDBACK,
    "validation": VALIDATION,
    "people": PEOPLE,
}


class FrameError(ValueError):
    """A frame does not match its schema (a missing column, a column of the wrong type)."""


def conform(name: str, frame: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """``frame`` as the ``name`` schema: its columns in order, cast to their types; extra columns
    are dropped. A missing column or a value that cannot be cast is a ``FrameError`` naming it."""
    schema = SCHEMAS[name]
    lazy = frame.lazy()
    present = lazy.collect_schema()
    missing = [column for column in schema if column not in present]
    if missing:
        raise FrameError(f"the {name} frame has no column {', '.join(missing)} (expected: {', '.join(schema)})")
    for column, dtype in schema.items():
        have = present[column]
        if have != dtype and not _castable(have, dtype):
            raise FrameError(f"{name}.{column} is {have}, expected {dtype}")
    return lazy.select(_cast(column, present[column], dtype) for column, dtype in schema.items())


def _castable(have: pl.DataType, want: pl.DataType) -> bool:
    if isinstance(have, pl.Null):
        return True
    if isinstance(want, pl.Datetime):
        return isinstance(have, pl.Datetime)
    if isinstance(want, pl.String):
        return isinstance(have, pl.String | pl.Categorical | pl.Enum)
    if isinstance(want, pl.Boolean):
        return isinstance(have, pl.Boolean)
    return have.is_numeric() and want.is_numeric()


def _cast(column: str, have: pl.DataType, want: pl.DataType) -> pl.Expr:
    expr = pl.col(column)
    # A zone-less timestamp is taken as UTC (what PostgreSQL sends for timestamptz in UTC).
    if isinstance(have, pl.Datetime) and isinstance(want, pl.Datetime) and have.time_zone is None:
        expr = expr.dt.replace_time_zone("UTC")
    return expr.cast(want, strict=True)


def empty(name: str) -> pl.LazyFrame:
    """A frame with the ``name`` schema and no rows."""
    return pl.LazyFrame(schema=SCHEMAS[name])


@dataclass(frozen=True)
class Frames:
    """One organisation's inputs, each conforming to its schema (build with ``Frames.of``)."""

    charts: pl.LazyFrame
    submissions: pl.LazyFrame
    audits: pl.LazyFrame
    findings: pl.LazyFrame
    feedback: pl.LazyFrame
    validation: pl.LazyFrame
    people: pl.LazyFrame

    @classmethod
    def of(cls, **frames: pl.LazyFrame | pl.DataFrame) -> Frames:
        """Conform each given frame to its schema; a frame not given is empty."""
        unknown = sorted(set(frames) - set(SCHEMAS))
        if unknown:
            raise FrameError(f"unknown frame {', '.join(unknown)} (known: {', '.join(SCHEMAS)})")
        return cls(**{name: conform(name, frames[name]) if name in frames else empty(name) for name in SCHEMAS})

    def items(self) -> list[tuple[str, pl.LazyFrame]]:
        return [(f.name, getattr(self, f.name)) for f in fields(self)]

    def collected(self) -> Frames:
        """The same frames, each computed once (so several pipelines do not re-read a source)."""
        return Frames(**{name: frame.collect().lazy() for name, frame in self.items()})


def with_names(frame: pl.LazyFrame, people: pl.LazyFrame, column: str, label: str) -> pl.LazyFrame:
    """``frame`` with a ``label`` column holding the name of the person whose id is in ``column``
    (the id itself when the person is unknown, e.g. another source's user); rows keep their order."""
    names = people.select(pl.col("user_id").alias(column), pl.col("name").alias(label))
    return frame.join(names, on=column, how="left", maintain_order="left").with_columns(
        pl.col(label).fill_null(pl.col(column))
    )
