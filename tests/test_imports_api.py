"""``POST /api/v1/imports`` and ``GET /api/v1/imports/{id}`` on the live server, with the worker job.

The upload answers 202 at once with a queued job (nothing parsed in the request); the registered
worker job imports it; the GET shows the counts and per-file errors. Managers only (a coder gets
403), and another organisation's job answers 404 exactly like an unknown id.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from typing import Any

import pytest

from app.authz import Role
from app.jobs.registry import JOBS
from tests.conftest import Client, LiveServer, make_org, make_user
from tests.synthea_data import PROVIDER_FILES, expected_charts, raw

pytestmark = pytest.mark.slow


def _signed_in(new_client: Any, live_server: LiveServer, org: uuid.UUID, role: Role) -> Client:
    email = f"{role.value}-{uuid.uuid4().hex[:8]}@example.test"
    make_user(live_server.ctx, org, role, email=email)
    c: Client = new_client()
    assert c.login(email).status_code == 200
    return c


def _run_worker(live_server: LiveServer) -> dict[str, Any]:
    (job,) = [j for j in JOBS if j.id == "synthea-import"]
    return job.func(live_server.ctx)


def _upload(c: Client, files: list[tuple[str, bytes]]) -> Any:
    return c.post(
        "/api/v1/imports",
        files=[("file", (name, data, "application/octet-stream")) for name, data in files],
        headers={**c.csrf(), "Accept": "application/json"},
    )


def test_upload_returns_202_then_the_worker_imports_and_get_shows_counts(
    new_client: Any, live_server: LiveServer
) -> None:
    org = make_org()
    manager = _signed_in(new_client, live_server, org, Role.MANAGER)
    files = [
        ("Conchita9_Ramón841_0580b365.json", raw("Conchita9")),
        ("Johnie961_Connelly992_98ea7ef1.json", raw("Johnie961")),
        (PROVIDER_FILES[0].name, PROVIDER_FILES[0].read_bytes()),
        ("../../etc/broken.json", b'{"resourceType": "Bundle", "entry": [{'),
    ]
    r = _upload(manager, files)
    assert r.status_code == 202, r.text
    job = r.json()
    assert (job["status"], job["source"], job["file_count"], job["files_done"]) == ("queued", "upload", 4, 0)
    assert r.headers["location"] == f"/api/v1/imports/{job['id']}"
    stored = live_server.ctx.settings.smartcoders_home / "imports" / job["id"]
    assert sorted(p.name for p in stored.iterdir()) == sorted(
        [
            "Conchita9_Ramón841_0580b365.json",
            "Johnie961_Connelly992_98ea7ef1.json",
            PROVIDER_FILES[0].name,
            "broken.json",
        ]
    )  # the path in the uploaded name is dropped
    assert manager.get(f"/api/v1/imports/{job['id']}").json()["status"] == "queued"  # not parsed in the request

    assert _run_worker(live_server)["finished"] >= 1
    done = manager.get(f"/api/v1/imports/{job['id']}")
    assert done.status_code == 200
    body = done.json()
    expected = expected_charts(raw("Conchita9")) + expected_charts(raw("Johnie961"))
    assert (body["status"], body["files_done"], body["charts_created"], body["charts_skipped"]) == (
        "failed",
        4,
        expected,
        0,
    )
    assert len(body["errors"]) == 1
    assert body["errors"][0]["file"] == "broken.json"
    assert body["errors"][0]["error"].startswith("not valid JSON")
    assert body["finished_at"]
    assert not stored.exists()
    listed = manager.get("/api/v1/imports").json()["items"]
    assert [j["id"] for j in listed] == [job["id"]]

    # The same files again: nothing new, everything counted as already there.
    again = _upload(manager, files[:2])
    assert again.status_code == 202
    _run_worker(live_server)
    second = manager.get(f"/api/v1/imports/{again.json()['id']}").json()
    assert (second["status"], second["charts_created"], second["charts_skipped"]) == ("succeeded", 0, expected)


def test_zip_upload_is_expanded_by_the_worker(new_client: Any, live_server: LiveServer) -> None:
    org = make_org()
    manager = _signed_in(new_client, live_server, org, Role.MANAGER)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("output/fhir/Tarra676.json", raw("Tarra676"))
        zf.writestr("output/fhir/Tuyet839.json", raw("Tuyet839"))
        for path in PROVIDER_FILES:
            zf.writestr(f"output/fhir/{path.name}", path.read_bytes())
    r = _upload(manager, [("synthea-run.zip", buffer.getvalue())])
    assert r.status_code == 202, r.text
    assert r.json()["file_count"] == 1
    _run_worker(live_server)
    body = manager.get(f"/api/v1/imports/{r.json()['id']}").json()
    assert body["status"] == "succeeded", body["errors"]
    assert body["file_count"] == 4  # the archive's members
    assert body["charts_created"] == expected_charts(raw("Tarra676")) + expected_charts(raw("Tuyet839"))


def test_only_managers_and_other_orgs_get_404(new_client: Any, live_server: LiveServer) -> None:
    org, other = make_org(), make_org()
    manager = _signed_in(new_client, live_server, org, Role.MANAGER)
    r = _upload(manager, [("c.json", raw("Conchita9"))])
    assert r.status_code == 202
    job_id = r.json()["id"]
    for role in (Role.CODER, Role.SUPERVISOR, Role.ANALYST):
        c = _signed_in(new_client, live_server, org, role)
        assert _upload(c, [("c.json", raw("Conchita9"))]).status_code == 403
        assert c.get(f"/api/v1/imports/{job_id}", headers={"Accept": "application/json"}).status_code == 403
        assert c.get("/api/v1/imports", headers={"Accept": "application/json"}).status_code == 403
    outsider = _signed_in(new_client, live_server, other, Role.MANAGER)
    theirs = outsider.get(f"/api/v1/imports/{job_id}")
    unknown = outsider.get(f"/api/v1/imports/{uuid.uuid4()}")
    malformed = outsider.get("/api/v1/imports/not-a-uuid")
    assert theirs.status_code == unknown.status_code == malformed.status_code == 404
    assert theirs.content == unknown.content == malformed.content
    assert outsider.get("/api/v1/imports").json()["items"] == []
    anonymous: Client = new_client()
    assert anonymous.get(f"/api/v1/imports/{job_id}", headers={"Accept": "application/json"}).status_code == 401
    _run_worker(live_server)  # leave no queued job behind


def test_upload_rejects_bad_requests(new_client: Any, live_server: LiveServer) -> None:
    org = make_org()
    manager = _signed_in(new_client, live_server, org, Role.MANAGER)
    json_body = manager.post(
        "/api/v1/imports",
        content=b"{}",
        headers={**manager.csrf(), "Content-Type": "application/json", "Accept": "application/json"},
    )
    assert json_body.status_code == 415
    assert "multipart/form-data" in json_body.json()["error"]["message"]
    wrong_type = _upload(manager, [("notes.txt", b"hello")])
    assert wrong_type.status_code == 400
    assert "only .json and .zip" in wrong_type.json()["error"]["message"]
    empty = _upload(manager, [("empty.json", b"")])
    assert empty.status_code == 400
    no_csrf = manager.post("/api/v1/imports", files=[("file", ("c.json", raw("Conchita9")))])
    assert no_csrf.status_code == 403
    assert manager.get("/api/v1/imports").json()["items"] == []  # nothing was queued
    assert not any(
        p.name.startswith(".") for p in (live_server.ctx.settings.smartcoders_home / "imports").glob("*")
    )  # no staging folder left behind


def test_openapi_documents_the_import_endpoints(client: Client) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    post = doc["paths"]["/api/v1/imports"]["post"]
    assert "multipart/form-data" in post["requestBody"]["content"]
    assert post["responses"]["202"]["content"]["application/json"]["schema"]["$ref"].endswith("ImportJob")
    assert "404" in doc["paths"]["/api/v1/imports/{import_id}"]["get"]["responses"]
    assert "ImportJob" in doc["components"]["schemas"]
