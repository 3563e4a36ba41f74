"""Sign-in, the caller, users, API keys and company settings."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Response, status

from agentconnect.deps import AdminDep, PrincipalDep, SecretKeyDep, SessionDep, SettingsDep
from agentconnect.kit.pagination import Page, PageDep
from agentconnect.tenancy import schemas, service

router = APIRouter(prefix="/api/v1")


@router.post("/auth/token", response_model=schemas.TokenResponse, tags=["auth"])
async def issue_token(
    session: SessionDep,
    settings: SettingsDep,
    secret: SecretKeyDep,
    username: Annotated[str, Form(max_length=320, description="the user's e-mail")],
    password: Annotated[str, Form(max_length=200)],
) -> schemas.TokenResponse:
    """Exchange an e-mail and password (OAuth2 password form) for a bearer access token."""
    return await service.sign_in(
        session,
        username,
        password,
        secret=secret,
        minutes=settings.access_token_minutes,
    )


@router.get("/me", response_model=schemas.Me, tags=["auth"])
async def me(session: SessionDep, principal: PrincipalDep) -> schemas.Me:
    """Who the bearer token belongs to: the user (null for an API key), company and role."""
    return await service.describe_caller(session, principal)


@router.get("/users", response_model=Page[schemas.User], tags=["users"])
async def list_users(session: SessionDep, principal: AdminDep, page: PageDep) -> Page[schemas.User]:
    """The company's users, oldest first."""
    rows, total = await service.list_users(session, principal, page.limit, page.offset)
    items = [schemas.User.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post(
    "/users", response_model=schemas.User, status_code=status.HTTP_201_CREATED, tags=["users"]
)
async def create_user(
    session: SessionDep, principal: AdminDep, body: schemas.UserCreate
) -> schemas.User:
    """Add a user to the company. E-mails are unique across all companies (they are logins)."""
    return schemas.User.model_validate(await service.create_user(session, principal, body))


@router.get("/users/{user_id}", response_model=schemas.User, tags=["users"])
async def get_user(session: SessionDep, principal: AdminDep, user_id: uuid.UUID) -> schemas.User:
    """One user of the company."""
    return schemas.User.model_validate(await service.get_user(session, principal, user_id))


@router.patch("/users/{user_id}", response_model=schemas.User, tags=["users"])
async def update_user(
    session: SessionDep, principal: AdminDep, user_id: uuid.UUID, body: schemas.UserUpdate
) -> schemas.User:
    """Change a user's e-mail, name, role, password or active flag."""
    return schemas.User.model_validate(await service.update_user(session, principal, user_id, body))


@router.delete("/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["users"])
async def delete_user(session: SessionDep, principal: AdminDep, user_id: uuid.UUID) -> Response:
    """Remove a user. The last active admin and the caller themself cannot be removed."""
    await service.delete_user(session, principal, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/api-keys", response_model=Page[schemas.ApiKey], tags=["api-keys"])
async def list_api_keys(
    session: SessionDep, principal: AdminDep, page: PageDep
) -> Page[schemas.ApiKey]:
    """The company's API keys, newest first, revoked ones included; never the secret."""
    rows, total = await service.list_api_keys(session, principal, page.limit, page.offset)
    items = [schemas.ApiKey.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post(
    "/api-keys",
    response_model=schemas.ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    tags=["api-keys"],
)
async def create_api_key(
    session: SessionDep, principal: AdminDep, body: schemas.ApiKeyCreate
) -> schemas.ApiKeyCreated:
    """Create an API key. The `key` appears in this answer only; store it now."""
    key, row = await service.create_api_key(session, principal, body)
    return schemas.ApiKeyCreated(**schemas.ApiKey.model_validate(row).model_dump(), key=key)


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["api-keys"])
async def revoke_api_key(session: SessionDep, principal: AdminDep, key_id: uuid.UUID) -> Response:
    """Revoke an API key: it stops working at once. Revoking twice is harmless."""
    await service.revoke_api_key(session, principal, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/company", response_model=schemas.CompanySettings, tags=["company"])
async def get_company(session: SessionDep, principal: AdminDep) -> schemas.CompanySettings:
    """The company's settings, with defaults filled in."""
    return await service.get_company_settings(session, principal)


@router.patch("/company", response_model=schemas.CompanySettings, tags=["company"])
async def update_company(
    session: SessionDep, principal: AdminDep, body: schemas.CompanySettingsUpdate
) -> schemas.CompanySettings:
    """Change company settings; nested objects are merged key by key."""
    return await service.update_company_settings(session, principal, body)
