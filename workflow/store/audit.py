"""The audit log: append-only rows, each hash-chained to the one before.

A row's hash covers its own fields, the hash of its payload and the previous row's
hash, so changing, removing or reordering any row breaks every hash after it. The hash
is keyed (HMAC-SHA256 with the audit key, ``chain_key``), and the key is never in the
database: someone who can write to the database can change a row, but cannot
recompute the hashes after it. Without a key (no ``KPI_AUDIT_KEY`` nor
``KPI_SECRET_KEY``) the chain is plain SHA-256, and ``verify`` says it is not keyed.
``audit_head`` holds the end of the chain: appending locks it (``FOR UPDATE`` on
PostgreSQL, the write lock on SQLite), which keeps the chain linear when several
workers write at once, and lets ``verify`` notice rows cut off the end. On SQLite a
trigger of the schema moves it with each inserted row; on PostgreSQL the append
moves it in the same statement or the one after.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlmodel import Session

from workflow.errors import StoreError
from workflow.progress import SILENT, Progress, counted
from workflow.store import bulk
from workflow.store.tables import AUDIT as _AUDIT
from workflow.store.tables import AUDIT_HEAD as _HEAD

GENESIS_HASH = "0" * 64
# How ``json.dumps(..., ensure_ascii=False)`` writes a string (the C encoder where
# there is one), for ``hashed_bytes``.
_encode_string = json.encoder.encode_basestring


def canonical(value: Any) -> bytes:
    """A stable byte form of JSON-like data: sorted keys, no spaces, Decimals as text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode("utf-8")


def payload_hash(payload: Any) -> str:
    if payload is None:  # most rows of a sweep: no payload
        return _NO_PAYLOAD_HASH
    return hashlib.sha256(canonical(payload)).hexdigest()


_NO_PAYLOAD_HASH = hashlib.sha256(canonical(None)).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    """What happened, before it gets its place in the chain."""

    actor_id: str
    role: str
    at: datetime
    trigger: str
    evaluation_id: int | None = None
    cycle_id: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    reason: str | None = None
    payload: Any = None
    # ``payload_hash(payload)`` when the caller has it already (a step hashes its
    # submission's payload for the submission row): canonical JSON once, not twice.
    payload_digest: str | None = None


def _hashed_fields(row: dict[str, Any]) -> dict[str, Any]:
    at: datetime = row["at"]
    return {
        "seq": row["seq"],
        "evaluation_id": row["evaluation_id"],
        "cycle_id": row["cycle_id"],
        "actor_id": row["actor_id"],
        "role": row["role"],
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "from_state": row["from_state"],
        "to_state": row["to_state"],
        "trigger": row["trigger"],
        "reason": row["reason"],
        "payload_hash": row["payload_hash"],
    }


# The hashed fields in canonical (sorted) order, each with its JSON key written out.
_HASHED_ORDER = tuple(sorted(("seq", "evaluation_id", "cycle_id", "actor_id", "role", "at",
                              "from_state", "to_state", "trigger", "reason", "payload_hash")))
_HASHED_KEYS = tuple(("{" if i == 0 else ",") + f'"{name}":'
                     for i, name in enumerate(_HASHED_ORDER))


def hashed_bytes(row: dict[str, Any]) -> bytes:
    """``canonical(_hashed_fields(row))``, written field by field: the same bytes
    (tests/unit/test_audit_encoding.py holds them equal), without the general encoder's
    walk over a dict (a step hashes one row; the sweep and opening thousands)."""
    fields = _hashed_fields(row)
    parts: list[str] = []
    for prefix, name in zip(_HASHED_KEYS, _HASHED_ORDER, strict=True):
        value = fields[name]
        kind = type(value)
        if kind is str:
            parts.append(prefix + _encode_string(value))
        elif kind is int:
            parts.append(prefix + int.__repr__(value))
        elif value is None:
            parts.append(prefix + "null")
        else:  # anything else (a bool, a Decimal...): the general encoder decides
            return canonical(fields)
    parts.append("}")
    return "".join(parts).encode("utf-8")


def row_hash(prev_hash: str, row: dict[str, Any], key: bytes | None = None) -> str:
    """The row's link in the chain: HMAC-SHA256 with ``key``, plain SHA-256 without one."""
    message = prev_hash.encode("ascii") + hashed_bytes(row)
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def ensure_head(session: Session) -> None:
    """Create the chain's head row if the database is new."""
    if session.execute(select(_HEAD.c.id)).first() is None:
        session.execute(insert(_HEAD).values(id=1, last_seq=0, last_hash=GENESIS_HASH))


def append(session: Session, entries: Sequence[AuditEntry], chunk: int = 5000) -> list[int]:
    """Append ``entries`` to the chain in this transaction; returns their sequence numbers.

    Call it last in a transaction: it locks the head until commit.
    """
    if not entries:
        return []
    seq, prev = _head(session)
    key = key_for(session)
    rows: list[dict[str, Any]] = []
    seqs: list[int] = []
    for entry in entries:
        seq += 1
        row = {
            "seq": seq,
            "evaluation_id": entry.evaluation_id,
            "cycle_id": entry.cycle_id,
            "actor_id": entry.actor_id,
            "role": entry.role,
            "at": entry.at,
            "from_state": entry.from_state,
            "to_state": entry.to_state,
            "trigger": entry.trigger,
            "reason": entry.reason,
            "payload_hash": entry.payload_digest or payload_hash(entry.payload),
            "prev_hash": prev,
        }
        prev = row["row_hash"] = row_hash(prev, row, key)
        rows.append(row)
        seqs.append(seq)
    # ``entries`` are in memory already; the rows go in chunks of ``chunk``.
    if len(rows) == 1 and bulk.dialect_name(session) == "postgresql":
        # A step's one row and the head's move in one round trip.
        bulk.insert_one_with(session, _AUDIT, rows[0], "WITH head AS (UPDATE audithead SET "
                             "last_seq = %s, last_hash = %s WHERE id = 1)", (seq, prev))
    else:
        bulk.insert_rows(session, _AUDIT, rows, chunk)
        # SQLite: the schema's trigger (auditevent_moves_head, migration 0001) has moved
        # the head with each row inserted.
        if bulk.dialect_name(session) == "postgresql":
            bulk.run(session, "UPDATE audithead SET last_seq = %s, last_hash = %s "
                     "WHERE id = 1", (seq, prev))
    # This transaction holds the head until it commits: what it wrote is the head.
    bulk.transaction_cache(session)[HEAD_KEY] = (seq, prev)
    return seqs


# Where a transaction keeps the chain's head once it holds it (bulk.transaction_cache).
HEAD_KEY = "kpi_audit_head"


def _head(session: Session) -> tuple[int, str]:
    """The chain's head, locked until commit; read once per transaction.

    On PostgreSQL ``FOR UPDATE``, read here, last in the transaction (see
    ``transition.write``). On SQLite the transaction holds the one write lock from
    its ``BEGIN IMMEDIATE``, so the snapshot's statement may already have read the
    head (``service.core.load_snapshots``) and left it in the transaction's cache.
    """
    cache = bulk.transaction_cache(session)
    held: tuple[int, str] | None = cache.get(HEAD_KEY)
    if held is not None:
        return held
    pg = bulk.dialect_name(session) == "postgresql"
    rows = bulk.query(session, "SELECT last_seq, last_hash FROM audithead WHERE id = 1"
                      + (" FOR UPDATE" if pg else ""), ())
    if not rows:
        raise StoreError("the audit chain has no head row; run `kpi init`")
    head = cache[HEAD_KEY] = (int(rows[0][0]), str(rows[0][1]))
    return head


@dataclass(frozen=True)
class VerifyResult:
    rows: int
    ok: bool
    first_broken_seq: int | None = None
    problem: str | None = None
    keyed: bool = True  # False: plain SHA-256, recomputable by anyone who can write rows


def verify(session: Session, batch: int = 10_000, progress: Progress = SILENT) -> VerifyResult:
    """Walk the whole chain; report the first row that does not follow from the one before.
    ``progress`` hears of the rows walked, ``batch`` at a time."""
    head = session.execute(select(_HEAD.c.last_seq)).scalar()
    progress.start("audit rows", int(head or 0))
    result = _verify_chain(session, batch, key_for(session), progress)
    progress.done()
    return VerifyResult(result.rows, result.ok, result.first_broken_seq, result.problem,
                        keyed=key_for(session) is not None)


def _verify_chain(session: Session, batch: int, key: bytes | None,
                  progress: Progress = SILENT) -> VerifyResult:
    expected_seq, prev = 1, GENESIS_HASH
    count = 0
    stmt = select(_AUDIT).order_by(_AUDIT.c.seq).execution_options(yield_per=batch)
    # Closed even when a broken row ends the walk early: on PostgreSQL ``yield_per``
    # is a server-side cursor, which must not be left open.
    with session.execute(stmt) as rows:
        for row in counted(rows, progress, batch):
            mapping = dict(row._mapping)
            seq = mapping["seq"]
            if seq != expected_seq:
                return VerifyResult(count, False, expected_seq,
                                    f"row {expected_seq} is missing (next row is {seq})")
            if mapping["prev_hash"] != prev:
                return VerifyResult(count, False, seq,
                                    "its prev_hash is not the previous row's hash")
            if not hmac.compare_digest(row_hash(prev, mapping, key), mapping["row_hash"]):
                return VerifyResult(count, False, seq, (
                    "its content does not match its hash (the row was changed, or its hash "
                    "was recomputed without the audit key)"))
            prev = mapping["row_hash"]
            expected_seq += 1
            count += 1
    head = session.execute(select(_HEAD.c.last_seq, _HEAD.c.last_hash)).first()
    if head is not None and (head.last_seq != count or head.last_hash != prev):
        return VerifyResult(count, False, count + 1,
                            f"the chain ends at row {count} but its head says row {head.last_seq}"
                            " (rows were removed from the end)")
    return VerifyResult(count, True)



# --- the chain's key ----------------------------------------------------------------
# The key lives in the settings (KPI_AUDIT_KEY, or derived from KPI_SECRET_KEY), never
# in the database. ``Service`` registers it for its database URL, so that ``append``
# and ``verify`` find it from the session they are given, whatever engine (reader or
# writer) the session is bound to.

_KEYS: dict[str, bytes | None] = {}


def chain_key(audit_key: str, secret_key: str) -> bytes | None:
    """The HMAC key of the chain: KPI_AUDIT_KEY, else one derived from the secret key
    (its own purpose, so the session signatures never share a key); None without either."""
    if audit_key:
        return hashlib.sha256(b"kpi-audit-key:" + audit_key.encode("utf-8")).digest()
    if secret_key:
        return hmac.new(secret_key.encode("utf-8"), b"kpi-audit-chain", hashlib.sha256).digest()
    return None


# The key of each engine met, so that a step does not render its URL again (about
# 10 us of every append); emptied whenever a key is registered. Weak: it keeps no
# engine (nor its pool's connections) alive.
_ENGINE_KEYS: weakref.WeakKeyDictionary[Engine, bytes | None] = weakref.WeakKeyDictionary()


def use_key(database_url: str, key: bytes | None) -> None:
    """Sign the chain of the database at ``database_url`` with ``key`` in this process."""
    _KEYS[database_url] = key
    _ENGINE_KEYS.clear()


def key_for(session: Session) -> bytes | None:
    """The chain key registered for the database this session talks to."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    try:
        return _ENGINE_KEYS[engine]
    except KeyError:
        pass
    key = _ENGINE_KEYS[engine] = _KEYS.get(engine.url.render_as_string(hide_password=False))
    return key
