"""The web pages' words: every text comes from the catalogue, ids are named by the
glossary, and engine errors and field problems are said by their class and message."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

from workflow import catalog, errors
from workflow.errors import Problem, SubmissionInvalid
from workflow.settings import PROJECT_ROOT
from workflow.states.forms import FieldErrors, decimal_in_range
from workflow.web import forms, i18n
from workflow.web.i18n import pick_locale

# What an English text or an id looks like where the catalogue should have been used:
# the old dictionary's t("key") calls, or a key-like id handed to _().
OLD_CALL = re.compile(r"""(?<![\w.])t\(\s*["'][a-z_0-9]+["']""")
KEY_LIKE = re.compile(r"""_\(\s*["'][a-z]+_[a-z_]+["']\s*\)""")


def _sayer(locale: str) -> i18n.ValueSayer:
    def value(_name: str, v: object) -> str:
        return i18n.plain_value(locale, _name, v, lambda d: d.isoformat(), str,
                                lambda lab: str(getattr(lab, locale, lab)))
    return value


def test_no_page_or_handler_uses_the_old_dictionary_or_a_key_for_a_text() -> None:
    for path in [*(PROJECT_ROOT / "templates" / "web").glob("*.html"),
                 *(PROJECT_ROOT / "workflow" / "web").glob("*.py")]:
        text = path.read_text(encoding="utf-8")
        assert not OLD_CALL.search(text), f"{path.name}: t('key') is gone, use _()"
        assert not KEY_LIKE.search(text), f"{path.name}: _() takes the English text"


def test_every_id_the_glossary_names_has_both_languages() -> None:
    for kind, names in i18n.TERMS.items():
        for key in names:
            vi, en = i18n.term("vi", kind, key), i18n.term("en", kind, key)
            assert vi and en and vi != en, (kind, key)
    assert i18n.term("vi", "state", "appeal_window") == "Thời hạn kiến nghị"
    assert i18n.term("vi", "state", "calibration") == "Rà soát tỷ lệ xếp loại"
    assert i18n.term("vi", "state", "no_such_state") == "khác"  # never the id itself
    assert i18n.pool_name("vi", "task_group:B") == "nhóm nhiệm vụ B"
    assert i18n.pool_name("en", "agency") == "the agency"


def test_language_is_the_choice_then_the_person_then_the_browser() -> None:
    assert pick_locale("en", "vi", "vi-VN") == "en"
    assert pick_locale(None, "en", "vi-VN") == "en"
    assert pick_locale("klingon", None, "en-GB,en;q=0.9") == "en"
    assert pick_locale(None, None, None) == "vi"


def test_field_problems_are_said_by_their_message_not_by_their_english() -> None:
    found = FieldErrors()
    decimal_in_range("11", "criteria.x.points", Decimal(0), Decimal(10), found)
    decimal_in_range("abc", "criteria.y.points", Decimal(0), Decimal(10), found)
    decimal_in_range("", "criteria.z.points", Decimal(0), Decimal(10), found)
    out_of_range = found.errors["criteria.x.points"]
    assert str(out_of_range) == "must be between 0 and 10, got 11"  # the CLI's English
    vi = _sayer("vi")
    assert i18n.say_problem("vi", out_of_range, vi) == "phải từ 0 đến 10, đã nhập 11"
    assert i18n.say_problem("vi", found.errors["criteria.y.points"], vi) == \
        "'abc' không phải là số"
    assert i18n.say_problem("vi", found.errors["criteria.z.points"], vi) == "bắt buộc nhập"
    assert i18n.say_problem("en", found.errors["criteria.z.points"], _sayer("en")) == \
        "required"
    # A text the catalogue does not know never reaches a Vietnamese page in English.
    unknown = SubmissionInvalid(1, {"x": "something new"}).fields["x"]
    assert isinstance(unknown, Problem)
    assert i18n.say_problem("vi", unknown, vi) == "giá trị này không dùng được"


def test_errors_are_said_by_their_class_with_their_values() -> None:
    vi = _sayer("vi")
    refused = errors.TransitionNotAllowed(7, "lodge_appeal", "finalised")
    assert "finalised" in str(refused)  # the CLI keeps the ids
    said = i18n.say_error("vi", refused, vi)
    assert "Đã hoàn tất" in said and "finalised" not in said and "lodge" not in said
    quota = errors.QuotaNotHeld("snv-2026-04", [("agency", 3, 1, 5), ("task_group:B", 2, 0, 1)],
                                "Xuất sắc", "Tốt")
    assert "task_group:B" in str(quota)
    said = i18n.say_error("vi", quota, vi)
    assert "toàn cơ quan, nhóm nhiệm vụ B" in said and "task_group" not in said
    assert "snv-2026-04" not in said
    missing = errors.PersonNotFound("SNV999")
    assert "kpi org import" in str(missing)
    said = i18n.say_error("vi", missing, vi)
    assert "SNV999" in said and "kpi" not in said
    # An error class without a message of its own says its parent's, never its English.
    class Odd(errors.WorkflowError):
        pass
    said = i18n.say_error("vi", Odd("an English sentence"), vi)
    assert said == catalog.gettext("vi", errors.WorkflowError.user_message)
    late = errors.AlreadyAppealed(3, datetime(2026, 5, 7, 3, tzinfo=UTC))
    assert "2026-05-07" in i18n.say_error("en", late, _sayer("en"))


def test_every_error_class_says_its_message_in_both_languages() -> None:
    from workflow.service import access

    classes = {c for c in vars(errors).values()
               if isinstance(c, type) and issubclass(c, errors.KpiError)}
    classes |= {c for c in vars(access).values()
                if isinstance(c, type) and issubclass(c, errors.KpiError)}
    for cls in classes:
        message = cls.user_message
        assert i18n.translated("vi", message), f"{cls.__name__}: {message!r} lacks Vietnamese"
        assert "kpi " not in message and "`" not in message, cls.__name__


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
