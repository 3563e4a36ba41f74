"""Signing in and out of the dashboard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response

from agentconnect.auth.tokens import read_token
from agentconnect.deps import SessionDep, SettingsDep
from agentconnect.errors import Unauthorized
from agentconnect.tenancy import service as tenancy
from agentconnect.web.deps import ViewerDep, check_csrf
from agentconnect.web.render import page, redirect
from agentconnect.web.session import (
    WebSession,
    base_path,
    clear_session,
    read_session,
    write_session,
)

router = APIRouter()


def _safe_next(request: Request, target: str | None) -> str:
    """Only a path inside the dashboard: never another site (no open redirect)."""
    base = base_path(request)
    if target and target.startswith(base + "/") and "//" not in target and "\\" not in target:
        return target[len(base) :]
    return "/"


@router.get("/login", include_in_schema=False)
async def login_form(request: Request, next: str | None = None) -> Response:
    """The sign-in form. A visitor gets an anonymous session that carries its CSRF token."""
    current = read_session(request)
    if current is not None and current.user_id is not None:
        return redirect(request, _safe_next(request, next))
    web_session = current or WebSession.anonymous()
    response = page(request, "login.html", None, csrf=web_session.csrf, next=next or "", error=None)
    write_session(request, response, web_session)
    return response


@router.post("/login", include_in_schema=False, dependencies=[Depends(check_csrf)])
async def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Check the e-mail and password exactly as `POST /api/v1/auth/token` does."""
    current = read_session(request) or WebSession.anonymous()
    secret = request.app.state.secret_key
    try:
        token = await tenancy.sign_in(
            session, email.strip(), password, secret=secret, minutes=settings.access_token_minutes
        )
    except Unauthorized:
        return page(
            request,
            "login.html",
            None,
            status_code=401,
            csrf=current.csrf,
            next=next,
            error="Wrong e-mail or password.",
            email=email,
        )
    claims = read_token(token.access_token, secret)
    assert claims is not None  # just issued with the same secret
    response = redirect(request, _safe_next(request, next))
    write_session(request, response, current.signed_in(claims.user_id, claims.version))
    return response


@router.post("/logout", include_in_schema=False, dependencies=[Depends(check_csrf)])
async def logout(request: Request, viewer: ViewerDep) -> Response:
    response = redirect(request, "/login", notice="signed-out")
    clear_session(request, response)
    return response
