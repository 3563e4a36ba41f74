"""Who is looking at the dashboard, and the CSRF check on every request that changes something."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from agentconnect.auth.principal import Principal
from agentconnect.deps import SessionDep
from agentconnect.errors import AppError
from agentconnect.models import Role
from agentconnect.tenancy import repository as auth_lookup
from agentconnect.tenancy.repository import CompanyRepository
from agentconnect.web.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    WebSession,
    csrf_matches,
    read_session,
)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(Exception):
    """No valid session: the dashboard answers with a redirect to the login page."""


class CsrfRefused(AppError):
    status, slug = 403, "csrf"


@dataclass(frozen=True)
class Viewer:
    """The signed-in user as the dashboard shows them, and the principal services expect."""

    principal: Principal
    user_id: uuid.UUID
    name: str
    email: str
    company_name: str
    session: WebSession

    @property
    def role(self) -> Role:
        return self.principal.role

    @property
    def can_manage(self) -> bool:
        """Managers and admins run campaigns, imports and assignments; agents do not."""
        return self.role.rank >= Role.MANAGER.rank

    @property
    def csrf(self) -> str:
        return self.session.csrf


async def current_viewer(request: Request, session: SessionDep) -> Viewer:
    web_session = read_session(request)
    if web_session is None or web_session.user_id is None:
        raise LoginRequired
    user = await auth_lookup.find_active_user(session, web_session.user_id)
    if user is None or user.token_version != web_session.version:
        raise LoginRequired  # deactivated, or the password changed since sign-in
    company = await CompanyRepository(session).get(user.company_id)
    request.state.company_id = user.company_id
    return Viewer(
        principal=Principal(company_id=user.company_id, role=user.role, user_id=user.id),
        user_id=user.id,
        name=user.name,
        email=user.email,
        company_name=company.name if company else "",
        session=web_session,
    )


ViewerDep = Annotated[Viewer, Depends(current_viewer)]


async def check_csrf(request: Request) -> None:
    """Every request that changes state carries the session's CSRF token: in the
    `X-CSRF-Token` header (htmx and fetch) or the `csrf_token` form field (plain forms)."""
    if request.method in SAFE_METHODS:
        return
    given = request.headers.get(CSRF_HEADER)
    if not given:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            given = value if isinstance(value, str) else None
    if not csrf_matches(read_session(request), given):
        raise CsrfRefused(
            "the form has expired or did not come from this site: reload the page and try again"
        )
