"""What ``/dashboard`` shows for a filter: small polars frames computed from the metrics pipelines.

``compute(frames, filters, now=…)`` is pure (no I/O): it narrows the organisation's input frames
(``pipelines.frames.Frames``, read once by the page in the executor) to the filters and runs the
pipelines of ``pipelines/`` over them, so every figure on the page is the number an analyst gets
in the notebooks. The period applies to *when things happened*:

- throughput: first submissions whose ``submitted_at`` falls in the period, per hour (one day),
  per day (up to 92 days) or per week (longer), every bucket present (zeros included);
- accuracy, finding categories, coders below the 95 % target: audits *decided* in the period;
- turnaround: each stage counted in the period it *ended* in (``pipelines.turnaround``);
- validation rules: errors and warnings stored in the period (``info`` findings — the MS-DRG,
  the comorbidity indexes — describe a chart, they do not fault it); override rates over the
  submissions in the period;
- the team table: each active coder's first submissions, audits and minutes per chart in it.

A specialty narrows everything to that specialty's charts; a coder to the charts they submitted
or hold, and to their audits. The frames are whole histories (no horizon): a handling-time
estimate needs the coder's previous submission, and the drill-down shows a chart's latest
audit whenever it was decided.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Final

import polars as pl

from pipelines import accuracy, throughput, turnaround, validation
from pipelines.frames import Frames, with_names

PERIODS: Final[dict[str, str]] = {
    "Today": "today",
    "Last 7 days": "7d",
    "Last 30 days": "30d",
    "Last 90 days": "90d",
    "Last 12 months": "365d",
    "All time": "all",
    "Custom dates": "custom",
}
DEFAULT_PERIOD: Final = "30d"
_DAYS: Final = {"today": 1, "7d": 7, "30d": 30, "90d": 90, "365d": 365}
STAGE_LABELS: Final = {
    "import_to_assign": "Import → assigned",
    "assign_to_submit": "Assigned → submitted",
    "submit_to_complete": "Submitted → completed",
    "import_to_complete": "Import → completed (whole way)",
}
# Which timestamp of ``chart_turnaround`` ends each stage (the docstring of pipelines.turnaround).
_STAGE_ENDS: Final = {
    "import_to_assign": "assigned_at",
    "assign_to_submit": "first_submitted_at",
    "submit_to_complete": "completed_at",
    "import_to_complete": "completed_at",
}
TOP_RULES: Final = 8
FAULTS: Final = ("error", "warning")  # validation severities that fault a chart (``info`` describes it)
ACCURACY_TARGET: Final = accuracy.ACCURACY_TARGET


class FilterError(ValueError):
    """A filter the page cannot apply (a custom range that ends before it starts)."""


@dataclass(frozen=True)
class Filters:
    """The dashboard's filters. Dates are UTC days, both ends inclusive; ``start`` None = all time."""

    period: str = DEFAULT_PERIOD
    start: date | None = None
    end: date | None = None
    specialty: str | None = None
    coder_id: str | None = None
    split_by_coder: bool = False

    def days(self, now: datetime) -> tuple[date | None, date]:
        """The first and last day of the period (inclusive)."""
        today = now.astimezone(UTC).date()
        if self.period == "custom":
            end = self.end or today
            if self.start is not None and self.start > end:
                raise FilterError("The period starts after it ends: choose a start date on or before the end date.")
            return self.start, end
        if self.period == "all":
            return None, today
        return today - timedelta(days=_DAYS.get(self.period, 30) - 1), today

    def bounds(self, now: datetime) -> tuple[datetime | None, datetime]:
        """``[lower, upper)`` in UTC: midnight of the first day, midnight after the last."""
        first, last = self.days(now)
        lower = datetime(first.year, first.month, first.day, tzinfo=UTC) if first else None
        return lower, datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)

    def describe(self, now: datetime) -> str:
        first, last = self.days(now)
        if first is None:
            return f"all time to {last:%d %b %Y}"
        if first == last:
            return f"{first:%d %b %Y}"
        return f"{first:%d %b} \u2013 {last:%d %b %Y}"


def bucket_for(first: date | None, last: date) -> str:
    """Hourly for one day, daily up to 92 days, weekly beyond."""
    if first is None:
        return "1w"
    span = (last - first).days + 1
    return "1h" if span <= 1 else "1d" if span <= 92 else "1w"


@dataclass(frozen=True)
class Headline:
    charts_coded: int = 0
    resubmissions: int = 0
    audits: int = 0
    code_accuracy: float | None = None
    case_accuracy: float | None = None
    median_minutes: float | None = None
    median_turnaround_hours: float | None = None


@dataclass(frozen=True)
class DashboardData:
    """Everything the page draws for one filter, each frame small (one row per bar or person)."""

    filters: Filters
    period_label: str
    bucket: str
    headline: Headline
    throughput: pl.DataFrame  # period, [coder,] charts
    accuracy_by_coder: pl.DataFrame  # coder_id, coder, audits, final_codes, code_accuracy, case_accuracy, below_target
    categories: pl.DataFrame  # category, errors, share_of_errors, verdicts, error_rate
    turnaround: pl.DataFrame  # stage, label, charts, p50_hours, p90_hours, p95_hours
    rules: pl.DataFrame  # rule_id, title, category, charts_flagged, override_rate, ...
    team: pl.DataFrame  # coder_id, coder, coded, resubmitted, audits, code_accuracy, returned, median_minutes
    below_target: pl.DataFrame  # coder_id, coder, code_accuracy, final_codes, audits
    chart_accuracy: dict[str, tuple[float, str]] = field(default_factory=dict)  # chart -> latest (accuracy, decision)
    compute_seconds: float = 0.0


def _in(column: str, lower: datetime | None, upper: datetime) -> pl.Expr:
    inside = pl.col(column) < upper
    return inside & (pl.col(column) >= lower) if lower is not None else inside


def coders(frames: Frames) -> pl.DataFrame:
    """The organisation's active coders (``user_id``, ``name``), by name."""
    return (
        frames.people.filter((pl.col("role") == "coder") & pl.col("is_active"))
        .select("user_id", "name")
        .sort("name", "user_id")
        .collect()
    )


def _timeline(lower: datetime | None, upper: datetime, bucket: str, first_seen: datetime | None) -> pl.DataFrame:
    start = lower if lower is not None else first_seen
    if start is None:
        return pl.DataFrame(schema={"period": pl.Datetime("us", "UTC")})
    first = pl.select(pl.lit(start).dt.truncate(bucket)).item()
    last = upper - timedelta(microseconds=1)
    return pl.DataFrame({"period": pl.datetime_range(first, last, bucket, time_unit="us", eager=True, time_zone="UTC")})


def _throughput(
    subs: pl.LazyFrame,
    *,
    charts: pl.LazyFrame,
    f: Filters,
    bucket: str,
    lower: datetime | None,
    upper: datetime,
    people: pl.LazyFrame,
) -> pl.DataFrame:
    by: tuple[str, ...] = ("coder_id",) if f.split_by_coder else ()
    coded = throughput.charts_coded(subs, charts, every=bucket, by=by).collect()
    first_seen = coded["period"].min() if coded.height else None
    timeline = _timeline(lower, upper, bucket, first_seen if isinstance(first_seen, datetime) else None)
    if not f.split_by_coder:
        return (
            timeline.join(coded, on="period", how="left")
            .with_columns(pl.col("charts").fill_null(0).cast(pl.Int64))
            .sort("period")
        )
    # Per coder: every (period, coder with work in the period) pair, zeros included.
    named = with_names(coded.lazy(), people, "coder_id", "coder").collect()
    grid = timeline.join(named.select("coder").unique(), how="cross")
    return (
        grid.join(named.select("period", "coder", "charts"), on=["period", "coder"], how="left")
        .with_columns(pl.col("charts").fill_null(0).cast(pl.Int64))
        .sort("period", "coder")
    )


def compute(
    frames: Frames, f: Filters, *, now: datetime, rule_titles: Mapping[str, str] | None = None
) -> DashboardData:
    """The dashboard's figures for ``f`` (see the module docstring). ``frames`` should be collected
    (``Frames.collected()``): every pipeline here reads them again."""
    started = time.perf_counter()
    lower, upper = f.bounds(now)
    first_day, last_day = f.days(now)
    bucket = bucket_for(first_day, last_day)
    people = frames.people

    charts = frames.charts
    if f.specialty:
        charts = charts.filter(pl.col("specialty") == f.specialty)
    subs = frames.submissions.join(charts.select("chart_id"), on="chart_id", how="semi")
    audits = frames.audits.join(charts.select("chart_id"), on="chart_id", how="semi")
    if f.coder_id:
        subs = subs.filter(pl.col("coder_id") == f.coder_id)
        audits = audits.filter(pl.col("coder_id") == f.coder_id)
        mine = pl.concat(
            [charts.filter(pl.col("assignee_id") == f.coder_id).select("chart_id"), subs.select("chart_id")]
        ).unique()
        charts = charts.join(mine, on="chart_id", how="semi")
    period_subs = subs.filter(_in("submitted_at", lower, upper))

    # Throughput and minutes per chart (the estimate needs each coder's previous submission: all of them).
    coded = _throughput(period_subs, charts=charts, f=f, bucket=bucket, lower=lower, upper=upper, people=people)
    handling = throughput.handling_times(subs, frames.charts).filter(_in("submitted_at", lower, upper))
    minutes_by_coder = throughput.minutes_per_chart(handling, by=("coder_id",)).select("coder_id", "median_minutes")
    overall_minutes = throughput.minutes_per_chart(handling, by=()).collect()

    # Accuracy over the audits decided in the period.
    scored_all = accuracy.score_audits(audits, frames.findings, frames.charts).collect().lazy()
    scored = scored_all.filter(_in("decided_at", lower, upper))
    by_coder = with_names(accuracy.accuracy(scored, by=("coder_id",)), people, "coder_id", "coder").collect()
    overall = accuracy.accuracy(scored).collect()
    below = with_names(accuracy.coders_below_target(scored), people, "coder_id", "coder").collect()
    categories = accuracy.findings_by_category(frames.findings, scored).collect()

    # Turnaround: a stage counts in the period it ended in.
    per_chart = turnaround.chart_turnaround(charts, frames.submissions).with_columns(
        pl.when(_in(_STAGE_ENDS[stage], lower, upper)).then(pl.col(stage)).alias(stage) for stage in turnaround.STAGES
    )
    stages = (
        turnaround.turnaround(per_chart)
        .collect()
        .with_columns(label=pl.col("stage").replace_strict(STAGE_LABELS, default=pl.col("stage")))
    )

    # Validation findings stored in the period, on the filtered charts.
    found = frames.validation.join(charts.select("chart_id"), on="chart_id", how="semi").filter(
        _in("created_at", lower, upper) & pl.col("severity").is_in(FAULTS)
    )
    rules = validation.validation_by_rule(found, period_subs).head(TOP_RULES).collect()
    titles = rule_titles or {}
    rules = rules.with_columns(title=pl.col("rule_id").replace_strict(titles, default=pl.col("rule_id")))

    team = _team(frames, f, period_subs, scored, minutes_by_coder)
    chart_accuracy: dict[str, tuple[float, str]] = {}
    if f.coder_id:  # the drill-down's column: each of the coder's charts' latest decided audit
        latest = (
            scored_all.sort("decided_at")
            .group_by("chart_id")
            .agg(pl.col("code_accuracy").last(), pl.col("decision").last())
            .collect()
        )
        chart_accuracy = {
            row["chart_id"]: (float(row["code_accuracy"]), str(row["decision"])) for row in latest.iter_rows(named=True)
        }
    headline = Headline(
        charts_coded=int(period_subs.filter(~pl.col("resubmission")).select(pl.len()).collect().item()),
        resubmissions=int(period_subs.filter(pl.col("resubmission")).select(pl.len()).collect().item()),
        audits=int(overall["audits"][0]) if overall.height else 0,
        code_accuracy=overall["code_accuracy"][0] if overall.height else None,
        case_accuracy=overall["case_accuracy"][0] if overall.height else None,
        median_minutes=overall_minutes["median_minutes"][0] if overall_minutes.height else None,
        median_turnaround_hours=_whole_way(stages),
    )
    return DashboardData(
        filters=f,
        period_label=f.describe(now),
        bucket=bucket,
        headline=headline,
        throughput=coded,
        accuracy_by_coder=by_coder.select(
            "coder_id", "coder", "audits", "final_codes", "code_accuracy", "case_accuracy", "below_target"
        ),
        categories=categories,
        turnaround=stages,
        rules=rules,
        team=team,
        below_target=below.select("coder_id", "coder", "code_accuracy", "final_codes", "audits"),
        chart_accuracy=chart_accuracy,
        compute_seconds=time.perf_counter() - started,
    )


def _whole_way(stages: pl.DataFrame) -> float | None:
    row = stages.filter(pl.col("stage") == "import_to_complete")
    return float(row["p50_hours"][0]) if row.height else None


def _team(
    frames: Frames, f: Filters, period_subs: pl.LazyFrame, scored: pl.LazyFrame, minutes: pl.LazyFrame
) -> pl.DataFrame:
    """One row per active coder (and anyone else with work in the period): what they did in it."""
    roster = frames.people.filter((pl.col("role") == "coder") & pl.col("is_active")).select(
        pl.col("user_id").alias("coder_id")
    )
    worked = pl.concat([period_subs.select("coder_id"), scored.select("coder_id")]).unique()
    everyone = pl.concat([roster, worked]).unique().filter(pl.col("coder_id").is_not_null())
    if f.coder_id:
        everyone = everyone.filter(pl.col("coder_id") == f.coder_id)
    submitted = period_subs.group_by("coder_id").agg(
        coded=(~pl.col("resubmission")).sum(), resubmitted=pl.col("resubmission").sum()
    )
    audited = accuracy.accuracy(scored, by=("coder_id",)).select("coder_id", "audits", "code_accuracy")
    returned = scored.group_by("coder_id").agg(returned=(pl.col("decision") == "return").sum())
    table = (
        everyone.join(submitted, on="coder_id", how="left")
        .join(audited, on="coder_id", how="left")
        .join(returned, on="coder_id", how="left")
        .join(minutes, on="coder_id", how="left")
        .with_columns(pl.col("coded", "resubmitted", "audits", "returned").fill_null(0).cast(pl.Int64))
    )
    return (
        with_names(table, frames.people, "coder_id", "coder")
        .select("coder_id", "coder", "coded", "resubmitted", "audits", "code_accuracy", "returned", "median_minutes")
        .sort(["coded", "coder"], descending=[True, False])
        .collect()
    )
