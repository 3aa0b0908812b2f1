"""Turnaround: how long a chart takes from import to completion, stage by stage.

Stages, in hours, per chart:

- ``import_to_assign``: ``created_at`` (import) → ``assigned_at`` (its latest assignment);
- ``assign_to_submit``: ``assigned_at`` → first submission;
- ``submit_to_complete``: first submission → ``completed_at`` (audit and any rework);
- ``import_to_complete``: ``created_at`` → ``completed_at``, the whole way.

The first submission is the earliest row of ``submissions`` for the chart, else the chart's own
``submitted_at``. A stage whose end is missing (not reached yet) or earlier than its start (a
chart reassigned after it was first submitted) has no value. ``turnaround`` buckets each stage
by the time the stage *ended*, so "last week" means the intervals that finished last week.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import polars as pl

from pipelines.throughput import is_inpatient

STAGES: Final = ("import_to_assign", "assign_to_submit", "submit_to_complete", "import_to_complete")
# (stage, start column, end column)
_SPANS: Final = (
    ("import_to_assign", "created_at", "assigned_at"),
    ("assign_to_submit", "assigned_at", "first_submitted_at"),
    ("submit_to_complete", "first_submitted_at", "completed_at"),
    ("import_to_complete", "created_at", "completed_at"),
)


def _hours(start: str, end: str) -> pl.Expr:
    hours = (pl.col(end) - pl.col(start)).dt.total_seconds(fractional=True) / 3600
    return pl.when(hours >= 0).then(hours)


def chart_turnaround(charts: pl.LazyFrame, submissions: pl.LazyFrame) -> pl.LazyFrame:
    """One row per chart: ``chart_id``, ``status``, ``specialty``, ``inpatient``, ``assignee_id``,
    the stage timestamps (``created_at``, ``assigned_at``, ``first_submitted_at``, ``completed_at``)
    and one column of hours per stage."""
    first = submissions.group_by("chart_id").agg(first_event_at=pl.col("submitted_at").min())
    return (
        charts.join(first, on="chart_id", how="left", maintain_order="left")
        .with_columns(
            first_submitted_at=pl.coalesce("first_event_at", "submitted_at"),
            inpatient=is_inpatient(pl.col("encounter_class")),
        )
        .with_columns(_hours(start, end).alias(stage) for stage, start, end in _SPANS)
        .select(
            "chart_id",
            "status",
            "specialty",
            "inpatient",
            "assignee_id",
            "created_at",
            "assigned_at",
            "first_submitted_at",
            "completed_at",
            *STAGES,
        )
    )


def turnaround(
    per_chart: pl.LazyFrame,
    *,
    by: Sequence[str] = (),
    every: str | None = None,
    quantiles: Sequence[float] = (0.5, 0.9, 0.95),
) -> pl.LazyFrame:
    """Percentiles of each stage over ``chart_turnaround`` rows, per ``by`` (e.g. ``specialty``)
    and, with ``every``, per ``period`` of the stage's end: columns ``*by``, [``period``,] ``stage``,
    ``charts`` and ``p50_hours``, ``p90_hours``, ``p95_hours`` (one per quantile, linear
    interpolation). Stages in pipeline order."""
    ends = {stage: end for stage, _, end in _SPANS}
    long = pl.concat(
        [
            per_chart.select(
                *by,
                stage=pl.lit(stage),
                ended_at=pl.col(ends[stage]),
                hours=pl.col(stage),
            )
            for stage in STAGES
        ]
    ).filter(pl.col("hours").is_not_null())
    keys = [*by]
    if every is not None:
        long = long.with_columns(period=pl.col("ended_at").dt.truncate(every))
        keys.append("period")
    names = [f"p{round(q * 100)}_hours" for q in quantiles]
    return (
        long.group_by(*keys, "stage")
        .agg(
            pl.len().alias("charts"),
            *(pl.col("hours").quantile(q, "linear").alias(name) for q, name in zip(quantiles, names, strict=True)),
        )
        .select(*keys, "stage", "charts", *names)
        .with_columns(_stage_order=pl.col("stage").replace_strict(list(STAGES), list(range(len(STAGES)))))
        .sort(*keys, "_stage_order")
        .drop("_stage_order")
    )
