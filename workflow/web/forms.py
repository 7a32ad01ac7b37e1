"""HTML form fields to the engine's payloads, and back.

Inputs are named by the path the engine uses for its problems
(``criteria.innovation.points``, ``tasks[2].title``), so every problem lands next to
its own input. Empty task rows are dropped (the form always offers a few spare
rows); an unticked checkbox sends nothing and means "no".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from workflow.scoring.model import CriterionKind, Framework

_PART = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d{1,4})\])?$")
TASK_FLAGS = ("completed", "meets_requirements")
TASK_TEXTS = ("title", "evidence", "failed_assessments", "delays")
MAX_TASK_ROWS = 200
SPARE_ROWS = 2


def unflatten(fields: Mapping[str, str], prefix: str = "") -> dict[str, Any]:
    """``{"a.b[1].c": "x"}`` to ``{"a": {"b": {1: {"c": "x"}}}}`` (indexes as int keys)."""
    out: dict[str, Any] = {}
    for full_name, value in fields.items():
        if not full_name.startswith(prefix):
            continue
        node: dict[Any, Any] = out
        parts = full_name[len(prefix):].split(".")
        keys: list[Any] = []
        for part in parts:
            m = _PART.match(part)
            if m is None:
                keys = []
                break
            keys.append(m.group(1))
            if m.group(2) is not None:
                keys.append(int(m.group(2)))
        if not keys:
            continue
        for key in keys[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = {}
                node[key] = child
            node = child
        node[keys[-1]] = value
    return out


def _row_is_blank(row: Mapping[str, Any]) -> bool:
    texts = [str(row.get(k) or "").strip() for k in TASK_TEXTS]
    waivers = [str(v or "").strip() for w in ("quality_waiver", "progress_waiver")
               for v in (row.get(w) or {}).values()] if any(
                   isinstance(row.get(w), dict) for w in ("quality_waiver", "progress_waiver")
               ) else []
    return not any(texts) and not any(row.get(k) for k in TASK_FLAGS) and not any(waivers)


def tasks_payload(raw: Any) -> list[dict[str, Any]]:
    """The task rows in index order, blank rows dropped, flags and waivers as the engine wants."""
    if not isinstance(raw, dict):
        return []
    items: list[dict[str, Any]] = []
    for index in sorted(k for k in raw if isinstance(k, int))[:MAX_TASK_ROWS]:
        row = raw[index]
        if not isinstance(row, dict) or _row_is_blank(row):
            continue
        item: dict[str, Any] = {k: row.get(k, "") for k in TASK_TEXTS}
        # Anything else posted for the row goes to the engine, which refuses what it does
        # not know (a crafted or misspelt field is said, not dropped).
        item.update({k: v for k, v in row.items() if isinstance(k, str)
                     and k not in (*TASK_TEXTS, *TASK_FLAGS, "quality_waiver", "progress_waiver")})
        for flag in TASK_FLAGS:
            item[flag] = flag in row and row[flag] not in ("", "0")
        for waiver in ("quality_waiver", "progress_waiver"):
            w = row.get(waiver)
            if isinstance(w, dict) and any(str(v).strip() for v in w.values()):
                item[waiver] = {"approver": w.get("approver", ""), "reason": w.get("reason", "")}
        items.append(item)
    return items


def payload(fields: Mapping[str, str], framework: Framework, *, prefix: str = "",
            texts: tuple[str, ...] = ()) -> dict[str, Any]:
    """A submission from form fields: criteria, ratios, tasks, and the named text fields."""
    tree = unflatten(fields, prefix)
    out: dict[str, Any] = {}
    if isinstance(tree.get("criteria"), dict):
        out["criteria"] = {k: v for k, v in tree["criteria"].items() if isinstance(v, dict)}
    if isinstance(tree.get("ratios"), dict):
        out["ratios"] = {k: v for k, v in tree["ratios"].items() if isinstance(v, dict)}
    if any(c.kind is CriterionKind.TASKS for c in framework.criteria):
        out["tasks"] = tasks_payload(tree.get("tasks"))
    for name in texts:
        out[name] = fields.get(prefix + name, "")
    return out


def fields_from_payload(data: Mapping[str, Any] | None, prefix: str = "") -> dict[str, str]:
    """A stored submission as form field values (to prefill a form from it)."""
    out: dict[str, str] = {}
    if not data:
        return out
    for group in ("criteria", "ratios"):
        for cid, entry in (data.get(group) or {}).items():
            if isinstance(entry, Mapping):
                for key, value in entry.items():
                    if value is not None:
                        out[f"{prefix}{group}.{cid}.{key}"] = str(value)
    for i, item in enumerate(data.get("tasks") or []):
        if not isinstance(item, Mapping):
            continue
        for key in TASK_TEXTS:
            value = item.get(key)
            if value not in (None, ""):
                out[f"{prefix}tasks[{i}].{key}"] = str(value)
        for flag in TASK_FLAGS:
            if item.get(flag):
                out[f"{prefix}tasks[{i}].{flag}"] = "1"
        for waiver in ("quality_waiver", "progress_waiver"):
            w = item.get(waiver)
            if isinstance(w, Mapping):
                for key in ("approver", "reason"):
                    out[f"{prefix}tasks[{i}].{waiver}.{key}"] = str(w.get(key) or "")
    for key in ("note", "comment"):
        if isinstance(data.get(key), str):
            out[prefix + key] = data[key]
    return out


def task_rows(values: Mapping[str, str], prefix: str = "", extra: int = 0) -> int:
    """How many task rows to show: the filled ones, then a few spare."""
    highest = -1
    pattern = re.compile(re.escape(prefix) + r"tasks\[(\d{1,4})\]\.")
    for name in values:
        m = pattern.match(name)
        if m:
            highest = max(highest, int(m.group(1)))
    return min(MAX_TASK_ROWS, highest + 1 + SPARE_ROWS + extra)


def prefixed_errors(errors: Mapping[str, str], prefix: str) -> dict[str, str]:
    """Problems of a nested submission (``score.criteria...``) under the form's field names."""
    return {f"{prefix}{k}" if k != "_form" else k: v for k, v in errors.items()}
