"""`smartcoders bench rollup`: the metric rollup over 1,000,000 chart-code rows, and the same
aggregation written in pandas, measured in the same run.

The input is synthesised in memory (no database read, no write): ``--codes`` audit verdict rows
(default 1,000,000: one per code row a coder entered, plus the missing codes supervisors added),
five per audit, so 200,000 audited charts by 200 coders and 20 supervisors over 90 days, with
their submissions, feedback and two validation findings per chart. Times are wall-clock
medians over ``--repeats`` runs after one warm-up:

- ``polars_rollup``: ``pipelines.rollups.compute_rollups`` — every rollup metric, all frames;
- ``polars_accuracy``: ``pipelines.rollups.accuracy_rollups`` — the part that reads every
  chart-code row (code-over-code and case accuracy per day by organisation, coder, specialty;
  finding errors per day by category, verdict);
- ``pandas_accuracy``: that same aggregation written in pandas, from pandas frames (converting
  the frames to pandas is timed apart, as ``to_pandas``); its rows are checked against polars'.

``ratio`` = pandas / polars for the same aggregation. The target is the whole rollup under 2 s
(wall clock). CPU times (every thread of this process) are reported beside the wall times: on a
busy shared machine they show what the work itself costs.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from app.bench import Report, positive_int, register

TARGET_S: Final = 2.0
CODES_PER_AUDIT: Final = 5
CODERS: Final = 200
SUPERVISORS: Final = 20
DAYS: Final = 90
SPECIALTIES: Final = (
    "inpatient_medicine",
    "surgery",
    "obstetrics",
    "neonatology",
    "emergency",
    "behavioral_health",
    "urgent_care",
    "home_health",
    "dental",
    "allergy_immunology",
    "pediatrics",
    "primary_care",
)
VERDICTS: Final = ("correct", "wrong_code", "wrong_sequence", "not_supported", "should_not_code", "extra", "missing")
VERDICT_WEIGHTS: Final = (0.88, 0.04, 0.02, 0.01, 0.01, 0.02, 0.02)
CATEGORIES: Final = (
    "Specificity",
    "Sequencing",
    "Documentation support",
    "Coding guideline",
    "Complication or comorbidity",
    "Other",
)


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--codes", type=positive_int, default=1_000_000, metavar="N", help="chart-code rows (default 1,000,000)"
    )
    parser.add_argument("--repeats", type=positive_int, default=5, metavar="N", help="timed runs of each (default 5)")


def synthesise(codes: int, *, seed: int = 7) -> Any:
    """In-memory ``pipelines.frames.Frames`` with ``codes`` finding rows (see the module docstring)."""
    import numpy as np
    import polars as pl

    from pipelines.frames import Frames

    rng = np.random.default_rng(seed)
    audits = max(1, codes // CODES_PER_AUDIT)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    minutes = pl.Series(rng.integers(0, DAYS * 24 * 60, audits)) * 60_000_000  # microseconds
    submitted = pl.lit(start) + pl.duration(microseconds=pl.col("_submitted"))
    decided_after = pl.Series(rng.integers(10, 48 * 60, audits)) * 60_000_000
    base = pl.DataFrame(
        {
            "_i": np.arange(audits),
            "_coder": rng.integers(0, CODERS, audits),
            "_supervisor": rng.integers(0, SUPERVISORS, audits),
            "_specialty": rng.integers(0, len(SPECIALTIES), audits),
            "_inpatient": rng.random(audits) < 0.4,
            "_returned": rng.random(audits) < 0.15,
            "_submitted": minutes,
            "_decided": minutes + decided_after,
            "_principal": rng.random(audits) < 0.93,
            "_drg": rng.random(audits) < 0.9,
            "_acked": rng.random(audits) < 0.7,
        }
    ).with_columns(
        chart_id=pl.format("chart-{}", "_i"),
        audit_id=pl.format("audit-{}", "_i"),
        coder_id=pl.format("coder-{}", "_coder"),
        supervisor_id=pl.format("supervisor-{}", "_supervisor"),
        specialty=pl.col("_specialty").replace_strict(list(range(len(SPECIALTIES))), list(SPECIALTIES)),
        submitted_at=submitted,
        decided_at=pl.lit(start) + pl.duration(microseconds=pl.col("_decided")),
    )
    charts = base.select(
        "chart_id",
        status=pl.when(pl.col("_returned")).then(pl.lit("returned")).otherwise(pl.lit("completed")),
        specialty="specialty",
        encounter_class=pl.when(pl.col("_inpatient")).then(pl.lit("IMP")).otherwise(pl.lit("AMB")),
        difficulty=(pl.col("_i") % 5 + 1),
        assignee_id="coder_id",
        created_at=pl.col("submitted_at") - pl.duration(days=2),
        assigned_at=pl.col("submitted_at") - pl.duration(hours=20),
        submitted_at="submitted_at",
        completed_at=pl.when(~pl.col("_returned")).then(pl.col("decided_at")),
        returned_at=pl.when(pl.col("_returned")).then(pl.col("decided_at")),
        updated_at="decided_at",
    )
    submissions = base.select(
        "chart_id", "coder_id", "submitted_at", version=pl.lit(2, pl.Int64), resubmission=pl.lit(value=False)
    )
    audit_rows = base.select(
        "audit_id",
        "chart_id",
        submission_no=pl.lit(1, pl.Int64),
        supervisor_id="supervisor_id",
        coder_id="coder_id",
        claimed_at=pl.col("decided_at") - pl.duration(minutes=15),
        decided_at="decided_at",
        decision=pl.when(pl.col("_returned")).then(pl.lit("return")).otherwise(pl.lit("approve")),
        code_accuracy=pl.lit(None, pl.Float64),
        principal_correct="_principal",
        drg_correct="_drg",
    )
    verdict = rng.choice(len(VERDICTS), size=codes, p=VERDICT_WEIGHTS)
    category = rng.integers(0, len(CATEGORIES) + 1, codes)  # the last one: no category
    findings = pl.DataFrame(
        {
            "_n": np.arange(codes),
            "_audit": np.minimum(np.arange(codes) // CODES_PER_AUDIT, audits - 1),
            "_verdict": verdict,
            "_category": category,
            "_disputed": rng.random(codes) < 0.05,
        }
    ).select(
        finding_id=pl.format("finding-{}", "_n"),
        audit_id=pl.format("audit-{}", "_audit"),
        chart_code_id=pl.when(pl.col("_verdict") != len(VERDICTS) - 1).then(pl.format("code-{}", "_n")),
        verdict=pl.col("_verdict").replace_strict(list(range(len(VERDICTS))), list(VERDICTS)),
        category=pl.when(pl.col("_verdict") != 0).then(
            pl.col("_category").replace_strict(list(range(len(CATEGORIES) + 1)), [*CATEGORIES, None])
        ),
        severity=pl.lit("minor"),
        disputed=pl.col("_disputed") & (pl.col("_verdict") != 0),
        resolution=pl.lit(None, pl.String),
    )
    feedback = base.filter(pl.col("_returned")).select(
        feedback_id=pl.format("feedback-{}", "_i"),
        audit_id="audit_id",
        chart_id="chart_id",
        coder_id="coder_id",
        supervisor_id="supervisor_id",
        created_at="decided_at",
        acknowledged_at=pl.when(pl.col("_acked")).then(pl.col("decided_at") + pl.duration(hours=6)),
    )
    rules = [f"R-{kind}-{n:02d}" for kind in ("FMT", "SEQ", "CMB") for n in range(1, 11)]
    rule = rng.integers(0, len(rules), 2 * audits)
    overridable = rng.random(2 * audits) < 0.3
    validation = pl.DataFrame(
        {
            "chart_id": pl.concat([base["chart_id"], base["chart_id"]]),
            "chart_version": np.repeat(np.array([1, 2]), audits),
            "_rule": rule,
            "overridable": overridable,
            "overridden": overridable & (rng.random(2 * audits) < 0.5),
            "created_at": pl.concat([base["submitted_at"], base["submitted_at"]]),
        }
    ).select(
        "chart_id",
        "chart_version",
        rule_id=pl.col("_rule").replace_strict(list(range(len(rules))), rules),
        category=pl.col("_rule").replace_strict(
            list(range(len(rules))),
            [{"FMT": "format", "SEQ": "sequencing", "CMB": "comorbidity"}[r[2:5]] for r in rules],
        ),
        severity=pl.lit("error"),
        overridable="overridable",
        overridden="overridden",
        created_at="created_at",
    )
    people = pl.DataFrame(
        {
            "user_id": [f"coder-{i}" for i in range(CODERS)] + [f"supervisor-{i}" for i in range(SUPERVISORS)],
            "name": [f"Coder {i}" for i in range(CODERS)] + [f"Supervisor {i}" for i in range(SUPERVISORS)],
            "role": ["coder"] * CODERS + ["supervisor"] * SUPERVISORS,
            "is_active": [True] * (CODERS + SUPERVISORS),
        }
    )
    return Frames.of(
        charts=charts,
        submissions=submissions,
        audits=audit_rows,
        findings=findings,
        feedback=feedback,
        validation=validation,
        people=people,
    ).collected()


def pandas_accuracy(charts: Any, audits: Any, findings: Any) -> Any:
    """``pipelines.rollups.accuracy_rollups`` written in pandas, over pandas frames of the same
    schemas: the same rows (metric, bucket_start, dimension, value, sample_size), same order."""
    import pandas as pd

    from pipelines.accuracy import CODE_RIGHT, KEPT, UNCATEGORISED

    verdict = findings["verdict"]
    per_audit = (
        pd.DataFrame(
            {
                "audit_id": findings["audit_id"],
                "correct_codes": verdict.isin(CODE_RIGHT),
                "final_codes": verdict.isin(KEPT) | (verdict == "missing"),
                "errors": verdict != "correct",
            }
        )
        .groupby("audit_id", sort=False)
        .sum()
    )
    scored = audits[audits["decision"].notna()].merge(per_audit, left_on="audit_id", right_index=True, how="left")
    for count in ("correct_codes", "final_codes", "errors"):
        scored[count] = scored[count].fillna(0).astype("int64")
    scored = scored.merge(charts[["chart_id", "specialty"]], on="chart_id", how="left")
    scored["period"] = scored["decided_at"].dt.floor("D")
    scored["case_correct"] = scored["errors"] == 0
    parts = []

    def dimension(frame: Any, prefix: str, column: str | None) -> Any:
        if column is None:
            return pd.Series("", index=frame.index)
        return prefix + ":" + frame[column].fillna("(none)").astype(str)

    dims: tuple[tuple[str, str | None], ...] = (("", None), ("coder", "coder_id"), ("specialty", "specialty"))
    for prefix, column in dims:
        keys = ["period"] if column is None else ["period", column]
        grouped = (
            scored.groupby(keys, dropna=False, sort=False)
            .agg(
                audits=("audit_id", "size"),
                correct_codes=("correct_codes", "sum"),
                final_codes=("final_codes", "sum"),
                case_accuracy=("case_correct", "mean"),
            )
            .reset_index()
        )
        with_codes = grouped[grouped["final_codes"] > 0]
        parts.append(
            pd.DataFrame(
                {
                    "metric": "code_accuracy",
                    "bucket_start": with_codes["period"],
                    "dimension": dimension(with_codes, prefix, column),
                    "value": with_codes["correct_codes"] / with_codes["final_codes"],
                    "sample_size": with_codes["final_codes"],
                }
            )
        )
        parts.append(
            pd.DataFrame(
                {
                    "metric": "case_accuracy",
                    "bucket_start": grouped["period"],
                    "dimension": dimension(grouped, prefix, column),
                    "value": grouped["case_accuracy"].astype("float64"),
                    "sample_size": grouped["audits"],
                }
            )
        )
    errors = findings[findings["verdict"] != "correct"].merge(scored[["audit_id", "period"]], on="audit_id")
    errors["category"] = errors["category"].fillna(UNCATEGORISED)
    error_dims: tuple[tuple[str, str | None], ...] = (("", None), ("category", "category"), ("verdict", "verdict"))
    for prefix, by in error_dims:
        keys = ["period"] if by is None else ["period", by]
        grouped = errors.groupby(keys, dropna=False, sort=False).size().reset_index(name="errors")
        parts.append(
            pd.DataFrame(
                {
                    "metric": "finding_errors",
                    "bucket_start": grouped["period"],
                    "dimension": dimension(grouped, prefix, by),
                    "value": grouped["errors"].astype("float64"),
                    "sample_size": grouped["errors"],
                }
            )
        )
    rows = pd.concat(parts, ignore_index=True)
    rows = rows[rows["value"].notna()]
    return rows.sort_values(["metric", "bucket_start", "dimension"], kind="stable").reset_index(drop=True)


@dataclass
class Timing:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # this process, every thread

    @property
    def wall_s(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_s(self) -> float:
        return statistics.median(self.cpu)


def _timed(repeats: int, work: Callable[[], Any]) -> tuple[Timing, Any]:
    work()  # warm-up
    timing = Timing()
    result: Any = None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        timing.cpu.append(time.process_time() - cpu)
        timing.wall.append(time.perf_counter() - wall)
    return timing, result


def _same_rows(polars_rows: Any, pandas_rows: Any) -> bool:
    import numpy as np

    if len(polars_rows) != len(pandas_rows):
        return False
    ours = polars_rows.to_pandas()
    for column in ("metric", "dimension"):
        if list(ours[column]) != list(pandas_rows[column].astype(str)):
            return False
    same_buckets = np.array_equal(
        ours["bucket_start"].to_numpy(dtype="datetime64[us]"),
        pandas_rows["bucket_start"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]"),
    )
    same_sizes = np.array_equal(ours["sample_size"].to_numpy(), pandas_rows["sample_size"].to_numpy(dtype="int64"))
    same_values = np.allclose(
        ours["value"].to_numpy(), pandas_rows["value"].to_numpy(dtype="float64"), rtol=0, atol=1e-12
    )
    return bool(same_buckets and same_sizes and same_values)


@register("rollup", "metric rollups over 1,000,000 chart-code rows, and the same aggregation in pandas", _configure)
def run_rollup(args: argparse.Namespace) -> Report:
    import pandas as pd
    import polars as pl

    from pipelines.rollups import accuracy_rollups, compute_rollups

    codes: int = args.codes
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    frames = synthesise(codes)
    synth_s = time.perf_counter() - started
    now = datetime(2025, 4, 15, tzinfo=UTC)
    full, full_rows = _timed(args.repeats, lambda: compute_rollups(frames, now=now).collect())
    polars, polars_rows = _timed(args.repeats, lambda: accuracy_rollups(frames).collect())
    started = time.perf_counter()
    charts_pd = frames.charts.collect().to_pandas()
    audits_pd = frames.audits.collect().to_pandas()
    findings_pd = frames.findings.collect().to_pandas()
    to_pandas_s = time.perf_counter() - started
    pandas, pandas_rows = _timed(args.repeats, lambda: pandas_accuracy(charts_pd, audits_pd, findings_pd))

    report = Report(f"Metric rollup over {codes:,} chart-code rows, {args.repeats} runs each (medians)")
    report.add("chart_code_rows", codes)
    report.add("audits", frames.audits.select(pl.len()).collect().item())
    report.add("charts", frames.charts.select(pl.len()).collect().item())
    report.add("validation_rows", frames.validation.select(pl.len()).collect().item())
    report.add("rollup_rows", full_rows.height)
    report.add("synthesise_s", round(synth_s, 3))
    report.add("polars_rollup_s", round(full.wall_s, 3))
    report.add("polars_rollup_min_s", round(min(full.wall), 3))
    report.add("polars_rollup_cpu_s", round(full.cpu_s, 3))
    report.add("target_s", TARGET_S)
    report.add("meets_target", full.wall_s < TARGET_S)
    report.add("polars_accuracy_s", round(polars.wall_s, 3))
    report.add("pandas_accuracy_s", round(pandas.wall_s, 3))
    report.add("ratio_pandas_over_polars", round(pandas.wall_s / polars.wall_s, 2))
    report.add("polars_accuracy_cpu_s", round(polars.cpu_s, 3))
    report.add("pandas_accuracy_cpu_s", round(pandas.cpu_s, 3))
    report.add("cpu_ratio_pandas_over_polars", round(pandas.cpu_s / polars.cpu_s, 2))
    report.add("to_pandas_s", round(to_pandas_s, 3))
    report.add("accuracy_rows", polars_rows.height)
    report.add("results_match", _same_rows(polars_rows, pandas_rows))
    report.add("db_read_included", False)
    report.add("polars_threads", pl.thread_pool_size())
    report.add("polars_version", pl.__version__)
    report.add("pandas_version", pd.__version__)
    report.add("peak_rss_mb", round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    report.add("load_average_before", round(load_before, 2))
    report.add("load_average_after", round(os.getloadavg()[0], 2))
    report.notes += [
        "input synthesised in memory (no database read or write): "
        f"{CODES_PER_AUDIT} verdict rows per audit, {CODERS} coders, {SUPERVISORS} supervisors, {DAYS} days",
        "polars_rollup: every metric of pipelines.rollups.compute_rollups over all frames",
        "polars_accuracy / pandas_accuracy: the same aggregation over every chart-code row "
        "(accuracy_rollups); ratio = pandas / polars; to_pandas (frame conversion) is not in pandas_accuracy",
        "*_cpu_s: CPU time of this process (all threads) — steadier than wall time on a shared machine; "
        "the 1-minute load average before and after shows how shared it was",
    ]
    return report
