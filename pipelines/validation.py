"""Validation-engine findings by rule: which rules trip coders up, and how often they override.

The engine's findings are stored per chart version (every save and the submission re-validate),
so one problem that stays on a chart for ten saves is ten rows. These functions therefore count
charts, not rows:

- a **trip** is a (chart, rule) pair: the rule fired on the chart at least once while it was
  coded (``first_seen_at`` = its earliest row); it is **resolved** when the rule is absent from
  the chart's latest stored version;
- **at submission** are the findings stored for the exact version a coder submitted
  (``submissions.version``): what went to audit. Of those, an *overridable* finding the coder
  cleared with an override rationale is *overridden*; the **override rate** is overridden /
  overridable at submission.

To narrow to a coder or specialty, filter ``validation`` to their charts first (a semi join on
``chart_id``).
"""

from __future__ import annotations

import polars as pl


def rule_trips(validation: pl.LazyFrame) -> pl.LazyFrame:
    """One row per (chart, rule): ``chart_id``, ``rule_id``, ``category``, ``severity``,
    ``first_seen_at``, ``versions`` (chart versions it appeared in) and ``resolved``."""
    return (
        validation.with_columns(latest_version=pl.col("chart_version").max().over("chart_id"))
        .group_by("chart_id", "rule_id")
        .agg(
            category=pl.col("category").first(),
            severity=pl.col("severity").first(),
            first_seen_at=pl.col("created_at").min(),
            versions=pl.col("chart_version").n_unique(),
            present_at_latest=(pl.col("chart_version") == pl.col("latest_version")).any(),
        )
        .with_columns(resolved=~pl.col("present_at_latest"))
        .drop("present_at_latest")
        .sort("chart_id", "rule_id")
    )


def at_submission(validation: pl.LazyFrame, submissions: pl.LazyFrame) -> pl.LazyFrame:
    """The findings of each submitted version: ``validation`` rows joined to their submission
    (``coder_id``, ``submitted_at``, ``resubmission``)."""
    submitted = submissions.select(
        "chart_id", pl.col("version").alias("chart_version"), "coder_id", "submitted_at", "resubmission"
    ).filter(pl.col("chart_version").is_not_null())
    return validation.join(submitted, on=["chart_id", "chart_version"], how="inner", maintain_order="left")


def validation_by_rule(validation: pl.LazyFrame, submissions: pl.LazyFrame) -> pl.LazyFrame:
    """Per ``rule_id`` (with its ``category`` and ``severity``): ``charts_flagged`` (trips),
    ``charts_resolved``, ``resolved_rate``, ``findings_at_submission``,
    ``overridable_at_submission``, ``overridden_at_submission`` and ``override_rate`` (null when
    nothing overridable was submitted); most-tripped rules first."""
    trips = (
        rule_trips(validation)
        .group_by("rule_id")
        .agg(
            category=pl.col("category").first(),
            severity=pl.col("severity").first(),
            charts_flagged=pl.len(),
            charts_resolved=pl.col("resolved").sum(),
        )
    )
    submitted = (
        at_submission(validation, submissions)
        .group_by("rule_id")
        .agg(
            findings_at_submission=pl.len(),
            overridable_at_submission=pl.col("overridable").sum(),
            overridden_at_submission=(pl.col("overridable") & pl.col("overridden")).sum(),
        )
    )
    counts = ("findings_at_submission", "overridable_at_submission", "overridden_at_submission")
    return (
        trips.join(submitted, on="rule_id", how="left")
        .with_columns(pl.col(*counts).fill_null(0).cast(pl.Int64), pl.col("charts_resolved").cast(pl.Int64))
        .with_columns(
            resolved_rate=pl.col("charts_resolved") / pl.col("charts_flagged"),
            override_rate=pl.when(pl.col("overridable_at_submission") > 0).then(
                pl.col("overridden_at_submission") / pl.col("overridable_at_submission")
            ),
        )
        .select(
            "rule_id",
            "category",
            "severity",
            "charts_flagged",
            "charts_resolved",
            "resolved_rate",
            *counts,
            "override_rate",
        )
        .sort(["charts_flagged", "rule_id"], descending=[True, False])
    )
