"""What the audit chain vouches for, and checkpoints of it kept outside the database.

The chain (``audit``) proves its own rows. These checks carry the proof to the data:

- every submission, calibration move and override row must be the one an audit row
  vouches for: same evaluation, author and instant, and the payload whose hash the
  audit row holds. A score edited in ``submission.payload`` breaks here, naming the row.
- an anchor is a signed checkpoint of the chain (its head hash, its row count, when),
  written by `kpi audit anchor` for the operator to keep elsewhere. Someone who
  rewrites the database and recomputes every hash after their change (with the key,
  even) still cannot make row N hash to the head an old anchor recorded.

A problem is reported as ``Broken``: the audit row that vouches (when there is one) and
what does not match, naming the data row by table and id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from workflow.store.audit import canonical, key_for, payload_hash
from workflow.store.tables import AUDIT, AUDIT_HEAD, MOVE, OVERRIDE, SUBMISSION

_AUDIT, _HEAD, _SUBMISSION, _MOVE, _OVERRIDE = AUDIT, AUDIT_HEAD, SUBMISSION, MOVE, OVERRIDE

# The audit trigger of each kind of submission (transition.SUBMISSION_OF, by name: the
# store does not import the service).
SUBMISSION_TRIGGERS: Mapping[str, frozenset[str]] = {
    "self_assessment": frozenset({"submit_self_assessment"}),
    "peer_input": frozenset({"submit_peer_input"}),
    "supervisor_score": frozenset({"submit_score"}),
    "acceptance": frozenset({"accept_result"}),
    "appeal": frozenset({"lodge_appeal"}),
    "appeal_decision": frozenset({"uphold_score", "revise_score"}),
}
ANCHOR_FORMAT = "kpi-audit-anchor/1"


@dataclass(frozen=True)
class Broken:
    """A data row the chain does not vouch for."""

    seq: int | None  # the audit row that should vouch for it, when one is found
    problem: str


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


Voucher = tuple[int, str, str, str | None]  # seq, trigger, payload hash, reason
Vouchers = Mapping[tuple[int | None, str, str], list[Voucher]]


def _vouchers(session: Session, triggers: frozenset[str]) -> dict[tuple[int | None, str, str],
                                                                   list[Voucher]]:
    """The audit rows of ``triggers`` by (evaluation, actor, instant)."""
    out: dict[tuple[int | None, str, str], list[Voucher]] = {}
    stmt = (select(_AUDIT.c.seq, _AUDIT.c.evaluation_id, _AUDIT.c.actor_id, _AUDIT.c.at,
                   _AUDIT.c.trigger, _AUDIT.c.payload_hash, _AUDIT.c.reason)
            .where(_AUDIT.c.trigger.in_(sorted(triggers))).order_by(_AUDIT.c.seq))
    for r in session.execute(stmt):
        out.setdefault((r.evaluation_id, r.actor_id, _instant(r.at)), []).append(
            (r.seq, r.trigger, r.payload_hash, r.reason))
    return out


def _match(vouchers: Vouchers, key: tuple[int | None, str, str], triggers: frozenset[str],
           digest: str, what: str, reason: str | None = None) -> Broken | None:
    """None when an audit row of ``triggers`` at ``key`` holds ``digest`` (and, when
    given, ``reason``, for rows whose reason is part of the record: moves, overrides)."""
    candidates = [v for v in vouchers.get(key, []) if v[1] in triggers]
    if any(hmac.compare_digest(v[2], digest) and (reason is None or v[3] == reason)
           for v in candidates):
        return None
    if candidates:
        return Broken(candidates[0][0], f"{what} does not match audit row {candidates[0][0]} "
                                        "that vouches for it (it was changed after it was "
                                        "recorded)")
    return Broken(None, f"{what} has no audit row vouching for it (no {'/'.join(sorted(triggers))}"
                        f" by {key[1]} at {key[2]} on evaluation {key[0]})")


def verify_submissions(session: Session) -> Iterator[Broken]:
    """Each submission against the audit row of the change it was handed in with."""
    vouchers = _vouchers(session, frozenset().union(*SUBMISSION_TRIGGERS.values()))
    stmt = select(_SUBMISSION).order_by(_SUBMISSION.c.id)
    for r in session.execute(stmt):
        triggers = SUBMISSION_TRIGGERS.get(r.kind, frozenset())
        digest = payload_hash(r.payload)
        what = f"submission {r.id} ({r.kind} of evaluation {r.evaluation_id} by {r.author_id})"
        if not hmac.compare_digest(digest, r.payload_hash):
            yield Broken(None, f"{what}: its payload does not match its own payload_hash "
                               "(the payload was edited)")
            continue
        broken = _match(vouchers, (r.evaluation_id, r.author_id, _instant(r.submitted_at)),
                        triggers, digest, what)
        if broken is not None:
            yield broken


def verify_moves(session: Session) -> Iterator[Broken]:
    """Each calibration move against its ``move_class`` audit row."""
    # A move down, or the calibrator's undo of one (service.calibration_moves).
    triggers = frozenset({"move_class", "undo_move"})
    vouchers = _vouchers(session, triggers)
    for r in session.execute(select(_MOVE).order_by(_MOVE.c.id)):
        digest = payload_hash({"from_class": r.from_class, "to_class": r.to_class})
        broken = _match(vouchers, (r.evaluation_id, r.moved_by, _instant(r.moved_at)),
                        triggers, digest,
                        f"calibration move {r.id} (evaluation {r.evaluation_id}, "
                        f"{r.from_class} to {r.to_class})", reason=r.reason)
        if broken is not None:
            yield broken


def verify_overrides(session: Session) -> Iterator[Broken]:
    """Each recorded override fact against its ``record_override`` audit row."""
    vouchers = _vouchers(session, frozenset({"record_override"}))
    for r in session.execute(select(_OVERRIDE).order_by(_OVERRIDE.c.id)):
        digest = payload_hash({"override": r.override_id, "source_document": r.source_document})
        broken = _match(vouchers, (r.evaluation_id, r.recorded_by, _instant(r.recorded_at)),
                        frozenset({"record_override"}), digest,
                        f"override {r.id} ({r.override_id} on evaluation {r.evaluation_id})",
                        reason=r.source_document)
        if broken is not None:
            yield broken


def first_unvouched(session: Session) -> Broken | None:
    """The first submission, move or override row the chain does not vouch for."""
    for check in (verify_submissions, verify_moves, verify_overrides):
        for broken in check(session):
            return broken
    return None


# --- anchors ------------------------------------------------------------------------


def _signature(key: bytes, body: Mapping[str, Any]) -> str:
    return hmac.new(key, b"kpi-audit-anchor:" + canonical(dict(body)), hashlib.sha256).hexdigest()


def make_anchor(session: Session, now: datetime) -> dict[str, Any]:
    """A signed checkpoint of the chain as it is now: its head, its row count, the time.

    Needs the audit key (ValueError without one: an unsigned anchor proves nothing)."""
    key = key_for(session)
    if key is None:
        raise ValueError("an anchor is signed with the audit key: set KPI_AUDIT_KEY (or "
                         "KPI_SECRET_KEY) first")
    head = session.execute(select(_HEAD.c.last_seq, _HEAD.c.last_hash)).first()
    rows, last = (int(head.last_seq), str(head.last_hash)) if head else (0, "0" * 64)
    body = {"format": ANCHOR_FORMAT, "rows": rows, "head": last, "at": _instant(now)}
    return {**body, "signature": _signature(key, body)}


def anchor_text(anchor: Mapping[str, Any]) -> str:
    return json.dumps(dict(anchor), indent=2, sort_keys=True) + "\n"


def check_anchor(session: Session, anchor: Mapping[str, Any]) -> Broken | None:
    """Whether the chain still holds the checkpoint: signed by our key, and its row
    ``rows`` still hashes to ``head`` (rows appended since are fine)."""
    key = key_for(session)
    if key is None:
        return Broken(None, "the anchor cannot be checked without the audit key "
                            "(KPI_AUDIT_KEY or KPI_SECRET_KEY)")
    body = {k: anchor.get(k) for k in ("format", "rows", "head", "at")}
    if body["format"] != ANCHOR_FORMAT or not isinstance(body["rows"], int) \
            or not isinstance(body["head"], str):
        return Broken(None, f"not an anchor written by `kpi audit anchor` ({ANCHOR_FORMAT})")
    if not hmac.compare_digest(str(anchor.get("signature", "")), _signature(key, body)):
        return Broken(None, "the anchor's signature does not match: it was changed, or made "
                            "with another audit key")
    rows = body["rows"]
    if rows == 0:
        return None
    found = session.execute(select(_AUDIT.c.row_hash).where(_AUDIT.c.seq == rows)).scalar()
    if found is None:
        return Broken(rows, f"the anchor of {body['at']} vouches for {rows} rows, but row "
                            f"{rows} is gone (rows were removed)")
    if not hmac.compare_digest(str(found), str(body["head"])):
        return Broken(rows, f"row {rows} no longer hashes to the head the anchor of "
                            f"{body['at']} recorded: the chain up to it was rewritten")
    return None
