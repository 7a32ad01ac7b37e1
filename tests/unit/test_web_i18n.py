"""The web pages' words: every key used exists in both languages, with the same blanks."""

from __future__ import annotations

import re
import string

from workflow.settings import PROJECT_ROOT
from workflow.web import forms
from workflow.web.i18n import MESSAGES, pick_locale, problem

USED = re.compile(r"""\bt\(\s*["']([a-z_0-9]+)["']""")


def used_keys() -> set[str]:
    keys: set[str] = set()
    for path in [*(PROJECT_ROOT / "templates" / "web").glob("*.html"),
                 *(PROJECT_ROOT / "workflow" / "web").glob("*.py")]:
        keys |= set(USED.findall(path.read_text(encoding="utf-8")))
    return keys


def blanks(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_key_used_on_a_page_has_both_languages() -> None:
    used = used_keys()
    # A key ending in "_" is a prefix completed on the page (as_role_ + the role).
    prefixes = {k for k in used if k.endswith("_")}
    assert all(any(m.startswith(p) for m in MESSAGES) for p in prefixes)
    missing = used - prefixes - set(MESSAGES)
    assert not missing, f"add to workflow/web/i18n.py: {sorted(missing)}"


def test_both_languages_have_the_same_blanks_and_neither_is_empty() -> None:
    for key, (en, vi) in MESSAGES.items():
        if key.startswith("as_role_supervisor"):
            continue  # deliberately empty: the plain supervisor needs no note
        assert en.strip() and vi.strip(), key
        assert blanks(en) == blanks(vi), key


def test_language_is_the_choice_then_the_person_then_the_browser() -> None:
    assert pick_locale("en", "vi", "vi-VN") == "en"
    assert pick_locale(None, "en", "vi-VN") == "en"
    assert pick_locale("klingon", None, "en-GB,en;q=0.9") == "en"
    assert pick_locale(None, None, None) == "vi"


def test_engine_problems_are_said_in_vietnamese() -> None:
    assert problem("must be between 0 and 10, got 11", "vi") == "phải từ 0 đến 10, đã nhập 11"
    assert problem("'abc' is not a number", "vi") == "'abc' không phải là số"
    assert problem("required", "en") == "required"
    assert problem("something new", "vi") == "something new"


def test_form_fields_become_the_engine_payload_and_blank_rows_are_dropped() -> None:
    tree = forms.unflatten({"criteria.a.points": "1", "tasks[1].title": "x",
                            "tasks[0].title": "y", "bad..name": "z", "x[99999]": "w"})
    assert tree == {"criteria": {"a": {"points": "1"}}, "tasks": {1: {"title": "x"},
                                                                   0: {"title": "y"}}}
    items = forms.tasks_payload({0: {"title": "A", "completed": "1"}, 1: {"title": " "},
                                 2: {"title": "B", "quality_waiver": {"approver": "",
                                                                      "reason": ""}}})
    assert [i["title"] for i in items] == ["A", "B"]
    assert items[0]["completed"] is True and items[0]["meets_requirements"] is False
    assert "quality_waiver" not in items[1]
    back = forms.fields_from_payload({"criteria": {"a": {"points": "1"}},
                                      "tasks": [{"title": "A", "completed": True}]}, "score.")
    assert back == {"score.criteria.a.points": "1", "score.tasks[0].title": "A",
                    "score.tasks[0].completed": "1"}
