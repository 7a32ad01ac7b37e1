"""The quota on the top class, per pool. Pure.

Decree 335 Art 20(5)(a): the number rated excellent is at most 20% of the number
rated well completed, within the agency and within each group of similar tasks,
rounded down. A pool "breaks" its quota while it has more than that.

A *small* pool is one where the rounding leaves no room at all (fewer than five
well completed at 20%); the regime's ``quota.small_pool`` says what happens there:
``floor`` (no excellent), ``at_least_one`` (one), ``agency_only`` (a small task-group
pool is not metered on its own; the agency pool always is).
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
    small: bool = False  # the rounding leaves no room (see the module's docstring)
    metered: bool = True  # False: a small task-group pool under ``agency_only``

    @property
    def breaks(self) -> bool:
        return self.metered and self.limited > self.allowed

    @property
    def excess(self) -> int:
        return max(0, self.limited - self.allowed) if self.metered else 0


def floor_allowed(ratio: Decimal, relative: int) -> int:
    """ratio x relative, rounded down."""
    return int((ratio * relative).to_integral_value(rounding=ROUND_FLOOR))


def allowed(quota: Quota, relative: int, ratio: Decimal | None = None) -> int:
    """How many may hold the limited class in a pool with ``relative`` in the other class."""
    n = floor_allowed(quota.max_ratio if ratio is None else ratio, relative)
    if n == 0 and quota.small_pool == "at_least_one":
        n = 1
    return n


def pool_names(quota: Quota, task_group: str) -> list[str]:
    """The pools an evaluation of ``task_group`` belongs to."""
    names = []
    if "agency" in quota.pools:
        names.append("agency")
    if "task_group" in quota.pools:
        names.append(f"task_group:{task_group}")
    return names


def meters(quota: Quota, members: Iterable[PoolMember], ratio: Decimal | None = None
           ) -> list[PoolMeter]:
    """The meter of every pool the quota names (agency first, then task groups)."""
    counts: dict[tuple[str, str], int] = {}
    for m in members:
        key = (m.task_group, m.class_id or "unscored")
        counts[key] = counts.get(key, 0) + 1
    return meters_from_counts(quota, counts, ratio)


def meters_from_counts(quota: Quota, counts: Mapping[tuple[str, str], int],
                       ratio: Decimal | None = None) -> list[PoolMeter]:
    """Meters from the number of evaluations per (task group, class) (a GROUP BY)."""
    pools: dict[str, dict[str, int]] = {}
    for (task_group, class_id), n in counts.items():
        for name in pool_names(quota, task_group):
            pool = pools.setdefault(name, {})
            pool[class_id] = pool.get(class_id, 0) + n
    used_ratio = quota.max_ratio if ratio is None else ratio
    out: list[PoolMeter] = []
    for name in sorted(pools, key=lambda p: (p != "agency", p)):
        pool = pools[name]
        limited = pool.get(quota.limited_class, 0)
        relative = pool.get(quota.relative_to, 0)
        small = floor_allowed(used_ratio, relative) == 0
        metered = not (small and quota.small_pool == "agency_only" and name != "agency")
        out.append(PoolMeter(name, dict(pool), limited, relative,
                             allowed(quota, relative, ratio), used_ratio, small, metered))
    return out


def breaking_members(quota: Quota, members: Iterable[PoolMember], ratio: Decimal | None = None
                     ) -> dict[int, list[str]]:
    """Who breaks the quota: each evaluation holding the limited class in a breaking pool."""
    members = list(members)
    broken = {m.pool for m in meters(quota, members, ratio) if m.breaks}
    out: dict[int, list[str]] = {}
    for m in members:
        if m.class_id != quota.limited_class:
            continue
        pools = [p for p in pool_names(quota, m.task_group) if p in broken]
        if pools:
            out[m.evaluation_id] = pools
    return out
