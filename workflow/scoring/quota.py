"""The quota on the top class, per pool. Pure.

Decree 335 Art 20(5)(a): the number rated excellent is at most 20% of the number
rated well completed, within the agency and within each group of similar tasks,
rounded down. A pool "breaks" its quota while it has more than that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from workflow.scoring.model import Quota


@dataclass(frozen=True)
class PoolMember:
    evaluation_id: int
    reviewee_id: str
    task_group: str
    class_id: str | None  # None: not scored yet


@dataclass(frozen=True)
class PoolMeter:
    pool: str  # "agency" or "task_group:<id>"
    counts: Mapping[str, int]
    limited: int  # how many hold the limited class now
    relative: int  # how many hold the class the limit is relative to
    allowed: int  # the most that may hold the limited class
    ratio: Decimal

    @property
    def breaks(self) -> bool:
        return self.limited > self.allowed

    @property
    def excess(self) -> int:
        return max(0, self.limited - self.allowed)


def allowed(quota: Quota, relative: int, ratio: Decimal | None = None) -> int:
    """How many may hold the limited class in a pool with ``relative`` in the other class."""
    r = quota.max_ratio if ratio is None else ratio
    n = int((r * relative).to_integral_value(rounding=ROUND_FLOOR))
    if quota.small_pool == "at_least_one" and relative > 0:
        n = max(n, 1)
    return n


def meters(quota: Quota, members: Iterable[PoolMember], ratio: Decimal | None = None
           ) -> list[PoolMeter]:
    """The meter of every pool the quota names (agency first, then task groups)."""
    pools: dict[str, list[PoolMember]] = {}
    for m in members:
        if "agency" in quota.pools:
            pools.setdefault("agency", []).append(m)
        if "task_group" in quota.pools:
            pools.setdefault(f"task_group:{m.task_group}", []).append(m)
    out: list[PoolMeter] = []
    for name in sorted(pools, key=lambda p: (p != "agency", p)):
        counts: dict[str, int] = {}
        for m in pools[name]:
            key = m.class_id or "unscored"
            counts[key] = counts.get(key, 0) + 1
        limited = counts.get(quota.limited_class, 0)
        relative = counts.get(quota.relative_to, 0)
        used_ratio = quota.max_ratio if ratio is None else ratio
        out.append(PoolMeter(name, counts, limited, relative, allowed(quota, relative, ratio),
                             used_ratio))
    return out
