"""The message catalogue: every word people read, in Vietnamese and English.

One gettext catalogue per locale, kept as ``.po`` files under
``workflow/locale/<locale>/LC_MESSAGES/``. The message ids are the English texts
(what the templates and the code say); ``en`` repeats them so that English wording
can be refined without touching the templates, ``vi`` translates them. Several
``.po`` files of one locale (one per surface: ``web``, ``email``, ``reports``,
``engine``) are merged into one catalogue when loaded; which file a message lives in
is decided by where it is used (``DOMAINS``), so ``update`` knows where to put it.

The catalogue is compiled to ``.mo`` files by ``python -m workflow.catalog compile``,
which the install runs (Makefile); a catalogue whose ``.mo`` is missing or older than
its ``.po`` is compiled in memory instead, so a checkout is never read stale.

Jinja environments get the catalogue through ``jinja2.ext.i18n`` (``install``):
``{% trans %}...{% endtrans %}``, ``_("...")``, ``ngettext(...)`` with new-style
``%(name)s`` placeholders, autoescaped in HTML. Python code marks texts with ``N_``
(a no-op, found by extraction) and says them with ``gettext(locale, msgid, **values)``.

This module reads files only at load time and does no other IO.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatch
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.support import Translations

if TYPE_CHECKING:  # the pure layers say messages without loading Jinja
    import jinja2

LOCALES = ("vi", "en")
DEFAULT_LOCALE = "vi"
PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
LOCALE_DIR = PACKAGE / "locale"

# Which catalogue file a message belongs to, by the file it is used in (first match).
DOMAINS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("web", ("templates/web/**", "workflow/web/**")),
    ("email", ("templates/email/**", "notifications/**")),
    ("reports", ("templates/reports/**", "workflow/reports/**", "workflow/scoring/**")),
    ("engine", ("workflow/**",)),
)
# Where messages are looked for, and how (Babel's extraction methods).
SOURCES: tuple[tuple[str, str], ...] = (
    ("templates", "jinja2"),
    ("workflow", "python"),
    ("notifications", "python"),
)
# No pgettext: the catalogue keys messages by their English text alone (no contexts), so
# a keyword that takes a context would be extracted with its context silently dropped.
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "NP_": (1, 2)}
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "trim_blocks": "true",
                 "lstrip_blocks": "true", "newstyle_gettext": "true"}


def N_(message: str) -> str:  # noqa: N802 (gettext's conventional name)
    """Mark a text for the catalogue without translating it here (extraction finds it)."""
    return message


def NP_(singular: str, plural: str) -> tuple[str, str]:  # noqa: N802
    """Mark a singular and plural pair for the catalogue."""
    return singular, plural


# --- loading -----------------------------------------------------------------------


def po_files(locale: str) -> list[Path]:
    return sorted((LOCALE_DIR / locale / "LC_MESSAGES").glob("*.po"))


def _compiled(po: Path) -> bytes:
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        return mo.read_bytes()
    out = BytesIO()
    write_mo(out, read_catalog(po), use_fuzzy=False)
    return out.getvalue()


def read_catalog(po: Path) -> Catalog:
    with po.open("rb") as handle:
        return read_po(handle, locale=po.parent.parent.name, abort_invalid=True)


@lru_cache(maxsize=len(LOCALES) + 1)
def translations(locale: str) -> Translations:
    """The locale's whole catalogue (every ``.po`` file of it merged)."""
    if locale not in LOCALES:
        locale = DEFAULT_LOCALE
    merged: Translations | None = None
    for po in po_files(locale):
        part = Translations(BytesIO(_compiled(po)), domain="messages")
        merged = part if merged is None else merged.merge(part)
    return merged if merged is not None else Translations()


def gettext(locale: str, message: str, /, **values: object) -> str:
    """``message`` in ``locale``, with ``%(name)s`` placeholders filled from ``values``."""
    text = translations(locale).ugettext(message)
    return text % values if values else text


def ngettext(locale: str, singular: str, plural: str, count: int, /, **values: object) -> str:
    """The form of ``singular``/``plural`` for ``count`` in ``locale`` (``%(num)s`` is the
    count, as in Jinja's ``{% trans %}``)."""
    text = translations(locale).ungettext(singular, plural, count)
    return text % {"num": count, **values}


def install(env: jinja2.Environment, locale: str) -> jinja2.Environment:
    """Give ``env`` the i18n extension and the catalogue of ``locale``."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    return env


# --- extraction, update, compile (for developers and the install) --------------------


@dataclass(frozen=True)
class Found:
    """A message used somewhere: its id (a str, or the (singular, plural) pair)."""

    msgid: str | tuple[str, str]
    domain: str
    where: str  # path:line, for the error a check prints
    comments: tuple[str, ...] = ()


def domain_of(path: str) -> str:
    for domain, patterns in DOMAINS:
        if any(fnmatch(path, pattern) for pattern in patterns):
            return domain
    return "engine"


def extract() -> Iterator[Found]:
    """Every message the templates and the code use, with the file it belongs to."""
    for folder, method in SOURCES:
        base = ROOT / folder
        if not base.is_dir():
            continue
        method_map = [("**.py", "python")] if method == "python" else [
            ("**.html", "jinja2"), ("**.j2", "jinja2")]
        options = {"**.html": JINJA_OPTIONS, "**.j2": JINJA_OPTIONS} if method == "jinja2" \
            else {}
        for filename, lineno, msgid, comments, _context in extract_from_dir(
                str(base), method_map, options, keywords=KEYWORDS, comment_tags=("L10N:",),
                strip_comment_tags=True):
            path = f"{folder}/{filename}"
            if path.startswith("templates/") and "/static/" in path:
                continue
            ident: str | tuple[str, str] = msgid if isinstance(msgid, str) else \
                (msgid[0], msgid[1])
            yield Found(ident, domain_of(path), f"{path}:{lineno}", tuple(comments))


# A fixed header: regenerating a catalogue changes only the lines of its messages.
HEADER = ("# The kpi-workflow message catalogue (see workflow/catalog.py).\n"
          "# Add messages with `python -m workflow.catalog update`, then translate them.")
STABLE_DATE = datetime(2026, 1, 1, tzinfo=UTC)


def _key(msgid: str | Sequence[str]) -> str:
    return msgid if isinstance(msgid, str) else msgid[0]


def update() -> dict[str, int]:
    """Add every extracted message to its catalogue file in each locale (English filled
    with the id itself, Vietnamese empty, to translate); keep what is translated; drop
    messages nothing uses any more. Returns how many messages each locale lacks."""
    found: dict[str, dict[str, Found]] = {}
    for item in extract():
        found.setdefault(item.domain, {}).setdefault(_key(item.msgid), item)
    lacking: dict[str, int] = {}
    for locale in LOCALES:
        # A message used on two surfaces is said the same on both: a text already
        # translated in another file of the locale is reused.
        elsewhere = {_key(m.id): m for po in po_files(locale) for m in read_catalog(po)
                     if m.id and _filled(m)}
        for domain, _patterns in DOMAINS:
            po = LOCALE_DIR / locale / "LC_MESSAGES" / f"{domain}.po"
            old = read_catalog(po) if po.exists() else None
            new = Catalog(locale=locale, domain=domain, project="kpi-workflow",
                          version="1", charset="utf-8", fuzzy=False, header_comment=HEADER,
                          creation_date=STABLE_DATE, revision_date=STABLE_DATE,
                          copyright_holder="kpi-workflow", msgid_bugs_address="",
                          last_translator="kpi-workflow", language_team=locale)
            for _key_text, item in sorted(found.get(domain, {}).items()):
                kept = old.get(item.msgid) if old is not None else None
                if kept is None or not _filled(kept):
                    kept = elsewhere.get(_key(item.msgid), kept)
                string: str | Sequence[str]
                if kept is not None and kept.string and (isinstance(kept.string, str) or
                                                         all(kept.string)):
                    string = kept.string
                elif locale == "en":
                    string = item.msgid
                else:
                    string = "" if isinstance(item.msgid, str) else ("",) * new.num_plurals
                path, line = item.where.rsplit(":", 1)
                new.add(item.msgid, string, locations=[(path, int(line))],
                        auto_comments=item.comments)
                if not string or (not isinstance(string, str) and not all(string)):
                    lacking[locale] = lacking.get(locale, 0) + 1
            if not len(new) and old is None:
                continue
            po.parent.mkdir(parents=True, exist_ok=True)
            with po.open("wb") as handle:
                write_po(handle, new, width=100, sort_output=True, include_lineno=False,
                         omit_header=False)
    return lacking


def _filled(message: Message) -> bool:
    strings = [message.string] if isinstance(message.string, str) else \
        list(message.string or ())
    return bool(strings) and all(strings)


def compile_all() -> int:
    """Write the ``.mo`` beside every ``.po``; the number written."""
    count = 0
    for locale in LOCALES:
        for po in po_files(locale):
            with po.with_suffix(".mo").open("wb") as handle:
                write_mo(handle, read_catalog(po), use_fuzzy=False)
            count += 1
    return count


def untranslated(locale: str) -> list[Message]:
    """Messages of ``locale``'s catalogue files that have no text in it."""
    out: list[Message] = []
    for po in po_files(locale):
        for message in read_catalog(po):
            if not message.id:
                continue
            strings = [message.string] if isinstance(message.string, str) else \
                list(message.string or ())
            if not all(strings):
                out.append(message)
    return out


def catalog_ids(locale: str) -> Mapping[str, Message]:
    return {_key(m.id): m for po in po_files(locale) for m in read_catalog(po) if m.id}


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "compile"
    if command == "compile":
        sys.stdout.write(f"compiled {compile_all()} catalogue files\n")
        return 0
    if command == "update":
        lacking = update()
        for locale, count in sorted(lacking.items()):
            sys.stdout.write(f"{locale}: {count} messages to translate\n")
        return 0
    sys.stderr.write("usage: python -m workflow.catalog [compile|update]\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
