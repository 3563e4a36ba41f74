"""SQL for companies, users and API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.kit.sql import DriverStatement
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
        """Count the active admins, locking their rows until the transaction ends.

        Without the lock two requests that each remove one of the last two admins both see two
        and both succeed, leaving none. A waiting request re-reads the rows once the other commits.
        """
        stmt = (
            self.select(User.id)
            .where(User.role == Role.ADMIN, User.is_active)
            .order_by(User.id)
            .with_for_update()
        )
        return len((await self.session.scalars(stmt)).all())


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


class LiveApiKey(NamedTuple):
    id: uuid.UUID
    company_id: uuid.UUID
    role: Role
    last_used_at: datetime | None


# Asked on every request made with an API key: compiled once, only the columns it needs, run on
# the driver (kit.sql.DriverStatement).
_LIVE_API_KEY = DriverStatement(
    select(ApiKey.id, ApiKey.company_id, ApiKey.role, ApiKey.last_used_at).where(
        ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None)
    )
)


async def find_live_api_key(session: AsyncSession, key_hash: str) -> LiveApiKey | None:
    """The unrevoked key with this hash."""
    rows = await _LIVE_API_KEY.rows(session, {"key_hash": key_hash})
    if not rows:
        return None
    key_id, company_id, role, last_used_at = rows[0]
    return LiveApiKey(key_id, company_id, Role(role), last_used_at)


async def touch(
    session: AsyncSession, model: Any, id_: uuid.UUID, column: str, at: datetime
) -> None:
    """Record a last-used or last-login time.

    Bookkeeping, not a change of the row: `updated_at` stays, and a row another request is
    already touching is skipped rather than waited for, so requests with one key never queue.
    """
    free = select(model.id).where(model.id == id_).with_for_update(skip_locked=True)
    values: dict[str, Any] = {column: at}
    if hasattr(model, "updated_at"):
        values["updated_at"] = model.updated_at
    await session.execute(update(model).where(model.id.in_(free)).values(values))
