"""`smartcoders bench validate`: the engine over a generated workload of realistic charts.

The workload is seeded and reproducible: inpatient-style charts of 2-25 diagnosis codes drawn
mostly from a pool of common principal and secondary diagnoses plus random billable codes from
the whole code set, with about one chart in seven carrying a typical coding error (a category
instead of a code, a missing 7th character, a duplicate, an external cause as principal, an
Excludes1 pair). Figures: one-off load time and memory, then per-chart latency and throughput
on one core, for the mixed workload and for eight-code charts (the issue's target size).
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from datetime import date, timedelta
from pathlib import Path

from app.bench import Report, percentiles_ms, register
from app.validation.model import ChartInput, DiagnosisRow, ProcedureRow, RecordType

PRINCIPALS = (
    "J18.9", "I50.23", "N39.0", "A41.9", "J44.1", "I21.4", "I63.9", "K57.32", "E11.65", "J96.01",
    "N17.9", "K85.90", "I48.91", "L03.115", "S72.001A", "K56.609", "I26.99", "J69.0", "E87.1", "K92.2",
)  # fmt: skip
# Secondary diagnoses come in clinically coherent bundles (a stage with hypertensive CKD, one
# diabetes code per patient), as a coder would enter them.
BUNDLES = (
    ("I10",), ("E78.5",), ("I12.9", "N18.30"), ("E11.22", "N18.31", "Z79.4"), ("E11.9",),
    ("F17.210",), ("E66.9", "Z68.41"), ("I25.10", "Z95.1"), ("D64.9",), ("E03.9",), ("F32.A",),
    ("G47.33",), ("K21.9",), ("M19.90",), ("N40.0",), ("Z87.891",), ("I48.0", "Z79.01"), ("E87.6",),
    ("J96.00",), ("N18.6", "Z99.2"), ("D63.1", "N18.4", "I12.9"), ("G30.9", "F02.80"), ("Z86.73",),
    ("I50.22",), ("E11.65", "Z79.4"), ("J45.909",), ("K59.00",), ("R26.81",), ("Z91.81",),
)  # fmt: skip
PROCEDURES = ("0DTJ4ZZ", "5A1955Z", "02703DZ", "0SR9019", "3E0436Z", "30233N1", "0BH17EZ", "BW28ZZZ")
ERRORS = ("category", "seventh", "duplicate", "external", "excludes1")
# Random codes fill the rest of a chart; chapters 15-16 (pregnancy, newborn), Z and external
# causes are left out because adult medical charts do not carry them at random.
_RANDOM_EXCLUDED = ("O", "P", "Z", "V", "W", "X", "Y")


def _billable_pool(limit: int, rng: random.Random) -> list[str]:
    from app.codesets.icd10cm import default_codeset

    keys = [k for k in default_codeset().all_billable_keys() if not k.startswith(_RANDOM_EXCLUDED)]
    return [k if len(k) <= 3 else f"{k[:3]}.{k[3:]}" for k in rng.sample(keys, min(limit, len(keys)))]


def workload(n: int, *, seed: int, size: int | None = None) -> list[ChartInput]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible workload, not a secret
    pool = _billable_pool(4000, rng)
    charts: list[ChartInput] = []
    for i in range(n):
        count = size if size is not None else min(25, max(2, int(rng.lognormvariate(2.0, 0.5))))
        codes = [rng.choice(PRINCIPALS)]
        while len(codes) < count:
            bundle = rng.choice(BUNDLES) if rng.random() < 0.8 else (rng.choice(pool),)
            taken = {x[:3] for x in codes}
            if len(codes) + len(bundle) <= count and not any(c[:3] in taken for c in bundle):
                codes.extend(bundle)
            elif len(codes) + 1 == count or rng.random() < 0.2:
                code = rng.choice(pool)
                if code[:3] not in taken:
                    codes.append(code)
        if rng.random() < 1 / 7:
            _inject_error(codes, rng.choice(ERRORS), rng)
        charts.append(
            ChartInput(
                id=i,
                age=rng.randint(18, 95),
                sex=rng.choice(("M", "F")),
                discharge_date=date(2025, 10, 1) + timedelta(days=rng.randint(0, 364)),
                record_type=RecordType.OTHER,
                diagnoses=tuple(DiagnosisRow(c, principal=j == 0) for j, c in enumerate(codes)),
                procedures=tuple(ProcedureRow(p) for p in rng.sample(PROCEDURES, rng.randint(0, 2))),
            )
        )
    return charts


def _inject_error(codes: list[str], kind: str, rng: random.Random) -> None:
    at = rng.randrange(1, len(codes)) if len(codes) > 1 else 0
    if kind == "category":
        codes[at] = codes[at][:3]
    elif kind == "seventh":
        codes[at] = "S72.001"
    elif kind == "duplicate":
        codes[at] = codes[0]
    elif kind == "external":
        codes[0] = "W19.XXXA"
    else:
        codes[at:at] = ["E10.9"] if "E11.9" in codes else ["E11.9", "E10.9"]
        del codes[25:]


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _time(engine_validate: object, charts: list[ChartInput]) -> tuple[float, float, list[float]]:
    """Wall time, this thread's CPU time (what other processes on a shared core cannot inflate)
    and the per-chart wall latencies of one pass."""
    validate = engine_validate
    assert callable(validate)  # noqa: S101
    samples: list[float] = []
    gc.collect()
    started, cpu_started = time.perf_counter(), time.thread_time()
    for chart in charts:
        t = time.perf_counter()
        validate(chart)
        samples.append(time.perf_counter() - t)
    return time.perf_counter() - started, time.thread_time() - cpu_started, samples


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--charts", type=int, default=20000, help="charts per workload (default 20000)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--cold", action="store_true", help="also time a first start with no code-set cache")


_COLD = """
import time
t = time.perf_counter()
from datetime import date
from app.validation import ChartInput, DiagnosisRow, default_engine
default_engine().validate(ChartInput(70, "F", date(2026, 5, 1), (DiagnosisRow("J18.9", True), DiagnosisRow("I10"))))
print(time.perf_counter() - t)
"""


def _cold_load_s() -> float:
    """A fresh interpreter with an empty SMARTCODERS_HOME: builds every cache from the packages."""
    import os
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "SMARTCODERS_HOME": home}
        done = subprocess.run(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", _COLD], env=env, capture_output=True, text=True, check=True
        )
    return float(done.stdout.strip().splitlines()[-1])


@register("validate", "validation engine: load time, memory, charts/s and per-chart p50/p99", _configure)
def bench_validate(args: argparse.Namespace) -> Report:
    report = Report("Validation engine")
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    from app.validation.engine import default_engine

    engine = default_engine()
    engine.validate(workload(1, seed=0)[0])  # the first chart also loads the lazily built tables
    report.add("load_s", time.perf_counter() - t0)
    report.add("rss_after_load_mb", _rss_mb())
    report.add("rss_load_delta_mb", _rss_mb() - rss0)

    mixed = workload(args.charts, seed=args.seed)
    eight = workload(args.charts, seed=args.seed + 1, size=8)
    first_total, _, _ = _time(engine.validate, mixed)
    report.add("first_pass_charts_per_s", len(mixed) / first_total)
    for name, charts in (("mixed", mixed), ("eight", eight)):
        _time(engine.validate, charts)  # warm the per-code caches, as a running server has them
        total, cpu, samples = _time(engine.validate, charts)
        report.add(f"{name}_charts", len(charts))
        report.add(f"{name}_mean_codes", sum(len(c.diagnoses) for c in charts) / len(charts))
        report.add(f"{name}_charts_per_s", len(charts) / total)
        report.add(f"{name}_cpu_charts_per_s", len(charts) / cpu)
        for k, v in percentiles_ms(samples).items():
            report.add(f"{name}_{k}", v)
    errors = sum(1 for c in mixed if engine.validate(c).summary.errors)
    report.add("mixed_charts_with_errors", errors)
    if args.cold:
        report.add("cold_load_s", _cold_load_s())
    report.notes.append("single thread on one core; load_s: imports, code-set caches and the first chart")
    report.notes.append(
        "*_cpu_charts_per_s divides by this thread's CPU time: on a shared machine it is the figure "
        "other processes cannot lower; on an idle core it equals *_charts_per_s"
    )
    return report
