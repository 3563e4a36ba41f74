"""The one way to scope a query to a company. Every repository goes through TenantRepository."""

from __future__ import annotations

import uuid
from typing import Any, Generic, TypeVar

from sqlalchemy import Delete, Select, Update, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from agentconnect.models.base import Base

M = TypeVar("M", bound=Base)


def company_filter(model: type[Base], company_id: uuid.UUID) -> Any:
    column: InstrumentedAttribute[uuid.UUID] = model.company_id  # type: ignore[attr-defined]
    return column == company_id


class TenantRepository(Generic[M]):
    """Base of every repository of a tenant-owned table: each statement carries company_id."""

    model: type[M]

    def __init__(self, session: AsyncSession, company_id: uuid.UUID) -> None:
        self.session = session
        self.company_id = company_id

    def scope(self) -> Any:
        return company_filter(self.model, self.company_id)

    def select(self, *columns: Any) -> Select[Any]:
        return select(*(columns or (self.model,))).where(self.scope())

    def update(self) -> Update:
        return update(self.model).where(self.scope())

    def delete(self) -> Delete:
        return delete(self.model).where(self.scope())

    async def get(self, id_: uuid.UUID) -> M | None:
        stmt = self.select().where(self.model.id == id_)  # type: ignore[attr-defined]
        result: M | None = await self.session.scalar(stmt)
        return result

    async def count(self, stmt: Select[Any]) -> int:
        total = await self.session.scalar(select(func.count()).select_from(stmt.subquery()))
        return int(total or 0)

    async def page(self, stmt: Select[Any], limit: int, offset: int) -> tuple[list[M], int]:
        rows = (await self.session.scalars(stmt.limit(limit).offset(offset))).all()
        return list(rows), await self.count(stmt.order_by(None))

    def add(self, obj: M) -> M:
        obj.company_id = self.company_id  # type: ignore[attr-defined]
        self.session.add(obj)
        return obj
