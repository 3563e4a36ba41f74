"""SQL for companies, users and API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.models import ApiKey, Company, Role, User
from agentconnect.tenancy.scoping import TenantRepository


class UserRepository(TenantRepository[User]):
    model = User

    async def email_taken(self, email: str, except_id: uuid.UUID | None = None) -> bool:
        # Deliberately unscoped: login names are unique across companies.
        stmt = select(User.id).where(func.lower(User.email) == email.lower())
        if except_id is not None:
            stmt = stmt.where(User.id != except_id)
        return (await self.session.scalar(stmt)) is not None

    async def count_active_admins(self) -> int:
        stmt = self.select(func.count()).where(User.role == Role.ADMIN, User.is_active)
        return int(await self.session.scalar(stmt) or 0)


class ApiKeyRepository(TenantRepository[ApiKey]):
    model = ApiKey


class CompanyRepository:
    """Companies are the tenants themselves: scoped by their own id."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, company_id: uuid.UUID) -> Company | None:
        return await self.session.get(Company, company_id)

    def add(self, company: Company) -> Company:
        self.session.add(company)
        return company

    async def first_named(self, name: str) -> Company | None:
        stmt = select(Company).where(Company.name == name).order_by(Company.created_at).limit(1)
        company: Company | None = await self.session.scalar(stmt)
        return company


# Authentication happens before the company is known, so these lookups are the only unscoped
# reads of tenant tables; each finds a row by a secret that identifies its company.


async def find_user_for_login(session: AsyncSession, email: str) -> User | None:
    if "\x00" in email:  # no stored e-mail has one, and PostgreSQL text cannot hold it
        return None
    stmt = select(User).where(func.lower(User.email) == email.lower(), User.is_active)
    user: User | None = await session.scalar(stmt)
    return user


async def find_active_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    stmt = select(User).where(User.id == user_id, User.is_active)
    user: User | None = await session.scalar(stmt)
    return user


async def find_live_api_key(session: AsyncSession, key_hash: str) -> ApiKey | None:
    stmt = select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    key: ApiKey | None = await session.scalar(stmt)
    return key


async def touch(
    session: AsyncSession, model: Any, id_: uuid.UUID, column: str, at: datetime
) -> None:
    await session.execute(update(model).where(model.id == id_).values({column: at}))
