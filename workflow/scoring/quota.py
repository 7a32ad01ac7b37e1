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
    moves: int = 0  # the fewest moves of its own members that make this pool hold alone

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
                             allowed(quota, relative, ratio), used_ratio, small, metered,
                             min(_fixing(quota, name, limited, relative, ratio), default=0)))
    return out


def holds(quota: Quota, pool: str, limited: int, relative: int, ratio: Decimal | None = None
          ) -> bool:
    """Whether a pool with these counts holds its quota (unmetered pools always do)."""
    used = quota.max_ratio if ratio is None else ratio
    if (floor_allowed(used, relative) == 0 and quota.small_pool == "agency_only"
            and pool != "agency"):
        return True
    return limited <= allowed(quota, relative, ratio)


def _fixing(quota: Quota, pool: str, limited: int, relative: int, ratio: Decimal | None
            ) -> list[int]:
    """Every number of moves (0..limited) of a pool's own members after which it holds.

    Not always a range: under ``agency_only`` a small task group is unmetered, and a
    move that lifts it to five well completed makes it metered, and perhaps broken.
    """
    step = 1 if quota.may_move_to == quota.relative_to else 0
    return [k for k in range(limited + 1)
            if holds(quota, pool, limited - k, relative + k * step, ratio)]


@dataclass(frozen=True)
class MovesNeeded:
    """The fewest moves that make every pool hold together, and whose moves count twice."""

    total: int  # moves in all (one move counts in the agency and in a task group)
    by_task_group: Mapping[str, int]  # one such plan: how many moves in each task group
    both: frozenset[int]  # evaluations whose move counts for the agency and their group


def moves_needed(quota: Quota, members: Iterable[PoolMember], ratio: Decimal | None = None
                 ) -> MovesNeeded:
    """The least number of moves after which every pool holds (over all pools together).

    Each task group ``g`` holds after ``k_g`` of its members move for some set of
    ``k_g``; the agency pool after ``K = sum k_g`` moves for some set of ``K``. The
    reachable sums are kept as the bits of an integer, one task group at a time, so
    an agency of thousands is a few hundred big-integer shifts.
    """
    members = list(members)
    step = 1 if quota.may_move_to == quota.relative_to else 0
    groups: dict[str, tuple[int, int]] = {}
    for m in members:
        limited, relative = groups.get(m.task_group, (0, 0))
        groups[m.task_group] = (limited + (m.class_id == quota.limited_class),
                                relative + (m.class_id == quota.relative_to))
    names = sorted(groups)
    options: dict[str, list[int]] = {}
    for g in names:
        limited, relative = groups[g]
        options[g] = (_fixing(quota, f"task_group:{g}", limited, relative, ratio)
                      if "task_group" in quota.pools else list(range(limited + 1)))
    # reach[i]: the bitset of the sums the first i task groups can make while holding
    reach = [1]
    for g in names:
        bits = 0
        for k in options[g]:
            bits |= reach[-1] << k
        reach.append(bits)
    limited_all = sum(e for e, _ in groups.values())
    relative_all = sum(w for _, w in groups.values())
    total = next(k for k in range(limited_all + 1) if reach[-1] >> k & 1 and (
        "agency" not in quota.pools
        or holds(quota, "agency", limited_all - k, relative_all + k * step, ratio)))
    plan: dict[str, int] = {}
    left = total
    for i in range(len(names) - 1, -1, -1):  # walk back: a k_g whose rest is reachable
        g = names[i]
        k = next(k for k in options[g] if k <= left and reach[i] >> (left - k) & 1)
        plan[g] = k
        left -= k
    agency_needs = "agency" in quota.pools and not holds(
        quota, "agency", limited_all, relative_all, ratio)
    fixes_group = {g for g in names if "task_group" in quota.pools and 0 not in options[g]}
    both = frozenset(m.evaluation_id for m in members if agency_needs
                     and m.class_id == quota.limited_class and m.task_group in fixes_group)
    return MovesNeeded(total, {g: plan[g] for g in names if plan[g]}, both)


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
