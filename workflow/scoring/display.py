"""How scores are shown: the regime's display rule, applied once for every surface. Pure.

A score is decided on its exact value (``workflow.scoring.compute``) and shown rounded
by the regime's ``display`` rule (``ScoreDisplay``: places, rounding, what happens
next to a class threshold). Every surface (pages, emails, `kpi score explain`, CSV,
XLSX, the HTML report, the personnel record, the CLI) asks this module for the
figures it shows, so that one evaluation reads the same everywhere:

- ``shown_total``: the total, rounded by the rule; a total the rounding would carry
  across a class threshold is rounded towards its own class instead (when the rule
  says ``towards_class``), so the figure never contradicts the class next to it;
- ``apportion``: the lines that add up to the total, each rounded so that the shown
  lines add up to the shown total (largest remainder): a civil servant who adds the
  column gets the total printed under it;
- ``shown_score`` / ``shown_stamp``: both at once, for a computed result or for the
  stamp stored with a score.

The values returned are ``Decimal`` with exactly ``places`` decimals; writing them
the locale's way (decimal comma, grouping) is ``workflow.formatting``'s job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    InvalidOperation,
)
from fractions import Fraction
from math import floor
from typing import Any

from workflow.formatting import ROUNDINGS
from workflow.scoring.model import Regime, ScoreDisplay

# The stored precision of a score (compute.to_decimal): 28 significant digits.
_DECIMALS = Context(prec=28, rounding=ROUND_HALF_EVEN)


def exact(value: Decimal | Fraction | int | str) -> Decimal:
    """A score as the stored Decimal (a Fraction to 28 significant digits)."""
    if isinstance(value, Fraction):
        return _DECIMALS.divide(Decimal(value.numerator), Decimal(value.denominator))
    if isinstance(value, str) and "/" in value:  # a stamp's exact total, str(Fraction)
        numerator, _, denominator = value.partition("/")
        return _DECIMALS.divide(Decimal(numerator), Decimal(denominator))
    return Decimal(value)


def quantum(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


def rounded(value: Decimal | Fraction | int | str, rule: ScoreDisplay) -> Decimal:
    """``value`` rounded by the rule, with no regard to classes (a line, a mean)."""
    return exact(value).quantize(quantum(rule.places), rounding=ROUNDINGS[rule.rounding])


def shown_total(total: Decimal | Fraction | int | str, regime: Regime) -> Decimal:
    """The total as shown: rounded by the regime's rule; next to a class threshold,
    rounded towards its own class when the rule says so (89.995 reads 89.99, "well
    completed", never 90.00)."""
    rule = regime.display
    value = exact(total)
    shown = rounded(value, rule)
    if rule.near_threshold == "round" or \
            regime.class_by_score(shown) == regime.class_by_score(value):
        return shown
    towards = ROUND_FLOOR if shown > value else ROUND_CEILING
    return value.quantize(quantum(rule.places), rounding=towards)


def rounds_across(total: Decimal | Fraction | int | str, regime: Regime) -> Decimal | None:
    """The value the plain rounding would have shown, when the shown total differs from
    it (the reader is told why the total is not rounded up); else None."""
    plain = rounded(total, regime.display)
    return plain if plain != shown_total(total, regime) else None


def apportion(values: Sequence[Decimal | Fraction], target: Decimal, places: int = 2
              ) -> list[Decimal]:
    """Round each value to ``places`` so that they add up to ``target`` (largest
    remainder, ties to the first). Values with negative points (no input allows them)
    are each rounded half-up instead."""
    scale = 10 ** places
    exacts = [exact(v) for v in values]
    units = [floor(v * scale) for v in exacts]
    deficit = int((target * scale).to_integral_value(rounding=ROUND_HALF_UP)) - sum(units)
    if not 0 <= deficit <= len(values):
        return [v.quantize(quantum(places), rounding=ROUND_HALF_UP) for v in exacts]
    order = sorted(range(len(values)), key=lambda i: (-(exacts[i] * scale - units[i]), i))
    for i in order[:deficit]:
        units[i] += 1
    return [(Decimal(u) / scale).quantize(quantum(places)) for u in units]


@dataclass(frozen=True)
class ShownScore:
    """What every surface shows of one score."""

    total: Decimal  # the shown total
    points: Mapping[str, Decimal | None]  # by criterion: the points column (None: not given)
    counted: Mapping[str, Decimal]  # by criterion: what it adds to the shown total
    places: int

    def text(self, value: Decimal | None) -> str | None:
        """A shown value as the canonical decimal string ("89.99"), None for None."""
        return None if value is None else f"{value:.{self.places}f}"


@dataclass(frozen=True)
class ScoreLine:
    """One criterion as the display needs it: its points out of its own maximum and
    what it counts for in the total (the same unless renormalised)."""

    criterion: str
    points: Decimal | None  # None: nobody could give it
    counted: Decimal


def shown_score(total: Decimal | Fraction | int | str, lines: Sequence[ScoreLine],
                regime: Regime) -> ShownScore:
    """The shown total and lines: the counted values apportioned to the shown total; a
    line's points are its apportioned value when it counts as given, else (scaled by a
    renormalisation) its points rounded by the rule."""
    rule = regime.display
    target = shown_total(total, regime)
    present = [line for line in lines if line.points is not None]
    shares = apportion([line.counted for line in present], target, rule.places)
    counted = {line.criterion: v for line, v in zip(present, shares, strict=True)}
    points: dict[str, Decimal | None] = {}
    for line in lines:
        if line.points is None:
            points[line.criterion] = None
        elif line.points == line.counted:
            points[line.criterion] = counted[line.criterion]
        else:
            points[line.criterion] = rounded(line.points, rule)
    return ShownScore(target, points, counted, rule.places)


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def stamp_lines(stamp: Mapping[str, Any] | None) -> list[ScoreLine]:
    """The lines of a stored score stamp (``compute.stamp``)."""
    out = []
    for item in (stamp or {}).get("breakdown") or []:
        points = _decimal(item.get("points"))
        counted = _decimal(item.get("counted"))
        out.append(ScoreLine(str(item.get("criterion") or item.get("key") or ""), points,
                             counted if counted is not None else (points or Decimal(0))))
    return out


def shown_stamp(score: Any, stamp: Mapping[str, Any] | None, regime: Regime) -> ShownScore:
    """What is shown of a stored score: its exact total (the stamp's, else the stored
    score) and its stamp's lines."""
    total = (stamp or {}).get("exact_total") or score
    return shown_score(str(total), stamp_lines(stamp), regime)


def shown_breakdown(score: Any, stamp: Mapping[str, Any] | None, regime: Regime
                    ) -> list[dict[str, Any]]:
    """The stamp's breakdown entries with their points and maximum as shown (canonical
    decimal strings, for an email or a page to write the locale's way)."""
    if not (stamp or {}).get("breakdown"):
        return []
    shown = shown_stamp(score, stamp, regime)
    out = []
    for item in (stamp or {}).get("breakdown") or []:
        cid = str(item.get("criterion") or item.get("key") or "")
        cmax = _decimal(item.get("max"))
        out.append({**item, "points": shown.text(shown.points.get(cid)),
                    "counted": shown.text(shown.counted.get(cid)),
                    "max": None if cmax is None else _plain(cmax)})
    return out


def _plain(value: Decimal) -> str:
    """A maximum without trailing zeros ("70", "7.5")."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
