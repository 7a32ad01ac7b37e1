"""Rendering an outbox row into a subject, a text part and an HTML part.

One set of templates for every language: ``templates/email/<event>.{subject,txt,html}.j2``,
sharing ``_layout.{txt,html}.j2`` and the macros beside them. Every word comes from the
message catalogue (``workflow/locale/<locale>/LC_MESSAGES/email.po``) through
``jinja2.ext.i18n``: ``_("...%(name)s...", name=value)`` and ``ngettext`` where a count
is shown; the environment of a locale has that locale's catalogue, and the phrases that
depend on an evaluation's state (``notifications.phrases``).

The environment escapes every value in ``.html.j2`` templates and none in ``.txt.j2``
and subjects; the catalogue's texts escape the values put into them in HTML, and
nothing people or files supply is ever marked safe. An undefined name in a template
is an error (``StrictUndefined``), never an empty string. Dates are shown in the
recipient's time zone and language, with the zone named, because a deadline read in
the wrong zone is a missed deadline.

Rendering is pure: a row in, text out. A row the templates cannot render (a missing
fact, an unknown event, locale or state) raises ``RenderError``: the dispatcher parks it
as a dead letter with that message, since sending it again would fail the same way.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context

from notifications.phrases import Phrases, gettext_globals, known_state
from workflow import catalog, formatting
from workflow.errors import DeliveryError

LOCALES = ("vi", "en")
PARTS = ("subject", "txt", "html")

# Facts some events carry and others do not: present as None, so a template can say
# ``{% if reason %}`` while a misspelt name is still an error.
OPTIONAL: Mapping[str, Any] = {
    "action_url": None, "reason": None, "trigger": None, "cycle_id": None,
    "cycle_name": None, "period_start": None, "period_end": None, "evaluation_id": None,
    "reviewee_id": None, "reviewee_name": None, "state": None, "due_at": None,
    "cycle_timezone": None, "score": None, "class_id": None, "class_label": None,
    "breakdown": (), "calibration": None, "appeal_reasons": None, "decision": None,
    "decision_reason": None,
    "escalation_level": 0, "escalated_to": None, "assignee_name": None, "evaluations": None,
    "old_due_at": None, "timer_kind": None, "timer_seq": None, "expires_at": None,
    "items": (), "digest_at": None, "overdue_count": 0, "cycle_names": (),
    "noticed_at": None, "links_removed": False, "action": None, "also_waiting": 0,
    # The unit's publication (issue 17): its link, its date, the window counted from it.
    "publication_url": None, "published_at": None, "petition_window": None,
}

# What each event cannot do without. A row missing one of these is a bug upstream; it
# becomes a dead letter whose error names the fact, instead of a mail that says nothing.
REQUIRED: Mapping[str, tuple[str, ...]] = {
    "task_self_assessment": ("cycle_name", "due_at", "action_url"),
    "task_peer_input": ("cycle_name", "reviewee_name", "due_at", "action_url"),
    "task_supervisor_scoring": ("cycle_name", "reviewee_name", "due_at", "action_url"),
    "task_calibration": ("cycle_name", "due_at", "action_url", "evaluations"),
    "task_appeal_review": ("cycle_name", "reviewee_name", "due_at", "action_url"),
    "reminder": ("cycle_name", "state", "due_at"),
    "overdue": ("cycle_name", "state", "due_at"),
    "escalation": ("cycle_name", "state", "escalation_level"),
    # due_at, or petition_window when the window runs from the unit's publication.
    "result": ("cycle_name", "score", "class_label", "action_url"),
    "results_published": ("cycle_name", "published_at", "due_at", "action_url",
                          "publication_url"),
    "self_assessment_missed": ("cycle_name", "reviewee_name", "state"),
    "appeal_lodged": ("cycle_name", "reviewee_name"),
    "appeal_decided": ("cycle_name", "decision", "score", "class_label"),
    "finalised": ("cycle_name", "score", "class_label"),
    "cancelled": ("cycle_name", "reviewee_name"),
    "reopened": ("cycle_name",),
    "extension_granted": ("cycle_name", "state", "due_at", "old_due_at"),
    # a note to whoever a later conflict of interest takes a case from
    "stepped_aside": ("cycle_name", "reviewee_name", "steps_aside_from", "assignee_name"),
    "digest": ("items", "digest_at"),
    "sign_in": ("action_url", "expires_at"),
}
EVENTS = tuple(REQUIRED)

# Facts shown on one line (a name, a cycle's name): a line break or a control character
# in them, from a spreadsheet or a file, would make a line of its own in the text part.
ONE_LINE = ("reviewee_name", "assignee_name", "cycle_name")


class RenderError(DeliveryError):
    """An outbox row that cannot become an email; sending it again would fail the same way."""

    def __init__(self, outbox_id: int | None, event: str, locale: str, problem: str) -> None:
        self.outbox_id = outbox_id
        self.event = event
        self.problem = problem
        super().__init__(f"outbox row {outbox_id}: cannot render {event!r} in {locale!r}: "
                         f"{problem}")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def one_line(value: str) -> str:
    """A header-safe single line: control, format and line-separator characters become
    spaces, runs of white space one space (a name cannot smuggle a header in)."""
    text = unicodedata.normalize("NFC", value)
    # isprintable() is False for every character of the categories C (control,
    # format...) and Z (separators) except the ASCII space: the common case is fast.
    if not text.isprintable():
        text = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    return " ".join(text.split())


# --- formatting helpers, in the recipient's zone and language (workflow.formatting) -----


def local_time(value: Any, tz_name: str, locale: str) -> str:
    """'17:00 Thứ Năm, 07/05/2026 (Giờ Việt Nam)' / 'Thursday 7 May 2026, 17:00 (Vietnam
    Time)': the zone always named, the same way as on the web (``workflow.formatting``)."""
    return formatting.date_time(value, tz_name, locale)


def local_date(value: Any, tz_name: str, locale: str) -> str:
    return formatting.day(value, tz_name, locale)


def short_time(value: Any, tz_name: str, locale: str) -> str:
    """'17:00 07/05/2026' / '7 May 2026, 17:00': for subjects, where space is short."""
    return formatting.short_time(value, tz_name, locale)


def number(value: Any, locale: str) -> str:
    """A figure as shown (already rounded by the regime's display rule, e.g. "83.50"),
    written the locale's way: 83,50 in Vietnamese. Never rounded again here."""
    return formatting.shown_number(value, locale)


@pass_context
def _when(ctx: Context, value: Any) -> str:
    return local_time(value, ctx["timezone"], ctx["locale"])


@pass_context
def _day(ctx: Context, value: Any) -> str:
    return local_date(value, ctx["timezone"], ctx["locale"])


@pass_context
def _short(ctx: Context, value: Any) -> str:
    return short_time(value, ctx["timezone"], ctx["locale"])


@pass_context
def _num(ctx: Context, value: Any) -> str:
    return number(value, ctx["locale"])


@pass_context
def _label(ctx: Context, value: Any) -> str:
    """The recipient's language from a {"en": ..., "vi": ...} label (English if missing)."""
    return _pick(value, ctx["locale"])


def _localised(line: Mapping[str, Any], locale: str) -> dict[str, Any]:
    """A breakdown line as shown: its label in the locale, its points written the
    locale's way (None: not counted). The points come rounded by the regime's display
    rule (``display.shown_breakdown``); a row queued before that rule existed carries
    the stored digits, which are rounded here half-up to two places."""
    label = line.get("label")
    points = line.get("points")
    cmax = line.get("max")
    return {**line, "label": _pick(label, locale),
            "points": None if points is None else _line_figure(points, locale),
            "max": formatting.number(cmax, locale, 2, strip=True)}


def _line_figure(value: Any, locale: str) -> str:
    text = str(value)
    decimals = len(text.partition(".")[2])
    return number(text, locale) if decimals <= 4 else formatting.number(text, locale, 2)


def _pick(value: Any, locale: str) -> str:
    if isinstance(value, Mapping):
        return str(value.get(locale) or value.get("en") or "")
    return "" if value is None else str(value)


@lru_cache(maxsize=8)
def environment(templates_dir: Path, locale: str = "en") -> Environment:
    """One environment per templates folder and locale (with that locale's catalogue):
    autoescape on for HTML, strict names."""
    env = Environment(
        loader=FileSystemLoader(str(templates_dir / "email")),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False,
                                     default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        keep_trailing_newline=False,
    )
    env.filters.update(when=_when, day=_day, short=_short, num=_num, label=_label,
                       one_line=one_line)
    env.globals.update(Phrases(locale).globals())
    catalog.install(env, locale)  # the i18n extension: {% trans %} blocks, extraction
    env.globals.update(gettext_globals(locale))
    return env


# --- rendering ---------------------------------------------------------------------


def template_names(event: str) -> dict[str, str]:
    """The three templates of an event (one set for every language)."""
    return {part: f"{event}.{part}.j2" for part in PARTS}


def _check(outbox_id: int | None, event: str, locale: str, ctx: Mapping[str, Any],
           base_url: str) -> None:
    if locale not in LOCALES:
        raise RenderError(outbox_id, event, locale,
                          f"no templates for locale {locale!r}; known: {', '.join(LOCALES)}")
    if event not in REQUIRED:
        raise RenderError(outbox_id, event, locale,
                          f"no templates for event {event!r} (templates/email/)")
    missing = [k for k in REQUIRED[event] if ctx.get(k) is None]
    if event == "result" and ctx.get("due_at") is None and ctx.get("petition_window") is None:
        missing.append("due_at")
    if missing:
        raise RenderError(outbox_id, event, locale,
                          f"its context lacks {', '.join(missing)}")
    states = [ctx.get("state")] + [i.get("state") for i in ctx.get("items") or ()]
    unknown = [str(st) for st in states if st is not None and not known_state(st)]
    if unknown:  # the templates would have no words for it, and must not show the id
        raise RenderError(outbox_id, event, locale,
                          f"its state {unknown[0]!r} is not a state of the machine")
    for key in ("action_url",):
        url = ctx.get(key)
        if url is not None and not re.match(r"https?://[^\s/]+", str(url)):
            raise RenderError(outbox_id, event, locale, f"{key} {url!r} is not an absolute "
                              "http(s) link; set base_url (KPI_BASE_URL)")
    if not re.match(r"https?://[^\s/]+", base_url):
        raise RenderError(outbox_id, event, locale,
                          f"base_url {base_url!r} is not an absolute http(s) address")


def render(*, event: str, locale: str, timezone: str, recipient_name: str,
           context: Mapping[str, Any], base_url: str, templates_dir: Path,
           recipient_id: str | None = None, outbox_id: int | None = None) -> Rendered:
    """Subject, text and HTML of one email, in the recipient's language and time zone."""
    try:
        ZoneInfo(timezone)
    except (KeyError, ValueError):
        raise RenderError(outbox_id, event, locale, f"unknown time zone {timezone!r}") from None
    ctx: dict[str, Any] = {**OPTIONAL, **context}
    _check(outbox_id, event, locale, ctx, base_url)
    ctx.update(event=event, locale=locale, timezone=timezone, base_url=base_url.rstrip("/"),
               recipient_name=one_line(recipient_name), recipient_id=recipient_id,
               breakdown=[_localised(line, locale) for line in ctx["breakdown"] or ()])
    ctx.update(_single_lines(ctx))
    env = environment(templates_dir, locale)
    names = template_names(event)
    try:
        subject = one_line(env.get_template(names["subject"]).render(ctx))
        ctx["subject"] = subject
        text = tidy_text(env.get_template(names["txt"]).render(ctx))
        html = unicodedata.normalize("NFC", env.get_template(names["html"]).render(ctx))
    except TemplateNotFound as exc:
        raise RenderError(outbox_id, event, locale, f"template {exc.name} is missing") from None
    except TemplateError as exc:
        raise RenderError(outbox_id, event, locale, f"{type(exc).__name__}: {exc}") from None
    except (KeyError, ValueError, TypeError) as exc:
        # A catalogue text whose placeholders do not match what the template gives it
        # (a translation's typo): the same row would fail again, so it is a dead letter.
        raise RenderError(outbox_id, event, locale,
                          f"a catalogue text could not be filled in: {type(exc).__name__}: "
                          f"{exc}") from None
    if not subject:
        raise RenderError(outbox_id, event, locale, "the subject came out empty")
    return Rendered(subject, text, html)


def _single_lines(ctx: Mapping[str, Any]) -> dict[str, Any]:
    """The one-line facts of ``ctx`` (and of a digest's items) made single lines."""
    out: dict[str, Any] = {k: one_line(str(ctx[k])) for k in ONE_LINE if ctx.get(k) is not None}
    if ctx.get("items"):
        out["items"] = [{**item, **{k: one_line(str(item[k])) for k in ONE_LINE
                                    if item.get(k) is not None}} for item in ctx["items"]]
    return out


def tidy_text(text: str) -> str:
    """No trailing blanks, at most one empty line in a row, one final newline."""
    # Names may come decomposed (NFD) from a spreadsheet; mail clients show NFC best.
    # "-- " (with its space) is the signature separator clients recognise.
    lines = [line if line == "-- " else line.rstrip()
             for line in unicodedata.normalize("NFC", text).splitlines()]
    out: list[str] = []
    for line in lines:
        if not line and (not out or not out[-1]):
            continue
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n"
