"""A5 / INV-15: tenant isolation is enforced by PostgreSQL, not by remembering ``WHERE org_id``.

Connected as the restricted app role (exactly as the web and worker processes are), these tests
prove that: a transaction without ``app.org_id`` sees no org-owned rows at all; a transaction
scoped to org A sees only A's rows and cannot write rows for org B; the transaction-local setting
does not leak into the next transaction on the same connection; the app role is neither superuser
nor BYPASSRLS and owns no table or function; and every table with an ``org_id`` column (found from
the catalogue, so a new table is covered automatically) has ENABLE and FORCE row-level security.
The datalayer wrappers (``org_scope`` + queries) inherit the same guarantees, and a foreign
tenant's object is indistinguishable from a missing one (same ``NotFound``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from app import bootstrap
from app.errors import NotFound
from datalayer.queries import users
from datalayer.scope import org_scope
from tests.conftest import Universe

APP_ROLE = "smartcoders_app"
ORG_TABLES = ("users", "charts", "sessions", "audit_log")


@pytest.fixture
def app_conn(runtime: bootstrap.Runtime) -> Iterator[psycopg.Connection]:
    with psycopg.connect(runtime.services.app_url) as conn:
        yield conn


def _count_as_superuser(superuser_url: str, table: str, org_id: uuid.UUID | None = None) -> int:
    with psycopg.connect(superuser_url) as conn:
        if org_id is None:
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608 - fixed names
        else:
            row = conn.execute(f"SELECT count(*) FROM {table} WHERE org_id = %s", (org_id,)).fetchone()  # noqa: S608
    assert row is not None
    return int(row[0])


def test_a5_app_connection_is_the_restricted_role(app_conn: psycopg.Connection) -> None:
    row = app_conn.execute("SELECT current_user").fetchone()
    assert row == (APP_ROLE,)


@pytest.mark.parametrize("table", ORG_TABLES)
def test_a5_no_org_setting_sees_no_rows(
    app_conn: psycopg.Connection, superuser_url: str, universe: Universe, table: str
) -> None:
    if table in {"users", "audit_log"}:
        assert _count_as_superuser(superuser_url, table) > 0, "fixture rows should exist"
    row = app_conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608 - fixed names
    assert row == (0,)


@pytest.mark.parametrize("table", ["users", "audit_log", "sessions", "charts"])
def test_a5_scoped_to_org_a_reads_only_a(
    app_conn: psycopg.Connection, superuser_url: str, universe: Universe, table: str
) -> None:
    alpha = universe.orgs["alpha"]
    with app_conn.transaction():
        app_conn.execute("SELECT set_config('app.org_id', %s, true)", (str(alpha),))
        orgs = {r[0] for r in app_conn.execute(f"SELECT DISTINCT org_id FROM {table}")}  # noqa: S608
        count = app_conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
    assert orgs <= {alpha}
    assert count is not None
    assert count[0] == _count_as_superuser(superuser_url, table, alpha)
    if table in {"users", "audit_log"}:
        assert orgs == {alpha}


def test_a5_users_scoped_to_a_are_exactly_a_users(app_conn: psycopg.Connection, universe: Universe) -> None:
    alpha = universe.orgs["alpha"]
    with app_conn.transaction():
        app_conn.execute("SELECT set_config('app.org_id', %s, true)", (str(alpha),))
        emails = {r[0] for r in app_conn.execute("SELECT email FROM users")}
    assert {"mgr@alpha.test", "sup@alpha.test", "coder@alpha.test", "analyst@alpha.test"} <= emails
    assert not any(e.endswith(("@beta.test", "@gamma.test")) for e in emails)


def test_a5_insert_for_other_org_is_refused(app_conn: psycopg.Connection, universe: Universe) -> None:
    alpha, beta = universe.orgs["alpha"], universe.orgs["beta"]
    with app_conn.transaction():
        app_conn.execute("SELECT set_config('app.org_id', %s, true)", (str(alpha),))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="new row violates row-level security policy"):
            app_conn.execute(
                "INSERT INTO users (id, org_id, email, name, role) VALUES (%s, %s, %s, 'Intruder', 'coder')",
                (uuid.uuid4(), beta, f"intruder-{uuid.uuid4().hex[:8]}@beta.test"),
            )


def test_a5_update_cannot_move_row_to_other_org(app_conn: psycopg.Connection, universe: Universe) -> None:
    alpha, beta = universe.orgs["alpha"], universe.orgs["beta"]
    with app_conn.transaction():
        app_conn.execute("SELECT set_config('app.org_id', %s, true)", (str(alpha),))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="new row violates row-level security policy"):
            app_conn.execute("UPDATE users SET org_id = %s WHERE email = 'analyst@alpha.test'", (beta,))


def test_a5_setting_does_not_leak_into_next_transaction(app_conn: psycopg.Connection, universe: Universe) -> None:
    alpha = universe.orgs["alpha"]
    with app_conn.transaction():
        app_conn.execute("SELECT set_config('app.org_id', %s, true)", (str(alpha),))
        inside = app_conn.execute("SELECT count(*) FROM users").fetchone()
    assert inside is not None
    assert inside[0] > 0
    with app_conn.transaction():
        setting = app_conn.execute("SELECT current_setting('app.org_id', true)").fetchone()
        after = app_conn.execute("SELECT count(*) FROM users").fetchone()
    assert setting is not None
    assert setting[0] in (None, "")
    assert after == (0,)


def test_a5_app_role_is_not_superuser_nor_bypassrls(app_conn: psycopg.Connection) -> None:
    row = app_conn.execute(
        "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = %s", (APP_ROLE,)
    ).fetchone()
    assert row == (False, False, False, False)


def test_a5_app_role_owns_no_table_and_no_function(superuser_url: str) -> None:
    with psycopg.connect(superuser_url) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE tableowner = %s", (APP_ROLE,)).fetchall()
        functions = conn.execute(
            "SELECT p.proname FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner WHERE r.rolname = %s", (APP_ROLE,)
        ).fetchall()
        relations = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = %s", (APP_ROLE,)
        ).fetchall()
    assert tables == []
    assert functions == []
    assert relations == []


def test_a5_every_org_table_forces_rls(superuser_url: str) -> None:
    with psycopg.connect(superuser_url) as conn:
        rows = conn.execute(
            """SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                      EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid) AS has_policy
                 FROM pg_class c
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped
                WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
                ORDER BY c.relname"""
        ).fetchall()
    assert {"users", "charts", "sessions", "audit_log"} <= {r[0] for r in rows}
    unprotected = [r for r in rows if not (r[1] and r[2] and r[3])]
    assert unprotected == []


def test_a5_organizations_table_also_forces_rls(superuser_url: str) -> None:
    with psycopg.connect(superuser_url) as conn:
        row = conn.execute(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = 'organizations' "
            "AND relnamespace = 'public'::regnamespace"
        ).fetchone()
    assert row == (True, True)


def test_a5_datalayer_list_for_org_returns_only_that_org(universe: Universe) -> None:
    alpha = universe.orgs["alpha"]
    with org_scope(alpha) as scope:
        listed = users.list_for_org(scope)
    assert listed
    assert {u.org_id for u in listed} == {alpha}
    assert universe.users["mgr@beta.test"] not in {u.id for u in listed}


def test_a5_other_tenant_object_is_not_found_like_a_missing_one(universe: Universe) -> None:
    alpha = universe.orgs["alpha"]
    beta_user = universe.users["coder@beta.test"]
    with org_scope(alpha) as scope, pytest.raises(NotFound) as foreign:
        users.get(scope, beta_user)
    with org_scope(alpha) as scope, pytest.raises(NotFound) as missing:
        users.get(scope, uuid.uuid4())
    assert str(foreign.value) == str(missing.value)
    assert foreign.value.message == missing.value.message
    # and the user really exists, seen from its own organisation
    with org_scope(universe.orgs["beta"]) as scope:
        assert users.get(scope, beta_user).id == beta_user
