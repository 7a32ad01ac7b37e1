"""Sessions, CSRF tokens and the security headers of every response.

- The session cookie holds the signed-in person's id and a random session id, signed
  with ``KPI_SECRET_KEY`` by itsdangerous (timestamped: it stops working after
  ``SESSION_LIFETIME``). The session lives on the server too (``service.sessions``):
  signing out, or an admin, revokes it, and a replayed cookie is then no session. It
  is HttpOnly, SameSite=Lax, and Secure whenever the app is served over https.
- CSRF: double submit, bound to the session. A random value lives in its own cookie;
  every form carries the same value signed together with the session id (hidden
  field ``csrf_token``); a POST whose field is missing, forged, too old, for another
  cookie or another session is refused and nothing is stored. The value is replaced
  at sign-in, so a token planted before it is worthless after. A site elsewhere can
  neither read the cookie nor sign a value.
- The secret key must be long and random-looking (``secret_key_problem``): a short
  key, or a long one made of few symbols or a repeated pattern, is refused.
- Headers: a strict Content-Security-Policy (no script at all, styles and forms
  only from this site), no framing, no MIME sniffing, and ``Referrer-Policy:
  no-referrer`` so a personal link in the address bar never leaks to another site.
"""

from __future__ import annotations

import math
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "kpi_session"
CSRF_COOKIE = "kpi_csrf"
LANG_COOKIE = "kpi_lang"
CSRF_FIELD = "csrf_token"
SESSION_LIFETIME = timedelta(hours=8)
CSRF_LIFETIME = timedelta(hours=12)

MIN_SECRET_LENGTH = 16
MIN_SECRET_BITS = 64  # of Shannon entropy over the whole key
MIN_SECRET_SYMBOLS = 8


def secret_key_problem(secret: str) -> str | None:
    """Why ``secret`` is not fit to sign sessions and forms, or None when it is.

    Length alone is not enough: "aaaaaaaaaaaaaaaa", "abcdefghijklmnop" or
    "changemechangeme" are long and guessable. A key needs enough distinct symbols,
    enough entropy over its length, and must be neither a repeated pattern nor a run.
    """
    if len(secret) < MIN_SECRET_LENGTH:
        return f"it is shorter than {MIN_SECRET_LENGTH} characters"
    counts = Counter(secret)
    n = len(secret)
    bits = max(0.0, -sum(c * math.log2(c / n) for c in counts.values()))
    if len(counts) < MIN_SECRET_SYMBOLS or bits < MIN_SECRET_BITS:
        return (f"it is low-entropy ({len(counts)} distinct characters, about {bits:.0f} bits; "
                f"at least {MIN_SECRET_SYMBOLS} and {MIN_SECRET_BITS} are needed)")
    for size in range(1, n // 2 + 1):
        if n % size == 0 and secret[:size] * (n // size) == secret:
            return f"it repeats {secret[:size]!r} over and over"
    steps = sum(1 for a, b in pairwise(secret)
                if abs(ord(b) - ord(a)) == 1)
    if steps * 4 >= (n - 1) * 3:
        return "it is mostly a run of consecutive characters (like abcdef or 123456)"
    return None


SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy",
     b"default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
     b"frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
]
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


class SecurityHeaders:
    """Pure ASGI middleware: adds the headers above; pages are never cached."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.extra = [*SECURITY_HEADERS, *([HSTS] if https else [])]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [h for h in self.extra if h[0] not in names]
                if not static and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyTooLarge(HTTPException):
    """A request body went past the app's cap (413): the rest of it is never read."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"the request body is larger than {limit} bytes")


class BodyLimit:
    """Pure ASGI middleware: no request body is read past ``max_bytes``, whatever its
    framing. A Content-Length above the cap is refused before anything is read; a
    chunked body (no length) is counted as it arrives and refused (413) the moment it
    passes the cap, so a 90 MB upload costs the server at most ``max_bytes``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int,
                 larger: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = dict(larger or {})  # path -> its own cap (a file upload)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0
        cap = self.larger.get(scope["path"], self.max_bytes)

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    # Raised inside the handler's read: the app's 413 page answers.
                    raise BodyTooLarge(cap)
            return message

        await self.app(scope, counted, send)


@dataclass(frozen=True)
class Signer:
    """Signs sessions and CSRF values with the app's secret key."""

    secret_key: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "_session",
                           URLSafeTimedSerializer(self.secret_key, salt="kpi-session"))
        object.__setattr__(self, "_csrf", URLSafeTimedSerializer(self.secret_key, salt="kpi-csrf"))

    def session(self, person_id: str, session_id: str) -> str:
        """The cookie of a server-side session (``workflow.service.sessions``)."""
        return str(self._session.dumps({"p": person_id, "s": session_id}))  # type: ignore[attr-defined]

    def session_holder(self, cookie: str | None) -> tuple[str, str] | None:
        """(person id, session id) of a well-signed, unexpired cookie; the caller still
        asks the server whether that session is live."""
        if not cookie:
            return None
        try:
            data = self._session.loads(  # type: ignore[attr-defined]
                cookie, max_age=int(SESSION_LIFETIME.total_seconds()))
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        person, session_id = data.get("p"), data.get("s")
        if not isinstance(person, str) or not isinstance(session_id, str) or not session_id:
            return None
        return person, session_id

    @staticmethod
    def new_csrf_value() -> str:
        return secrets.token_urlsafe(24)

    def csrf_token(self, cookie_value: str, session_id: str = "") -> str:
        """The form field for ``cookie_value``, bound to the session (none: ``""``): a
        token taken before sign-in, or from another session, is refused after it."""
        return str(self._csrf.dumps([cookie_value, session_id]))  # type: ignore[attr-defined]

    def csrf_ok(self, cookie_value: str | None, field: str | None, session_id: str = "") -> bool:
        if not cookie_value or not field:
            return False
        try:
            signed = self._csrf.loads(  # type: ignore[attr-defined]
                field, max_age=int(CSRF_LIFETIME.total_seconds()))
        except BadSignature:
            return False
        if not isinstance(signed, list) or len(signed) != 2 \
                or not all(isinstance(part, str) for part in signed):
            return False
        return secrets.compare_digest(signed[0], cookie_value) and \
            secrets.compare_digest(signed[1], session_id)
