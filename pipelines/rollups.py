"""The rollup rows the worker stores in ``metric_rollups``, computed from one organisation's frames.

``compute_rollups`` returns one row per (``metric``, ``bucket_start``, ``dimension``) with a
``value`` and the ``sample_size`` behind it, built from the other pipelines of this package. Buckets
are UTC days (``charts_coded_hourly``: hours); each metric is bucketed by when its event happened
(submission, decision, feedback, first finding, end of the turnaround stage). ``dimension`` is
``""`` for the whole organisation, or ``kind:value``: ``coder:<user id>``, ``supervisor:<user id>``,
``specialty:<name>``, ``setting:inpatient|outpatient``, ``rule:<rule id>``, ``category:<name>``,
``verdict:<verdict>``; a missing value reads ``(none)``.

======================================  ==========================  =================================  =====================
metric                                  value                       sample_size                        dimensions
======================================  ==========================  =================================  =====================
charts_coded                            first submissions           same                               org, coder, specialty
charts_coded_hourly                     first submissions (hour)    same                               org, coder
charts_resubmitted                      resubmissions               same                               org, coder
minutes_per_chart                       median minutes              charts with an estimate            org, coder, specialty, setting
code_accuracy                           pooled code-over-code       final codes                        org, coder, specialty
case_accuracy                           share of cases correct      audits                             org, coder, specialty
audits_decided                          audits decided              same                               org, coder, supervisor
return_rate                             returned / decided          audits decided                     org, coder, supervisor
first_pass_rate                         first submissions approved  first submissions decided          org, coder
finding_errors                          findings other than correct same                               org, category, verdict
feedback_ack_rate                       acknowledged / given        feedback given                     org, coder
validation_trips                        charts a rule first hit     same                               org, rule, category
override_rate                           overridden / overridable    overridable findings at submission org, rule
turnaround_<stage>_p50_hours / _p90     hours                       charts                             org, specialty
======================================  ==========================  =================================  =====================

Inter-rater agreement is not rolled up: kappa cannot be combined across days, and the pairs are
few; ``pipelines.agreement`` computes it over any range on demand.

With ``since`` (a UTC day boundary), only buckets from that day on are returned; the frames must
then hold every row those buckets depend on (``datalayer.queries.metrics.read_frames`` reads them
with one day of margin, and whole histories of the charts touched since then).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Final

import polars as pl

from pipelines import accuracy, outcomes, throughput, turnaround, validation
from pipelines.frames import UTC_TIME, Frames

ROLLUP_SCHEMA: Final = pl.Schema(
    {
        "metric": pl.String(),
        "bucket_start": UTC_TIME,
        "dimension": pl.String(),
        "value": pl.Float64(),
        "sample_size": pl.Int64(),
    }
)

Dim = tuple[str, str]
ORG: Final[Dim] = ("", "")
CODER: Final[Dim] = ("coder", "coder_id")
SUPERVISOR: Final[Dim] = ("supervisor", "supervisor_id")
SPECIALTY: Final[Dim] = ("specialty", "specialty")
SETTING: Final[Dim] = ("setting", "setting")
RULE: Final[Dim] = ("rule", "rule_id")
CATEGORY: Final[Dim] = ("category", "category")
VERDICT: Final[Dim] = ("verdict", "verdict")

TURNAROUND_METRICS: Final = tuple(
    f"turnaround_{stage}_{p}_hours" for stage in turnaround.STAGES for p in ("p50", "p90")
)
METRICS: Final = (
    "charts_coded",
    "charts_coded_hourly",
    "charts_resubmitted",
    "minutes_per_chart",
    "code_accuracy",
    "case_accuracy",
    "audits_decided",
    "return_rate",
    "first_pass_rate",
    "finding_errors",
    "feedback_ack_rate",
    "validation_trips",
    "override_rate",
    *TURNAROUND_METRICS,
)


def _by(dim: Dim) -> tuple[str, ...]:
    return (dim[1],) if dim[0] else ()


def _dimension(dim: Dim) -> pl.Expr:
    prefix, column = dim
    if not prefix:
        return pl.lit("")
    return pl.lit(f"{prefix}:") + pl.col(column).cast(pl.String()).fill_null("(none)")


def _rows(frame: pl.LazyFrame, metric: str, dim: Dim, value: pl.Expr, sample: pl.Expr) -> pl.LazyFrame:
    return frame.select(
        metric=pl.lit(metric),
        bucket_start=pl.col("period"),
        dimension=_dimension(dim),
        value=value.cast(pl.Float64()),
        sample_size=sample.cast(pl.Int64()),
    )


def _each(dims: Sequence[Dim], make: Callable[[Dim], pl.LazyFrame]) -> list[pl.LazyFrame]:
    return [make(dim) for dim in dims]


# Intermediate frames several metrics read are marked ``cache()``: computed once per collect
# instead of once per metric (2.1 s → 1.25 s over a million chart-code rows, ADR 0015).


def _throughput(frames: Frames) -> list[pl.LazyFrame]:
    subs, charts = throughput.with_chart(frames.submissions, frames.charts).cache(), None
    resubmitted = subs.filter(pl.col("resubmission"))
    handling = (
        throughput.handling_times(subs, charts)
        .with_columns(setting=pl.when(pl.col("inpatient")).then(pl.lit("inpatient")).otherwise(pl.lit("outpatient")))
        .cache()
    )
    charts_n = pl.col("charts")
    return [
        *_each(
            (ORG, CODER, SPECIALTY),
            lambda d: _rows(
                throughput.charts_coded(subs, charts, every="1d", by=_by(d)), "charts_coded", d, charts_n, charts_n
            ),
        ),
        *_each(
            (ORG, CODER),
            lambda d: _rows(
                throughput.charts_coded(subs, charts, every="1h", by=_by(d)),
                "charts_coded_hourly",
                d,
                charts_n,
                charts_n,
            ),
        ),
        *_each(
            (ORG, CODER),
            lambda d: _rows(
                throughput.charts_coded(resubmitted, charts, every="1d", by=_by(d), include_resubmissions=True),
                "charts_resubmitted",
                d,
                charts_n,
                charts_n,
            ),
        ),
        *_each(
            (ORG, CODER, SPECIALTY, SETTING),
            lambda d: _rows(
                throughput.minutes_per_chart(handling, by=_by(d), every="1d"),
                "minutes_per_chart",
                d,
                pl.col("median_minutes"),
                charts_n,
            ),
        ),
    ]


def _accuracy(frames: Frames, scored: pl.LazyFrame) -> list[pl.LazyFrame]:
    daily = scored.with_columns(period=pl.col("decided_at").dt.truncate("1d"))
    errors = (
        frames.findings.filter(pl.col("verdict") != "correct")
        .join(daily.select("audit_id", "period"), on="audit_id", how="inner")
        .with_columns(category=pl.col("category").fill_null(accuracy.UNCATEGORISED))
    )
    n_errors = pl.len().alias("errors")
    return [
        *_each(
            (ORG, CODER, SPECIALTY),
            lambda d: _rows(
                accuracy.accuracy(scored, by=_by(d), every="1d"),
                "code_accuracy",
                d,
                pl.col("code_accuracy"),
                pl.col("final_codes"),
            ),
        ),
        *_each(
            (ORG, CODER, SPECIALTY),
            lambda d: _rows(
                accuracy.accuracy(scored, by=_by(d), every="1d"),
                "case_accuracy",
                d,
                pl.col("case_accuracy"),
                pl.col("audits"),
            ),
        ),
        *_each(
            (ORG, CATEGORY, VERDICT),
            lambda d: _rows(
                errors.group_by("period", *_by(d)).agg(n_errors),
                "finding_errors",
                d,
                pl.col("errors"),
                pl.col("errors"),
            ),
        ),
    ]


def accuracy_rollups(frames: Frames) -> pl.LazyFrame:
    """The code-level part of ``compute_rollups``: ``code_accuracy`` and ``case_accuracy`` (org,
    coder, specialty) and ``finding_errors`` (org, category, verdict), from every finding row —
    the aggregation ``smartcoders bench rollup`` also writes in pandas. Sorted like
    ``compute_rollups``; rows without a value left out."""
    scored = accuracy.score_audits(frames.audits, frames.findings, frames.charts).cache()
    return _finish(pl.concat(_accuracy(frames, scored), how="vertical"), since=None)


def _quality(frames: Frames, now: datetime) -> list[pl.LazyFrame]:
    scored = accuracy.score_audits(frames.audits, frames.findings, frames.charts).cache()
    return [
        *_accuracy(frames, scored),
        *_each(
            (ORG, CODER, SUPERVISOR),
            lambda d: _rows(
                outcomes.audit_outcomes(scored, by=_by(d), every="1d"),
                "audits_decided",
                d,
                pl.col("decided"),
                pl.col("decided"),
            ),
        ),
        *_each(
            (ORG, CODER, SUPERVISOR),
            lambda d: _rows(
                outcomes.audit_outcomes(scored, by=_by(d), every="1d"),
                "return_rate",
                d,
                pl.col("return_rate"),
                pl.col("decided"),
            ),
        ),
        *_each(
            (ORG, CODER),
            lambda d: _rows(
                outcomes.audit_outcomes(scored, by=_by(d), every="1d"),
                "first_pass_rate",
                d,
                pl.col("first_pass_rate"),
                pl.col("first_submissions"),
            ),
        ),
        *_each(
            (ORG, CODER),
            lambda d: _rows(
                outcomes.feedback_acknowledgement(frames.feedback, now=now, by=_by(d), every="1d"),
                "feedback_ack_rate",
                d,
                pl.col("ack_rate"),
                pl.col("feedback"),
            ),
        ),
    ]


def _validation(frames: Frames) -> list[pl.LazyFrame]:
    trips = (
        validation.rule_trips(frames.validation).with_columns(period=pl.col("first_seen_at").dt.truncate("1d")).cache()
    )
    submitted = (
        validation.at_submission(frames.validation, frames.submissions)
        .with_columns(period=pl.col("submitted_at").dt.truncate("1d"))
        .cache()
    )
    overridable = pl.col("overridable")
    return [
        *_each(
            (ORG, RULE, CATEGORY),
            lambda d: _rows(
                trips.group_by("period", *_by(d)).agg(charts=pl.len()),
                "validation_trips",
                d,
                pl.col("charts"),
                pl.col("charts"),
            ),
        ),
        *_each(
            (ORG, RULE),
            lambda d: _rows(
                submitted.filter(overridable)
                .group_by("period", *_by(d))
                .agg(overridable=pl.len(), overridden=pl.col("overridden").sum()),
                "override_rate",
                d,
                pl.col("overridden") / pl.col("overridable"),
                pl.col("overridable"),
            ),
        ),
    ]


def _turnaround(frames: Frames) -> list[pl.LazyFrame]:
    per_chart = turnaround.chart_turnaround(frames.charts, frames.submissions).cache()
    out: list[pl.LazyFrame] = []
    for dim in (ORG, SPECIALTY):
        stats = turnaround.turnaround(per_chart, by=_by(dim), every="1d", quantiles=(0.5, 0.9))
        for p in ("p50", "p90"):
            out.append(
                stats.select(
                    metric=pl.lit("turnaround_") + pl.col("stage") + pl.lit(f"_{p}_hours"),
                    bucket_start=pl.col("period"),
                    dimension=_dimension(dim),
                    value=pl.col(f"{p}_hours").cast(pl.Float64()),
                    sample_size=pl.col("charts").cast(pl.Int64()),
                )
            )
    return out


def compute_rollups(frames: Frames, *, now: datetime, since: datetime | None = None) -> pl.LazyFrame:
    """Every rollup row of the organisation whose ``frames`` these are (see the module docstring),
    from ``since`` on when given, sorted by metric, bucket and dimension; rows without a value (a
    rate over nothing) are left out."""
    parts = [*_throughput(frames), *_quality(frames, now), *_validation(frames), *_turnaround(frames)]
    return _finish(pl.concat(parts, how="vertical"), since=since)


def _finish(rows: pl.LazyFrame, *, since: datetime | None) -> pl.LazyFrame:
    rows = rows.filter(pl.col("value").is_not_null() & pl.col("value").is_not_nan())
    if since is not None:
        rows = rows.filter(pl.col("bucket_start") >= since)
    return rows.sort("metric", "bucket_start", "dimension")
