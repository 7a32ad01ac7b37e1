"""Reading the score stamp that scoring writes on every evaluation.

The stamp's format belongs to scoring (issue 3 may refine it); ``read_stamp`` is the
only place the reports depend on it, so a change there is a change here alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any


@dataclass(frozen=True)
class BreakdownLine:
    """The points one criterion got (None: nobody could give it, renormalised away)."""

    criterion: str
    label_en: str
    label_vi: str
    points: Decimal | None
    max: Decimal | None


@dataclass(frozen=True)
class StampView:
    regime: str
    framework: str
    forced_by: tuple[str, ...]
    breakdown: tuple[BreakdownLine, ...]


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def read_stamp(stamp: Mapping[str, Any] | None) -> StampView:
    """The rules, the overrides and the per-criterion breakdown of a stored score stamp."""
    stamp = stamp or {}
    lines = []
    for item in stamp.get("breakdown") or []:
        label = item.get("label") or {}
        if isinstance(label, str):
            label = {"en": label, "vi": label}
        criterion = str(item.get("criterion") or item.get("key") or "")
        lines.append(BreakdownLine(
            criterion=criterion,
            label_en=str(label.get("en") or criterion),
            label_vi=str(label.get("vi") or label.get("en") or criterion),
            points=_decimal(item.get("points")),
            max=_decimal(item.get("max"))))
    regime = f"{stamp.get('regime_id', '')} v{stamp.get('regime_version', '')}".strip()
    framework = f"{stamp.get('framework_id', '')} v{stamp.get('framework_version', '')}".strip()
    return StampView(regime if stamp.get("regime_id") else "",
                     framework if stamp.get("framework_id") else "",
                     tuple(str(f) for f in stamp.get("forced_by") or ()), tuple(lines))
