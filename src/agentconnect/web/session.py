"""The dashboard's session: a signed cookie naming the user, and the CSRF token bound to it.

The cookie holds no secret of its own: the user id, the user's token version (a password change
ends every session, as it ends every access token) and a random CSRF token, signed and dated
with the app's secret key (itsdangerous). An anonymous visitor gets a session too, so the login
form carries a CSRF token of its own.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass, replace
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "ac_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MAX_AGE_SECONDS = 12 * 3600
_SALT = "agentconnect.web.session"


@dataclass(frozen=True)
class WebSession:
    csrf: str
    user_id: uuid.UUID | None = None
    version: int = 0

    @classmethod
    def anonymous(cls) -> WebSession:
        return cls(csrf=secrets.token_urlsafe(32))

    def signed_in(self, user_id: uuid.UUID, version: int) -> WebSession:
        # A new CSRF token at sign-in: a token seen before it is worth nothing after.
        return replace(self, csrf=secrets.token_urlsafe(32), user_id=user_id, version=version)


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=_SALT)


def read_session(request: Request) -> WebSession | None:
    """The request's valid session, or None (missing, forged, expired or malformed)."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data: Any = _serializer(request.app.state.secret_key).loads(raw, max_age=MAX_AGE_SECONDS)
        csrf = data["c"]
        user = data.get("u")
        version = data.get("v", 0)
        if not isinstance(csrf, str) or not isinstance(version, int) or len(csrf) < 32:
            return None
        return WebSession(csrf=csrf, user_id=uuid.UUID(user) if user else None, version=version)
    except (BadSignature, KeyError, TypeError, ValueError, AttributeError):
        return None


def write_session(request: Request, response: Response, session: WebSession) -> None:
    data = {"c": session.csrf, "u": str(session.user_id) if session.user_id else None}
    data["v"] = session.version  # type: ignore[assignment]
    response.set_cookie(
        COOKIE,
        _serializer(request.app.state.secret_key).dumps(data),
        max_age=MAX_AGE_SECONDS,
        path=base_path(request) or "/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def _secure(request: Request) -> bool:
    """Secure over https, and whenever the installation's public URL is https (behind a proxy
    that ends TLS the request itself arrives as http)."""
    base_url = str(getattr(request.app.state.settings, "base_url", ""))
    return request.url.scheme == "https" or base_url.startswith("https://")


def clear_session(request: Request, response: Response) -> None:
    response.delete_cookie(
        COOKIE,
        path=base_path(request) or "/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def base_path(request: Request) -> str:
    """Where the dashboard is mounted (`/app`, behind any proxy prefix)."""
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


def csrf_matches(session: WebSession | None, given: str | None) -> bool:
    return (
        session is not None
        and bool(given)
        and hmac.compare_digest(session.csrf.encode(), (given or "").encode())
    )
