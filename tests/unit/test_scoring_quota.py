"""The quota on excellent, per pool (Decree 335 Art 20(5))."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.unit.test_scoring_decree import VN
from workflow.scoring.model import Quota
from workflow.scoring.quota import PoolMember, allowed, breaking_members, meters

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
