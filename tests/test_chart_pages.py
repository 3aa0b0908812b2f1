"""``/queue`` and ``/assign`` as plain objects, without a browser (CONVENTIONS 15).

The pages are built the way a session builds them (real sign-ins; the session identity the page
reads from its Bokeh token is the identity of that sign-in), loaded, and driven by setting widget
values and clicking, as the browser would. Loads run their database work off the event loop
(``SecurePage.run_action``): checked by recording the thread of each service call.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import pytest
from bokeh.document import Document
from sqlalchemy import text

from app import bootstrap
from app.authz import Permission, Role
from app.services import charts as svc
from app.services import notifications
from datalayer.scope import org_scope
from pages.account import AccountPage
from pages.assign import AssignPage
from pages.queue import QueuePage
from pages.registry import NAV, page_for
from tests.chart_fixtures import Team, login_team_fixture, principal
from tests.conftest import make_user
from tests.page_fixtures import built_page, run_settled, signed_in

pytestmark = pytest.mark.slow


team = login_team_fixture()


def _change(widget: Any, value: Any) -> None:
    """Set a value as the browser would, on a running loop, and wait for the load it schedules."""

    async def run() -> None:
        widget.value = value
        await asyncio.gather(*(asyncio.all_tasks() - {asyncio.current_task()}))

    asyncio.run(run())


def _click(button: Any) -> None:
    async def run() -> None:
        button.param.update(clicks=button.clicks + 1)
        await asyncio.gather(*(asyncio.all_tasks() - {asyncio.current_task()}))

    asyncio.run(run())


def test_registry_declares_the_pages_with_their_permissions() -> None:
    queue, assign = page_for("/queue"), page_for("/assign")
    assert queue is not None
    assert assign is not None
    assert (queue.page, queue.permission) == (QueuePage, Permission.CHARTS_CODE)
    assert (assign.page, assign.permission) == (AssignPage, Permission.CHARTS_ASSIGN)


@pytest.mark.parametrize(("path", "allowed"), [("/queue", {"coder_a"}), ("/assign", {"manager"})])
def test_pages_recheck_permission_when_built(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, team: Team, path: str, allowed: set[str]
) -> None:
    for name in ("manager", "coder_a", "supervisor", "analyst"):
        built = built_page(runtime, monkeypatch, path, getattr(team, name))
        assert (built is None) is (name not in allowed), name


def test_queue_shows_own_charts_returned_first_with_feedback(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, team: Team
) -> None:
    ids = team.charts(3)
    svc.assign(team.manager, ids, [team.coder_a.user_id])
    svc.assign(team.manager, team.charts(1), [team.coder_b.user_id])  # not A's: never shown
    audit_id = uuid.uuid4()
    with org_scope(team.org_id) as scope:
        scope.conn.execute(text("UPDATE charts SET status = 'returned' WHERE id = :id"), {"id": ids[1]})
        scope.conn.execute(
            text(
                "INSERT INTO audits (id, org_id, chart_id, submission_no, supervisor_id, coder_id, claim_expires_at, "
                "decision, decided_at) VALUES (:id, :org, :chart, 1, :sup, :coder, now(), 'return', now())"
            ),
            {
                "id": audit_id,
                "org": team.org_id,
                "chart": ids[1],
                "sup": team.supervisor.user_id,
                "coder": team.coder_a.user_id,
            },
        )
        scope.conn.execute(
            text(
                "INSERT INTO feedback (id, org_id, audit_id, chart_id, coder_id, supervisor_id, body) "
                "VALUES (:id, :org, :audit, :chart, :coder, :sup, 'Sequence the pneumonia first.')"
            ),
            {
                "id": uuid.uuid4(),
                "org": team.org_id,
                "audit": audit_id,
                "chart": ids[1],
                "coder": team.coder_a.user_id,
                "sup": team.supervisor.user_id,
            },
        )
    principal = signed_in(runtime, monkeypatch, team.coder_a)
    threads: list[int] = []
    original = svc.list_charts

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return original(*args, **kwargs)

    monkeypatch.setattr(svc, "list_charts", recording)
    page = QueuePage(principal=principal, ctx=runtime.ctx, nav=NAV)
    assert page.table.value.empty  # nothing is read while the page is built
    loop_thread: list[int] = []

    async def load() -> None:
        loop_thread.append(threading.get_ident())
        await page.refresh()

    run_settled(load())
    assert threads
    assert loop_thread[0] not in threads  # the query ran off the event loop
    assert [item.id for item in page.items] == [ids[1], ids[0], ids[2]]
    assert list(page.table.value["Status"].str.contains("Returned")) == [True, False, False]
    assert page.returned.visible
    assert "Sequence the pneumonia first." in page.returned.object
    assert "Sam Supervisor" in page.returned.object
    assert f"/chart?id={ids[1]}" in page.returned.object
    assert f"/chart?id={ids[0]}" in page.table.value["Encounter"][1]
    assert "To do (3)" in page.tabs.options
    assert "Returned (1)" in page.tabs.options
    assert page.pager_text.object.endswith("of 3</span>")
    page.__panel__().get_root(Document())  # the whole page lays out into Bokeh models


def test_queue_filters_and_empty_states(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, team: Team
) -> None:
    principal = signed_in(runtime, monkeypatch, team.coder_c)
    page = QueuePage(principal=principal, ctx=runtime.ctx, nav=NAV)
    run_settled(page.refresh())
    assert page.empty.visible
    assert not page.table.visible
    assert "Nothing to code right now" in page.empty.object
    svc.assign(team.manager, team.charts(4), [team.coder_c.user_id])
    run_settled(page.refresh())
    assert len(page.items) == 4
    assert page.table.visible
    _change(page.specialty, "Cardiology")  # the watcher schedules a load
    assert {i.specialty for i in page.items} == {"Cardiology"}
    _change(page.specialty, "Dermatology")
    assert "No charts match these filters" in page.empty.object
    run_settled(page._clear())
    assert len(page.items) == 4


def test_assign_page_assigns_selected_charts_and_updates_workload(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, team: Team
) -> None:
    fresh = team.charts(2)
    principal = signed_in(runtime, monkeypatch, team.manager)
    page = AssignPage(principal=principal, ctx=runtime.ctx, nav=NAV)
    run_settled(page.refresh())
    unassigned = {item.id for item in page.items}
    assert set(fresh) <= unassigned
    assert all(item.assignee_id is None for item in page.items)
    assert "Cy Coder" in page.workload_pane.object
    assert page.assign_button.disabled  # nothing selected yet
    rows = [i for i, item in enumerate(page.items) if item.id in fresh]
    page.table.selection = rows
    page.coder.value = str(team.coder_b.user_id)
    assert not page.assign_button.disabled
    assert page.assign_button.label == "Assign 2 charts"
    _click(page.assign_button)
    assert page.notice.alert_type == "success"
    assert "Assigned 2 charts: Ben Coder 2." in page.notice.object
    assert not set(fresh) & {item.id for item in page.items}  # they left the unassigned list
    mine = {c.id for c in svc.list_charts(team.coder_b, page_size=200).items}
    assert set(fresh) <= mine
    page.__panel__().get_root(Document())


def test_assign_page_round_robin_and_error(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, team: Team
) -> None:
    fresh = team.charts(2)
    principal = signed_in(runtime, monkeypatch, team.manager)
    page = AssignPage(principal=principal, ctx=runtime.ctx, nav=NAV)
    run_settled(page.refresh())
    page.mode.value = "round_robin"
    assert page.coders_multi.visible
    assert not page.coder.visible
    page.coders_multi.value = [str(team.coder_a.user_id), str(team.coder_c.user_id)]
    page.table.selection = [i for i, item in enumerate(page.items) if item.id in fresh]
    # The chart is taken for audit meanwhile: the assignment is refused and explained.
    with org_scope(team.org_id) as scope:
        scope.conn.execute(text("UPDATE charts SET status = 'pending_audit' WHERE id = :id"), {"id": fresh[0]})
    _click(page.assign_button)
    assert page.notice.alert_type == "error"
    assert "being audited or completed" in page.notice.object
    with org_scope(team.org_id) as scope:
        scope.conn.execute(text("UPDATE charts SET status = 'draft' WHERE id = :id"), {"id": fresh[0]})
    _click(page.assign_button)
    assert page.notice.alert_type == "success"
    assert "Ada Coder 1, Cy Coder 1" in page.notice.object


def test_queue_whats_new_card_after_assignment_and_mark_all_read(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, team: Team
) -> None:
    # A coder of their own: the team's coders collect notifications from the other tests.
    email = f"dee-{uuid.uuid4().hex[:8]}@example.test"
    dee = principal(team.org_id, make_user(runtime.ctx, team.org_id, Role.CODER, email=email), Role.CODER, "Dee", email)
    me = signed_in(runtime, monkeypatch, dee)
    page = QueuePage(principal=me, ctx=runtime.ctx, nav=NAV)
    page.__panel__()
    queue_link = page._nav_links["/queue"]
    run_settled(page.load_news())
    assert not page.news.visible  # nothing unread: no card at all
    assert queue_link.label == "My queue"

    svc.assign(team.manager, team.charts(3), [dee.user_id])
    threads: list[int] = []
    original = notifications.unread

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return original(*args, **kwargs)

    monkeypatch.setattr(notifications, "unread", recording)
    page = QueuePage(principal=me, ctx=runtime.ctx, nav=NAV)
    page.__panel__()
    queue_link = page._nav_links["/queue"]
    run_settled(page.load_news())
    assert threads
    assert threading.get_ident() not in threads  # read off the event loop
    assert page.news.visible
    assert page.news.title == "What's new"
    assert "3 new charts assigned to you" in page.news_list.object
    assert "Maya Manager assigned you 3 charts" in page.news_list.object
    assert "just now" in page.news_list.object
    assert queue_link.label == "My queue (1)"
    assert queue_link.description == "1 unread notification"

    _click(page.mark_all)
    assert not page.news.visible
    assert queue_link.label == "My queue"
    assert notifications.unread_count(me) == 0
    page.__panel__().get_root(Document())


def test_nav_count_loads_for_pages_that_show_the_queue_link(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, team: Team
) -> None:
    email = f"eve-{uuid.uuid4().hex[:8]}@example.test"
    eve = principal(team.org_id, make_user(runtime.ctx, team.org_id, Role.CODER, email=email), Role.CODER, "Eve", email)
    svc.assign(team.manager, team.charts(1), [eve.user_id])
    me = signed_in(runtime, monkeypatch, eve)
    page = AccountPage(principal=me, ctx=runtime.ctx, nav=NAV)
    run_settled(page.load_nav_counts())
    assert page.nav_counts == {"/queue": 1}
    assert page.__panel__() is not None
    assert page._nav_links["/queue"].label == "My queue (1)"
    manager = signed_in(runtime, monkeypatch, team.manager)
    assign = AssignPage(principal=manager, ctx=runtime.ctx, nav=NAV)
    run_settled(assign.load_nav_counts())
    assert assign.nav_counts == {}  # no queue link for a manager: nothing is read
