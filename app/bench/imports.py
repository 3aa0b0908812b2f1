"""`smartcoders bench import [PATH...]`: Synthea import throughput and memory, end to end.

Imports the given files/folders/.zip archives (default: ``/work/shared/synthea/fhir`` when it
exists, else the bundled demo sample) into a fresh organisation of a private runtime —
embedded PostgreSQL and Redis on a temporary ``SMARTCODERS_HOME``, or the running services of
the environment with ``--services-from-env`` — through the same driver as ``smartcoders
import``: parse, build charts, one transaction per file with its events, audit row and
progress. Then it imports the same files again (everything is skipped: the idempotent path),
and finally just reads and parses each file with ``orjson.loads`` as the floor to compare with.

Memory: ``peak_rss_mb`` is ``ru_maxrss`` of this process (interpreter, libraries and the import;
PostgreSQL runs in its own processes and is not counted), taken after the first import;
``rss_before_mb`` is the resident size just before it. ``--tracemalloc`` adds a third import,
into another fresh organisation, under ``tracemalloc`` for the peak of Python allocations (that
pass is slower and is not timed).
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from pathlib import Path
from typing import Final

from app.bench import Report, bench_org, bench_runtime, register

SHARED_FHIR: Final = Path("/work/shared/synthea/fhir")


def default_paths() -> list[Path]:
    from app.demo_data import SYNTHEA_DIR

    return [SHARED_FHIR] if SHARED_FHIR.is_dir() else [SYNTHEA_DIR]


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="*", type=Path, metavar="PATH", help=f"bundles to import (default {SHARED_FHIR} or the demo)"
    )
    parser.add_argument(
        "--services-from-env",
        action="store_true",
        help="use the running PostgreSQL and Redis of DATABASE_URL, DATABASE_OWNER_URL and REDIS_URL "
        "instead of fresh embedded ones; the bench adds organisations and charts there",
    )
    parser.add_argument("--tracemalloc", action="store_true", help="also measure the Python heap peak (slow pass)")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _orjson_floor(paths: list[Path]) -> tuple[float, float]:
    """Seconds to read every file, and to ``orjson.loads`` them: what any importer must pay."""
    import orjson

    from app.fhir.sources import SourceSet

    read_s = parse_s = 0.0
    with SourceSet(paths) as sources:
        for src in sources:
            if src.problem is not None:
                continue
            t0 = time.perf_counter()
            data = src.read()
            t1 = time.perf_counter()
            orjson.loads(data)
            parse_s += time.perf_counter() - t1
            read_s += t1 - t0
    return read_s, parse_s


@register("import", "Synthea import: MB/s, encounters/s, charts/s, peak memory, ratio to orjson parsing", _configure)
def bench_import(args: argparse.Namespace) -> Report:
    from app.fhir.sources import SourceSet
    from app.services.imports import import_paths

    paths = list(args.paths) or default_paths()
    with SourceSet(paths) as sources:
        total_bytes = sum(s.size or 0 for s in sources)
        files = len(sources)
    mb = total_bytes / 1e6
    report = Report(f"Synthea import of {files} files ({mb:.1f} MB) from {', '.join(str(p) for p in paths)}")
    with bench_runtime(services_from_env=args.services_from_env):
        org_id = bench_org("Bench import timed")
        rss_before = _rss_mb()
        started = time.perf_counter()
        first = import_paths(org_id, paths, source="cli")
        import_s = time.perf_counter() - started
        peak_rss = _peak_rss_mb()
        started = time.perf_counter()
        again = import_paths(org_id, paths, source="cli")
        reimport_s = time.perf_counter() - started
        heap_peak = None
        if args.tracemalloc:
            tracemalloc.start()
            import_paths(bench_org("Bench import tracemalloc"), paths, source="cli")
            heap_peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
    read_s, parse_s = _orjson_floor(paths)
    totals = first.as_json()
    encounters = totals["encounters"]
    report.add("files", files)
    report.add("megabytes", round(mb, 2))
    report.add("encounters", encounters)
    report.add("charts_created", totals["charts_created"])
    report.add("file_errors", len(totals["errors"]))
    report.add("import_s", import_s)
    report.add("mb_per_s", mb / import_s)
    report.add("encounters_per_s", encounters / import_s)
    report.add("charts_per_s", totals["charts_created"] / import_s)
    report.add("reimport_s", reimport_s)
    report.add("reimport_charts_skipped", again.as_json()["charts_skipped"])
    report.add("orjson_read_s", read_s)
    report.add("orjson_parse_s", parse_s)
    report.add("orjson_mb_per_s", mb / parse_s if parse_s else 0.0)
    report.add("import_over_orjson_parse", import_s / parse_s if parse_s else 0.0)
    report.add("rss_before_mb", rss_before)
    report.add("peak_rss_mb", peak_rss)
    if heap_peak is not None:
        report.add("tracemalloc_peak_mb", heap_peak)
    report.notes.append("peak_rss_mb = ru_maxrss of this process (PostgreSQL runs in its own processes)")
    report.notes.append("one transaction per file; import_s includes parsing, chart building and the writes")
    return report
