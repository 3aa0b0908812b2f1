"""Coding accuracy from supervisor audits, against the 95 % target.

Per decided audit (``score_audits``), from its findings, as ``app.services.audits.code_scores``
scores it:

- **final codes**: the reviewer's final list — the coder's rows judged ``correct``,
  ``wrong_sequence`` or ``wrong_code`` (replaced by the expected code), plus every ``missing`` code;
- **correct codes**: the coder's rows judged ``correct`` or ``wrong_sequence`` (the code is right;
  its place is scored by principal-diagnosis correctness);
- **case correct**: no finding other than ``correct`` at all (no wrong, unsupported, extra,
  out-of-sequence or missing code): the chart needed no change.

Aggregates (``accuracy``) pool the codes, they do not average the per-audit ratios:

- **code-over-code accuracy** = Σ correct codes / Σ final codes (null when there are none);
- **case-level accuracy** = audits with the case correct / audits.

Worked example: audit 1 has 3 correct rows, 1 wrong code and 1 missing code (4 of 5), audit 2
has 2 correct rows (2 of 2): code-over-code accuracy = 6 / 7 = 0.857, case-level accuracy =
1 / 2 = 0.5. Both are compared with ``target`` (default 0.95); ``below_target`` uses the
code-over-code figure, the one the industry's 95 % standard refers to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import polars as pl

from pipelines.throughput import is_inpatient

ACCURACY_TARGET: Final = 0.95
CODE_RIGHT: Final = ("correct", "wrong_sequence")
KEPT: Final = ("correct", "wrong_sequence", "wrong_code")
UNCATEGORISED: Final = "Uncategorised"


def score_audits(audits: pl.LazyFrame, findings: pl.LazyFrame, charts: pl.LazyFrame) -> pl.LazyFrame:
    """One row per decided audit: ``audit_id``, ``chart_id``, ``submission_no``, ``coder_id``,
    ``supervisor_id``, ``decided_at``, ``decision``, ``principal_correct``, ``drg_correct``, the
    chart's ``specialty`` and ``inpatient``, and ``verdicts`` (all findings: one per coder row and
    one per missing code), ``codes_reviewed`` (verdicts on the coder's rows),
    ``correct_codes``, ``final_codes``, ``errors`` (findings other than ``correct``),
    ``case_correct`` and ``code_accuracy`` (1.0 when the final list is empty, as stored)."""
    verdict = pl.col("verdict")
    counts = findings.group_by("audit_id").agg(
        verdicts=pl.len(),
        codes_reviewed=(verdict != "missing").sum(),
        correct_codes=verdict.is_in(CODE_RIGHT).sum(),
        final_codes=(verdict.is_in(KEPT) | (verdict == "missing")).sum(),
        errors=(verdict != "correct").sum(),
    )
    chart_columns = charts.select("chart_id", "specialty", "encounter_class")
    return (
        audits.filter(pl.col("decision").is_not_null())
        .join(counts, on="audit_id", how="left", maintain_order="left")
        .join(chart_columns, on="chart_id", how="left", maintain_order="left")
        .with_columns(
            pl.col("verdicts", "codes_reviewed", "correct_codes", "final_codes", "errors").fill_null(0).cast(pl.Int64)
        )
        .with_columns(
            inpatient=is_inpatient(pl.col("encounter_class")),
            case_correct=pl.col("errors") == 0,
            code_accuracy=pl.when(pl.col("final_codes") > 0)
            .then(pl.col("correct_codes") / pl.col("final_codes"))
            .otherwise(pl.lit(1.0)),
        )
        .select(
            "audit_id",
            "chart_id",
            "submission_no",
            "coder_id",
            "supervisor_id",
            "decided_at",
            "decision",
            "principal_correct",
            "drg_correct",
            "specialty",
            "inpatient",
            "verdicts",
            "codes_reviewed",
            "correct_codes",
            "final_codes",
            "errors",
            "case_correct",
            "code_accuracy",
        )
    )


def accuracy(
    scored: pl.LazyFrame, *, by: Sequence[str] = (), every: str | None = None, target: float = ACCURACY_TARGET
) -> pl.LazyFrame:
    """Accuracy over ``score_audits`` rows per ``by`` (e.g. ``coder_id``, ``specialty``) and, with
    ``every``, per ``period`` of ``decided_at``: ``audits``, ``correct_codes``, ``final_codes``,
    ``code_accuracy``, ``case_accuracy``, ``target`` and ``below_target``."""
    keys = [*by]
    rows = scored
    if every is not None:
        rows = rows.with_columns(period=pl.col("decided_at").dt.truncate(every))
        keys.append("period")
    final = pl.col("final_codes")
    return (
        rows.group_by(keys)
        .agg(
            audits=pl.len(),
            correct_codes=pl.col("correct_codes").sum(),
            final_codes=final.sum(),
            case_accuracy=pl.col("case_correct").mean(),
        )
        .with_columns(
            code_accuracy=pl.when(pl.col("final_codes") > 0).then(pl.col("correct_codes") / pl.col("final_codes")),
            target=pl.lit(target),
        )
        .with_columns(below_target=pl.col("code_accuracy") < pl.col("target"))
        .select(
            *keys, "audits", "correct_codes", "final_codes", "code_accuracy", "case_accuracy", "target", "below_target"
        )
        .sort(keys, nulls_last=True)
    )


def accuracy_trend(
    scored: pl.LazyFrame, *, by: Sequence[str] = ("coder_id",), every: str = "1w", target: float = ACCURACY_TARGET
) -> pl.LazyFrame:
    """``accuracy`` per ``by`` and ``period`` (weekly by default, weeks start on Monday) with
    ``change``: the code-over-code accuracy minus that of the group's previous period with audits."""
    trend = accuracy(scored, by=by, every=every, target=target)
    previous = pl.col("code_accuracy").shift(1)
    change = (pl.col("code_accuracy") - (previous.over(by, order_by="period") if by else previous)).alias("change")
    return trend.sort(*by, "period").with_columns(change)


def coders_below_target(
    scored: pl.LazyFrame, *, target: float = ACCURACY_TARGET, min_final_codes: int = 1
) -> pl.LazyFrame:
    """Coders whose code-over-code accuracy is below ``target`` over at least ``min_final_codes``
    audited codes, lowest first (the dashboard's alert list)."""
    return (
        accuracy(scored, by=("coder_id",), target=target)
        .filter(pl.col("below_target") & (pl.col("final_codes") >= min_final_codes))
        .sort("code_accuracy", "coder_id")
    )


def findings_by_category(findings: pl.LazyFrame, scored: pl.LazyFrame, *, by: Sequence[str] = ()) -> pl.LazyFrame:
    """Errors per finding category (the supervisor's category, ``Uncategorised`` when none) over
    the decided audits in ``scored`` (filter it first to narrow by coder, specialty or dates):
    ``errors`` (findings other than ``correct``), ``share_of_errors``, ``verdicts`` (every verdict
    of the same audits, per ``by`` group: the coder's rows and the missing codes), ``error_rate``
    (errors / verdicts) and ``category_accuracy`` (1 - error_rate). ``by`` may name ``verdict``, ``severity`` or any ``scored`` column."""
    finding_keys = [k for k in by if k in ("verdict", "severity")]
    audit_keys = [k for k in by if k not in finding_keys]
    errors = (
        findings.filter(pl.col("verdict") != "correct")
        .join(scored.select("audit_id", *audit_keys), on="audit_id", how="inner")
        .with_columns(category=pl.col("category").fill_null(UNCATEGORISED))
        .group_by(*by, "category")
        .agg(errors=pl.len())
    )
    totals = scored.group_by(audit_keys or pl.lit(1).alias("_all")).agg(verdicts=pl.col("verdicts").sum())
    joined = errors.join(totals, on=audit_keys, how="left") if audit_keys else errors.join(totals, how="cross")
    share = (
        pl.col("errors") / pl.col("errors").sum().over(audit_keys)
        if audit_keys
        else pl.col("errors") / pl.col("errors").sum()
    )
    return (
        joined.with_columns(
            share_of_errors=share,
            error_rate=pl.when(pl.col("verdicts") > 0).then(pl.col("errors") / pl.col("verdicts")),
        )
        .with_columns(category_accuracy=1 - pl.col("error_rate"))
        .select(*by, "category", "errors", "share_of_errors", "verdicts", "error_rate", "category_accuracy")
        .sort([*by, "errors", "category"], descending=[*(False for _ in by), True, False])
    )
