"""A generated organisation of any size and a cycle over all of it (for the worker tests).

The tree: the province's chair (UB1, outside the cycle), a director (D1) and units
of ``unit_size`` people, each with a head (a leader under D1) and specialists under
the head. ``A1`` is a specialist of the first unit and the cycle's admin.
"""

from __future__ import annotations

import csv
from pathlib import Path

HEADER = ["employee_id", "full_name", "email", "unit_id", "unit_name", "position",
          "position_group", "supervisor_id", "task_group", "locale", "is_leader"]


def write_org(path: Path, people: int, unit_size: int = 50) -> list[str]:
    """Write an organisation CSV with ``people`` evaluated people; returns the unit ids."""
    units: list[str] = []
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(HEADER)
        out.writerow(["UB1", "Chủ tịch Trần Văn Tỉnh", "chutich@ubnd.example.gov.vn", "UBND",
                      "Ủy ban nhân dân tỉnh", "Chủ tịch", "leader", "", "A", "vi", "true"])
        out.writerow(["D1", "Giám đốc Nguyễn Thị Sở", "giamdoc@snv.example.gov.vn", "BGD",
                      "Ban Giám đốc", "Giám đốc Sở", "leader", "", "A", "vi", "true"])
        left = people - 1
        u = 0
        while left > 0:
            u += 1
            unit = f"P{u:04d}"
            units.append(unit)
            size = min(unit_size, left)
            head = f"H{u:04d}"
            out.writerow([head, f"Trưởng phòng {u}", f"h{u}@snv.example.gov.vn", unit,
                          f"Phòng {u}", "Trưởng phòng", "leader", "D1", "A", "vi", "true"])
            for j in range(1, size):
                pid = "A1" if (u, j) == (1, 1) else f"S{u:04d}{j:03d}"
                out.writerow([pid, f"Chuyên viên {u}-{j}", f"{pid.lower()}@snv.example.gov.vn",
                              unit, f"Phòng {u}", "Chuyên viên", "specialist", head, "C",
                              "en" if j % 3 == 0 else "vi", "false"])
            left -= size
    return units


def write_cycle(path: Path, units: list[str], cycle_id: str = "scale-2026-04") -> None:
    """A month's cycle over BGD and ``units``: every phase with a deadline, no calibration."""
    listed = ", ".join(["BGD", *units])
    path.write_text(f"""\
id: {cycle_id}
name: "Scale test April 2026"
period: {{kind: month, start: 2026-04-01, end: 2026-04-30}}
timezone: Asia/Ho_Chi_Minh
phases:
  self_assessment: {{opens: "2026-05-04 08:00", due: {{working_days: 3}}}}
  peer_input: {{due: {{working_days: 2}}}}
  supervisor_scoring: {{due: {{working_days: 3}}}}
  appeal_window: {{due: {{working_days: 5}}}}
  appeal_review: {{due: {{working_days: 10}}}}
reminders:
  - {{working_days_before: 1, at: "08:00"}}
escalation:
  - {{after_working_days: 2, to: assignee_supervisor}}
  - {{after_working_days: 4, to: admins}}
peers: {{enabled: true, per_person: 1, min_responses: 1,
        min_responses_exception: {{reason: "scale test", decision: "none"}}}}
calibration: {{enabled: false}}
population: {{units: [{listed}]}}
evaluators: {{D1: UB1}}
admins: [A1]
""", encoding="utf-8")
