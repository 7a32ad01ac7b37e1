"""What every request handler works with: the app's parts (``Web``) and one request (``Req``).

``Req`` knows who is asking (a signed-in person, or the holder of a personal link),
the page's language, the CSRF value, and renders a template with the helpers every
page uses. Handlers stay short: read, call the service, render.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import UploadFile

from workflow import catalog, formatting
from workflow.domain import State
from workflow.errors import KpiError
from workflow.scoring.model import Labels, Regime
from workflow.service import lookups, sessions
from workflow.service.core import PersonInfo, Service
from workflow.service.sweep import SweepReport
from workflow.service.transition import shown_or_none
from workflow.web import fields, i18n
from workflow.web.i18n import local_time, pick_locale
from workflow.web.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    LANG_COOKIE,
    SESSION_COOKIE,
    SESSION_LIFETIME,
    Signer,
)

DEFAULT_TZ = "Asia/Ho_Chi_Minh"
MAX_FORM_BYTES = 1_000_000
MAX_FORM_FIELDS = 3000


def localized_score(value: object, locale: str, regime: Regime | None = None) -> str | None:
    """A score as shown, written the locale's way (83,50 / 83.50), as the emails write it:
    by the regime's display rule when the regime is known (``workflow.formatting.score``),
    else half-up to two places."""
    if value in (None, ""):
        return None
    if regime is not None:
        return formatting.score(value, locale, regime)
    text = shown_or_none(value)
    return None if text is None else formatting.shown_number(text, locale)


@dataclass
class DemoHooks:
    """What the demo adds to the app: its clock control and its caught emails."""

    # to the next deadline, with what the sweep did; None: none left
    jump: Callable[[], tuple[datetime, SweepReport] | None]
    mails: Callable[[], list[Any]]  # the caught emails, newest first


@dataclass
class Web:
    """The app's parts, built once by ``create_app``."""

    svc: Service
    clock: Callable[[], datetime]
    envs: Mapping[str, jinja2.Environment]  # by locale, each with its catalogue
    signer: Signer
    secure_cookies: bool
    demo: DemoHooks | None = None

    def person(self, person_id: str) -> PersonInfo | None:
        return lookups.person(self.svc, person_id)


class Req:
    """One request: who asks, in which language, and how to answer with a page."""

    def __init__(self, web: Web, request: Request) -> None:
        self.web = web
        self.request = request
        self.svc = web.svc
        self.person: PersonInfo | None = None
        # The live server-side session this request belongs to ("" when none).
        self.session_id = ""
        holder = web.signer.session_holder(request.cookies.get(SESSION_COOKIE))
        if holder is not None and sessions.holder(self.svc, holder[1], holder[0]):
            person = web.person(holder[0])
            if person is not None and person.active:
                self.person, self.session_id = person, holder[1]
        self.acting: PersonInfo | None = None  # the holder of a personal link
        self._csrf_cookie = request.cookies.get(CSRF_COOKIE) or None
        self._csrf_new: str | None = None
        self._now: datetime | None = None
        self._locale: str | None = None  # chosen with a form's language button (``lang``)

    # --- who and when -------------------------------------------------------------

    def now(self) -> datetime:
        if self._now is None:
            self._now = self.web.clock()
        return self._now

    @property
    def who(self) -> PersonInfo | None:
        return self.acting or self.person

    @property
    def locale(self) -> str:
        if self._locale is not None:
            return self._locale
        who = self.who
        return pick_locale(self.request.cookies.get(LANG_COOKIE), who.locale if who else None,
                           self.request.headers.get("accept-language"))

    @property
    def tz(self) -> str:
        who = self.who
        return (who.timezone if who and who.timezone else None) or DEFAULT_TZ

    def switch_locale(self, fields: Mapping[str, str]) -> bool:
        """Whether the form was posted with its language button (``lang``): if so, this
        answer and the next pages are in that language (the page is drawn again with what
        was typed, so switching language loses nothing)."""
        chosen = fields.get("lang")
        if chosen is None or chosen not in catalog.LOCALES:
            return False
        self._locale = chosen
        return True

    def require_person(self) -> PersonInfo:
        if self.person is None:
            raise SignInNeeded()
        return self.person

    # --- CSRF ---------------------------------------------------------------------

    def csrf_token(self) -> str:
        value = self._csrf_new or self._csrf_cookie
        if value is None:
            value = self._csrf_new = self.web.signer.new_csrf_value()
        return self.web.signer.csrf_token(value, self.session_id)

    def csrf_ok(self, fields: Mapping[str, str]) -> bool:
        return self.web.signer.csrf_ok(self._csrf_cookie, fields.get(CSRF_FIELD),
                                       self.session_id)

    # --- answering ----------------------------------------------------------------

    def gettext(self, message: str, **values: object) -> str:
        """``message`` (a catalogue id) in the page's language."""
        return catalog.gettext(self.locale, message, **values)

    def ngettext(self, singular: str, plural: str, count: int, **values: object) -> str:
        """The form for ``count`` (``%(num)s``) in the page's language."""
        return catalog.ngettext(self.locale, singular, plural, count, **values)

    def when(self, instant: datetime | None, tz: str | None = None) -> str:
        return local_time(instant, tz or self.tz, self.locale)

    def label(self, labels: Labels | Mapping[str, str] | object | None) -> str:
        """A label of the rules (a class, a criterion) in the page's language."""
        if labels is None:
            return ""
        if isinstance(labels, Mapping):
            return str(labels.get(self.locale) or labels.get("en") or "")
        return str(getattr(labels, "vi" if self.locale == "vi" else "en", labels))

    def value(self, name: str, value: object) -> str:
        """One value of a message or an error, said the page's way."""
        return i18n.plain_value(self.locale, name, value, self.when,
                                lambda v: i18n.plain_number(v, self.locale), self.label)

    def error_text(self, error: KpiError) -> str:
        """What an engine error says to people, by its class, in the page's language."""
        return i18n.say_error(self.locale, error, self.value)

    def problem_text(self, problem: str) -> str:
        return i18n.say_problem(self.locale, problem, self.value)

    def regime(self, cycle_id: str) -> Regime | None:
        """The regime of a cycle (its display rule shows the scores); None if unknown."""
        try:
            return lookups.cycle_rules(self.web.svc, cycle_id).regime
        except KpiError:
            return None

    def helpers(self) -> dict[str, Any]:
        locale = self.locale
        path = self.request.url.path
        query = self.request.url.query
        here = path + (f"?{query}" if query else "")

        regimes: dict[str, Regime | None] = {}  # a page shows many scores of few cycles

        def regime_of(cycle_id: str) -> Regime | None:
            if cycle_id not in regimes:
                regimes[cycle_id] = self.regime(cycle_id)
            return regimes[cycle_id]

        def state_label(state: State | str) -> str:
            return i18n.term(locale, "state", State(state).value)

        return {
            "locale": locale, "other_locale": "en" if locale == "vi" else "vi",
            "when": lambda instant, tz=None: local_time(instant, tz or self.tz, locale),
            "label": self.label, "state_label": state_label,
            "term": lambda kind, key: i18n.term(locale, kind, key),
            "pool_name": lambda pool: i18n.pool_name(locale, pool),
            "num": lambda value, regime=None: localized_score(value, locale, regime),
            "score": lambda value, cycle_id: localized_score(value, locale,
                                                             regime_of(cycle_id)),
            "plain_number": lambda value: i18n.plain_number(value, locale),
            "filled": filled,
            "problem": self.problem_text,
            "person": self.person, "acting": self.acting, "csrf_token": self.csrf_token(),
            "here": quote(here, safe=""), "now": self.now(),
            "demo": self.web.demo is not None, "demo_now": self.when(self.now(), DEFAULT_TZ),
        }

    def _cookies(self, response: HTMLResponse | RedirectResponse) -> None:
        if self._locale is not None:
            response.set_cookie(LANG_COOKIE, self._locale, samesite="lax",
                                secure=self.web.secure_cookies, max_age=365 * 86400, path="/")
        if self._csrf_new is not None:
            response.set_cookie(CSRF_COOKIE, self._csrf_new, httponly=True, samesite="lax",
                                secure=self.web.secure_cookies, path="/")

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        if "field_name" not in context:
            file = context.get("file")
            context["field_name"] = fields.field_namer(
                self, getattr(file, "framework", None), getattr(file, "regime", None))
        html = self.web.envs[self.locale].get_template(template).render(**self.helpers(), **context)
        response = HTMLResponse(html, status_code=status)
        self._cookies(response)
        return response

    def redirect(self, url: str) -> RedirectResponse:
        response = RedirectResponse(url, status_code=303)
        self._cookies(response)
        return response

    def start_session(self, person_id: str, url: str) -> RedirectResponse:
        """A new server-side session, its cookie, and a new CSRF value (rotated at sign-in)."""
        session_id = sessions.start(self.svc, person_id, SESSION_LIFETIME, now=self.now())
        self._csrf_new = self.web.signer.new_csrf_value()
        response = self.redirect(url)
        response.set_cookie(SESSION_COOKIE, self.web.signer.session(person_id, session_id),
                            httponly=True, samesite="lax", secure=self.web.secure_cookies,
                            path="/", max_age=int(SESSION_LIFETIME.total_seconds()))
        return response

    def end_session(self) -> None:
        """Sign out: the session ends on the server, whatever copies of its cookie exist."""
        if self.session_id:
            sessions.end(self.svc, self.session_id, now=self.now())


def filled(prefix: str, values: Mapping[str, str], errors: Mapping[str, str]) -> bool:
    """Whether any field under ``prefix`` has a value or a problem (to open its section)."""
    return any(k.startswith(prefix) and (v or "").strip() for k, v in values.items()) or \
        any(k.startswith(prefix) for k in errors)


class SignInNeeded(Exception):
    """A page for signed-in people was asked for without a session."""


def get_req(request: Request) -> Req:
    return Req(request.app.state.web, request)


async def form_fields(request: Request) -> dict[str, str]:
    """The posted form's text fields (the last value of a repeated name wins)."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
        raise HTTPException(status_code=413, detail="the form is too large")
    form = await request.form(max_fields=MAX_FORM_FIELDS, max_files=0)
    out: dict[str, str] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            continue
        out[key] = value
    return out
