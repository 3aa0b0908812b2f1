"""`smartcoders bench search`: ICD-10-CM load time and autocomplete latency on a realistic workload.

The workload is drawn from the tabular itself with a fixed seed: code prefixes of real billable
codes typed with or without the dot and in either case, two- and three-word queries made of word
prefixes of real titles ("fract femur neck"), and clinical terms typed one character at a time the
way a coder fills the autocomplete box ("d", "di", "dia" … "diabetes kid"). Cold load builds the
cache from `simple-icd-10-cm` in a child process (a fresh interpreter, as at first start); warm load
reads that cache here.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

from app.bench import Report, percentiles_ms, register

if TYPE_CHECKING:
    from app.codesets.icd10cm import Icd10cmCodeSet

TYPED_TERMS: Final = (
    "diabetes kidney",
    "hypertension",
    "pneumonia",
    "fracture femur neck",
    "chronic kidney disease",
    "sepsis",
    "heart failure",
    "asthma",
    "chronic obstructive",
    "depression",
    "atrial fibrillation",
    "urinary tract infection",
    "covid",
    "obesity",
    "anemia",
    "hyperlipidemia",
    "osteoarthritis knee",
    "low back pain",
    "migraine",
    "pregnancy",
)
_SKIP_WORDS: Final = frozenset(
    {"of", "and", "the", "with", "without", "in", "for", "to", "by", "or", "due", "as", "at"}
)


def workload(codeset: Icd10cmCodeSet, n: int, seed: int = 2026) -> list[str]:
    """`n` queries: 35% code prefixes, 45% word-prefix queries, 20% terms typed character by character."""
    from app.codesets.icd10cm_search import words_of

    rng = random.Random(seed)  # noqa: S311 - a reproducible workload, not a secret
    keys = codeset.all_billable_keys()
    queries: list[str] = []
    while len(queries) < n * 0.35:
        key = rng.choice(keys)
        typed = key[: rng.randint(1, len(key))]
        if len(typed) > 3 and rng.random() < 0.5:
            typed = f"{typed[:3]}.{typed[3:]}"
        queries.append(typed.lower() if rng.random() < 0.5 else typed)
    while len(queries) < n * 0.80:
        info = codeset.lookup(rng.choice(keys))
        words = [w for w in words_of(info.description) if len(w) >= 3 and w not in _SKIP_WORDS] if info else []
        if not words:
            continue
        chosen = rng.sample(words, min(len(words), rng.randint(1, 3)))
        queries.append(" ".join(w[: rng.randint(3, len(w))] for w in chosen))
    typed_runs = [term[:i] for term in TYPED_TERMS for i in range(1, len(term) + 1) if not term[:i].endswith(" ")]
    while len(queries) < n:
        queries.extend(typed_runs[: n - len(queries)])
    rng.shuffle(queries)
    return queries


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--queries", type=int, default=5000, help="number of queries (default 5000)")
    p.add_argument("--limit", type=int, default=20, help="results per query (default 20)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--no-cold", action="store_true", help="skip the cold build (about 4 s)")


_COLD_SCRIPT: Final = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "t = time.perf_counter()\n"
    "from app.codesets.icd10cm import Icd10cmCodeSet\n"
    "cs = Icd10cmCodeSet.load(Path(sys.argv[1]))\n"
    "print(time.perf_counter() - t, cs.source)\n"
)


@register("search", "ICD-10-CM load time (cold/warm) and autocomplete latency percentiles", _configure)
def run(args: argparse.Namespace) -> Report:
    import subprocess
    import sys
    import tracemalloc

    from app.codesets.icd10cm import Icd10cmCodeSet
    from app.codesets.icd10cm_build import default_cache_dir

    report = Report("ICD-10-CM search")
    with tempfile.TemporaryDirectory(prefix="smartcoders-bench-") as tmp:
        # --no-cold reads the usual cache ($SMARTCODERS_HOME/cache), building it only if absent.
        cache = default_cache_dir() if args.no_cold else Path(tmp)
        if not args.no_cold:
            # A child interpreter: the cold path includes importing simple_icd_10_cm (~2.5 s).
            done = subprocess.run(  # noqa: S603 - fixed script, our own interpreter, no shell
                [sys.executable, "-c", _COLD_SCRIPT, str(cache)], capture_output=True, text=True, check=True
            )
            seconds, source = done.stdout.split()
            report.add("cold_load_s", float(seconds))
            report.notes.append(f"cold load source: {source}")
        started = time.perf_counter()
        codeset = Icd10cmCodeSet.load(cache)
        report.add("warm_load_s", time.perf_counter() - started)
        report.add("load_source", codeset.source)
        # Memory held by a loaded code set, measured on a second load (tracing slows the first).
        tracemalloc.start()
        again = Icd10cmCodeSet.load(cache)
        report.add("warm_load_traced_mb", tracemalloc.get_traced_memory()[0] / 1e6)
        tracemalloc.stop()
        del again
    started = time.perf_counter()
    codeset.search_index()
    report.add("index_build_s", time.perf_counter() - started)
    queries = workload(codeset, args.queries, args.seed)
    samples: list[float] = []
    began = time.perf_counter()
    for query in queries:
        t = time.perf_counter()
        codeset.search(query, args.limit)
        samples.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - began
    report.add("queries", len(queries))
    for name, value in percentiles_ms(samples).items():
        report.add(name, value)
    report.add("max_ms", max(samples) * 1000)
    report.add("queries_per_s", len(queries) / elapsed)
    keys = codeset.all_billable_keys()[:: max(1, len(codeset.all_billable_keys()) // 20000)]
    for key in keys:  # first lookups make the CodeInfo objects; the engine's steady state is warm
        codeset.lookup(key)
    best = float("inf")
    for _ in range(5):  # best of five: the least disturbed by other processes
        started = time.perf_counter()
        for key in keys:
            codeset.lookup(key)
        best = min(best, time.perf_counter() - started)
    report.add("lookup_warm_ns", best / len(keys) * 1e9)
    return report
