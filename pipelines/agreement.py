"""Inter-rater agreement between supervisors: Cohen's kappa on per-code verdicts.

**What is matched.** An *item* is one code row of one submission, ``(chart_id, submission_no,
chart_code_id)``. It has two ratings when two decided audits of that same submission, by two
different supervisors, each gave the row a verdict. At most one audit of a chart is open at a time
(``audits_one_open_uq``), so two raters arise only from sequential audits of one submission — a
second, blind audit of an already decided submission (a QA double audit, or audits loaded from
elsewhere). The app's own flow decides a submission once; a resubmission is a new submission and
is *not* matched with the earlier one, because the coder has changed the rows the first audit
flagged in between: comparing the verdicts would measure the rework, not the raters. Missing-code
findings are left out (they have no code row both raters saw), as are pairs from one supervisor.

With three or more audits of a submission every pair of different supervisors counts once. Each
pair is oriented by supervisor id: ``rater_a`` is the smaller id, ``rater_b`` the larger, so the
kappa of one pair of supervisors (``by=("rater_a", "rater_b")``) is exactly their Cohen's kappa.

**Kappa.** Over N items with verdicts ``verdict_a`` and ``verdict_b``::

    p_o   = items where the verdicts agree / N
    p_e   = Σ over verdicts v of (share of items rater a judged v) x (share rater b judged v)
    kappa = (p_o - p_e) / (1 - p_e)

``kappa`` is null when ``p_e`` is 1 (both raters used one and the same verdict for every item:
agreement by chance cannot be told from real agreement).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl


def verdict_pairs(audits: pl.LazyFrame, findings: pl.LazyFrame) -> pl.LazyFrame:
    """One row per item rated by two supervisors (see the module docstring): ``chart_id``,
    ``submission_no``, ``chart_code_id``, ``rater_a``, ``rater_b``, ``audit_a``, ``audit_b``,
    ``verdict_a``, ``verdict_b`` and ``decided_at`` (the later of the two decisions)."""
    rated = (
        findings.filter(pl.col("chart_code_id").is_not_null() & (pl.col("verdict") != "missing"))
        .select("audit_id", "chart_code_id", "verdict")
        .join(
            audits.filter(pl.col("decision").is_not_null()).select(
                "audit_id", "chart_id", "submission_no", "supervisor_id", "decided_at"
            ),
            on="audit_id",
            how="inner",
        )
    )
    item = ["chart_id", "submission_no", "chart_code_id"]
    return (
        rated.join(rated, on=item, how="inner", suffix="_other")
        .filter(pl.col("supervisor_id") < pl.col("supervisor_id_other"))
        .select(
            *item,
            rater_a=pl.col("supervisor_id"),
            rater_b=pl.col("supervisor_id_other"),
            audit_a=pl.col("audit_id"),
            audit_b=pl.col("audit_id_other"),
            verdict_a=pl.col("verdict"),
            verdict_b=pl.col("verdict_other"),
            decided_at=pl.max_horizontal("decided_at", "decided_at_other"),
        )
        .sort(*item, "rater_a", "rater_b", "audit_a", "audit_b")
    )


def cohens_kappa(pairs: pl.LazyFrame, *, by: Sequence[str] = ()) -> pl.LazyFrame:
    """Cohen's kappa over ``verdict_pairs`` rows, per ``by`` (e.g. ``("rater_a", "rater_b")``):
    ``items``, ``observed_agreement``, ``expected_agreement`` and ``kappa``."""
    keys = [*by]
    key_columns = keys or ["_all"]
    rows = pairs if keys else pairs.with_columns(_all=pl.lit(1))
    observed = rows.group_by(key_columns).agg(items=pl.len(), agreed=(pl.col("verdict_a") == pl.col("verdict_b")).sum())
    share_a = rows.group_by(*key_columns, pl.col("verdict_a").alias("verdict")).agg(n_a=pl.len())
    share_b = rows.group_by(*key_columns, pl.col("verdict_b").alias("verdict")).agg(n_b=pl.len())
    chance = (
        share_a.join(share_b, on=[*key_columns, "verdict"], how="inner")
        .group_by(key_columns)
        .agg(chance_products=(pl.col("n_a") * pl.col("n_b")).sum())
    )
    p_o = pl.col("agreed") / pl.col("items")
    p_e = pl.col("chance_products").fill_null(0) / (pl.col("items") * pl.col("items"))
    return (
        observed.join(chance, on=key_columns, how="left")
        .with_columns(observed_agreement=p_o, expected_agreement=p_e)
        .with_columns(
            kappa=pl.when(pl.col("expected_agreement") < 1).then(
                (pl.col("observed_agreement") - pl.col("expected_agreement")) / (1 - pl.col("expected_agreement"))
            )
        )
        .select(*keys, pl.col("items").cast(pl.Int64), "observed_agreement", "expected_agreement", "kappa")
        .sort(keys or "items")
    )


def inter_rater_agreement(audits: pl.LazyFrame, findings: pl.LazyFrame, *, by: Sequence[str] = ()) -> pl.LazyFrame:
    """``cohens_kappa(verdict_pairs(audits, findings), by=by)``: pooled over every pair of
    supervisors by default, per pair of supervisors with ``by=("rater_a", "rater_b")``."""
    return cohens_kappa(verdict_pairs(audits, findings), by=by)
