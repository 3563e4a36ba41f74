"""The background worker: procrastinate on the same PostgreSQL, and the tasks it runs."""

from __future__ import annotations

import uuid
from typing import Any

import procrastinate
from sqlalchemy import select

from agentconnect.config import Settings
from agentconnect.db import Database, database_url, plain_url
from agentconnect.models import Lead

app = procrastinate.App(connector=procrastinate.PsycopgConnector())
_database: Database | None = None


def configure(settings: Settings) -> Database:
    """Point the queue and the tasks at the configured (or embedded) database."""
    global _database
    url = database_url(settings)
    connector = procrastinate.PsycopgConnector(conninfo=plain_url(url))
    # what App.replace_connector does, kept for the life of the process
    app.connector = connector
    app.job_manager.connector = connector
    _database = Database.from_url(url, pool_size=settings.db_pool_size)
    return _database


async def run(*, wait: bool = True, install_signal_handlers: bool = True) -> None:
    """Process jobs until stopped (or, with wait=False, until none are due)."""
    async with app.open_async():
        await app.run_worker_async(
            queues=["scoring"], wait=wait, install_signal_handlers=install_signal_handlers
        )


@app.task(name="agentconnect.worker.rescore_contacts", queue="scoring", retry=3)
async def rescore_contacts(company_id: str, contact_ids: list[str]) -> dict[str, Any]:
    from agentconnect.scoring.service import qualify_leads

    assert _database is not None, "configure() the worker before running tasks"
    company = uuid.UUID(company_id)
    async with _database.unit_of_work() as session:
        lead_ids = list(
            (
                await session.scalars(
                    select(Lead.id).where(
                        Lead.company_id == company,
                        Lead.contact_id.in_([uuid.UUID(c) for c in contact_ids]),
                    )
                )
            ).all()
        )
        outcomes = await qualify_leads(session, company, lead_ids)
    return {"leads": len(outcomes)}
