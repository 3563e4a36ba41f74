"""The embedded PostgreSQL that `make run` uses when no database URL is configured, and the
sessions: a unit of work is one transaction, a reading session none."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.db import Database, plain_url, sqlalchemy_url, start_embedded_postgres


def test_urls_are_converted_between_forms() -> None:
    assert sqlalchemy_url("postgresql://u:p@h:5/d") == "postgresql+psycopg://u:p@h:5/d"
    assert plain_url("postgresql+psycopg://u:p@h:5/d") == "postgresql://u:p@h:5/d"


def test_embedded_server_starts_keeps_data_and_is_reused(tmp_path: Path) -> None:
    url = start_embedded_postgres(tmp_path)
    with psycopg.connect(plain_url(url), autocommit=True) as connection:
        connection.execute("CREATE TABLE kept (v int)")
        connection.execute("INSERT INTO kept VALUES (42)")
    assert start_embedded_postgres(tmp_path) == url
    with psycopg.connect(plain_url(url)) as connection:
        row = connection.execute("SELECT v FROM kept").fetchone()
    assert row == (42,)
    assert (tmp_path / "pg" / "PG_VERSION").exists()


# `now()` is the start of the transaction, `statement_timestamp()` the start of the statement:
# they are equal for the first statement of a transaction, and only then.
_OWN_TRANSACTION = text("SELECT now() = statement_timestamp()")


async def _second_statement_starts_a_transaction(session: AsyncSession) -> bool:
    await session.execute(text("SELECT pg_sleep(0.002)"))
    return bool(await session.scalar(_OWN_TRANSACTION))


async def test_a_reading_session_runs_each_statement_on_its_own(database: Database) -> None:
    async with database.reading() as session:
        assert await _second_statement_starts_a_transaction(session)


async def test_a_unit_of_work_is_one_transaction(database: Database) -> None:
    async with database.unit_of_work() as session:
        assert not await _second_statement_starts_a_transaction(session)


async def _create_table_then_fail(database: Database) -> None:
    async with database.unit_of_work() as session:
        await session.execute(text("CREATE TABLE undone_by_rollback (v int)"))
        raise RuntimeError("roll back")


async def test_a_connection_goes_back_to_transactions_after_a_reading_session(
    database_url: str,
) -> None:
    database = Database.from_url(database_url, pool_size=1)  # one connection, used twice
    try:
        async with database.reading() as session:
            first = await session.scalar(text("SELECT pg_backend_pid()"))
        async with database.unit_of_work() as session:
            assert await session.scalar(text("SELECT pg_backend_pid()")) == first
            assert not await _second_statement_starts_a_transaction(session)
        with pytest.raises(RuntimeError, match="roll back"):
            await _create_table_then_fail(database)
        async with database.reading() as session:
            exists = await session.scalar(text("SELECT to_regclass('undone_by_rollback')"))
        assert exists is None
    finally:
        await database.dispose()
