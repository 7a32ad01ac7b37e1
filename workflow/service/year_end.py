"""The year-end classification: importing the periods a former agency sends.

The classification itself is a cycle of its own (DESIGN.md): a cycle file with
``period.kind: year`` and a framework whose criteria are ``period_mean`` (see
``config/frameworks/vn-year-end.yaml``), opened with `kpi cycle open` like any
other. Its score is the mean of the person's finalised period evaluations of the
year (``scoring_inputs.periods_of``), then it is calibrated against the quota and
goes through the appeal window like any evaluation.

What the database cannot know is a transferred person's periods at their former
agency. Decree 335: the agency where the person works at classification time
classifies them, and the old agency sends its monthly or quarterly results. This
module imports those results from a CSV, all or nothing, each bad row named.

CSV columns: ``employee_id, source_agency, period_start, period_end, status,
<one column per point group of the regime>, class_id, document``;
``status`` is ``worked`` (the group points are required) or ``leave`` (they are
empty: the period is left out of the mean); ``class_id`` (optional) is the class
the old agency gave; ``document`` is the old agency's dispatch that sent the results.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select
from sqlmodel import Session

from workflow.clock import utc_now
from workflow.domain import Role, State
from workflow.errors import CycleError, NotPermitted, PeriodImportError
from workflow.scoring.model import CriterionKind, Regime
from workflow.service.core import Service
from workflow.service.rules import CycleRules
from workflow.store import audit
from workflow.store.results import rows_matched
from workflow.store.tables import EVALUATION, IMPORTED, Cycle

FIXED_COLUMNS = ("employee_id", "source_agency", "period_start", "period_end", "status",
                 "class_id", "document")
OPEN_FOR_IMPORT = (State.SELF_ASSESSMENT.value, State.PEER_INPUT.value,
                   State.SUPERVISOR_SCORING.value)
TEXT_LIMIT = 300


@dataclass
class PeriodImportReport:
    cycle_id: str
    rows: int = 0
    people: list[str] = field(default_factory=list)
    replaced: int = 0  # rows of earlier imports replaced (``replace``)


def _date(value: str, column: str, problems: list[str]) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        problems.append(f"{column}: {value!r} is not a date (expected YYYY-MM-DD)")
        return None


def _points(value: str, column: str, maximum: Decimal, problems: list[str]) -> Decimal | None:
    try:
        number = Decimal(value.strip().replace(",", "."))
    except InvalidOperation:
        problems.append(f"{column}: {value!r} is not a number")
        return None
    if not number.is_finite() or number < 0 or number > maximum:
        problems.append(f"{column}: must be between 0 and {maximum}, got {value.strip()}")
        return None
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -6:
        problems.append(f"{column}: at most 6 decimal places")
        return None
    return number


def _row(raw: Mapping[str, str | None], regime: Regime, rules: CycleRules,
         problems: list[str]) -> dict[str, Any] | None:
    cell = {k: (v or "").strip() for k, v in raw.items() if k is not None}
    period = rules.config.period
    for column in ("employee_id", "source_agency", "period_start", "period_end", "document"):
        if not cell.get(column):
            problems.append(f"{column}: required")
        elif len(cell[column]) > TEXT_LIMIT:
            problems.append(f"{column}: at most {TEXT_LIMIT} characters")
    status = cell.get("status") or "worked"
    if status not in ("worked", "leave"):
        problems.append(f"status: {status!r} is not worked or leave")
    start = _date(cell["period_start"], "period_start", problems) if cell.get("period_start") \
        else None
    end = _date(cell["period_end"], "period_end", problems) if cell.get("period_end") else None
    if start and end:
        if end < start:
            problems.append(f"period_end: {end} is before period_start {start}")
        elif start < period.start or end > period.end:
            problems.append(f"the period {start} to {end} is not inside the cycle's period "
                            f"{period.start} to {period.end}")
    groups: dict[str, str] = {}
    for g in regime.groups:
        value = cell.get(g.id, "")
        if status == "leave":
            if value:
                problems.append(f"{g.id}: a leave period has no points; leave it empty")
        elif not value:
            problems.append(f"{g.id}: required for a period worked (0 to {g.max})")
        else:
            points = _points(value, g.id, g.max, problems)
            if points is not None:
                groups[g.id] = str(points)
    class_id = cell.get("class_id") or None
    known = [c.id for c in regime.classes]
    if class_id and class_id not in known:
        problems.append(f"class_id: {class_id!r} is not a class of regime {regime.id} "
                        f"({', '.join(known)})")
    if problems:
        return None
    total = sum((Decimal(v) for v in groups.values()), Decimal(0)) if groups else None
    return {"person_id": cell["employee_id"], "source_agency": cell["source_agency"],
            "period_start": start, "period_end": end, "status": status, "groups": groups,
            "total": None if total is None else str(total), "class_id": class_id,
            "document": cell["document"]}


def _read(path: Path, regime: Regime, rules: CycleRules
          ) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str]]]:
    problems: list[tuple[int, str]] = []
    rows: list[tuple[int, dict[str, Any]]] = []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise PeriodImportError(str(path), [(0, "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PeriodImportError(str(path), [(0, f"cannot be read as UTF-8 text ({exc})")]) \
            from None
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    expected = [*FIXED_COLUMNS, *(g.id for g in regime.groups)]
    missing = [c for c in expected if c not in header and c not in ("status", "class_id")]
    unknown = [c for c in header if c not in expected]
    if missing or unknown:
        what = "; ".join(filter(None, [
            f"missing column(s) {', '.join(missing)}" if missing else "",
            f"unknown column(s) {', '.join(unknown)}" if unknown else ""]))
        raise PeriodImportError(str(path), [(1, f"{what}; the columns are "
                                             f"{', '.join(expected)}")])
    for line, raw in enumerate(reader, start=2):
        row_problems: list[str] = []
        row = _row(raw, regime, rules, row_problems)
        problems.extend((line, p) for p in row_problems)
        if row is not None:
            rows.append((line, row))
    if not rows and not problems:
        problems.append((1, "no rows to import"))
    return rows, problems


def _check_rows(session: Session, cycle_id: str, rows: list[tuple[int, dict[str, Any]]],
                replace: bool, problems: list[tuple[int, str]]) -> dict[str, int]:
    people = sorted({r["person_id"] for _, r in rows})
    evaluations = {r.reviewee_id: r for r in session.execute(
        select(EVALUATION.c.id, EVALUATION.c.reviewee_id, EVALUATION.c.state)
        .where(EVALUATION.c.cycle_id == cycle_id, EVALUATION.c.reviewee_id.in_(people)))}
    existing = {(r.person_id, r.period_start): r for r in session.execute(
        select(IMPORTED.c.person_id, IMPORTED.c.period_start, IMPORTED.c.imported_by,
               IMPORTED.c.imported_at)
        .where(IMPORTED.c.cycle_id == cycle_id, IMPORTED.c.person_id.in_(people)))}
    seen: dict[str, list[tuple[int, date, date]]] = {}
    for line, r in rows:
        person, start, end = r["person_id"], r["period_start"], r["period_end"]
        ev = evaluations.get(person)
        if ev is None:
            problems.append((line, f"employee_id: {person} has no evaluation in cycle "
                                   f"{cycle_id}"))
            continue
        if ev.state not in OPEN_FOR_IMPORT:
            problems.append((line, f"employee_id: {person}'s evaluation {ev.id} is "
                                   f"{ev.state}; periods are imported before it is scored "
                                   "(reopen a finalised one first)"))
        for other_line, other_start, other_end in seen.get(person, []):
            if start <= other_end and other_start <= end:
                problems.append((line, f"overlaps the period of line {other_line} for {person}"))
        seen.setdefault(person, []).append((line, start, end))
        if not replace and (person, start) in existing:
            earlier = existing[(person, start)]
            problems.append((line, f"{person}'s period from {start} was already imported by "
                                   f"{earlier.imported_by} on {earlier.imported_at:%Y-%m-%d}; "
                                   "use --replace to replace that person's imported periods"))
    return {person: ev.id for person, ev in evaluations.items()}


def import_periods(svc: Service, cycle_id: str, path: str | Path, actor_id: str, *,
                   replace: bool = False, now: datetime | None = None) -> PeriodImportReport:
    """Import a former agency's period scores into a year-end cycle, all or nothing.

    With ``replace``, the periods imported earlier for the people of the file are
    replaced by the file's. Each person's import is an audit row on their evaluation.
    """
    now = now or utc_now()
    path = Path(path)
    with svc.store.write() as session:
        cycle = session.get(Cycle, cycle_id)
        if cycle is None:
            raise CycleError(f"cycle {cycle_id!r} does not exist; open the year-end cycle with "
                             "`kpi cycle open FILE` first")
        rules = svc.rules.get(session, cycle_id)
        if actor_id not in svc.admins(rules):
            raise NotPermitted(0, actor_id, "import periods",
                               f"only an admin of cycle {cycle_id} imports periods")
        if not any(fw.has(CriterionKind.PERIOD_MEAN) for fw in rules.frameworks.values()):
            raise CycleError(f"cycle {cycle_id} has no period_mean criterion: imported periods "
                             "are for a year-end cycle (framework vn-year-end)")
        rows, problems = _read(path, rules.regime, rules)
        evaluation_of = _check_rows(session, cycle_id, rows, replace, problems)
        if problems:
            raise PeriodImportError(str(path), sorted(problems))
        report = PeriodImportReport(cycle_id)
        people = sorted({r["person_id"] for _, r in rows})
        if replace:
            result = session.execute(delete(IMPORTED).where(
                IMPORTED.c.cycle_id == cycle_id, IMPORTED.c.person_id.in_(people)))
            report.replaced = rows_matched(result)
        session.execute(insert(IMPORTED), [
            {**r, "cycle_id": cycle_id, "imported_by": actor_id, "imported_at": now}
            for _, r in rows])
        entries = []
        for person in people:
            mine = [r for _, r in rows if r["person_id"] == person]
            agencies = ", ".join(sorted({r["source_agency"] for r in mine}))
            entries.append(audit.AuditEntry(
                actor_id=actor_id, role=Role.ADMIN.value, at=now, trigger="import_periods",
                evaluation_id=evaluation_of[person], cycle_id=cycle_id,
                reason=f"{len(mine)} period(s) from {agencies} ({path.name})",
                payload=[{k: str(v) for k, v in r.items()} for r in mine]))
        audit.append(session, entries)
        report.rows, report.people = len(rows), people
    return report
