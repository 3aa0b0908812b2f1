"""D2-D5 / INV-12: the audit log is append-only, hash-chained, and tampering is detected.

- D2: the app role cannot UPDATE, DELETE or TRUNCATE ``audit_log`` (no privilege), nor switch the
  guarding triggers off (``DISABLE TRIGGER``, ``session_replication_role``, ``DROP TRIGGER``); even
  the superuser, who holds every privilege, is stopped by the row and statement triggers.
- D3: after real entries are written through ``audit.record``, a superuser who disables the
  triggers (``session_replication_role = replica``) and tampers — flips a byte, deletes a row,
  swaps two rows, consistently re-hashes a changed row, or cuts the newest rows — is caught by
  ``verify_chain``, which names the first broken seq (the cut is caught via the checkpoint).
  Every tamper is undone afterwards so the shared database stays clean for other tests.
- D4: golden vectors pin the canonical JSON and SHA-256 of fixed rows, so an accidental change
  to the canonical form (which would make every stored chain "broken") fails loudly.
- D5: concurrent appends to one chain serialise: seqs 1..N exactly once, chain intact.
- The scheduled ``audit-chain-verify`` job reports zero broken chains and writes the checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from app import bootstrap
from app.jobs import registry
from app.services import audit
from datalayer.scope import org_scope
from tests.conftest import SUPERUSER_ACTOR, make_org

COLUMNS = (
    "org_id, seq, created_at, actor_id, actor_role, action, object_type, object_id, outcome, "
    "source_ip, request_id, details, prev_hash, row_hash"
)


# --- helpers ----------------------------------------------------------------------------------


def _tamper(superuser_url: str, sql: str, params: tuple[Any, ...] = ()) -> None:
    """Run ``sql`` as superuser with triggers disabled (replica mode), committed."""
    with psycopg.connect(superuser_url) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(sql, params)
        conn.commit()


def _rows(superuser_url: str, org_id: uuid.UUID) -> list[dict[str, Any]]:
    with psycopg.connect(superuser_url, row_factory=dict_row) as conn:
        return conn.execute(
            f"SELECT id, {COLUMNS} FROM audit_log WHERE org_id = %s ORDER BY seq",  # noqa: S608 - fixed columns
            (org_id,),
        ).fetchall()


def _restore(superuser_url: str, org_id: uuid.UUID, snapshot: list[dict[str, Any]]) -> None:
    with psycopg.connect(superuser_url) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("DELETE FROM audit_log WHERE org_id = %s", (org_id,))
        for row in snapshot:
            values = {**row, "details": json.dumps(row["details"])}
            conn.execute(
                f"""INSERT INTO audit_log (id, {COLUMNS}) OVERRIDING SYSTEM VALUE VALUES
                    (%(id)s, %(org_id)s, %(seq)s, %(created_at)s, %(actor_id)s, %(actor_role)s, %(action)s,
                     %(object_type)s, %(object_id)s, %(outcome)s, %(source_ip)s, %(request_id)s,
                     %(details)s::jsonb, %(prev_hash)s, %(row_hash)s)""",  # noqa: S608
                values,
            )
        conn.commit()


def _verify(org_id: uuid.UUID, checkpoint: tuple[int, str] | None = None) -> audit.ChainReport:
    with org_scope(org_id) as scope:
        return audit.verify_chain(scope, org_id, checkpoint)


class Chain:
    def __init__(self, org_id: uuid.UUID, seqs: list[int], superuser_url: str) -> None:
        self.org_id = org_id
        self.seqs = seqs
        self.superuser_url = superuser_url

    def row(self, seq: int) -> dict[str, Any]:
        return next(r for r in _rows(self.superuser_url, self.org_id) if r["seq"] == seq)


@pytest.fixture
def chain(runtime: bootstrap.Runtime, superuser_url: str) -> Iterator[Chain]:
    """A fresh organisation with ~20 real entries; its rows are restored after the test."""
    org_id = make_org()
    seqs = []
    with org_scope(org_id) as scope:
        for i in range(20):
            seqs.append(
                audit.record(
                    scope,
                    action=f"test_action_{i:02d}",
                    actor=SUPERUSER_ACTOR,
                    object_type="chart",
                    object_id=uuid.uuid4(),
                    details={"i": i, "note": f"entrée {i}", "nested": {"k": [i, "ü"]}},
                )
            )
    assert _verify(org_id).ok
    snapshot = _rows(superuser_url, org_id)
    yield Chain(org_id, seqs, superuser_url)
    _restore(superuser_url, org_id, snapshot)
    assert _verify(org_id).ok


# --- D2: append-only ---------------------------------------------------------------------------


APP_ROLE_ATTEMPTS = {
    "update": "UPDATE audit_log SET action = 'x'",
    "delete": "DELETE FROM audit_log",
    "truncate": "TRUNCATE audit_log",
    "disable_trigger": "ALTER TABLE audit_log DISABLE TRIGGER ALL",
    "replication_role": "SET session_replication_role = replica",
    "drop_trigger": "DROP TRIGGER audit_log_no_update_delete ON audit_log",
    "drop_truncate_trigger": "DROP TRIGGER audit_log_no_truncate ON audit_log",
    "drop_table": "DROP TABLE audit_log",
}


@pytest.mark.parametrize("statement", APP_ROLE_ATTEMPTS.values(), ids=APP_ROLE_ATTEMPTS.keys())
def test_d2_app_role_cannot_change_audit_log(runtime: bootstrap.Runtime, chain: Chain, statement: str) -> None:
    with psycopg.connect(runtime.services.app_url) as conn:
        conn.execute("SELECT set_config('app.org_id', %s, false)", (str(chain.org_id),))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)
        conn.rollback()
    assert _verify(chain.org_id).ok
    assert len(_rows(chain.superuser_url, chain.org_id)) >= 20


@pytest.mark.parametrize(
    ("statement", "op"),
    [
        ("UPDATE audit_log SET action = 'rewritten' WHERE org_id = %s", "UPDATE"),
        ("DELETE FROM audit_log WHERE org_id = %s", "DELETE"),
    ],
)
def test_d2_superuser_update_delete_refused_by_row_trigger(chain: Chain, statement: str, op: str) -> None:
    with psycopg.connect(chain.superuser_url) as conn:
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (True,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=f"audit_log is append-only: {op} refused"):
            conn.execute(statement, (chain.org_id,))
        conn.rollback()
    assert _verify(chain.org_id).ok


def test_d2_superuser_truncate_refused_by_statement_trigger(chain: Chain) -> None:
    with psycopg.connect(chain.superuser_url) as conn:
        try:
            with pytest.raises(
                psycopg.errors.InsufficientPrivilege, match="audit_log is append-only: TRUNCATE refused"
            ):
                conn.execute("TRUNCATE audit_log")
        finally:
            conn.rollback()  # never commit, whatever happened
    assert len(_rows(chain.superuser_url, chain.org_id)) >= 20


# --- D3: tampering is detected -----------------------------------------------------------------


def test_d3_clean_chain_verifies(chain: Chain) -> None:
    report = _verify(chain.org_id)
    assert report.ok
    assert report.first_broken_seq is None
    assert report.head_seq == chain.seqs[-1]
    assert report.rows == chain.seqs[-1]


def _flip(text: str, pos: int) -> str:
    pos %= len(text)
    ch = text[pos]
    flipped = chr(ord(ch) ^ 0x01)
    return text[:pos] + flipped + text[pos + 1 :]


def test_d3_byte_flip_in_action_detected_at_that_seq(chain: Chain) -> None:
    seq = chain.seqs[9]
    original = chain.row(seq)["action"]
    _tamper(
        chain.superuser_url,
        "UPDATE audit_log SET action = %s WHERE org_id = %s AND seq = %s",
        (_flip(original, 3), chain.org_id, seq),
    )
    report = _verify(chain.org_id)
    assert not report.ok
    assert report.first_broken_seq == seq
    assert "altered" in (report.problem or "")


def test_d3_byte_flip_in_details_detected_at_that_seq(chain: Chain) -> None:
    seq = chain.seqs[12]
    details = chain.row(seq)["details"]
    details["note"] = _flip(details["note"], 0)
    _tamper(
        chain.superuser_url,
        "UPDATE audit_log SET details = %s::jsonb WHERE org_id = %s AND seq = %s",
        (json.dumps(details), chain.org_id, seq),
    )
    report = _verify(chain.org_id)
    assert report.first_broken_seq == seq


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    index=st.integers(min_value=1, max_value=18),
    pos=st.integers(min_value=0, max_value=200),
    field=st.sampled_from(["action", "object_id", "actor_role", "outcome"]),
)
def test_d3_property_any_byte_flip_is_detected_at_its_seq(chain: Chain, index: int, pos: int, field: str) -> None:
    seq = chain.seqs[index]
    original = chain.row(seq)
    value = original[field]
    # outcome's CHECK allows only two values, so it is swapped rather than flipped
    swapped = "failure" if value == "success" else "success"
    tampered = swapped if field == "outcome" else _flip(value, pos)
    try:
        _tamper(
            chain.superuser_url,
            f"UPDATE audit_log SET {field} = %s WHERE org_id = %s AND seq = %s",  # noqa: S608
            (tampered, chain.org_id, seq),
        )
        report = _verify(chain.org_id)
        assert report.first_broken_seq == seq
    finally:
        _tamper(
            chain.superuser_url,
            f"UPDATE audit_log SET {field} = %s WHERE org_id = %s AND seq = %s",  # noqa: S608
            (value, chain.org_id, seq),
        )
    assert _verify(chain.org_id).ok


def test_d3_deleted_middle_row_reported_missing(chain: Chain) -> None:
    seq = chain.seqs[7]
    _tamper(chain.superuser_url, "DELETE FROM audit_log WHERE org_id = %s AND seq = %s", (chain.org_id, seq))
    report = _verify(chain.org_id)
    assert report.first_broken_seq == seq
    assert "missing" in (report.problem or "")


def test_d3_swapped_rows_detected_at_the_first(chain: Chain) -> None:
    a, b = chain.seqs[5], chain.seqs[6]
    action_a, action_b = chain.row(a)["action"], chain.row(b)["action"]
    assert action_a != action_b
    with psycopg.connect(chain.superuser_url) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("UPDATE audit_log SET action = %s WHERE org_id = %s AND seq = %s", (action_b, chain.org_id, a))
        conn.execute("UPDATE audit_log SET action = %s WHERE org_id = %s AND seq = %s", (action_a, chain.org_id, b))
        conn.commit()
    report = _verify(chain.org_id)
    assert report.first_broken_seq == a


def test_d3_consistently_rehashed_row_detected_at_next_row(chain: Chain) -> None:
    seq = chain.seqs[10]
    row = chain.row(seq)
    row["details"] = {**row["details"], "note": "nothing happened here"}
    new_hash = audit.row_hash(row)
    assert new_hash != row["row_hash"]
    _tamper(
        chain.superuser_url,
        "UPDATE audit_log SET details = %s::jsonb, row_hash = %s WHERE org_id = %s AND seq = %s",
        (json.dumps(row["details"]), new_hash, chain.org_id, seq),
    )
    report = _verify(chain.org_id)
    assert report.first_broken_seq == seq + 1
    assert "does not link" in (report.problem or "")


def test_d3_truncated_tail_needs_the_checkpoint(chain: Chain) -> None:
    head = chain.row(chain.seqs[-1])
    checkpoint = (int(head["seq"]), str(head["row_hash"]))
    assert _verify(chain.org_id, checkpoint).ok
    _tamper(
        chain.superuser_url, "DELETE FROM audit_log WHERE org_id = %s AND seq > %s", (chain.org_id, chain.seqs[-1] - 3)
    )
    alone = _verify(chain.org_id)
    assert alone.ok, "a cut tail is invisible to the chain itself"
    assert alone.head_seq == chain.seqs[-1] - 3
    with_checkpoint = _verify(chain.org_id, checkpoint)
    assert not with_checkpoint.ok
    assert "removed" in (with_checkpoint.problem or "")
    assert with_checkpoint.first_broken_seq == chain.seqs[-1] - 2


def test_d3_checkpoint_mismatch_detected(chain: Chain) -> None:
    head = chain.row(chain.seqs[-1])
    report = _verify(chain.org_id, (int(head["seq"]), "f" * 64))
    assert report.first_broken_seq == head["seq"]


# --- D4: golden vectors ------------------------------------------------------------------------

GOLDEN_ROW_1: dict[str, Any] = {
    "seq": 1,
    "org_id": uuid.UUID("11111111-2222-4333-8444-555555555555"),
    "created_at": datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
    "actor_id": uuid.UUID("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"),
    "actor_role": "manager",
    "action": "user_created",
    "object_type": "user",
    "object_id": "99999999-8888-4777-8666-555555555555",
    "outcome": "success",
    "source_ip": "203.0.113.7",
    "request_id": "req-1",
    "details": {"zeta": [1, 2, {"b": True, "a": None}], "name": "Zoë Ångström — 医院", "alpha": {"y": 2, "x": 1}},
    "prev_hash": "0" * 64,
}
GOLDEN_JSON_1 = (
    '{"action":"user_created","actor_id":"aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee","actor_role":"manager",'
    '"created_at":"2026-01-02T03:04:05.123456Z","details":{"alpha":{"x":1,"y":2},"name":"Zoë Ångström — 医院",'
    '"zeta":[1,2,{"a":null,"b":true}]},"object_id":"99999999-8888-4777-8666-555555555555","object_type":"user",'
    '"org_id":"11111111-2222-4333-8444-555555555555","outcome":"success",'
    '"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","request_id":"req-1",'
    '"seq":1,"source_ip":"203.0.113.7"}'
).encode()
GOLDEN_HASH_1 = "8e8cbdb68016cb5d6ea4d8145e963e5e26565b7cb9cbd7067ba379c72d4bbef5"

# Platform chain row: NULL org, a non-UTC timestamp (must be normalised to UTC), empty details.
GOLDEN_ROW_2: dict[str, Any] = {
    "seq": 2,
    "org_id": None,
    "created_at": datetime(2026, 1, 2, 4, 4, 5, 123456, tzinfo=timezone(timedelta(hours=1))),
    "actor_id": None,
    "actor_role": None,
    "action": "authn_login_fail",
    "object_type": None,
    "object_id": None,
    "outcome": "failure",
    "source_ip": None,
    "request_id": None,
    "details": {},
    "prev_hash": GOLDEN_HASH_1,
}
GOLDEN_JSON_2 = (
    b'{"action":"authn_login_fail","actor_id":null,"actor_role":null,"created_at":"2026-01-02T03:04:05.123456Z",'
    b'"details":{},"object_id":null,"object_type":null,"org_id":null,"outcome":"failure",'
    b'"prev_hash":"8e8cbdb68016cb5d6ea4d8145e963e5e26565b7cb9cbd7067ba379c72d4bbef5","request_id":null,'
    b'"seq":2,"source_ip":null}'
)
GOLDEN_HASH_2 = "695e7bb45ae2188414229bd87ce9ae30fac54288c0d169b47af9ca59c97a10c8"


@pytest.mark.parametrize(
    ("row", "expected_json", "expected_hash"),
    [
        (GOLDEN_ROW_1, GOLDEN_JSON_1, GOLDEN_HASH_1),
        (GOLDEN_ROW_2, GOLDEN_JSON_2, GOLDEN_HASH_2),
    ],
    ids=["org_row", "platform_row"],
)
def test_d4_golden_vectors(row: dict[str, Any], expected_json: bytes, expected_hash: str) -> None:
    canonical = audit.canonical_json(row)
    assert canonical == expected_json
    assert audit.row_hash(row) == expected_hash
    # the documented formula, independently: sha256(prev_hash || canonical_json)
    assert hashlib.sha256(row["prev_hash"].encode("ascii") + expected_json).hexdigest() == expected_hash


def test_d4_canonical_form_properties() -> None:
    canonical = audit.canonical_json(GOLDEN_ROW_1)
    assert b" " not in canonical.replace("Zoë Ångström — 医院".encode(), b"")  # no whitespace separators
    assert b"\\u" not in canonical  # UTF-8, not \u escapes
    assert "医院".encode() in canonical
    decoded = json.loads(canonical)
    assert list(decoded) == sorted(decoded)
    assert list(decoded["details"]) == sorted(decoded["details"])
    assert decoded["created_at"] == "2026-01-02T03:04:05.123456Z"
    assert "row_hash" not in decoded
    # key order of the input does not matter
    shuffled = dict(reversed(list(GOLDEN_ROW_1.items())))
    assert audit.canonical_json(shuffled) == canonical


# --- D5: concurrent appends --------------------------------------------------------------------


@pytest.mark.slow
def test_d5_concurrent_appends_serialise(runtime: bootstrap.Runtime, superuser_url: str) -> None:
    org_id = make_org()
    start_seq = _verify(org_id).head_seq
    errors: list[BaseException] = []
    barrier = threading.Barrier(20)

    def worker(n: int) -> None:
        try:
            barrier.wait(10)
            for i in range(5):
                with org_scope(org_id) as scope:
                    audit.record(scope, action="concurrent_append", actor=SUPERUSER_ACTOR, details={"t": n, "i": i})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    report = _verify(org_id)
    assert report.ok, report.problem
    seqs = [r["seq"] for r in _rows(superuser_url, org_id)]
    assert seqs == list(range(1, start_seq + 101))
    appended = [r for r in _rows(superuser_url, org_id) if r["action"] == "concurrent_append"]
    assert len(appended) == 100
    assert len({(r["details"]["t"], r["details"]["i"]) for r in appended}) == 100


# --- the scheduled job -------------------------------------------------------------------------


def test_verify_job_clean_database_and_checkpoint(runtime: bootstrap.Runtime) -> None:
    org_id = make_org()
    with org_scope(org_id) as scope:
        audit.record(scope, action="job_probe", actor=SUPERUSER_ACTOR)
    result = registry.verify_audit_chains(runtime.ctx)
    assert result["broken"] == 0, result
    assert result["chains"] >= 2
    assert result["rows"] >= 2
    store = registry.checkpoint_store(runtime.ctx)
    assert store.path.exists()
    head = _verify(org_id)
    assert store.get(org_id) == (head.head_seq, head.head_hash)
