"""The audit log: one writer used by every state-changing action, and the chain verifier.

Every entry is appended in the caller's transaction, so the action and its audit row commit or
roll back together (D6: a failed audit write fails the action). Each organisation has its own
chain, serialised by a transaction-scoped advisory lock:

    row_hash = sha256( prev_hash || canonical_json(row without row_hash) )

``canonical_json`` is JSON with sorted keys, no whitespace, UTF-8, timestamps as ISO-8601 UTC
with microseconds, UUIDs as lower-case strings (golden vectors in tests/test_audit_chain.py).
The first row's ``prev_hash`` is 64 zeros. A chain-head checkpoint (org, seq, row_hash) is kept
outside the table in ``$SMARTCODERS_HOME/audit-checkpoints.json`` so that deleting the newest
rows — invisible to the chain itself — is detected.

Action names follow the OWASP logging vocabulary (authn_login_success, authn_login_fail, …).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from app.logs import current_context
from datalayer.queries import audit_log
from datalayer.scope import Scope

GENESIS_HASH = audit_log.GENESIS_HASH
HASHED_FIELDS = (
    "seq",
    "org_id",
    "created_at",
    "actor_id",
    "actor_role",
    "action",
    "object_type",
    "object_id",
    "outcome",
    "source_ip",
    "request_id",
    "details",
    "prev_hash",
)


def _canonical_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _canonical_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical_value(v) for v in value]
    return value


def canonical_json(row: dict[str, Any]) -> bytes:
    data = {name: _canonical_value(row.get(name)) for name in HASHED_FIELDS}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def row_hash(row: dict[str, Any]) -> str:
    return hashlib.sha256(str(row["prev_hash"]).encode("ascii") + canonical_json(row)).hexdigest()


@dataclass(frozen=True)
class Actor:
    user_id: UUID | None
    role: str | None
    source_ip: str | None = None


def record(
    scope: Scope,
    *,
    action: str,
    actor: Actor | None,
    outcome: str = "success",
    object_type: str | None = None,
    object_id: UUID | str | None = None,
    details: dict[str, Any] | None = None,
    org_id: UUID | None = None,
) -> int:
    """Append one entry to the chain of ``org_id`` (default: the scope's organisation) and return its seq.

    ``details`` must hold identifiers and facts, never PHI, passwords or tokens.
    """
    chain = org_id if org_id is not None else scope.org_id
    audit_log.lock_chain(scope, chain)
    last_seq, prev, now = audit_log.head(scope, chain)
    entry: dict[str, Any] = {
        "seq": last_seq + 1,
        "org_id": chain,
        "created_at": now.astimezone(UTC),
        "actor_id": actor.user_id if actor else None,
        "actor_role": actor.role if actor else None,
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id) if object_id is not None else None,
        "outcome": outcome,
        "source_ip": actor.source_ip if actor else None,
        "request_id": current_context().get("request_id"),
        "details": details or {},
        "prev_hash": prev,
    }
    entry["row_hash"] = row_hash(entry)
    audit_log.insert(scope, {**entry, "details": json.dumps(_canonical_value(entry["details"]))})
    return int(entry["seq"])


@dataclass(frozen=True)
class ChainReport:
    org_id: UUID | None
    rows: int
    head_seq: int
    head_hash: str
    first_broken_seq: int | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_rows(
    org_id: UUID | None, rows: Iterable[dict[str, Any]], checkpoint: tuple[int, str] | None = None
) -> ChainReport:
    """Recompute the chain; report the first row that does not fit, or a checkpoint mismatch."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    seen_checkpoint = False
    for row in rows:
        count += 1
        seq = int(row["seq"])
        if seq != expected_seq:
            return ChainReport(org_id, count, seq, "", expected_seq, f"row {expected_seq} is missing (found {seq})")
        if row["prev_hash"] != expected_prev:
            return ChainReport(org_id, count, seq, "", seq, f"row {seq} does not link to row {seq - 1}")
        if row_hash(row) != row["row_hash"]:
            return ChainReport(org_id, count, seq, "", seq, f"row {seq} was altered (hash mismatch)")
        if checkpoint and seq == checkpoint[0]:
            seen_checkpoint = True
            if row["row_hash"] != checkpoint[1]:
                return ChainReport(org_id, count, seq, "", seq, f"row {seq} differs from the checkpoint")
        expected_prev = row["row_hash"]
        expected_seq = seq + 1
    head_seq = expected_seq - 1
    if checkpoint and not seen_checkpoint and checkpoint[0] > head_seq:
        return ChainReport(
            org_id,
            count,
            head_seq,
            expected_prev,
            head_seq + 1,
            f"chain ends at row {head_seq} but the checkpoint recorded row {checkpoint[0]}: rows were removed",
        )
    return ChainReport(org_id, count, head_seq, expected_prev, None, None)


def verify_chain(scope: Scope, org_id: UUID | None, checkpoint: tuple[int, str] | None = None) -> ChainReport:
    return verify_rows(org_id, audit_log.iter_chain(scope, org_id), checkpoint)


class CheckpointStore:
    """Chain heads kept outside the database (a JSON file written atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, tuple[int, str]]:
        if not self.path.exists():
            return {}
        raw = json.loads(self.path.read_text())
        return {k: (int(v["seq"]), str(v["row_hash"])) for k, v in raw.items()}

    def get(self, org_id: UUID | None) -> tuple[int, str] | None:
        return self.load().get(_key(org_id))

    def save(self, reports: Iterable[ChainReport]) -> None:
        data = {k: {"seq": s, "row_hash": h} for k, (s, h) in self.load().items()}
        for report in reports:
            if report.ok and report.head_seq > 0:
                data[_key(report.org_id)] = {
                    "seq": report.head_seq,
                    "row_hash": report.head_hash,
                    "at": datetime.now(UTC).isoformat(),
                }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(self.path)


def _key(org_id: UUID | None) -> str:
    return str(org_id) if org_id else "platform"
