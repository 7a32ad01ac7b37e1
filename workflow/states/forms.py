"""Validation of what people submit, shared by the states. Pure.

Every checker collects its problems per field (``criteria.innovation.points``,
``tasks[2].title``) and raises one SubmissionInvalid listing them all, so a form
can show each wrong field at once and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from workflow.catalog import N_
from workflow.errors import Problem, SubmissionInvalid
from workflow.scoring.model import CriterionKind, Framework

TEXT_LIMIT = 4000
EVIDENCE_LIMIT = 2000
TITLE_LIMIT = 300
MAX_TASK_ITEMS = 200
MAX_COUNT = 100
TASK_KEYS = frozenset({"title", "completed", "meets_requirements", "failed_assessments",
                       "delays"})
WAIVERS = frozenset({"quality_waiver", "progress_waiver"})


class FieldErrors:
    """Collects per-field problems; ``raise_if_any`` raises them together. A problem is
    a catalogue message (marked with ``N_``) and its values, so a page can say it in
    its reader's language."""

    def __init__(self) -> None:
        self.errors: dict[str, Problem] = {}

    def add(self, field: str, problem: str, **params: object) -> None:
        self.errors.setdefault(field, Problem(problem, english=None, **params))

    def raise_if_any(self, evaluation_id: int | None = None) -> None:
        if self.errors:
            raise SubmissionInvalid(evaluation_id, dict(self.errors))


def _blank(value: object) -> bool:
    return value is None or value == "" or (isinstance(value, list | dict) and not value)


def refuse_unknown(payload: Mapping[str, Any], allowed: frozenset[str] | set[str],
                   errors: FieldErrors, prefix: str = "") -> None:
    """Every key of ``payload`` outside ``allowed`` is a problem, not silently dropped: a
    misspelt ``delay`` would otherwise lose the delays it meant to record. A blank one
    (what a web form sends for an input it shows but this form does not use) is let be."""
    for key in payload:
        if key not in allowed and not _blank(payload[key]):
            errors.add(f"{prefix}{key}", N_("unknown field: this form has no %(key)s"),
                       key=str(key)[:60])


def decimal_in_range(value: object, field: str, low: Decimal, high: Decimal,
                     errors: FieldErrors, places: int = 2) -> Decimal | None:
    """A number between low and high with at most ``places`` decimals."""
    if value is None or (isinstance(value, str) and not value.strip()):
        errors.add(field, N_("required"))
        return None
    if isinstance(value, bool):
        errors.add(field, N_("must be a number"))
        return None
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        errors.add(field, N_("%(value)s is not a number"), value=repr(str(value)[:40]))
        return None
    if not number.is_finite():
        errors.add(field, N_("must be a finite number"))
        return None
    if number < low or number > high:
        errors.add(field, N_("must be between %(low)s and %(high)s, got %(value)s"), low=low,
                   high=high, value=number)
        return None
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -places:
        errors.add(field, N_("at most %(places)s decimal places"), places=places)
        return None
    return number


def whole_number(value: object, field: str, errors: FieldErrors, high: int = MAX_COUNT) -> int:
    if value in (None, ""):
        return 0
    if isinstance(value, bool):
        errors.add(field, N_("must be a whole number"))
        return 0
    try:
        number = int(str(value).strip())
    except ValueError:
        errors.add(field, N_("%(value)s is not a whole number"), value=repr(str(value)[:40]))
        return 0
    if number < 0 or number > high:
        errors.add(field, N_("must be between %(low)s and %(high)s"), low=0, high=high)
        return 0
    return number


def flag(value: object, field: str, errors: FieldErrors) -> bool:
    if isinstance(value, bool):
        return value
    if value in (None, "", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    errors.add(field, N_("must be yes or no"))
    return False


def text(value: object, field: str, errors: FieldErrors, limit: int = TEXT_LIMIT,
         required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.add(field, N_("must be text"))
        return ""
    cleaned = value.replace("\r\n", "\n").strip()
    if "\x00" in cleaned:
        errors.add(field, N_("contains a NUL character"))
        return ""
    if required and not cleaned:
        errors.add(field, N_("required"))
    elif len(cleaned) > limit:
        errors.add(field, N_("at most %(limit)s characters, got %(count)s"), limit=limit,
                   count=len(cleaned))
    return cleaned


def mapping(value: object, field: str, errors: FieldErrors) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        errors.add(field, N_("must be a set of named values"))
        return {}
    return value


def criteria_points(payload: Mapping[str, Any], framework: Framework, errors: FieldErrors,
                    *, only_peer_rated: bool = False, required: bool = True,
                    with_evidence: bool = False) -> dict[str, dict[str, str]]:
    """Points per rubric criterion, within 0..max of each."""
    given = mapping(payload.get("criteria"), "criteria", errors)
    rubric = [c for c in framework.criteria if c.kind is CriterionKind.RUBRIC
              and (c.peer_rated or not only_peer_rated)]
    known = {c.id for c in rubric}
    for key in given:
        if key not in known:
            errors.add(f"criteria.{key}", N_("not a criterion of this form"))
    out: dict[str, dict[str, str]] = {}
    for c in rubric:
        entry = mapping(given.get(c.id), f"criteria.{c.id}", errors)
        refuse_unknown(entry, {"points", "evidence"} if with_evidence else {"points"}, errors,
                       f"criteria.{c.id}.")
        if not entry.get("points") and entry.get("points") != 0 and not required:
            continue
        points = decimal_in_range(entry.get("points"), f"criteria.{c.id}.points",
                                  Decimal(0), c.max, errors)
        item: dict[str, str] = {}
        if points is not None:
            item["points"] = str(points)
        if with_evidence:
            item["evidence"] = text(entry.get("evidence"), f"criteria.{c.id}.evidence",
                                    errors, EVIDENCE_LIMIT)
        out[c.id] = item
    return out


def ratio_actuals(payload: Mapping[str, Any], framework: Framework, errors: FieldErrors,
                  *, with_evidence: bool = False) -> dict[str, dict[str, str]]:
    given = mapping(payload.get("ratios"), "ratios", errors)
    ratios = [c for c in framework.criteria if c.kind is CriterionKind.RATIO]
    for key in given:
        if key not in {c.id for c in ratios}:
            errors.add(f"ratios.{key}", N_("not a criterion of this form"))
    out: dict[str, dict[str, str]] = {}
    for c in ratios:
        entry = mapping(given.get(c.id), f"ratios.{c.id}", errors)
        refuse_unknown(entry, {"actual", "evidence"} if with_evidence else {"actual"}, errors,
                       f"ratios.{c.id}.")
        actual = decimal_in_range(entry.get("actual"), f"ratios.{c.id}.actual",
                                  Decimal(0), Decimal(10) ** 9, errors)
        item: dict[str, str] = {}
        if actual is not None:
            item["actual"] = str(actual)
        if with_evidence:
            item["evidence"] = text(entry.get("evidence"), f"ratios.{c.id}.evidence", errors,
                                    EVIDENCE_LIMIT)
        out[c.id] = item
    return out


def task_items(payload: Mapping[str, Any], framework: Framework, errors: FieldErrors,
               *, with_waivers: bool = False, with_evidence: bool = False
               ) -> list[dict[str, Any]] | None:
    """The assigned items with their outcomes; None when the framework has no tasks."""
    if not any(c.kind is CriterionKind.TASKS for c in framework.criteria):
        if payload.get("tasks"):
            errors.add("tasks", N_("this form has no task items"))
        return None
    raw = payload.get("tasks") or []
    if not isinstance(raw, list):
        errors.add("tasks", N_("must be a list of items"))
        return []
    if len(raw) > MAX_TASK_ITEMS:
        errors.add("tasks", N_("at most %(count)s items"), count=MAX_TASK_ITEMS)
        return []
    items: list[dict[str, Any]] = []
    for i, entry in enumerate(raw):
        f = f"tasks[{i}]"
        if not isinstance(entry, Mapping):
            errors.add(f, N_("must be an item with a title and its outcome"))
            continue
        refuse_unknown(entry, TASK_KEYS | (WAIVERS if with_waivers else set())
                       | ({"evidence"} if with_evidence else set()), errors, f"{f}.")
        completed = flag(entry.get("completed"), f"{f}.completed", errors)
        item: dict[str, Any] = {
            "title": text(entry.get("title"), f"{f}.title", errors, TITLE_LIMIT, required=True),
            "completed": completed,
            "meets_requirements": flag(entry.get("meets_requirements"),
                                       f"{f}.meets_requirements", errors),
            "failed_assessments": whole_number(entry.get("failed_assessments"),
                                               f"{f}.failed_assessments", errors),
            "delays": whole_number(entry.get("delays"), f"{f}.delays", errors),
        }
        if item["meets_requirements"] and not completed:
            errors.add(f"{f}.meets_requirements",
                       N_("an item not completed cannot meet requirements"))
        # Delays and failed assessments are counted on a completed item's progress and
        # quality; on an item not completed they would be deducted from nothing.
        if not completed and item["delays"]:
            errors.add(f"{f}.delays", N_("an item not completed cannot have delays"))
        if not completed and item["failed_assessments"]:
            errors.add(f"{f}.failed_assessments",
                       N_("an item not completed cannot have failed assessments"))
        if with_evidence:
            item["evidence"] = text(entry.get("evidence"), f"{f}.evidence", errors,
                                    EVIDENCE_LIMIT)
        if with_waivers:
            for kind in ("quality_waiver", "progress_waiver"):
                waiver = entry.get(kind)
                if not waiver:
                    continue
                w = mapping(waiver, f"{f}.{kind}", errors)
                refuse_unknown(w, {"approver", "reason"}, errors, f"{f}.{kind}.")
                approver = text(w.get("approver"), f"{f}.{kind}.approver", errors, 200,
                                required=True)
                reason = text(w.get("reason"), f"{f}.{kind}.reason", errors, EVIDENCE_LIMIT,
                              required=True)
                item[kind] = {"approver": approver, "reason": reason}
        items.append(item)
    return items
