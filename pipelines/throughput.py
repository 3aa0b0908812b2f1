"""Throughput: charts coded per coder per hour or day, and minutes per chart against the
3-inpatient-charts-per-hour benchmark.

**Charts coded** counts first submissions (``resubmission`` false): a chart is coded once, when
its coder first sends it to audit; sending a returned chart back is rework, counted apart.

**Minutes per chart** is an estimate from the timestamps SmartCoders keeps, since it records no
"opened the chart" event. Coders work through their queue one chart at a time, so the time spent
on a chart is the time since the coder's previous submission, or since the chart was assigned to
them if that was later::

    started_at = max(previous submission by the same coder, chart.assigned_at if before this submission)
    minutes    = submitted_at - started_at

A gap longer than ``idle_cap_minutes`` (default 120) is a break, a meeting or the night, not
coding: that submission gets no estimate (``minutes`` null), and neither does one with no earlier
submission and no assignment time. ``assigned_at`` is the chart's latest assignment. Percentiles, never
means, summarise the estimates, so the few charts a coder left open while doing something else
do not move the answer much.

The benchmark — 3 inpatient charts per hour, i.e. 20 minutes per inpatient chart — applies to
inpatient encounters (class ``IMP``, ``ACUTE``, ``NONAC`` or ``INPATIENT``, as in
``app.validation.model``); outpatient groups get no benchmark.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import polars as pl

# The encounter classes the validation engine treats as inpatient (app.validation.model; a test
# checks the two lists agree).
INPATIENT_CLASSES: Final = ("IMP", "ACUTE", "NONAC", "INPATIENT")
INPATIENT_CHARTS_PER_HOUR: Final = 3.0
DEFAULT_IDLE_CAP_MINUTES: Final = 120.0


def is_inpatient(encounter_class: pl.Expr) -> pl.Expr:
    """True for inpatient encounter classes (case-insensitive), false otherwise (null included)."""
    return encounter_class.str.to_uppercase().is_in(INPATIENT_CLASSES).fill_null(value=False)


def with_chart(submissions: pl.LazyFrame, charts: pl.LazyFrame | None) -> pl.LazyFrame:
    """Submissions with their chart's ``specialty``, ``encounter_class``, ``inpatient``,
    ``difficulty`` and ``assigned_at``. With ``charts=None`` the submissions already carry them
    (the result of an earlier ``with_chart``: every function here accepts that, so several
    pipelines over the same submissions join the charts once)."""
    if charts is None:
        return submissions
    chart_columns = charts.select("chart_id", "specialty", "encounter_class", "difficulty", "assigned_at")
    return submissions.join(chart_columns, on="chart_id", how="left", maintain_order="left").with_columns(
        inpatient=is_inpatient(pl.col("encounter_class"))
    )


def charts_coded(
    submissions: pl.LazyFrame,
    charts: pl.LazyFrame | None,
    *,
    every: str = "1h",
    by: Sequence[str] = ("coder_id",),
    include_resubmissions: bool = False,
) -> pl.LazyFrame:
    """Charts coded per ``by`` (any submission or chart column, e.g. ``coder_id``, ``specialty``)
    and ``period`` (``submitted_at`` truncated to ``every``: ``"1h"``, ``"1d"``, ``"1w"``): columns
    ``*by``, ``period``, ``charts``, sorted by them."""
    rows = with_chart(submissions, charts)
    if not include_resubmissions:
        rows = rows.filter(~pl.col("resubmission"))
    return (
        rows.with_columns(period=pl.col("submitted_at").dt.truncate(every))
        .group_by(*by, "period")
        .agg(charts=pl.len())
        .sort(*by, "period")
    )


def coding_rate(
    submissions: pl.LazyFrame, charts: pl.LazyFrame | None, *, every: str = "1d", by: Sequence[str] = ("coder_id",)
) -> pl.LazyFrame:
    """Charts coded per active hour: per ``by`` and ``period``, ``charts`` (first submissions),
    ``active_hours`` (clock hours with at least one submission) and ``charts_per_active_hour``."""
    rows = with_chart(submissions, charts).filter(~pl.col("resubmission"))
    return (
        rows.with_columns(
            period=pl.col("submitted_at").dt.truncate(every), hour=pl.col("submitted_at").dt.truncate("1h")
        )
        .group_by(*by, "period")
        .agg(charts=pl.len(), active_hours=pl.col("hour").n_unique())
        .with_columns(charts_per_active_hour=pl.col("charts") / pl.col("active_hours"))
        .sort(*by, "period")
    )


def handling_times(
    submissions: pl.LazyFrame, charts: pl.LazyFrame | None, *, idle_cap_minutes: float = DEFAULT_IDLE_CAP_MINUTES
) -> pl.LazyFrame:
    """One row per submission with its estimated handling time (see the module docstring):
    ``chart_id``, ``coder_id``, ``submitted_at``, ``resubmission``, ``specialty``,
    ``encounter_class``, ``inpatient``, ``difficulty``, ``started_at`` and ``minutes`` (null when
    there is no estimate)."""
    rows = with_chart(submissions, charts).sort("coder_id", "submitted_at", "chart_id")
    previous = pl.col("submitted_at").shift(1).over("coder_id", order_by=["submitted_at", "chart_id"])
    assigned = pl.when(pl.col("assigned_at") <= pl.col("submitted_at")).then(pl.col("assigned_at"))
    minutes = (pl.col("submitted_at") - pl.col("started_at")).dt.total_seconds(fractional=True) / 60
    return (
        rows.with_columns(previous_at=previous, assigned_before=assigned)
        .with_columns(started_at=pl.max_horizontal("previous_at", "assigned_before"))
        .with_columns(minutes=minutes)
        .with_columns(minutes=pl.when(pl.col("minutes") <= idle_cap_minutes).then(pl.col("minutes")))
        .select(
            "chart_id",
            "coder_id",
            "submitted_at",
            "resubmission",
            "specialty",
            "encounter_class",
            "inpatient",
            "difficulty",
            "started_at",
            "minutes",
        )
    )


def minutes_per_chart(
    handling: pl.LazyFrame,
    *,
    by: Sequence[str] = ("specialty", "inpatient"),
    every: str | None = None,
    include_resubmissions: bool = False,
    benchmark_charts_per_hour: float = INPATIENT_CHARTS_PER_HOUR,
) -> pl.LazyFrame:
    """Minutes per chart over ``handling_times`` per ``by`` (and ``period`` of ``submitted_at``
    when ``every`` is given): ``charts`` (with an estimate), ``median_minutes``, ``p90_minutes``,
    ``charts_per_hour`` (60 / median), ``benchmark_charts_per_hour`` (3.0 for inpatient groups,
    null otherwise) and ``meets_benchmark``.

    A group is inpatient when all its charts are (group by ``inpatient`` to keep them apart)."""
    rows = handling.filter(pl.col("minutes").is_not_null())
    if not include_resubmissions:
        rows = rows.filter(~pl.col("resubmission"))
    keys = [*by]
    if every is not None:
        rows = rows.with_columns(period=pl.col("submitted_at").dt.truncate(every))
        keys.append("period")
    summary = rows.group_by(keys).agg(
        charts=pl.len(),
        median_minutes=pl.col("minutes").median(),
        p90_minutes=pl.col("minutes").quantile(0.9, "linear"),
        all_inpatient=pl.col("inpatient").all(),
    )
    benchmark = pl.when(pl.col("all_inpatient")).then(pl.lit(benchmark_charts_per_hour))
    return (
        summary.with_columns(
            charts_per_hour=pl.when(pl.col("median_minutes") > 0).then(60 / pl.col("median_minutes")),
            benchmark_charts_per_hour=benchmark,
        )
        .with_columns(meets_benchmark=pl.col("charts_per_hour") >= pl.col("benchmark_charts_per_hour"))
        .drop("all_inpatient")
        .sort(keys, nulls_last=True)
    )
