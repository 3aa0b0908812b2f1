"""`smartcoders bench queue`: the coder queue and the assignment list over a large organisation.

A fresh organisation gets ``--charts`` charts (default 100,000) in one bulk statement
(``datalayer.synthetic``), spread over ``--coders`` coders (default 25) with a fifth unassigned;
each coder's share is then about 3,200 charts, most of them completed, a few hundred open. The
planner statistics are refreshed (ANALYZE) as after any bulk load. Then, per iteration:

- ``queue_query``: ``list_charts`` as one coder for the /queue default view (to-do tab: draft and
  returned, queue order, first page of 25) — counts by status included;
- ``queue_all_query``: the same coder's "All" tab, a later page, sorted by encounter date;
- ``queue_page``: the /queue page view as a session builds it: construct ``QueuePage``, load it
  (the same queries plus the specialty list) and render its Bokeh models (``get_root``);
- ``assign_query``: ``list_charts`` as the manager for /assign's default view (unassigned open
  charts over the whole organisation, oldest first, 50 per page);
- ``assign_page``: the /assign page view likewise (list, workload of every coder, filter options).

Runs inside this process on a temporary ``SMARTCODERS_HOME`` with fresh embedded PostgreSQL and
Redis, or (``--services-from-env``) the running ones of the environment's URLs.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable
from typing import Any

from app.bench import Report, bench_org, bench_person, bench_runtime, percentiles_ms, positive_int, register

WARMUP = 3


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--iterations", type=positive_int, default=50, metavar="N", help="timed rounds (default 50)")
    parser.add_argument("--charts", type=positive_int, default=100_000, metavar="N", help="charts (default 100,000)")
    parser.add_argument("--coders", type=positive_int, default=25, metavar="N", help="coders (default 25)")
    parser.add_argument(
        "--services-from-env",
        action="store_true",
        help="use the running PostgreSQL and Redis of DATABASE_URL, DATABASE_OWNER_URL and REDIS_URL",
    )


def _timed(n: int, work: Callable[[], Any]) -> list[float]:
    samples: list[float] = []
    for i in range(-WARMUP, n):
        started = time.perf_counter()
        work()
        if i >= 0:
            samples.append(time.perf_counter() - started)
    return samples


@register("queue", "/queue and /assign over 100,000 charts: list queries and page builds", _configure)
def run_queue(args: argparse.Namespace) -> Report:
    with bench_runtime(services_from_env=args.services_from_env) as rt:
        return _measure(rt, args)


def _measure(rt: Any, args: argparse.Namespace) -> Report:
    import panel as pn
    from bokeh.document import Document

    from app.authz import Role
    from app.services import charts as chart_actions
    from datalayer import synthetic
    from datalayer.scope import org_scope
    from pages.assign import AssignPage
    from pages.queue import QueuePage
    from pages.registry import NAV

    n: int = args.iterations
    org_id = bench_org(f"Bench Queue {uuid.uuid4().hex[:6]}")
    manager = bench_person(org_id, Role.MANAGER, "Bench Manager")
    coders = [bench_person(org_id, Role.CODER, f"Coder {i:02d}") for i in range(args.coders)]
    started = time.perf_counter()
    with org_scope(org_id) as scope:
        created = synthetic.insert_charts(scope, count=args.charts, coders=[c.user_id for c in coders])
    insert_s = time.perf_counter() - started
    synthetic.analyze(rt.services.owner_url, ["charts", "users"])
    coder = coders[0]

    first = chart_actions.list_charts(coder, status="draft,returned", sort="queue", page_size=25)
    everything = chart_actions.list_charts(coder, page_size=25)
    later_page = max(1, everything.pages // 2)
    ctx = rt.ctx

    def queue_page() -> None:
        page = QueuePage(principal=coder, ctx=ctx, nav=NAV)
        page.render(page.fetch(coder))
        root = pn.Column(page, sizing_mode="stretch_both")
        model = root.get_root(Document())
        root._cleanup(model)  # internal API: drops Panel's registry entry for this view

    def assign_page() -> None:
        page = AssignPage(principal=manager, ctx=ctx, nav=NAV)
        page.render(page.fetch(manager))
        root = pn.Column(page, sizing_mode="stretch_both")
        model = root.get_root(Document())
        root._cleanup(model)

    samples = {
        "queue_query": _timed(
            n, lambda: chart_actions.list_charts(coder, status="draft,returned", sort="queue", page_size=25)
        ),
        "queue_all_query": _timed(
            n, lambda: chart_actions.list_charts(coder, sort="-encounter", page=later_page, page_size=25)
        ),
        "queue_page": _timed(n, queue_page),
        "assign_query": _timed(
            n, lambda: chart_actions.list_charts(manager, status="draft,returned", unassigned=True, sort="created")
        ),
        "assign_page": _timed(n, assign_page),
    }
    return _report(
        n,
        {
            "charts": created,
            "coders": len(coders),
            "coder_charts": everything.total,
            "coder_open_charts": first.total,
            "bulk_insert_s": round(insert_s, 2),
        },
        samples,
    )


def _report(n: int, dataset: dict[str, Any], samples: dict[str, list[float]]) -> Report:
    report = Report(f"Coder queue over {dataset['charts']:,} charts, {n} iterations")
    report.add("iterations", n)
    for name, value in dataset.items():
        report.add(name, value)
    for name, values in samples.items():
        pct = percentiles_ms(values)
        report.add(f"{name}_p50_ms", pct["p50_ms"])
        report.add(f"{name}_p95_ms", pct["p95_ms"])
    report.notes += [
        "queue_query: one coder's to-do tab (draft + returned, returned first), first 25, with counts by status",
        "queue_all_query: the same coder's All tab, a middle page, by encounter date",
        "queue_page / assign_page: construct the page, load it (its queries) and create its Bokeh models "
        "(get_root), as a new page session does; the websocket transfer is not included",
        "assign_query: the manager's unassigned open charts over the whole organisation, oldest first, 50",
    ]
    return report
