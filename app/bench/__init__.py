"""`smartcoders bench NAME`: measured figures for speed and memory (never timed assertions in tests).

Each benchmark module registers itself with `@register`; `MODULES` lists them so the CLI can
import them on demand (they pull in heavy code: the code sets, a server, a browser-free client).
A benchmark returns a `Report`: named figures printed as an aligned table, or as JSON with
`--json`. Medians and high percentiles, never means alone.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

# Every CLI start imports these to build `bench --help`: keep heavy imports inside `run`.
MODULES: tuple[str, ...] = (
    "app.bench.validate",
    "app.bench.auth",
    "app.bench.search",
    "app.bench.imports",
    "app.bench.queue",
    "app.bench.chart_change",
    "app.bench.rollup",
    "app.bench.dashboard",
)


@dataclass(slots=True)
class Report:
    title: str
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, value: Any) -> None:
        self.figures[name] = value

    def render(self) -> str:
        width = max((len(k) for k in self.figures), default=0)
        lines = [self.title, "-" * len(self.title)]
        lines += [f"{k:<{width}}  {_fmt(v)}" for k, v in self.figures.items()]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


Runner = Callable[[argparse.Namespace], Report]
Configure = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True, slots=True)
class Bench:
    name: str
    help: str
    run: Runner
    configure: Configure | None


BENCHES: dict[str, Bench] = {}


def register(name: str, help_text: str, configure: Configure | None = None) -> Callable[[Runner], Runner]:
    def decorate(run: Runner) -> Runner:
        BENCHES[name] = Bench(name, help_text, run, configure)
        return run

    return decorate


def load_all() -> dict[str, Bench]:
    for module in MODULES:
        importlib.import_module(module)
    return BENCHES


def percentiles_ms(samples_s: Sequence[float]) -> dict[str, float]:
    """Median, p95 and p99 of durations given in seconds, reported in milliseconds."""
    ordered = sorted(samples_s)
    if not ordered:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0}

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    return {"p50_ms": statistics.median(ordered) * 1000, "p95_ms": pick(0.95), "p99_ms": pick(0.99)}
