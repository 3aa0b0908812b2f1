from __future__ import annotations

from tests.conftest import Client, Universe


def test_login_and_me(client: Client, universe: Universe) -> None:
    r = client.login("mgr@alpha.test")
    assert r.status_code == 200, r.text
    me = client.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["organization"]["name"] == "Alpha Clinic"


def test_healthz(client: Client) -> None:
    r = client.get("/healthz")
    assert r.json()["checks"]["database"] == "ok"
