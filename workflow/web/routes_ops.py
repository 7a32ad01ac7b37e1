"""What operators and load balancers ask the web app: ``/readyz`` and request timing.

``/healthz`` (in app.py) says the process answers; ``/readyz`` says whether it can do
its work: 200 with the figures when the database is reachable and migrated, 503 with
the reason when not. It names no person and no evaluation, so it stays on the public
port for the load balancer. The metrics themselves are not served here but on the
operators' own port (`kpi serve --metrics-port`), never on the public one.
"""

from __future__ import annotations

import secrets
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workflow import metrics
from workflow.logformat import REQUEST_ID
from workflow.service import health

router = APIRouter()


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    web = request.app.state.web
    found = health.readiness(web.svc, web.clock())
    return JSONResponse(found.as_dict(), status_code=200 if found.ready else 503,
                        headers={"Cache-Control": "no-store"})


class RequestTiming:
    """ASGI middleware: each HTTP request's latency, labelled by its route template
    (``/task/{token}``, never the token itself, so the labels stay few and secret-free)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # A request id for the log lines of this request (JSON logs): the proxy's
        # X-Request-ID when it sends one (so lines join across hops), else a new one.
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"")[:64]
        REQUEST_ID.set(given.decode("ascii", "replace") if given else secrets.token_hex(8))

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                metrics.record_request(_route_of(scope), scope["method"],
                                       time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, timed_send)


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    # Unmatched paths (404s, /static files) share one label: a scanner trying a
    # million URLs must not make a million series.
    return str(path) if path else "unmatched"
