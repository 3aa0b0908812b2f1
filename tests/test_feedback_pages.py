"""The coder's side of an audit on the pages (``pages/feedback_panel.py``): the "Feedback" card on
``/queue``, "Feedback received" on ``/account`` and "Disputed findings" on ``/review``.

First as plain objects without a browser (CONVENTIONS 15): pages built the way a session builds
them, driven by setting widget values and awaiting the actions their buttons run. Then one browser
test (INV-10) of the whole loop — the coder disputes a finding and acknowledges the feedback on
``/queue``, the supervisor overturns the dispute on ``/review``, the coder reads the resolution on
``/account`` — with screenshots in ``test-results/`` (feedback-queue.png, feedback-queue-done.png,
feedback-review.png, feedback-account.png).

Data: charts coded J18.9 (principal) + E11.9 and returned by the supervisor with E11.9 judged a
wrong code (E11.65 expected), the missing E87.1 and feedback text.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import panel_material_ui as pmui
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import text

from app import bootstrap
from app.services import audits as audit_svc
from app.services import charts
from app.services.audits import MissingCode, RowVerdict
from app.services.chart_types import CodeRowInput
from datalayer.scope import org_scope
from pages.account import AccountPage
from pages.feedback_panel import FeedbackPanel
from pages.queue import QueuePage
from pages.registry import NAV, page_for
from pages.review import ReviewPage
from tests.chart_fixtures import Team, make_team
from tests.conftest import SHOTS, LiveServer, new_page
from tests.page_fixtures import run_settled, signed_in
from tests.test_browser_chart import _sign_in

pytestmark = pytest.mark.slow

ROWS = (
    CodeRowInput("diagnosis", "J18.9", "Lobar consolidation on the chest X-ray.", is_principal=True),
    CodeRowInput("diagnosis", "E11.9", "Type 2 diabetes on metformin."),
)
FEEDBACK = "Good principal. The A1c of 9.1% documents hyperglycemia (E11.65), and sodium 128 needs E87.1."


@dataclass(frozen=True)
class Returned:
    chart_id: uuid.UUID
    feedback_id: uuid.UUID
    wrong: uuid.UUID  # E11.9 → E11.65
    missing: uuid.UUID  # E87.1


def _returned(team: Team, *, n: int = 0) -> Returned:
    chart_id = team.submitted(ROWS, encounter_reason=("Pneumonia", "Sepsis", "Asthma")[n % 3])
    audit_svc.claim(team.supervisor, chart_id)
    principal_row, diabetes_row = charts.get_chart(team.supervisor, chart_id).codes
    result = audit_svc.audit(
        team.supervisor,
        chart_id,
        submission_no=1,
        verdicts=[
            RowVerdict(principal_row.id, "correct"),
            RowVerdict(diabetes_row.id, "wrong_code", expected_code="E11.65", category="Specificity", severity="major"),
        ],
        missing=[MissingCode("E87.1", severity="minor", note="Sodium 128 mmol/L on admission.")],
        feedback=FEEDBACK,
        decision="return",
    )
    assert result.feedback_id is not None
    _, wrong, missing = result.finding_ids
    return Returned(chart_id, result.feedback_id, wrong, missing)


def _one(team: Team, sql: str, **params: Any) -> Any:
    with org_scope(team.org_id) as scope:
        return scope.conn.execute(text(sql), params).scalar_one()


@pytest.fixture
def team(runtime: bootstrap.Runtime) -> Team:
    return make_team(runtime.ctx, logins=True)


def _items(panel: Any) -> dict[str, dict[str, Any]]:
    return {i["key"]: i for i in panel.list.items}


def test_queue_card_acknowledges_and_disputes(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, team: Team
) -> None:
    done = _returned(team)
    p = signed_in(runtime, monkeypatch, team.coder_a)
    panel = QueuePage(principal=p, ctx=runtime.ctx, nav=NAV).feedback
    assert not panel.list.loaded  # outside a server session the page loads explicitly
    run_settled(panel.load())
    assert panel.list.loaded
    assert not panel.panel.collapsed  # something to acknowledge: open
    assert "1 to acknowledge" in panel.header.object
    item = _items(panel)[str(done.feedback_id)]
    assert (item["link"], item["chart"], item["decision"], item["ack"]) == (
        f"/chart?id={done.chart_id}",
        "Pneumonia",
        "Returned",
        "todo",
    )
    assert item["chart_meta"] == "Hospital admission · 01 Jan 2025"
    assert item["meta"].startswith("Sam Supervisor · just now · submission 1")
    assert item["body"] == FEEDBACK
    assert [s["text"] for s in item["scores"]] == ["Accuracy 33%", "Principal correct", "MS-DRG changed"]
    wrong, missing = item["findings"]  # the row judged correct is only counted
    assert item["correct"] == "1 other code judged correct."
    assert (wrong["from"], wrong["to"], wrong["verdict"], wrong["severity"]) == (
        "E11.9",
        "E11.65",
        "Wrong code",
        "Major",
    )
    assert (missing["from"], missing["to"], missing["note"]) == ("E87.1", None, "Sodium 128 mmol/L on admission.")
    assert wrong["disputable"]

    # Messages naming nothing on the list, or malformed, do nothing.
    for msg in (
        {"op": "dispute", "id": str(uuid.uuid4()), "comment": "x"},
        {"op": "dispute", "id": "nope", "comment": "x"},
        {"op": "dispute", "id": str(done.wrong)},
        {"op": "resolve", "id": str(done.wrong), "resolution": "upheld"},
        {"op": "acknowledge", "id": str(done.wrong)},
    ):
        assert panel.handle(msg) is None, msg

    # A blank comment is refused, said under the finding, and nothing is stored.
    blank = panel.handle({"op": "dispute", "id": str(done.wrong), "comment": "   "})
    assert blank is not None
    run_settled(blank)
    assert panel.list.notices[str(done.wrong)]["kind"] == "error"
    assert "Explain the dispute" in panel.list.notices[str(done.wrong)]["text"]
    assert _one(team, "SELECT disputed_at FROM audit_findings WHERE id = :id", id=done.wrong) is None

    comment = "The note says diabetes without complication; A1c alone is not a diagnosis."
    sent = panel.handle({"op": "dispute", "id": str(done.wrong), "comment": comment})
    assert sent is not None
    run_settled(sent)
    wrong = _items(panel)[str(done.feedback_id)]["findings"][0]
    assert not wrong["disputable"]
    assert wrong["dispute"] == {"label": "You disputed just now:", "comment": comment, "waiting": True}
    assert panel.list.notices[str(done.wrong)]["kind"] == "success"
    assert "1 open dispute" in panel.header.object
    assert _one(team, "SELECT dispute_comment FROM audit_findings WHERE id = :id", id=done.wrong) == comment
    run_settled(panel.dispute(done.wrong, "Again."))  # a second dispute is refused and said so
    assert "already disputed" in panel.list.notices[str(done.wrong)]["text"]

    ack = panel.handle({"op": "acknowledge", "id": str(done.feedback_id)})
    assert ack is not None
    run_settled(ack)
    item = _items(panel)[str(done.feedback_id)]
    assert (item["ack"], item["just_acknowledged"]) == ("done", True)
    assert "to acknowledge" not in panel.header.object
    assert _one(team, "SELECT acknowledged_at FROM feedback WHERE id = :id", id=done.feedback_id) is not None


def test_queue_card_folds_when_nothing_waits_and_shows_the_newest_few(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, team: Team
) -> None:
    items = [_returned(team, n=n) for n in range(4)]
    for item in items:
        audit_svc.acknowledge_feedback(team.coder_a, item.feedback_id)
    p = signed_in(runtime, monkeypatch, team.coder_a)
    panel = QueuePage(principal=p, ctx=runtime.ctx, nav=NAV).feedback
    run_settled(panel.load())
    assert panel.panel.collapsed
    assert "All acknowledged" in panel.header.object
    assert [i["key"] for i in panel.list.items] == [str(i.feedback_id) for i in reversed(items)][:3]
    assert all(i["ack"] == "done" and i["ack_text"] == "acknowledged just now" for i in panel.list.items)
    assert panel.more.visible
    assert "1 older feedback item not shown" in panel.more.object
    assert 'href="/account"' in panel.more.object


def test_empty_states(runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, team: Team) -> None:
    coder = signed_in(runtime, monkeypatch, team.coder_b)
    panel = QueuePage(principal=coder, ctx=runtime.ctx, nav=NAV).feedback
    run_settled(panel.load())
    assert (panel.list.items, panel.list.loaded) == ([], True)
    assert not panel.panel.collapsed
    assert panel.list.empty["title"] == "No feedback yet"
    assert "when a supervisor audits one of your charts" in panel.list.empty["text"]
    supervisor = signed_in(runtime, monkeypatch, team.supervisor)
    disputes = ReviewPage(principal=supervisor, ctx=runtime.ctx, nav=NAV).disputes
    assert disputes.list.items == []
    assert disputes.panel.collapsed
    assert disputes.list.empty["title"] == "No open disputes"
    assert "None open" in disputes.header.object


@pytest.mark.parametrize(("path", "who"), [("/queue", "coder_a"), ("/account", "coder_a"), ("/review", "supervisor")])
def test_pages_with_feedback_lay_out(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, team: Team, path: str, who: str
) -> None:
    # Models are built here only: an action awaited on a page with models starts Panel's
    # process-wide busy-cleanup callback, which never ends (``_run`` waits for every task).
    done = _returned(team)
    audit_svc.dispute_finding(team.coder_a, done.wrong, "E11.9 is what the physician documented.")
    p = signed_in(runtime, monkeypatch, getattr(team, who))
    spec = page_for(path)
    assert spec is not None
    page = spec.page(principal=p, ctx=runtime.ctx, nav=NAV)
    layout = page.__panel__()
    layout.get_root()  # the page lays out without errors
    panel = page.disputes.panel if path == "/review" else page.feedback.panel
    assert any(card is panel for card in layout.select(pmui.Card))


def test_account_shows_feedback_to_coders_only(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, team: Team
) -> None:
    done = _returned(team)
    audit_svc.dispute_finding(team.coder_a, done.missing, "Sodium was 134 after fluids; it resolved.")
    audit_svc.resolve_dispute(team.supervisor, done.missing, "overturned", "Agreed: it resolved within hours.")
    coder = signed_in(runtime, monkeypatch, team.coder_a)
    page = AccountPage(principal=coder, ctx=runtime.ctx, nav=NAV)
    assert isinstance(page.feedback, FeedbackPanel)
    assert page.feedback.list.loaded  # read while the page is built
    assert not page.feedback.panel.collapsible
    assert page.feedback.panel in page.body()
    (item,) = page.feedback.list.items
    resolved = item["findings"][1]
    assert not resolved["disputable"]
    assert resolved["dispute"]["waiting"] is False
    assert resolved["resolution"] == {
        "tone": "overturned",
        "label": "Overturned — the finding was withdrawn by Sam Supervisor",
        "note": "Agreed: it resolved within hours.",
    }
    assert resolved["note"] == "Sodium 128 mmol/L on admission."  # the auditor's note, kept apart
    for who in (team.manager, team.supervisor, team.analyst):
        other = signed_in(runtime, monkeypatch, who)
        assert AccountPage(principal=other, ctx=runtime.ctx, nav=NAV).feedback is None


def test_review_card_resolves_disputes(runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch, team: Team) -> None:
    done = _returned(team)
    comment = "E11.9 is what the physician documented."
    audit_svc.dispute_finding(team.coder_a, done.wrong, comment)
    supervisor = signed_in(runtime, monkeypatch, team.supervisor)
    disputes = ReviewPage(principal=supervisor, ctx=runtime.ctx, nav=NAV).disputes
    assert not disputes.panel.collapsed
    assert "1 open" in disputes.header.object
    (row,) = disputes.list.items
    assert row["key"] == str(done.wrong)
    assert row["meta"].startswith("Ada Coder disputed just now · audited by you (returned, submission 1)")
    assert row["finding"]["dispute"] == {"label": "Comment:", "comment": comment, "waiting": False}
    assert row["resolvable"]
    key = str(done.wrong)
    assert disputes.handle({"op": "resolve", "id": key, "resolution": "maybe"}) is None
    assert disputes.handle({"op": "resolve", "id": str(uuid.uuid4()), "resolution": "upheld"}) is None

    too_long = disputes.handle({"op": "resolve", "id": key, "resolution": "upheld", "note": "x" * 2001})
    assert too_long is not None
    run_settled(too_long)
    assert disputes.list.notices[key]["kind"] == "error"
    assert "2000" in disputes.list.notices[key]["text"]
    assert _one(team, "SELECT resolution FROM audit_findings WHERE id = :id", id=done.wrong) is None

    note = "The A1c documents hyperglycemia; E11.65 stands."
    upheld = disputes.handle({"op": "resolve", "id": key, "resolution": "upheld", "note": note})
    assert upheld is not None
    run_settled(upheld)
    (row,) = disputes.list.items
    assert not row["resolvable"]
    assert row["finding"]["resolution"]["label"] == "Upheld — the finding stands by Sam Supervisor"
    assert row["finding"]["resolution"]["note"] == note
    assert disputes.list.notices[key] == {"kind": "success", "text": "Upheld. The coder has been notified.", "seq": 2}
    assert "None open" in disputes.header.object
    assert _one(team, "SELECT resolution FROM audit_findings WHERE id = :id", id=done.wrong) == "upheld"

    # Managers watch the disputes but cannot resolve them.
    audit_svc.dispute_finding(team.coder_a, done.missing, "Sodium resolved.")
    manager = signed_in(runtime, monkeypatch, team.manager)
    (watched,) = ReviewPage(principal=manager, ctx=runtime.ctx, nav=NAV).disputes.list.items
    assert not watched["resolvable"]
    assert "audited by Sam Supervisor" in watched["meta"]


# -- browser ------------------------------------------------------------------------------------------


def _card(page: Page) -> Any:
    return page.locator(".sc-fb-item").first


@pytest.mark.browser
def test_browser_dispute_loop(chromium_browser: Browser, live_server: LiveServer, runtime: bootstrap.Runtime) -> None:
    base = live_server.url
    team = make_team(runtime.ctx, logins=True)
    done = _returned(team)
    older = _returned(team, n=1)
    audit_svc.acknowledge_feedback(team.coder_a, older.feedback_id)
    SHOTS.mkdir(exist_ok=True)

    # The coder disputes the wrong-code finding and acknowledges the feedback on /queue.
    coder = new_page(chromium_browser)
    _sign_in(coder, base, team.coder_a.email)
    expect(coder).to_have_url(re.compile(r"/queue"))
    card = coder.locator(".sc-feedback-card")
    expect(card).to_contain_text("1 to acknowledge")
    first = _card(coder)
    expect(first).to_contain_text("A1c of 9.1%")
    first.locator(".sc-fb-dispute").first.click()
    comment = first.locator("textarea.sc-fb-comment")
    expect(comment).to_be_visible()
    comment.fill("The discharge note says diabetes without complication; A1c alone is not a diagnosis.")
    coder.screenshot(path=str(SHOTS / "feedback-queue.png"))
    first.locator(".sc-fb-send").click()
    expect(first).to_contain_text("waiting for a supervisor")
    expect(first.locator(".sc-fb-dispute").first).to_be_disabled()
    first.locator(".sc-fb-ack").click()
    expect(first.locator(".sc-fb-acknowledged")).to_have_text("✓ Acknowledged")
    expect(card).to_contain_text("1 open dispute")
    first.scroll_into_view_if_needed()
    coder.screenshot(path=str(SHOTS / "feedback-queue-done.png"))
    assert _one(team, "SELECT acknowledged_at FROM feedback WHERE id = :id", id=done.feedback_id) is not None

    # The supervisor overturns it on /review with a note.
    supervisor = new_page(chromium_browser)
    _sign_in(supervisor, base, team.supervisor.email)
    expect(supervisor).to_have_url(re.compile(r"/review"))
    row = supervisor.locator(".sc-dispute-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("A1c alone is not a diagnosis")
    row.locator("input.sc-dispute-note").fill("Agreed: the physician did not link the A1c to diabetes.")
    supervisor.screenshot(path=str(SHOTS / "feedback-review.png"))
    row.locator(".sc-dispute-overturn").click()
    expect(row).to_contain_text("Overturned — the finding was withdrawn")
    assert _one(team, "SELECT resolution FROM audit_findings WHERE id = :id", id=done.wrong) == "overturned"

    # The coder reads the resolution on /account.
    coder.goto(f"{base}/account")
    section = coder.locator(".sc-feedback-card")
    expect(section).to_contain_text("Feedback received")
    expect(section).to_contain_text("Agreed: the physician did not link the A1c to diabetes.")
    expect(coder.locator(".sc-fb-item")).to_have_count(2)
    expect(coder.locator(".sc-profile")).to_contain_text("Ada Coder")  # the page has finished drawing
    coder.screenshot(path=str(SHOTS / "feedback-account.png"), full_page=True)
    for p in (coder, supervisor):
        p.context.close()
