"""Issue 14: what people and files supply (names from the HR import, unit and cycle
names, reasons, notes, labels from regime and KPI files) reaches every email as
typed, and never as markup or as a format string.

Every event is rendered in both languages twice: once with plain markers, to learn
which values the event shows, then with hostile values. The HTML part must have the
very same elements and attributes as with the markers (nothing injected) and show
each hostile value literally as text; the text part and the subject must show it as
typed, a name on one line."""

from __future__ import annotations

import copy
from html.parser import HTMLParser
from typing import Any

import pytest

from notifications.render import EVENTS, LOCALES, Rendered
from tests.unit.test_templates import CONTEXTS, rendered

HOSTILE = (
    '"><img src=x onerror=alert(1)>',
    "<script>alert('x')</script> & \"quoted\" 'single' </td></table>",
    "{{ 7*7 }} {% if true %}x{% endif %} {# c #}",
    "%(cycle)s %(name)s %(num)s %s %d 100% %%",
    "Nguyễn <b>Văn</b> “A” & Co. — ${x} \\n",
)

# Where a value from people or files sits in a context: (key path, is one line).
FIELDS: tuple[tuple[str, bool], ...] = (
    ("reviewee_name", True), ("assignee_name", True), ("cycle_name", True),
    ("reason", False), ("appeal_reasons", False), ("decision_reason", False),
    ("class_label", True), ("breakdown.0.label", True), ("breakdown.1.label", True),
    ("items.0.reviewee_name", True), ("items.0.cycle_name", True),
    ("items.1.reviewee_name", True), ("items.1.cycle_name", True),
)


class _Page(HTMLParser):
    """Elements, attributes and the text a reader sees (character references decoded)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, tuple[str, ...]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, tuple(sorted(k for k, _ in attrs))))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def page(html: str) -> _Page:
    parsed = _Page()
    parsed.feed(html)
    parsed.close()
    return parsed


def _set(ctx: dict[str, Any], path: str, value: str) -> bool:
    """Put ``value`` at ``path``: a fact of the context (present or optional), or a
    place inside a list the context has (a breakdown line, a digest item)."""
    *parents, last = path.split(".")
    node: Any = ctx
    for part in parents:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and node.get(part):
            node = node[part]
        else:
            return False
    if not isinstance(node, dict) or (parents and last not in node):
        return False
    node[last] = {"en": value, "vi": value} if last in ("class_label", "label") else value
    return True


def _with(event: str, values: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    ctx = copy.deepcopy(CONTEXTS[event])
    placed = {path: value for path, value in values.items() if _set(ctx, path, value)}
    return ctx, placed


MARKERS = {path: f"Mk{i}x" for i, (path, _) in enumerate(FIELDS)}


def _shown(event: str, locale: str, recipient_id: str) -> tuple[Rendered, dict[str, str]]:
    """The plain rendering, and the markers (by path) the event shows."""
    ctx, placed = _with(event, MARKERS)
    out = rendered(event, locale, context=ctx, recipient_name="MkRecipient",
                   recipient_id=recipient_id)
    return out, {path: m for path, m in placed.items() if m in out.text or m in out.html}


@pytest.mark.parametrize("recipient_id", ["H1", "SNV012"])  # someone else / the reviewee
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("event", EVENTS)
def test_hostile_values_are_shown_as_typed_and_never_become_markup(
        event: str, locale: str, recipient_id: str) -> None:
    plain, shown = _shown(event, locale, recipient_id)
    assert shown or event == "sign_in", f"{event}: shows none of the values?"
    plain_tags = page(plain.html).tags
    one_line = dict(FIELDS)
    shown["recipient_name"] = "MkRecipient"
    for value in HOSTILE:
        values = {path: f"{value} {path}" for path in shown if path != "recipient_name"}
        ctx, _ = _with(event, values)
        out = rendered(event, locale, context=ctx, recipient_name=f"{value} to",
                       recipient_id=recipient_id)
        what = f"{event} ({locale}, to {recipient_id}) with {value!r}"
        parsed = page(out.html)
        # The same elements with the same attributes as with plain values: nothing
        # injected, nothing closed early.
        assert parsed.tags == plain_tags, what
        seen = "".join(parsed.text)
        values["recipient_name"] = f"{value} to"
        for path, marker in shown.items():
            typed = values[path]
            if marker in plain.html:
                assert typed in seen, f"{what}: {path} not shown as typed in the HTML"
            if marker in plain.text:
                assert typed in out.text, f"{what}: {path} not shown as typed in the text"
            if marker in plain.text and one_line.get(path, True):
                assert any(typed in line for line in out.text.splitlines()), what
            if marker in plain.subject:
                assert typed in out.subject, f"{what}: {path} not in the subject as typed"


@pytest.mark.parametrize("locale", LOCALES)
def test_the_issue_14_name_stays_text_in_every_email_that_shows_a_name(locale: str) -> None:
    evil = '"><img src=x onerror=alert(1)>'
    for event in ("reminder", "overdue", "extension_granted", "escalation",
                  "self_assessment_missed", "digest"):
        ctx = copy.deepcopy(CONTEXTS[event])
        ctx["reviewee_name"] = evil
        for item in ctx.get("items", ()):
            item["reviewee_name"] = evil
        ctx["state"] = ctx.get("state") or "supervisor_scoring"
        out = rendered(event, locale, context=ctx)
        parsed = page(out.html)
        assert "img" not in {t for t, _ in parsed.tags}, event
        assert not any(a.startswith("on") for _, attrs in parsed.tags for a in attrs), event
        assert evil in "".join(parsed.text), event
        assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in out.html, event


def test_a_name_with_line_breaks_stays_on_one_line_in_the_text_part() -> None:
    name = "Phạm Thị\nLan\u2028\r\nhttps://evil.example/x"
    out = rendered("task_supervisor_scoring", "vi",
                   context={"reviewee_name": name, "cycle_name": "Kỳ\n\nthử"})
    assert "Phạm Thị Lan https://evil.example/x" in out.text
    assert "https://evil.example/x" not in out.text.splitlines()
    assert "«Kỳ thử»" in out.text
