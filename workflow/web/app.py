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
from workflow.clock import utc_now
from workflow.errors import (
    ConfigError,
    EvaluationAlreadyChanged,
    KpiError,
    NotFound,
    NotPermitted,
    TransitionNotAllowed,
)
from workflow.service import access
from workflow.service.core import Service
from workflow.web import routes_admin, routes_demo, routes_ops, routes_staff, routes_task
from workflow.web.context import DemoHooks, Req, SignInNeeded, Web
from workflow.web.security import SecurityHeaders, Signer

MIN_SECRET_LENGTH = 16


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
    if len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(f"the web app needs a secret key of at least {MIN_SECRET_LENGTH} "
                          "characters to sign sessions and forms; set KPI_SECRET_KEY (e.g. "
                          "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
    https = svc.settings.base_url.startswith("https://")
    app = FastAPI(title="kpi-workflow", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = Web(svc=svc, clock=clock, envs=_environments(svc), signer=Signer(secret),
                        secure_cookies=https, demo=demo)
    static = svc.settings.templates_dir / "web" / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    app.include_router(routes_task.router)
    app.include_router(routes_staff.router)
    app.include_router(routes_admin.router)
    app.include_router(routes_ops.router)  # /readyz (issue 15)
    if demo is not None:
        app.include_router(routes_demo.router)

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        return "ok"

    _error_pages(app)
    app.add_middleware(SecurityHeaders, https=https)
    app.add_middleware(routes_ops.RequestTiming)  # outermost: times the whole request
    return app


def from_environment() -> FastAPI:
    """The app on the configured database (``KPI_*`` settings), for
    ``uvicorn --factory workflow.web.app:from_environment`` and `kpi serve`."""
    from workflow.bootstrap import build_service  # noqa: PLC0415 (composition root)

    return create_app(build_service())


def _error_pages(app: FastAPI) -> None:
    def page(request: Request, status: int, title: str, message: str) -> Response:
        req = Req(request.app.state.web, request)
        return req.render("error.html", status=status, title=req.t(title), message=message)

    @app.exception_handler(access.LinkError)
    def link_error(request: Request, exc: access.LinkError) -> Response:
        req = Req(request.app.state.web, request)
        if isinstance(exc, access.LinkExpired):
            message = req.t("link_expired", when=req.when(exc.expired_at))
        elif isinstance(exc, access.LinkUsed):
            message = req.t("link_used", when=req.when(exc.used_at))
        elif isinstance(exc, access.LinkClosed):
            message = req.t("link_closed", state=req.t(f"state_{exc.state}"))
        elif isinstance(exc, access.LinkMismatch):
            message = req.t("link_mismatch")
        else:
            message = req.t("link_unknown")
        return req.render("error.html", status=exc.status_code,
                          title=req.t("link_unknown_title"), message=message)

    @app.exception_handler(SignInNeeded)
    def sign_in_needed(request: Request, _exc: SignInNeeded) -> Response:
        req = Req(request.app.state.web, request)
        return req.render("sign_in.html", status=401, values={},
                          errors={"_form": req.t("sign_in_needed")})

    @app.exception_handler(NotPermitted)
    def not_permitted(request: Request, _exc: NotPermitted) -> Response:
        req = Req(request.app.state.web, request)
        return page(request, 403, "not_allowed_title", req.t("not_allowed"))

    @app.exception_handler(NotFound)
    def not_found(request: Request, _exc: NotFound) -> Response:
        req = Req(request.app.state.web, request)
        return page(request, 404, "not_found_title", req.t("not_found"))

    @app.exception_handler(EvaluationAlreadyChanged)
    def already_changed(request: Request, _exc: EvaluationAlreadyChanged) -> Response:
        req = Req(request.app.state.web, request)
        return page(request, 409, "not_allowed_title", req.t("already_changed"))

    @app.exception_handler(TransitionNotAllowed)
    def not_now(request: Request, exc: TransitionNotAllowed) -> Response:
        req = Req(request.app.state.web, request)
        return page(request, 409, "not_allowed_title", req.t("cannot_do", message=str(exc)))

    @app.exception_handler(KpiError)
    def kpi_error(request: Request, exc: KpiError) -> Response:
        req = Req(request.app.state.web, request)
        return page(request, 409, "not_allowed_title", req.t("cannot_do", message=str(exc)))

    @app.exception_handler(RequestValidationError)
    def bad_address(request: Request, _exc: RequestValidationError) -> Response:
        req = Req(request.app.state.web, request)
        return page(request, 404, "not_found_title", req.t("not_found"))

    @app.exception_handler(HTTPException)
    def http_error(request: Request, exc: HTTPException) -> Response:
        req = Req(request.app.state.web, request)
        if exc.status_code == 404:
            return page(request, 404, "not_found_title", req.t("not_found"))
        if exc.status_code == 413:
            return page(request, 413, "not_allowed_title", req.t("too_large"))
        return page(request, exc.status_code, "not_allowed_title", str(exc.detail))
