"""The periods a longer period's score is the mean of (the year-end classification). Pure.

Decree 335: the annual class comes from the scores of the year's periods over the
time actually worked: periods on leave (or cancelled, or not finalised) are left
out of the mean, not counted as zero; a transferred person is classified by the
current agency with the periods imported from the old one. Each period weighs the
number of calendar months it covers, so a quarter counts as three months when an
old agency scored quarterly and the new one monthly. When two periods overlap, the
one of this database is preferred over an import, then the shorter one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Literal

PeriodStatus = Literal["worked", "leave", "cancelled", "open"]


@dataclass(frozen=True)
class PeriodScore:
    """One period's result, from this database or imported from another agency."""

    label: str  # a cycle id, or the imported period's dates
    start: date
    end: date
    status: PeriodStatus
    groups: Mapping[str, Decimal] = field(default_factory=dict)  # points per group
    total: Decimal | None = None
    class_id: str | None = None
    source_agency: str = ""  # empty: this database; else the agency it came from
    note: str = ""  # the reason of a cancellation, the document of an import


LeftOutReason = Literal["leave", "cancelled", "open", "overlap", "incomplete"]


@dataclass(frozen=True)
class PeriodSelection:
    used: tuple[tuple[PeriodScore, int], ...]  # each with its weight in months
    left_out: tuple[tuple[PeriodScore, LeftOutReason, str], ...]  # reason, detail

    @property
    def months(self) -> int:
        return sum(w for _, w in self.used)

    def mean(self, group_id: str) -> Fraction | None:
        """The weighted mean of a group's points over the periods used."""
        if not self.used:
            return None
        total = sum((Fraction(p.groups[group_id]) * w for p, w in self.used), Fraction(0))
        return total / self.months


def months_covered(start: date, end: date) -> int:
    """Calendar months from ``start`` to ``end`` (a month 1, a quarter 3, a year 12)."""
    return (end.year - start.year) * 12 + end.month - start.month + 1


def _overlaps(a: PeriodScore, b: PeriodScore) -> bool:
    return a.start <= b.end and b.start <= a.end


def select_periods(periods: Sequence[PeriodScore], group_ids: Sequence[str]
                   ) -> PeriodSelection:
    """Which periods count, with their weights, and which are left out and why."""
    left_out: list[tuple[PeriodScore, LeftOutReason, str]] = []
    candidates: list[PeriodScore] = []
    for p in periods:
        if p.status != "worked":
            left_out.append((p, p.status, p.note))
        elif any(g not in p.groups for g in group_ids):
            missing = ", ".join(g for g in group_ids if g not in p.groups)
            left_out.append((p, "incomplete", f"no points for {missing}"))
        else:
            candidates.append(p)
    candidates.sort(key=lambda p: (p.source_agency != "", months_covered(p.start, p.end),
                                   p.start, p.label))
    used: list[PeriodScore] = []
    for p in candidates:
        clash = next((u for u in used if _overlaps(u, p)), None)
        if clash is not None:
            left_out.append((p, "overlap", clash.label))
        else:
            used.append(p)
    used.sort(key=lambda p: (p.start, p.label))
    left_out.sort(key=lambda x: (x[0].start, x[0].label))
    return PeriodSelection(tuple((p, months_covered(p.start, p.end)) for p in used),
                           tuple(left_out))
