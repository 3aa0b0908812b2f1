"""The dashboard's HoloViews (Bokeh) charts, styled from the design tokens (INV-2).

Each builder takes a small frame of ``pages.dashboard_data.DashboardData`` and returns a HoloViews
object, or ``None`` when there is nothing to draw — the page then shows the matching empty state
from ``EMPTY``, which says what to do. ``figures(data)`` builds all five and renders them to Bokeh
figures: the page calls it in the executor with the figures' data, so the event loop only swaps
finished figures in (building them on the loop held it ~0.3 s per filter change; see
``smartcoders bench dashboard``). Colours, fonts and grid come from ``tokens`` (the defaults
``tokens.apply_hv_defaults`` installs, plus the few explicit colours below, each a token); axis
labels are words with units, values are percentages or hours a manager reads without a legend.
"""

from __future__ import annotations

from typing import Any, Final

import holoviews as hv
import polars as pl

import tokens
from pages.dashboard_data import ACCURACY_TARGET, DashboardData

tokens.apply_hv_defaults()

SERIES_SHOWN: Final = 7  # coders drawn one by one in "per coder" throughput; the rest are summed
STACKED_MAX: Final = 35  # periods up to which "per coder" throughput is stacked bars (lines beyond)
ROW_PX: Final = 30  # height per bar of the horizontal bar charts
EVERYONE_ELSE: Final = "Everyone else"
# No toolbar (a dashboard is read, not edited); hover still shows the numbers behind each bar. Canvas,
# not HoloViews' default WebGL: a few dozen bars gain nothing from the GPU, and WebGL drew no
# horizontal bars at all in headless Chromium (the browser tests' and screenshots' renderer).
_CHROME: Final[dict[str, Any]] = {
    "toolbar": None,
    "default_tools": [],
    "tools": ["hover"],
    "active_tools": [],
    "backend_opts": {"plot.output_backend": "canvas"},
}

# (title, what to do) per chart, shown in place of the plot when it has nothing to draw.
EMPTY: Final[dict[str, tuple[str, str]]] = {
    "throughput": (
        "No charts submitted in this period",
        "Charts coded appear here as coders submit them. Widen the period, or assign waiting charts on Assign charts.",
    ),
    "accuracy": (
        "No audited charts in this period",
        "Accuracy appears once supervisors approve or return charts. Widen the period, or check the Review queue.",
    ),
    "categories": (
        "No corrections in this period",
        "Supervisors' findings appear here by category once they audit charts and mark a code wrong or missing.",
    ),
    "categories_clean": (
        "Every audited code was right",
        "No supervisor found a wrong, missing or unsupported code in this period's audits.",
    ),
    "turnaround": (
        "No chart finished a stage in this period",
        "Turnaround appears as charts are assigned, submitted and completed. Widen the period to see earlier work.",
    ),
    "rules": (
        "No validation findings in this period",
        "The rules that fire while coders code (and how often they are overridden) appear here.",
    ),
}


def _c(name: str) -> str:
    return tokens.color(name)


def _categorical(n: int) -> list[str]:
    palette = [_c(f"chart-categorical-{i}") for i in range(1, 9)]
    return [palette[i % len(palette)] for i in range(n)]


def _tick_format(bucket: str) -> dict[str, list[str]]:
    return {"hours": ["%H:%M"], "days": ["%d %b"], "months": ["%b %Y"], "years": ["%Y"]}


def _bucket_word(bucket: str) -> str:
    return {"1h": "hour", "1d": "day", "1w": "week"}.get(bucket, "period")


def throughput_plot(frame: pl.DataFrame, bucket: str, *, per_coder: bool) -> Any | None:
    """Charts coded per hour/day/week: bars for the team; per coder, stacked bars (one line per
    coder when there are too many periods for bars)."""
    if frame.height == 0 or int(frame["charts"].sum()) == 0:
        return None
    from bokeh.models import DatetimeTickFormatter

    formatter = DatetimeTickFormatter(hours="%H:%M", days="%d %b", months="%b %Y", years="%Y")
    word = _bucket_word(bucket)
    common = {
        "xlabel": "",
        "ylabel": f"charts coded per {word}",
        "xformatter": formatter,
        "height": 300,
        "responsive": True,
        "show_legend": per_coder,
    }
    if not per_coder:
        step = {"1h": pl.duration(hours=1), "1d": pl.duration(days=1), "1w": pl.duration(weeks=1)}[bucket]
        data = frame.with_columns(end=pl.col("period") + step).to_pandas()
        edges = [*data["period"].dt.tz_localize(None).tolist(), data["end"].dt.tz_localize(None).iloc[-1]]
        hist = hv.Histogram((edges, data["charts"].tolist()), kdims=["period"], vdims=["charts"])
        return hist.opts(
            color=_c("primary"),
            line_color=_c("chart-background"),
            fill_alpha=0.9,
            **_CHROME,
            hover_tooltips=[(word.capitalize(), "@period{%d %b %Y %H:%M}"), ("Charts coded", "@charts")],
            hover_formatters={"@period": "datetime"},
            ylim=(0, None),
            **common,
        )
    totals = frame.group_by("coder").agg(pl.col("charts").sum()).sort(["charts", "coder"], descending=[True, False])
    shown = totals["coder"].head(SERIES_SHOWN).to_list()
    lumped = frame.with_columns(
        coder=pl.when(pl.col("coder").is_in(shown)).then(pl.col("coder")).otherwise(pl.lit(EVERYONE_ELSE))
    )
    data = lumped.group_by("period", "coder").agg(pl.col("charts").sum()).sort("period")
    order = shown + ([EVERYONE_ELSE] if data["coder"].is_in([EVERYONE_ELSE]).any() else [])
    colours = dict(zip(order, _categorical(len(order)), strict=True))
    periods = data["period"].n_unique()
    if periods <= STACKED_MAX:  # stacked bars: how much the team did, and who did it
        label = {"1h": "%H:00", "1d": "%d %b", "1w": "%d %b %y"}.get(bucket, "%d %b")
        rank = {name: i for i, name in enumerate(order)}
        bars = (
            data.with_columns(
                when=pl.col("period").dt.strftime(label), _o=pl.col("coder").replace_strict(rank, return_dtype=pl.Int64)
            )
            .sort("period", "_o")
            .select("when", "coder", "charts")
        )
        return hv.Bars(bars.to_pandas(), kdims=["when", "coder"], vdims=["charts"]).opts(
            stacked=True,
            cmap=colours,
            legend_position="right",
            xrotation=90 if periods > 12 else 0,
            hover_tooltips=[(word.capitalize(), "@when"), ("Coder", "@coder"), ("Charts coded", "@charts")],
            xlabel="",
            ylabel=f"charts coded per {word}",
            height=300,
            responsive=True,
            **_CHROME,
        )
    curves = []
    for name in order:
        rows = data.filter(pl.col("coder") == name).with_columns(pl.col("period").dt.replace_time_zone(None))
        pdf = rows.to_pandas()
        curves.append(
            hv.Curve(pdf, "period", "charts", label=name).opts(
                color=colours[name], line_width=2, xformatter=formatter, **_CHROME
            )
        )
    overlay = hv.Overlay(curves)
    return overlay.opts(
        legend_position="right", xlabel="", ylabel=f"charts coded per {word}", height=300, responsive=True, **_CHROME
    )


def accuracy_plot(frame: pl.DataFrame) -> Any | None:
    """Code-over-code accuracy per coder (lowest at the top), the 95 % target as a line."""
    rows = frame.filter(pl.col("code_accuracy").is_not_null())
    if rows.height == 0:
        return None
    target = ACCURACY_TARGET * 100
    data = (
        rows.with_columns(
            accuracy=(pl.col("code_accuracy") * 100).round(1),
            state=pl.when(pl.col("below_target")).then(pl.lit("Below target")).otherwise(pl.lit("On target")),
        )
        .sort(["accuracy", "coder"], descending=[True, False])  # drawn bottom-up: the lowest ends on top
        .select("coder", "accuracy", "audits", "final_codes", "state")
        .to_pandas()
    )
    lowest = float(data["accuracy"].min())
    floor = max(0.0, min(80.0, (lowest // 10) * 10 - 5))
    bars = hv.Bars(data, kdims=["coder"], vdims=["accuracy", "audits", "final_codes", "state"]).opts(
        color=hv.dim("state").categorize({"Below target": _c("danger"), "On target": _c("success")}),
        invert_axes=True,
        **_CHROME,
        hover_tooltips=[
            ("Coder", "@coder"),
            ("Accuracy", "@accuracy{0.0}%"),
            ("Audits", "@audits"),
            ("Codes in final lists", "@final_codes"),
        ],
        xlabel="",
        ylabel="code-over-code accuracy (%)",
        ylim=(floor, 100.5),
        height=max(160, 70 + ROW_PX * len(data)),
        responsive=True,
        show_legend=False,
    )
    line = hv.HLine(target).opts(color=_c("text-muted"), line_dash="dashed", line_width=2)
    return (bars * line).opts(responsive=True, toolbar=None)


def categories_plot(frame: pl.DataFrame) -> Any | None:
    """Supervisors' corrections per finding category, most frequent at the top."""
    if frame.height == 0:
        return None
    data = (
        frame.with_columns(
            share=(pl.col("share_of_errors") * 100).round(0),
            rate=(pl.col("error_rate") * 100).round(1),
        )
        .sort(["errors", "category"], descending=[False, True])
        .select("category", "errors", "share", "rate", "verdicts")
        .to_pandas()
    )
    return hv.Bars(data, kdims=["category"], vdims=["errors", "share", "rate", "verdicts"]).opts(
        color=_c("chart-categorical-3"),
        invert_axes=True,
        **_CHROME,
        hover_tooltips=[
            ("Category", "@category"),
            ("Corrections", "@errors"),
            ("Share of all corrections", "@share{0}%"),
            ("Of all verdicts", "@rate{0.0}%"),
        ],
        xlabel="",
        ylabel="codes corrected by supervisors",
        height=max(220, 70 + ROW_PX * len(data)),
        responsive=True,
    )


PERCENTILES: Final = {
    "p50_hours": "Median",
    "p90_hours": "90% within",
    "p95_hours": "95% within",
}


def turnaround_plot(frame: pl.DataFrame) -> Any | None:
    """Hours (or days) per stage at the median, 90th and 95th percentile, stages top-down."""
    if frame.height == 0:
        return None
    longest = float(frame["p95_hours"].fill_null(0).max() or 0)  # type: ignore[arg-type]  # a float column
    unit, scale = (
        ("days", 1 / 24)
        if longest > 72
        else ("hours", 1.0)
        if longest >= 1
        else ("minutes", 60.0)
        if longest >= 1 / 60
        else ("seconds", 3600.0)
    )
    names = list(PERCENTILES.values())
    stage_order = list(reversed(frame["label"].to_list()))  # drawn bottom-up: the pipeline reads top-down
    data = (
        frame.unpivot(index=["label", "charts"], on=list(PERCENTILES), variable_name="pct", value_name="hours")
        .with_columns(
            value=(pl.col("hours") * scale).round(1),
            percentile=pl.col("pct").replace_strict(PERCENTILES),
            _stage=pl.col("label").replace_strict(stage_order, list(range(len(stage_order))), return_dtype=pl.Int64),
            _pct=pl.col("pct").replace_strict(list(PERCENTILES), [2, 1, 0], return_dtype=pl.Int64),
        )
        .sort("_stage", "_pct")
        .select("label", "percentile", "value", "charts")
    )
    colours = [_c("primary"), _c("chart-categorical-6"), _c("chart-categorical-4")]
    return hv.Bars(data.to_pandas(), kdims=["label", "percentile"], vdims=["value", "charts"]).opts(
        cmap=dict(zip(names, colours, strict=True)),
        invert_axes=True,
        multi_level=False,
        show_legend=True,
        legend_position="top",
        legend_opts={"orientation": "horizontal"},
        hover_tooltips=[
            ("Stage", "@label"),
            ("", "@percentile"),
            (unit.capitalize(), "@value{0.0}"),
            ("Charts", "@charts"),
        ],
        xlabel="",
        ylabel=unit,
        ylim=(0, max(1.0, longest * scale * 1.05)),
        height=320,
        responsive=True,
        **_CHROME,
    )


def rules_plot(frame: pl.DataFrame) -> Any | None:
    """The rules that fired on the most charts, with how often coders overrode them at submission."""
    if frame.height == 0:
        return None
    data = (
        frame.with_columns(
            rule=pl.concat_str(
                pl.col("rule_id"),
                pl.lit(" · "),
                pl.col("title"),
                pl.when(pl.col("override_rate").is_not_null())
                .then(pl.format(" ({}% overridden)", (pl.col("override_rate") * 100).round(0).cast(pl.Int64)))
                .otherwise(pl.lit("")),
            ),
            overridden=pl.when(pl.col("override_rate").is_not_null())
            .then(pl.format("{}% overridden", (pl.col("override_rate") * 100).round(0).cast(pl.Int64)))
            .otherwise(pl.lit("")),
        )
        .sort(["charts_flagged", "rule_id"], descending=[False, True])
        .select("rule", "charts_flagged", "category", "overridden", "charts_resolved")
        .to_pandas()
    )
    return hv.Bars(data, kdims=["rule"], vdims=["charts_flagged", "category", "overridden", "charts_resolved"]).opts(
        color=_c("primary"),
        invert_axes=True,
        **_CHROME,
        hover_tooltips=[
            ("Rule", "@rule"),
            ("Category", "@category"),
            ("Charts flagged", "@charts_flagged"),
            ("Fixed before submission", "@charts_resolved"),
            ("Overrides", "@overridden"),
        ],
        xlabel="",
        ylabel="charts the rule fired on",
        height=max(160, 70 + ROW_PX * len(data)),
        responsive=True,
        show_legend=False,
    )


def figures(data: DashboardData) -> dict[str, tuple[Any | None, tuple[str, str]]]:
    """Every card's Bokeh figure (None: nothing to draw) and the empty state to show instead.

    Blocking and CPU-bound: run it off the event loop. The figures belong to no document yet."""
    no_errors = data.headline.audits > 0 and data.categories.height == 0
    plots = {
        "throughput": (
            throughput_plot(data.throughput, data.bucket, per_coder=data.filters.split_by_coder),
            EMPTY["throughput"],
        ),
        "accuracy": (accuracy_plot(data.accuracy_by_coder), EMPTY["accuracy"]),
        "categories": (categories_plot(data.categories), EMPTY["categories_clean" if no_errors else "categories"]),
        "turnaround": (turnaround_plot(data.turnaround), EMPTY["turnaround"]),
        "rules": (rules_plot(data.rules), EMPTY["rules"]),
    }
    return {
        key: (None if plot is None else hv.render(plot, backend="bokeh"), empty) for key, (plot, empty) in plots.items()
    }
