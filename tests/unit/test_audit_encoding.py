"""The audit row's hashed bytes, written field by field (``audit.hashed_bytes``), are
exactly the canonical JSON the chain has always hashed: `kpi audit verify` recomputes
every existing row's hash from them, so one differing byte would break old chains."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from workflow.store import audit

HOSTILE_TEXTS = [
    'Nguyễn "Văn" <b>An</b>', "tab\there, newline\nthere, NUL-free \\ backslash",
    "\u2028 line separator \u2029", "emoji \U0001f600 and \x7f", "", "'single' & \"double\"",
]


def row(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "seq": 89995, "evaluation_id": 7, "cycle_id": "2026-Q1 <b>", "actor_id": "S1",
        "role": "reviewee", "at": datetime(2026, 5, 5, 9, 0, 0, 123456, tzinfo=UTC),
        "from_state": "self_assessment", "to_state": "peer_input",
        "trigger": "submit_self_assessment", "reason": None, "payload_hash": "a" * 64,
    }
    return {**base, **changes}


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_hostile_text_in_every_text_field_is_encoded_as_canonical_json(text: str) -> None:
    for name in ("cycle_id", "actor_id", "role", "from_state", "to_state", "trigger",
                 "reason", "payload_hash"):
        r = row(**{name: text})
        assert audit.hashed_bytes(r) == audit.canonical(audit._hashed_fields(r)), name


@pytest.mark.parametrize("changes", [
    {"evaluation_id": None, "cycle_id": None, "from_state": None, "to_state": None},
    {"seq": 1, "evaluation_id": 0},
    {"seq": 10 ** 18},
    {"at": datetime(2026, 5, 5, 16, 0, tzinfo=timezone(timedelta(hours=7)))},
    {"evaluation_id": True},  # not an int to JSON: the general encoder decides
    {"evaluation_id": Decimal("89.995")},
])
def test_other_values_are_encoded_as_canonical_json(changes: dict[str, Any]) -> None:
    r = row(**changes)
    assert audit.hashed_bytes(r) == audit.canonical(audit._hashed_fields(r))


def test_the_row_hash_is_the_hmac_of_the_previous_hash_and_the_canonical_fields() -> None:
    import hashlib
    import hmac

    r = row(reason='moved "up" <b>')
    key = b"k" * 32
    message = ("f" * 64).encode("ascii") + audit.canonical(audit._hashed_fields(r))
    assert audit.row_hash("f" * 64, r, key) == hmac.new(key, message, hashlib.sha256).hexdigest()
    assert audit.row_hash("f" * 64, r) == hashlib.sha256(message).hexdigest()
