"""``/dashboard``: its figures worked by hand, the page as a plain object (CONVENTIONS 15), its live
counters inside (simulated) server sessions — one hub listener per session, removed when the
session ends (PANEL.md finding e), tenant isolation (SECURITY A6) — and who may open it.

The worked organisation (``worked`` below, through the service actions)::

    chart 0  Internal medicine  coder A  J18.9 + E11.9, submitted, audited: both correct → approved
    chart 1  Cardiology         coder A  J18.9 + E11.9, submitted, audited: E11.9 wrong (E11.65,
                                         "Specificity"), E87.1 missing ("Documentation support") →
                                         returned; fixed and resubmitted → waiting for audit
    chart 2  Pulmonology        coder B  J18.9, submitted → waiting for audit
    chart 3  Internal medicine  coder B  assigned, draft
    chart 4  Cardiology                  unassigned

So, today: 3 charts coded (A 2, B 1) and 1 resubmission; 2 audits; code-over-code accuracy
(2 + 1) / (2 + 3) = 60 % (coder A, below the 95 % target); one chart of two right first time;
corrections: Specificity 1, Documentation support 1. Cardiology alone: 1 chart coded, 1 audit,
accuracy 1 / 3.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import polars as pl
import pytest
from bokeh.document import Document
from bokeh.server.callbacks import NextTickCallback, TimeoutCallback
from bokeh.server.contexts import BokehSessionContext
from bokeh.util.token import generate_session_id
from panel.io.state import set_curdoc

from app import bootstrap
from app.authz import Permission, Principal, Role
from app.jobs.outbox_relay import RelayPolicy, relay
from app.services import audits, charts, live_counters
from app.services.audits import MissingCode, RowVerdict
from app.services.chart_types import CodeRowInput
from app.services.live_counters import Counters
from pages import dashboard_view as view
from pages.dashboard import DashboardPage
from pages.dashboard_data import FilterError, Filters, bucket_for, compute
from pages.registry import NAV, page_for
from pipelines.frames import Frames
from tests.chart_fixtures import Team, make_team
from tests.page_fixtures import built_page, run_settled, signed_in

PNEUMONIA = CodeRowInput("diagnosis", "J18.9", "Chest X-ray shows lobar consolidation.", is_principal=True)
DIABETES = CodeRowInput("diagnosis", "E11.9", "Type 2 diabetes on metformin.")
HYPERGLYCAEMIA = CodeRowInput("diagnosis", "E11.65", "Type 2 diabetes, glucose 320 mg/dL.")
WAIT = 15.0  # seconds a test waits for a live update before it fails (never a timing assertion)
NOW = datetime(2026, 3, 18, 15, 30, tzinfo=UTC)


# -- filters and figures on small frames (no database) -----------------------------------------------


def test_periods_bounds_and_buckets() -> None:
    assert Filters(period="today").days(NOW) == (date(2026, 3, 18), date(2026, 3, 18))
    assert Filters(period="7d").bounds(NOW) == (datetime(2026, 3, 12, tzinfo=UTC), datetime(2026, 3, 19, tzinfo=UTC))
    assert Filters(period="all").days(NOW) == (None, date(2026, 3, 18))
    custom = Filters(period="custom", start=date(2026, 1, 1), end=date(2026, 1, 31))
    assert custom.bounds(NOW) == (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
    assert custom.describe(NOW) == "01 Jan \u2013 31 Jan 2026"
    with pytest.raises(FilterError, match="starts after it ends"):
        Filters(period="custom", start=date(2026, 2, 1), end=date(2026, 1, 1)).days(NOW)
    assert [bucket_for(date(2026, 1, 1), date(2026, 1, d)) for d in (1, 2, 31)] == ["1h", "1d", "1d"]
    assert bucket_for(date(2025, 1, 1), date(2026, 1, 1)) == "1w"
    assert bucket_for(None, date(2026, 1, 1)) == "1w"


def _frames() -> Frames:
    t = datetime(2026, 3, 16, 9, tzinfo=UTC)
    return Frames.of(
        charts=pl.DataFrame(
            {
                "chart_id": ["c1", "c2"],
                "status": ["completed", "pending_audit"],
                "specialty": ["cardiology", "cardiology"],
                "encounter_class": ["IMP", "AMB"],
                "difficulty": [1, 2],
                "assignee_id": ["u1", "u1"],
                "created_at": [t - timedelta(days=20), t],
                "assigned_at": [t - timedelta(days=19), t + timedelta(hours=1)],
                "submitted_at": [t - timedelta(days=18), t + timedelta(hours=2)],
                "completed_at": [t + timedelta(hours=3), None],
                "returned_at": [None, None],
                "updated_at": [t + timedelta(hours=3), t + timedelta(hours=2)],
            }
        ),
        submissions=pl.DataFrame(
            {
                "chart_id": ["c1", "c2"],
                "coder_id": ["u1", "u1"],
                "submitted_at": [t - timedelta(days=18), t + timedelta(hours=2)],
                "version": [2, 2],
                "resubmission": [False, False],
            }
        ),
        validation=pl.DataFrame(
            {
                "chart_id": ["c2", "c2", "c2"],
                "chart_version": [2, 2, 2],
                "rule_id": ["R-SEQ-01", "R-DRG-03", "R-CMB-01"],
                "category": ["sequencing", "comorbidity", "comorbidity"],
                "severity": ["error", "info", "warning"],
                "overridable": [True, False, True],
                "overridden": [True, False, False],
                "created_at": [t + timedelta(hours=2)] * 3,
            }
        ),
        people=pl.DataFrame(
            {
                "user_id": ["u1", "u2"],
                "name": ["Ada", "Idle Ivo"],
                "role": ["coder", "coder"],
                "is_active": [True, True],
            }
        ),
    ).collected()


def test_period_counts_what_happened_in_it() -> None:
    """Last 7 days (12 to 18 Mar): c2 was imported, assigned, coded and flagged on the 16th; c1 was
    coded three weeks earlier but *completed* on the 16th, so only its last two stages count in the
    period. Info findings are left out of the failing rules; the idle coder still has a team row."""
    titles = {"R-SEQ-01": "External cause never principal"}
    week = compute(_frames(), Filters(period="7d"), now=NOW, rule_titles=titles)
    assert (week.headline.charts_coded, week.headline.audits, week.headline.code_accuracy) == (1, 0, None)
    assert week.bucket == "1d"
    assert week.throughput["charts"].to_list() == [0, 0, 0, 0, 1, 0, 0]  # every day, zeros included
    stages = dict(zip(week.turnaround["stage"], week.turnaround["p50_hours"], strict=True))
    assert stages == pytest.approx(
        {
            "import_to_assign": 1.0,  # c2
            "assign_to_submit": 1.0,  # c2
            "submit_to_complete": 18 * 24 + 3,  # c1: submitted 26 Feb 09:00, completed 16 Mar 12:00
            "import_to_complete": 20 * 24 + 3,  # c1
        }
    )
    assert sorted(week.rules["rule_id"].to_list()) == ["R-CMB-01", "R-SEQ-01"]  # not the info R-DRG-03
    seq = week.rules.filter(pl.col("rule_id") == "R-SEQ-01")
    assert (seq["title"][0], seq["override_rate"][0]) == ("External cause never principal", 1.0)
    assert week.team.select("coder", "coded").rows() == [("Ada", 1), ("Idle Ivo", 0)]

    month = compute(_frames(), Filters(period="30d"), now=NOW, rule_titles=titles)
    assert month.headline.charts_coded == 2
    assert int(month.throughput["charts"].sum()) == 2
    assert month.throughput.height == 30
    assert month.team.select("coder", "coded").rows() == [("Ada", 2), ("Idle Ivo", 0)]
    assert month.accuracy_by_coder.height == 0
    assert month.below_target.height == 0
    other = compute(_frames(), Filters(period="30d", specialty="dental"), now=NOW)
    assert (other.headline.charts_coded, other.turnaround.height, other.rules.height) == (0, 0, 0)


# -- the HTML parts ------------------------------------------------------------------------------------


def _counters(org_id: uuid.UUID | None = None, **counts: int) -> Counters:
    return Counters(org_id=org_id or uuid.uuid4(), as_of=NOW, aging_hours=48, **counts)


def _who(role: Role) -> Principal:
    return Principal(uuid.uuid4(), uuid.uuid4(), role, "Someone", "someone@example.test", uuid.uuid4())


def test_counter_tiles_link_only_where_the_role_may_go() -> None:
    counters = _counters(draft=9, unassigned=4, pending_audit=3, audit_aging=1, aging=2, submitted_today=5)
    manager = view.counters_html(counters, _who(Role.MANAGER))
    assert 'data-key="unassigned"' in manager
    assert '<a class="db-tile db-tile--unassigned" href="/assign"' in manager
    assert 'href="/review"' in manager
    assert 'data-value="5"' in manager  # by the "Submitted" label
    assert "db-tile--aging db-tile--warn" in manager
    assert "Being coded" in manager
    assert 'data-value="5">5</span><span class="db-tile__hint">assigned drafts' in manager  # 9 drafts - 4 unassigned
    analyst = view.counters_html(counters, _who(Role.ANALYST))
    assert "href=" not in analyst
    assert "Loading the live counters" in view.counters_html(None)


def test_alerts_say_what_waits_and_escape_names() -> None:
    manager, analyst = _who(Role.MANAGER), _who(Role.ANALYST)
    data = compute(_frames(), Filters(period="30d"), now=NOW)
    waiting = view.alerts_html(_counters(aging=3, audit_aging=1), data, manager, data.filters)
    assert "<b>3 charts</b> imported more than 48 hours ago are still not submitted" in waiting
    assert '<a href="/assign?status=draft&amp;assignee=anyone&amp;sort=created">' in waiting
    assert "<b>1 chart</b> has waited more than 48 hours for audit" in waiting
    assert "href=" not in view.alerts_html(_counters(aging=3, audit_aging=1), data, analyst, data.filters)
    calm = view.alerts_html(_counters(), data, manager, data.filters)
    assert "Nothing needs attention" in calm
    assert "no audits yet to compare with" in calm
    below = data.__class__(
        **{
            **data.__dict__,
            "below_target": pl.DataFrame(
                {
                    "coder_id": ["u1"],
                    "coder": ["<b>Eve</b>"],
                    "code_accuracy": [0.8],
                    "final_codes": [10],
                    "audits": [3],
                }
            ),
        }
    )
    alert = view.alerts_html(_counters(), below, manager, below.filters)
    assert "1 coder</b> below the 95% accuracy target" in alert
    assert "&lt;b&gt;Eve&lt;/b&gt;" in alert
    assert 'href="/dashboard?period=30d&amp;coder=u1"' in alert
    assert "80.0%" in alert


def test_export_links_carry_each_datasets_filters() -> None:
    f = Filters(period="custom", start=date(2026, 3, 1), end=date(2026, 3, 9), specialty="cardiology", coder_id="u1")
    assert view.export_query("charts", f, NOW) == {"specialty": "cardiology", "coder": "u1"}
    assert view.export_query("audits", f, NOW) == {
        "from": "2026-03-01",
        "to": "2026-03-09",
        "specialty": "cardiology",
        "coder": "u1",
    }
    assert view.export_query("metrics", Filters(period="all"), NOW) == {"to": "2026-03-18"}
    links = view.exports_html(f, NOW)
    assert 'href="/api/v1/export/audits.csv?from=2026-03-01&to=2026-03-09&specialty=cardiology&coder=u1"' in links
    assert 'href="/api/v1/export/metrics.parquet?from=2026-03-01&to=2026-03-09"' in links
    assert view.duration(0.005) == "< 1 min"
    assert view.duration(0.5) == "30 min"
    assert view.duration(5.25) == "5.2 h"
    assert view.duration(72) == "3.0 days"


# -- the page, on the real database --------------------------------------------------------------------


def _submit(coder: Principal, chart_id: uuid.UUID, rows: tuple[CodeRowInput, ...]) -> None:
    version = charts.get_chart(coder, chart_id).version
    saved = charts.save_codes(coder, chart_id, version=version, rows=rows)
    charts.submit(coder, chart_id, version=saved.version)


def _verdicts(team: Team, chart_id: uuid.UUID, **wrong: str) -> list[RowVerdict]:
    return [
        RowVerdict(c.id, "wrong_code", expected_code=wrong[c.code], category="Specificity")
        if c.code in wrong
        else RowVerdict(c.id, "correct")
        for c in charts.get_chart(team.supervisor, chart_id).codes
    ]


@pytest.fixture(scope="module")
def worked(runtime: bootstrap.Runtime) -> tuple[Team, list[uuid.UUID]]:
    team = make_team(runtime.ctx, logins=True)
    ids = team.charts(5)
    a, b = team.coder_a, team.coder_b
    charts.assign(team.manager, ids[:2], [a.user_id])
    charts.assign(team.manager, ids[2:4], [b.user_id])
    _submit(a, ids[0], (PNEUMONIA, DIABETES))
    _submit(a, ids[1], (PNEUMONIA, DIABETES))
    _submit(b, ids[2], (PNEUMONIA,))
    audits.claim(team.supervisor, ids[0])
    audits.audit(team.supervisor, ids[0], submission_no=1, verdicts=_verdicts(team, ids[0]), decision="approve")
    audits.claim(team.supervisor, ids[1])
    audits.audit(
        team.supervisor,
        ids[1],
        submission_no=1,
        verdicts=_verdicts(team, ids[1], **{"E11.9": "E11.65"}),
        missing=[MissingCode("E87.1", category="Documentation support")],
        feedback="Code the hyperglycaemia and the hyponatraemia.",
        decision="return",
    )
    _submit(a, ids[1], (PNEUMONIA, HYPERGLYCAEMIA, CodeRowInput("diagnosis", "E87.1", "Na 128.")))
    return team, ids


def _loaded(runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, who: Principal) -> DashboardPage:
    """The dashboard as ``who`` (signed in) opens it, after its first load."""
    page = DashboardPage(principal=signed_in(runtime, monkeypatch, who), ctx=runtime.ctx, nav=NAV)
    run_settled(page.first_load())
    return page


def _change(*changes: tuple[Any, Any]) -> None:
    """Set widget values as the browser would, on a running loop, and wait for the refresh they start."""

    async def run() -> None:
        for widget, value in changes:
            widget.value = value
        await asyncio.gather(*(asyncio.all_tasks() - {asyncio.current_task()}))

    asyncio.run(run())


def test_registry_entry() -> None:
    spec = page_for("/dashboard")
    assert spec is not None
    assert (spec.page, spec.permission, spec.in_nav) == (DashboardPage, Permission.METRICS_VIEW, True)
    assert any(item.path == "/dashboard" for item in NAV)


@pytest.mark.slow
def test_page_builds_for_managers_and_analysts_and_refuses_coders_and_supervisors(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, worked: tuple[Team, list[uuid.UUID]]
) -> None:
    team, _ = worked
    for name, allowed in (("manager", True), ("analyst", True), ("coder_a", False), ("supervisor", False)):
        built = built_page(runtime, monkeypatch, "/dashboard", getattr(team, name))
        assert (built is not None) is allowed, name
        if allowed:
            built.get_root()  # the page lays out without errors


@pytest.mark.slow
def test_figures_filters_and_drill_down(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, worked: tuple[Team, list[uuid.UUID]]
) -> None:
    team, _ = worked
    page = _loaded(runtime, monkeypatch, team.manager)
    assert page.counters is not None
    assert (page.counters.org_id, page.counters.pending_audit, page.counters.unassigned) == (team.org_id, 2, 1)
    data = page.data
    assert data is not None
    h = data.headline
    assert (h.charts_coded, h.resubmissions, h.audits) == (3, 1, 2)
    assert h.code_accuracy == pytest.approx(0.6)
    assert h.case_accuracy == pytest.approx(0.5)
    assert data.below_target.select("coder", "final_codes").rows() == [("Ada Coder", 5)]
    assert dict(data.categories.select("category", "errors").rows()) == {"Specificity": 1, "Documentation support": 1}
    team_rows = {r["coder"]: r for r in data.team.iter_rows(named=True)}
    assert (
        team_rows["Ada Coder"]["coded"],
        team_rows["Ada Coder"]["resubmitted"],
        team_rows["Ada Coder"]["returned"],
    ) == (
        2,
        1,
        1,
    )
    assert team_rows["Cy Coder"]["coded"] == 0  # idle coders are listed too
    assert page.timings["read_s"] > 0  # the frames were read for the first load
    for key in ("throughput", "accuracy", "categories", "turnaround"):
        assert page.cards[key].plot.visible, key
        assert page.cards[key].plot.object is not None, key
    assert "60.0%" in page.headline_pane.object
    assert "Ada Coder" in page.alerts_pane.object
    assert 'href="/api/v1/export/charts.csv"' in page.exports_pane.object
    assert page.exports_pane.visible
    assert not page.drill_card.visible
    before = {key: card.plot.object for key, card in page.cards.items()}

    # A filter recomputes from the frames already read (no second read) and redraws the plots.
    _change((page.specialty, "Cardiology"))
    assert page.timings["read_s"] == 0.0
    assert page.data is not None
    assert page.data is not data
    assert (page.data.headline.charts_coded, page.data.headline.audits) == (1, 1)
    assert page.data.headline.code_accuracy == pytest.approx(1 / 3)
    assert page.cards["throughput"].plot.object is not before["throughput"]
    assert all(page.cards[key].plot.visible for key in ("throughput", "accuracy", "categories"))
    assert "specialty=Cardiology" in page.exports_pane.object


@pytest.mark.slow
def test_choosing_a_coder_lists_their_charts(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, worked: tuple[Team, list[uuid.UUID]]
) -> None:
    """A click on a coder's team row narrows everything to them and lists their charts."""
    team, ids = worked
    page = _loaded(runtime, monkeypatch, team.manager)
    row = page.team_rows.index(str(team.coder_b.user_id))

    async def click() -> None:
        page._team_clicked(type("Click", (), {"row": row})())
        await asyncio.gather(*(asyncio.all_tasks() - {asyncio.current_task()}))

    asyncio.run(click())
    assert page.coder.value == str(team.coder_b.user_id)
    assert page.drill_card.visible
    assert "Charts of Ben Coder" in page.drill_head.object
    assert {item.id for item in page.drill_items} == {ids[2], ids[3]}
    assert page.data is not None
    assert page.data.headline.audits == 0
    assert not page.cards["accuracy"].plot.visible
    assert "No audited charts in this period" in page.cards["accuracy"].empty.object
    assert "accuracy appears once supervisors approve or return charts" in page.cards["accuracy"].empty.object.lower()
    assert f'href="/chart?id={ids[2]}"' in page.drill.value["Encounter"].str.cat()
    assert "not audited" in page.drill.value["Latest audit"].str.cat()

    # A bad custom range says what is wrong and keeps the last charts.
    shown = page.data
    _change((page.period, "custom"), (page.start, date(2026, 2, 1)), (page.end, date(2026, 1, 1)))
    assert page.notice.visible
    assert "starts after it ends" in page.notice.object
    assert page.data is shown


@pytest.mark.slow
def test_counter_ticks_mark_the_charts_stale_without_recomputing(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, worked: tuple[Team, list[uuid.UUID]]
) -> None:
    team, _ = worked
    page = _loaded(runtime, monkeypatch, team.manager)
    data = page.data
    page._counters_changed(_counters(team.org_id, draft=1))
    page._counters_changed(_counters(team.org_id, draft=2, submitted_today=4))
    assert 'data-value="4"' in page.live_pane.object
    assert page.data is data  # a tick redraws the tiles, never the charts
    assert page.stale
    run_settled(page.refresh())  # the next refresh reads the frames again
    assert page.timings["read_s"] > 0
    assert not page.stale


@pytest.mark.slow
def test_analyst_reads_without_exports_or_assign_links(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, worked: tuple[Team, list[uuid.UUID]]
) -> None:
    team, _ = worked
    page = _loaded(runtime, monkeypatch, team.analyst)
    assert page.data is not None
    assert page.data.headline.charts_coded == 3
    assert not page.exports_pane.visible
    assert page.exports_pane.object == ""
    assert 'href="/assign' not in page.live_pane.object
    assert 'href="/review"' not in page.live_pane.object


@pytest.mark.slow
def test_empty_organisation_says_what_to_do(runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    team = make_team(runtime.ctx, logins=True)
    page = _loaded(runtime, monkeypatch, team.manager)
    for key in ("throughput", "accuracy", "categories", "turnaround", "rules"):
        assert not page.cards[key].plot.visible, key
        assert page.cards[key].empty.visible, key
    assert "No charts submitted in this period" in page.cards["throughput"].empty.object
    assert "No audited charts in this period" in page.cards["accuracy"].empty.object


# -- live counters inside server sessions ------------------------------------------------------------


class FakeSession:
    """A Bokeh document attached to a session context the way the server attaches it (no server):
    ``pages.live.follow`` registers its listener; callbacks the hub schedules wait in the
    document until ``run_pending`` runs them; ``destroy`` runs what Bokeh runs when it discards
    the session."""

    def __init__(self, arguments: dict[str, list[bytes]] | None = None) -> None:
        self.doc = Document()
        self.context = BokehSessionContext(generate_session_id(), None, self.doc)  # type: ignore[arg-type]  # no server
        # The page's HTTP request, as the server records it (the page reads its filters from the URL).
        self.context._request = SimpleNamespace(arguments=arguments or {}, cookies={}, headers={})  # type: ignore[assignment]  # a stand-in
        self.doc._session_context = lambda: self.context  # type: ignore[attr-defined,method-assign]  # as the server does

    def build(self, make: Callable[[], DashboardPage]) -> DashboardPage:
        with set_curdoc(self.doc):
            return make()

    def pending(self) -> int:
        return len(self._next_ticks())

    def _next_ticks(self) -> list[NextTickCallback]:
        return [c for c in self.doc.session_callbacks if isinstance(c, NextTickCallback)]

    def run_pending(self) -> None:
        for callback in self._next_ticks():
            self.doc.remove_next_tick_callback(callback)
            callback.callback()

    def destroy(self) -> None:
        for callback in list(self.doc.session_destroyed_callbacks):
            callback(self.context)


def _wait(check: Callable[[], bool]) -> bool:
    done = threading.Event()
    deadline = datetime.now(UTC) + timedelta(seconds=WAIT)
    while not check() and datetime.now(UTC) < deadline:
        done.wait(0.02)
    return check()


@pytest.fixture
def sessions() -> Iterator[list[FakeSession]]:
    made: list[FakeSession] = []
    yield made
    for session in made:
        session.destroy()


@pytest.mark.slow
def test_each_session_listens_while_it_lives_and_leaves_nothing_behind(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, sessions: list[FakeSession]
) -> None:
    team = make_team(runtime.ctx, logins=True)
    p = signed_in(runtime, monkeypatch, team.manager)
    hub = live_counters.hub()
    before = hub.listener_count(team.org_id)
    pages_ = []
    for _ in range(3):
        session = FakeSession()
        sessions.append(session)
        pages_.append(session.build(lambda: DashboardPage(principal=p, ctx=runtime.ctx, nav=NAV)))
    assert hub.listener_count(team.org_id) == before + 3
    for session in sessions:
        session.destroy()
    sessions.clear()
    assert hub.listener_count(team.org_id) == before
    assert not hub.watching(team.org_id) or before > 0


@pytest.mark.slow
def test_a6_another_organisations_event_does_not_reach_this_dashboard(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, sessions: list[FakeSession]
) -> None:
    mine, theirs = make_team(runtime.ctx, logins=True), make_team(runtime.ctx)
    my_charts, their_charts = mine.charts(2), theirs.charts(3)
    p = signed_in(runtime, monkeypatch, mine.manager)
    session = FakeSession()
    sessions.append(session)
    page = session.build(lambda: DashboardPage(principal=p, ctx=runtime.ctx, nav=NAV))
    seen: list[Counters] = []
    shown = page.show_counters

    def record(counters: Counters) -> None:
        seen.append(counters)
        shown(counters)

    page.show_counters = record  # type: ignore[method-assign]  # observe what reaches the page
    hub = live_counters.hub()
    assert hub.wait_connected(WAIT)
    hub.latest(mine.org_id)  # the hub's copy of this organisation's counters, as the page's first load reads it
    policy = RelayPolicy.from_settings(runtime.settings)
    # The other organisation assigns a chart; its event goes out on its own channel.
    charts.assign(theirs.manager, their_charts[:1], [theirs.coder_a.user_id])
    relay(policy, only_orgs=[theirs.org_id])
    # Then this organisation assigns one: the dashboard hears about that, and only that.
    charts.assign(mine.manager, my_charts[:1], [mine.coder_a.user_id])
    relay(policy, only_orgs=[mine.org_id])
    assert _wait(lambda: session.pending() > 0), "the dashboard never heard of its own organisation's change"
    session.run_pending()
    assert seen
    assert {c.org_id for c in seen} == {mine.org_id}
    assert (seen[-1].unassigned, seen[-1].draft) == (1, 2)
    assert 'data-value="1"' in page.live_pane.object


@pytest.mark.slow
def test_filters_come_from_the_url_and_bad_ones_are_ignored(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, sessions: list[FakeSession]
) -> None:
    team = make_team(runtime.ctx, logins=True)
    p = signed_in(runtime, monkeypatch, team.manager)
    coder = str(team.coder_a.user_id)
    good = FakeSession({"period": [b"7d"], "coder": [coder.encode()], "specialty": [b"Cardiology"]})
    bad = FakeSession({"period": [b"forever"], "coder": [b"not-an-id"], "from": [b"yesterday"]})
    sessions += [good, bad]
    page = good.build(lambda: DashboardPage(principal=p, ctx=runtime.ctx, nav=NAV))
    assert (page.period.value, page.coder.value, page.specialty.value) == ("7d", coder, "Cardiology")
    assert page.filters() == Filters(period="7d", specialty="Cardiology", coder_id=coder)
    plain = bad.build(lambda: DashboardPage(principal=p, ctx=runtime.ctx, nav=NAV))
    assert plain.filters() == Filters(period="30d")


# -- the benchmark runs (shape only, never timings) ------------------------------------------------------


@pytest.mark.slow
def test_bench_dashboard_runs(runtime: bootstrap.Runtime, capsys: pytest.CaptureFixture[str], monkeypatch: Any) -> None:
    from app.cli import main
    from datalayer.redis_client import get_redis
    from datalayer.scope import get_engine

    monkeypatch.setenv("DATABASE_URL", runtime.services.app_url)
    monkeypatch.setenv("DATABASE_OWNER_URL", runtime.services.owner_url)
    monkeypatch.setenv("REDIS_URL", runtime.services.redis_url)
    capsys.readouterr()
    before = (get_engine(), get_redis())
    args = ["bench", "dashboard", "--sessions", "3", "--rate", "10", "--seconds", "1", "--relay-interval", "0.2"]
    args += ["--codes", "2000", "--iterations", "1", "--services-from-env", "--json"]
    assert main(args) == 0
    assert (get_engine(), get_redis()) == before
    out = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(out[-1])
    assert (figures["sessions"], figures["changes"], figures["changes_never_seen"]) == (3, 10, 0)
    assert figures["rerender_rows"] == 2000
    for name in ("publish_to_screen", "commit_to_screen", "rerender_compute", "rerender_render"):
        assert figures[f"{name}_p95_ms"] >= figures[f"{name}_p50_ms"] >= 0


@pytest.mark.slow
def test_new_activity_refreshes_the_charts_by_themselves_once(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, sessions: list[FakeSession]
) -> None:
    """A counter change schedules one chart refresh (not one per tick), due AUTO_REFRESH_SECONDS
    after the last one; when it runs, the frames are read again."""
    team = make_team(runtime.ctx, logins=True)
    p = signed_in(runtime, monkeypatch, team.manager)
    session = FakeSession()
    sessions.append(session)
    page = session.build(lambda: DashboardPage(principal=p, ctx=runtime.ctx, nav=NAV))
    run_settled(page.first_load())
    first = page.data
    with set_curdoc(session.doc):
        page._counters_changed(_counters(team.org_id, draft=3))
        page._counters_changed(_counters(team.org_id, draft=4))
        page._counters_changed(_counters(team.org_id, draft=5))
    timers = [c for c in session.doc.session_callbacks if isinstance(c, TimeoutCallback)]
    assert len(timers) == 1
    assert 55_000 <= timers[0].timeout <= 60_000  # just loaded: due a minute after that load
    assert page.data is first
    run_settled(timers[0].callback())
    assert page.data is not first
    assert page.timings["read_s"] > 0
    assert not page.stale
