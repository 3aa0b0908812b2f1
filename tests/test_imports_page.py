"""``/imports``: the job cards and upload checks as plain objects; the page's upload action without
a browser (real services, database and files); its live-counter listener removed when the session
ends (PANEL.md finding e); and the browser workflow (INV-10): a manager uploads a demo Synthea
bundle and a broken file, the worker imports them, and the page shows each job finish with its
counts and its failed file — live, without a reload. Screenshots go to ``test-results/``.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bokeh.document import Document
from bokeh.server.contexts import BokehSessionContext
from bokeh.util.token import generate_session_id
from panel.io.state import set_curdoc
from playwright.sync_api import Browser, Page, expect

from app import bootstrap
from app.errors import ValidationFailed
from app.jobs.outbox_relay import RelayPolicy, relay
from app.services import import_queue, live_counters
from datalayer.queries.import_jobs import ImportJob
from pages.imports import ImportsPage, job_html, summary_html, upload_files
from pages.live import follow
from pages.registry import NAV
from tests.chart_fixtures import make_team
from tests.conftest import SHOTS, LiveServer
from tests.page_fixtures import browser_signed_in, new_manager, run_settled
from tests.synthea_data import demo_file, expected_charts, raw

pytestmark = pytest.mark.slow


def _job(**overrides: Any) -> ImportJob:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "org_id": uuid.uuid4(),
        "created_by": None,
        "source": "upload",
        "status": "running",
        "storage_path": None,
        "file_count": 4,
        "files_done": 1,
        "charts_created": 12,
        "charts_skipped": 0,
        "errors": [],
        "attempts": 1,
        "locked_until": None,
        "created_at": now - timedelta(minutes=3),
        "started_at": now - timedelta(minutes=2),
        "finished_at": None,
    }
    values.update(overrides)
    return ImportJob(**values)


# -- plain objects ------------------------------------------------------------------------------------


def test_job_card_shows_progress_counts_and_escaped_errors() -> None:
    running = job_html(_job())
    assert "Importing" in running
    assert "im-job--running" in running
    assert "<b>1</b> of 4 files" in running
    assert "width: 25%" in running
    assert "<b>12</b> charts created" in running
    assert "started 2 min ago" in running
    failed = job_html(
        _job(
            status="failed",
            files_done=4,
            finished_at=datetime.now(UTC),
            errors=[{"file": "<script>x</script>.json", "error": "not a FHIR <Bundle>"}],
        )
    )
    assert "Finished with errors" in failed
    assert re.search(r"finished \d\d [A-Z][a-z]{2} \d{4}, \d\d:\d\d UTC", failed)
    assert "width: 100%" in failed
    assert "1 file could not be imported" in failed
    assert "&lt;script&gt;x&lt;/script&gt;.json" in failed
    assert "<script>" not in failed
    assert "not a FHIR &lt;Bundle&gt;" in failed
    assert "Waiting for the worker" in job_html(_job(status="queued", files_done=0, started_at=None))
    done = job_html(_job(status="succeeded", files_done=4, finished_at=datetime.now(UTC), charts_created=1))
    assert "Imported" in done
    assert "<b>1</b> chart created" in done
    assert "<details" not in done


def test_summary_and_upload_files() -> None:
    counters = live_counters.Counters(org_id=uuid.uuid4(), as_of=datetime.now(UTC), aging_hours=48, imported_today=148)
    assert "<b>1</b> import in progress" in summary_html(counters, [_job()])
    assert "<b>148</b> charts imported today" in summary_html(counters, [])
    assert summary_html(None, []) == ""
    assert upload_files({"a.json": '{"x": 1}', "b.zip": b"PK"}) == [("a.json", b'{"x": 1}'), ("b.zip", b"PK")]


# -- the page without a browser --------------------------------------------------------------------


@pytest.fixture
def page(runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch) -> ImportsPage:
    return ImportsPage(principal=new_manager(runtime, monkeypatch), ctx=runtime.ctx, nav=NAV)


def test_empty_state_then_upload_queues_a_job(page: ImportsPage, runtime: bootstrap.Runtime) -> None:
    run_settled(page.refresh())
    assert page.empty.visible
    assert "No imports yet" in page.empty.object
    assert "Drop Synthea bundles" in page.empty.object
    page.dropper.value = {"Tama137.json": raw("Tama137")}
    assert (page.import_button.disabled, page.import_button.label) == (False, "Import 1 file")
    first_dropper = page.dropper
    run_settled(page._import())
    assert page.notice.alert_type == "success"
    assert "Queued 1 file for import" in page.notice.object
    assert page.dropper is not first_dropper
    assert page.dropper.value == {}
    assert first_dropper.value == {}
    assert not first_dropper.visible
    assert page.dropper.visible
    assert page.import_button.disabled
    (job,) = page.jobs
    assert (job.status, job.file_count, job.source) == ("queued", 1, "upload")
    assert not page.empty.visible
    assert "Waiting for the worker" in page.list.objects[0].object
    stored = runtime.settings.smartcoders_home / "imports" / str(job.id)
    assert [p.name for p in stored.iterdir()] == ["Tama137.json"]


def test_refused_upload_names_the_file_and_queues_nothing(page: ImportsPage) -> None:
    page.dropper.value = {"notes.txt": "hello", "Tama137.json": raw("Tama137")}
    run_settled(page._import())
    assert page.notice.alert_type == "error"
    assert "notes.txt: only .json and .zip files can be imported." in page.notice.object
    run_settled(page.refresh())
    assert page.jobs == []
    with pytest.raises(ValidationFailed, match="upload at most"):
        page.check_upload([("big.json", b"x" * (page.max_bytes + 1))])
    with pytest.raises(ValidationFailed, match="Drop at least one"):
        page.check_upload([])


def test_session_end_removes_the_live_listener(runtime: bootstrap.Runtime) -> None:
    """``pages.live.follow`` (what /imports calls when it is built) listens for as long as its
    session lives, no longer; outside a server session it does nothing."""
    team = make_team(runtime.ctx)
    hub = live_counters.hub()
    before = hub.listener_count(team.org_id)
    assert follow(team.org_id, lambda _: None) is None  # no session: nothing registered
    doc = Document()
    session = BokehSessionContext(generate_session_id(), None, doc)  # type: ignore[arg-type]  # no server needed
    doc._session_context = lambda: session  # type: ignore[attr-defined,method-assign]  # how the server attaches it
    with set_curdoc(doc):
        first = follow(team.org_id, lambda _: None)
        follow(team.org_id, lambda _: None)
    assert first is not None
    assert hub.listener_count(team.org_id) == before + 2
    for callback in list(doc.session_destroyed_callbacks):  # what Bokeh runs when it discards the session
        callback(session)
    assert hub.listener_count(team.org_id) == before
    assert first.closed


# -- the browser workflow --------------------------------------------------------------------------


def _upload(page: Page, files: list[Path], shot: str | None = None) -> None:
    page.locator(".sc-import-dropper:visible input[type=file]").set_input_files([str(f) for f in files])
    button = page.locator(".sc-import-go button")
    expect(button).to_have_text(re.compile(rf"Import {len(files)} files?"))  # every file has reached the server
    expect(button).to_be_enabled()
    if shot:
        page.mouse.move(700, 60)
        page.screenshot(path=str(SHOTS / shot))
    button.click()
    expect(page.locator(".sc-import-notice")).to_contain_text(f"Queued {len(files)} file")


def _work(runtime: bootstrap.Runtime, org_id: uuid.UUID) -> None:
    """What the worker does: the import job, then the outbox relay that publishes its events."""
    import_queue.run_pending_jobs(runtime.settings.smartcoders_home)
    relay(RelayPolicy.from_settings(runtime.settings), only_orgs=[org_id])


@pytest.mark.browser
def test_manager_uploads_a_bundle_and_watches_it_finish(
    chromium_browser: Browser, live_server: LiveServer, runtime: bootstrap.Runtime, tmp_path: Path
) -> None:
    team = make_team(runtime.ctx, logins=True)
    SHOTS.mkdir(exist_ok=True)
    page = browser_signed_in(chromium_browser, live_server.url, team.manager.email)
    expect(page.locator(".sc-nav-link--imports")).to_be_visible()
    page.goto(f"{live_server.url}/imports")
    expect(page.locator(".sc-import-empty")).to_contain_text("No imports yet")
    assert live_counters.hub().listener_count(team.org_id) >= 1  # the page follows its organisation's counters
    page.screenshot(path=str(SHOTS / "imports-empty.png"))

    bundle = demo_file("Tama137")
    _upload(page, [bundle])
    card = page.locator(".sc-import-job").first
    expect(card).to_contain_text("Waiting for the worker")
    _work(runtime, team.org_id)
    expect(card).to_contain_text("Imported")  # live: no reload
    expect(card).to_contain_text(f"{expected_charts(raw('Tama137'))} charts created")
    expect(card).to_contain_text("1 of 1 file")
    expect(page.locator(".sc-import-summary")).to_contain_text(
        f"{expected_charts(raw('Tama137'))} charts imported today"
    )

    broken = tmp_path / "broken.json"
    broken.write_bytes(b'{"resourceType": "Bundle", "entry": [{')
    _upload(page, [demo_file("Conchita9"), broken], shot="imports-upload.png")
    newest = page.locator(".sc-import-job").first
    expect(newest).to_contain_text("Waiting for the worker")
    _work(runtime, team.org_id)
    expect(newest).to_contain_text("Finished with errors")
    expect(newest).to_contain_text("2 of 2 files")
    expect(newest).to_contain_text(f"{expected_charts(raw('Conchita9'))} charts created")
    newest.get_by_text("1 file could not be imported").click()
    expect(newest.locator("code")).to_have_text("broken.json")
    expect(page.locator(".sc-import-job")).to_have_count(2)
    page.mouse.move(700, 60)
    page.screenshot(path=str(SHOTS / "imports.png"), full_page=True)
    page.context.close()
