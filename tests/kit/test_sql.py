"""DriverStatement: compiled once, run on the session's own connection and transaction."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Text, any_, bindparam, literal, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.db import Database
from agentconnect.kit.sql import DriverStatement, planned_per_call
from agentconnect.models import Company


async def test_runs_inside_the_sessions_transaction(
    database: Database, session: AsyncSession
) -> None:
    names = DriverStatement(
        select(Company.name).where(Company.id == bindparam("id")).order_by(Company.name)
    )
    company = Company(id=uuid.uuid4(), name="Only in this transaction")
    session.add(company)
    await session.flush()
    # The row is not committed: only the session's own transaction can see it.
    assert await names.rows(session, {"id": company.id}) == [("Only in this transaction",)]
    async with database.sessionmaker() as other:
        assert await names.rows(other, {"id": company.id}) == []
    await session.rollback()
    assert await names.rows(session, {"id": company.id}) == []


async def test_literals_travel_with_every_call(session: AsyncSession) -> None:
    statement = DriverStatement(
        select(literal(1)).where(
            literal("b") == any_(literal(["a", "b"], ARRAY(Text))),
            bindparam("n") > 0,
        )
    )
    assert await statement.rows(session, {"n": 5}) == [(1,)]
    assert await statement.rows(session, {"n": -5}) == []


def test_an_expanding_in_is_refused_when_compiled() -> None:
    with pytest.raises(ValueError, match="ANY"):
        DriverStatement(
            select(text("1")).where(Company.name.in_(bindparam("names", expanding=True)))
        )


async def _prepared_statements(session: AsyncSession) -> int:
    count = await session.scalar(text("SELECT count(*) FROM pg_prepared_statements"))
    return int(count or 0)


async def test_statements_in_planned_per_call_are_never_prepared(session: AsyncSession) -> None:
    """psycopg prepares a statement after five runs of the same text; inside the block it does
    not, and the connection's own threshold comes back after it."""
    query = select(Company.id).where(Company.name == bindparam("name"))
    async with planned_per_call(session):
        for _ in range(8):
            await session.execute(query, {"name": "nobody"})
        assert await _prepared_statements(session) == 0
    for _ in range(8):
        await session.execute(query, {"name": "nobody"})
    assert await _prepared_statements(session) >= 1  # outside it: psycopg's own threshold
