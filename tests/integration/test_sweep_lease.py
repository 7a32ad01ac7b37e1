"""A sweep's claim is a lease: a worker that dies or hangs gives its rows back.

The claim is the round's row locks. A killed worker's transaction is rolled back by
the server at once; a hung one (alive, idle in its transaction) loses its session
after ``sweep_lease_seconds`` on PostgreSQL. Either way another worker then fires
the rows, once.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from tests.conftest import make_settings
from tests.support import World, at, small_world
from workflow.domain import State
from workflow.service.core import Service
from workflow.service.sweep import claim, start_lease, tick
from workflow.settings import PROJECT_ROOT
from workflow.store.db import Store
from workflow.store.tables import AUDIT, EVALUATION

MISSED = "2026-05-07 18:00"  # every self-assessment of the small world is overdue

HOLDER = """
import sys, time
from tests.conftest import make_settings
from tests.support import at
from workflow.service.core import Service
from workflow.service.sweep import claim, start_lease
from workflow.store.db import Store
url = sys.argv[1]
svc = Service(Store(url), make_settings(url))
with svc.store.write() as s:
    start_lease(svc, s)
    held = claim(svc, s, at(sys.argv[2]), 3)
    print(" ".join(map(str, sorted(held))), flush=True)
    time.sleep(600)  # killed here, its claim held
"""


def missed_once(world: World) -> Counter[int]:
    with world.svc.store.read() as s:
        return Counter(s.execute(select(AUDIT.c.evaluation_id)
                                 .where(AUDIT.c.trigger == "self_assessment_missed")).scalars())


def in_self_assessment(world: World) -> set[int]:
    with world.svc.store.read() as s:
        return set(s.execute(select(EVALUATION.c.id).where(
            EVALUATION.c.state == State.SELF_ASSESSMENT.value)).scalars())


@pytest.mark.both_stores
def test_a_killed_workers_claim_is_taken_by_another_worker(svc: Service) -> None:
    world = small_world(svc)
    total = len(world.ids())
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, svc.store.url, at(MISSED)
                               .isoformat()], cwd=PROJECT_ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert holder.stdout is not None
        held = {int(i) for i in holder.stdout.readline().split()}
        assert len(held) == 3, holder.stderr.read() if holder.stderr else ""
        if svc.store.dialect == "postgresql":  # SQLite has one writer: it would wait
            tick(svc, at(MISSED))
            assert in_self_assessment(world) == held  # passed over, not waited for
    finally:
        holder.kill()
        holder.communicate(timeout=30)  # reaps it and closes its pipes
    tick(svc, at(MISSED))
    assert in_self_assessment(world) == set()
    assert missed_once(world) == Counter(dict.fromkeys(world.ids().values(), 1))
    assert len(missed_once(world)) == total


@pytest.mark.postgres
def test_a_hung_workers_claim_is_given_back_when_its_lease_runs_out(pg_database: str) -> None:
    world = small_world(Service(Store(pg_database), make_settings(pg_database)))
    hung = Service(Store(pg_database), make_settings(pg_database, sweep_lease_seconds=1.0))
    try:
        with pytest.raises(DBAPIError, match="idle-in-transaction timeout"), \
                hung.store.write() as s:
            start_lease(hung, s)
            held = set(claim(hung, s, at(MISSED), 3))
            tick(world.svc, at(MISSED))  # another worker passes over the claimed three
            assert in_self_assessment(world) == held and len(held) == 3
            time.sleep(2.5)  # hangs past its lease, then tries to go on
            s.execute(select(1))
        tick(world.svc, at(MISSED))
        assert in_self_assessment(world) == set()
        assert set(missed_once(world).values()) == {1}
        assert len(missed_once(world)) == len(world.ids())
    finally:
        hung.store.dispose()
        world.svc.store.dispose()
