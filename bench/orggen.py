"""A synthetic national-scale organisation, generated and written in chunks.

    .venv/bin/python -m bench.orggen SIZE DATABASE_URL

The tree: one director (``N0000000``) at the top, departments of 50 units under a
department head who reports to the director, and units of 20 (one unit head and 19
specialists in task group ``C``; the heads in task group ``A``). Every person is a
pure function of their number, so a run is deterministic and no list of the people
is ever held in memory: rows are made and inserted ``CHUNK`` at a time with Core
``executemany``. The organisation is the benchmark's fixture, not what it measures.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert

from workflow.service.core import Service
from workflow.service.setup import init_database
from workflow.settings import Settings
from workflow.store.db import Store
from workflow.store.tables import PERSON, POSITION, UNIT

UNIT_SIZE = 20
UNITS_PER_DEPARTMENT = 50
CHUNK = 5000
DIRECTOR = "N0000000"
STAMP = datetime(2026, 1, 1, tzinfo=UTC)
SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ")
MIDDLE = ("Văn", "Thị", "Minh", "Thu", "Đức", "Thanh", "Ngọc", "Quốc")
GIVEN = ("An", "Bình", "Châu", "Dũng", "Giang", "Hạnh", "Lan", "Mai", "Nam", "Phúc", "Quân",
         "Tâm", "Việt", "Yến")


def person_id(n: int) -> str:
    return f"N{n:07d}"


def unit_of(n: int) -> int:
    """People 1..: unit k holds people 20k+1 .. 20k+20 (the first of them its head)."""
    return (n - 1) // UNIT_SIZE


def department_head(unit: int) -> str:
    """The head of a unit's department: the head of the department's first unit."""
    return person_id((unit // UNITS_PER_DEPARTMENT) * UNITS_PER_DEPARTMENT * UNIT_SIZE + 1)


def person_row(n: int) -> dict[str, Any]:
    name = (f"{SURNAMES[n % len(SURNAMES)]} {MIDDLE[(n // 10) % len(MIDDLE)]} "
            f"{GIVEN[(n // 80) % len(GIVEN)]}")
    if n == 0:
        unit, supervisor, leader, position = "U000000", None, True, "Giám đốc"
    else:
        k = unit_of(n)
        unit = f"U{k + 1:06d}"
        leader = (n - 1) % UNIT_SIZE == 0
        if not leader:
            supervisor = person_id(k * UNIT_SIZE + 1)
        elif k % UNITS_PER_DEPARTMENT == 0:
            supervisor = DIRECTOR  # a department head
        else:
            supervisor = department_head(k)
        position = "Trưởng phòng" if leader else "Chuyên viên"
    return {"id": person_id(n), "full_name": name, "email": f"{person_id(n).lower()}@kpi.example",
            "unit_id": unit, "position_id": position,
            "position_group": "leader" if leader else "specialist", "supervisor_id": supervisor,
            "task_group": "A" if leader else "C", "locale": "vi", "is_leader": leader,
            "timezone": None, "active": True, "updated_at": STAMP}


def chunks(size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, size, CHUNK):
        yield [person_row(n) for n in range(start, min(size, start + CHUNK))]


def generate(svc: Service, size: int) -> None:
    """Write ``size`` people (and their units) into an initialised, empty database."""
    if size < 2:
        raise ValueError(f"an organisation needs at least 2 people, got {size}")
    units = unit_of(size - 1) + 1
    with svc.store.write() as session:
        session.execute(insert(POSITION), [
            {"id": "Giám đốc", "position_group": "leader"},
            {"id": "Trưởng phòng", "position_group": "leader"},
            {"id": "Chuyên viên", "position_group": "specialist"}])
        rows = [{"id": "U000000", "name": "Ban giám đốc"}]
        rows += [{"id": f"U{k + 1:06d}", "name": f"Phòng {k + 1}"} for k in range(units)]
        for start in range(0, len(rows), CHUNK):
            session.execute(insert(UNIT), rows[start:start + CHUNK])
        # Supervisors come before their people in id order, so the foreign key holds
        # chunk by chunk.
        for chunk in chunks(size):
            session.execute(insert(PERSON), chunk)


def cycle_file(cycle_id: str = "bench-national") -> str:
    """The benchmark's cycle: self-assessment, then scoring, no peers, no calibration."""
    return f"""id: {cycle_id}
name: "Bench national"
period: {{kind: month, start: 2026-04-01, end: 2026-04-30}}
timezone: Asia/Ho_Chi_Minh
phases:
  self_assessment: {{opens: "2026-05-04 08:00", due: {{working_days: 3}}}}
  peer_input: {{due: {{working_days: 2}}}}
  supervisor_scoring: {{due: {{working_days: 3}}}}
  calibration: {{due: {{working_days: 3}}}}
  appeal_window: {{due: {{working_days: 5}}}}
  appeal_review: {{due: {{working_days: 10}}}}
reminders:
  - {{working_days_before: 1, at: "08:00"}}
escalation:
  - {{after_working_days: 2, to: assignee_supervisor}}
peers: {{enabled: false}}
calibration: {{enabled: false}}
evaluators: {{{DIRECTOR}: {person_id(1)}}}
admins: [{person_id(1)}]
regime: vn-decree-335-2025
frameworks: [vn-specialist, vn-leader]
"""


def main() -> None:
    size, url = int(sys.argv[1]), sys.argv[2]
    svc = Service(Store(url), Settings(database_url=url, source="bench"))
    init_database(svc)
    generate(svc, size)
    svc.store.dispose()


if __name__ == "__main__":
    main()
