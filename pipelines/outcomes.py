"""Audit outcomes, disputes and feedback acknowledgement.

- **Return rate** = audits decided ``return`` / audits decided. **First-pass approval rate** =
  first submissions (``submission_no == 1``) approved / first submissions decided: how often a
  chart goes through audit without rework.
- **Principal** and **MS-DRG correct rates** average the stored booleans over the audits where
  they are known (an ungroupable chart has no ``drg_correct``).
- **Disputes**: findings the coder disputed; ``overturned`` / resolved disputes is the share the
  supervisors conceded.
- **Feedback acknowledgement rate** = feedback acknowledged / feedback given; ``overdue`` counts
  feedback still unacknowledged ``overdue_days`` after it was given (at ``now``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl


def _keys(frame: pl.LazyFrame, by: Sequence[str], every: str | None, time: str) -> tuple[pl.LazyFrame, list[str]]:
    keys = [*by]
    if every is not None:
        frame = frame.with_columns(period=pl.col(time).dt.truncate(every))
        keys.append("period")
    return frame, keys


def audit_outcomes(scored: pl.LazyFrame, *, by: Sequence[str] = (), every: str | None = None) -> pl.LazyFrame:
    """Over ``score_audits`` rows per ``by`` (e.g. ``coder_id``, ``supervisor_id``) and ``period``
    of ``decided_at``: ``decided``, ``approved``, ``returned``, ``return_rate``,
    ``first_submissions``, ``first_pass_approved``, ``first_pass_rate``,
    ``principal_correct_rate`` and ``drg_correct_rate``."""
    rows, keys = _keys(scored, by, every, "decided_at")
    first = pl.col("submission_no") == 1
    approved = pl.col("decision") == "approve"
    return (
        rows.group_by(keys)
        .agg(
            decided=pl.len(),
            approved=approved.sum(),
            returned=(pl.col("decision") == "return").sum(),
            first_submissions=first.sum(),
            first_pass_approved=(first & approved).sum(),
            principal_correct_rate=pl.col("principal_correct").cast(pl.Float64).mean(),
            drg_correct_rate=pl.col("drg_correct").cast(pl.Float64).mean(),
        )
        .with_columns(
            return_rate=pl.col("returned") / pl.col("decided"),
            first_pass_rate=pl.when(pl.col("first_submissions") > 0).then(
                pl.col("first_pass_approved") / pl.col("first_submissions")
            ),
        )
        .select(
            *keys,
            "decided",
            "approved",
            "returned",
            "return_rate",
            "first_submissions",
            "first_pass_approved",
            "first_pass_rate",
            "principal_correct_rate",
            "drg_correct_rate",
        )
        .sort(keys, nulls_last=True)
    )


def dispute_outcomes(findings: pl.LazyFrame, scored: pl.LazyFrame, *, by: Sequence[str] = ()) -> pl.LazyFrame:
    """Disputes over the findings of the audits in ``scored``, per ``by`` (any ``scored`` column):
    ``findings`` (other than ``correct``), ``disputed``, ``upheld``, ``overturned``, ``pending``,
    ``dispute_rate`` (disputed / findings) and ``overturn_rate`` (overturned / resolved)."""
    resolution = pl.col("resolution")
    return (
        findings.filter(pl.col("verdict") != "correct")
        .join(scored.select("audit_id", *by), on="audit_id", how="inner")
        .group_by(by or pl.lit(1).alias("_all"))
        .agg(
            findings=pl.len(),
            disputed=pl.col("disputed").sum(),
            upheld=(resolution == "upheld").sum(),
            overturned=(resolution == "overturned").sum(),
            pending=(pl.col("disputed") & resolution.is_null()).sum(),
        )
        .with_columns(
            dispute_rate=pl.col("disputed") / pl.col("findings"),
            overturn_rate=pl.when((pl.col("upheld") + pl.col("overturned")) > 0).then(
                pl.col("overturned") / (pl.col("upheld") + pl.col("overturned"))
            ),
        )
        .select(*by, "findings", "disputed", "upheld", "overturned", "pending", "dispute_rate", "overturn_rate")
        .sort(by or "findings")
    )


def feedback_acknowledgement(
    feedback: pl.LazyFrame,
    *,
    now: datetime,
    by: Sequence[str] = (),
    every: str | None = None,
    overdue_days: float = 7,
) -> pl.LazyFrame:
    """Per ``by`` (e.g. ``coder_id``) and ``period`` of ``created_at``: ``feedback``,
    ``acknowledged``, ``ack_rate``, ``median_hours_to_ack`` (acknowledged ones) and ``overdue``."""
    rows, keys = _keys(feedback, by, every, "created_at")
    acked = pl.col("acknowledged_at").is_not_null()
    hours = (pl.col("acknowledged_at") - pl.col("created_at")).dt.total_seconds(fractional=True) / 3600
    age_days = (pl.lit(now) - pl.col("created_at")).dt.total_seconds(fractional=True) / 86400
    return (
        rows.group_by(keys or pl.lit(1).alias("_all"))
        .agg(
            feedback=pl.len(),
            acknowledged=acked.sum(),
            median_hours_to_ack=hours.median(),
            overdue=(~acked & (age_days >= overdue_days)).sum(),
        )
        .with_columns(ack_rate=pl.col("acknowledged") / pl.col("feedback"))
        .select(*keys, "feedback", "acknowledged", "ack_rate", "median_hours_to_ack", "overdue")
        .sort(keys or "feedback", nulls_last=True)
    )
