"""The dashboard as an application mounted at /app: its pages, static files and error pages.

It is a FastAPI application of its own so that its errors are HTML pages (the API's are problem
details) while it shares the API's state: the same database, settings and secret key, and
through them the same services, role rules and tenancy.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from psycopg import errors as pg_errors
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentconnect.errors import AppError
from agentconnect.web.deps import LoginRequired
from agentconnect.web.render import HERE, is_htmx, templates, validation_lines, wants_json
from agentconnect.web.session import base_path
from agentconnect.web.views import auth, campaigns, contacts, leads, outbox, pipeline

log = logging.getLogger(__name__)

# Scripts only from the app itself (no inline script, no eval); Chart.js and htmx set inline
# styles, hence 'unsafe-inline' for styles only.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'"
)
_SECURITY_HEADERS = [
    (b"content-security-policy", _CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def error_page(request: Request, status: int, detail: str, **extra: Any) -> Response:
    title = HTTPStatus(status).phrase
    if wants_json(request):
        return JSONResponse({"status": status, "detail": detail, **extra}, status_code=status)
    template = "_alert.html" if is_htmx(request) else "error.html"
    return templates.TemplateResponse(
        request,
        template,
        {"status": status, "title": title, "detail": detail, "base": base_path(request)},
        status_code=status,
    )


def install_error_pages(web: FastAPI) -> None:
    async def on_login_required(request: Request, exc: Exception) -> Response:
        login = base_path(request) + "/login"
        if wants_json(request):
            return JSONResponse({"status": 401, "detail": "sign in again"}, status_code=401)
        if is_htmx(request):
            return Response(status_code=200, headers={"HX-Redirect": login})
        if request.method == "GET":
            login += "?next=" + quote(request.url.path, safe="/")
        return RedirectResponse(login, status_code=303)

    async def on_app_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AppError)
        return error_page(request, exc.status, exc.detail)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError | ValidationError)
        errors = list(exc.errors())
        # A malformed id in the address names nothing that exists: a 404, as a wrong id is.
        if errors and all(e.get("loc", ("",))[0] == "path" for e in errors):
            return error_page(request, 404, "There is nothing at this address.")
        lines = validation_lines(errors)
        return error_page(request, 422, "; ".join(lines) or "invalid input", errors=lines)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return error_page(request, 404, "There is nothing at this address.")
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return error_page(request, exc.status_code, detail)

    async def on_data_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DBAPIError)
        if isinstance(exc.orig, pg_errors.DataError):
            return error_page(
                request, 422, "A value cannot be stored: text must not contain NUL characters."
            )
        return await on_unhandled(request, exc)

    async def on_unhandled(request: Request, exc: Exception) -> Response:
        request_id = getattr(request.state, "request_id", None)
        log.exception("unhandled error in the dashboard", extra={"request_id": request_id})
        return error_page(
            request, 500, f"Something went wrong on our side (request id {request_id})."
        )

    web.add_exception_handler(LoginRequired, on_login_required)
    web.add_exception_handler(AppError, on_app_error)
    web.add_exception_handler(RequestValidationError, on_validation)
    web.add_exception_handler(ValidationError, on_validation)
    web.add_exception_handler(StarletteHTTPException, on_http_error)
    web.add_exception_handler(DBAPIError, on_data_error)
    web.add_exception_handler(Exception, on_unhandled)


def create_web_app(parent: FastAPI) -> FastAPI:
    web = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    # The same state object: the API's database, settings and secret key, set or replaced by
    # the API's lifespan, are the dashboard's too.
    web.state = parent.state
    web.add_middleware(SecurityHeaders)
    web.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (auth, pipeline, leads, contacts, campaigns, outbox):
        web.include_router(module.router)
    install_error_pages(web)
    return web


def mount_web(app: FastAPI) -> None:
    """Serve the dashboard at /app from the API's process."""
    app.mount("/app", create_web_app(app))

    @app.get("/app", include_in_schema=False)
    async def to_dashboard() -> RedirectResponse:
        return RedirectResponse("/app/", status_code=307)
