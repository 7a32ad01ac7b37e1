"""What a reader of an email sees, and whether it is in the right language with no
internal names in it: used by the unit and integration tests of the emails."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from html.parser import HTMLParser
from typing import Any

# Words of English sentences that no Vietnamese sentence of ours uses (short
# Vietnamese syllables without diacritics, like "do" or "cho", are not in the list).
_ENGLISH_WORDS = """
the and your you is are for of has have been by was with this that please score scored
scoring evaluation evaluations deadline appeal appealed reminder link class not step due
overdue result sign reviewer supervisor peer self assessment calibration reason now new
will from it its at on be or any what waits wait today email message system dear input
work colleague open give see review answer escalation next ends note received final
record thank expires until only when who which here button copy address browser
personal forward cancelled reopened extended revised upheld decided lodged criterion
points counted period civil servant responsible missing summary
"""
ENGLISH = frozenset(_ENGLISH_WORDS.split())

# Internal names: ids in snake_case (states, classes, triggers, events, reason keys),
# dotted field paths and file keys, pool keys, commands.
INTERNAL = (
    re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b"),
    re.compile(r"\b[a-z_]+\.[a-z0-9_]+\b"),
    re.compile(r"task_group|\bagency:|\bkpi [a-z]"),
)
URL = re.compile(r"https?://\S+")


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(html: str) -> str:
    """The words of an HTML part as a reader sees them (the title included)."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return " ".join(reader.parts)


def without(text: str, values: Iterable[str]) -> str:
    """``text`` with the values people and files supplied (names, reasons...) and the
    links taken out: what is left is the system's own words."""
    for value in sorted((v for v in values if v), key=len, reverse=True):
        text = text.replace(value, " ")
        for line in value.splitlines():
            if line.strip():
                text = text.replace(line.strip(), " ")
    return URL.sub(" ", text)


def english_words(text: str) -> list[str]:
    """English words found in a text meant to be Vietnamese."""
    return [w for w in re.findall(r"[A-Za-z]+", text) if w.lower() in ENGLISH]


def internal_names(text: str) -> list[str]:
    """Ids, field paths, pool keys or commands found in a text meant for people."""
    # A bare id that is also a word ("cancelled", "completed") is only an id in
    # Vietnamese, where the English check finds it; a snake_case one always is.
    return sorted({m.group(0) for pattern in INTERNAL for m in pattern.finditer(text)})


def vietnamese_letters(text: str) -> list[str]:
    """Letters of Vietnamese (or any non-English) text found in an English text."""
    return [c for c in text if c.isalpha() and ord(c) > 127]


def supplied(row: Mapping[str, Any]) -> list[str]:
    """What people and files put into an outbox row: names, the cycle's name, reasons,
    labels (both languages): to take out before looking at the system's words."""
    ctx = row["context"]
    out = [row["recipient_name"]]
    out += [str(ctx.get(k) or "") for k in ("reviewee_name", "assignee_name", "cycle_name",
                                            "reason", "appeal_reasons", "decision_reason")]
    labels = [ctx.get("class_label") or {}] + [line["label"] for line in
                                                ctx.get("breakdown") or ()]
    out += [text for label in labels for text in label.values()]
    out += [str(i.get(k) or "") for i in ctx.get("items") or ()
            for k in ("reviewee_name", "cycle_name")]
    note = ctx.get("calibration") or {}  # a calibration move: its reason and class labels
    out += [str(note.get(k) or "") for k in ("reason", "restore_reason")]
    out += [text for k in ("by_score", "final") for text in (note.get(k) or {}).values()]
    return out

