"""``/assign`` starts from the filters in its URL (the dashboard's aging alert links to every draft,
oldest first); a value the page does not offer is ignored, never an error."""

from __future__ import annotations

import pytest

from app import bootstrap
from pages.assign import ANYONE, UNASSIGNED, AssignPage
from pages.registry import NAV
from tests.chart_fixtures import make_team
from tests.page_fixtures import signed_in
from tests.test_dashboard_page import FakeSession


@pytest.mark.slow
def test_assign_filters_come_from_the_url_and_bad_ones_are_ignored(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = make_team(runtime.ctx, logins=True)
    p = signed_in(runtime, monkeypatch, team.manager)
    good = FakeSession({"status": [b"draft"], "assignee": [b"anyone"], "sort": [b"-created"]})
    bad = FakeSession({"status": [b"deleted"], "assignee": [b"someone"], "sort": [b"random()"]})
    twice = FakeSession({"status": [b"draft", b"returned"]})
    try:
        page = good.build(lambda: AssignPage(principal=p, ctx=runtime.ctx, nav=NAV))  # type: ignore[arg-type,return-value]
        assert (page.show_status.value, page.assignee.value, page.sort.value) == ("draft", ANYONE, "-created")
        assert page.query()["status"] == "draft"
        for session in (bad, twice):
            plain = session.build(lambda: AssignPage(principal=p, ctx=runtime.ctx, nav=NAV))  # type: ignore[arg-type,return-value]
            assert (plain.show_status.value, plain.assignee.value, plain.sort.value) == (
                "draft,returned",
                UNASSIGNED,
                "created",
            )
    finally:
        for session in (good, bad, twice):
            session.destroy()
