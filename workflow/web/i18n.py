"""How a page picks its language, and the words a page needs for the engine's own ids.

Every text of a page comes from the message catalogue (``workflow.catalog``:
``_()`` in the templates, ``Req.gettext`` in the handlers). The language of a page
is, in order: the person's own choice (the switch on every page, a cookie), the
locale of the person the page is for (organisation CSV), the browser's
Accept-Language, Vietnamese.

What the engine hands over as ids (a state, a role, a flag, an outbox status, a quota
pool, an email event) is named here by a catalogue message, in the glossary's words
(``workflow/locale/glossary.md``), so that no id reaches a page. Errors are said by
their class (``KpiError.user_message``) and field problems by their ``Problem``
message, never by reading English text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal

from babel.numbers import format_decimal

from workflow import catalog, formatting
from workflow.catalog import N_
from workflow.domain import State
from workflow.errors import KpiError, Problem
from workflow.states.names import STATE_NAMES

LOCALES = catalog.LOCALES
DEFAULT_LOCALE = catalog.DEFAULT_LOCALE

CSRF_FAILED = N_("The form could not be checked (it is too old or was not sent from this "
                 "site). Nothing was saved: check the entries and send it again.")
SIGN_OUT_REFUSED = N_("Signing out could not be checked (the page was too old or the request "
                      "was not sent from this site), so nothing was ended. To sign out, use "
                      "“Sign out” on this page.")
LINK_MISMATCH = N_("This link belongs to another evaluation or task; nothing was saved.")
# What a page says for a problem or an error it has no catalogue message for: never
# the English text itself.
UNKNOWN_PROBLEM = N_("this value cannot be used")

# The glossary's names for the engine's ids, by kind.
TERMS: Mapping[str, Mapping[str, str]] = {
    "state": STATE_NAMES,
    "role": {
        "reviewee": N_("reviewee"),
        "peer": N_("peer"),
        "supervisor": N_("supervisor"),
        "acting_supervisor": N_("acting supervisor"),
        "escalation_supervisor": N_("escalated to you"),
        "calibrator": N_("calibrator"),
        "appeal_reviewer": N_("appeal reviewer"),
        "admin": N_("administrator"),
    },
    "flag": {
        "self_assessment_missing": N_("no self-assessment"),
        "peer_quorum_not_reached": N_("peer input withheld"),
        "escalated": N_("escalated"),
        "extended": N_("extended"),
        "reopened": N_("reopened"),
    },
    "outbox": {
        "pending": N_("waiting to be sent"),
        "sending": N_("being sent"),
        "sent": N_("sent"),
        "dead": N_("undeliverable"),
        "held": N_("held for the daily digest"),
        "folded": N_("sent in a daily digest"),
    },
    "peer": {
        "pending": N_("not answered yet"),
        "answered": N_("answered"),
        "withdrawn": N_("replaced"),
        "closed": N_("closed"),
    },
    "event": {
        "task_self_assessment": N_("self-assessment task"),
        "task_peer_input": N_("peer input task"),
        "task_supervisor_scoring": N_("scoring task"),
        "task_calibration": N_("calibration task"),
        "task_appeal_review": N_("appeal review task"),
        "reminder": N_("reminder"),
        "overdue": N_("overdue notice"),
        "escalation": N_("escalation"),
        "self_assessment_missed": N_("missed self-assessment"),
        "result": N_("result"),
        "appeal_lodged": N_("appeal lodged"),
        "appeal_decided": N_("appeal decided"),
        "finalised": N_("result final"),
        "cancelled": N_("evaluation cancelled"),
        "reopened": N_("evaluation reopened"),
        "extension_granted": N_("deadline extended"),
        "stepped_aside": N_("stepped aside (conflict of interest)"),
        "digest": N_("daily digest"),
        "sign_in": N_("sign-in link"),
    },
}
OTHER = N_("other")


def term(locale: str, kind: str, key: object) -> str:
    """The glossary's word for an engine id (a state, a role...) in ``locale``."""
    message = TERMS.get(kind, {}).get(str(key))
    return catalog.gettext(locale, message if message is not None else OTHER)


def pool_name(locale: str, pool: str) -> str:
    """A quota pool as people say it: "the agency", "task group B" (never ``task_group:B``)."""
    if pool == "agency":
        return catalog.gettext(locale, N_("the agency"))
    return catalog.gettext(locale, N_("task group %(group)s"), group=pool.partition(":")[2])


def translated(locale: str, message: str) -> bool:
    """Whether ``message`` is in ``locale``'s catalogue (English is the id itself)."""
    if locale == "en":
        return True
    known: dict[object, str] = getattr(catalog.translations(locale), "_catalog", {})
    return bool(known.get(message))


ValueSayer = Callable[[str, object], str]


def say(locale: str, message: str, params: Mapping[str, object], value: ValueSayer) -> str:
    """A catalogue message with its values said the page's way (``value(name, v)``); a
    message the catalogue lacks in ``locale`` becomes the generic one, never English."""
    if not translated(locale, message):
        message = UNKNOWN_PROBLEM
    # A value that is itself a catalogue message (the check's detail inside "key: detail")
    # is said in the same language.
    shown = {name: say(locale, v.message, v.params, value) if isinstance(v, Problem)
             else value(name, v) for name, v in params.items()}
    try:
        return catalog.gettext(locale, message, **shown)
    except (KeyError, ValueError, TypeError):  # a placeholder the values lack
        return catalog.gettext(locale, UNKNOWN_PROBLEM)


def say_problem(locale: str, problem: str, value: ValueSayer) -> str:
    """A field problem in the page's language (a plain text is already the page's own)."""
    if isinstance(problem, Problem):
        return say(locale, problem.message, problem.params, value)
    return problem


def say_error(locale: str, error: KpiError, value: ValueSayer) -> str:
    """An engine error as its class says it to people, in the page's language."""
    return say(locale, type(error).user_message, error.user_params(), value)


def plain_value(locale: str, name: str, value: object,
                when: Callable[[datetime], str], number: Callable[[object], str],
                label: Callable[[object], str]) -> str:
    """One value of a message, said as a page says it: states by the glossary, pools by
    name, instants in the reader's zone, numbers the locale's way, labels in its language."""
    if isinstance(value, State):
        return term(locale, "state", value)
    if name == "pools" and isinstance(value, tuple | list):
        return ", ".join(pool_name(locale, str(p)) for p in value)
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, Decimal | float):  # ints are ids and counts: never grouped
        return number(value)
    if hasattr(value, "vi") and hasattr(value, "en"):
        return label(value)
    return str(value)


def plain_number(value: object, locale: str) -> str:
    """A number as typed or set (a limit, what was entered): the locale's decimal sign,
    no places added, no grouping (10 stays 10; 8.555 is 8,555 in Vietnamese)."""
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return str(value)
    if not number.is_finite():
        return str(value)
    return format_decimal(number, locale=locale, decimal_quantization=False,
                          group_separator=False)


def pick_locale(choice: str | None, person_locale: str | None, accept_language: str | None
                ) -> str:
    """The page's language: the switch, then the person's locale, then the browser's."""
    for candidate in (choice, person_locale):
        if candidate in LOCALES:
            return str(candidate)
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LOCALES:
            return tag
    return DEFAULT_LOCALE


def local_time(instant: datetime | None, tz: str, locale: str) -> str:
    """An instant as the person reads it: their zone, their language, the zone named the
    same way as in mail (``workflow.formatting.date_time``)."""
    return formatting.date_time(instant, tz, locale)
