"""Request-scoped dependencies: settings, the unit of work, and the authenticated principal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.auth.principal import Principal
from agentconnect.auth.secrets import API_KEY_PREFIX, hash_api_key
from agentconnect.auth.tokens import read_token
from agentconnect.channels.registry import ProviderEnvironment
from agentconnect.config import Settings
from agentconnect.db import Database
from agentconnect.errors import Unauthorized
from agentconnect.models import ApiKey, Role
from agentconnect.tenancy import repository as auth_lookup

# Writing last_used_at on every request would turn reads into writes; once a minute is enough
# to tell an operator which keys are alive.
_TOUCH_EVERY = timedelta(minutes=1)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


_READS_ONLY = "_agentconnect_reads_only"

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def reads_only(endpoint: Endpoint) -> Endpoint:
    """Mark an endpoint that never writes: its requests get a session without a transaction
    block (Database.reading), two database round trips fewer than a unit of work.

    Only for endpoints whose whole work, services included, is reading; authentication may
    still record a key's last-used time, a single statement that commits by itself.
    """
    setattr(endpoint, _READS_ONLY, True)
    return endpoint


def is_reads_only(endpoint: object) -> bool:
    return bool(getattr(endpoint, _READS_ONLY, False))


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    route = request.scope.get("route")  # the APIRoute matched, set by FastAPI
    if is_reads_only(getattr(route, "endpoint", None)):
        async with database.reading() as session:
            yield session
        return
    async with database.unit_of_work() as session:
        yield session


def get_secret_key(request: Request) -> str:
    secret: str = request.app.state.secret_key
    return secret


SettingsDep = Annotated[Settings, Depends(get_settings)]
SecretKeyDep = Annotated[str, Depends(get_secret_key)]


def get_public_base_url(request: Request) -> str:
    """The public URL the installation is reached at (tracking links, Twilio callbacks)."""
    return str(request.app.state.settings.base_url).rstrip("/")


PublicBaseUrlDep = Annotated[str, Depends(get_public_base_url)]


def get_provider_environment(request: Request) -> ProviderEnvironment:
    settings = request.app.state.settings
    api_base = settings.twilio_api_base
    return ProviderEnvironment(
        public_base_url=str(settings.base_url).rstrip("/"),
        twilio_api_base=str(api_base).rstrip("/") if api_base is not None else None,
    )


ProviderEnvironmentDep = Annotated[ProviderEnvironment, Depends(get_provider_environment)]
# scope="function": the commit happens before the response is sent, so a failed commit is an
# error answer instead of a success that was never stored.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

_bearer = HTTPBearer(auto_error=False)


async def get_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    token = credentials.credentials
    now = datetime.now(UTC)
    if token.startswith(API_KEY_PREFIX):
        key = await auth_lookup.find_live_api_key(session, hash_api_key(token))
        if key is None:
            raise Unauthorized("invalid or revoked API key")
        if key.last_used_at is None or now - key.last_used_at > _TOUCH_EVERY:
            await auth_lookup.touch(session, ApiKey, key.id, "last_used_at", now)
        principal = Principal(company_id=key.company_id, role=key.role, api_key_id=key.id)
    else:
        claims = read_token(token, request.app.state.secret_key)
        user = await auth_lookup.find_active_user(session, claims.user_id) if claims else None
        if user is None or claims is None:
            raise Unauthorized("invalid or expired access token")
        if claims.version != user.token_version:
            raise Unauthorized("the password changed since this token was issued; sign in again")
        principal = Principal(company_id=user.company_id, role=user.role, user_id=user.id)
    request.state.company_id = principal.company_id
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_role(minimum: Role) -> Callable[[Principal], Principal]:
    def check(principal: PrincipalDep) -> Principal:
        principal.require(minimum)
        return principal

    return check


AdminDep = Annotated[Principal, Depends(require_role(Role.ADMIN))]
ManagerDep = Annotated[Principal, Depends(require_role(Role.MANAGER))]
