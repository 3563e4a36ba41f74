"""Rules for companies, users, API keys and sign-in."""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.auth.principal import Principal
from agentconnect.auth.secrets import hash_password_async, new_api_key, verify_password_async
from agentconnect.auth.tokens import create_access_token
from agentconnect.errors import Conflict, InvalidInput, NotFound, Unauthorized
from agentconnect.kit.integrity import conflicts_as_409
from agentconnect.kit.schemas import refuse_nulls
from agentconnect.models import ApiKey, Company, Role, User
from agentconnect.tenancy import repository as repo
from agentconnect.tenancy import schemas

DEFAULT_STAGE_PROBABILITIES = {
    "lead": Decimal("0.10"),
    "mql": Decimal("0.20"),
    "sql": Decimal("0.40"),
    "opportunity": Decimal("0.60"),
    "customer": Decimal("1.00"),
    "lost": Decimal("0.00"),
}
DEFAULT_QUIET_HOURS = {"start": "08:00", "end": "21:00"}
DEFAULT_FREQUENCY_CAP: dict[str, int | None] = {"per_day": 3, "per_week": 10}


def _email_taken(email: str) -> str:
    return f"a user with e-mail {email} already exists"


def _email_unique(email: str) -> AbstractAsyncContextManager[None]:
    """The check before writing can race with another request; the constraint decides."""
    return conflicts_as_409({"uq_users_email": _email_taken(email)})


@dataclass(frozen=True)
class NewCompany:
    company: Company
    admin: User
    api_key: str


async def create_company(
    session: AsyncSession,
    *,
    name: str,
    admin_email: str,
    admin_password: str,
    admin_name: str = "Administrator",
) -> NewCompany:
    """A company, its first admin user and an admin API key (returned in the clear, once)."""
    admin_email = admin_email.lower()
    company = repo.CompanyRepository(session).add(Company(name=name, settings={}))
    await session.flush()
    users = repo.UserRepository(session, company.id)
    if await users.email_taken(admin_email):
        raise Conflict(_email_taken(admin_email))
    admin = users.add(
        User(
            email=admin_email,
            name=admin_name,
            role=Role.ADMIN,
            password_hash=await hash_password_async(admin_password),
        )
    )
    async with _email_unique(admin_email):
        await session.flush()
    key, _ = await create_api_key(
        session,
        Principal(company_id=company.id, role=Role.ADMIN, user_id=admin.id),
        schemas.ApiKeyCreate(name="initial admin key", role=Role.ADMIN),
    )
    return NewCompany(company=company, admin=admin, api_key=key)


async def sign_in(
    session: AsyncSession, email: str, password: str, *, secret: str, minutes: int
) -> schemas.TokenResponse:
    user = await repo.find_user_for_login(session, email)
    if not await verify_password_async(user.password_hash if user else None, password) or not user:
        raise Unauthorized("wrong e-mail or password")
    await repo.touch(session, User, user.id, "last_login_at", datetime.now(UTC))
    token = create_access_token(user.id, secret, minutes, version=user.token_version)
    return schemas.TokenResponse(access_token=token, expires_in=minutes * 60)


async def describe_caller(session: AsyncSession, principal: Principal) -> schemas.Me:
    company = await repo.CompanyRepository(session).get(principal.company_id)
    assert company is not None  # the principal was built from a row that references it
    user = None
    if principal.user_id is not None:
        user = await repo.UserRepository(session, principal.company_id).get(principal.user_id)
    return schemas.Me(
        user=schemas.UserBrief.model_validate(user) if user else None,
        company=schemas.CompanyBrief.model_validate(company),
        role=principal.role,
        auth="user" if principal.user_id else "api_key",
    )


# --- users -------------------------------------------------------------------------------------


async def list_users(
    session: AsyncSession, principal: Principal, limit: int, offset: int
) -> tuple[list[User], int]:
    users = repo.UserRepository(session, principal.company_id)
    stmt = users.select().order_by(User.created_at, User.id)
    return await users.page(stmt, limit, offset)


async def get_user(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> User:
    user = await repo.UserRepository(session, principal.company_id).get(user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


async def create_user(
    session: AsyncSession, principal: Principal, data: schemas.UserCreate
) -> User:
    users = repo.UserRepository(session, principal.company_id)
    if await users.email_taken(data.email):
        raise Conflict(_email_taken(data.email))
    user = users.add(
        User(
            email=data.email,
            name=data.name,
            role=data.role,
            password_hash=await hash_password_async(data.password),
        )
    )
    async with _email_unique(data.email):
        await session.flush()
    await session.refresh(user)
    return user


async def update_user(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID, data: schemas.UserUpdate
) -> User:
    users = repo.UserRepository(session, principal.company_id)
    user = await get_user(session, principal, user_id)
    changes = data.model_dump(exclude_unset=True)
    refuse_nulls(changes, changes)
    if "email" in changes and await users.email_taken(changes["email"], except_id=user.id):
        raise Conflict(_email_taken(changes["email"]))
    # Only an active admin counts towards the company's admins, so only one can be "lost".
    loses_admin = (
        user.role == Role.ADMIN
        and user.is_active
        and (changes.get("role", Role.ADMIN) != Role.ADMIN or changes.get("is_active") is False)
    )
    if loses_admin and await users.count_active_admins() <= 1:
        raise Conflict("the company's last active admin cannot be demoted or deactivated")
    if "password" in changes:
        user.password_hash = await hash_password_async(changes.pop("password"))
        user.token_version += 1  # tokens issued before stop working
    for field, value in changes.items():
        setattr(user, field, value)
    async with _email_unique(user.email):
        await session.flush()
    await session.refresh(user)
    return user


async def delete_user(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> None:
    users = repo.UserRepository(session, principal.company_id)
    user = await get_user(session, principal, user_id)
    if user.id == principal.user_id:
        raise Conflict("you cannot delete yourself; ask another admin")
    if user.role == Role.ADMIN and user.is_active and await users.count_active_admins() <= 1:
        raise Conflict("the company's last active admin cannot be deleted")
    await session.delete(user)
    await session.flush()


# --- API keys ----------------------------------------------------------------------------------


async def list_api_keys(
    session: AsyncSession, principal: Principal, limit: int, offset: int
) -> tuple[list[ApiKey], int]:
    keys = repo.ApiKeyRepository(session, principal.company_id)
    stmt = keys.select().order_by(ApiKey.created_at.desc(), ApiKey.id)
    return await keys.page(stmt, limit, offset)


async def create_api_key(
    session: AsyncSession, principal: Principal, data: schemas.ApiKeyCreate
) -> tuple[str, ApiKey]:
    key, prefix, key_hash = new_api_key()
    keys = repo.ApiKeyRepository(session, principal.company_id)
    row = keys.add(
        ApiKey(
            name=data.name,
            role=data.role,
            prefix=prefix,
            key_hash=key_hash,
            created_by=principal.user_id,
        )
    )
    await session.flush()
    await session.refresh(row)
    return key, row


async def revoke_api_key(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> None:
    key = await repo.ApiKeyRepository(session, principal.company_id).get(key_id)
    if key is None:
        raise NotFound(f"API key {key_id} not found")
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
        await session.flush()


# --- company settings --------------------------------------------------------------------------


def company_settings(company: Company) -> schemas.CompanySettings:
    stored: dict[str, Any] = company.settings or {}
    probabilities = {**DEFAULT_STAGE_PROBABILITIES}
    probabilities.update(
        {
            k: Decimal(str(v))
            for k, v in stored.get("stage_probabilities", {}).items()
            if v is not None
        }
    )
    return schemas.CompanySettings(
        id=company.id,
        name=company.name,
        postal_address=company.postal_address,
        default_timezone=company.default_timezone,
        frequency_cap={**DEFAULT_FREQUENCY_CAP, **stored.get("frequency_cap", {})},
        quiet_hours={**DEFAULT_QUIET_HOURS, **stored.get("quiet_hours", {})},
        sms_help_text=stored.get("sms_help_text"),
        stage_probabilities=probabilities,
        created_at=company.created_at,
    )


async def get_company_settings(
    session: AsyncSession, principal: Principal
) -> schemas.CompanySettings:
    company = await repo.CompanyRepository(session).get(principal.company_id)
    assert company is not None
    return company_settings(company)


def _check_merged_quiet_hours(merged: dict[str, str]) -> None:
    """A patch may change one end of the hours; the pair it leaves must still hold."""
    try:
        schemas.QuietHours.model_validate(merged)
    except ValidationError as error:
        raise InvalidInput(
            "quiet_hours: "
            + "; ".join(e["msg"].removeprefix("Value error, ") for e in error.errors()),
            errors=[
                {"loc": ["body", "quiet_hours"], "msg": e["msg"], "type": "value_error"}
                for e in error.errors()
            ],
        ) from None


async def update_company_settings(
    session: AsyncSession, principal: Principal, data: schemas.CompanySettingsUpdate
) -> schemas.CompanySettings:
    company = await repo.CompanyRepository(session).get(principal.company_id)
    assert company is not None
    changes = data.model_dump(exclude_unset=True, mode="json")
    for column in ("name", "postal_address", "default_timezone"):
        if column in changes:
            setattr(company, column, changes.pop(column))
    stored = dict(company.settings or {})
    for key, value in changes.items():
        if isinstance(value, dict):
            stored[key] = {**stored.get(key, {}), **value}
        elif value is None:
            stored.pop(key, None)
        else:
            stored[key] = value
    if changes.get("quiet_hours") is not None:  # null returns the hours to their default
        _check_merged_quiet_hours(stored["quiet_hours"])
    company.settings = stored
    await session.flush()
    await session.refresh(company)
    return company_settings(company)
