"""Queue depth: open charts by queue and by how long they have waited.

A chart waits in one of four queues, each since the moment it entered it:

==============  =====================================  =============================================
queue           charts                                 waiting since
==============  =====================================  =============================================
unassigned      ``draft`` with no coder                ``created_at`` (import)
draft           ``draft`` with a coder                 ``assigned_at`` (else ``created_at``)
returned        ``returned`` to the coder              ``returned_at`` (else ``updated_at``)
pending_audit   ``pending_audit``                      ``submitted_at`` (else ``updated_at``)
==============  =====================================  =============================================

``completed`` charts wait nowhere and are left out. Ages are measured at ``now`` (passed in, so
the functions stay pure) and bucketed by ``bounds_hours``: the default ``(24, 72, 168, 336)``
gives ``<1d``, ``1-3d``, ``3-7d``, ``7-14d`` and ``14d+`` (each bucket includes its lower bound).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime
from typing import Final

import polars as pl

QUEUES: Final = ("unassigned", "draft", "returned", "pending_audit")
DEFAULT_BOUNDS_HOURS: Final = (24, 72, 168, 336)


def _span(hours: int) -> str:
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


def bucket_labels(bounds_hours: Sequence[int] = DEFAULT_BOUNDS_HOURS) -> list[str]:
    """The age-bucket labels for ``bounds_hours``, youngest first."""
    if not bounds_hours or list(bounds_hours) != sorted(set(bounds_hours)) or bounds_hours[0] <= 0:
        raise ValueError("bounds_hours must be positive and strictly increasing")
    labels = [f"<{_span(bounds_hours[0])}"]
    for lo, hi in itertools.pairwise(bounds_hours):
        both_days = lo % 24 == 0 and hi % 24 == 0
        labels.append(f"{lo // 24}-{hi // 24}d" if both_days else f"{_span(lo)}-{_span(hi)}")
    labels.append(f"{_span(bounds_hours[-1])}+")
    return labels


def _age_bucket(hours: pl.Expr, bounds_hours: Sequence[int]) -> pl.Expr:
    labels = bucket_labels(bounds_hours)
    # Oldest first, each bucket overriding the older one when the age is below its upper bound.
    expr: pl.Expr = pl.lit(labels[-1])
    for bound, label in reversed(list(zip(bounds_hours, labels[:-1], strict=True))):
        expr = pl.when(hours < bound).then(pl.lit(label)).otherwise(expr)
    return expr


def queue_ages(
    charts: pl.LazyFrame, *, now: datetime, bounds_hours: Sequence[int] = DEFAULT_BOUNDS_HOURS
) -> pl.LazyFrame:
    """One row per open chart: ``chart_id``, ``queue``, ``assignee_id``, ``specialty``,
    ``waiting_since``, ``age_hours`` and ``age_bucket`` (the drill-down behind ``queue_depth``)."""
    queue = (
        pl.when((pl.col("status") == "draft") & pl.col("assignee_id").is_null())
        .then(pl.lit("unassigned"))
        .when(pl.col("status") == "draft")
        .then(pl.lit("draft"))
        .when(pl.col("status") == "returned")
        .then(pl.lit("returned"))
        .when(pl.col("status") == "pending_audit")
        .then(pl.lit("pending_audit"))
    )
    since = (
        pl.when(pl.col("queue") == "unassigned")
        .then(pl.col("created_at"))
        .when(pl.col("queue") == "draft")
        .then(pl.coalesce("assigned_at", "created_at"))
        .when(pl.col("queue") == "returned")
        .then(pl.coalesce("returned_at", "updated_at"))
        .otherwise(pl.coalesce("submitted_at", "updated_at"))
    )
    age = (pl.lit(now) - pl.col("waiting_since")).dt.total_seconds(fractional=True) / 3600
    return (
        charts.with_columns(queue=queue)
        .filter(pl.col("queue").is_not_null())
        .with_columns(waiting_since=since)
        .with_columns(age_hours=pl.max_horizontal(age, pl.lit(0.0)))
        .with_columns(age_bucket=_age_bucket(pl.col("age_hours"), bounds_hours))
        .select("chart_id", "queue", "assignee_id", "specialty", "waiting_since", "age_hours", "age_bucket")
    )


def queue_depth(
    charts: pl.LazyFrame, *, now: datetime, bounds_hours: Sequence[int] = DEFAULT_BOUNDS_HOURS
) -> pl.LazyFrame:
    """Open charts per ``queue`` and ``age_bucket``, every combination present (zeros included), in
    queue order then youngest bucket first: columns ``queue``, ``age_bucket``, ``charts``."""
    labels = bucket_labels(bounds_hours)
    grid = pl.LazyFrame({"queue": list(QUEUES)}).join(
        pl.LazyFrame({"age_bucket": labels, "_bucket_order": list(range(len(labels)))}), how="cross"
    )
    grid = grid.with_columns(_queue_order=pl.col("queue").replace_strict(list(QUEUES), list(range(len(QUEUES)))))
    counts = queue_ages(charts, now=now, bounds_hours=bounds_hours).group_by("queue", "age_bucket").agg(charts=pl.len())
    return (
        grid.join(counts, on=["queue", "age_bucket"], how="left")
        .with_columns(pl.col("charts").fill_null(0).cast(pl.UInt32))
        .sort("_queue_order", "_bucket_order")
        .select("queue", "age_bucket", "charts")
    )


def queue_summary(ages: pl.LazyFrame, *, by: Sequence[str] = ()) -> pl.LazyFrame:
    """Per ``queue`` (and ``by``, e.g. ``assignee_id``) over ``queue_ages``: ``charts``,
    ``oldest_hours`` and ``median_hours``."""
    return (
        ages.group_by("queue", *by)
        .agg(charts=pl.len(), oldest_hours=pl.col("age_hours").max(), median_hours=pl.col("age_hours").median())
        .sort("queue", *by)
    )
