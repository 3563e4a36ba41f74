"""Domain errors and the one handler that renders every error as RFC 9457 problem details."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg import errors as pg_errors
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://agentconnect.dev/problems/"


class AppError(Exception):
    status: int = 500
    slug: str = "internal-error"
    headers: dict[str, str] | None = None

    def __init__(
        self, detail: str, *, errors: Sequence[dict[str, Any]] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors) if errors else None
        self.extra = extra


class InvalidInput(AppError):
    status, slug = 422, "validation-error"


class NotFound(AppError):
    status, slug = 404, "not-found"


class Conflict(AppError):
    status, slug = 409, "conflict"


class Forbidden(AppError):
    status, slug = 403, "forbidden"


class Unauthorized(AppError):
    status, slug = 401, "unauthorized"
    headers = {"WWW-Authenticate": "Bearer"}


class PayloadTooLarge(AppError):
    status, slug = 413, "payload-too-large"


def problem_response(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    errors: Sequence[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    title = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (slug or title.lower().replace(" ", "-")),
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = list(errors)
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _describe(error: dict[str, Any]) -> str:
    if error["type"] == "json_invalid":
        return "the request body is not valid JSON"
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Echoing the rejected input back could leak a password or blow up the size of the
    # answer, so only the location, message and error type are returned.
    return [
        {
            "loc": list(err.get("loc", ())),
            "msg": str(err.get("msg", "")).removeprefix("Value error, "),
            "type": err.get("type", ""),
        }
        for err in exc.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    async def on_app_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)
        errors = exc.errors
        if errors is None and exc.status == 422:
            # Clients read `errors` on every 422; a rule about the whole request has no field.
            errors = [{"loc": [], "msg": exc.detail, "type": "value_error"}]
        return problem_response(
            exc.status,
            exc.detail,
            slug=exc.slug,
            errors=errors,
            headers=exc.headers,
            extra=exc.extra,
        )

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = _validation_errors(exc)
        first = errors[0] if errors else {"loc": [], "msg": "invalid request", "type": ""}
        detail = _describe(first)
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more)"
        return problem_response(422, detail, slug="validation-error", errors=errors)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route matches {request.method} {request.url.path}"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        return problem_response(exc.status_code, detail, headers=getattr(exc, "headers", None))

    async def on_data_error(request: Request, exc: Exception) -> JSONResponse:
        # The last line of defence for values PostgreSQL cannot store (a NUL character in a
        # query parameter or form field); schemas refuse them earlier with the field named.
        assert isinstance(exc, DBAPIError)
        if isinstance(exc.orig, pg_errors.DataError):
            return problem_response(
                422,
                "a value cannot be stored: text must not contain NUL characters or invalid bytes",
                slug="validation-error",
                errors=[{"loc": [], "msg": "unstorable value", "type": "value_error"}],
            )
        return await on_unhandled(request, exc)

    async def on_unhandled(request: Request, exc: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", None)
        log.exception("unhandled error", extra={"request_id": request_id})
        # This answer leaves through Starlette's outermost middleware, past the one that adds
        # the header to every other answer.
        return problem_response(
            500,
            "an unexpected error occurred; quote the request id when reporting it",
            slug="internal-error",
            headers={"X-Request-ID": request_id} if request_id else None,
            extra={"request_id": request_id},
        )

    app.add_exception_handler(AppError, on_app_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(DBAPIError, on_data_error)
    app.add_exception_handler(Exception, on_unhandled)
