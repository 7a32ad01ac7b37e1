"""The web app: ``create_app(svc)`` builds it around a Service.

Server-rendered Jinja pages (``templates/web``), usable without JavaScript; no page
loads a script. Errors of the engine become pages in the person's language: a link
that cannot be used, an action the role does not allow, an evaluation that moved on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import jinja2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from workflow import catalog
from workflow.catalog import N_
from workflow.clock import utc_now
from workflow.errors import ConfigError, KpiError, NotFound, NotPermitted
from workflow.service import access
from workflow.service.core import Service
from workflow.web import (
    routes_admin,
    routes_admin_cycles,
    routes_admin_files,
    routes_admin_org,
    routes_demo,
    routes_ops,
    routes_publication,
    routes_staff,
    routes_task,
)
from workflow.web.context import MAX_FORM_BYTES, DemoHooks, Req, SignInNeeded, Web
from workflow.web.security import BodyLimit, SecurityHeaders, Signer, secret_key_problem

LINK_REVOKED = catalog.N_(
    "This link no longer works: the task it was sent for is no longer yours, or it was "
    "given out again since. Use the newest email you received, or ask the HR administrator.")


def _environments(svc: Service) -> dict[str, jinja2.Environment]:
    """One environment per locale, each with that locale's catalogue installed."""
    folder = svc.settings.templates_dir / "web"
    loader = jinja2.FileSystemLoader(str(folder))
    # Autoescape everything (every template is HTML); an unknown variable is an error.
    return {locale: catalog.install(jinja2.Environment(
        loader=loader, autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True, auto_reload=False), locale) for locale in catalog.LOCALES}


def create_app(svc: Service, *, clock: Callable[[], datetime] = utc_now,
               demo: DemoHooks | None = None) -> FastAPI:
    """The web app on ``svc``; ``clock`` gives "now" for every action (the demo's own
    clock in `kpi demo`), ``demo`` adds the demo's pages. ConfigError without a secret key.
    """
    secret = svc.settings.secret_key
    problem = secret_key_problem(secret)
    if problem is not None:
        raise ConfigError(f"the web app needs a long, random secret key to sign sessions and "
                          f"forms, and KPI_SECRET_KEY is refused: {problem}; set one made by "
                          "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`")
    https = svc.settings.base_url.startswith("https://")
    app = FastAPI(title="kpi-workflow", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = Web(svc=svc, clock=clock, envs=_environments(svc), signer=Signer(secret),
                        secure_cookies=https, demo=demo)
    static = svc.settings.templates_dir / "web" / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    app.include_router(routes_task.router)
    app.include_router(routes_publication.router)  # issue 17 item 4
    app.include_router(routes_staff.router)
    app.include_router(routes_admin.router)
    app.include_router(routes_admin_cycles.router)  # cycle calendars and series (issue 18)
    app.include_router(routes_admin_org.router)  # organisation upload, bulk actions (issue 18)
    app.include_router(routes_admin_files.router)  # exports and records (issue 18)
    app.include_router(routes_ops.router)  # /readyz (issue 15)
    if demo is not None:
        app.include_router(routes_demo.router)

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        return "ok"

    _error_pages(app)
    # Counts the bytes however they are framed: a chunked body has no Content-Length.
    app.add_middleware(BodyLimit, max_bytes=MAX_FORM_BYTES,
                       larger={routes_admin_org.PREVIEW_PATH: routes_admin_org.UPLOAD_CAP,
                               routes_admin_cycles.UPLOAD_PATH: routes_admin_cycles.SERIES_CAP})
    app.add_middleware(SecurityHeaders, https=https)
    app.add_middleware(routes_ops.RequestTiming)  # outermost: times the whole request
    return app


def from_environment() -> FastAPI:
    """The app on the configured database (``KPI_*`` settings), for
    ``uvicorn --factory workflow.web.app:from_environment`` and `kpi serve`."""
    from workflow.bootstrap import build_service  # noqa: PLC0415 (composition root)

    return create_app(build_service())


NOT_ALLOWED = N_("Not allowed")
CANNOT_DO = N_("This cannot be done now")
NOT_FOUND = N_("Not found")
LINK_TITLE = N_("This link does not work")


def _error_pages(app: FastAPI) -> None:
    """Each engine error as a page in the reader's language, said by the error's class."""

    def page(request: Request, status: int, title: str, message: str) -> Response:
        req = Req(request.app.state.web, request)
        return req.render("error.html", status=status, title=req.gettext(title),
                          message=message)

    @app.exception_handler(access.LinkError)
    def link_error(request: Request, exc: access.LinkError) -> Response:
        req = Req(request.app.state.web, request)
        if isinstance(exc, access.LinkRevoked):
            return page(request, exc.status_code, LINK_TITLE,
                        catalog.gettext(req.locale, LINK_REVOKED))
        return page(request, exc.status_code, LINK_TITLE, req.error_text(exc))

    @app.exception_handler(SignInNeeded)
    def sign_in_needed(request: Request, _exc: SignInNeeded) -> Response:
        req = Req(request.app.state.web, request)
        return req.render("sign_in.html", status=401, values={},
                          errors={"_form": req.gettext("Please sign in to see this page.")})

    @app.exception_handler(NotPermitted)
    def not_permitted(request: Request, exc: NotPermitted) -> Response:
        req = Req(request.app.state.web, request)
        return page(request, 403, NOT_ALLOWED, req.error_text(exc))

    @app.exception_handler(NotFound)
    def not_found(request: Request, exc: NotFound) -> Response:
        req = Req(request.app.state.web, request)
        return page(request, 404, NOT_FOUND, req.error_text(exc))

    @app.exception_handler(KpiError)
    def kpi_error(request: Request, exc: KpiError) -> Response:
        req = Req(request.app.state.web, request)
        return page(request, 409, CANNOT_DO, req.error_text(exc))

    @app.exception_handler(RequestValidationError)
    def bad_address(request: Request, _exc: RequestValidationError) -> Response:
        req = Req(request.app.state.web, request)
        return page(request, 404, NOT_FOUND, req.gettext("There is nothing at this address."))

    @app.exception_handler(HTTPException)
    def http_error(request: Request, exc: HTTPException) -> Response:
        req = Req(request.app.state.web, request)
        if exc.status_code == 404:
            return page(request, 404, NOT_FOUND, req.gettext("There is nothing at this address."))
        if exc.status_code == 413:
            return page(request, 413, NOT_ALLOWED, req.gettext("The form is too large."))
        if exc.status_code == 405:
            return page(request, 405, NOT_ALLOWED,
                        req.gettext("This address cannot be used that way."))
        return page(request, exc.status_code, CANNOT_DO,
                    req.gettext(KpiError.user_message))

