"""``/imports`` (manager, ``imports:manage``): upload Synthea bundles and follow each import job.

Top: a drop zone for ``.json`` bundles and ``.zip`` archives of them (Panel ``FileDropper``; each
file and the whole upload limited to ``MAX_BODY_BYTES``, at most ``MAX_UPLOAD_FILES`` files) and
"Import files", which stores them and queues one job through the same action as
``POST /api/v1/imports`` (``app.services.import_queue.queue_upload``); a refused file is named with
the reason and nothing is queued. Below: the organisation's recent import jobs, newest first —
status, files done of total with a progress bar, charts created and skipped, and the files that
could not be imported with the reason (expandable).

Live, without a reload: the page follows the organisation's live counters (``pages.live``; an
import's ``chart.imported`` and ``import.finished`` events move them) and, while a job is queued
or running, also re-reads the jobs every ``POLL_SECONDS`` in a background periodic callback (a
file that created no chart sends no event). Every read runs in the executor
(``SecurePage.run_action``), never on the event loop.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any, Final

import panel as pn
import panel_material_ui as pmui
from panel.io.callbacks import PeriodicCallback

from app.authz import Permission, Principal
from app.errors import NotAuthenticated, PermissionDenied, ValidationFailed
from app.services import import_queue
from app.services.live_counters import Counters
from datalayer.queries.import_jobs import ImportJob
from pages import chart_lists as cl
from pages.base import SecurePage, busy
from pages.live import follow

POLL_SECONDS: Final = 2.0
# A drop zone cannot be emptied from the server, and a widget added to a page after it was first
# sent makes Bokeh refuse its events ("reference already known"): so the page is built with this
# many, one shown at a time, and shows the next one after each upload.
DROP_ZONES: Final = 6
JOBS_SHOWN: Final = 30
ACCEPTED: Final = (".json", ".zip")
SOURCES: Final = {"upload": "Upload", "cli": "Command line", "webhook": "Webhook", "demo": "Demo data"}
STATUS: Final = {
    "queued": ("Waiting for the worker", "queued"),
    "running": ("Importing", "running"),
    "succeeded": ("Imported", "succeeded"),
    "failed": ("Finished with errors", "failed"),
}

# Inside the drop zone's shadow root. FilePond sizes itself with absolutely positioned layers and
# its own measurements, which stay at the empty size inside this page's layout (the list of added
# files is cut off: holoviz/panel#7880); here the label and the list flow normally instead.
DROP_CSS: Final = """
.filepond--root.bk-input { font-family: var(--app-font-family-sans); margin-bottom: 0; height: auto !important;
  flex: 0 0 auto !important; contain: none !important;
  background: var(--app-color-surface-sunken); border: var(--app-size-border-width) dashed var(--app-color-border-strong);
  border-radius: var(--app-radius-lg); }
.filepond--root .filepond--panel-root { display: none; }
.bk-input.filepond--root .filepond--drop-label { position: relative !important; transform: none !important; min-height: 88px;
  color: var(--app-color-text-muted); font-size: var(--app-font-size-md); background: transparent; }
.filepond--root .filepond--label-action { color: var(--app-color-link); text-decoration-color: var(--app-color-link); }
.filepond--root .filepond--list-scroller { position: relative !important; transform: none !important; height: auto !important;
  overflow: visible !important; margin: 0 var(--app-space-3) var(--app-space-1); }
.filepond--root .filepond--list { position: relative !important; left: 0 !important; right: 0 !important; top: 0; }
.filepond--root .filepond--item { position: relative !important; transform: none !important; margin: 0 0 var(--app-space-2); }
"""

CSS: Final = """
.im-job { display: grid; gap: var(--app-space-2); padding: var(--app-space-3) var(--app-space-4);
  border: var(--app-size-border-width) solid var(--app-color-border); border-radius: var(--app-radius-md);
  background: var(--app-color-surface); font-family: var(--app-font-family-sans); color: var(--app-color-text); }
.im-job--failed { border-left: 3px solid var(--app-color-danger); }
.im-job--running, .im-job--queued { border-left: 3px solid var(--app-color-primary); }
.im-job--succeeded { border-left: 3px solid var(--app-color-success); }
.im-job__head { display: flex; flex-wrap: wrap; align-items: baseline; gap: var(--app-space-1) var(--app-space-3); }
.im-job__title { font-size: var(--app-font-size-md); font-weight: var(--app-font-weight-semibold); }
.im-job__time { color: var(--app-color-text-muted); font-size: var(--app-font-size-sm); }
.im-status { display: inline-flex; padding: 1px var(--app-space-2); border-radius: var(--app-radius-pill);
  border: var(--app-size-border-width) solid var(--app-color-border); font-size: var(--app-font-size-xs);
  font-weight: var(--app-font-weight-medium); white-space: nowrap; line-height: 18px; }
.im-status--queued { color: var(--app-color-text-muted); background: var(--app-color-surface-sunken); }
.im-status--running { color: var(--app-color-primary-subtle-text); background: var(--app-color-primary-subtle);
  border-color: var(--app-color-focus-halo); }
.im-status--succeeded { color: var(--app-color-success); background: var(--app-color-success-subtle);
  border-color: var(--app-color-success-border); }
.im-status--failed { color: var(--app-color-danger); background: var(--app-color-danger-subtle);
  border-color: var(--app-color-danger-border); }
.im-progress { height: 6px; border-radius: var(--app-radius-pill); background: var(--app-color-surface-sunken); overflow: hidden; }
.im-progress__fill { height: 6px; border-radius: var(--app-radius-pill); background: var(--app-color-primary); }
.im-job--succeeded .im-progress__fill { background: var(--app-color-success); }
.im-job--failed .im-progress__fill { background: var(--app-color-danger); }
.im-stats { display: flex; flex-wrap: wrap; gap: var(--app-space-1) var(--app-space-5); margin: 0; padding: 0; list-style: none;
  font-size: var(--app-font-size-sm); color: var(--app-color-text-muted); font-variant-numeric: tabular-nums; }
.im-stats b { color: var(--app-color-text); font-weight: var(--app-font-weight-semibold); }
.im-errors { font-size: var(--app-font-size-sm); }
.im-errors summary { cursor: pointer; color: var(--app-color-danger); font-weight: var(--app-font-weight-medium); }
.im-errors summary:focus-visible { outline: var(--app-size-focus-ring-width) solid var(--app-color-focus-ring);
  outline-offset: 2px; border-radius: var(--app-radius-sm); }
.im-errors ul { margin: var(--app-space-2) 0 0; padding-left: var(--app-space-5); display: grid; gap: var(--app-space-1); }
.im-errors code { font-family: var(--app-font-family-mono); font-size: var(--app-font-size-xs); overflow-wrap: anywhere; }
.im-summary { margin: 0; font-family: var(--app-font-family-sans); font-size: var(--app-font-size-sm);
  color: var(--app-color-text-muted); font-variant-numeric: tabular-nums; }
.im-summary b { color: var(--app-color-text); }
.im-help { margin: 0; font-family: var(--app-font-family-sans); font-size: var(--app-font-size-sm);
  color: var(--app-color-text-muted); }
"""


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB" if n >= 1024 * 1024 else f"{max(1, n // 1024)} KB"


def job_status(job: ImportJob) -> tuple[str, str]:
    return STATUS.get(job.status, (job.status, "queued"))


def job_html(job: ImportJob, now: datetime | None = None) -> str:
    """One job as a card: status, source, when, progress, counts, failed files (expandable)."""
    label, kind = job_status(job)
    total = max(job.file_count, job.files_done)
    done_pct = 100 if job.finished else (0 if total == 0 else int(100 * job.files_done / total))
    # A finished card never changes again (so an opened error list stays open): an absolute time.
    when = (
        f"finished {job.finished_at.astimezone(UTC):%d %b %Y, %H:%M} UTC"
        if job.finished_at
        else f"started {cl.ago(job.started_at, now, suffix=' ago')}"
        if job.started_at
        else f"queued {cl.ago(job.created_at, now, suffix=' ago')}"
    )
    stats = [
        f"<li><b>{job.files_done:,}</b> of {cl.count(total, 'file')}</li>",
        f"<li><b>{job.charts_created:,}</b> chart{'' if job.charts_created == 1 else 's'} created</li>",
        f"<li><b>{job.charts_skipped:,}</b> skipped (already imported)</li>",
    ]
    errors = ""
    if job.errors:
        items = "".join(
            f"<li><code>{html.escape(str(e.get('file') or 'the import'))}</code> — {html.escape(str(e.get('error') or ''))}</li>"
            for e in job.errors
        )
        n = len(job.errors)
        errors = (
            f'<details class="im-errors"><summary>{n} file{"" if n == 1 else "s"} could not be imported'
            f"</summary><ul>{items}</ul></details>"
        )
    return (
        f'<div class="im-job im-job--{kind}" data-job="{job.id}" data-status="{html.escape(job.status)}">'
        '<div class="im-job__head">'
        f'<span class="im-status im-status--{kind}">{html.escape(label)}</span>'
        f'<span class="im-job__title">{html.escape(SOURCES.get(job.source, job.source))}</span>'
        f'<span class="im-job__time">{html.escape(when)}</span></div>'
        f'<div class="im-progress" role="progressbar" aria-valuemin="0" aria-valuemax="{total}" '
        f'aria-valuenow="{job.files_done}"><div class="im-progress__fill" style="width: {done_pct}%"></div></div>'
        f'<ul class="im-stats">{"".join(stats)}</ul>{errors}</div>'
    )


def summary_html(counters: Counters | None, jobs: list[ImportJob]) -> str:
    active = sum(1 for j in jobs if not j.finished)
    parts = []
    if active:
        parts.append(f"<b>{active}</b> import{'' if active == 1 else 's'} in progress")
    if counters is not None:
        parts.append(f"<b>{counters.imported_today:,}</b> charts imported today (UTC)")
        parts.append(f"<b>{counters.unassigned:,}</b> waiting to be assigned")
    return f'<p class="im-summary">{" · ".join(parts)}</p>' if parts else ""


def upload_files(value: dict[str, Any]) -> list[tuple[str, bytes]]:
    """The dropper's files as (name, bytes); text the browser declared as text/* arrives decoded."""
    return [(name, data.encode() if isinstance(data, str) else bytes(data)) for name, data in value.items()]


class ImportsPage(SecurePage):
    title = "Imports"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        limit = self.ctx.settings.max_body_bytes
        self.max_bytes = limit
        self.jobs: list[ImportJob] = []
        self.counters: Counters | None = None
        self._panes: dict[str, Any] = {}
        self._poll: PeriodicCallback | None = None
        self._loads = 0
        self.droppers = [self._new_dropper(visible=i == 0) for i in range(DROP_ZONES)]
        self.current = 0
        self.import_button = pmui.Button(
            label="Import files", variant="contained", color="primary", disabled=True, css_classes=["sc-import-go"]
        )
        self.import_button.on_click(self._import)
        self.notice = pmui.Alert(
            object="", alert_type="info", visible=False, sizing_mode="stretch_width", css_classes=["sc-import-notice"]
        )
        self.help = pn.pane.HTML(
            '<p class="im-help">Synthea FHIR R4 bundles (<code>.json</code>) or <code>.zip</code> archives of them, '
            f"up to {_megabytes(limit)} per upload and {import_queue.MAX_UPLOAD_FILES:,} files. Include the run's "
            "<code>hospitalInformation</code> and <code>practitionerInformation</code> files to get provider and "
            "facility names. Encounters already imported are skipped, never duplicated.</p>",
            sizing_mode="stretch_width",
        )
        self.summary = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["sc-import-summary"])
        self.list = pn.Column(sizing_mode="stretch_width", css_classes=["sc-import-jobs"], margin=0)
        self.empty = pn.pane.HTML("", sizing_mode="stretch_width", visible=False, css_classes=["sc-import-empty"])
        self.loading = pn.pane.HTML('<p class="im-help">Loading imports…</p>', sizing_mode="stretch_width")
        follow(self.principal.org_id, self._counters_changed)
        cl.defer(self.refresh)

    # -- upload -----------------------------------------------------------------------------

    @property
    def dropper(self) -> Any:
        return self.droppers[self.current]

    def _new_dropper(self, *, visible: bool) -> Any:
        dropper = pn.widgets.FileDropper(
            accepted_filetypes=[*ACCEPTED, "application/json", "application/zip", "application/x-zip-compressed"],
            multiple=True,
            max_file_size=f"{self.ctx.settings.max_body_bytes // (1024 * 1024)}MB",
            max_total_file_size=f"{self.ctx.settings.max_body_bytes // (1024 * 1024)}MB",
            max_files=import_queue.MAX_UPLOAD_FILES,
            previews=[],
            sizing_mode="stretch_width",
            visible=visible,
            stylesheets=[DROP_CSS],
            css_classes=["sc-import-dropper"],
        )
        dropper.param.watch(self._files_changed, "value")
        return dropper

    def _next_dropper(self) -> None:
        """Forget the queued files and show an empty drop zone (the last one is reused, emptied)."""
        used = self.dropper
        used.value = {}
        if self.current + 1 < len(self.droppers):
            self.current += 1
            used.visible = False
            self.dropper.visible = True

    def _files_changed(self, *_: object) -> None:
        n = len(self.dropper.value)
        if n:
            self.notice.visible = False  # the last upload's outcome no longer applies
        self.import_button.param.update(disabled=n == 0, label=f"Import {cl.count(n, 'file')}" if n else "Import files")

    def check_upload(self, files: list[tuple[str, bytes]]) -> None:
        """What the page refuses before queuing (the action checks names and emptiness again)."""
        if not files:
            raise ValidationFailed("Drop at least one .json or .zip file first.")
        total = sum(len(data) for _, data in files)
        if total > self.max_bytes:
            raise ValidationFailed(
                f"These files come to {_megabytes(total)}; upload at most {_megabytes(self.max_bytes)} at a time "
                "(split them into several uploads, or zip them)."
            )

    async def _import(self, *_: object) -> None:
        files = upload_files(self.dropper.value)
        try:
            self.check_upload(files)
            home = self.ctx.settings.smartcoders_home
            with busy(self.import_button):
                job = await self.run_action(
                    Permission.IMPORTS_MANAGE, lambda p: import_queue.queue_upload(p, files=files, home=home)
                )
        except ValidationFailed as exc:
            self._say(exc.message, "error")
            return
        except (NotAuthenticated, PermissionDenied):
            return  # the session watchdog takes the browser to /login
        last = self.current + 1 == len(self.droppers)
        self._next_dropper()
        self._files_changed()
        more = " To upload more files, reload this page first." if last else ""
        self._say(
            f"Queued {cl.count(job.file_count, 'file')} for import. Progress shows below; you can leave this page.{more}",
            "success",
        )
        await self.refresh()

    def _say(self, message: str, kind: str) -> None:
        self.notice.param.update(object=message, alert_type=kind, visible=True)

    # -- jobs -------------------------------------------------------------------------------

    def fetch(self, principal: Principal) -> list[ImportJob]:
        return import_queue.list_jobs(principal, limit=JOBS_SHOWN)

    async def refresh(self, *_: object) -> None:
        self._loads += 1
        mine = self._loads
        try:
            jobs = await self.run_action(Permission.IMPORTS_MANAGE, self.fetch)
        except (NotAuthenticated, PermissionDenied):
            self._stop_polling()
            return
        if mine == self._loads:  # a later read supersedes this one
            self.render(jobs)

    def render(self, jobs: list[ImportJob]) -> None:
        changed = [j for j in jobs if j not in self.jobs]
        self.jobs = jobs
        for job in changed:
            key = str(job.id)
            pane = self._panes.get(key)
            if pane is None:
                self._panes[key] = pn.pane.HTML(
                    job_html(job), stylesheets=[CSS], sizing_mode="stretch_width", css_classes=["sc-import-job"]
                )
            else:
                pane.object = job_html(job)
        wanted = [self._panes[str(j.id)] for j in jobs]
        if [id(o) for o in self.list.objects] != [id(o) for o in wanted]:
            self.list.objects = wanted
        for key in set(self._panes) - {str(j.id) for j in jobs}:
            del self._panes[key]
        self.loading.visible = False
        self.empty.object = (
            ""
            if jobs
            else cl.empty_state(
                "No imports yet",
                "Drop Synthea bundles (.json) or a .zip of them above and choose Import. "
                "Each upload appears here with its progress, counts and any file that could not be imported.",
            )
        )
        self.empty.visible = not jobs
        self.summary.object = summary_html(self.counters, jobs)
        if any(not j.finished for j in jobs):
            self._start_polling()
        else:
            self._stop_polling()

    def _counters_changed(self, counters: Counters) -> None:
        before = self.counters
        self.counters = counters
        self.summary.object = summary_html(counters, self.jobs)
        moved = before is None or (before.imports_active, before.imported_today) != (
            counters.imports_active,
            counters.imported_today,
        )
        if moved:
            pn.state.execute(self.refresh)

    def _start_polling(self) -> None:
        if self._poll is not None or pn.state.curdoc is None or pn.state.curdoc.session_context is None:
            return
        # background=True, like the session watchdog: no process-wide busy flag per tick.
        self._poll = PeriodicCallback(callback=self.refresh, period=int(POLL_SECONDS * 1000), background=True)
        self._poll.start()

    def _stop_polling(self) -> None:
        if self._poll is not None:
            self._poll.stop()
            self._poll = None

    # -- layout -----------------------------------------------------------------------------

    def body(self) -> list[Any]:
        css = [cl.PAGE_CSS, CSS]
        for pane in (self.help, self.summary, self.empty, self.loading):
            pane.stylesheets = css
        return [
            cl.gutter(
                pn.pane.HTML(
                    '<h2 class="sc-section-title">Upload bundles</h2>', stylesheets=css, sizing_mode="stretch_width"
                ),
                self.help,
                *self.droppers,
                pn.Row(self.import_button, margin=(4, 0, 0, 0)),
                self.notice,
                pn.pane.HTML(
                    '<h2 class="sc-section-title">Import jobs</h2>',
                    stylesheets=css,
                    sizing_mode="stretch_width",
                    margin=(24, 10, 5, 10),
                ),
                self.summary,
                self.loading,
                self.empty,
                self.list,
            )
        ]
