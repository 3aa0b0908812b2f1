"""The metrics pipelines (``pipelines/``) on small frames whose answers are worked out by hand.

Every expected frame below is written out in full and compared with
``polars.testing.assert_frame_equal``; the comments show the arithmetic. The fixture universe of
the accuracy, outcome and rollup tests (times UTC, Monday 3 March 2025 is the first day)::

    coders c1, c2 · supervisors s1, s2
    audit  chart  coder  sup  decided       decision  findings                                    correct/final
    A1     ch1    c1     s1   Mon 03 10:00  approve   3 correct, wrong_code (Specificity),        3/5
                                                      missing (Documentation support)
    A2     ch2    c1     s1   Tue 04 10:00  return    2 correct, wrong_sequence (Sequencing)      3/3
    A3     ch3    c2     s1   Tue 04 11:00  approve   2 correct                                   2/2
    A4     ch4    c2     s2   Tue 11 09:00  approve   3 correct, wrong_code (Specificity),        3/4
                                                      submission 2
    A5     ch5    c1     s2   (open claim: no decision, never counted)

    ch1, ch2 inpatient_medicine (IMP) · ch3, ch4 cardiology (AMB)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipelines import accuracy, agreement, outcomes, queue, rollups, sources, throughput, turnaround, validation
from pipelines.frames import SCHEMAS, UTC_TIME, FrameError, Frames, conform, with_names

MON = datetime(2025, 3, 3, tzinfo=UTC)


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    """March ``day``, 2025 at ``hour``:``minute`` UTC."""
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)


def make(name: str, rows: list[dict[str, Any]]) -> pl.LazyFrame:
    """A frame of schema ``name``; columns a row does not give are null."""
    schema = SCHEMAS[name]
    return pl.DataFrame({c: [r.get(c) for r in rows] for c in schema}, schema=schema).lazy()


def expect(data: dict[str, list[Any]], schema: dict[str, Any] | None = None) -> pl.DataFrame:
    return pl.DataFrame(data, schema_overrides=schema or {})


# -- frames ----------------------------------------------------------------------------------------


def test_conform_names_the_missing_column() -> None:
    with pytest.raises(FrameError, match="the charts frame has no column status"):
        conform("charts", pl.DataFrame({"chart_id": ["x"]}).with_columns(pl.lit(None).alias("specialty")))


def test_conform_casts_and_reads_naive_times_as_utc() -> None:
    naive = make("submissions", [{"chart_id": "a", "coder_id": "c", "submitted_at": at(3), "resubmission": False}])
    naive = naive.with_columns(pl.col("submitted_at").dt.replace_time_zone(None), pl.col("version").cast(pl.Int32))
    got = conform("submissions", naive).collect()
    assert got.schema == SCHEMAS["submissions"]
    assert got["submitted_at"][0] == at(3)


def test_conform_refuses_text_for_a_time() -> None:
    frame = make("feedback", []).with_columns(pl.col("created_at").cast(pl.String))
    with pytest.raises(FrameError, match=r"feedback\.created_at is String"):
        conform("feedback", frame)


def test_frames_of_unknown_name_is_an_error() -> None:
    with pytest.raises(FrameError, match="unknown frame chart"):
        Frames.of(chart=pl.DataFrame())


def test_with_names() -> None:
    people = make("people", [{"user_id": "c1", "name": "Ada Coder"}, {"user_id": "s1", "name": "Sam"}])
    frame = pl.LazyFrame({"coder_id": ["c2", "c1", None], "n": [1, 2, 3]})
    got = with_names(frame, people, "coder_id", "coder").collect()
    assert got.rows() == [("c2", 1, "c2"), ("c1", 2, "Ada Coder"), (None, 3, None)]


def test_inpatient_classes_match_the_validation_engine() -> None:
    from app.validation import model

    assert set(throughput.INPATIENT_CLASSES) == set(model._INPATIENT_CLASSES)


# -- queue depth -----------------------------------------------------------------------------------


def test_bucket_labels() -> None:
    assert queue.bucket_labels() == ["<1d", "1-3d", "3-7d", "7-14d", "14d+"]
    assert queue.bucket_labels((4, 24, 36)) == ["<4h", "4h-1d", "1d-36h", "36h+"]
    with pytest.raises(ValueError, match="strictly increasing"):
        queue.bucket_labels((24, 24))


def test_queue_depth_by_queue_and_age() -> None:
    now = at(10, 12)
    charts = make(
        "charts",
        [
            # unassigned since import 6 h ago → <1d
            {"chart_id": "a", "status": "draft", "created_at": at(10, 6), "updated_at": at(10, 6)},
            # assigned 48 h ago → 1-3d (waiting since assignment, not import)
            {"chart_id": "b", "status": "draft", "assignee_id": "c1", "created_at": at(1), "assigned_at": at(8, 12)},
            # returned 120 h ago → 3-7d
            {"chart_id": "c", "status": "returned", "assignee_id": "c1", "returned_at": at(5, 12), "updated_at": at(9)},
            # waiting for audit 18 days → 14d+
            {
                "chart_id": "d",
                "status": "pending_audit",
                "assignee_id": "c2",
                "submitted_at": datetime(2025, 2, 20, 12, tzinfo=UTC),
            },
            # exactly 168 h → 7-14d (a bucket includes its lower bound)
            {"chart_id": "f", "status": "pending_audit", "assignee_id": "c2", "submitted_at": at(3, 12)},
            # completed: waits nowhere
            {"chart_id": "e", "status": "completed", "assignee_id": "c1", "completed_at": at(9)},
        ],
    )
    got = queue.queue_depth(charts, now=now).collect()
    labels = ["<1d", "1-3d", "3-7d", "7-14d", "14d+"]
    counts = {
        "unassigned": [1, 0, 0, 0, 0],
        "draft": [0, 1, 0, 0, 0],
        "returned": [0, 0, 1, 0, 0],
        "pending_audit": [0, 0, 0, 1, 1],
    }
    want = expect(
        {
            "queue": [q for q in counts for _ in labels],
            "age_bucket": labels * 4,
            "charts": [n for q in counts for n in counts[q]],
        },
        {"charts": pl.UInt32},
    )
    assert_frame_equal(got, want)

    ages = queue.queue_ages(charts, now=now).sort("chart_id").collect()
    assert ages["age_hours"].to_list() == [6.0, 48.0, 120.0, 432.0, 168.0]
    summary = queue.queue_summary(queue.queue_ages(charts, now=now)).collect()
    assert_frame_equal(
        summary,
        expect(
            {
                "queue": ["draft", "pending_audit", "returned", "unassigned"],
                "charts": [1, 2, 1, 1],
                "oldest_hours": [48.0, 432.0, 120.0, 6.0],
                "median_hours": [48.0, 300.0, 120.0, 6.0],
            },
            {"charts": pl.UInt32},
        ),
    )


# -- throughput ------------------------------------------------------------------------------------


def _throughput_frames() -> tuple[pl.LazyFrame, pl.LazyFrame]:
    imp = {"specialty": "inpatient_medicine", "encounter_class": "IMP"}
    charts = make(
        "charts",
        [
            {"chart_id": "ch1", "assigned_at": at(3, 8, 40), **imp},
            {"chart_id": "ch2", "assigned_at": at(3, 8), **imp},
            {"chart_id": "ch3", "assigned_at": at(3, 9, 40), **imp},
            {"chart_id": "ch4", "assigned_at": at(3, 8), "specialty": "primary_care", "encounter_class": "AMB"},
            {"chart_id": "ch5", **imp},  # no assignment time recorded
            {"chart_id": "ch6", "assigned_at": at(1), "specialty": "cardiology", "encounter_class": "amb"},
        ],
    )

    def sub(chart: str, coder: str, when: datetime, resubmission: bool = False) -> dict[str, Any]:
        return {"chart_id": chart, "coder_id": coder, "submitted_at": when, "resubmission": resubmission}

    submissions = make(
        "submissions",
        [
            sub("ch1", "c1", at(3, 9)),  # started at assignment 08:40 → 20 min
            sub("ch2", "c1", at(3, 9, 30)),  # since previous 09:00 → 30 min
            sub("ch3", "c1", at(3, 9, 45)),  # assigned 09:40, after the previous submission → 5 min
            sub("ch4", "c1", at(3, 13)),  # 195 min since 09:45 > 120 min cap → no estimate
            sub("ch5", "c2", at(3, 10)),  # no previous submission, no assignment time → none
            sub("ch6", "c2", at(3, 10, 24)),  # 24 min
            sub("ch5", "c2", at(3, 10, 40), resubmission=True),  # rework, 16 min
        ],
    )
    return submissions, charts


def test_charts_coded_per_coder_per_hour_and_day() -> None:
    submissions, charts = _throughput_frames()
    hourly = throughput.charts_coded(submissions, charts).collect()
    assert_frame_equal(
        hourly,
        expect(
            {"coder_id": ["c1", "c1", "c2"], "period": [at(3, 9), at(3, 13), at(3, 10)], "charts": [3, 1, 2]},
            {"period": UTC_TIME, "charts": pl.UInt32},
        ),
    )
    with_rework = throughput.charts_coded(submissions, charts, every="1d", include_resubmissions=True).collect()
    assert with_rework["charts"].to_list() == [4, 3]
    rate = throughput.coding_rate(submissions, charts).collect()
    # c1: 4 charts in 2 clock hours (09, 13); c2: 2 charts in hour 10.
    assert_frame_equal(
        rate,
        expect(
            {
                "coder_id": ["c1", "c2"],
                "period": [at(3), at(3)],
                "charts": [4, 2],
                "active_hours": [2, 1],
                "charts_per_active_hour": [2.0, 2.0],
            },
            {"period": UTC_TIME, "charts": pl.UInt32, "active_hours": pl.UInt32},
        ),
    )


def test_handling_times_and_minutes_per_chart_against_the_benchmark() -> None:
    submissions, charts = _throughput_frames()
    handling = throughput.handling_times(submissions, charts)
    minutes = handling.sort("coder_id", "submitted_at").select("chart_id", "minutes").collect()
    assert minutes.to_dict(as_series=False) == {
        "chart_id": ["ch1", "ch2", "ch3", "ch4", "ch5", "ch6", "ch5"],
        "minutes": [20.0, 30.0, 5.0, None, None, 24.0, 16.0],
    }
    got = throughput.minutes_per_chart(handling).collect()
    # inpatient_medicine: 5, 20, 30 → median 20 (3 charts/hour, meets 3); p90 = 20 + 0.8 x (30 - 20) = 28.
    # cardiology (outpatient): 24 → 2.5 charts/hour, no benchmark. primary_care: no estimate, no row.
    assert_frame_equal(
        got,
        expect(
            {
                "specialty": ["cardiology", "inpatient_medicine"],
                "inpatient": [False, True],
                "charts": [1, 3],
                "median_minutes": [24.0, 20.0],
                "p90_minutes": [24.0, 28.0],
                "charts_per_hour": [2.5, 3.0],
                "benchmark_charts_per_hour": [None, 3.0],
                "meets_benchmark": [None, True],
            },
            {"charts": pl.UInt32},
        ),
    )
    per_coder = throughput.minutes_per_chart(handling, by=("coder_id",), include_resubmissions=True).collect()
    # c2: 24 and the rework's 16 → median 20; its charts are not all inpatient → no benchmark.
    assert per_coder["median_minutes"].to_list() == [20.0, 20.0]
    assert per_coder["benchmark_charts_per_hour"].to_list() == [3.0, None]


# -- turnaround ------------------------------------------------------------------------------------


def test_turnaround_stages_and_percentiles() -> None:
    charts = make(
        "charts",
        [
            # X: 6 h to assignment, first submission 6 h later, completed 36 h after it (48 h in all)
            {
                "chart_id": "X",
                "status": "completed",
                "created_at": at(1),
                "assigned_at": at(1, 6),
                "submitted_at": at(2, 12),  # the latest (re)submission; the first is in `submissions`
                "completed_at": at(3),
            },
            # Y: no submission rows, so charts.submitted_at is its first submission; not completed
            {
                "chart_id": "Y",
                "status": "pending_audit",
                "created_at": at(1),
                "assigned_at": at(2),
                "submitted_at": at(2, 6),
            },
            {"chart_id": "Z", "status": "draft", "created_at": at(2)},
        ],
    )
    submissions = make(
        "submissions",
        [
            {"chart_id": "X", "coder_id": "c1", "submitted_at": at(1, 12), "resubmission": False},
            {"chart_id": "X", "coder_id": "c1", "submitted_at": at(2, 12), "resubmission": True},
        ],
    )
    per_chart = turnaround.chart_turnaround(charts, submissions)
    hours = per_chart.select("chart_id", *turnaround.STAGES).collect()
    assert hours.rows() == [("X", 6.0, 6.0, 36.0, 48.0), ("Y", 24.0, 6.0, None, None), ("Z", None, None, None, None)]
    got = turnaround.turnaround(per_chart, quantiles=(0.5,)).collect()
    assert_frame_equal(
        got,
        expect(
            {
                "stage": list(turnaround.STAGES),
                "charts": [2, 2, 1, 1],
                "p50_hours": [15.0, 6.0, 36.0, 48.0],  # (6 + 24) / 2 = 15
            },
            {"charts": pl.UInt32},
        ),
    )
    daily = turnaround.turnaround(per_chart, every="1d", quantiles=(0.5,)).collect()
    # Each stage counts on the day it ended: X assigned on the 1st, Y on the 2nd.
    first_stage = daily.filter(pl.col("stage") == "import_to_assign")
    assert first_stage["period"].to_list() == [at(1), at(2)]
    assert first_stage["p50_hours"].to_list() == [6.0, 24.0]


# -- accuracy --------------------------------------------------------------------------------------


def _audit_frames() -> Frames:
    charts = make(
        "charts",
        [
            {"chart_id": "ch1", "specialty": "inpatient_medicine", "encounter_class": "IMP"},
            {"chart_id": "ch2", "specialty": "inpatient_medicine", "encounter_class": "IMP"},
            {"chart_id": "ch3", "specialty": "cardiology", "encounter_class": "AMB"},
            {"chart_id": "ch4", "specialty": "cardiology", "encounter_class": "AMB"},
            {"chart_id": "ch5", "specialty": "cardiology", "encounter_class": "AMB"},
        ],
    )

    def audit(
        audit_id: str, chart: str, coder: str, sup: str, *, decided: datetime | None, decision: str | None, **more: Any
    ) -> dict[str, Any]:
        return {
            "audit_id": audit_id,
            "chart_id": chart,
            "coder_id": coder,
            "supervisor_id": sup,
            "submission_no": more.pop("submission_no", 1),
            "claimed_at": (decided or at(12)) - timedelta(minutes=20),
            "decided_at": decided,
            "decision": decision,
            **more,
        }

    audits = make(
        "audits",
        [
            audit(
                "A1", "ch1", "c1", "s1", decided=at(3, 10), decision="approve", principal_correct=True, drg_correct=True
            ),
            audit(
                "A2", "ch2", "c1", "s1", decided=at(4, 10), decision="return", principal_correct=False, drg_correct=True
            ),
            audit("A3", "ch3", "c2", "s1", decided=at(4, 11), decision="approve", principal_correct=True),
            audit("A4", "ch4", "c2", "s2", decided=at(11, 9), decision="approve", submission_no=2, drg_correct=False),
            audit("A5", "ch5", "c1", "s2", decided=None, decision=None),
        ],
    )
    rows: list[dict[str, Any]] = []

    def finding(audit_id: str, verdict: str, category: str | None = None, **more: Any) -> None:
        n = len(rows) + 1
        code = None if verdict == "missing" else f"code-{n}"
        rows.append(
            {
                "finding_id": f"F{n}",
                "audit_id": audit_id,
                "chart_code_id": code,
                "verdict": verdict,
                "category": category,
                "disputed": False,
                **more,
            }
        )

    for _ in range(3):
        finding("A1", "correct")
    finding("A1", "wrong_code", "Specificity", disputed=True, resolution="overturned")
    finding("A1", "missing", "Documentation support")
    for _ in range(2):
        finding("A2", "correct")
    finding("A2", "wrong_sequence", "Sequencing")
    for _ in range(2):
        finding("A3", "correct")
    for _ in range(3):
        finding("A4", "correct")
    finding("A4", "wrong_code", "Specificity", disputed=True)
    finding("A5", "extra")  # an open audit's draft verdict: never counted
    feedback = make(
        "feedback",
        [
            {"feedback_id": "f1", "coder_id": "c1", "created_at": at(3, 10), "acknowledged_at": at(3, 14)},
            {"feedback_id": "f2", "coder_id": "c1", "created_at": at(4, 10)},
            {"feedback_id": "f3", "coder_id": "c2", "created_at": at(11, 10), "acknowledged_at": at(11, 20)},
        ],
    )
    return Frames.of(charts=charts, audits=audits, findings=make("findings", rows), feedback=feedback)


def test_score_audits_counts_each_decided_audit() -> None:
    f = _audit_frames()
    scored = accuracy.score_audits(f.audits, f.findings, f.charts).sort("audit_id").collect()
    assert_frame_equal(
        scored.select(
            "audit_id", "verdicts", "correct_codes", "final_codes", "errors", "case_correct", "code_accuracy"
        ),
        expect(
            {
                "audit_id": ["A1", "A2", "A3", "A4"],
                "verdicts": [5, 3, 2, 4],
                "correct_codes": [3, 3, 2, 3],  # wrong_sequence is a right code
                "final_codes": [5, 3, 2, 4],  # A1: 3 correct + 1 wrong code's replacement + 1 missing
                "errors": [2, 1, 0, 1],
                "case_correct": [False, False, True, False],
                "code_accuracy": [0.6, 1.0, 1.0, 0.75],
            }
        ),
    )


def test_accuracy_per_coder_specialty_and_overall_against_the_target() -> None:
    f = _audit_frames()
    scored = accuracy.score_audits(f.audits, f.findings, f.charts)
    per_coder = accuracy.accuracy(scored, by=("coder_id",)).collect()
    # c1: (3 + 3) / (5 + 3) = 0.75, no case correct; c2: (2 + 3) / (2 + 4) = 5/6, one case of two.
    assert_frame_equal(
        per_coder,
        expect(
            {
                "coder_id": ["c1", "c2"],
                "audits": [2, 2],
                "correct_codes": [6, 5],
                "final_codes": [8, 6],
                "code_accuracy": [0.75, 5 / 6],
                "case_accuracy": [0.0, 0.5],
                "target": [0.95, 0.95],
                "below_target": [True, True],
            },
            {"audits": pl.UInt32},
        ),
    )
    per_specialty = accuracy.accuracy(scored, by=("specialty",), target=0.8).collect()
    assert per_specialty.select("specialty", "code_accuracy", "below_target").rows() == [
        ("cardiology", 5 / 6, False),
        ("inpatient_medicine", 0.75, True),
    ]
    overall = accuracy.accuracy(scored).collect()
    assert overall.select("audits", "code_accuracy", "case_accuracy").rows() == [(4, 11 / 14, 0.25)]
    below = accuracy.coders_below_target(scored, min_final_codes=7).collect()
    assert below["coder_id"].to_list() == ["c1"]  # c2 has only 6 audited codes


def test_accuracy_trend_is_weekly_with_the_change() -> None:
    f = _audit_frames()
    scored = accuracy.score_audits(f.audits, f.findings, f.charts)
    trend = accuracy.accuracy_trend(scored).collect()
    # Weeks start on Monday: 3 March (A1, A2, A3) and 10 March (A4).
    assert trend.select("coder_id", "period", "code_accuracy", "change").rows() == [
        ("c1", at(3), 0.75, None),
        ("c2", at(3), 1.0, None),
        ("c2", at(10), 0.75, -0.25),
    ]


def test_findings_by_category() -> None:
    f = _audit_frames()
    scored = accuracy.score_audits(f.audits, f.findings, f.charts)
    got = accuracy.findings_by_category(f.findings, scored).collect()
    # 4 errors among 14 verdicts: Specificity 2 (A1, A4), Documentation support 1, Sequencing 1.
    assert_frame_equal(
        got,
        expect(
            {
                "category": ["Specificity", "Documentation support", "Sequencing"],
                "errors": [2, 1, 1],
                "share_of_errors": [0.5, 0.25, 0.25],
                "verdicts": [14, 14, 14],
                "error_rate": [2 / 14, 1 / 14, 1 / 14],
                "category_accuracy": [1 - 2 / 14, 1 - 1 / 14, 1 - 1 / 14],
            },
            {"errors": pl.UInt32},
        ),
    )
    per_coder = accuracy.findings_by_category(f.findings, scored, by=("coder_id",)).collect()
    assert per_coder.select("coder_id", "category", "errors", "verdicts", "share_of_errors").rows() == [
        ("c1", "Documentation support", 1, 8, 1 / 3),
        ("c1", "Sequencing", 1, 8, 1 / 3),
        ("c1", "Specificity", 1, 8, 1 / 3),
        ("c2", "Specificity", 1, 6, 1.0),
    ]


# -- validation findings ---------------------------------------------------------------------------


def test_validation_by_rule_trips_resolutions_and_overrides() -> None:
    def found(chart: str, version: int, rule: str, **more: Any) -> dict[str, Any]:
        category = {"FMT": "format", "SEQ": "sequencing", "CMB": "comorbidity"}[rule[2:5]]
        return {
            "chart_id": chart,
            "chart_version": version,
            "rule_id": rule,
            "category": category,
            "severity": "error",
            "overridable": False,
            "overridden": False,
            "created_at": at(3, version),
            **more,
        }

    rows = [
        # v1: a format error fixed at version 3; a sequencing error overridden before submitting v3
        found("v1", 1, "R-FMT-01"),
        found("v1", 2, "R-FMT-01"),
        found("v1", 1, "R-SEQ-01", overridable=True),
        found("v1", 2, "R-SEQ-01", overridable=True),
        found("v1", 3, "R-SEQ-01", overridable=True, overridden=True),
        # v2: a format error fixed at version 2, then submitted with an overridable one not overridden
        found("v2", 1, "R-FMT-01"),
        found("v2", 2, "R-CMB-01", overridable=True, severity="warning"),
    ]
    submissions = make(
        "submissions",
        [
            {"chart_id": "v1", "coder_id": "c1", "submitted_at": at(3, 3), "version": 3, "resubmission": False},
            {"chart_id": "v2", "coder_id": "c1", "submitted_at": at(3, 2), "version": 2, "resubmission": False},
        ],
    )
    got = validation.validation_by_rule(make("validation", rows), submissions).collect()
    assert_frame_equal(
        got,
        expect(
            {
                "rule_id": ["R-FMT-01", "R-CMB-01", "R-SEQ-01"],
                "category": ["format", "comorbidity", "sequencing"],
                "severity": ["error", "warning", "error"],
                "charts_flagged": [2, 1, 1],
                "charts_resolved": [2, 0, 0],
                "resolved_rate": [1.0, 0.0, 0.0],
                "findings_at_submission": [0, 1, 1],
                "overridable_at_submission": [0, 1, 1],
                "overridden_at_submission": [0, 0, 1],
                "override_rate": [None, 0.0, 1.0],
            },
            {"charts_flagged": pl.UInt32},
        ),
    )
    trips = validation.rule_trips(make("validation", rows)).collect()
    assert trips.select("chart_id", "rule_id", "versions", "resolved").rows() == [
        ("v1", "R-FMT-01", 2, True),
        ("v1", "R-SEQ-01", 3, False),
        ("v2", "R-CMB-01", 1, False),
        ("v2", "R-FMT-01", 1, True),
    ]


# -- audit outcomes, disputes, feedback ------------------------------------------------------------


def test_audit_outcomes_overall_and_per_supervisor() -> None:
    f = _audit_frames()
    scored = accuracy.score_audits(f.audits, f.findings, f.charts)
    overall = outcomes.audit_outcomes(scored).collect()
    # 4 decided, 1 returned; first submissions A1, A2, A3 of which 2 approved; principal known
    # for A1, A2, A3 (2 right); MS-DRG known for A1, A2, A4 (2 right).
    assert_frame_equal(
        overall,
        expect(
            {
                "decided": [4],
                "approved": [3],
                "returned": [1],
                "return_rate": [0.25],
                "first_submissions": [3],
                "first_pass_approved": [2],
                "first_pass_rate": [2 / 3],
                "principal_correct_rate": [2 / 3],
                "drg_correct_rate": [2 / 3],
            },
            dict.fromkeys(("decided", "approved", "returned", "first_submissions", "first_pass_approved"), pl.UInt32),
        ),
    )
    per_supervisor = outcomes.audit_outcomes(scored, by=("supervisor_id",)).collect()
    assert per_supervisor.select("supervisor_id", "decided", "return_rate", "first_pass_rate").rows() == [
        ("s1", 3, 1 / 3, 2 / 3),
        ("s2", 1, 0.0, None),  # s2 audited only a resubmission
    ]


def test_dispute_outcomes() -> None:
    f = _audit_frames()
    scored = accuracy.score_audits(f.audits, f.findings, f.charts)
    got = outcomes.dispute_outcomes(f.findings, scored).collect()
    # 4 findings; A1's wrong code disputed and overturned, A4's disputed and pending.
    assert got.rows() == [(4, 2, 0, 1, 1, 0.5, 1.0)]


def test_feedback_acknowledgement_rate() -> None:
    f = _audit_frames()
    got = outcomes.feedback_acknowledgement(f.feedback, now=at(12, 12), by=("coder_id",)).collect()
    # c1: f1 acknowledged after 4 h, f2 not after 8 days (overdue); c2: f3 after 10 h.
    assert_frame_equal(
        got,
        expect(
            {
                "coder_id": ["c1", "c2"],
                "feedback": [2, 1],
                "acknowledged": [1, 1],
                "ack_rate": [0.5, 1.0],
                "median_hours_to_ack": [4.0, 10.0],
                "overdue": [1, 0],
            },
            {"feedback": pl.UInt32, "acknowledged": pl.UInt32, "overdue": pl.UInt32},
        ),
    )
    overall = outcomes.feedback_acknowledgement(f.feedback, now=at(12, 12)).collect()
    assert overall.rows() == [(3, 2, 2 / 3, 7.0, 1)]


# -- inter-rater agreement -------------------------------------------------------------------------


def _kappa_frames() -> tuple[pl.LazyFrame, pl.LazyFrame]:
    audits = make(
        "audits",
        [
            # chart k1, submission 1, audited blind by s1 then s2: the rated pair
            {
                "audit_id": "B1",
                "chart_id": "k1",
                "submission_no": 1,
                "supervisor_id": "s1",
                "decided_at": at(3, 9),
                "decision": "approve",
            },
            {
                "audit_id": "B2",
                "chart_id": "k1",
                "submission_no": 1,
                "supervisor_id": "s2",
                "decided_at": at(3, 15),
                "decision": "approve",
            },
            # k1's resubmission audited by s2: another submission, not matched
            {
                "audit_id": "B3",
                "chart_id": "k1",
                "submission_no": 2,
                "supervisor_id": "s2",
                "decided_at": at(5),
                "decision": "approve",
            },
            # an undecided audit of the same submission: not matched
            {"audit_id": "B4", "chart_id": "k1", "submission_no": 1, "supervisor_id": "s3"},
            # k2 audited twice by the same supervisor: not two raters
            {
                "audit_id": "B5",
                "chart_id": "k2",
                "submission_no": 1,
                "supervisor_id": "s1",
                "decided_at": at(4),
                "decision": "approve",
            },
            {
                "audit_id": "B6",
                "chart_id": "k2",
                "submission_no": 1,
                "supervisor_id": "s1",
                "decided_at": at(4, 1),
                "decision": "return",
            },
        ],
    )
    # Ten code rows of k1: rows 1-5 both "correct", 6-8 both "wrong_code", row 9 s1 correct /
    # s2 wrong_code, row 10 s1 wrong_code / s2 correct.
    s1 = ["correct"] * 5 + ["wrong_code"] * 3 + ["correct", "wrong_code"]
    s2 = ["correct"] * 5 + ["wrong_code"] * 3 + ["wrong_code", "correct"]
    rows = [
        {"finding_id": f"{a}-{i}", "audit_id": a, "chart_code_id": f"row{i:02d}", "verdict": v}
        for a, verdicts in (("B1", s1), ("B2", s2), ("B3", ["correct"] * 10), ("B4", ["extra"] * 10))
        for i, v in enumerate(verdicts, start=1)
    ]
    rows += [{"finding_id": f"{a}-m", "audit_id": a, "verdict": "missing"} for a in ("B1", "B2")]
    rows += [
        {"finding_id": f"{a}-1", "audit_id": a, "chart_code_id": "k2row", "verdict": "correct"} for a in ("B5", "B6")
    ]
    return audits, make("findings", rows)


def test_cohens_kappa_hand_computed() -> None:
    audits, findings = _kappa_frames()
    pairs = agreement.verdict_pairs(audits, findings).collect()
    assert pairs.height == 10
    assert set(pairs["audit_a"]) == {"B1"}
    assert set(pairs["audit_b"]) == {"B2"}
    assert pairs["decided_at"].unique().to_list() == [at(3, 15)]
    got = agreement.inter_rater_agreement(audits, findings).collect()
    # p_o = 8/10; each rater: 6 correct, 4 wrong_code → p_e = 0.6² + 0.4² = 0.52;
    # kappa = (0.8 - 0.52) / (1 - 0.52) = 0.28 / 0.48 = 0.58333…
    assert_frame_equal(
        got,
        expect({"items": [10], "observed_agreement": [0.8], "expected_agreement": [0.52], "kappa": [0.28 / 0.48]}),
    )
    per_pair = agreement.inter_rater_agreement(audits, findings, by=("rater_a", "rater_b")).collect()
    assert per_pair.select("rater_a", "rater_b", "items").rows() == [("s1", "s2", 10)]
    assert per_pair["kappa"][0] == pytest.approx(7 / 12)


def test_kappa_is_null_when_chance_agreement_is_total() -> None:
    pairs = pl.LazyFrame({"verdict_a": ["correct"] * 3, "verdict_b": ["correct"] * 3})
    got = agreement.cohens_kappa(pairs).collect()
    assert got.rows() == [(3, 1.0, 1.0, None)]


def test_kappa_without_pairs_is_empty() -> None:
    audits, findings = _kappa_frames()
    got = agreement.inter_rater_agreement(audits.filter(pl.col("audit_id") != "B2"), findings).collect()
    assert got.height == 0
    assert got.columns == ["items", "observed_agreement", "expected_agreement", "kappa"]


# -- rollups ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_rollups_carry_the_pipelines_answers() -> None:
    f = _audit_frames()
    submissions, charts = _throughput_frames()
    frames = Frames.of(
        charts=pl.concat([f.charts, charts]).unique("chart_id", keep="last"),
        submissions=submissions,
        audits=f.audits,
        findings=f.findings,
        feedback=f.feedback,
    )
    rows = rollups.compute_rollups(frames, now=at(12, 12)).collect()
    assert rows.schema == rollups.ROLLUP_SCHEMA
    assert set(rows["metric"]) <= set(rollups.METRICS)

    def pick(metric: str) -> pl.DataFrame:
        return rows.filter(pl.col("metric") == metric).drop("metric")

    assert_frame_equal(
        pick("code_accuracy").filter(pl.col("dimension").str.starts_with("coder:")),
        expect(
            {
                "bucket_start": [at(3), at(4), at(4), at(11)],
                "dimension": ["coder:c1", "coder:c1", "coder:c2", "coder:c2"],
                "value": [0.6, 1.0, 1.0, 0.75],
                "sample_size": [5, 3, 2, 4],
            },
            {"bucket_start": UTC_TIME},
        ),
    )
    assert pick("charts_coded").filter(pl.col("dimension") == "").rows() == [(at(3), "", 6.0, 6)]
    assert pick("charts_resubmitted").filter(pl.col("dimension") == "coder:c2").rows() == [(at(3), "coder:c2", 1.0, 1)]
    assert pick("minutes_per_chart").filter(pl.col("dimension") == "setting:inpatient").rows() == [
        (at(3), "setting:inpatient", 20.0, 3)
    ]
    assert pick("finding_errors").filter(pl.col("dimension").str.starts_with("category:")).rows() == [
        (at(3), "category:Documentation support", 1.0, 1),
        (at(3), "category:Specificity", 1.0, 1),
        (at(4), "category:Sequencing", 1.0, 1),
        (at(11), "category:Specificity", 1.0, 1),
    ]
    assert pick("feedback_ack_rate").filter(pl.col("dimension") == "").rows() == [
        (at(3), "", 1.0, 1),
        (at(4), "", 0.0, 1),
        (at(11), "", 1.0, 1),
    ]
    assert pick("return_rate").filter(pl.col("dimension") == "supervisor:s1").rows() == [
        (at(3), "supervisor:s1", 0.0, 1),
        (at(4), "supervisor:s1", 0.5, 2),
    ]
    # ``since`` keeps the buckets from that day on, unchanged.
    later = rollups.compute_rollups(frames, now=at(12, 12), since=at(4)).collect()
    assert_frame_equal(later, rows.filter(pl.col("bucket_start") >= at(4)))
    # Pure: the same frames give the same rows.
    assert_frame_equal(rollups.compute_rollups(frames, now=at(12, 12)).collect(), rows)


def test_rollups_of_empty_frames_are_empty() -> None:
    rows = rollups.compute_rollups(Frames.of(), now=MON).collect()
    assert rows.height == 0
    assert rows.schema == rollups.ROLLUP_SCHEMA


# -- sources ---------------------------------------------------------------------------------------


def test_parquet_round_trip(tmp_path: Path) -> None:
    f = _audit_frames()
    written = sources.write_parquet(f, tmp_path / "frames")
    assert sorted(p.name for p in written) == sorted(f"{n}.parquet" for n in SCHEMAS)
    back = sources.read_parquet(tmp_path / "frames")
    for (name, frame), (_, again) in zip(f.items(), back.items(), strict=True):
        assert_frame_equal(again.collect(), frame.collect(), check_row_order=True), name


def test_parquet_folder_may_hold_some_frames_only(tmp_path: Path) -> None:
    make("charts", [{"chart_id": "a", "status": "draft"}]).collect().write_parquet(tmp_path / "charts.parquet")
    frames = sources.read_parquet(tmp_path)
    assert frames.charts.collect().height == 1
    assert frames.audits.collect().height == 0


def test_parquet_errors_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(sources.SourceError, match="is not a folder"):
        sources.read_parquet(tmp_path / "nowhere")
    with pytest.raises(sources.SourceError, match=r"holds none of charts\.parquet"):
        sources.read_parquet(tmp_path)
    pl.DataFrame({"chart_id": ["a"]}).write_parquet(tmp_path / "charts.parquet")
    with pytest.raises(sources.SourceError, match="the charts frame has no column status"):
        sources.read_parquet(tmp_path)


def test_load_without_a_source_says_what_to_set() -> None:
    with pytest.raises(sources.SourceError, match="SMARTCODERS_METRICS_PARQUET"):
        sources.load({})
