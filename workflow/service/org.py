"""`kpi org import`: upsert units, positions and people from the organisation CSV.

All or nothing: every bad row is named with its line and what is wrong, and when
any row is bad nothing is written. Rows not in the file are left as they are.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

from workflow.calendar import zone
from workflow.clock import utc_now
from workflow.errors import InputFileError, OrgImportError
from workflow.inputfile import ORG_CAP, read_text
from workflow.service.core import Service
from workflow.store import audit
from workflow.store.tables import PERSON, POSITION, UNIT

REQUIRED_COLUMNS = (
    "employee_id", "full_name", "email", "unit_id", "unit_name", "position",
    "position_group", "supervisor_id", "task_group", "locale", "is_leader",
)
OPTIONAL_COLUMNS = ("timezone", "conflicts_with")
LOCALES = ("vi", "en")
TRUE_WORDS = {"true", "1", "yes", "y", "x", "có"}
FALSE_WORDS = {"false", "0", "no", "n", "", "không"}
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Deliberately plain: one @, no spaces or control characters, a dot in the domain.
EMAIL_PATTERN = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
PERSON_FIELDS = ("full_name", "email", "unit_id", "position_id", "position_group",
                 "supervisor_id", "task_group", "locale", "is_leader", "timezone",
                 "conflicts_with")
# conflicts_with: employee ids separated by ";" or spaces (both read the same way).
CONFLICT_SEPARATORS = re.compile(r"[;\s]+")


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    units_added: list[str] = field(default_factory=list)
    units_renamed: list[str] = field(default_factory=list)
    positions_added: list[str] = field(default_factory=list)
    not_in_file: int = 0


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    name = str(path)
    try:
        text = read_text(path, ORG_CAP, "organisation file",
                         save_as="save the sheet as 'CSV UTF-8' and import it again")
    except InputFileError as exc:
        raise OrgImportError(name, [(exc.line or 0, exc.problem)]) from None
    if not text.strip():
        raise OrgImportError(name, [(1, "the file is empty; the first line must name the "
                                     f"columns: {', '.join(REQUIRED_COLUMNS)}")])
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
        rows: list[tuple[int, dict[str, str]]] = []
        problems: list[tuple[int, str]] = []
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                problems.append((line, f"has {len(values)} fields, the header has {len(header)} "
                                       "(a comma inside a value needs quotes)"))
                continue
            rows.append((line, {h: v.strip() for h, v in zip(header, values, strict=True)}))
    except csv.Error as exc:
        raise OrgImportError(name, [(reader.line_num, f"not valid CSV: {exc}")]) from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    duplicated = sorted({c for c in header if header.count(c) > 1})
    header_problems = []
    if missing:
        header_problems.append((1, f"missing column(s): {', '.join(missing)}"))
    if unknown:
        header_problems.append((1, f"unknown column(s): {', '.join(unknown)}; the columns are "
                                   f"{', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}"))
    if duplicated:
        header_problems.append((1, f"column(s) named twice: {', '.join(duplicated)}"))
    if header_problems:
        raise OrgImportError(name, header_problems)
    if problems:
        raise OrgImportError(name, problems)
    if not rows:
        raise OrgImportError(name, [(1, "no people: the file has only its header")])
    return header, rows


def _check_row(line: int, row: Mapping[str, str], problems: list[tuple[int, str]]
               ) -> dict[str, Any] | None:
    before = len(problems)

    def bad(msg: str) -> None:
        problems.append((line, msg))

    eid = row["employee_id"]
    if not eid:
        bad("employee_id is empty")
    elif not ID_PATTERN.match(eid):
        bad(f"employee_id {eid!r} may only use letters, digits, '.', '_' and '-' (at most 64)")
    for column in ("full_name", "unit_id", "position", "position_group", "task_group"):
        if not row[column]:
            bad(f"{column} is empty")
        elif CONTROL.search(row[column]):
            bad(f"{column} contains a line break or control character")
        elif len(row[column]) > 300:
            bad(f"{column} is longer than 300 characters")
    if row["unit_id"] and not ID_PATTERN.match(row["unit_id"]):
        bad(f"unit_id {row['unit_id']!r} may only use letters, digits, '.', '_' and '-'")
    if CONTROL.search(row["unit_name"]):
        bad("unit_name contains a line break or control character")
    email = row["email"]
    if not email:
        bad("email is empty")
    elif not EMAIL_PATTERN.match(email) or len(email) > 320:
        bad(f"email {email!r} is not an email address")
    locale = row["locale"].lower() or "vi"
    if locale not in LOCALES:
        bad(f"locale {row['locale']!r} is not one of {', '.join(LOCALES)}")
    leader_word = row["is_leader"].lower()
    if leader_word not in TRUE_WORDS | FALSE_WORDS:
        bad(f"is_leader {row['is_leader']!r} is not true or false")
    tz = row.get("timezone", "").strip() or None
    if tz:
        try:
            zone(tz)
        except ValueError as exc:
            bad(f"timezone: {exc}")
    supervisor = row["supervisor_id"] or None
    if supervisor == eid:
        bad("supervisor_id is the person themselves")
    conflicts = _conflicts(eid, row.get("conflicts_with", ""), bad)
    if len(problems) > before:
        return None
    return {
        "id": eid, "full_name": row["full_name"], "email": email, "unit_id": row["unit_id"],
        "position_id": row["position"], "position_group": row["position_group"],
        "supervisor_id": supervisor, "task_group": row["task_group"], "locale": locale,
        "is_leader": leader_word in TRUE_WORDS, "timezone": tz,
        "conflicts_with": " ".join(conflicts) or None,
    }


def _conflicts(eid: str, value: str, bad: Any) -> list[str]:
    """The ids of a conflicts_with cell, sorted, each once; their form checked here, that
    they are people later (they may come further down the file)."""
    ids = sorted({i for i in CONFLICT_SEPARATORS.split(value.strip()) if i})
    for other in ids:
        if not ID_PATTERN.match(other):
            bad(f"conflicts_with: {other!r} is not an employee id (ids are separated by ';' "
                "or spaces)")
        elif other == eid:
            bad("conflicts_with names the person themselves")
    return ids


def _supervisor_cycles(chain: Mapping[str, str | None]) -> list[list[str]]:
    """Every loop in the supervisor relation (each reported once)."""
    seen: set[str] = set()
    loops: list[list[str]] = []
    for start in chain:
        path: list[str] = []
        on_path: set[str] = set()
        node: str | None = start
        while node and node not in seen and node not in on_path:
            path.append(node)
            on_path.add(node)
            node = chain.get(node)
        if node and node in on_path:
            loops.append(path[path.index(node):])
        seen.update(path)
    return loops


def import_org(svc: Service, path: str | Path, *, actor_id: str = "cli",
               now: datetime | None = None) -> ImportReport:
    """Validate the whole file, then upsert it in one transaction; OrgImportError if bad."""
    now = now or utc_now()
    source = Path(path)
    header, rows = _read_rows(source)
    problems: list[tuple[int, str]] = []
    people: dict[str, dict[str, Any]] = {}
    lines: dict[str, int] = {}
    emails: dict[str, str] = {}
    units: dict[str, tuple[str, int]] = {}
    positions: dict[str, tuple[str, int]] = {}
    for line, row in rows:
        person = _check_row(line, row, problems)
        if person is None:
            continue
        pid, email = person["id"], person["email"].lower()
        if pid in people:
            problems.append((line, f"employee_id {pid} is also on line {lines[pid]}"))
            continue
        if email in emails:
            problems.append((line, f"email {person['email']} is also used by {emails[email]} "
                                   f"(line {lines[emails[email]]})"))
            continue
        unit_name = row["unit_name"]
        if unit_name and person["unit_id"] in units and units[person["unit_id"]][0] != unit_name:
            other = units[person["unit_id"]]
            problems.append((line, f"unit {person['unit_id']} is named {unit_name!r} here but "
                                   f"{other[0]!r} on line {other[1]}"))
        elif unit_name:
            units.setdefault(person["unit_id"], (unit_name, line))
        title, group = person["position_id"], person["position_group"]
        if title in positions and positions[title][0] != group:
            problems.append((line, f"position {title!r} is in group {group!r} here but "
                                   f"{positions[title][0]!r} on line {positions[title][1]}"))
        positions.setdefault(title, (group, line))
        people[pid], lines[pid], emails[email] = person, line, pid

    with svc.store.write() as session:
        existing = {r.id: dict(r._mapping) for r in session.execute(select(PERSON))}
        existing_units = {r.id: r.name for r in session.execute(select(UNIT))}
        existing_positions = {r.id: r.position_group for r in session.execute(select(POSITION))}
        existing_emails = {p["email"].lower(): pid for pid, p in existing.items()}
        if "conflicts_with" not in header:
            # A file without the column says nothing about conflicts: the declared ones stay.
            for pid, person in people.items():
                person["conflicts_with"] = existing.get(pid, {}).get("conflicts_with")
        for pid, person in people.items():
            line = lines[pid]
            if person["unit_id"] not in units and person["unit_id"] not in existing_units:
                problems.append((line, f"unknown unit {person['unit_id']!r}: give its unit_name "
                                       "on this row to create it"))
            sup = person["supervisor_id"]
            if sup and sup not in people and sup not in existing:
                problems.append((line, f"unknown supervisor {sup!r}: not in this file and not "
                                       "in the organisation"))
            for named in (person["conflicts_with"] or "").split():
                if named not in people and named not in existing:
                    problems.append((line, f"conflicts_with: unknown employee {named!r}: not "
                                           "in this file and not in the organisation"))
            other_id = existing_emails.get(person["email"].lower())
            if other_id and other_id != pid and other_id not in people:
                problems.append((line, f"email {person['email']} already belongs to "
                                       f"{other_id} in the organisation"))
        chain = {pid: p["supervisor_id"] for pid, p in existing.items()}
        chain.update({pid: p["supervisor_id"] for pid, p in people.items()})
        for loop in _supervisor_cycles(chain):
            where = next((lines[p] for p in loop if p in lines), 0)
            problems.append((where, "supervisor cycle: " + " -> ".join([*loop, loop[0]])
                             + " (somebody in it must report to someone outside it)"))
        if problems:
            raise OrgImportError(str(source), sorted(set(problems)))
        report = _upsert(session, people, units, positions, existing, existing_units,
                         existing_positions, now)
        audit.append(session, [audit.AuditEntry(
            actor_id=actor_id, role="admin", at=now, trigger="org_import",
            reason=f"{source.name}: {len(report.added)} added, {len(report.changed)} changed",
            payload={"file": source.name, "people": sorted(people)})])
    return report


def _upsert(session: Any, people: dict[str, dict[str, Any]], units: dict[str, tuple[str, int]],
            positions: dict[str, tuple[str, int]], existing: dict[str, dict[str, Any]],
            existing_units: dict[str, str], existing_positions: dict[str, str],
            now: datetime) -> ImportReport:
    report = ImportReport()
    for uid, (name, _) in units.items():
        if uid not in existing_units:
            session.execute(insert(UNIT).values(id=uid, name=name))
            report.units_added.append(uid)
        elif existing_units[uid] != name:
            session.execute(update(UNIT).where(UNIT.c.id == uid).values(name=name))
            report.units_renamed.append(uid)
    for title, (group, _) in positions.items():
        if title not in existing_positions:
            session.execute(insert(POSITION).values(id=title, position_group=group))
            report.positions_added.append(title)
        elif existing_positions[title] != group:
            session.execute(update(POSITION).where(POSITION.c.id == title)
                            .values(position_group=group))
    # Addresses that change hands within the file (two people swapping, or a newcomer
    # taking the address of someone who moves to a new one): the unique index is
    # checked per statement, so everyone whose address changes lets go of it first.
    for pid, person in people.items():
        before = existing.get(pid)
        if before is not None and before["email"] != person["email"]:
            session.execute(update(PERSON).where(PERSON.c.id == pid)
                            .values(email=f"{pid}@moving.kpi.invalid"))
    # Insert new people without supervisors first: a supervisor may be added later
    # in the same file, and the foreign key is checked per statement.
    new_rows = [dict(p, supervisor_id=None, active=True, updated_at=now)
                for pid, p in people.items() if pid not in existing]
    if new_rows:
        session.execute(insert(PERSON), new_rows)
    report.added = [r["id"] for r in new_rows]
    for pid, person in people.items():
        before = existing.get(pid)
        if before is None:
            if person["supervisor_id"]:
                session.execute(update(PERSON).where(PERSON.c.id == pid)
                                .values(supervisor_id=person["supervisor_id"]))
            continue
        changed = [f for f in PERSON_FIELDS if before.get(f) != person[f]]
        if not before.get("active"):
            changed.append("active")
        if changed:
            session.execute(update(PERSON).where(PERSON.c.id == pid)
                            .values(**{f: person[f] for f in PERSON_FIELDS}, active=True,
                                    updated_at=now))
            report.changed[pid] = changed
        else:
            report.unchanged.append(pid)
    report.not_in_file = len(set(existing) - set(people))
    return report
