"""Engine, sessions, the unit of work, and the embedded PostgreSQL used when no URL is set."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from agentconnect.config import Settings

log = logging.getLogger(__name__)

# Every connection of the app: JIT compilation costs ~100 ms on analytical queries and pays
# off only on far longer ones than an API answers.
SESSION_OPTIONS = "-c jit=off"

# The embedded server object must stay referenced for the life of the process: pgserver stops
# PostgreSQL when it is garbage collected.
_embedded_servers: dict[Path, Any] = {}


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or reuse) a pgserver PostgreSQL whose data lives in data_dir/pg; return its URL."""
    import warnings

    # pgserver asks platformdirs for a runtime folder, which warns on machines without
    # XDG_RUNTIME_DIR (containers, CI) although the fallback it takes works.
    pgdata = (data_dir / "pg").resolve()
    if pgdata not in _embedded_servers:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver  # imported lazily: only needed when no database URL is configured

            # "stop": pgserver counts the processes using this folder (an API beside a
            # worker) and stops PostgreSQL when the last one exits; the data is always kept.
            _embedded_servers[pgdata] = pgserver.get_server(pgdata, cleanup_mode="stop")
    uri: str = _embedded_servers[pgdata].get_uri()
    return uri


def sqlalchemy_url(url: str) -> str:
    """Turn the operator's plain postgresql:// URL into the psycopg 3 dialect URL."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def plain_url(url: str) -> str:
    """The libpq form of a URL (for psycopg.connect, pg_dump and friends)."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def database_url(settings: Settings) -> str:
    """The configured URL, or the embedded server's, in SQLAlchemy form."""
    raw = settings.database_url or start_embedded_postgres(settings.data_dir)
    return sqlalchemy_url(raw)


@dataclass
class Database:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    # Bare psycopg connections (autocommit) for the one path where an ORM session costs more
    # than the work: Twilio's status callbacks (channels/twilio_status_fastpath.py).
    _bare_pool: AsyncConnectionPool[AsyncConnection[Any]] | None = field(default=None, repr=False)
    _bare_pool_opening: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @classmethod
    def from_url(cls, url: str, pool_size: int = 10) -> Database:
        engine = create_async_engine(
            sqlalchemy_url(url),
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            # Statement parameters carry password hashes and personal data: keep them out of
            # exception messages and therefore out of logs.
            hide_parameters=True,
            connect_args={"options": SESSION_OPTIONS},
        )
        return cls(engine, async_sessionmaker(engine, expire_on_commit=False))

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends normally, rolled back otherwise.

        Services only flush(); whoever opened the unit of work commits it (a request dependency,
        a worker task, a CLI command).
        """
        async with self.sessionmaker() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await session.commit()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session for work that only reads: its statements run without a transaction block.

        Under READ COMMITTED every statement takes its own snapshot whether or not it is in a
        transaction, so reads see exactly what they would inside one; what goes away is the
        BEGIN and COMMIT round trips (about a third of a short read's database time). A write
        made here commits by itself, so only single-statement bookkeeping (an API key's
        last-used time) belongs in such a session.
        """
        async with self.sessionmaker() as session:
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            yield session

    async def bare_pool(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        """A small pool of autocommit psycopg connections, opened on first use."""
        if self._bare_pool is not None:
            return self._bare_pool
        async with self._bare_pool_opening:  # two first requests at once: one pool
            if self._bare_pool is None:
                self._bare_pool = await self._open_bare_pool()
        return self._bare_pool

    async def _open_bare_pool(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        url = self.engine.url.set(drivername="postgresql")
        pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            url.render_as_string(hide_password=False),
            min_size=1,
            max_size=max(2, self.engine.pool.size() // 2),  # type: ignore[attr-defined]
            kwargs={"autocommit": True, "options": SESSION_OPTIONS},
            open=False,
        )
        await pool.open()
        return pool

    async def dispose(self) -> None:
        if self._bare_pool is not None:
            await self._bare_pool.close()
            self._bare_pool = None
        await self.engine.dispose()
