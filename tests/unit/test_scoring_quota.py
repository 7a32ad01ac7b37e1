"""The quota on excellent, per pool (Decree 335 Art 20(5))."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from itertools import combinations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.unit.test_scoring_decree import VN
from workflow.scoring.model import Quota
from workflow.scoring.quota import (
    PoolMember,
    allowed,
    breaking_members,
    meters,
    moves_needed,
)
from workflow.scoring.quota_explain import allowance_rule

QUOTA = VN.quota
assert QUOTA is not None


def with_setting(**kw: object) -> Quota:
    assert QUOTA is not None
    return QUOTA.model_copy(update=kw)


@pytest.mark.parametrize(("relative", "expected", "rule"), [
    (10, 2, "Art 20(5)(a): excellent at most 20% of well completed"),
    (9, 1, "Art 20(5)(a): rounded down (1.8 -> 1)"),
    (5, 1, "Art 20(5)(a): five well completed allow one excellent"),
    (4, 0, "Art 20(5)(a): fewer than five allow none (small_pool: floor)"),
    (0, 0, "Art 20(5)(a): no well completed, no excellent"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_allowed_excellent(relative: int, expected: int, rule: str) -> None:
    assert allowed(QUOTA, relative) == expected, rule


def test_small_pool_at_least_one() -> None:
    quota = with_setting(small_pool="at_least_one")
    assert [allowed(quota, n) for n in (0, 4, 5, 10)] == [1, 1, 1, 2]


def test_exception_ratio_raises_the_ceiling() -> None:
    assert allowed(QUOTA, 8) == 1
    assert allowed(QUOTA, 8, Decimal("0.25")) == 2


def members(spec: dict[str, list[str]]) -> list[PoolMember]:
    out: list[PoolMember] = []
    for group, classes in spec.items():
        out += [PoolMember(len(out) + 1, f"{group}{i}", group, c) for i, c in enumerate(classes)]
    return out


POOL = {"A": ["excellent"] + ["well_completed"] * 3,
        "B": ["excellent"] + ["well_completed"] * 6 + ["completed"]}


def test_pools_are_the_agency_and_each_task_group() -> None:
    m = {x.pool: x for x in meters(QUOTA, members(POOL))}
    assert list(m) == ["agency", "task_group:A", "task_group:B"]
    assert (m["agency"].limited, m["agency"].relative, m["agency"].allowed) == (2, 9, 1)
    assert m["agency"].breaks and m["task_group:A"].breaks and not m["task_group:B"].breaks
    assert m["task_group:A"].small and not m["task_group:B"].small


def test_agency_only_leaves_small_task_groups_unmetered() -> None:
    m = {x.pool: x for x in meters(with_setting(small_pool="agency_only"), members(POOL))}
    assert not m["task_group:A"].metered and not m["task_group:A"].breaks
    assert m["agency"].breaks  # the agency pool is always metered


def test_who_breaks_the_quota() -> None:
    breaking = breaking_members(QUOTA, members(POOL))
    assert breaking == {1: ["agency", "task_group:A"], 5: ["agency"]}


# --- the fewest moves: a move down also raises the number of well completed ------------


def people(spec: Mapping[str, Sequence[str | None]]) -> list[PoolMember]:
    """One member per class listed, numbered 1, 2, ... across the task groups."""
    out: list[PoolMember] = []
    for group, classes in spec.items():
        for c in classes:
            out.append(PoolMember(len(out) + 1, f"P{len(out) + 1}", group, c))
    return out


def test_a_task_group_three_over_holds_after_two_moves_and_one_move_fixes_both() -> None:
    """The issue's case. Task group A: 3 excellent, 3 well completed, none allowed: 3
    over; after two moves 1 of 5, one allowed: it holds. The agency: 3 excellent of 9
    well completed, one allowed: 2 over; after one move 2 of 10, two allowed."""
    ms = people({"A": ["excellent"] * 3 + ["well_completed"] * 3, "B": ["well_completed"] * 6})
    m = {x.pool: x for x in meters(QUOTA, ms)}
    assert (m["task_group:A"].excess, m["task_group:A"].moves) == (3, 2)
    assert (m["agency"].excess, m["agency"].moves) == (2, 1)
    assert (m["task_group:B"].excess, m["task_group:B"].moves) == (0, 0)
    needed = moves_needed(QUOTA, ms)
    assert needed.total == 2 and dict(needed.by_task_group) == {"A": 2}
    assert needed.both == {1, 2, 3}  # each excellent of A: a move counts in both pools


def test_a_move_that_would_meter_a_small_group_is_not_a_fix_under_agency_only() -> None:
    """agency_only: A (3 excellent, 4 well completed) is small and unmetered; one move
    makes it 2 of 5, metered, one allowed: broken. The agency (3 of 20, 4 allowed)
    holds: nothing is needed, and the meter of A says no move."""
    quota = with_setting(small_pool="agency_only")
    ms = people({"A": ["excellent"] * 3 + ["well_completed"] * 4,
                 "B": ["well_completed"] * 16})
    m = {x.pool: x for x in meters(quota, ms)}
    assert not m["task_group:A"].metered and m["task_group:A"].moves == 0
    assert moves_needed(quota, ms).total == 0 and not moves_needed(quota, ms).both


def brute_force(quota: Quota, ms: list[PoolMember], ratio: Decimal | None,
                pool: str | None = None) -> int:
    """The fewest moves, trying every set of excellent people in size order: of the pool's
    own members until ``pool`` holds, or of anyone until every pool holds."""
    excellent = [m for m in ms if m.class_id == quota.limited_class and (
        pool is None or pool in ("agency", f"task_group:{m.task_group}"))]
    for size in range(len(excellent) + 1):
        for chosen in combinations(excellent, size):
            ids = {m.evaluation_id for m in chosen}
            after = [replace(m, class_id=quota.may_move_to) if m.evaluation_id in ids else m
                     for m in ms]
            if not any(x.breaks for x in meters(quota, after, ratio)
                       if pool is None or x.pool == pool):
                return size
    raise AssertionError("moving every excellent down always holds")


classes = st.sampled_from(["excellent", "excellent", "well_completed", "well_completed",
                           "completed", None])


@settings(max_examples=300, deadline=None)
@given(groups=st.lists(st.lists(classes, max_size=9), min_size=1, max_size=3),
       small_pool=st.sampled_from(["floor", "at_least_one", "agency_only"]),
       pools=st.sampled_from([("agency", "task_group"), ("agency",), ("task_group",)]),
       ratio=st.sampled_from([None, Decimal("0.25"), Decimal("0.5")]))
def test_the_fewest_moves_are_those_brute_force_finds(
        groups: list[list[str | None]], small_pool: str, pools: tuple[str, ...],
        ratio: Decimal | None) -> None:
    quota = with_setting(small_pool=small_pool, pools=pools)
    ms = people({chr(65 + i): g for i, g in enumerate(groups)})
    assume(sum(m.class_id == "excellent" for m in ms) <= 9)
    needed = moves_needed(quota, ms, ratio)
    assert needed.total == brute_force(quota, ms, ratio)
    assert sum(needed.by_task_group.values()) == needed.total
    for meter in meters(quota, ms, ratio):
        assert meter.moves == brute_force(quota, ms, ratio, meter.pool), meter.pool
        assert meter.moves <= meter.excess or not meter.metered
    # the plan it names is one that holds
    plan = dict(needed.by_task_group)
    after = []
    for member in ms:
        if member.class_id == quota.limited_class and plan.get(member.task_group, 0):
            plan[member.task_group] -= 1
            after.append(replace(member, class_id=quota.may_move_to))
        else:
            after.append(member)
    assert not any(x.breaks for x in meters(quota, after, ratio))


def test_each_meter_names_the_rule_that_gave_its_allowance() -> None:
    ms = people({"A": ["excellent"] + ["well_completed"] * 3, "B": ["well_completed"] * 9})
    rules = {m.pool: allowance_rule(m)["en"] for m in meters(QUOTA, ms)}
    assert rules == {"agency": "20% of 12, rounded down: 2 allowed",
                     "task_group:A": "20% of 3, rounded down: 0 allowed",
                     "task_group:B": "20% of 9, rounded down: 1 allowed"}
    small = {m.pool: allowance_rule(m) for m in meters(with_setting(small_pool="at_least_one"),
                                                          ms)}
    assert small["task_group:A"]["en"] == ("20% of 3 rounds down to 0; the regime lets a small "
                                           "pool have 1")
    assert small["task_group:A"]["vi"] == ("20% của 3 làm tròn xuống thành 0; quy định cho "
                                           "phạm vi nhỏ được 1")
    exempt = meters(with_setting(small_pool="agency_only"), ms)[1]
    assert allowance_rule(exempt)["en"].startswith("not metered: 20% of 3 rounds down to 0")
    exception = meters(QUOTA, ms, Decimal("0.5"))[0]
    assert allowance_rule(exception, "QĐ 99")["en"] == (
        "50% of 12, rounded down: 6 allowed (exception ratio by decision QĐ 99)")
