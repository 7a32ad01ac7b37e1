"""The message catalogue: every message used has its Vietnamese and English text."""

from __future__ import annotations

import re

import jinja2

from workflow import catalog


def _extracted() -> dict[str, catalog.Found]:
    found: dict[str, catalog.Found] = {}
    for item in catalog.extract():
        key = item.msgid if isinstance(item.msgid, str) else item.msgid[0]
        found.setdefault(key, item)
    return found


def test_every_message_used_has_a_vietnamese_and_an_english_text() -> None:
    found = _extracted()
    assert found, "no message extracted: the extraction is broken"
    for locale in catalog.LOCALES:
        known = catalog.catalog_ids(locale)
        missing = sorted(f"{item.where}: {key!r}" for key, item in found.items()
                         if key not in known)
        assert not missing, (f"{locale}: not in the catalogue (run `python -m workflow.catalog "
                             f"update` and translate): {missing[:20]}")
        empty = sorted(str(m.id) for m in catalog.untranslated(locale))
        assert not empty, f"{locale}: messages without a text: {empty[:20]}"


def test_a_plural_message_has_every_form_of_its_locale() -> None:
    for locale in catalog.LOCALES:
        for message in catalog.catalog_ids(locale).values():
            if message.pluralizable:
                forms = 1 if locale == "vi" else 2
                assert len(message.string) == forms, (locale, message.id)


def test_the_vietnamese_texts_address_people_as_anh_chi() -> None:
    # The glossary (workflow/locale/glossary.md): a civil servant is addressed as
    # "Anh/Chị" throughout, never the familiar "bạn".
    familiar = []
    for message in catalog.catalog_ids("vi").values():
        strings = [message.string] if isinstance(message.string, str) else message.string
        familiar += [str(message.id) for text in strings
                     if re.search(r"\bbạn\b", text or "", re.IGNORECASE)]
    assert not familiar, familiar[:10]


def test_the_catalogue_speaks_vietnamese_in_templates_and_escapes_values() -> None:
    env = catalog.install(jinja2.Environment(autoescape=True), "vi")
    page = env.from_string('{{ _("Skip to the content") }}|{{ _("%(n)s", n="<b>") }}').render()
    assert page.split("|")[0] == "Chuyển đến nội dung"
    assert page.split("|")[1] == "&lt;b&gt;"
    english = catalog.install(jinja2.Environment(autoescape=True), "en")
    assert english.from_string('{{ _("Skip to the content") }}').render() == \
        "Skip to the content"


def test_python_code_says_messages_in_the_asked_locale() -> None:
    assert catalog.gettext("vi", "Skip to the content") == "Chuyển đến nội dung"
    assert catalog.gettext("xx", "Skip to the content") == "Chuyển đến nội dung"  # default vi
