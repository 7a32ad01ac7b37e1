"""`kpi org import` and the admin's organisation page: units, positions and people
upserted from the organisation file (CSV, or an XLSX workbook's first sheet).

One preview and one apply for both: ``preview_org`` says what the file would change
(added; changed, field by field; people not in the file with their open evaluations)
and names every bad row with its line, writing nothing; ``apply_org`` does it all or
nothing in one transaction. A preview carries the organisation's fingerprint: applying
it with ``expected_fingerprint`` refuses (OrgChangedSincePreview) when someone changed
the organisation in between, so exactly what was previewed is what is applied.
Rows not in the file are left as they are.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

from workflow import recusal
from workflow.calendar import zone
from workflow.catalog import N_
from workflow.clock import utc_now
from workflow.domain import OPEN_STATES
from workflow.errors import OrgChangedSincePreview, OrgImportError, Problem
from workflow.inputfile import MB, ORG_CAP
from workflow.progress import SILENT, Progress, counted
from workflow.service import conflict_handover
from workflow.service.conflict_handover import HandOver
from workflow.service.core import Service, load_people
from workflow.service.transition import write
from workflow.store import audit
from workflow.store.tables import EVALUATION, PERSON, POSITION, UNIT

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
XLSX_MAGIC = b"PK\x03\x04"  # a workbook is a zip archive
# Excel in a Vietnamese (or any comma-decimal) locale separates a CSV's values with ";",
# and its "Unicode text" with tabs: the header line says which one the file uses.
SEPARATORS = (",", ";", "\t")

# The file as a whole (line 1, or the line where the text stops being UTF-8).
TOO_BIG = N_("the file is %(size)s MB, over the cap of %(cap)s MB; check that it is the "
             "right file")
NOT_UTF8 = N_("not UTF-8 text; save the sheet as 'CSV UTF-8' and import it again")
LOOKS_1258 = N_("not UTF-8 text; save the sheet as 'CSV UTF-8' and import it again (this file "
                "looks like Windows-1258, what Excel's “CSV (Comma delimited)” writes)")
UTF16_NO_BOM = N_("UTF-16 text without a byte-order mark; save the sheet as 'CSV UTF-8' and "
                  "import it again")
UTF32 = N_("UTF-32 text; save the sheet as 'CSV UTF-8' and import it again")
NOT_XLSX = N_("not a workbook Excel can open (%(error)s); save it again as .xlsx or as "
              "'CSV UTF-8'")
EMPTY = N_("the file is empty; the first line must name the columns: %(columns)s")
BAD_CSV = N_("not valid CSV: %(error)s")
FIELD_COUNT = N_("has %(fields)s fields, the header has %(header)s (a comma inside a value "
                 "needs quotes)")
MISSING_COLUMNS = N_("missing column(s): %(columns)s")
UNKNOWN_COLUMNS = N_("unknown column(s): %(columns)s; the columns are %(known)s")
TWICE_COLUMNS = N_("column(s) named twice: %(columns)s")
ONLY_HEADER = N_("no people: the file has only its header")
# One row.
IS_EMPTY = N_("%(column)s is empty")
BAD_ID = N_("employee_id '%(value)s' may only use letters, digits, '.', '_' and '-' "
            "(at most 64)")
HAS_CONTROL = N_("%(column)s contains a line break or control character")
TOO_LONG = N_("%(column)s is longer than 300 characters")
BAD_UNIT_ID = N_("unit_id '%(value)s' may only use letters, digits, '.', '_' and '-'")
BAD_EMAIL = N_("email '%(value)s' is not an email address")
BAD_LOCALE = N_("locale '%(value)s' is not one of %(locales)s")
BAD_LEADER = N_("is_leader '%(value)s' is not true or false")
BAD_TIMEZONE = N_("timezone: unknown time zone '%(value)s'")
OWN_SUPERVISOR = N_("supervisor_id is the person themselves")
# Rows against each other and against the organisation.
ID_TWICE = N_("employee_id %(id)s is also on line %(line)s")
EMAIL_TWICE = N_("email %(email)s is also used by %(id)s (line %(line)s)")
UNIT_NAMED_TWICE = N_("unit %(unit)s is named '%(name)s' here but '%(other)s' on line %(line)s")
POSITION_TWICE = N_("position '%(position)s' is in group '%(group)s' here but '%(other)s' on "
                    "line %(line)s")
UNKNOWN_UNIT = N_("unknown unit '%(unit)s': give its unit_name on this row to create it")
UNKNOWN_SUPERVISOR = N_("unknown supervisor '%(id)s': not in this file and not in the "
                        "organisation")
EMAIL_TAKEN = N_("email %(email)s already belongs to %(id)s in the organisation")
SUPERVISOR_LOOP = N_("supervisor cycle: %(loop)s (somebody in it must report to someone "
                     "outside it)")
CONFLICT_NOT_ID = N_("conflicts_with: '%(value)s' is not an employee id (ids are separated by "
                     "';' or spaces)")
CONFLICT_SELF = N_("conflicts_with names the person themselves")
CONFLICT_UNKNOWN = N_("conflicts_with: unknown employee '%(id)s': not in this file and not in "
                      "the organisation")


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    units_added: list[str] = field(default_factory=list)
    units_renamed: list[str] = field(default_factory=list)
    positions_added: list[str] = field(default_factory=list)
    not_in_file: int = 0
    # Open evaluations handed on because the file declares a new conflict of interest.
    handovers: list[HandOver] = field(default_factory=list)


@dataclass(frozen=True)
class FieldChange:
    field: str  # a column of the file (position, not position_id)
    before: str
    after: str


@dataclass(frozen=True)
class OpenEvaluation:
    evaluation_id: int
    cycle_id: str
    state: str


@dataclass(frozen=True)
class PersonLine:
    """A person the preview names: who, and (for one who changes or is not in the file)
    what changes and which of their evaluations are still open."""

    person_id: str
    full_name: str
    unit_id: str
    changes: tuple[FieldChange, ...] = ()
    open_evaluations: tuple[OpenEvaluation, ...] = ()


@dataclass(frozen=True)
class OrgPreview:
    """What the file would do to the organisation, as it is now (``fingerprint``)."""

    file_name: str
    digest: str  # sha256 of the file's bytes
    fingerprint: str  # of the organisation the preview was made against
    people: int  # rows in the file
    added: tuple[PersonLine, ...]
    changed: tuple[PersonLine, ...]
    unchanged: int
    not_in_file: tuple[PersonLine, ...]  # left as they are
    units_added: tuple[tuple[str, str], ...]  # (id, name)
    units_renamed: tuple[tuple[str, str, str], ...]  # (id, before, after)
    positions_added: tuple[str, ...]
    # What the file's new conflicts of interest hand on (as the apply will), and the
    # conflicts it removes (which move nothing back).
    handovers: tuple[HandOver, ...] = ()
    conflicts_removed: tuple[tuple[str, str], ...] = ()
    names: Mapping[str, str] = field(default_factory=dict)  # of the people they name

    @property
    def changes_anything(self) -> bool:
        return bool(self.added or self.changed or self.units_added or self.units_renamed
                    or self.positions_added)


@dataclass
class _Checked:
    """The file's rows, checked one by one and against each other."""

    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    units: dict[str, tuple[str, int]] = field(default_factory=dict)
    positions: dict[str, tuple[str, int]] = field(default_factory=dict)
    problems: list[tuple[int, str]] = field(default_factory=list)


def _text(name: str, raw: bytes) -> str:
    """The file's text: UTF-8 (its byte-order mark dropped), or UTF-16 with a byte-order
    mark (Excel's "Unicode text"); anything else is refused with the fix."""
    if raw.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise OrgImportError(name, [(1, Problem(UTF32))])
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            raise OrgImportError(name, [(1, Problem(UTF16_NO_BOM))]) from None
    head = raw[:200]
    if len(head) >= 4 and head.count(0) >= len(head) // 3:
        raise OrgImportError(name, [(1, Problem(UTF16_NO_BOM))])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        try:
            raw.decode("cp1258")
            looks = LOOKS_1258
        except UnicodeDecodeError:
            looks = NOT_UTF8
        raise OrgImportError(name, [(line, Problem(looks))]) from None


def _workbook_rows(name: str, raw: bytes) -> list[list[str]]:
    """The first sheet's rows as text, as the CSV reader gives them."""
    import openpyxl  # noqa: PLC0415 (slow to import; only workbooks need it)

    try:
        book = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:  # a damaged zip or sheet fails in many ways
        raise OrgImportError(name, [(1, Problem(NOT_XLSX, error=type(exc).__name__))]) from None
    try:
        sheet = book.worksheets[0]
        return [[_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # an employee id typed as a number
    return str(value)


def _csv_rows(name: str, raw: bytes) -> tuple[list[list[str]], list[int]]:
    text = _text(name, raw)
    if not text.strip():
        raise OrgImportError(name, [(1, Problem(EMPTY, columns=", ".join(REQUIRED_COLUMNS)))])
    first = text.split("\n", 1)[0]
    separator = max(SEPARATORS, key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        for values in reader:
            rows.append(values)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise OrgImportError(name, [(reader.line_num, Problem(BAD_CSV, error=str(exc)))]) \
            from None
    return rows, lines


def _read_rows(name: str, raw: bytes) -> list[tuple[int, dict[str, str]]]:
    """The rows of the file by line, each a dict by column; OrgImportError if the file
    as a whole is wrong (encoding, header, no rows, a row of the wrong width)."""
    if raw.startswith(XLSX_MAGIC):
        table = _workbook_rows(name, raw)
        lines = list(range(1, len(table) + 1))
    else:
        table, lines = _csv_rows(name, raw)
    if not table or not any(v.strip() for v in table[0]):
        raise OrgImportError(name, [(1, Problem(EMPTY, columns=", ".join(REQUIRED_COLUMNS)))])
    header = [h.strip() for h in table[0]]
    while header and not header[-1]:  # a sheet's empty columns after the last one
        header.pop()
    rows: list[tuple[int, dict[str, str]]] = []
    problems: list[tuple[int, str]] = []
    for line, cells in zip(lines[1:], table[1:], strict=True):
        if not any(v.strip() for v in cells):
            continue
        # Empty cells past the last column (a sheet's formatting) are no values.
        values = cells[:len(header)] if not any(v.strip() for v in cells[len(header):]) \
            else cells
        if len(values) != len(header):
            problems.append((line, Problem(FIELD_COUNT, fields=len(values), header=len(header))))
            continue
        rows.append((line, {h: v.strip() for h, v in zip(header, values, strict=True)}))
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    duplicated = sorted({c for c in header if header.count(c) > 1})
    header_problems: list[tuple[int, str]] = []
    if missing:
        header_problems.append((1, Problem(MISSING_COLUMNS, columns=", ".join(missing))))
    if unknown:
        header_problems.append((1, Problem(UNKNOWN_COLUMNS, columns=", ".join(unknown),
                                           known=", ".join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS))))
    if duplicated:
        header_problems.append((1, Problem(TWICE_COLUMNS, columns=", ".join(duplicated))))
    if header_problems:
        raise OrgImportError(name, header_problems)
    if problems:
        raise OrgImportError(name, problems)
    if not rows:
        raise OrgImportError(name, [(1, Problem(ONLY_HEADER))])
    return rows


def _check_row(line: int, row: Mapping[str, str], problems: list[tuple[int, str]]
               ) -> dict[str, Any] | None:
    before = len(problems)

    def bad(problem: Problem) -> None:
        problems.append((line, problem))

    eid = row["employee_id"]
    if not eid:
        bad(Problem(IS_EMPTY, column="employee_id"))
    elif not ID_PATTERN.match(eid):
        bad(Problem(BAD_ID, value=eid))
    for column in ("full_name", "unit_id", "position", "position_group", "task_group"):
        if not row[column]:
            bad(Problem(IS_EMPTY, column=column))
        elif CONTROL.search(row[column]):
            bad(Problem(HAS_CONTROL, column=column))
        elif len(row[column]) > 300:
            bad(Problem(TOO_LONG, column=column))
    if row["unit_id"] and not ID_PATTERN.match(row["unit_id"]):
        bad(Problem(BAD_UNIT_ID, value=row["unit_id"]))
    if CONTROL.search(row["unit_name"]):
        bad(Problem(HAS_CONTROL, column="unit_name"))
    email = row["email"]
    if not email:
        bad(Problem(IS_EMPTY, column="email"))
    elif not EMAIL_PATTERN.match(email) or len(email) > 320:
        bad(Problem(BAD_EMAIL, value=email))
    locale = row["locale"].lower() or "vi"
    if locale not in LOCALES:
        bad(Problem(BAD_LOCALE, value=row["locale"], locales=", ".join(LOCALES)))
    leader_word = row["is_leader"].lower()
    if leader_word not in TRUE_WORDS | FALSE_WORDS:
        bad(Problem(BAD_LEADER, value=row["is_leader"]))
    tz = row.get("timezone", "").strip() or None
    if tz:
        try:
            zone(tz)
        except ValueError:
            bad(Problem(BAD_TIMEZONE, value=tz))
    supervisor = row["supervisor_id"] or None
    if supervisor == eid:
        bad(Problem(OWN_SUPERVISOR))
    conflicts = _conflicts(eid, row["conflicts_with"], bad) if "conflicts_with" in row else None
    if len(problems) > before:
        return None
    return {
        "id": eid, "full_name": row["full_name"], "email": email, "unit_id": row["unit_id"],
        "position_id": row["position"], "position_group": row["position_group"],
        "supervisor_id": supervisor, "task_group": row["task_group"], "locale": locale,
        "is_leader": leader_word in TRUE_WORDS, "timezone": tz,
        # A file without the column says nothing about conflicts: _checked keeps the
        # declared ones (None: the column is there and empty).
        **({} if conflicts is None else {"conflicts_with": " ".join(conflicts) or None}),
    }


def _conflicts(eid: str, value: str, bad: Any) -> list[str]:
    """The ids of a conflicts_with cell, sorted, each once; their form checked here, that
    they are people later (they may come further down the file)."""
    ids = sorted({i for i in CONFLICT_SEPARATORS.split(value.strip()) if i})
    for other in ids:
        if not ID_PATTERN.match(other):
            bad(Problem(CONFLICT_NOT_ID, value=other))
        elif other == eid:
            bad(Problem(CONFLICT_SELF))
    return ids


def _check_rows(rows: Iterable[tuple[int, dict[str, str]]]) -> _Checked:
    out = _Checked()
    emails: dict[str, str] = {}
    for line, row in rows:
        person = _check_row(line, row, out.problems)
        if person is None:
            continue
        pid, email = person["id"], person["email"].lower()
        if pid in out.people:
            out.problems.append((line, Problem(ID_TWICE, id=pid, line=out.lines[pid])))
            continue
        if email in emails:
            out.problems.append((line, Problem(EMAIL_TWICE, email=person["email"],
                                               id=emails[email],
                                               line=out.lines[emails[email]])))
            continue
        unit_name, unit_id = row["unit_name"], person["unit_id"]
        if unit_name and unit_id in out.units and out.units[unit_id][0] != unit_name:
            other = out.units[unit_id]
            out.problems.append((line, Problem(UNIT_NAMED_TWICE, unit=unit_id, name=unit_name,
                                               other=other[0], line=other[1])))
        elif unit_name:
            out.units.setdefault(unit_id, (unit_name, line))
        title, group = person["position_id"], person["position_group"]
        if title in out.positions and out.positions[title][0] != group:
            out.problems.append((line, Problem(POSITION_TWICE, position=title, group=group,
                                               other=out.positions[title][0],
                                               line=out.positions[title][1])))
        out.positions.setdefault(title, (group, line))
        out.people[pid], out.lines[pid], emails[email] = person, line, pid
    return out


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


@dataclass
class _Organisation:
    """The organisation as the store has it, read once per preview or apply."""

    people: dict[str, dict[str, Any]]
    units: dict[str, str]
    positions: dict[str, str]

    @classmethod
    def read(cls, session: Any) -> _Organisation:
        return cls({r.id: dict(r._mapping) for r in session.execute(select(PERSON))},
                   {r.id: r.name for r in session.execute(select(UNIT))},
                   {r.id: r.position_group for r in session.execute(select(POSITION))})

    def fingerprint(self) -> str:
        """A digest of every person, unit and position: equal exactly when nothing of
        the organisation changed (who last wrote, and when, left out)."""
        digest = hashlib.sha256()
        for pid in sorted(self.people):
            p = self.people[pid]
            digest.update(json.dumps([pid, *(p[f] for f in PERSON_FIELDS), p["active"]],
                                     default=str).encode())
        digest.update(json.dumps(sorted(self.units.items())).encode())
        digest.update(json.dumps(sorted(self.positions.items())).encode())
        return digest.hexdigest()


def _cross_check(checked: _Checked, org: _Organisation) -> list[tuple[int, str]]:
    problems: list[tuple[int, str]] = []
    existing_emails = {p["email"].lower(): pid for pid, p in org.people.items()}
    for pid, person in checked.people.items():
        line = checked.lines[pid]
        if person["unit_id"] not in checked.units and person["unit_id"] not in org.units:
            problems.append((line, Problem(UNKNOWN_UNIT, unit=person["unit_id"])))
        sup = person["supervisor_id"]
        if sup and sup not in checked.people and sup not in org.people:
            problems.append((line, Problem(UNKNOWN_SUPERVISOR, id=sup)))
        for named in (person["conflicts_with"] or "").split():
            if named not in checked.people and named not in org.people:
                problems.append((line, Problem(CONFLICT_UNKNOWN, id=named)))
        other_id = existing_emails.get(person["email"].lower())
        if other_id and other_id != pid and other_id not in checked.people:
            problems.append((line, Problem(EMAIL_TAKEN, email=person["email"], id=other_id)))
    chain = {pid: p["supervisor_id"] for pid, p in org.people.items()}
    chain.update({pid: p["supervisor_id"] for pid, p in checked.people.items()})
    for loop in _supervisor_cycles(chain):
        where = next((checked.lines[p] for p in loop if p in checked.lines), 0)
        problems.append((where, Problem(SUPERVISOR_LOOP, loop=" -> ".join([*loop, loop[0]]))))
    return problems


def _checked(session: Any, name: str, raw: bytes, progress: Progress = SILENT
             ) -> tuple[_Checked, _Organisation]:
    """The file checked against the organisation; OrgImportError naming every bad row."""
    rows = _read_rows(name, raw)
    progress.start("rows checked", len(rows))
    checked = _check_rows(counted(rows, progress))
    progress.done()
    org = _Organisation.read(session)
    for pid, person in checked.people.items():
        person.setdefault("conflicts_with", org.people.get(pid, {}).get("conflicts_with"))
    problems = checked.problems + _cross_check(checked, org)
    if problems:
        raise OrgImportError(name, sorted(set(problems)))
    return checked, org


COLUMN_OF = {"position_id": "position"}  # the file's name of a person's field


def _shown(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _open_evaluations(session: Any, person_ids: list[str]
                      ) -> dict[str, tuple[OpenEvaluation, ...]]:
    out: dict[str, list[OpenEvaluation]] = {}
    open_states = [s.value for s in OPEN_STATES]
    for start in range(0, len(person_ids), 500):  # a bound list of parameters per query
        chunk = person_ids[start:start + 500]
        for r in session.execute(
                select(EVALUATION.c.id, EVALUATION.c.cycle_id, EVALUATION.c.state,
                       EVALUATION.c.reviewee_id)
                .where(EVALUATION.c.reviewee_id.in_(chunk),
                       EVALUATION.c.state.in_(open_states)).order_by(EVALUATION.c.id)):
            out.setdefault(r.reviewee_id, []).append(
                OpenEvaluation(r.id, r.cycle_id, r.state))
    return {k: tuple(v) for k, v in out.items()}


Pairs = set[tuple[str, str]]


def _conflict_change(checked: _Checked, org: _Organisation
                     ) -> tuple[Pairs, Pairs, dict[str, frozenset[str]]]:
    """The conflicts the file adds and removes, and everyone's after it."""
    before = {pid: p.get("conflicts_with") for pid, p in org.people.items()}
    after = {**before, **{pid: p.get("conflicts_with") for pid, p in checked.people.items()}}
    added, removed = conflict_handover.conflict_pairs(before, after)
    return added, removed, recusal.conflict_map(after.items())


def _preview(session: Any, name: str, raw: bytes, svc: Service | None = None) -> OrgPreview:
    checked, org = _checked(session, name, raw)
    added, changed = [], []
    unchanged = 0
    for pid, person in checked.people.items():
        before = org.people.get(pid)
        if before is None:
            added.append(PersonLine(pid, person["full_name"], person["unit_id"]))
            continue
        changes = [FieldChange(COLUMN_OF.get(f, f), _shown(before.get(f)), _shown(person[f]))
                   for f in PERSON_FIELDS if before.get(f) != person[f]]
        if not before.get("active"):
            changes.append(FieldChange("active", "false", "true"))
        if changes:
            changed.append(PersonLine(pid, person["full_name"], person["unit_id"],
                                      tuple(changes)))
        else:
            unchanged += 1
    absent = sorted(set(org.people) - set(checked.people))
    # The people whose evaluations the admin should look at: those not in the file, and
    # those the file moves to another unit or supervisor.
    moved = [c.person_id for c in changed
             if any(f.field in ("unit_id", "supervisor_id") for f in c.changes)]
    opened = _open_evaluations(session, absent + moved)
    changed = [PersonLine(c.person_id, c.full_name, c.unit_id, c.changes,
                          opened.get(c.person_id, ())) for c in changed]
    not_in_file = tuple(PersonLine(pid, org.people[pid]["full_name"],
                                   org.people[pid]["unit_id"], (), opened.get(pid, ()))
                        for pid in absent)
    handovers: tuple[HandOver, ...] = ()
    removed: set[tuple[str, str]] = set()
    names: dict[str, str] = {}
    if svc is not None:
        new_pairs, removed, after = _conflict_change(checked, org)
        handovers = tuple(h for _, found in conflict_handover.plan(
            svc, session, new_pairs, after, lock=False) for h in found)
        named = load_people(session, {x for h in handovers for x in (
            h.reviewee_id, h.person_id, h.handed_to) if x})
        names = {pid: info.full_name for pid, info in named.items()}
    return OrgPreview(
        handovers=handovers, names=names,
        conflicts_removed=tuple(sorted(p for p in removed if p[0] < p[1])),
        file_name=name, digest=hashlib.sha256(raw).hexdigest(), fingerprint=org.fingerprint(),
        people=len(checked.people), added=tuple(added), changed=tuple(changed),
        unchanged=unchanged, not_in_file=not_in_file,
        units_added=tuple((u, n) for u, (n, _) in checked.units.items() if u not in org.units),
        units_renamed=tuple((u, org.units[u], n) for u, (n, _) in checked.units.items()
                            if u in org.units and org.units[u] != n),
        positions_added=tuple(t for t in checked.positions if t not in org.positions))


def preview_org(svc: Service, name: str, raw: bytes) -> OrgPreview:
    """What importing ``raw`` (the file called ``name``) would change; nothing is written.
    OrgImportError names every bad row with its line."""
    with svc.store.read() as session:
        return _preview(session, name, raw, svc)


def apply_org(svc: Service, name: str, raw: bytes, *, actor_id: str = "cli",
              now: datetime | None = None, expected_fingerprint: str | None = None,
              progress: Progress = SILENT) -> ImportReport:
    """Validate the whole file, then upsert it in one transaction; OrgImportError if bad,
    OrgChangedSincePreview if the organisation is no longer the one previewed.
    ``progress`` hears of the rows checked, then of the people written."""
    with svc.store.write() as session:
        return apply_in_session(session, name, raw, actor_id=actor_id, now=now or utc_now(),
                         expected_fingerprint=expected_fingerprint, progress=progress, svc=svc)


def apply_in_session(session: Any, name: str, raw: bytes, *, actor_id: str, now: datetime,
              expected_fingerprint: str | None, progress: Progress = SILENT,
              svc: Service | None = None) -> ImportReport:
    """``apply_org`` inside the caller's transaction (the web's staged upload is dropped
    in the same one). With ``svc``, the open evaluations the file's new conflicts of
    interest concern are handed on in the same transaction (``conflict_handover``)."""
    checked, org = _checked(session, name, raw, progress)
    if expected_fingerprint is not None and org.fingerprint() != expected_fingerprint:
        raise OrgChangedSincePreview(name)
    progress.start("people written", len(checked.people))
    report = _upsert(session, checked.people, checked.units, checked.positions,
                     org.people, org.units, org.positions, now, progress)
    progress.done()
    if svc is not None:
        new_pairs, _removed, after = _conflict_change(checked, org)
        planned = conflict_handover.plan(svc, session, new_pairs, after, lock=True)
        write(svc, session, conflict_handover.changes(
            svc, session, planned, file_name=Path(name).name, actor_id=actor_id, now=now))
        conflict_handover.hand_over_pool_timers(svc, session, planned, now)
        report.handovers = [h for _, found in planned for h in found]
    audit.append(session, [audit.AuditEntry(
        actor_id=actor_id, role="admin", at=now, trigger="org_import",
        reason=f"{Path(name).name}: {len(report.added)} added, "
               f"{len(report.changed)} changed",
        payload={"file": Path(name).name, "sha256": hashlib.sha256(raw).hexdigest(),
                 "people": sorted(checked.people)})])
    return report


def read_org_file(path: str | Path, cap: int = ORG_CAP) -> bytes:
    """The bytes of an organisation file, refused over ``cap`` or when unreadable."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > cap:
            raise OrgImportError(str(p), [(0, Problem(TOO_BIG, size=f"{size / MB:.1f}",
                                                      cap=f"{cap / MB:.0f}"))])
        return p.read_bytes()
    except FileNotFoundError:
        raise OrgImportError(str(p), [(0, "no such file")]) from None
    except IsADirectoryError:
        raise OrgImportError(str(p), [(0, "is a folder, not an organisation file")]) from None
    except OSError as exc:
        raise OrgImportError(str(p), [(0, f"cannot be read ({exc.strerror})")]) from None


def import_org(svc: Service, path: str | Path, *, actor_id: str = "cli",
               now: datetime | None = None, progress: Progress = SILENT) -> ImportReport:
    """`kpi org import`: read the file (capped), then ``apply_org``."""
    source = Path(path)
    return apply_org(svc, str(source), read_org_file(source),
                     actor_id=actor_id, now=now, progress=progress)


def _upsert(session: Any, people: dict[str, dict[str, Any]], units: dict[str, tuple[str, int]],
            positions: dict[str, tuple[str, int]], existing: dict[str, dict[str, Any]],
            existing_units: dict[str, str], existing_positions: dict[str, str],
            now: datetime, progress: Progress = SILENT) -> ImportReport:
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
    for pid, person in counted(people.items(), progress):
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
